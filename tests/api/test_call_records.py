"""Call records posted by a telephony or chat system, and the wait times measured from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nextorder.core.models import Event, Verb
from nextorder.desk.models import CallRecord, Ticket
from nextorder.desk.selectors import wait_times
from nextorder.desk.services import ticket_open

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def record(external_id: str, minutes: float, outcome: str = "answered", wait: float = 10.0):
    return {
        "external_id": external_id,
        "channel": "phone",
        "queue": "support",
        "offered_at": (MONDAY + timedelta(minutes=minutes)).isoformat(),
        "outcome": outcome,
        "wait_seconds": wait,
        "handle_seconds": 200.0 if outcome == "answered" else 0.0,
    }


def post(client, records):
    return client.post(
        "/api/v1/call-records", {"records": records}, content_type="application/json"
    )


def test_a_batch_sent_twice_is_counted_once(api_client, lead):
    client = api_client(lead)
    batch = [record("c1", 1), record("c2", 5, wait=40), record("c3", 20, "abandoned", 70)]
    first = post(client, batch)
    assert first.status_code == 201, first.json()
    assert first.json() == {"created": 3, "duplicates": 0}
    again = post(client, [*batch, record("c4", 21), record("c4", 21)])
    assert again.json() == {"created": 1, "duplicates": 4}
    assert CallRecord.objects.count() == 4
    event = Event.objects.filter(verb=Verb.CALLS_RECORDED).latest("id")
    assert event.actor == lead and event.after == {"created": 1, "duplicates": 4}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"wait_seconds": -1}, "wait_seconds"),
        ({"outcome": "lost"}, "outcome"),
        ({"offered_at": "2026-11-30T09:00:00"}, "offered_at"),
        ({"handle_seconds": 30, "outcome": "abandoned"}, "no handle time"),
        ({"team_id": 999_999}, "No team"),
    ],
)
def test_bad_rows_are_refused_with_a_message_and_nothing_is_stored(
    api_client, lead, change, message
):
    response = post(api_client(lead), [record("ok", 1), {**record("bad", 2), **change}])
    assert 400 <= response.status_code < 500
    assert message in str(response.json())
    assert not CallRecord.objects.exists()


def test_agents_may_not_report_calls(api_client, agent):
    assert post(api_client(agent), [record("c1", 1)]).status_code == 403


def test_wait_times_per_interval(api_client, lead, customer):
    post(
        api_client(lead),
        [
            record("a", 1, wait=5),
            record("b", 2, wait=25),
            record("c", 10, "abandoned", 60),
            record("d", 16, wait=15),
        ],
    )
    ticket = ticket_open(
        customer=customer, contact=None, subject="Where is it?", body_text="?", actor=None,
        channel=Ticket.Channel.EMAIL,
    )  # fmt: skip
    Ticket.objects.filter(pk=ticket.pk).update(
        created_at=MONDAY + timedelta(minutes=3), first_response_at=MONDAY + timedelta(minutes=63)
    )
    first, second = wait_times(
        start=MONDAY, end=MONDAY + timedelta(minutes=30), interval_minutes=15, answer_within=20
    )
    assert (first.offered, first.answered, first.abandoned) == (3, 2, 1)
    assert first.service_level == pytest.approx(1 / 3)
    assert first.asa_seconds == pytest.approx(15.0)
    assert first.abandonment_rate == pytest.approx(1 / 3)
    assert first.first_response_seconds == pytest.approx(3600.0)
    assert (second.offered, second.service_level, second.first_response_seconds) == (1, 1.0, None)
