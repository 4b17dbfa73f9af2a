"""The staffing plan: forecast from call records, agents required, the roster's gaps."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from nextorder.core.models import Event, Verb
from nextorder.desk.models import CallRecord
from nextorder.insight.models import RosterShift
from nextorder.insight.selectors import StaffingTarget, staffing_plan
from nextorder.insight.services import roster_shift_delete, roster_shift_save

pytestmark = pytest.mark.django_db


def this_monday() -> datetime:
    today = timezone.localdate()
    return timezone.make_aware(datetime.combine(today - timedelta(days=today.weekday()), time()))


@pytest.fixture
def two_weeks_of_calls(db):
    """Mondays 09:00-10:00: 40 calls each half hour, answered after 10 s, 240 s each."""
    records = []
    for week in (1, 2):
        monday = this_monday() - timedelta(weeks=week)
        for half_hour in (18, 19):
            start = monday + timedelta(minutes=30 * half_hour)
            records += [
                CallRecord(
                    external_id=f"w{week}-{half_hour}-{n}",
                    channel="phone",
                    offered_at=start + timedelta(seconds=45 * n),
                    outcome="answered",
                    wait_seconds=10,
                    handle_seconds=240,
                )
                for n in range(40)
            ]
    CallRecord.objects.bulk_create(records)


def test_plan_forecasts_the_monday_peak_and_shows_the_roster_gap(two_weeks_of_calls, manager):
    roster_shift_save(
        shift=RosterShift(weekday=0, starts_at=time(9), ends_at=time(9, 30), agents=12),
        actor=manager,
    )
    target = StaffingTarget(history_weeks=2)
    plan = staffing_plan(week=(this_monday() + timedelta(weeks=1)).date(), target=target)
    assert len(plan.intervals) == 7 * 48
    nine, half_past, ten = plan.intervals[18], plan.intervals[19], plan.intervals[20]
    assert nine.forecast_calls == pytest.approx(40)
    assert plan.handle_seconds == pytest.approx(240)
    # 40 calls x 240 s / 1800 s = 5.33 Erlangs: 8 agents for 80 % in 20 s, 12 to roster.
    assert nine.agents_required == half_past.agents_required == 8
    assert nine.agents_to_roster == 12
    assert (nine.agents_rostered, nine.gap) == (12, 0)
    assert (half_past.agents_rostered, half_past.gap) == (0, 12)
    assert ten.forecast_calls == 0 and ten.gap == 0
    assert plan.gaps == 1


def test_growth_needs_more_agents_in_the_busy_hours(two_weeks_of_calls, customer):
    week = (this_monday() + timedelta(weeks=3)).date()
    today = staffing_plan(week=week, target=StaffingTarget(history_weeks=2))
    grown = staffing_plan(
        week=week, target=StaffingTarget(history_weeks=2, new_customers_per_month=2)
    )
    assert grown.intervals[18].forecast_calls > today.intervals[18].forecast_calls
    assert grown.intervals[18].agents_required > today.intervals[18].agents_required
    assert grown.intervals[20].agents_required == 0


def test_roster_changes_go_through_the_service_with_events(manager):
    with pytest.raises(ValidationError):
        roster_shift_save(
            shift=RosterShift(weekday=0, starts_at=time(10), ends_at=time(9), agents=1),
            actor=manager,
        )
    shift = roster_shift_save(
        shift=RosterShift(weekday=2, starts_at=time(8), ends_at=time(12), agents=3), actor=manager
    )
    shift.agents = 5
    roster_shift_save(shift=shift, actor=manager)
    roster_shift_delete(shift=shift, actor=manager)
    events = list(Event.objects.filter(verb=Verb.ROSTER_CHANGED).order_by("id"))
    assert [(e.before.get("agents"), e.after.get("agents")) for e in events] == [
        (None, 3),
        (3, 5),
        (5, None),
    ]


def test_forecast_command_writes_csv_and_json(two_weeks_of_calls, customer, tmp_path):
    path = tmp_path / "forecast.csv"
    call_command(
        "staffing", "forecast", "--weeks", "2", "--interval-minutes", "30",
        "--new-customers-per-month", "3", "--csv", str(path), stdout=StringIO(),
    )  # fmt: skip
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == [
        "start", "forecast_calls", "forecast_tickets", "agents_required", "agents_to_roster",
        "agents_rostered", "gap", "extra_agents_for_growth",
    ]  # fmt: skip
    assert len(lines) == 1 + 2 * 7 * 48
    out = StringIO()
    call_command("staffing", "forecast", "--weeks", "1", "--interval-minutes", "15", "--json",
                 stdout=out)  # fmt: skip
    rows = json.loads(out.getvalue())
    assert len(rows) == 7 * 96
    assert max(row["agents_required"] for row in rows) > 0


def test_forecast_command_refuses_bad_options():
    with pytest.raises(CommandError, match="weeks") as refused:
        call_command("staffing", "forecast", "--weeks", "0", stdout=StringIO())
    assert refused.value.returncode == 2
    with pytest.raises(CommandError, match="shrinkage"):
        call_command("staffing", "forecast", "--shrinkage", "1.5", stdout=StringIO())


def test_staffing_page_highlights_the_gap(client, lead, two_weeks_of_calls):
    roster_shift_save(
        shift=RosterShift(weekday=0, starts_at=time(9), ends_at=time(9, 30), agents=12),
        actor=None,
    )
    client.force_login(lead)
    week = (this_monday() + timedelta(weeks=1)).date().isoformat()
    page = client.get("/insight/staffing/", {"week": week}).content.decode()
    assert "Staffing</a>" in page  # in the navigation
    plan = staffing_plan(week=date.fromisoformat(week), target=StaffingTarget())
    short = [row.start for row in plan.intervals if row.gap]
    assert short  # 09:30 has nobody rostered
    assert page.count('<tr class="gap">') == len(short) == plan.gaps
    for start in short:
        assert f"{timezone.localtime(start):%a %H:%M}</td>" in page
    assert f'id="gaps">{plan.gaps}<' in page
