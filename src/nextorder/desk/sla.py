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

from nextorder.core.bulk import (
    StagingColumn,
    rows_update,
    staging_table_drop,
    staging_table_load,
)
from nextorder.core.business_time import Schedule, add_business_seconds, business_time_between
from nextorder.core.models import BusinessCalendar, Event, Team, Verb
from nextorder.core.roles import LEAD
from nextorder.core.selectors import calendar_schedule
from nextorder.core.services import event_build, event_record, events_record
from nextorder.desk.models import (
    CLOCKS,
    ClockState,
    ClockStep,
    SlaPolicy,
    Ticket,
    TicketSla,
)
from nextorder.desk.priority import PriorityRule

# The assignee is warned when this share of a clock's target has gone by.
WARN_SHARE = 0.75
RECOMPUTE_BATCH = 5_000
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
    """The response times each customer's service agreement promises, by customer id.

    The hook for `sales.ServiceAgreement` (being built): until it lands no customer has
    an agreement, and every ticket is held to its policy alone.
    """
    return {}


@dataclass(frozen=True)
class PolicyBook:
    """The active policies in order, and what matching them needs, read once per change
    (or per batch of a recompute)."""

    policies: tuple[SlaPolicy, ...]
    top_value_at_risk: Decimal

    @classmethod
    def current(cls) -> PolicyBook:
        return cls(
            policies=tuple(SlaPolicy.objects.filter(active=True).order_by("position", "id")),
            top_value_at_risk=PriorityRule.current().top_value_at_risk,
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
        top_value = bool(value_at_risk) and value_at_risk >= self.top_value_at_risk  # type: ignore[operator]
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


def _numbers(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


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
class _Context:
    book: PolicyBook
    schedules: Schedules
    agreements: dict[int, SlaTargets]
    team_calendars: dict[int, int | None]

    @classmethod
    def for_tickets(cls, tickets: Iterable[Ticket]) -> _Context:
        tickets = list(tickets)
        team_ids = {t.team_id for t in tickets if t.team_id is not None}
        return cls(
            book=PolicyBook.current(),
            schedules=Schedules(),
            agreements=service_agreement_targets({t.customer_id for t in tickets}),
            team_calendars=dict(
                Team.objects.filter(pk__in=team_ids).values_list("pk", "calendar_id")
            ),
        )

    def team_calendar_id(self, ticket: Ticket) -> int | None:
        return self.team_calendars.get(ticket.team_id) if ticket.team_id else None


def _rematch(row: TicketSla, ticket: Ticket, context: _Context) -> tuple[SlaTargets, int]:
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


def _reschedule(
    row: TicketSla, *, targets: SlaTargets, calendar_id: int, schedules: Schedules
) -> None:
    """Due and warning times of the row's live clocks, and its summary, from the targets."""
    times: dict[str, ClockTimes] = {}
    for clock in CLOCKS:
        live = getattr(row, f"{clock}_state") in _LIVE
        target = targets.of(clock)
        times[clock] = clock_times(
            starts=_epochs([getattr(row, f"{clock}_started_at")]),
            targets=np.array([target if live and target is not None else np.nan], dtype=float),
            paused=np.array([getattr(row, f"{clock}_paused_seconds")], dtype=float),
            calendar_ids=np.array([calendar_id]),
            schedules=schedules,
        )
        if live:
            setattr(row, f"{clock}_due_at", _moment(times[clock].due[0]))
            setattr(row, f"{clock}_warn_at", _moment(times[clock].warn[0]))
    due_at, next_check = clock_summary(
        states={c: np.array([getattr(row, f"{c}_state")], dtype=object) for c in CLOCKS},
        times=times,
        steps={c: np.array([getattr(row, f"{c}_step")]) for c in CLOCKS},
    )
    row.due_at, row.next_check_at = _moment(due_at[0]), _moment(next_check[0])


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


def sla_rows_open(*, tickets: Sequence[Ticket]) -> None:
    """The clocks of newly opened tickets: first response (unless an agent opened it, and
    so spoke first) and resolution start when the ticket does."""
    context = _Context.for_tickets(tickets)
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
        _reschedule(row, targets=targets, calendar_id=calendar_id, schedules=context.schedules)
        rows.append(row)
    TicketSla.objects.bulk_create(rows)


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


def sla_follow_changes(
    *,
    changes: Sequence[tuple[Ticket, datetime]],
    customer_wrote: bool = False,
    agent_replied: bool = False,
) -> list[Event]:
    """Bring the clocks of changed tickets in step with them, each as of its moment:

    - the policy matched again (priority, channel, team may have changed);
    - a public reply from an agent stops the live response clocks (met or breached);
    - a customer's message starts the next-response clock unless one is live;
    - the status pauses, resumes or (solved, closed) stops the clocks.
    Returns the met and breached events, for the caller to record with its own.
    """
    tickets = [ticket for ticket, _at in changes]
    context = _Context.for_tickets(tickets)
    rows = _locked_rows(tickets)
    events: list[Event] = []
    changed: dict[int, TicketSla] = {}
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
        _reschedule(row, targets=targets, calendar_id=calendar_id, schedules=context.schedules)
        changed[row.pk] = row
    rows_update(list(changed.values()), fields=_WRITTEN)
    return events


def _summarize(row: TicketSla) -> None:
    """The row's queue due time and the worker's next call, from its clocks' times."""
    due_at, next_check = clock_summary(
        states={c: np.array([getattr(row, f"{c}_state")], dtype=object) for c in CLOCKS},
        times={
            c: ClockTimes(
                due=_epochs([getattr(row, f"{c}_due_at")]),
                warn=_epochs([getattr(row, f"{c}_warn_at")]),
            )
            for c in CLOCKS
        },
        steps={c: np.array([getattr(row, f"{c}_step")]) for c in CLOCKS},
    )
    row.due_at, row.next_check_at = _moment(due_at[0]), _moment(next_check[0])


# ---------------------------------------------------------------------------------------
# A policy changed: every open ticket's due times again, in batches.


@dataclass(frozen=True)
class RecomputeReport:
    tickets: int
    batches: int
    seconds: float
    # The longest a batch held its rows locked (its transaction), in seconds.
    longest_batch_seconds: float


_STAGED = "sla_recompute_staging"
_TIME_COLUMNS = tuple(f"{clock}_{part}" for clock in CLOCKS for part in ("due_at", "warn_at"))
_STAGED_COLUMNS = (
    StagingColumn("ticket_id", "bigint", "integer"),
    StagingColumn("policy_id", "bigint", "integer"),
    *(
        StagingColumn(name, "timestamptz", "text")
        for name in (*_TIME_COLUMNS, "due_at", "next_check_at")
    ),
)
_TIME_PARTS = ("started_at", "due_at", "warn_at")
_BATCH_COLUMNS = (
    "s.ticket_id",
    "t.priority",
    "t.channel",
    "t.value_at_risk",
    "c.kind",
    "t.customer_id",
    "team.calendar_id",
    *(f"s.{clock}_{part}" for clock in CLOCKS for part in ("state", "paused_seconds", "step")),
    *(f"s.{clock}_{part}" for clock in CLOCKS for part in _TIME_PARTS),
)


def _epoch_sql(column: str) -> str:
    """A time as seconds since 1970, read as a number: a batch's five thousand rows carry
    fifteen thousand times, which as datetimes cost more than all the rest."""
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    # Whole seconds, then the stored fraction (".123456"): julianday loses microseconds.
    return f"(CAST(strftime('%%s', {column}) AS REAL) + CAST(substr({column}, 20) AS REAL))"


def sla_recompute_open(*, batch_size: int = RECOMPUTE_BATCH) -> RecomputeReport:
    """Match every open ticket's policy again and recompute its clocks' due times.

    Keyset batches over the narrow clock table, each its own transaction that locks only
    its rows (never the ticket table): agents keep working while it runs, and a change
    they make to a ticket waits at most one batch. A batch reads its rows, computes the
    due times at once per calendar and writes them in one UPDATE … FROM a staging table.
    """
    book = PolicyBook.current()
    schedules = Schedules()
    started = time.perf_counter()
    after, tickets, batches, longest = -1, 0, 0, 0.0
    while True:
        batch_started = time.perf_counter()
        with transaction.atomic():
            count, after = _recompute_batch(
                after=after, limit=batch_size, book=book, schedules=schedules
            )
        longest = max(longest, time.perf_counter() - batch_started)
        tickets += count
        batches += 1
        if count < batch_size:
            break
    return RecomputeReport(
        tickets=tickets,
        batches=batches,
        seconds=time.perf_counter() - started,
        longest_batch_seconds=longest,
    )


def _recompute_batch(
    *, after: int, limit: int, book: PolicyBook, schedules: Schedules
) -> tuple[int, int]:
    selected = ", ".join(
        _epoch_sql(column) if column.endswith(_TIME_PARTS) else column for column in _BATCH_COLUMNS
    )
    statuses = ", ".join(f"'{status}'" for status in Ticket.ACTIVE_STATUSES)
    # The cursor bounds both sides of the join, so each is read from it on; the rows are
    # locked (PostgreSQL) so that no desk service moves a clock under the batch.
    lock = " FOR UPDATE OF s" if connection.features.has_select_for_update_of else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {selected} FROM desk_ticketsla AS s "
            "JOIN desk_ticket AS t ON t.id = s.ticket_id "
            "JOIN crm_customer AS c ON c.id = t.customer_id "
            "LEFT JOIN core_team AS team ON team.id = t.team_id "
            f"WHERE s.ticket_id > %s AND t.id > %s AND s.status IN ({statuses}) "
            f"ORDER BY s.ticket_id LIMIT %s{lock}",
            [after, after, limit],
        )
        rows = cursor.fetchall()
    if not rows:
        return 0, after
    names = [column.partition(".")[2] for column in _BATCH_COLUMNS]
    columns = dict(zip(names, zip(*rows, strict=True), strict=True))
    agreements = service_agreement_targets(set(columns["customer_id"]))
    matched: dict[tuple[Any, ...], SlaPolicy | None] = {}
    policies, targets, calendar_ids = [], [], []
    for priority, channel, value, kind, customer_id, team_calendar_id in zip(
        columns["priority"],
        columns["channel"],
        columns["value_at_risk"],
        columns["kind"],
        columns["customer_id"],
        columns["calendar_id"],
        strict=True,
    ):
        top = bool(value) and value >= book.top_value_at_risk
        key = (priority, channel, kind, top)
        if key not in matched:
            matched[key] = book.match(
                priority=priority, channel=channel, customer_kind=kind, value_at_risk=value
            )
        policy = matched[key]
        policies.append(policy.pk if policy else None)
        targets.append(ticket_targets(policy=policy, agreement=agreements.get(customer_id)))
        calendar_ids.append(_calendar_id(policy=policy, team_calendar_id=team_calendar_id))
    calendars = np.array(calendar_ids)
    states: dict[str, np.ndarray] = {}
    times: dict[str, ClockTimes] = {}
    steps: dict[str, np.ndarray] = {}
    for clock in CLOCKS:
        states[clock] = np.array(columns[f"{clock}_state"], dtype=object)
        steps[clock] = np.array(columns[f"{clock}_step"])
        live = (states[clock] == ClockState.RUNNING) | (states[clock] == ClockState.PAUSED)
        computed = clock_times(
            starts=_numbers(columns[f"{clock}_started_at"]),
            targets=np.array(
                [t.of(clock) if t.of(clock) is not None else np.nan for t in targets], dtype=float
            ),
            paused=np.array(columns[f"{clock}_paused_seconds"], dtype=float),
            calendar_ids=calendars,
            schedules=schedules,
        )
        # A stopped clock keeps the times it stopped against.
        times[clock] = ClockTimes(
            due=np.where(live, computed.due, _numbers(columns[f"{clock}_due_at"])),
            warn=np.where(live, computed.warn, _numbers(columns[f"{clock}_warn_at"])),
        )
    due_at, next_check = clock_summary(states=states, times=times, steps=steps)
    frame = pl.DataFrame(
        {
            "ticket_id": columns["ticket_id"],
            "policy_id": pl.Series(policies, dtype=pl.Int64),
            **{
                f"{clock}_{part}": _db_times(getattr(times[clock], part.removesuffix("_at")))
                for clock in CLOCKS
                for part in ("due_at", "warn_at")
            },
            "due_at": _db_times(due_at),
            "next_check_at": _db_times(next_check),
        }
    )
    staging_table_load(table=_STAGED, columns=_STAGED_COLUMNS, frame=frame)
    assignments = ", ".join(
        f"{name} = s.{name}" for name in ("policy_id", *_TIME_COLUMNS, "due_at", "next_check_at")
    )
    with connection.cursor() as cursor:
        # The batch's range bounds the table's side of the join (else read from its start).
        cursor.execute(
            f"UPDATE desk_ticketsla SET {assignments} FROM {_STAGED} AS s "
            "WHERE desk_ticketsla.ticket_id = s.ticket_id "
            "AND desk_ticketsla.ticket_id > %s AND desk_ticketsla.ticket_id <= %s",
            [after, columns["ticket_id"][-1]],
        )
    staging_table_drop(table=_STAGED)
    return len(rows), columns["ticket_id"][-1]


def _db_times(epochs: np.ndarray) -> pl.Series:
    """Times as the database's own text (see `staging_table_load`), null for NaN."""
    micros = pl.Series(epochs * 1e6).round(0).fill_nan(None).cast(pl.Int64)
    moments = pl.from_epoch(micros, time_unit="us")
    if connection.vendor == "postgresql":
        return moments.dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00:00")
    # As Django writes them on SQLite, where times compare as text.
    return pl.Series([None if m is None else str(m) for m in moments.to_list()], dtype=pl.String)


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
    _summarize(row)
    rows_update([row], fields=_WRITTEN)
    events_record(events=events)
    return CheckReport(warned=warned, escalated=escalated)


_CLOCK_WORDS = {
    "first_response": "first response",
    "next_response": "next response",
    "resolution": "resolution",
}


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
_PAUSABLE = (Ticket.Status.NEW, Ticket.Status.OPEN, Ticket.Status.PENDING)


def _policy_checked(policy: SlaPolicy) -> None:
    choices: dict[str, list[Any]] = {
        "priorities": Ticket.Priority.values,
        "channels": Ticket.Channel.values,
        "pause_statuses": list(_PAUSABLE),
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
