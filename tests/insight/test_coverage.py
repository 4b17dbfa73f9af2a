"""Coverage against sales: the gaps between a sales calendar and a service calendar over
four weeks from Monday 1 June 2026, weighted by arrivals counted by hand. The site's
clock is UTC; gaps and arrivals are read on the sales line's (Berlin)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from nextorder.core.models import Team
from nextorder.core.selectors import calendar_weekly
from nextorder.core.services import calendar_create, calendar_update, team_calendar_set, team_ensure
from nextorder.crm.models import Customer
from nextorder.crm.services import order_create
from nextorder.desk.models import Ticket
from nextorder.desk.services import ticket_open
from nextorder.insight.coverage import (
    ORDERS,
    SALES_ONLY,
    coverage_gap_warning,
    coverage_report,
)

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 6, 1, 0, 0, tzinfo=BERLIN)  # a Monday
WEEKDAYS_9_18 = (((time(9), time(18)),),) * 5
SALES_WEEK = (*WEEKDAYS_9_18, ((time(9), time(17)),), ())
SERVICE_WEEK = (((time(9), time(17)),),) * 5 + ((), ())


def lines(*, service_country=""):
    sales = calendar_create(name="Sales line", time_zone="Europe/Berlin", weekly=SALES_WEEK)
    service = calendar_create(
        name="Service desk",
        time_zone="Europe/Berlin",
        weekly=SERVICE_WEEK,
        holiday_country=service_country,
        holiday_subdivision="BY" if service_country else "",
    )
    team_calendar_set(team=team_ensure(name="Sales"), calendar=sales, kind=Team.Kind.SALES)
    team_calendar_set(team=team_ensure(name="Service"), calendar=service)
    return sales, service


def history():
    """Six orders: three on Saturdays at 10:00, one dated only (a Saturday, at midnight
    UTC, which is 02:00 in Berlin and would be outside sales hours if read as a time),
    one on a Monday noon, one on a Tuesday at 17:30. Email: two on Saturday, two on
    Wednesday; web form: one on Tuesday at 17:15."""
    customer = Customer.objects.create(name="Ada", external_id="C-1")
    placed = [
        datetime(2026, 5, 2, 10, tzinfo=BERLIN),
        datetime(2026, 5, 9, 10, tzinfo=BERLIN),
        datetime(2026, 5, 16, 10, tzinfo=BERLIN),
        datetime(2026, 5, 23, 0, tzinfo=UTC),  # a date-only import, read as UTC
        datetime(2026, 5, 4, 12, tzinfo=BERLIN),
        datetime(2026, 5, 5, 17, 30, tzinfo=BERLIN),
    ]
    for number, at in enumerate(placed):
        order_create(customer=customer, placed_at=at, amount=Decimal("10"), external_id=str(number))
    opened = [
        (datetime(2026, 5, 2, 11, tzinfo=BERLIN), Ticket.Channel.EMAIL),
        (datetime(2026, 5, 9, 11, tzinfo=BERLIN), Ticket.Channel.EMAIL),
        (datetime(2026, 5, 6, 10, tzinfo=BERLIN), Ticket.Channel.EMAIL),
        (datetime(2026, 5, 13, 10, tzinfo=BERLIN), Ticket.Channel.EMAIL),
        (datetime(2026, 5, 5, 17, 15, tzinfo=BERLIN), Ticket.Channel.WEB_FORM),
    ]
    for at, channel in opened:
        ticket_open(customer=customer, subject="Help", body_text="Hi", channel=channel, sent_at=at)


def test_gaps_are_listed_by_weekday_and_weighted_by_arrivals():
    lines()
    history()
    report = coverage_report(weeks=4, now=NOW)
    assert report.channels == [("email", "Email"), ("web_form", "Web form")]
    first = report.sales_only[0]
    assert (first.kind, first.label, first.hours) == (SALES_ONLY, "Saturdays 09:00-17:00", 8.0)
    assert first.dates == (
        date(2026, 6, 6),
        date(2026, 6, 13),
        date(2026, 6, 20),
        date(2026, 6, 27),
    )
    # Four of six orders (the dated one spread over Saturday's sales hours), half the email.
    assert first.shares[ORDERS] == pytest.approx(4 / 6)
    assert first.shares["email"] == pytest.approx(0.5)
    assert first.shares["web_form"] == 0
    evenings = {gap.label: gap for gap in report.sales_only[1:]}
    assert set(evenings) == {
        f"{day}s 17:00-18:00" for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
    }
    assert evenings["Tuesdays 17:00-18:00"].shares == {
        ORDERS: pytest.approx(1 / 6),
        "email": 0,
        "web_form": pytest.approx(1.0),
    }
    assert report.sales_only_hours == pytest.approx(4 * 8 + 20 * 1)
    assert report.sales_only_shares[ORDERS] == pytest.approx(4 / 6 + 1 / 6)
    assert report.service_only == []
    assert report.service_only_hours == 0


def test_a_public_holiday_of_the_service_desk_is_a_one_off_gap():
    lines(service_country="DE")
    report = coverage_report(weeks=1, now=NOW)
    # Corpus Christi, Thursday 4 June 2026, is a public holiday in Bavaria.
    labels = [gap.label for gap in report.sales_only]
    assert "Thursday 4 Jun 09:00-18:00" in labels
    assert report.sales_only_hours == pytest.approx(8 + 4 * 1 + 9)
    assert report.sales_only_shares == {}  # no history: nothing to weigh by


def test_service_open_while_sales_is_closed_is_the_reverse_list():
    _sales, service = lines()
    calendar_update(calendar=service, weekly=(*SERVICE_WEEK[:6], ((time(10), time(12)),)))
    report = coverage_report(weeks=2, now=NOW)
    assert [gap.label for gap in report.service_only] == ["Sundays 10:00-12:00"]
    assert report.service_only_hours == 4


def test_without_both_kinds_of_calendar_nothing_is_compared():
    calendar = calendar_create(name="Only", time_zone="UTC", weekly=SERVICE_WEEK)
    team_calendar_set(team=team_ensure(name="Service"), calendar=calendar)
    report = coverage_report(now=NOW)
    assert not report.configured
    assert report.sales_only == []


def test_saving_hours_that_widen_a_gap_warns_and_narrowing_does_not():
    _sales, service = lines()
    history()
    before = calendar_weekly(calendar=service)
    calendar_update(calendar=service, weekly=(((time(9), time(16)),),) * 5 + ((), ()))
    warning = coverage_gap_warning(calendar=service, weekly_before=before)
    assert "20.0 more hours over the coming 4 weeks"  # five days, four weeks in warning
    assert "Saturdays 09:00-17:00: 67 % of orders arrive then" in warning
    before = calendar_weekly(calendar=service)
    calendar_update(calendar=service, weekly=(((time(9), time(18)),),) * 6 + ((),))
    assert coverage_gap_warning(calendar=service, weekly_before=before) == ""
