"""Coverage against sales: the hours of the coming weeks in which customers can buy but
cannot get service (and the reverse), weighted by when orders and tickets arrive.

Open times are exact intervals from the business-time kernel (union of the sales teams'
calendars, union of the service teams'); a gap is sales-open minus service-open, split at
midnight on the sales line's clock so that recurring ones group by weekday ("Saturdays
09:00-17:00"). Each
gap is weighted by the share of a week's orders, and of each channel's tickets, that
arrived in its weekday-hours over the last year.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from django.core.cache import cache
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay, ExtractMinute, ExtractSecond
from django.utils import timezone

from nextorder.core.business_time import WEEKDAYS, Period, Schedule, open_intervals
from nextorder.core.models import BusinessCalendar, CalendarException, Team
from nextorder.core.selectors import calendar_schedule
from nextorder.crm.models import Order
from nextorder.desk.models import Ticket

COVERAGE_WEEKS = 4
HISTORY = timedelta(days=365)
CACHE_SECONDS = 3600
ORDERS = "orders"
SALES_ONLY = "sales_only"
SERVICE_ONLY = "service_only"

Intervals = list[tuple[float, float]]
Shares = npt.NDArray[np.float64]  # 7 x 24: a week's arrivals by ISO weekday - 1 and hour


@dataclass(frozen=True)
class CoverageGap:
    """One stretch of a weekday that is uncovered, on each of `dates`."""

    kind: str
    weekday: int
    starts: time
    ends: time  # time(0): until midnight
    dates: tuple[date, ...]
    hours: float  # of one occurrence
    # The share of a week's orders ("orders") and of each channel's tickets arriving in it.
    shares: dict[str, float]

    @property
    def label(self) -> str:
        hours = f"{self.starts:%H:%M}-{'24:00' if self.ends == time(0) else f'{self.ends:%H:%M}'}"
        if len(self.dates) > 1:
            return f"{WEEKDAYS[self.weekday]}s {hours}"
        return f"{WEEKDAYS[self.weekday]} {self.dates[0]:%-d %b} {hours}"

    @property
    def weight(self) -> float:
        """What the list is ordered by: the orders at stake, or the tickets."""
        return self.shares.get(ORDERS, 0.0) or max(self.shares.values(), default=0.0)


@dataclass(frozen=True)
class CoverageReport:
    starts: datetime
    weeks: int
    sales_calendars: list[str]
    service_calendars: list[str]
    channels: list[tuple[str, str]]  # (ticket channel, label) with tickets in the history
    sales_only: list[CoverageGap] = field(default_factory=list)
    service_only: list[CoverageGap] = field(default_factory=list)
    # Hours over the whole window, and the share of the window's expected arrivals.
    sales_only_hours: float = 0.0
    service_only_hours: float = 0.0
    sales_only_shares: dict[str, float] = field(default_factory=dict)
    service_only_shares: dict[str, float] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.sales_calendars and self.service_calendars)

    def _row(self, shares: dict[str, float]) -> list[float | None]:
        return [shares.get(series) for series in (ORDERS, *(c for c, _ in self.channels))]

    @property
    def sales_only_rows(self) -> list[tuple[CoverageGap, list[float | None]]]:
        """Each gap with its shares in column order: orders, then each channel."""
        return [(gap, self._row(gap.shares)) for gap in self.sales_only]

    @property
    def service_only_rows(self) -> list[tuple[CoverageGap, list[float | None]]]:
        return [(gap, self._row(gap.shares)) for gap in self.service_only]

    @property
    def sales_only_totals(self) -> list[float | None]:
        return self._row(self.sales_only_shares)

    @property
    def service_only_totals(self) -> list[float | None]:
        return self._row(self.service_only_shares)


def _merge(intervals: Iterable[tuple[float, float]]) -> Intervals:
    merged: Intervals = []
    for begin, end in sorted(intervals):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _minus(these: Intervals, those: Intervals) -> Intervals:
    """The parts of `these` outside `those` (both merged and sorted)."""
    left: Intervals = []
    index = 0
    for begin, end in these:
        while index < len(those) and those[index][1] <= begin:
            index += 1
        cursor, probe = begin, index
        while probe < len(those) and those[probe][0] < end:
            if those[probe][0] > cursor:
                left.append((cursor, those[probe][0]))
            cursor = max(cursor, those[probe][1])
            probe += 1
        if cursor < end:
            left.append((cursor, end))
    return left


def _union_open(schedules: Sequence[Schedule], starts: datetime, ends: datetime) -> Intervals:
    pieces: list[tuple[float, float]] = []
    for schedule in schedules:
        opens, closes = open_intervals(schedule, starts, ends)
        pieces.extend(zip(opens.tolist(), closes.tolist(), strict=True))
    return _merge(pieces)


def _local_pieces(
    intervals: Intervals, zone: ZoneInfo
) -> Iterable[tuple[date, datetime, datetime]]:
    """Each interval cut at local midnights, as (local date, local start, local end)."""
    for begin, end in intervals:
        cursor = datetime.fromtimestamp(begin, zone)
        finish = datetime.fromtimestamp(end, zone)
        while cursor < finish:
            midnight = datetime.combine(cursor.date() + timedelta(days=1), time(0), zone)
            piece_end = min(finish, midnight)
            yield cursor.date(), cursor, piece_end
            cursor = piece_end


def _cell_hours(starts: datetime, ends: datetime) -> Iterable[tuple[int, int, float]]:
    """(weekday, hour, hours of it) for each local clock hour a stretch covers."""
    cursor = starts
    while cursor < ends:
        next_hour = (
            cursor.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        ).astimezone(cursor.tzinfo)
        piece_end = min(ends, next_hour)
        yield cursor.weekday(), cursor.hour, (piece_end - cursor).total_seconds() / 3600
        cursor = piece_end


def _gaps(
    kind: str, intervals: Intervals, zone: ZoneInfo, shares: dict[str, Shares]
) -> tuple[list[CoverageGap], float, dict[str, float]]:
    occurrences: dict[tuple[int, time, time], list[date]] = defaultdict(list)
    cells: dict[tuple[int, time, time], list[tuple[int, int, float]]] = {}
    total_hours = 0.0
    total_shares: dict[str, float] = dict.fromkeys(shares, 0.0)
    for day, starts, ends in _local_pieces(intervals, zone):
        ends_at = time(0) if ends.date() > day else ends.time().replace(tzinfo=None)
        key = (day.weekday(), starts.time().replace(tzinfo=None), ends_at)
        occurrences[key].append(day)
        hours = list(_cell_hours(starts, ends))
        cells.setdefault(key, hours)
        for weekday, hour, part in hours:
            total_hours += part
            for series, share in shares.items():
                total_shares[series] += share[weekday, hour] * part
    gaps = [
        CoverageGap(
            kind=kind,
            weekday=weekday,
            starts=starts,
            ends=ends,
            dates=tuple(days),
            hours=sum(part for _, _, part in cells[(weekday, starts, ends)]),
            shares={
                series: float(
                    sum(share[w, h] * part for w, h, part in cells[(weekday, starts, ends)])
                )
                for series, share in shares.items()
            },
        )
        for (weekday, starts, ends), days in occurrences.items()
    ]
    gaps.sort(key=lambda gap: (-gap.weight * len(gap.dates), gap.dates[0]))
    return gaps, total_hours, total_shares


def _midnight(stamp: str, zone: ZoneInfo, prefix: str) -> tuple[dict[str, Any], Q]:
    """Annotations and the condition for "exactly midnight on `zone`'s clock"."""
    parts = {"hour": ExtractHour, "minute": ExtractMinute, "second": ExtractSecond}
    annotations = {f"{prefix}_{name}": kind(stamp, tzinfo=zone) for name, kind in parts.items()}
    return annotations, Q(**{name: 0 for name in annotations})


def _arrival_counts(
    rows: QuerySet[Order] | QuerySet[Ticket],
    stamp: str,
    zone: ZoneInfo,
    since: datetime,
    *,
    dates_only: bool,
) -> tuple[Shares, npt.NDArray[np.float64]]:
    """Arrivals by weekday and hour on `zone`'s clock and, with `dates_only`, those that
    carry a date only, by weekday. A date-only import stores midnight in the zone it was
    read in, which is UTC or the site's: a row exactly at either midnight is counted on
    the weekday of that date, not at 19:00 the evening before in New York."""
    recent = rows.filter(**{f"{stamp}__gte": since})
    if not recent.exists():
        recent = rows
    import_zones = {ZoneInfo("UTC"), ZoneInfo(timezone.get_current_timezone_name())}
    dated = np.zeros(7)
    timed_rows = recent
    if dates_only:
        for index, import_zone in enumerate(sorted(import_zones, key=str)):
            annotations, at_midnight = _midnight(stamp, import_zone, f"z{index}")
            timed_rows = timed_rows.annotate(**annotations).exclude(at_midnight)
            midnights = (
                recent.annotate(**annotations)
                .filter(at_midnight)
                .annotate(weekday=ExtractIsoWeekDay(stamp, tzinfo=import_zone))
                .values("weekday")
                .annotate(count=Count("pk"))
                .order_by()
            )
            for row in midnights:
                dated[row["weekday"] - 1] += row["count"]
    counted = (
        timed_rows.annotate(
            weekday=ExtractIsoWeekDay(stamp, tzinfo=zone), hour=ExtractHour(stamp, tzinfo=zone)
        )
        .values("weekday", "hour")
        .annotate(count=Count("pk"))
        .order_by()
    )
    timed = np.zeros((7, 24))
    for row in counted:
        timed[row["weekday"] - 1, row["hour"]] += row["count"]
    return timed, dated


def _shares(timed: Shares, dated: npt.NDArray[np.float64], open_hours: Shares) -> Shares | None:
    """A week's arrivals as shares of 1; those with a date only are spread over the hours
    the sales line is open that weekday (over the whole day if it is closed)."""
    counts = timed.copy()
    for weekday in range(7):
        if not dated[weekday]:
            continue
        spread = open_hours[weekday] if open_hours[weekday].sum() else np.ones(24)
        counts[weekday] += dated[weekday] * spread / spread.sum()
    total = counts.sum()
    return counts / total if total else None


def _open_cells(intervals: Intervals, zone: ZoneInfo) -> Shares:
    cells = np.zeros((7, 24))
    for _day, starts, ends in _local_pieces(intervals, zone):
        for weekday, hour, part in _cell_hours(starts, ends):
            cells[weekday, hour] += part
    return cells


def _calendars(kind: str) -> list[BusinessCalendar]:
    ids = Team.objects.filter(kind=kind, calendar__isnull=False).values("calendar")
    return list(
        BusinessCalendar.objects.filter(pk__in=ids).prefetch_related("periods", "exceptions")
    )


def coverage_report(
    *,
    weeks: int = COVERAGE_WEEKS,
    now: datetime | None = None,
    replace: dict[int, Schedule] | None = None,
) -> CoverageReport:
    """Uncovered hours from the start of the current hour over `weeks` weeks, on the clock
    of the (first) sales line, where customers buy; `replace` puts other schedules in
    place of some calendars (what a calendar was before a save)."""
    sales, service = _calendars(Team.Kind.SALES), _calendars(Team.Kind.SERVICE)
    zone = ZoneInfo(sales[0].time_zone if sales else timezone.get_current_timezone_name())
    now = (now or timezone.now()).astimezone(zone)
    starts = now.replace(minute=0, second=0, microsecond=0)
    ends = starts + timedelta(weeks=weeks)
    years = range(starts.year, ends.year + 1)
    replace = replace or {}

    def schedules(calendars: list[BusinessCalendar]) -> list[Schedule]:
        return [
            replace.get(calendar.pk) or calendar_schedule(calendar=calendar, years=years)
            for calendar in calendars
        ]

    channel_labels = dict(Ticket.Channel.choices)
    report = CoverageReport(
        starts=starts,
        weeks=weeks,
        sales_calendars=[calendar.name for calendar in sales],
        service_calendars=[calendar.name for calendar in service],
        channels=[],
    )
    if not report.configured:
        return report
    sales_open = _union_open(schedules(sales), starts, ends)
    service_open = _union_open(schedules(service), starts, ends)
    since = now - HISTORY
    open_cells = _open_cells(sales_open, zone)
    shares: dict[str, Shares] = {}
    orders = _arrival_counts(Order.objects.all(), "placed_at", zone, since, dates_only=True)
    order_shares = _shares(*orders, open_cells)
    if order_shares is not None:
        shares[ORDERS] = order_shares
    channels = []
    for channel in Ticket.objects.order_by().values_list("channel", flat=True).distinct():
        tickets = Ticket.objects.filter(channel=channel)
        arrivals = _arrival_counts(tickets, "created_at", zone, since, dates_only=False)
        channel_shares = _shares(*arrivals, open_cells)
        if channel_shares is not None:
            shares[channel] = channel_shares
            channels.append((channel, channel_labels.get(channel, channel)))
    sales_only, sales_hours, sales_shares = _gaps(
        SALES_ONLY, _minus(sales_open, service_open), zone, shares
    )
    service_only, service_hours, service_shares = _gaps(
        SERVICE_ONLY, _minus(service_open, sales_open), zone, shares
    )
    return dataclasses.replace(
        report,
        channels=sorted(channels),
        sales_only=sales_only,
        service_only=service_only,
        sales_only_hours=sales_hours,
        service_only_hours=service_hours,
        sales_only_shares={series: float(total) / weeks for series, total in sales_shares.items()},
        service_only_shares={
            series: float(total) / weeks for series, total in service_shares.items()
        },
    )


def coverage_summary(*, weeks: int = COVERAGE_WEEKS) -> CoverageReport:
    """`coverage_report`, cached until a calendar, an exception or a team's calendar
    changes (or an hour passes), since the queue's home page shows it."""
    latest = [
        BusinessCalendar.objects.aggregate(at=Max("updated_at"), n=Count("pk")),
        Team.objects.aggregate(at=Max("updated_at"), n=Count("pk")),
        CalendarException.objects.aggregate(n=Count("pk"), at=Max("date")),
    ]
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    key = hashlib.sha256(repr((weeks, hour, latest)).encode()).hexdigest()
    report = cache.get(f"coverage:{key}")
    if report is None:
        report = coverage_report(weeks=weeks)
        cache.set(f"coverage:{key}", report, CACHE_SECONDS)
    return report


def coverage_gap_warning(
    *, calendar: BusinessCalendar, weekly_before: Sequence[Sequence[Period]]
) -> str:
    """What to tell whoever just saved `calendar`'s hours, if the change leaves customers
    who can buy without service for longer than before; empty otherwise."""
    if not calendar.teams.exists():
        return ""
    now_schedule = calendar_schedule(calendar=calendar)
    before = dataclasses.replace(now_schedule, weekly=tuple(tuple(day) for day in weekly_before))
    earlier = coverage_report(replace={calendar.pk: before})
    current = coverage_report()
    widened = current.sales_only_hours - earlier.sales_only_hours
    if widened <= 1e-9:
        return ""
    message = (
        f"With these hours, customers can buy but cannot get service for {widened:.1f} more"
        f" hours over the coming {current.weeks} weeks"
    )
    if current.sales_only:
        worst = current.sales_only[0]
        orders = worst.shares.get(ORDERS)
        arrive = f": {orders * 100:.0f} % of orders arrive then" if orders is not None else ""
        message += f" (largest gap: {worst.label}{arrive})"
    return message + "."
