"""Reads for the console: the queue with keyset pagination, a ticket and its context."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from nextorder.crm.models import Customer
from nextorder.desk.models import Message, Ticket


class QueueSort(StrEnum):
    PRIORITY = "priority"  # most urgent first, then oldest
    VALUE_AT_RISK = "value"  # most value at risk first, then by priority
    AGE = "age"  # oldest first


# Sort keys, each ending in the primary key so that the order is total (keyset-safe).
_ORDERINGS: dict[QueueSort, list[str]] = {
    QueueSort.PRIORITY: ["-priority", "created_at", "id"],
    QueueSort.VALUE_AT_RISK: ["-value_at_risk", "-priority", "created_at", "id"],
    QueueSort.AGE: ["created_at", "id"],
}

ASSIGNEE_ME = "me"
ASSIGNEE_NOBODY = "none"


@dataclass(frozen=True)
class QueueFilters:
    statuses: tuple[str, ...] = tuple(Ticket.ACTIVE_STATUSES)
    team_id: int | None = None
    # A user id, ASSIGNEE_ME, ASSIGNEE_NOBODY, or None for anyone.
    assignee: int | str | None = None


@dataclass(frozen=True)
class QueuePage:
    tickets: list[Ticket]
    next_cursor: str | None
    sort: QueueSort
    filters: QueueFilters = field(default_factory=QueueFilters)


class BadCursor(ValueError):
    """A cursor that was not made by this queue (edited by hand, or from an old sort)."""


# How each sort key travels in a cursor: written as text or int, read back by these.
_KEY_PARSERS: dict[str, Callable[[Any], object]] = {
    "priority": int,
    "id": int,
    "created_at": datetime.fromisoformat,
    "value_at_risk": Decimal,
}


def _encode_cursor(*, sort: QueueSort, ticket: Ticket) -> str:
    values = [getattr(ticket, name.lstrip("-")) for name in _ORDERINGS[sort]]
    payload = [
        sort.value,
        *(
            v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, Decimal) else v
            for v in values
        ),
    ]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _decode_cursor(*, sort: QueueSort, cursor: str) -> list[object]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if payload[0] != sort.value or len(payload) != len(_ORDERINGS[sort]) + 1:
            raise ValueError("cursor of another sort")
        return [
            _KEY_PARSERS[name.lstrip("-")](raw)
            for name, raw in zip(_ORDERINGS[sort], payload[1:], strict=True)
        ]
    except (ValueError, TypeError, IndexError, ArithmeticError, json.JSONDecodeError) as exc:
        raise BadCursor("This page link is out of date; start again from the first page.") from exc


def _after(*, sort: QueueSort, values: list[object]) -> Q:
    """Rows strictly after `values` in the sort order: (a, b, c) > (x, y, z) spelled out."""
    ordering = _ORDERINGS[sort]
    condition = Q()
    for depth in range(len(ordering) - 1, -1, -1):
        name = ordering[depth]
        bare = name.lstrip("-")
        beyond = Q(**{f"{bare}__lt" if name.startswith("-") else f"{bare}__gt": values[depth]})
        equal_prefix = Q(**{ordering[i].lstrip("-"): values[i] for i in range(depth)})
        condition |= equal_prefix & beyond
    return condition


def _filtered(*, user: User, filters: QueueFilters) -> QuerySet[Ticket]:
    tickets = Ticket.objects.all()
    statuses = list(filters.statuses)
    if sorted(statuses) != sorted(Ticket.ACTIVE_STATUSES):
        tickets = tickets.filter(status__in=statuses)
    else:
        # Spelled exactly as the partial indexes' condition so the planner can use them.
        tickets = tickets.filter(status__in=["new", "open", "pending"])
    if filters.team_id is not None:
        tickets = tickets.filter(team_id=filters.team_id)
    if filters.assignee == ASSIGNEE_ME:
        tickets = tickets.filter(assignee_id=user.pk)
    elif filters.assignee == ASSIGNEE_NOBODY:
        tickets = tickets.filter(assignee__isnull=True)
    elif isinstance(filters.assignee, int):
        tickets = tickets.filter(assignee_id=filters.assignee)
    return tickets


def tickets_for_queue(
    *,
    user: User,
    filters: QueueFilters,
    sort: QueueSort = QueueSort.PRIORITY,
    cursor: str | None = None,
    limit: int = 50,
) -> QueuePage:
    """One page of the queue, with the customer's spend and order count on each row."""
    tickets = _filtered(user=user, filters=filters)
    if cursor:
        tickets = tickets.filter(_after(sort=sort, values=_decode_cursor(sort=sort, cursor=cursor)))
    rows = list(
        tickets.select_related("customer", "assignee", "team").order_by(*_ORDERINGS[sort])[
            : limit + 1
        ]
    )
    next_cursor = _encode_cursor(sort=sort, ticket=rows[limit - 1]) if len(rows) > limit else None
    return QueuePage(tickets=rows[:limit], next_cursor=next_cursor, sort=sort, filters=filters)


def ticket_conversation(*, ticket: Ticket) -> list[Message]:
    return list(
        ticket.messages.select_related("author_user", "author_contact").prefetch_related(
            "author_contact__emails", "attachments"
        )
    )


def customer_tickets(
    *, customer: Customer, exclude: Ticket | None = None, limit: int = 20
) -> list[Ticket]:
    tickets = customer.tickets.select_related("assignee").order_by("-created_at", "-id")
    if exclude is not None:
        tickets = tickets.exclude(pk=exclude.pk)
    return list(tickets[:limit])
