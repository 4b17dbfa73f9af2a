"""Reads of `core` state that more than one app needs."""

from __future__ import annotations

from datetime import date, time

import holidays
from django.utils import timezone

from nextorder.core.business_time import Schedule, periods_text
from nextorder.core.models import BusinessCalendar, OpeningPeriod


def _time(text: str) -> time:
    return time.fromisoformat(text)


def calendar_schedule(*, calendar: BusinessCalendar, years: range | None = None) -> Schedule:
    """The calendar as the business-time kernel reads it: its weekly hours, the public
    holidays of its country in `years` (by default last year to three years on), and its
    exceptions, which win over a holiday on the same date."""
    if years is None:
        this_year = timezone.now().year
        years = range(this_year - 1, this_year + 4)
    weekly = calendar_weekly(calendar=calendar)
    closed: frozenset[date] = frozenset()
    if calendar.holiday_country:
        closed = frozenset(
            holidays.country_holidays(
                calendar.holiday_country,
                subdiv=calendar.holiday_subdivision or None,
                years=list(years),
            )
        )
    special = {
        exception.date: tuple((_time(opens), _time(closes)) for opens, closes in exception.periods)
        for exception in calendar.exceptions.all()
    }
    return Schedule(
        time_zone=calendar.time_zone,
        weekly=tuple(tuple(day) for day in weekly),
        closed_dates=closed,
        special_dates=special,
    )


def calendar_weekly(*, calendar: BusinessCalendar) -> list[list[tuple[time, time]]]:
    """The periods of each weekday, Monday first, in opening order."""
    weekly: list[list[tuple[time, time]]] = [[] for _ in range(7)]
    for period in sorted(calendar.periods.all(), key=lambda p: (p.weekday, p.opens)):
        weekly[period.weekday].append((period.opens, period.closes))
    return weekly


def calendar_hours_text(*, calendar: BusinessCalendar) -> list[tuple[str, str]]:
    """Each weekday's name with its hours as text."""
    return [
        (label, periods_text(day))
        for (_, label), day in zip(
            OpeningPeriod.Weekday.choices, calendar_weekly(calendar=calendar), strict=True
        )
    ]
