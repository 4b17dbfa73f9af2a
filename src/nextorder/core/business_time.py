"""Business time: how much of a stretch of time a team is open, and when a span of open
time starting at some instant runs out.

No Django here: a `Schedule` is plain data (built from the database by
`core.selectors.calendar_schedule`), so SLA clocks, coverage reports and benchmarks share
one exact kernel.

Opening hours are local wall-clock periods. Each date's periods become UTC instants with
zoneinfo, so a day is 23 or 25 hours long where the clocks change, and the open time is
exact across daylight-saving changes, midnight and holidays. Two wall-clock readings are
not one instant each, and the choice is deliberate:

- a reading that does not exist that day (inside a spring-forward gap, e.g. 02:30 in
  Berlin on the last Sunday of March) is the instant the clocks jump: a period that
  opens in the gap opens when the gap ends, one that lies wholly in it is empty;
- a reading that happens twice (inside a fall-back fold) opens at its first pass and
  closes at its second: a period touching the repeated hour is open through both passes.

Internally instants are integer microseconds since the epoch, so the scalar functions
are exact to the microsecond and the vectorised form agrees with them bit for bit.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

Period = tuple[time, time]
DayPeriods = tuple[Period, ...]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
US_PER_SECOND = 1_000_000
DAY = timedelta(days=1)
# The vectorised form doubles its horizon when a result falls past it, up to this far.
MAX_HORIZON_DAYS = 366 * 30


def _day_offset(at: time) -> timedelta:
    return timedelta(
        hours=at.hour, minutes=at.minute, seconds=at.second, microseconds=at.microsecond
    )


def _checked_periods(periods: object, where: str) -> DayPeriods:
    """Periods sorted by opening, each opening before it closes (closing at time(0) is
    midnight at the end of the day), none overlapping another; touching is allowed."""
    if not isinstance(periods, tuple | list):
        raise ValueError(f"{where}: periods must be a tuple of (opens, closes) pairs")
    checked: list[Period] = []
    for period in periods:
        if not (isinstance(period, tuple | list) and len(period) == 2):
            raise ValueError(f"{where}: {period!r} is not an (opens, closes) pair")
        opens, closes = period
        if not (isinstance(opens, time) and isinstance(closes, time)):
            raise ValueError(f"{where}: {period!r} must be two datetime.time values")
        if opens.tzinfo is not None or closes.tzinfo is not None:
            raise ValueError(f"{where}: opening hours are wall-clock times, without a time zone")
        end = DAY if closes == time(0) else _day_offset(closes)
        if _day_offset(opens) >= end:
            raise ValueError(
                f"{where}: a period must open before it closes, not {opens:%H:%M}-{closes:%H:%M}"
                " (a night shift is two periods: until midnight, 00:00, and from midnight)"
            )
        checked.append((opens, closes))
    checked.sort(key=lambda period: period[0])
    for (opens_a, closes_a), (opens_b, closes_b) in itertools.pairwise(checked):
        end_a = DAY if closes_a == time(0) else _day_offset(closes_a)
        if end_a > _day_offset(opens_b):
            raise ValueError(
                f"{where}: periods {opens_a:%H:%M}-{closes_a:%H:%M} and "
                f"{opens_b:%H:%M}-{closes_b:%H:%M} overlap"
            )
    return tuple(checked)


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Schedule:
    """When a team is open: weekly hours in an IANA time zone, holidays (closed all day)
    and special dates with hours of their own (an empty tuple closes the day). A special
    date wins over a holiday on the same date: opening on a holiday is an exception."""

    time_zone: str
    weekly: tuple[DayPeriods, ...]
    closed_dates: frozenset[date] = frozenset()
    special_dates: Mapping[date, DayPeriods] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
            raise ValueError(f"{self.time_zone!r} is not an IANA time zone") from error
        if len(self.weekly) != 7:
            raise ValueError(f"weekly hours need 7 days, Monday to Sunday, not {len(self.weekly)}")
        weekly = tuple(
            _checked_periods(day, WEEKDAYS[index]) for index, day in enumerate(self.weekly)
        )
        special = MappingProxyType(
            {
                day: _checked_periods(periods, str(day))
                for day, periods in self.special_dates.items()
            }
        )
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "closed_dates", frozenset(self.closed_dates))
        object.__setattr__(self, "special_dates", special)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def periods_on(self, day: date) -> DayPeriods:
        if day in self.special_dates:
            return self.special_dates[day]
        if day in self.closed_dates:
            return ()
        return self.weekly[day.weekday()]

    @property
    def last_open_date(self) -> date | None:
        """The last date with any opening, or None when weekly hours keep it open for
        ever; date.min when it never opens at all."""
        if any(self.weekly):
            return None
        return max(
            (day for day, periods in self.special_dates.items() if periods), default=date.min
        )


def _to_us(moment: datetime) -> int:
    return (moment - EPOCH) // MICROSECOND


def _from_us(microseconds: int, zone: datetime) -> datetime:
    return (EPOCH + timedelta(microseconds=microseconds)).astimezone(zone.tzinfo)


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a time zone)")


def _gap_end_us(zone: ZoneInfo, before_us: int, after_us: int) -> int:
    """The instant the clocks jump, between two instants on either side of it."""
    offset_after = (EPOCH + timedelta(microseconds=after_us)).astimezone(zone).utcoffset()
    low, high = before_us // US_PER_SECOND, -(-after_us // US_PER_SECOND)
    while high - low > 1:
        middle = (low + high) // 2
        if (EPOCH + timedelta(seconds=middle)).astimezone(zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return high * US_PER_SECOND


def _wall_to_us(day: date, at: time, zone: ZoneInfo, *, closing: bool) -> int:
    """A wall-clock reading on `day` as an instant (see the module docstring for gaps
    and folds)."""
    naive = datetime.combine(day, at)
    first, second = naive.replace(tzinfo=zone), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return _to_us(first)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return _to_us(second if closing else first)
    # In a gap, fold=1 reads the wall clock with the offset after the jump: an instant
    # before the gap; fold=0 with the offset before it: an instant after the gap.
    return _gap_end_us(zone, _to_us(second), _to_us(first))


def _day_intervals(schedule: Schedule, zone: ZoneInfo, day: date) -> list[tuple[int, int]]:
    intervals = []
    for opens, closes in schedule.periods_on(day):
        begin = _wall_to_us(day, opens, zone, closing=False)
        end_day = day + DAY if closes == time(0) else day
        end = _wall_to_us(end_day, closes, zone, closing=True)
        if begin < end:
            intervals.append((begin, end))
    return intervals


def _local_date(microseconds: int, zone: ZoneInfo) -> date:
    return (EPOCH + timedelta(microseconds=microseconds)).astimezone(zone).date()


def _intervals_from(schedule: Schedule, first_day: date) -> Iterator[tuple[int, int]]:
    """Open intervals from local `first_day` on, for as long as the schedule ever opens
    again (for ever with weekly hours). Overlapping ones (a fold's second pass) are merged;
    touching ones are not, or a calendar open around the clock would never yield."""
    zone, last = schedule.zone, schedule.last_open_date
    pending: tuple[int, int] | None = None
    day = first_day
    while last is None or day <= last:
        for begin, end in _day_intervals(schedule, zone, day):
            if pending is not None and begin < pending[1]:
                pending = (pending[0], max(pending[1], end))
                continue
            if pending is not None:
                yield pending
            pending = (begin, end)
        day += DAY
    if pending is not None:
        yield pending


def _intervals_between(schedule: Schedule, start_us: int, end_us: int) -> list[tuple[int, int]]:
    """Merged open intervals clipped to [start, end)."""
    zone = schedule.zone
    clipped: list[tuple[int, int]] = []
    for begin, end in _intervals_from(schedule, _local_date(start_us, zone) - DAY):
        if begin >= end_us:
            break
        if end <= start_us:
            continue
        begin, end = max(begin, start_us), min(end, end_us)
        if clipped and begin <= clipped[-1][1]:
            clipped[-1] = (clipped[-1][0], max(clipped[-1][1], end))
        else:
            clipped.append((begin, end))
    return clipped


def business_time_between(start: datetime, end: datetime, calendar: Schedule) -> timedelta:
    """The open time from `start` to `end`; negative when `end` comes first."""
    _aware(start, "start")
    _aware(end, "end")
    if end < start:
        return -business_time_between(end, start, calendar)
    intervals = _intervals_between(calendar, _to_us(start), _to_us(end))
    return timedelta(microseconds=sum(end_us - begin_us for begin_us, end_us in intervals))


def _never_open(calendar: Schedule, after: datetime) -> ValueError:
    return ValueError(
        f"the calendar ({calendar.time_zone}) is never open after {after.isoformat()}:"
        " no weekly hours and no special dates with hours later on"
    )


def add_business_time(start: datetime, duration: timedelta, calendar: Schedule) -> datetime:
    """The instant at which `duration` of open time from `start` has passed.

    The result is always in open hours: a positive duration that runs out exactly at a
    closing returns that closing (due by the end of the day, not the next morning); a
    zero duration from a closed instant returns the next opening. Returned in `start`'s
    time zone.
    """
    _aware(start, "start")
    if duration < timedelta(0):
        raise ValueError(f"a business-time duration cannot be negative ({duration})")
    start_us, remaining = _to_us(start), duration // MICROSECOND
    zone = calendar.zone
    for begin, end in _intervals_from(calendar, _local_date(start_us, zone) - DAY):
        if end <= start_us:
            continue
        begin = max(begin, start_us)
        if remaining == 0:
            return _from_us(begin, start)
        if remaining <= end - begin:
            return _from_us(begin + remaining, start)
        remaining -= end - begin
    raise _never_open(calendar, start)


FloatArray = npt.NDArray[np.float64]


def _interval_arrays(
    calendar: Schedule, start_us: int, end_us: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    intervals = _intervals_between(calendar, start_us, end_us)
    if not intervals:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    both = np.array(intervals, dtype=np.int64)
    return both[:, 0], both[:, 1]


def open_intervals(
    calendar: Schedule, start: datetime, end: datetime
) -> tuple[FloatArray, FloatArray]:
    """The open intervals between `start` and `end` (clipped to them), sorted and merged,
    as two arrays of epoch seconds."""
    _aware(start, "start")
    _aware(end, "end")
    opens, closes = _interval_arrays(calendar, _to_us(start), _to_us(end))
    return opens / US_PER_SECOND, closes / US_PER_SECOND


def add_business_seconds(
    starts: FloatArray,
    seconds: FloatArray,
    calendar: Schedule,
    *,
    horizon_days: int = 400,
) -> FloatArray:
    """`add_business_time` for many starts at once, in epoch seconds (rounded to the
    microsecond, so it agrees with the scalar form exactly).

    The open intervals from the earliest start to `horizon_days` past the latest become
    sorted arrays with the open seconds before each; every start and due time is then a
    binary search (`np.searchsorted`), so a million due times cost two searches over a
    few hundred intervals. The horizon doubles while a result falls past it, up to
    thirty years; past that (or on a calendar that never opens) a ValueError.
    """
    starts_us = np.round(np.asarray(starts, dtype=np.float64) * US_PER_SECOND)
    durations_us = np.round(np.asarray(seconds, dtype=np.float64) * US_PER_SECOND)
    starts_us, durations_us = np.broadcast_arrays(starts_us, durations_us)
    if starts_us.size == 0:
        return np.empty(starts_us.shape, dtype=np.float64)
    if not (np.isfinite(starts_us).all() and np.isfinite(durations_us).all()):
        raise ValueError("starts and seconds must be finite numbers")
    if (durations_us < 0).any():
        raise ValueError("a business-time duration cannot be negative")
    starts_i, durations_i = starts_us.astype(np.int64), durations_us.astype(np.int64)
    earliest, latest = int(starts_i.min()), int(starts_i.max())
    while True:
        window_end = latest + horizon_days * 86_400 * US_PER_SECOND
        result = _add_within(calendar, starts_i, durations_i, earliest, window_end)
        if result is not None:
            return result / US_PER_SECOND
        last = calendar.last_open_date
        if last is not None and _local_date(window_end, calendar.zone) > last:
            raise _never_open(calendar, EPOCH + timedelta(microseconds=earliest))
        if horizon_days >= MAX_HORIZON_DAYS:
            raise ValueError(
                f"a due time falls more than {horizon_days} days after its start:"
                " past the horizon of business-time arithmetic"
            )
        horizon_days = min(horizon_days * 2, MAX_HORIZON_DAYS)


def _add_within(
    calendar: Schedule,
    starts: npt.NDArray[np.int64],
    durations: npt.NDArray[np.int64],
    window_start: int,
    window_end: int,
) -> npt.NDArray[np.int64] | None:
    """The due times in microseconds, or None when one falls past the window."""
    opens, closes = _interval_arrays(calendar, window_start, window_end)
    if opens.size == 0:
        return None
    # open_before[i]: open microseconds in the window before interval i opens.
    open_before = np.concatenate(([0], np.cumsum(closes - opens)))
    first = np.searchsorted(closes, starts, side="right")
    if (first >= opens.size).any():
        return None
    opens_first = opens[first]
    target = open_before[first] + np.maximum(starts - opens_first, 0) + durations
    # Reaching the very end of the window may mean reaching where it was cut: look further.
    if (target >= open_before[-1]).any():
        return None
    # The interval in which the target's open time runs out: the first whose end
    # reaches it, so a span ending exactly at a closing returns that closing.
    last = np.searchsorted(open_before[1:], target, side="left")
    due = opens[last] + (target - open_before[last])
    return np.where(durations == 0, np.maximum(starts, opens_first), due)
