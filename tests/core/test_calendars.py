"""Business calendars in the database: the services that write them (with events), the
iCalendar import, and the selector that turns them into a Schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError

from nextorder.core.business_time import add_business_time
from nextorder.core.models import BusinessCalendar, Event, Team, Verb
from nextorder.core.selectors import calendar_schedule
from nextorder.core.services import (
    calendar_create,
    calendar_exception_delete,
    calendar_exception_set,
    calendar_import_ical,
    calendar_update,
    team_calendar_set,
    team_ensure,
)

pytestmark = pytest.mark.django_db

SPLIT = ((time(9), time(12)), (time(13), time(17)))
WEEKDAYS_SPLIT = (SPLIT,) * 5 + ((), ())


def service_calendar(**kwargs):
    fields = {"name": "Service", "time_zone": "Europe/Berlin", "weekly": WEEKDAYS_SPLIT} | kwargs
    return calendar_create(**fields)


def test_create_and_update_record_the_hours(manager):
    calendar = service_calendar(actor=manager)
    assert calendar.periods.count() == 10
    saturday = ((time(10), time(14)),)
    calendar_update(calendar=calendar, weekly=(*WEEKDAYS_SPLIT[:5], saturday, ()), actor=manager)
    calendar_update(calendar=calendar, weekly=(*WEEKDAYS_SPLIT[:5], saturday, ()), actor=manager)
    events = Event.objects.filter(verb__startswith="calendar.").order_by("id")
    assert [e.verb for e in events] == [Verb.CALENDAR_CREATED, Verb.CALENDAR_CHANGED]
    assert events[1].before["hours"][5] == []
    assert events[1].after["hours"][5] == ["10:00-14:00"]
    assert events[1].actor == manager


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time_zone": "Europe/Atlantis"}, "IANA"),
        ({"weekly": (((time(9), time(13)), (time(12), time(17))),) + ((),) * 6}, "overlap"),
        ({"holiday_country": "XX"}, "country code"),
        ({"holiday_country": "DE", "holiday_subdivision": "ZZ"}, "subdivision"),
    ],
)
def test_bad_calendars_are_refused_and_nothing_is_written(fields, message):
    with pytest.raises(ValidationError, match=message):
        service_calendar(**fields)
    assert not BusinessCalendar.objects.exists()


def test_schedule_has_public_holidays_exceptions_and_hours():
    calendar = service_calendar(holiday_country="DE", holiday_subdivision="BY")
    calendar_exception_set(calendar=calendar, day=date(2026, 12, 24), name="Christmas Eve")
    calendar_exception_set(
        calendar=calendar,
        day=date(2026, 12, 26),  # a holiday (Second Christmas Day) opened for returns
        name="Returns day",
        periods=[(time(10), time(12))],
    )
    schedule = calendar_schedule(calendar=calendar, years=range(2026, 2027))
    assert schedule.weekly[0] == SPLIT
    assert date(2026, 1, 6) in schedule.closed_dates  # Epiphany: Bavaria, not Berlin
    assert schedule.periods_on(date(2026, 1, 6)) == ()
    assert schedule.periods_on(date(2026, 12, 24)) == ()
    assert schedule.periods_on(date(2026, 12, 26)) == ((time(10), time(12)),)
    # Wednesday 23 December 16:00 + 2 h: one hour that day, 24-25 closed, the 26th opens at 10.
    due = add_business_time(
        datetime(2026, 12, 23, 15, tzinfo=UTC), 2 * timedelta(hours=1), schedule
    )
    assert due == datetime(2026, 12, 26, 10, tzinfo=UTC)  # 11:00 in Berlin


def test_removing_an_exception_restores_the_week():
    calendar = service_calendar()
    exception = calendar_exception_set(calendar=calendar, day=date(2026, 6, 1), name="Stocktake")
    calendar_exception_delete(exception=exception)
    assert calendar_schedule(calendar=calendar).periods_on(date(2026, 6, 1)) == SPLIT
    assert Event.objects.filter(verb=Verb.CALENDAR_EXCEPTION_SET).count() == 2


def test_team_kind_and_calendar(manager):
    calendar = service_calendar()
    team = team_ensure(name="Sales line")
    team_calendar_set(team=team, calendar=calendar, kind=Team.Kind.SALES, actor=manager)
    team.refresh_from_db()
    assert (team.kind, team.calendar) == (Team.Kind.SALES, calendar)
    event = Event.objects.get(verb=Verb.TEAM_CALENDAR_SET)
    assert event.after == {"calendar": "Service", "kind": "sales"}
    with pytest.raises(ValidationError, match="one of"):
        team_calendar_set(team=team, calendar=None, kind="marketing")


ICAL = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//NextOrder tests//EN
BEGIN:VEVENT
UID:1@test
SUMMARY:Company outing
DTSTART;VALUE=DATE:20260612
DTEND;VALUE=DATE:20260614
END:VEVENT
BEGIN:VEVENT
UID:2@test
SUMMARY:Short day
DTSTART;TZID=Europe/Berlin:20260616T090000
DTEND;TZID=Europe/Berlin:20260616T120000
END:VEVENT
BEGIN:VEVENT
UID:3@test
SUMMARY:Evening opening
DTSTART:20260616T160000Z
DTEND:20260616T190000Z
END:VEVENT
BEGIN:VEVENT
UID:4@test
SUMMARY:Every year
DTSTART;VALUE=DATE:20260101
RRULE:FREQ=YEARLY
END:VEVENT
END:VCALENDAR
"""


def test_ical_import_closes_all_day_events_and_gives_timed_ones_hours():
    calendar = service_calendar()
    result = calendar_import_ical(calendar=calendar, file=ICAL)
    assert (result.closed, result.special, len(result.skipped)) == (2, 1, 1)
    schedule = calendar_schedule(calendar=calendar, years=range(2026, 2027))
    assert schedule.periods_on(date(2026, 6, 12)) == ()
    assert schedule.periods_on(date(2026, 6, 13)) == ()
    assert schedule.periods_on(date(2026, 6, 14)) == ()  # a Sunday anyway: the week's hours
    assert schedule.periods_on(date(2026, 6, 15)) == SPLIT  # DTEND is exclusive
    # 16:00-19:00 UTC is 18:00-21:00 in Berlin (summer time).
    assert schedule.periods_on(date(2026, 6, 16)) == ((time(9), time(12)), (time(18), time(21)))
    assert Event.objects.get(verb=Verb.CALENDAR_IMPORTED).after["closed"] == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"this is not a calendar", "not an iCalendar"),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "no events"),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "no start",
        ),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nDTSTART:20260101T100000Z\r\n"
            b"DTEND:20260101T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "no end after its start",
        ),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nDTSTART:2026-01-01\r\n"
            b"END:VEVENT\r\nEND:VCALENDAR\r\n",
            "unreadable times",
        ),
        (
            b"BEGIN:VCALENDAR\r\n"
            b"BEGIN:VEVENT\r\nDTSTART:20260101T100000Z\r\nDTEND:20260101T120000Z\r\nEND:VEVENT\r\n"
            b"BEGIN:VEVENT\r\nDTSTART:20260101T110000Z\r\nDTEND:20260101T130000Z\r\nEND:VEVENT\r\n"
            b"END:VCALENDAR\r\n",
            "overlap",
        ),
    ],
)
def test_bad_ical_files_are_refused_clearly(data, message):
    calendar = service_calendar()
    with pytest.raises(ValidationError, match=message):
        calendar_import_ical(calendar=calendar, file=data)
    assert not calendar.exceptions.exists()
