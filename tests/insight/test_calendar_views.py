"""The Business hours pages, the admin and `nextorder calendar`: each writes through the
calendar services (events with the actor) and refuses bad input with its reason."""

from __future__ import annotations

from datetime import date, time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from nextorder.core.models import BusinessCalendar, Event, Team, Verb
from nextorder.core.selectors import calendar_weekly
from nextorder.core.services import calendar_create, team_calendar_set, team_ensure

pytestmark = pytest.mark.django_db

WEEK = {
    "name": "Service desk",
    "time_zone": "Europe/Berlin",
    "holiday_country": "de",
    "holiday_subdivision": "",
    "monday": "09:00-12:00, 13:00-17:00",
    "tuesday": "09:00-12:00; 13:00-17:00",
    "wednesday": "9-17",
    "thursday": "22:00-24:00",
    "friday": "",
    "saturday": "closed",
    "sunday": "",
}
ICAL = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
    b"SUMMARY:Stocktake\r\nDTSTART;VALUE=DATE:20261230\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture
def lead_client(client, lead):
    client.force_login(lead)
    return client


def test_a_lead_creates_a_calendar_with_split_shifts(lead_client, lead):
    response = lead_client.post(reverse("insight:calendar_new"), WEEK)
    calendar = BusinessCalendar.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("insight:calendar_edit", args=[calendar.pk])
    assert calendar.holiday_country == "DE"
    weekly = calendar_weekly(calendar=calendar)
    assert weekly[0] == weekly[1] == [(time(9), time(12)), (time(13), time(17))]
    assert weekly[2] == [(time(9), time(17))]
    assert weekly[3] == [(time(22), time(0))]
    assert Event.objects.get(verb=Verb.CALENDAR_CREATED).actor == lead
    page = lead_client.get(reverse("insight:calendars")).content.decode()
    assert "09:00-12:00, 13:00-17:00" in page
    assert "22:00-24:00" in page


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("monday", "09:00-13:00, 12:00-17:00", "overlap"),
        ("monday", "17:00-09:00", "open before it closes"),
        ("monday", "nine to five", "not a period"),
        ("monday", "25:00-26:00", "not a time"),
        ("time_zone", "Europe/Atlantis", "IANA"),
        ("holiday_country", "ZZ", "country code"),
    ],
)
def test_bad_hours_are_refused_with_the_reason(lead_client, field, value, reason):
    response = lead_client.post(reverse("insight:calendar_new"), WEEK | {field: value})
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not BusinessCalendar.objects.exists()


def test_exceptions_and_ical_upload(lead_client):
    calendar = calendar_create(name="Service desk", time_zone="Europe/Berlin")
    add = reverse("insight:calendar_exception_add", args=[calendar.pk])
    response = lead_client.post(add, {"day": "2026-12-24", "name": "Eve", "hours": "09:00-12:00"})
    assert response.status_code == 302
    assert calendar.exceptions.get().periods == [["09:00:00", "12:00:00"]]
    bad = lead_client.post(add, {"day": "2026-12-24", "hours": "12:00-09:00"})
    assert bad.status_code == 400
    remove = reverse("insight:calendar_exception_remove", args=[calendar.pk])
    assert lead_client.post(remove, {"day": "2026-12-24"}).status_code == 302
    assert not calendar.exceptions.exists()
    upload = reverse("insight:calendar_import", args=[calendar.pk])
    good = lead_client.post(upload, {"file": SimpleUploadedFile("h.ics", ICAL)}, follow=True)
    assert "1 date(s) closed" in good.content.decode()
    assert calendar.exceptions.get().date == date(2026, 12, 30)
    garbage = lead_client.post(upload, {"file": SimpleUploadedFile("h.ics", b"\x00\xff garbage")})
    assert garbage.status_code == 400
    assert "not an iCalendar file" in garbage.content.decode()


def test_saving_hours_that_open_a_gap_warns(lead_client, agent):
    sales = calendar_create(
        name="Sales", time_zone="Europe/Berlin", weekly=(((time(9), time(17)),),) * 6 + ((),)
    )
    service = calendar_create(
        name="Service", time_zone="Europe/Berlin", weekly=(((time(9), time(17)),),) * 6 + ((),)
    )
    team_calendar_set(team=team_ensure(name="Sales line"), calendar=sales, kind=Team.Kind.SALES)
    team_calendar_set(team=team_ensure(name="Desk"), calendar=service)
    closed_saturday = WEEK | {
        "name": "Service",
        "holiday_country": "",
        **{day: "09:00-17:00" for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
    }
    response = lead_client.post(
        reverse("insight:calendar_edit", args=[service.pk]), closed_saturday, follow=True
    )
    page = response.content.decode()
    assert "Hours saved." in page
    assert "customers can buy but cannot get service for 32.0 more hours" in page
    panel = lead_client.get(reverse("insight:coverage_panel")).content.decode()
    assert "Saturdays 09:00-17:00: sales open, service closed" in panel, panel
    assert '<details class="coverage" open>' in panel  # the lead can change the hours
    agent_client = Client()
    agent_client.force_login(agent)
    folded = agent_client.get(reverse("insight:coverage_panel")).content.decode()
    assert '<details class="coverage">' in folded and "32 hours in the coming" in folded


def test_team_kind_and_calendar_are_set_on_the_page(lead_client, lead):
    calendar = calendar_create(name="Sales", time_zone="UTC")
    team = team_ensure(name="Phone sales")
    response = lead_client.post(
        reverse("insight:team_calendar", args=[team.pk]), {"calendar": calendar.pk, "kind": "sales"}
    )
    assert response.status_code == 302
    team.refresh_from_db()
    assert (team.kind, team.calendar_id) == ("sales", calendar.pk)
    refused = lead_client.post(
        reverse("insight:team_calendar", args=[team.pk]), {"calendar": "999", "kind": "sales"}
    )
    assert refused.status_code == 400


def test_the_admin_saves_through_the_services(admin_client):
    response = admin_client.post(reverse("admin:core_businesscalendar_add"), WEEK)
    assert response.status_code == 302, response.content.decode()[:3000]
    calendar = BusinessCalendar.objects.get()
    assert calendar_weekly(calendar=calendar)[0] == [(time(9), time(12)), (time(13), time(17))]
    change = reverse("admin:core_businesscalendar_change", args=[calendar.pk])
    refused = admin_client.post(change, WEEK | {"monday": "09:00-13:00, 12:00-14:00"})
    assert refused.status_code == 200
    assert "overlap" in refused.content.decode()
    admin_client.post(change, WEEK | {"saturday": "10:00-14:00"})
    assert [e.verb for e in Event.objects.filter(verb__startswith="calendar.")] == [
        Verb.CALENDAR_CHANGED,
        Verb.CALENDAR_CREATED,
    ]


def test_cli_imports_ical_and_explains_failures(tmp_path, capsys):
    calendar_create(name="Service desk", time_zone="Europe/Berlin")
    good = tmp_path / "holidays.ics"
    good.write_bytes(ICAL)
    call_command("calendar", "import-ical", "--calendar", "Service desk", str(good))
    assert "1 date(s) closed" in capsys.readouterr().out
    bad = tmp_path / "bad.ics"
    bad.write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    with pytest.raises(CommandError, match="no events"):
        call_command("calendar", "import-ical", "--calendar", "Service desk", str(bad))
    with pytest.raises(CommandError, match="no calendar 'Nope'"):
        call_command("calendar", "import-ical", "--calendar", "Nope", str(good))
    with pytest.raises(CommandError, match="cannot read"):
        call_command("calendar", "import-ical", "--calendar", "Service desk", str(tmp_path / "x"))
