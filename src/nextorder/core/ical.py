"""Calendar exceptions read from an iCalendar (RFC 5545) file, with `icalendar`.

No Django here: the service writes what this returns. An all-day event closes each of its
days; a timed event gives each date it touches those hours, in the calendar's zone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar

Period = tuple[time, time]
DAY = timedelta(days=1)
# A file listing more dates than this is not a holiday list.
MAX_DAYS = 5000


class IcalError(ValueError):
    """A file that is not iCalendar, or whose events cannot be read as opening hours."""


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """A floating (zone-less) time is the calendar's own wall clock."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(zone).replace(tzinfo=None)


def _timed_periods(start: datetime, end: datetime) -> list[tuple[date, Period]]:
    """Each date an event touches, with the part of the event on it."""
    pieces = []
    day = start.date()
    while datetime.combine(day, time(0)) < end:
        begin = max(start, datetime.combine(day, time(0)))
        finish = min(end, datetime.combine(day + DAY, time(0)))
        if begin < finish:
            closes = time(0) if finish.date() > day else finish.time()
            pieces.append((day, (begin.time(), closes)))
        day += DAY
    return pieces


def ical_exceptions(
    data: bytes, zone: ZoneInfo
) -> tuple[dict[date, str], dict[date, tuple[str, list[Period]]], list[str]]:
    """Dates closed (with the event's name), dates with hours of their own, and the
    events skipped with the reason."""
    try:
        parsed = icalendar.Calendar.from_ical(data)
    except Exception as error:  # icalendar raises ValueError, KeyError, IndexError...
        raise IcalError(f"This is not an iCalendar file ({error}).") from error
    events = list(parsed.walk("VEVENT"))
    if not events:
        raise IcalError("The file has no events (VEVENT) to read.")
    closed: dict[date, str] = {}
    special: dict[date, tuple[str, list[Period]]] = {}
    skipped: list[str] = []
    for event in events:
        name = str(event.get("SUMMARY", ""))
        if "DTSTART" not in event:
            raise IcalError(f"The event {name or '(no summary)'!r} has no start (DTSTART).")
        if "RRULE" in event:
            skipped.append(f"{name or '(no summary)'}: recurring events are not expanded")
            continue
        try:
            start = event.decoded("DTSTART")
            end = event.decoded("DTEND") if "DTEND" in event else None
            if end is None and "DURATION" in event:
                end = start + event.decoded("DURATION")
        except Exception as error:
            raise IcalError(f"The event {name!r} has unreadable times ({error}).") from error
        if not isinstance(start, date) or not isinstance(end, date | None):
            raise IcalError(f"The event {name!r} has unreadable times ({start!r} to {end!r}).")
        if not isinstance(start, datetime):
            last = end - DAY if isinstance(end, date) and end > start else start
            if (last - start).days > MAX_DAYS:
                raise IcalError(f"The event {name!r} lasts more than {MAX_DAYS} days.")
            day = start
            while day <= last:
                closed[day] = name
                special.pop(day, None)
                day += DAY
            continue
        if not isinstance(end, datetime) or _local(end, zone) <= _local(start, zone):
            raise IcalError(f"The event {name!r} has no end after its start.")
        for day, period in _timed_periods(_local(start, zone), _local(end, zone)):
            if day in closed:
                continue
            names, periods = special.get(day, ("", []))
            special[day] = (names or name, [*periods, period])
        if len(closed) + len(special) > MAX_DAYS:
            raise IcalError(f"The file names more than {MAX_DAYS} dates.")
    return closed, special, skipped
