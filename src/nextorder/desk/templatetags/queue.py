"""The queue's rows, written in Python: the page agents load most.

Fifty rows through the template engine cost three times the page's SQL (every variable
resolved, escaped and localised one by one, `naturaltime` and `intcomma` per cell);
here each row is one `format_html`, which escapes every value just the same. Links are
made from one `reverse` per page, and ages in the compact words of the Due column:
`naturaltime` and `reverse` per cell were a third of a deep page's time
(benchmarks/bench_queue.py at 1,000,000 tickets).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe

from nextorder.desk.models import Ticket
from nextorder.desk.selectors import time_left_words

register = template.Library()

# data-label names each cell for the phone layout, where the rows become cards.
_ROW = (
    '<tr data-ticket="{}"><td class="pick"><input type="checkbox" name="ticket" value="{}"'
    ' form="bulk" aria-label="Select ticket {}"></td><td class="muted id">{}</td>'
    '<td class="subject"><a href="{}">{}</a>{}{}</td>'
    '<td data-label="Customer"><a href="{}">{}</a></td>'
    '<td class="num" data-label="Orders">{}</td>'
    '<td class="num" data-label="Total spend">{}</td>'
    '<td class="num" data-label="Value at risk">{}</td>'
    '<td><span class="badge status-{}">{}</span></td>'
    '<td><span class="badge prio-{}" title="{}">{}</span></td>'
    '<td data-label="Assignee">{}</td>'
    '<td class="small" data-label="Opened" title="{}">{}</td>'
    '<td class="small" data-label="Last message" title="{}">{}</td>'
    '<td class="small{}" data-label="Due" title="{}">{}</td></tr>\n'
)
_UNDELIVERED = mark_safe(  # constant markup: nothing in it comes from outside
    ' <span class="badge prio-3" title="A reply could not be delivered">reply not delivered</span>'
)
_NONE = mark_safe('<span class="muted">—</span>')
_TAG = ' <span class="tag tag-{}">{}</span>'


def _money(amount: Decimal | None) -> str:
    return f"{amount:,.2f}" if amount is not None else "—"


_ID_MARK = 2_147_483_647  # an id no row has: its place in a reversed URL


def _link_maker(name: str) -> Callable[[int], str]:
    """The URL of `name` for any id, from one `reverse` (script prefix included)."""
    prefix, _mark, suffix = reverse(name, args=[_ID_MARK]).rpartition(str(_ID_MARK))
    return lambda pk: f"{prefix}{pk}{suffix}"


def _ago(moment: datetime, now: datetime) -> str:
    """'just now', '12 min ago', '5 h ago', '3 d ago', '4 mo ago', '2 yr ago'."""
    minutes = max(0, int((now - moment).total_seconds()) // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    days = minutes // (24 * 60)
    if days < 60:
        return f"{days} d ago"
    if days < 730:
        return f"{days // 30} mo ago"
    return f"{days // 365} yr ago"


def _row(
    ticket: Ticket,
    now: datetime,
    ticket_url: Callable[[int], str],
    customer_url: Callable[[int], str],
) -> tuple[object, ...]:
    customer = ticket.customer
    # Prefetched with the page (selectors.tickets_for_queue): no query per row.
    tags = ticket.tags.all()
    return (
        ticket.pk,
        ticket.pk,
        ticket.pk,
        ticket.pk,
        ticket_url(ticket.pk),
        ticket.subject,
        _UNDELIVERED if ticket.delivery_failed else "",
        format_html_join("", _TAG, ((tag.colour, tag.name) for tag in tags)) if tags else "",
        customer_url(ticket.customer_id),
        customer.name,
        customer.order_count,
        _money(customer.total_spend),
        _money(ticket.value_at_risk) if ticket.value_at_risk else _NONE,
        ticket.status,
        Ticket.Status(ticket.status).label,
        ticket.priority,
        ticket.priority_reason,
        Ticket.Priority(ticket.priority).label,
        (ticket.assignee.get_full_name() or ticket.assignee.username) if ticket.assignee else "—",
        _exact(ticket.created_at),
        _ago(ticket.created_at, now),
        _exact(ticket.last_message_at),
        _ago(ticket.last_message_at, now) if ticket.last_message_at else "—",
        *_due(getattr(ticket, "due_at", None), now),
    )


def _due(due: datetime | None, now: datetime) -> tuple[str, str, str]:
    """(Class, exact time, time left) of the ticket's earliest running clock."""
    if due is None:
        return "", "", "—"
    return (" overdue" if due < now else "", _exact(due), time_left_words(due, now=now))


def _exact(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


@register.simple_tag
def queue_rows(tickets: list[Ticket]) -> SafeString:
    now = timezone.now()
    ticket_url, customer_url = _link_maker("desk:ticket"), _link_maker("desk:customer")
    return format_html_join(
        "", _ROW, (_row(ticket, now, ticket_url, customer_url) for ticket in tickets)
    )
