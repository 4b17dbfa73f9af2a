"""Reads of `core` state that more than one app needs."""

from __future__ import annotations

from datetime import date, time

import holidays
from django.utils import timezone

from nextorder.core.business_time import Schedule
from nextorder.core.models import BusinessCalendar


def _time(text: str) -> time:
    return time.fromisoformat(text)


def calendar_schedule(*, calendar: BusinessCalendar, years: range | None = None) -> Schedule:
    """The calendar as the business-time kernel reads it: its weekly hours, the public
    holidays of its country in `years` (by default last year to three years on), and its
    exceptions, which win over a holiday on the same date."""
    if years is None:
        this_year = timezone.now().year
        years = range(this_year - 1, this_year + 4)
    weekly: list[list[tuple[time, time]]] = [[] for _ in range(7)]
    for period in calendar.periods.all():
        weekly[period.weekday].append((period.opens, period.closes))
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
