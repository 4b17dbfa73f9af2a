"""Reads for the console: the queue with keyset pagination, a ticket and its context."""

from __future__ import annotations

import base64
import heapq
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Exists, F, OrderBy, OuterRef, Q, QuerySet, prefetch_related_objects
from django.utils import timezone

from nextorder.core import params
from nextorder.core.bulk import ids_subquery
from nextorder.core.words import duration_words
from nextorder.crm.models import Customer
from nextorder.desk.mail.parse import visible_text
from nextorder.desk.models import (
    CLOCK_LABELS,
    CallRecord,
    ClockState,
    InboundMail,
    Message,
    OutboxMail,
    SavedView,
    Tag,
    Ticket,
    TicketSla,
    TicketTag,
)
from nextorder.sales.intent import buying_intent


class QueueSort(StrEnum):
    PRIORITY = "priority"  # most urgent first, then oldest
    VALUE_AT_RISK = "value"  # most value at risk first, then by priority
    AGE = "age"  # oldest first
    DUE = "due"  # soonest due first (the earliest running SLA clock); none running last


# Sort keys, each ending in the primary key so that the order is total (keyset-safe).
_ORDERINGS: dict[QueueSort, list[str]] = {
    QueueSort.PRIORITY: ["-priority", "created_at", "id"],
    QueueSort.VALUE_AT_RISK: ["-value_at_risk", "-priority", "created_at", "id"],
    QueueSort.AGE: ["created_at", "id"],
    # `due_at` is the ticket's clock row's, annotated (see `_filtered`); nulls last.
    QueueSort.DUE: ["due_at", "id"],
}

ASSIGNEE_ME = "me"
# The queue's "breaching within an hour" filter.
DUE_SOON = timedelta(hours=1)
ASSIGNEE_NOBODY = "none"


@dataclass(frozen=True)
class QueueFilters:
    statuses: tuple[str, ...] = tuple(Ticket.ACTIVE_STATUSES)
    team_id: int | None = None
    # A user id, ASSIGNEE_ME, ASSIGNEE_NOBODY, or None for anyone.
    assignee: int | str | None = None
    customer_id: int | None = None
    tag_id: int | None = None
    # Only tickets whose earliest running clock falls due within this long (or has).
    due_within: timedelta | None = None


@dataclass(frozen=True)
class QueuePage:
    tickets: list[Ticket]
    next_cursor: str | None
    sort: QueueSort
    filters: QueueFilters = field(default_factory=QueueFilters)


# Counting stops here: past it the queue says "more than 10,000", which costs a bounded
# index read however many tickets match.
COUNT_BOUND = 10_000


@dataclass(frozen=True)
class QueueCount:
    count: int
    more: bool  # more than `count` match

    def __str__(self) -> str:
        if self.more:
            return f"More than {self.count:,} tickets match"
        if self.count == 1:
            return "1 ticket matches"
        return f"{self.count:,} tickets match"


class BadCursor(ValueError):
    """A cursor that was not made by this queue (edited by hand, or from an old sort)."""


def _cursor_int(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= params.MAX_ID:
        raise ValueError("not a key")
    return raw


def _cursor_time(raw: object) -> datetime:
    if not isinstance(raw, str):
        raise ValueError("not a time")
    value = datetime.fromisoformat(raw)
    if value.tzinfo is None:
        raise ValueError("not a time with its offset")
    return value.astimezone(UTC)  # out of range (year 1 at +05:00) fails here, not in SQL


def _cursor_time_or_none(raw: object) -> datetime | None:
    return None if raw is None else _cursor_time(raw)


def _cursor_money(raw: object) -> Decimal:
    value = params.amount(raw) if isinstance(raw, str) else None
    if value is None:
        raise ValueError("not an amount")
    return value


# How each sort key travels in a cursor: written as text or int, read back (and checked:
# a cursor is user input) by these.
_KEY_PARSERS: dict[str, Callable[[object], object]] = {
    "priority": _cursor_int,
    "id": _cursor_int,
    "created_at": _cursor_time,
    "value_at_risk": _cursor_money,
    "due_at": _cursor_time_or_none,
}


def _encode_cursor(*, sort: QueueSort, tier: int, ticket: Ticket | None) -> str:
    """The page after `ticket` in its tier, or the start of `tier` when there is none."""
    values = [getattr(ticket, name.lstrip("-")) for name in _ORDERINGS[sort]] if ticket else []
    payload = [
        sort.value,
        tier,
        *(
            v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, Decimal) else v
            for v in values
        ),
    ]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


# Our cursors are under 200 characters; a longer one was not made here, and decoding it
# could nest deep enough to exhaust the stack.
_LONGEST_CURSOR = 512


def _decode_cursor(*, sort: QueueSort, cursor: str) -> tuple[int, list[object] | None]:
    """(tier, the sort keys of the row the last page ended on, or None: the tier's start)."""
    try:
        if len(cursor) > _LONGEST_CURSOR:
            raise ValueError("too long for a cursor")
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(payload, list) or len(payload) not in (2, len(_ORDERINGS[sort]) + 2):
            raise ValueError("not a cursor")
        if payload[0] != sort.value:
            raise ValueError("cursor of another sort")
        tier = payload[1]
        if isinstance(tier, bool) or not isinstance(tier, int) or not 0 <= tier < len(TIERS):
            raise ValueError("not a tier")
        if len(payload) == 2:
            return tier, None
        return tier, [
            _KEY_PARSERS[name.lstrip("-")](raw)
            for name, raw in zip(_ORDERINGS[sort], payload[2:], strict=True)
        ]
    except (ValueError, TypeError, ArithmeticError, UnicodeError, RecursionError) as exc:
        raise BadCursor("This page link is out of date; start again from the first page.") from exc


def _beyond(*, sort: QueueSort, values: list[object]) -> list[Q]:
    """Rows strictly after `values` in the sort order, as one condition per sort key.

    (a, b, c) > (x, y, z) is a < x, or a = x and b > y, or a = x, b = y and c > z (with
    the inequality turned for descending keys). Or-ed together the database can only
    filter an index scan from the first row, which reads the whole queue up to the
    cursor; each term alone is an equality prefix and one range, a seek into the index.
    """
    ordering = _ORDERINGS[sort]
    if sort == QueueSort.DUE:  # nulls last: after a due time come the later ones, then none
        due, pk = values
        if due is None:
            return [Q(due_at__isnull=True, id__gt=pk)]
        return [Q(due_at__gt=due), Q(due_at=due, id__gt=pk), Q(due_at__isnull=True)]
    terms = []
    for depth, name in enumerate(ordering):
        bare = name.lstrip("-")
        beyond = Q(**{f"{bare}__lt" if name.startswith("-") else f"{bare}__gt": values[depth]})
        equal_prefix = Q(**{ordering[i].lstrip("-"): values[i] for i in range(depth)})
        terms.append(equal_prefix & beyond)
    return terms


def _sort_key(sort: QueueSort) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """The sort order in Python, for merging runs that each come sorted from the database.

    Descending keys are negated: they are numbers (priority, value at risk), never null.
    """
    if sort == QueueSort.DUE:
        return lambda row: (row[0] is None, row[0] or datetime.min.replace(tzinfo=UTC), row[1])
    descending = [name.startswith("-") for name in _ORDERINGS[sort]]

    def key(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(-v if flip else v for v, flip in zip(row, descending, strict=True))

    return key


def _filtered(*, user: User, filters: QueueFilters) -> QuerySet[Ticket]:
    """Team, assignee and customer filters; statuses are left to `_tier_runs`."""
    tickets = Ticket.objects.annotate(due_at=F("sla__due_at"))
    if filters.due_within is not None:
        tickets = tickets.filter(due_at__lte=timezone.now() + filters.due_within)
    if filters.customer_id is not None:
        tickets = tickets.filter(customer_id=filters.customer_id)
    if filters.team_id is not None:
        tickets = tickets.filter(team_id=filters.team_id)
    if filters.assignee == ASSIGNEE_ME:
        tickets = tickets.filter(assignee_id=user.pk)
    elif filters.assignee == ASSIGNEE_NOBODY:
        tickets = tickets.filter(assignee__isnull=True)
    elif isinstance(filters.assignee, int):
        tickets = tickets.filter(assignee_id=filters.assignee)
    if filters.tag_id is not None:
        tickets = tickets.filter(_tagged(filters.tag_id, statuses=filters.statuses))
    return tickets


# A tag on at most this many tickets of the chosen statuses is read as their ids; one on
# more is common enough that walking the queue's index meets a page of them soon.
FEW_TAGGED = 5_000


def _tag_rows(tag_id: int, *, statuses: tuple[str, ...]) -> QuerySet[TicketTag]:
    """The tag's rows of tickets in the chosen statuses: a range of (tag, status)."""
    return TicketTag.objects.filter(tag_id=tag_id, ticket_status__in=statuses)


def _tagged(tag_id: int, *, statuses: tuple[str, ...]) -> Q:
    """A rare tag's tickets by id (its page walked 10,000 tickets of the queue's index to
    find 50: benchmarks/bench_queue.py); a common tag's as a semi-join on (tag, ticket),
    so that the queue's index still gives the order."""
    rows = _tag_rows(tag_id, statuses=statuses).order_by()
    few = list(rows.values_list("ticket_id", flat=True)[: FEW_TAGGED + 1])
    if len(few) <= FEW_TAGGED:
        return Q(pk__in=ids_subquery(few))
    tagged = TicketTag.objects.filter(ticket_id=OuterRef("pk"), tag_id=tag_id)
    return Q(Exists(tagged))


def tickets_matching(*, user: User, filters: QueueFilters, bound: int = COUNT_BOUND) -> QueueCount:
    """How many tickets the queue's filters match: one COUNT over at most `bound` + 1
    rows of the same indexes the queue reads; a tag alone is counted off (tag, status)
    (it joined 300,000 active tickets with the tag's rows)."""
    tag_id = filters.tag_id
    if tag_id is not None and filters == QueueFilters(statuses=filters.statuses, tag_id=tag_id):
        count = _tag_rows(tag_id, statuses=filters.statuses).order_by()[: bound + 1].count()
    else:
        tickets = _filtered(user=user, filters=filters).filter(status__in=filters.statuses)
        count = tickets.order_by()[: bound + 1].count()
    return QueueCount(count=min(count, bound), more=count > bound)


# Whom a ticket waits on: us first, then the customer (pending), then nobody (done). The
# queue shows each tier in the sort's order, and the next only after it.
TIERS: tuple[tuple[str, ...], ...] = (("new", "open"), ("pending",), ("solved", "closed"))


def tier_of(status: str) -> int:
    return next(n for n, statuses in enumerate(TIERS) if status in statuses)


def _tier_runs(filters: QueueFilters) -> list[tuple[int, list[Q]]]:
    """Each chosen tier with one condition per run the database reads in queue order.

    New and open together are one run, read off the partial indexes of the active
    statuses (which their condition implies); any other choice is one run per status,
    each off a (status, sort keys...) index, as no index gives several statuses in one
    sort order.
    """
    chosen = set(filters.statuses)
    tiers = []
    for number, statuses in enumerate(TIERS):
        picked = [status for status in statuses if status in chosen]
        if picked == ["new", "open"]:
            tiers.append((number, [Q(status__in=picked)]))
        elif picked:
            tiers.append((number, [Q(status=status) for status in picked]))
    return tiers


@dataclass(frozen=True)
class _Read:
    rows: list[Ticket]
    last: Ticket | None  # the sort keys of the last row, when the tier has more


def _order_by(sort: QueueSort) -> list[str | OrderBy]:
    """The sort as the database orders it: the same nulls-last due order on every one."""
    return [F(name).asc(nulls_last=True) if name == "due_at" else name for name in _ORDERINGS[sort]]


# What a queue row (page or API) never reads of its customer and assignee: a page builds
# fifty of each, and these are most of their columns.
_UNSHOWN = (
    *(
        f"customer__{name}"
        for name in (
            "notes",
            "external_id",
            "first_order_at",
            "last_order_at",
            "clv_12m",
            "p_alive",
            "p_alive_previous",
            "expected_orders_90d",
            "value_at_risk",
            "value_reason",
            "scored_at",
            "created_at",
            "updated_at",
        )
    ),
    *(
        f"assignee__{name}"
        for name in ("password", "last_login", "email", "date_joined", "is_superuser", "is_staff")
    ),
)


def _read_tier(
    tickets: QuerySet[Ticket],
    *,
    runs: list[Q],
    sort: QueueSort,
    beyond: list[Q],
    limit: int,
    related: tuple[str, ...],
) -> _Read:
    """Up to `limit` rows of one tier after the cursor: one run read straight off its
    index, several read as keys (a page each at most) and merged here."""
    ordering = _ORDERINGS[sort]
    runs = [run & term for run in runs for term in (beyond or [Q()])]
    if len(runs) == 1:
        rows = list(
            tickets.filter(runs[0])
            .select_related(*related)
            .defer(*_UNSHOWN)
            .order_by(*_order_by(sort))[: limit + 1]
        )
        return _Read(rows=rows[:limit], last=rows[limit - 1] if len(rows) > limit else None)
    keys = [name.lstrip("-") for name in ordering]
    merged = heapq.merge(
        *(
            tickets.filter(run).order_by(*_order_by(sort)).values_list(*keys)[: limit + 1]
            for run in runs
        ),
        key=_sort_key(sort),
    )
    page_keys = list(itertools.islice(merged, limit + 1))
    more, page_keys = len(page_keys) > limit, page_keys[:limit]
    ids = [row[-1] for row in page_keys]
    found = tickets.select_related(*related).defer(*_UNSHOWN).order_by().in_bulk(ids)
    # A ticket deleted since its keys were read is left out.
    return _Read(
        rows=[found[pk] for pk in ids if pk in found],
        last=_keys_row(keys, page_keys[-1]) if more else None,
    )


def _keys_row(keys: list[str], values: tuple[Any, ...]) -> Ticket:
    """A ticket carrying only the sort keys, for the cursor (`due_at` is no field of it)."""
    row = Ticket()
    for name, value in zip(keys, values, strict=True):
        setattr(row, name, value)
    return row


def tickets_for_queue(
    *,
    user: User,
    filters: QueueFilters,
    sort: QueueSort = QueueSort.PRIORITY,
    cursor: str | None = None,
    limit: int = 50,
    with_clocks: bool = False,
) -> QueuePage:
    """One page of the queue, with the customer's spend and order count on each row:
    tickets waiting on us, then those waiting on the customer, then the done ones (TIERS),
    each tier in the sort's order. `with_clocks`: each row with its team and its SLA
    clocks, as the API lists them (the console's rows show neither: a dozen times a row).

    A page costs the same wherever it is in the queue: each run (see `_tier_runs` and
    `_beyond`) is an index seek that reads at most a page, and the runs are merged here.
    """
    tickets = _filtered(user=user, filters=filters)
    start, after = _decode_cursor(sort=sort, cursor=cursor) if cursor else (0, None)
    tiers = [(number, runs) for number, runs in _tier_runs(filters) if number >= start]
    rows: list[Ticket] = []
    next_cursor = None
    for position, (number, runs) in enumerate(tiers):
        beyond = _beyond(sort=sort, values=after) if number == start and after else []
        read = _read_tier(
            tickets,
            runs=runs,
            sort=sort,
            beyond=beyond,
            limit=limit - len(rows),
            related=("customer", "assignee", *(("team", "sla__policy") if with_clocks else ())),
        )
        rows += read.rows
        if read.last is not None:
            next_cursor = _encode_cursor(sort=sort, tier=number, ticket=read.last)
            break
        if len(rows) == limit:  # full at a tier's end: is there anything after it?
            later = next(
                (n for n, r in tiers[position + 1 :] if any(tickets.filter(q).exists() for q in r)),
                None,
            )
            if later is not None:
                next_cursor = _encode_cursor(sort=sort, tier=later, ticket=None)
            break
    prefetch_related_objects(rows, "tags")  # one query for the page's tags
    return QueuePage(tickets=rows, next_cursor=next_cursor, sort=sort, filters=filters)


@dataclass(frozen=True)
class ConversationEntry:
    message: Message
    # The customer's new words when the rest of an email quotes earlier messages; the
    # console shows these and folds the whole message away behind them. "" otherwise.
    new_text: str


def ticket_conversation(*, ticket: Ticket) -> list[ConversationEntry]:
    messages = ticket.messages.select_related("author_user", "author_contact").prefetch_related(
        "author_contact__emails", "attachments", "deliveries"
    )
    entries = []
    for message in messages:
        new_text = ""
        if message.direction == Message.Direction.INBOUND:
            new, quoted = visible_text(message.body_text)
            new_text = new if quoted else ""
        entries.append(ConversationEntry(message=message, new_text=new_text))
    return entries


def follow_up_draft(*, ticket: Ticket, agent: User) -> str:
    """What an agent might first write on a ticket they opened to reach out (a follow-up
    with a customer at risk): the customer's last order in their own words, for the agent
    to edit. Value figures stay internal; a ticket already answered has no draft."""
    if (
        ticket.channel != Ticket.Channel.AGENT
        or ticket.messages.filter(direction=Message.Direction.OUTBOUND).exists()
    ):
        return ""
    first_name = (ticket.contact.name if ticket.contact else "") or ticket.customer.name
    last = ticket.customer.orders.order_by("-placed_at", "-id").first()
    bought = ""
    if last is not None:
        names = [
            line.product.name if line.product else line.description
            for line in last.lines.select_related("product").order_by("id")[:3]
        ]
        what = f": {', '.join(n for n in names if n)}" if any(names) else ""
        bought = (
            f"It has been a while since your last order with us ({last.placed_at:%-d %B %Y}"
            f"{what}). "
        )
    return (
        f"Hello {first_name.split()[0] if first_name.strip() else 'there'},\n\n"
        f"{bought}We hope everything was as it should be. If anything was not, or if there "
        "is something we can help you find, just reply to this message.\n\n"
        f"{agent.get_full_name() or agent.get_username()}"
    )


def conversation_buying_intent(conversation: list[ConversationEntry]) -> list[str]:
    """Phrases of buying intent in the customer's latest message (its own words, not what
    it quotes), for the ticket's "Make a lead" suggestion."""
    for entry in reversed(conversation):
        if entry.message.direction == Message.Direction.INBOUND:
            return buying_intent(entry.new_text or entry.message.body_text)
    return []


def public_messages() -> QuerySet[Message]:
    """What the customer may read: every message but the internal notes."""
    return Message.objects.exclude(direction=Message.Direction.NOTE)


def public_conversation(*, ticket: Ticket) -> list[Message]:
    return list(
        public_messages().filter(ticket=ticket).select_related("author_user", "author_contact")
    )


def customer_tickets(
    *, customer: Customer, exclude: Ticket | None = None, limit: int = 20
) -> list[Ticket]:
    tickets = customer.tickets.select_related("assignee").order_by("-created_at", "-id")
    if exclude is not None:
        tickets = tickets.exclude(pk=exclude.pk)
    return list(tickets[:limit])


def customer_visible_tickets(*, customer: Customer, limit: int) -> list[Ticket]:
    """The tickets a customer sees in the portal: those with something said to or by
    them. A follow-up the desk opened about them holds only internal notes until an agent
    writes to them, and a merged ticket's messages are on the ticket it was merged into."""
    spoken = public_messages().filter(ticket=OuterRef("pk"))
    return list(
        customer.tickets.filter(Exists(spoken), merged_into__isnull=True).order_by(
            "-created_at", "-id"
        )[:limit]
    )


def ticket_workers() -> QuerySet[User]:
    """The people a ticket can be assigned to: active users whose role works tickets
    (agents, leads, managers), never a sales user who can only read them."""
    works = Q(
        groups__permissions__content_type__app_label="desk",
        groups__permissions__codename="change_ticket",
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(works | Q(is_superuser=True))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def tags_all() -> list[Tag]:
    return list(Tag.objects.order_by("name"))


def saved_views_of(user: User) -> list[SavedView]:
    return list(SavedView.objects.filter(owner=user).order_by("name", "id"))


def quarantined_mail(*, limit: int = 100) -> tuple[int, list[InboundMail]]:
    """How many messages wait in quarantine, and the newest of them."""
    held = InboundMail.objects.filter(outcome=InboundMail.Outcome.QUARANTINED)
    return held.count(), list(held.order_by("-received_at", "-id")[:limit])


def outbox_mail(*, limit: int = 100) -> tuple[int, list[OutboxMail]]:
    kept = OutboxMail.objects.defer("raw")
    return kept.count(), list(kept.order_by("-sent_at", "-id")[:limit])


@dataclass(frozen=True)
class IntervalWaits:
    """The live channels' queue in one interval, as the call records measured it.

    `service_level` is answered within the target / offered (abandoned calls count as
    missed); `asa_seconds` is the mean wait of answered calls. Empty intervals give None.
    For email and web, `first_response_seconds` is the mean time to the first agent reply
    of the tickets opened in the interval that have one.
    """

    start: datetime
    offered: int
    answered: int
    abandoned: int
    service_level: float | None
    asa_seconds: float | None
    abandonment_rate: float | None
    first_response_seconds: float | None
    first_responses: int


WRITTEN_CHANNELS = (Ticket.Channel.EMAIL, Ticket.Channel.WEB_FORM, Ticket.Channel.PORTAL)


def _interval_index(moments: list[datetime], *, start: datetime, seconds: int) -> Any:
    offsets = np.array([(m - start).total_seconds() for m in moments], dtype=np.float64)
    return (offsets // seconds).astype(np.int64)


def wait_times(
    *,
    start: datetime,
    end: datetime,
    interval_minutes: int,
    answer_within: float,
    channel: str | None = None,
    team_id: int | None = None,
) -> list[IntervalWaits]:
    """Offered, answered, abandoned, service level, ASA and abandonment per interval of
    [start, end), with the written channels' time to first response beside them."""
    if interval_minutes not in (15, 30, 60):
        raise ValueError("interval_minutes must be 15, 30 or 60")
    seconds = interval_minutes * 60
    count = int((end - start).total_seconds() // seconds)
    calls = CallRecord.objects.filter(offered_at__gte=start, offered_at__lt=end)
    tickets = Ticket.objects.filter(
        created_at__gte=start,
        created_at__lt=end,
        channel__in=WRITTEN_CHANNELS,
        first_response_at__isnull=False,
    )
    if channel:
        calls = calls.filter(channel=channel)
    if team_id:
        calls, tickets = calls.filter(team_id=team_id), tickets.filter(team_id=team_id)
    rows = list(calls.values_list("offered_at", "outcome", "wait_seconds"))
    index = _interval_index([r[0] for r in rows], start=start, seconds=seconds)
    answered_mask = np.array([r[1] == CallRecord.Outcome.ANSWERED for r in rows], dtype=bool)
    waits = np.array([r[2] for r in rows], dtype=np.float64)
    offered = np.bincount(index, minlength=count)[:count]
    answered = np.bincount(index[answered_mask], minlength=count)[:count]
    in_time = np.bincount(index[answered_mask & (waits <= answer_within)], minlength=count)[:count]
    answered_wait = np.bincount(
        index[answered_mask], weights=waits[answered_mask], minlength=count
    )[:count]
    replies = [
        (opened, first)
        for opened, first in tickets.values_list("created_at", "first_response_at")
        if first is not None
    ]
    reply_index = _interval_index([r[0] for r in replies], start=start, seconds=seconds)
    reply_seconds = np.array([(r[1] - r[0]).total_seconds() for r in replies], dtype=np.float64)
    responses = np.bincount(reply_index, minlength=count)[:count]
    response_total = np.bincount(reply_index, weights=reply_seconds, minlength=count)[:count]
    return [
        IntervalWaits(
            start=start + timedelta(seconds=seconds * i),
            offered=int(offered[i]),
            answered=int(answered[i]),
            abandoned=int(offered[i] - answered[i]),
            service_level=float(in_time[i] / offered[i]) if offered[i] else None,
            asa_seconds=float(answered_wait[i] / answered[i]) if answered[i] else None,
            abandonment_rate=float(1 - answered[i] / offered[i]) if offered[i] else None,
            first_response_seconds=float(response_total[i] / responses[i])
            if responses[i]
            else None,
            first_responses=int(responses[i]),
        )
        for i in range(count)
    ]


def time_left_words(due: datetime, *, now: datetime) -> str:
    """'2 h 5 min left' or '40 min overdue': the queue's and the ticket page's words."""
    seconds = int((due - now).total_seconds())
    amount = duration_words(seconds)
    return f"{amount} left" if seconds >= 0 else f"{amount} overdue"


@dataclass(frozen=True)
class ClockView:
    name: str
    state: str  # a ClockState value
    state_label: str
    due_at: datetime | None
    # 'running' clocks: time left or overdue; others: when it was due.
    words: str
    overdue: bool


def ticket_clocks(
    *, ticket: Ticket, now: datetime | None = None
) -> tuple[str | None, list[ClockView]]:
    """(The ticket's policy's name, its clocks that ever ran) for the ticket page."""
    row = TicketSla.objects.select_related("policy").filter(ticket=ticket).first()
    if row is None:
        return None, []
    now = now or timezone.now()
    views = []
    for clock, label in CLOCK_LABELS.items():
        state = getattr(row, f"{clock}_state")
        if state == ClockState.OFF:
            continue
        due = getattr(row, f"{clock}_due_at")
        running = state == ClockState.RUNNING
        views.append(
            ClockView(
                name=label,
                state=state,
                state_label=ClockState(state).label,
                due_at=due,
                words=(
                    time_left_words(due, now=now)
                    if running and due
                    else "no target"
                    if due is None
                    else ""
                ),
                overdue=state == ClockState.BREACHED or (running and due is not None and due < now),
            )
        )
    return (row.policy.name if row.policy else None), views
