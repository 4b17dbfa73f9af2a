"""Service-level clocks: which policy a ticket falls under and when its clocks fall due.

The desk services call in here as they change a ticket (`ticket_open`,
`customer_messages_receive`, `ticket_reply`, `ticket_update`), so a clock moves one way
only; a policy change recomputes the open tickets' due times in batches
(`sla_recompute_open`, run by the worker), and the worker warns and escalates
(`sla_clocks_check`).

A clock runs in business time: it starts at a moment, falls due `target + paused`
business seconds later on its calendar (the policy's, else the ticket team's, else round
the clock) and is warned about at three quarters of its target. Due times are computed
for many tickets at once (`add_business_seconds`), so one ticket and a batch of five
thousand take the same path.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from nextorder.core.bulk import rows_update
from nextorder.core.business_time import (
    US_PER_SECOND,
    Schedule,
    add_business_seconds,
    business_time_between,
)
from nextorder.core.models import BusinessCalendar, Event, Team, Verb
from nextorder.core.roles import LEAD
from nextorder.core.selectors import calendar_schedule
from nextorder.core.services import event_build, event_record, events_record
from nextorder.desk.models import (
    CLOCK_LABELS,
    CLOCKS,
    ClockState,
    ClockStep,
    SlaPolicy,
    Ticket,
    TicketSla,
)
from nextorder.desk.priority import PriorityRule
from nextorder.sales.models import ServiceAgreement

# The assignee is warned when this share of a clock's target has gone by.
WARN_SHARE = 0.75
RECOMPUTE_BATCH = 50_000
_LIVE = (ClockState.RUNNING, ClockState.PAUSED)
_DONE_STATUSES = (Ticket.Status.SOLVED, Ticket.Status.CLOSED)
_ROUND_THE_CLOCK = 0  # the calendar id of tickets with no calendar


@dataclass(frozen=True)
class SlaTargets:
    """Business seconds per clock; None: no target for that clock."""

    first_response: int | None = None
    next_response: int | None = None
    resolution: int | None = None

    def of(self, clock: str) -> int | None:
        value: int | None = getattr(self, clock)
        return value


def policy_targets(policy: SlaPolicy | None) -> SlaTargets:
    if policy is None:
        return SlaTargets()
    minutes = (
        policy.first_response_minutes,
        policy.next_response_minutes,
        policy.resolution_minutes,
    )
    return SlaTargets(*(None if m is None else m * 60 for m in minutes))


def ticket_targets(*, policy: SlaPolicy | None, agreement: SlaTargets | None) -> SlaTargets:
    """The targets a ticket is held to: a customer's service agreement (the times promised
    at the sale) overrides its policy clock by clock, where the agreement names a time."""
    base = policy_targets(policy)
    if agreement is None:
        return base
    return SlaTargets(
        *(
            agreement.of(clock) if agreement.of(clock) is not None else base.of(clock)
            for clock in CLOCKS
        )
    )


def service_agreement_targets(customer_ids: Iterable[int]) -> dict[int, SlaTargets]:
    """The response times each customer's service agreement (`sales.ServiceAgreement`)
    promises, by customer id: of the agreements in force today, the tightest time per
    clock. A clock the agreement names no time for keeps the policy's target."""
    today = timezone.localdate()
    found: dict[int, SlaTargets] = {}
    running = ServiceAgreement.objects.filter(
        customer_id__in=list(customer_ids), starts_on__lte=today, ends_on__gte=today
    ).values_list("customer_id", "first_response_minutes", "resolution_minutes")
    for customer_id, first_response, resolution in running:
        had = found.get(customer_id, SlaTargets())
        found[customer_id] = SlaTargets(
            first_response=_tightest(had.first_response, first_response),
            resolution=_tightest(had.resolution, resolution),
        )
    return found


def _tightest(seconds: int | None, minutes: int | None) -> int | None:
    if minutes is None:
        return seconds
    return minutes * 60 if seconds is None else min(seconds, minutes * 60)


@dataclass(frozen=True)
class PolicyBook:
    """The active policies in order, and what matching them needs, read once per change
    (or per batch of a recompute)."""

    policies: tuple[SlaPolicy, ...]
    top_value_at_risk: Decimal

    @classmethod
    def current(cls, *, rule: PriorityRule | None = None) -> PolicyBook:
        """`rule`: the priority rule as the caller read it already (else read here)."""
        return cls(
            policies=tuple(SlaPolicy.objects.filter(active=True).order_by("position", "id")),
            top_value_at_risk=(rule or PriorityRule.current()).top_value_at_risk,
        )

    def match(
        self,
        *,
        priority: int,
        channel: str,
        customer_kind: str,
        value_at_risk: Decimal | None,
    ) -> SlaPolicy | None:
        """The first policy whose every condition the ticket meets."""
        return self.match_key(
            priority=priority,
            channel=channel,
            customer_kind=customer_kind,
            top_value=bool(value_at_risk) and value_at_risk >= self.top_value_at_risk,  # type: ignore[operator]
        )

    def match_key(
        self, *, priority: int, channel: str, customer_kind: str, top_value: bool
    ) -> SlaPolicy | None:
        for policy in self.policies:
            if policy.priorities and priority not in policy.priorities:
                continue
            if policy.channels and channel not in policy.channels:
                continue
            if policy.customer_kind and customer_kind != policy.customer_kind:
                continue
            if policy.top_value_only and not top_value:
                continue
            return policy
        return None


class Schedules:
    """Business calendars as the clock arithmetic needs them, each read once."""

    def __init__(self) -> None:
        self._by_id: dict[int, Schedule | None] = {_ROUND_THE_CLOCK: None}

    def get(self, calendar_id: int) -> Schedule | None:
        if calendar_id not in self._by_id:
            calendar = BusinessCalendar.objects.prefetch_related("periods", "exceptions").get(
                pk=calendar_id
            )
            self._by_id[calendar_id] = calendar_schedule(calendar=calendar)
        return self._by_id[calendar_id]


def _calendar_id(*, policy: SlaPolicy | None, team_calendar_id: int | None) -> int:
    """The hours a ticket's clocks run in: its policy's, else its team's, else all hours."""
    if policy is not None and policy.calendar_id is not None:
        return policy.calendar_id
    return team_calendar_id or _ROUND_THE_CLOCK


def _epochs(moments: Sequence[datetime | None]) -> np.ndarray:
    return np.array([m.timestamp() if m is not None else np.nan for m in moments], dtype=float)


def _moment(epoch: float) -> datetime | None:
    return None if math.isnan(epoch) else datetime.fromtimestamp(epoch, tz=UTC)


def _add(
    starts: np.ndarray, seconds: np.ndarray, calendar_ids: np.ndarray, schedules: Schedules
) -> np.ndarray:
    """starts + seconds of business time, NaN where either is NaN, each on its calendar."""
    result = np.full(starts.shape, np.nan)
    known = ~np.isnan(starts) & ~np.isnan(seconds)
    for calendar_id in np.unique(calendar_ids[known]):
        rows = known & (calendar_ids == calendar_id)
        schedule = schedules.get(int(calendar_id))
        if schedule is None:
            result[rows] = starts[rows] + seconds[rows]
        else:
            result[rows] = add_business_seconds(starts[rows], seconds[rows], schedule)
    return result


def business_seconds_between(start: datetime, end: datetime, schedule: Schedule | None) -> int:
    if end <= start:
        return 0
    if schedule is None:
        return int((end - start).total_seconds())
    return int(business_time_between(start, end, schedule).total_seconds())


@dataclass
class ClockTimes:
    """Due and warning times of one clock for many tickets (epoch seconds, NaN: none)."""

    due: np.ndarray
    warn: np.ndarray


def clock_times(
    *,
    starts: np.ndarray,
    targets: np.ndarray,
    paused: np.ndarray,
    calendar_ids: np.ndarray,
    schedules: Schedules,
) -> ClockTimes:
    """When clocks started at `starts` with `targets` (NaN: none) and `paused` business
    seconds fall due, and when their assignee is warned: one pass per calendar."""
    n = len(starts)
    both = _add(
        np.concatenate([starts, starts]),
        np.concatenate([targets + paused, np.floor(targets * WARN_SHARE) + paused]),
        np.concatenate([calendar_ids, calendar_ids]),
        schedules,
    )
    return ClockTimes(due=both[:n], warn=both[n:])


def clock_summary(
    *, states: dict[str, np.ndarray], times: dict[str, ClockTimes], steps: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """(The earliest due time of the running clocks, when the worker next acts.)"""
    n = len(next(iter(states.values())))
    due_at = np.full(n, np.nan)
    next_check = np.full(n, np.nan)
    for clock in CLOCKS:
        running = states[clock] == ClockState.RUNNING
        due, warn, step = times[clock].due, times[clock].warn, steps[clock]
        due_at = np.fmin(due_at, np.where(running, due, np.nan))
        warn_next = running & (step < ClockStep.WARNED) & (warn < due)
        due_next = running & (step < ClockStep.ESCALATED)
        check = np.where(warn_next, warn, np.where(due_next, due, np.nan))
        next_check = np.fmin(next_check, check)
    return due_at, next_check


# ---------------------------------------------------------------------------------------
# One ticket (or the few of one change) at a time: the desk services' way in.


@dataclass(frozen=True)
class SlaContext:
    """What matching and timing tickets' clocks reads, read once for a batch of changes
    (a caller that makes several, such as a burst of email, reads it once for all)."""

    book: PolicyBook
    schedules: Schedules
    agreements: dict[int, SlaTargets]
    team_calendars: dict[int, int | None]

    @classmethod
    def for_tickets(
        cls, tickets: Iterable[Ticket], *, rule: PriorityRule | None = None
    ) -> SlaContext:
        """`rule`: the priority rule as the caller read it already (else read here)."""
        tickets = list(tickets)
        team_ids = {t.team_id for t in tickets if t.team_id is not None}
        return cls(
            book=PolicyBook.current(rule=rule),
            schedules=Schedules(),
            agreements=service_agreement_targets({t.customer_id for t in tickets}),
            team_calendars=dict(
                Team.objects.filter(pk__in=team_ids).values_list("pk", "calendar_id")
            ),
        )

    def team_calendar_id(self, ticket: Ticket) -> int | None:
        return self.team_calendars.get(ticket.team_id) if ticket.team_id else None


def _rematch(row: TicketSla, ticket: Ticket, context: SlaContext) -> tuple[SlaTargets, int]:
    """Match the ticket's policy again and return its targets and calendar."""
    policy = context.book.match(
        priority=ticket.priority,
        channel=ticket.channel,
        customer_kind=ticket.customer.kind,
        value_at_risk=ticket.value_at_risk,
    )
    row.policy = policy
    targets = ticket_targets(policy=policy, agreement=context.agreements.get(ticket.customer_id))
    return targets, _calendar_id(policy=policy, team_calendar_id=context.team_calendar_id(ticket))


def _reschedule(rows: Sequence[tuple[TicketSla, SlaTargets, int]], *, schedules: Schedules) -> None:
    """Due and warning times of the rows' live clocks (each row with its targets and
    calendar), and their summaries: one vector pass per clock for a whole batch."""
    if not rows:
        return
    calendar_ids = np.array([calendar_id for _row, _targets, calendar_id in rows])
    times: dict[str, ClockTimes] = {}
    for clock in CLOCKS:
        live = [getattr(row, f"{clock}_state") in _LIVE for row, _targets, _calendar in rows]
        # A clock that is not live, or that its policy does not time, has no target.
        targets = [
            target if is_live and (target := row_targets.of(clock)) is not None else np.nan
            for (_row, row_targets, _calendar), is_live in zip(rows, live, strict=True)
        ]
        times[clock] = clock_times(
            starts=_epochs([getattr(row, f"{clock}_started_at") for row, _t, _c in rows]),
            targets=np.array(targets, dtype=float),
            paused=np.array(
                [getattr(row, f"{clock}_paused_seconds") for row, _t, _c in rows], dtype=float
            ),
            calendar_ids=calendar_ids,
            schedules=schedules,
        )
        for n, ((row, _targets, _calendar), is_live) in enumerate(zip(rows, live, strict=True)):
            if is_live:
                setattr(row, f"{clock}_due_at", _moment(times[clock].due[n]))
                setattr(row, f"{clock}_warn_at", _moment(times[clock].warn[n]))
    _summarize([row for row, _targets, _calendar in rows], times=times)


def _start(row: TicketSla, clock: str, at: datetime) -> None:
    setattr(row, f"{clock}_state", ClockState.RUNNING)
    setattr(row, f"{clock}_started_at", at)
    setattr(row, f"{clock}_paused_seconds", 0)
    setattr(row, f"{clock}_step", ClockStep.NONE)
    setattr(row, f"{clock}_due_at", None)
    setattr(row, f"{clock}_warn_at", None)


def _stop(row: TicketSla, ticket: Ticket, clock: str, at: datetime) -> Event | None:
    """Stop a live clock: met if it stopped in time, else breached; the event says which.

    A breach the worker already recorded (an escalated clock) is not recorded twice.
    """
    state = getattr(row, f"{clock}_state")
    if state not in _LIVE:
        return None
    due = getattr(row, f"{clock}_due_at")
    stopped_at = row.paused_since if state == ClockState.PAUSED and row.paused_since else at
    met = due is None or stopped_at <= due
    setattr(row, f"{clock}_state", ClockState.MET if met else ClockState.BREACHED)
    if due is None:  # no target, nothing promised: no event
        return None
    if not met and getattr(row, f"{clock}_step") == ClockStep.ESCALATED:
        return None
    return event_build(
        verb=Verb.SLA_MET if met else Verb.SLA_BREACHED,
        subject=ticket,
        actor_label="system:sla",
        customer_id=ticket.customer_id,
        after=_clock_after(row, clock, at=at),
        occurred_at=at,
    )


def _clock_after(row: TicketSla, clock: str, *, at: datetime) -> dict[str, Any]:
    due = getattr(row, f"{clock}_due_at")
    return {
        "clock": clock,
        "due_at": due.isoformat() if due else None,
        "at": at.isoformat(),
        "policy": row.policy.name if row.policy else None,
    }


def _follow_status(
    row: TicketSla, ticket: Ticket, *, at: datetime, schedules: Schedules, calendar_id: int
) -> list[Event]:
    """Pause, resume or stop the clocks as the ticket's status now asks."""
    events: list[Event] = []
    row.status = ticket.status
    if ticket.status in _DONE_STATUSES:
        for clock in CLOCKS:
            if event := _stop(row, ticket, clock, at):
                events.append(event)
        row.paused_since = None
        return events
    pause_statuses = row.policy.pause_statuses if row.policy else [Ticket.Status.PENDING]
    if ticket.status in pause_statuses and row.paused_since is None:
        row.paused_since = at
        for clock in CLOCKS:
            if getattr(row, f"{clock}_state") == ClockState.RUNNING:
                setattr(row, f"{clock}_state", ClockState.PAUSED)
    elif ticket.status not in pause_statuses and row.paused_since is not None:
        paused = business_seconds_between(row.paused_since, at, schedules.get(calendar_id))
        for clock in CLOCKS:
            if getattr(row, f"{clock}_state") == ClockState.PAUSED:
                setattr(row, f"{clock}_state", ClockState.RUNNING)
                setattr(
                    row, f"{clock}_paused_seconds", getattr(row, f"{clock}_paused_seconds") + paused
                )
        row.paused_since = None
    return events


def sla_rows_open(*, tickets: Sequence[Ticket], context: SlaContext | None = None) -> None:
    """The clocks of newly opened tickets: first response (unless an agent opened it, and
    so spoke first) and resolution start when the ticket does."""
    context = context or SlaContext.for_tickets(tickets)
    rows = []
    for ticket in tickets:
        row = TicketSla(ticket=ticket, status=ticket.status)
        targets, calendar_id = _rematch(row, ticket, context)
        if ticket.channel != Ticket.Channel.AGENT:
            _start(row, "first_response", ticket.created_at)
        _start(row, "resolution", ticket.created_at)
        _follow_status(
            row, ticket, at=ticket.created_at, schedules=context.schedules, calendar_id=calendar_id
        )
        rows.append((row, targets, calendar_id))
    _reschedule(rows, schedules=context.schedules)
    TicketSla.objects.bulk_create([row for row, _targets, _calendar in rows])


def _locked_rows(tickets: Sequence[Ticket]) -> dict[int, TicketSla]:
    found = (
        TicketSla.objects.select_for_update(of=("self",))
        .select_related("policy")
        .filter(ticket_id__in=[t.pk for t in tickets])
    )
    return {row.ticket_id: row for row in found.order_by("ticket_id")}


_CLOCK_COLUMNS = tuple(
    f"{clock}_{part}"
    for clock in CLOCKS
    for part in ("state", "started_at", "due_at", "warn_at", "paused_seconds", "step")
)
_WRITTEN = ("policy", "status", "due_at", "next_check_at", "paused_since", *_CLOCK_COLUMNS)
_CLOCK_TIMES = tuple(f"{clock}_{part}" for clock in CLOCKS for part in ("due_at", "warn_at"))


def sla_follow_changes(
    *,
    changes: Sequence[tuple[Ticket, datetime]],
    customer_wrote: bool = False,
    agent_replied: bool = False,
    context: SlaContext | None = None,
) -> list[Event]:
    """Bring the clocks of changed tickets in step with them, each as of its moment:

    - the policy matched again (priority, channel, team may have changed);
    - a public reply from an agent stops the live response clocks (met or breached);
    - a customer's message starts the next-response clock unless one is live;
    - the status pauses, resumes or (solved, closed) stops the clocks.
    Returns the met and breached events, for the caller to record with its own.
    """
    tickets = [ticket for ticket, _at in changes]
    if not tickets:
        return []
    context = context or SlaContext.for_tickets(tickets)
    rows = _locked_rows(tickets)
    events: list[Event] = []
    changed: dict[int, tuple[TicketSla, SlaTargets, int]] = {}
    for ticket, at in changes:
        row = rows.get(ticket.pk)
        if row is None:  # a ticket from before service levels, or written in bulk
            continue
        targets, calendar_id = _rematch(row, ticket, context)
        if agent_replied:
            for clock in ("first_response", "next_response"):
                if event := _stop(row, ticket, clock, at):
                    events.append(event)
        # A status change first: a message that reopens a ticket resumes its clocks.
        events += _follow_status(
            row, ticket, at=at, schedules=context.schedules, calendar_id=calendar_id
        )
        if (
            customer_wrote
            and ticket.status not in _DONE_STATUSES
            and not any(
                getattr(row, f"{clock}_state") in _LIVE
                for clock in ("first_response", "next_response")
            )
        ):
            _start(row, "next_response", at)
        changed[row.pk] = (row, targets, calendar_id)
    _reschedule(list(changed.values()), schedules=context.schedules)
    rows_update([row for row, _targets, _calendar in changed.values()], fields=_WRITTEN)
    return events


def _summarize(rows: Sequence[TicketSla], *, times: dict[str, ClockTimes] | None = None) -> None:
    """The rows' queue due times and the worker's next calls, from their clocks' times:
    as just computed, or else as the rows hold them."""
    times = times or {
        clock: ClockTimes(
            due=_epochs([getattr(row, f"{clock}_due_at") for row in rows]),
            warn=_epochs([getattr(row, f"{clock}_warn_at") for row in rows]),
        )
        for clock in CLOCKS
    }
    due_at, next_check = clock_summary(
        states={
            c: np.array([getattr(row, f"{c}_state") for row in rows], dtype=object) for c in CLOCKS
        },
        times=times,
        steps={c: np.array([getattr(row, f"{c}_step") for row in rows]) for c in CLOCKS},
    )
    for row, due, check in zip(rows, due_at, next_check, strict=True):
        row.due_at, row.next_check_at = _moment(due), _moment(check)


# ---------------------------------------------------------------------------------------
# A policy changed: every open ticket's due times again, in batches.


@dataclass(frozen=True)
class RecomputeReport:
    tickets: int
    # Rows whose policy or times changed, and so were written.
    written: int
    batches: int
    seconds: float
    # The longest a batch held its rows locked (its transaction), in seconds.
    longest_batch_seconds: float


_TIME_PARTS = ("started_at", "due_at", "warn_at")
_WRITTEN_TIMES = (*_CLOCK_TIMES, "due_at", "next_check_at")
# What a batch reads: (SQL, name); times as integer microseconds since 1970.
_NUMBER_COLUMNS = (
    ("t.priority", "priority"),
    ("t.value_at_risk", "value_at_risk"),
    ("t.customer_id", "customer_id"),
    ("team.calendar_id", "team_calendar_id"),
    ("s.policy_id", "policy_id"),
    *(
        (f"s.{clock}_{part}", f"{clock}_{part}")
        for clock in CLOCKS
        for part in ("paused_seconds", "step")
    ),
)
_TEXT_COLUMNS = (
    ("t.channel", "channel"),
    ("c.kind", "kind"),
    *((f"s.{clock}_state", f"{clock}_state") for clock in CLOCKS),
)
_MOMENT_COLUMNS = (
    *(f"{clock}_{part}" for clock in CLOCKS for part in _TIME_PARTS),
    "due_at",
    "next_check_at",
)


def _epoch_sql(column: str) -> str:
    """A time as seconds since 1970: a float exact to well under a microsecond (rounded
    to it once read), and a number, not a datetime, as a batch carries half a million."""
    if connection.vendor == "postgresql":
        return f"date_part('epoch', {column})"
    # Whole seconds, then the stored fraction (".123456"): julianday loses microseconds.
    return f"(CAST(strftime('%%s', {column}) AS REAL) + CAST(substr({column}, 20) AS REAL))"


def _batch_query(*, after: int, limit: int, ids: Sequence[int] | None) -> tuple[str, list[Any]]:
    postgres = connection.vendor == "postgresql"
    selected = [
        "s.ticket_id",
        *(["s.xmin::text::bigint"] if postgres else []),
        *(sql for sql, _name in _NUMBER_COLUMNS),
        *(sql for sql, _name in _TEXT_COLUMNS),
        *(_epoch_sql(f"s.{name}") for name in _MOMENT_COLUMNS),
    ]
    statuses = ", ".join(f"'{status}'" for status in Ticket.ACTIVE_STATUSES)
    where = f"s.status IN ({statuses})"
    params: list[Any] = []
    if ids is None:
        # The cursor bounds both sides of the join, so each is read from it on.
        where += " AND s.ticket_id > %s AND t.id > %s"
        params += [after, after]
    else:
        where += f" AND s.ticket_id IN ({', '.join(['%s'] * len(ids))})"
        params += list(ids)
    if postgres:
        # The batch as one text of tab-separated lines, which polars reads at once: the
        # rows as rows (or COPY's one message a row) cost more in Python than the rest.
        fields = ", ".join(f"COALESCE(({column})::text, '\\N')" for column in selected)
        selected = [f"concat_ws(E'\\t', {fields}) AS line"]
    sql = (
        f"SELECT {', '.join(selected)} FROM desk_ticketsla AS s "
        "JOIN desk_ticket AS t ON t.id = s.ticket_id "
        "JOIN crm_customer AS c ON c.id = t.customer_id "
        "LEFT JOIN core_team AS team ON team.id = t.team_id "
        f"WHERE {where} ORDER BY s.ticket_id LIMIT %s"
    )
    if postgres:
        sql = f"SELECT string_agg(line, E'\\n') FROM ({sql}) AS batch"
    return sql, [*params, limit]


def _batch_names() -> list[str]:
    return [
        "ticket_id",
        *(["row_xmin"] if connection.vendor == "postgresql" else []),
        *(name for _sql, name in _NUMBER_COLUMNS),
        *(name for _sql, name in _TEXT_COLUMNS),
        *_MOMENT_COLUMNS,
    ]


def _batch_read(*, after: int, limit: int, ids: Sequence[int] | None = None) -> pl.DataFrame:
    """The batch's open clocks with what matching a policy needs: on PostgreSQL as one
    text read by polars (no Python object per value), on SQLite row by row."""
    sql, params = _batch_query(after=after, limit=limit, ids=ids)
    names = _batch_names()
    texts = {name for _sql, name in _TEXT_COLUMNS}
    floats = {"value_at_risk", *_MOMENT_COLUMNS}
    schema = {
        name: pl.String if name in texts else pl.Float64 if name in floats else pl.Int64
        for name in names
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if connection.vendor != "postgresql":
            return _in_micros(pl.DataFrame(cursor.fetchall(), schema=schema, orient="row"))
        [(text,)] = cursor.fetchall()
    if not text:
        return pl.DataFrame(schema=schema)
    return _in_micros(
        pl.read_csv(
            text.encode(),
            separator="\t",
            has_header=False,
            new_columns=names,
            schema=schema,
            null_values="\\N",
            quote_char=None,
        )
    )


def _in_micros(frame: pl.DataFrame) -> pl.DataFrame:
    """Times as whole microseconds, so that a time computed again compares exactly."""
    return frame.with_columns(
        (pl.col(name) * US_PER_SECOND).round(0).cast(pl.Int64) for name in _MOMENT_COLUMNS
    )


def sla_recompute_open(*, batch_size: int = RECOMPUTE_BATCH) -> RecomputeReport:
    """Match every open ticket's policy again and recompute its clocks' due times.

    Keyset batches over the narrow clock table, each its own transaction that locks only
    the rows it changes (never the ticket table): agents keep working while it runs, and
    a change they make to a ticket waits at most one batch. A batch reads its rows (COPY),
    computes the due times at once per calendar, and writes only the rows that changed
    in one UPDATE from arrays. On PostgreSQL a row is written only if no one wrote it
    since it was read (its xmin); those that someone did are done again at the end.
    """
    book = PolicyBook.current()
    schedules = Schedules()
    started = time.perf_counter()
    after, tickets, written, batches, longest = -1, 0, 0, 0, 0.0
    retry: list[int] = []
    while True:
        batch_started = time.perf_counter()
        with transaction.atomic():
            frame = _batch_read(after=after, limit=batch_size)
            done, skipped = _recompute_frame(frame, book=book, schedules=schedules)
        longest = max(longest, time.perf_counter() - batch_started)
        tickets += frame.height
        written += done
        retry += skipped
        batches += 1
        if frame.height < batch_size:
            break
        after = int(frame["ticket_id"].max())  # type: ignore[arg-type]
    # Rows a desk service wrote meanwhile: read again (a service that started before the
    # policy change committed may have used the old policy).
    for _round in range(3):
        if not retry:
            break
        with transaction.atomic():
            frame = _batch_read(after=-1, limit=len(retry), ids=retry)
            done, retry = _recompute_frame(frame, book=book, schedules=schedules)
        written += done
    return RecomputeReport(
        tickets=tickets,
        written=written,
        batches=batches,
        seconds=time.perf_counter() - started,
        longest_batch_seconds=longest,
    )


def _policy_columns(frame: pl.DataFrame, book: PolicyBook) -> pl.DataFrame:
    """Each row's policy, targets (business seconds) and calendar: one match per distinct
    (priority, channel, customer kind, top value) in the batch."""
    top = float(book.top_value_at_risk)
    keyed = frame.with_columns(
        ((pl.col("value_at_risk").fill_null(0) != 0) & (pl.col("value_at_risk") >= top))
        .fill_null(False)
        .alias("top_value")
    )
    keys = keyed.select("priority", "channel", "kind", "top_value").unique()
    matches: dict[str, list[Any]] = {name: [] for name in ("policy", "calendar", *CLOCKS)}
    for priority, channel, kind, top_value in keys.iter_rows():
        policy = book.match_key(
            priority=priority, channel=channel, customer_kind=kind, top_value=top_value
        )
        targets = policy_targets(policy)
        matches["policy"].append(policy.pk if policy else None)
        matches["calendar"].append(policy.calendar_id if policy else None)
        for clock in CLOCKS:
            matches[clock].append(targets.of(clock))
    matched = keys.with_columns(
        pl.Series("new_policy_id", matches["policy"], dtype=pl.Int64),
        pl.Series("policy_calendar_id", matches["calendar"], dtype=pl.Int64),
        *(pl.Series(f"{clock}_target", matches[clock], dtype=pl.Float64) for clock in CLOCKS),
    )
    joined = keyed.join(
        matched, on=["priority", "channel", "kind", "top_value"], how="left", maintain_order="left"
    ).with_columns(
        pl.coalesce("policy_calendar_id", "team_calendar_id", pl.lit(_ROUND_THE_CLOCK)).alias(
            "calendar_id"
        )
    )
    agreements = service_agreement_targets(joined["customer_id"].unique().to_list())
    if agreements:
        promised = pl.DataFrame(
            {
                "customer_id": list(agreements),
                **{
                    f"{clock}_promised": [a.of(clock) for a in agreements.values()]
                    for clock in CLOCKS
                },
            },
            schema_overrides={f"{clock}_promised": pl.Float64 for clock in CLOCKS},
        )
        joined = joined.join(
            promised, on="customer_id", how="left", maintain_order="left"
        ).with_columns(
            pl.coalesce(f"{clock}_promised", f"{clock}_target").alias(f"{clock}_target")
            for clock in CLOCKS
        )
    return joined


def _recompute_frame(
    frame: pl.DataFrame, *, book: PolicyBook, schedules: Schedules
) -> tuple[int, list[int]]:
    """Compute and write a batch; return (rows written, ids someone wrote since read)."""
    if frame.is_empty():
        return 0, []
    frame = _policy_columns(frame, book)

    def seconds(name: str) -> np.ndarray:
        return frame[name].cast(pl.Float64).to_numpy() / US_PER_SECOND

    calendars = frame["calendar_id"].to_numpy()
    states: dict[str, np.ndarray] = {}
    times: dict[str, ClockTimes] = {}
    steps: dict[str, np.ndarray] = {}
    for clock in CLOCKS:
        states[clock] = frame[f"{clock}_state"].to_numpy()
        steps[clock] = frame[f"{clock}_step"].to_numpy()
        live = (states[clock] == ClockState.RUNNING) | (states[clock] == ClockState.PAUSED)
        computed = clock_times(
            starts=seconds(f"{clock}_started_at"),
            targets=np.where(live, frame[f"{clock}_target"].to_numpy(), np.nan),
            paused=frame[f"{clock}_paused_seconds"].to_numpy().astype(float),
            calendar_ids=calendars,
            schedules=schedules,
        )
        # A stopped clock keeps the times it stopped against.
        times[clock] = ClockTimes(
            due=np.where(live, computed.due, seconds(f"{clock}_due_at")),
            warn=np.where(live, computed.warn, seconds(f"{clock}_warn_at")),
        )
    due_at, next_check = clock_summary(states=states, times=times, steps=steps)
    new = {
        **{
            f"{clock}_{part}": getattr(times[clock], part.removesuffix("_at"))
            for clock in CLOCKS
            for part in ("due_at", "warn_at")
        },
        "due_at": due_at,
        "next_check_at": next_check,
    }
    written = frame.select(
        "ticket_id", *(["row_xmin"] if "row_xmin" in frame.columns else [])
    ).with_columns(
        pl.Series("policy_id", frame["new_policy_id"]),
        *(pl.Series(name, _micros(values)) for name, values in new.items()),
    )
    # Only the rows whose policy or times changed are written (a write is most of the cost).
    changed = ~frame["new_policy_id"].eq_missing(frame["policy_id"])
    for name in new:
        changed = changed | ~written[name].eq_missing(frame[name])
    written = written.filter(changed)
    if written.is_empty():
        return 0, []
    updated = _clock_times_write(written)
    skipped = sorted(set(written["ticket_id"].to_list()) - set(updated))
    return len(updated), skipped


def _micros(epochs: np.ndarray) -> pl.Series:
    return pl.Series(np.round(epochs * US_PER_SECOND)).fill_nan(None).cast(pl.Int64)


def _array_literal(values: pl.Series) -> str:
    """A column as a PostgreSQL array literal: one parameter for the whole batch."""
    text = values.cast(pl.String).fill_null("NULL").str.join(",")
    return "{" + (text[0] or "") + "}"


_WRITTEN_COLUMNS = ("policy_id", *_WRITTEN_TIMES)


def _clock_times_write(rows: pl.DataFrame) -> list[int]:
    """Write the batch's new policies and times; return the ids written. On PostgreSQL one
    UPDATE from arrays, guarded by each row's xmin as read."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            moments = [
                _sqlite_times(rows[name]) if name != "policy_id" else rows[name].to_list()
                for name in _WRITTEN_COLUMNS
            ]
            assignments = ", ".join(f"{name} = %s" for name in _WRITTEN_COLUMNS)
            cursor.executemany(
                f"UPDATE desk_ticketsla SET {assignments} WHERE ticket_id = %s",
                [
                    [*values, ticket_id]
                    for *values, ticket_id in zip(
                        *moments, rows["ticket_id"].to_list(), strict=True
                    )
                ],
            )
            return list(rows["ticket_id"].to_list())
        assignments = ", ".join(
            [
                "policy_id = u.policy_id",
                *(
                    f"{name} = to_timestamp(u.{name}::float8 / {US_PER_SECOND})"
                    for name in _WRITTEN_TIMES
                ),
            ]
        )
        arrays = ", ".join(
            ["%s::bigint[]", "%s::xid[]", *(["%s::bigint[]"] * len(_WRITTEN_COLUMNS))]
        )
        cursor.execute(
            f"UPDATE desk_ticketsla AS s SET {assignments} "
            f"FROM unnest({arrays}) AS u(ticket_id, row_xmin, {', '.join(_WRITTEN_COLUMNS)}) "
            # The batch's range bounds the table's side of the join (else read whole).
            "WHERE s.ticket_id = u.ticket_id AND s.xmin = u.row_xmin "
            "AND s.ticket_id BETWEEN %s AND %s RETURNING s.ticket_id",
            [
                *(
                    _array_literal(rows[name])
                    for name in ("ticket_id", "row_xmin", *_WRITTEN_COLUMNS)
                ),
                int(rows["ticket_id"].min()),  # type: ignore[arg-type]
                int(rows["ticket_id"].max()),  # type: ignore[arg-type]
            ],
        )
        return [ticket_id for (ticket_id,) in cursor.fetchall()]


def _sqlite_times(micros: pl.Series) -> list[str | None]:
    """Times as Django writes them on SQLite, where times compare as text."""
    moments = pl.from_epoch(micros, time_unit="us")
    return [None if m is None else str(m) for m in moments.to_list()]


# ---------------------------------------------------------------------------------------
# The worker: warn before the breach, escalate at it.


@dataclass(frozen=True)
class CheckReport:
    warned: int
    escalated: int


def sla_clocks_check(*, now: datetime | None = None, limit: int = 500) -> CheckReport:
    """Warn about and escalate the clocks whose moment has come, a ticket at a time.

    Each ticket is one transaction: its row locked (a second worker skips it), each
    step's stamp written with the step's event and the step's own changes, the mail the
    event asks for booked by its listener in the same transaction. A worker that stops
    anywhere leaves each step done with its stamp or not at all: the next run does what
    is left, and nothing twice.
    """
    now = now or timezone.now()
    due = TicketSla.objects.filter(next_check_at__lte=now).order_by("next_check_at", "ticket_id")
    warned = escalated = 0
    for ticket_id in due.values_list("ticket_id", flat=True)[:limit]:
        with transaction.atomic():
            row = (
                TicketSla.objects.select_for_update(of=("self",), skip_locked=True)
                .select_related("policy", "ticket__customer", "ticket__team", "ticket__assignee")
                .filter(pk=ticket_id, next_check_at__lte=now)
                .first()
            )
            if row is None:  # another worker has it, or it moved since
                continue
            done = _clock_steps(row, now=now)
            warned += done.warned
            escalated += done.escalated
    return CheckReport(warned=warned, escalated=escalated)


def _clock_steps(row: TicketSla, *, now: datetime) -> CheckReport:
    ticket = row.ticket
    events: list[Event] = []
    warned = escalated = 0
    for clock in CLOCKS:
        if getattr(row, f"{clock}_state") != ClockState.RUNNING:
            continue
        due, warn = getattr(row, f"{clock}_due_at"), getattr(row, f"{clock}_warn_at")
        step = getattr(row, f"{clock}_step")
        if step < ClockStep.ESCALATED and due is not None and due <= now:
            events.append(_escalate(row=row, ticket=ticket, clock=clock, now=now))
            setattr(row, f"{clock}_step", ClockStep.ESCALATED)
            escalated += 1
        elif step < ClockStep.WARNED and warn is not None and warn <= now:
            events.append(_warning(row=row, ticket=ticket, clock=clock, now=now))
            setattr(row, f"{clock}_step", ClockStep.WARNED)
            warned += 1
    _summarize([row])
    rows_update([row], fields=_WRITTEN)
    events_record(events=events)
    return CheckReport(warned=warned, escalated=escalated)


_CLOCK_WORDS = {clock: label.lower() for clock, label in CLOCK_LABELS.items()}


def _team_leads(ticket: Ticket) -> list[User]:
    """Who hears of a breach: the leads of the ticket's team, or every lead if it has none."""
    leads = User.objects.filter(is_active=True, groups__name=LEAD).order_by("id")
    of_team = leads.filter(teams=ticket.team_id) if ticket.team_id else leads.none()
    return list(of_team) or list(leads)


def _notice(to: Iterable[User], subject: str, text: str) -> dict[str, Any]:
    """What the event's listener mails (desk/listeners.py), and to whom."""
    return {"notify": sorted({u.email for u in to if u.email}), "subject": subject, "text": text}


def _warning(*, row: TicketSla, ticket: Ticket, clock: str, now: datetime) -> Event:
    due = getattr(row, f"{clock}_due_at")
    words = _CLOCK_WORDS[clock]
    to = [ticket.assignee] if ticket.assignee else _team_leads(ticket)
    return event_build(
        verb=Verb.SLA_WARNED,
        subject=ticket,
        actor_label="system:sla",
        customer_id=ticket.customer_id,
        after={
            **_clock_after(row, clock, at=now),
            **_notice(
                to,
                f"[#{ticket.pk}] {words} due {timezone.localtime(due):%H:%M}: {ticket.subject}",
                f"Ticket #{ticket.pk} ({ticket.subject}) is due its {words} by "
                f"{timezone.localtime(due):%Y-%m-%d %H:%M}.",
            ),
        },
        occurred_at=now,
    )


def _escalate(*, row: TicketSla, ticket: Ticket, clock: str, now: datetime) -> Event:
    """At the breach: the priority goes up a level, the team's leads are told, and with
    the policy's say-so the ticket goes to one of them."""
    words = _CLOCK_WORDS[clock]
    leads = _team_leads(ticket)
    changes: dict[str, Any] = {}
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if ticket.priority < Ticket.Priority.URGENT:
        before["priority"], after["priority"] = ticket.priority, ticket.priority + 1
        changes.update(
            priority=ticket.priority + 1, priority_reason=f"Raised: {words} target missed"
        )
    reassign_to = next((lead for lead in leads if lead.pk != ticket.assignee_id), None)
    if row.policy is not None and row.policy.reassign_on_breach and reassign_to is not None:
        before["assignee"] = ticket.assignee.get_username() if ticket.assignee else None
        after["assignee"] = reassign_to.get_username()
        changes["assignee"] = reassign_to
    if changes:
        Ticket.objects.filter(pk=ticket.pk).update(
            version=F("version") + 1, updated_at=now, **changes
        )
    notified = [*leads, *([ticket.assignee] if ticket.assignee else [])]
    return event_build(
        verb=Verb.SLA_BREACHED,
        subject=ticket,
        actor_label="system:sla",
        customer_id=ticket.customer_id,
        before=before,
        after={
            **_clock_after(row, clock, at=now),
            **after,
            **_notice(
                notified,
                f"[#{ticket.pk}] {words} target missed: {ticket.subject}",
                f"Ticket #{ticket.pk} ({ticket.subject}) missed its {words} target "
                f"({timezone.localtime(getattr(row, f'{clock}_due_at')):%Y-%m-%d %H:%M}).",
            ),
        },
        occurred_at=now,
    )


# ---------------------------------------------------------------------------------------
# Policies: leads and managers edit them (console and admin both call these).

POLICY_FIELDS = (
    "name",
    "position",
    "active",
    "customer_kind",
    "top_value_only",
    "priorities",
    "channels",
    "first_response_minutes",
    "next_response_minutes",
    "resolution_minutes",
    "pause_statuses",
    "reassign_on_breach",
    "calendar",
)
PAUSABLE_STATUSES = (Ticket.Status.NEW, Ticket.Status.OPEN, Ticket.Status.PENDING)


def _policy_checked(policy: SlaPolicy) -> None:
    choices: dict[str, list[Any]] = {
        "priorities": Ticket.Priority.values,
        "channels": Ticket.Channel.values,
        "pause_statuses": list(PAUSABLE_STATUSES),
    }
    for name, allowed in choices.items():
        value = getattr(policy, name)
        if not isinstance(value, list) or any(v not in allowed for v in value):
            raise ValidationError({name: f"Choose among {', '.join(map(str, allowed))}."})
    policy.full_clean()


def _loggable_policy(policy: SlaPolicy) -> dict[str, Any]:
    """Event rows hold JSON: the calendar as its id."""
    return {name: getattr(policy, name) for name in POLICY_FIELDS if name != "calendar"} | {
        "calendar": policy.calendar_id
    }


@transaction.atomic
def sla_policy_create(*, actor: User, **fields: Any) -> SlaPolicy:
    """A new policy; open tickets are matched again by the worker (`sla_recompute`)."""
    policy = SlaPolicy(**{name: value for name, value in fields.items() if name in POLICY_FIELDS})
    _policy_checked(policy)
    policy.save()
    event_record(
        verb=Verb.SLA_POLICY_CREATED, subject=policy, actor=actor, after=_loggable_policy(policy)
    )
    return policy


@transaction.atomic
def sla_policy_update(
    *, policy: SlaPolicy, actor: User, expected_version: int, **fields: Any
) -> SlaPolicy:
    """Change a policy (optimistic lock on its version); open tickets' due times are then
    recomputed by the worker (`sla_recompute`)."""
    current = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
    if current.version != expected_version:
        raise ValidationError(
            "This policy was changed by someone else after you opened it; "
            "reload the page and make your change again."
        )
    before = _loggable_policy(current)
    for name, value in fields.items():
        if name in POLICY_FIELDS:
            setattr(current, name, value)
    _policy_checked(current)
    after = _loggable_policy(current)
    changed = {name for name in after if after[name] != before[name]}
    if not changed:
        return current
    current.version += 1
    current.save()
    event_record(
        verb=Verb.SLA_POLICY_CHANGED,
        subject=current,
        actor=actor,
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
    )
    policy.__dict__.update(current.__dict__)
    return current
