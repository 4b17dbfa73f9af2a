"""The playbook's other steps: referrals attributed when the referred person orders
(created or imported), next-order nudges from the value model or the customer's own
interval, tasks closed, the playbook stopped per customer; and the loop report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Customer
from nextorder.crm.services import contact_for_email, order_create
from nextorder.desk.models import Ticket
from nextorder.desk.services import ticket_open
from nextorder.followup.models import CustomerFollowup, FollowupTask, Referral, Survey
from nextorder.followup.report import loop_report
from nextorder.followup.services import (
    followup_task_close,
    followup_task_take,
    nudges_open,
    playbook_stop,
    referral_register,
    surveys_schedule,
)
from nextorder.sales.models import Lead
from nextorder.sales.services import (
    commitment_break,
    commitment_create,
    commitment_keep,
    lead_create,
    lead_win,
)
from tests.followup.conftest import NOON

pytestmark = pytest.mark.django_db


@pytest.fixture
def referrer(customer) -> Customer:
    CustomerFollowup.objects.create(customer=customer, referral_code="Ada-CODE")
    return customer


def test_the_referral_page_records_the_address_and_a_first_order_is_attributed(referrer):
    response = Client().post(
        reverse("followup:referral", args=["Ada-CODE"]), {"email": "Ben@Example.org"}
    )
    assert response.status_code == 200
    referral = Referral.objects.get()
    assert (referral.email, referral.referrer) == ("ben@example.org", referrer)

    ben = contact_for_email(address="ben@example.org", name="Ben").customer
    order = order_create(
        customer=ben, placed_at=datetime.now(UTC), amount=Decimal("80.00"), external_id="B-1"
    )
    order_create(  # a second order is not the referral's
        customer=ben, placed_at=datetime.now(UTC), amount=Decimal("10.00"), external_id="B-2"
    )
    referral.refresh_from_db()
    assert (referral.order, referral.referred_customer) == (order, ben)
    task = FollowupTask.objects.get(kind=FollowupTask.Kind.REFERRAL)
    assert task.customer == referrer and task.role == "sales"
    assert Event.objects.filter(verb=Verb.REFERRAL_ATTRIBUTED, customer_id=referrer.pk).exists()
    assert loop_report().referral_revenue == Decimal("80.00")


def test_an_order_placed_before_the_referral_or_by_the_referrer_does_not_count(referrer, contact):
    ben = contact_for_email(address="ben@example.org").customer
    order_create(
        customer=ben,
        placed_at=datetime.now(UTC) - timedelta(days=3),
        amount=Decimal("5"),
        external_id="OLD",
    )
    referral_register(code="Ada-CODE", email="ben@example.org")
    referral_register(code="Ada-CODE", email="ada@example.com")  # the referrer's own address
    order_create(customer=referrer, placed_at=datetime.now(UTC), amount=Decimal("5"))
    assert not Referral.objects.filter(order__isnull=False).exists()


def test_an_unknown_referral_code_is_refused(db):
    response = Client().post(reverse("followup:referral", args=["nope"]), {"email": "a@b.org"})
    assert response.status_code == 404 and not Referral.objects.exists()


def _cycle(customer: Customer, *, last: datetime, first: datetime, orders: int) -> None:
    Customer.objects.filter(pk=customer.pk).update(
        first_order_at=first, last_order_at=last, order_count=orders
    )


def test_nudges_before_the_expected_next_purchase_once_per_cycle(customer):
    # Orders every 30 days, the last 26 days ago: the next is expected in 4 days.
    _cycle(customer, last=NOON - timedelta(days=26), first=NOON - timedelta(days=86), orders=3)
    (nudge,) = nudges_open(now=NOON)
    assert (nudge.kind, nudge.role, nudge.customer) == ("nudge", "sales", customer)
    assert nudges_open(now=NOON + timedelta(days=1)) == []  # once per purchase cycle
    # The value model, when it has scored the customer, says otherwise: 0.5 orders in 90
    # days is one every 180 days, so not this week.
    FollowupTask.objects.all().delete()
    Customer.objects.filter(pk=customer.pk).update(scored_at=NOON, expected_orders_90d=0.5)
    assert nudges_open(now=NOON) == []
    Customer.objects.filter(pk=customer.pk).update(expected_orders_90d=3.2)  # every 28 days
    assert len(nudges_open(now=NOON)) == 1


def test_a_stopped_customer_is_neither_nudged_nor_surveyed(customer, solved, lead):
    _cycle(customer, last=NOON - timedelta(days=26), first=NOON - timedelta(days=86), orders=3)
    playbook_stop(customer=customer, actor=lead)
    assert nudges_open(now=NOON) == [] and surveys_schedule(now=NOON) == []


def test_a_task_is_closed_once_with_its_note(customer, sales_user):
    _cycle(customer, last=NOON - timedelta(days=26), first=NOON - timedelta(days=86), orders=3)
    (task,) = nudges_open(now=NOON)
    followup_task_close(task=task, actor=sales_user, state="done", note="Called, ordering Friday")
    with pytest.raises(ValidationError, match="closed already"):
        followup_task_close(task=task, actor=sales_user, state="dismissed")
    task.refresh_from_db()
    assert (task.state, task.note, task.closed_by) == (
        "done",
        "Called, ordering Friday",
        sales_user,
    )
    closed = Event.objects.get(verb=Verb.FOLLOWUP_TASK_CLOSED)
    assert closed.actor == sales_user and closed.customer_id == customer.pk


def test_staff_stop_and_resume_the_playbook_from_the_customer_page(customer, lead):
    client = Client()
    client.force_login(lead)
    page = client.get(reverse("desk:customer", args=[customer.pk]))
    assert b"Stop the playbook" in page.content
    client.post(reverse("followup:playbook", args=[customer.pk]), {"action": "stop"})
    assert CustomerFollowup.objects.get(customer=customer).stopped_at is not None
    assert b"Playbook stopped" in client.get(reverse("desk:customer", args=[customer.pk])).content
    client.post(reverse("followup:playbook", args=[customer.pk]), {"action": "resume"})
    assert CustomerFollowup.objects.get(customer=customer).stopped_at is None
    verbs = list(Event.objects.filter(customer_id=customer.pk).values_list("verb", flat=True))
    assert Verb.PLAYBOOK_STOPPED in verbs and Verb.PLAYBOOK_RESUMED in verbs


def test_the_report_splits_reorders_by_csat_and_downloads(customer, solved, lead):
    Survey.objects.create(
        ticket=solved,
        customer=customer,
        to_address="ada@example.com",
        period=1,
        created_at=NOON,
        send_after=NOON,
        answered_at=NOON,
        csat=5,
    )
    solved_at = datetime(2025, 1, 1, tzinfo=UTC)
    solved.__class__.objects.filter(pk=solved.pk).update(solved_at=solved_at)
    order_create(customer=customer, placed_at=solved_at + timedelta(days=20), amount=Decimal("12"))
    report = loop_report(as_of=datetime(2026, 1, 1, tzinfo=UTC))
    happy = next(share for share in report.by_csat if share.group == "CSAT 4-5")
    assert happy.tickets == 1 and happy.shares == {30: 1.0, 90: 1.0, 180: 1.0}
    assert happy.columns == [(1.0, 1), (1.0, 1), (1.0, 1)]
    curve = report.curves["CSAT 4-5"]
    assert curve.times.tolist() == pytest.approx([20.0]) and curve.survival.tolist() == [0.0]

    client = Client()
    client.force_login(lead)
    page = client.get(reverse("followup:report"))
    assert page.status_code == 200 and b"<svg" in page.content
    # Each share says how many tickets it is of (a share of 1 ticket is no trend).
    assert b'100% <span class="muted">of 1</span>' in page.content
    csv = client.get(reverse("followup:report_csv", args=["reorders"])).content.decode()
    assert "csat,CSAT 4-5,1,1.0000,1.0000,1.0000" in csv


def test_the_nightly_run_is_booked_once_and_a_run_keeps_one_booking(db):
    from django_tasks_db.models import DBTaskResult

    from nextorder.followup.tasks import playbook_nightly, playbook_schedule

    first = playbook_schedule()
    assert playbook_schedule() == first  # idempotent: one pending run at most
    assert first.astimezone(UTC).strftime("%H:%M") == "03:00"  # the tests' zone is UTC
    outcome = playbook_nightly.call()
    assert outcome == {
        "surveys": 0,
        "recovery_tasks": 0,
        "referral_asks": 0,
        "nudges": 0,
        "referrals_attributed": 0,
        "promise_checks": 0,
    }
    assert DBTaskResult.objects.filter(task_path=playbook_nightly.module_path).count() == 1


def test_a_task_is_taken_by_one_person_and_taken_over_on_the_record(customer, make_user):
    task = FollowupTask.objects.create(
        kind=FollowupTask.Kind.RECOVERY,
        customer=customer,
        period="survey:1",
        role="lead",
        title="Call back",
        due_at=timezone.now(),
        created_at=timezone.now(),
    )
    jordan, kim = make_user("jordan", role="lead"), make_user("kim", role="lead")
    page = Client()
    page.force_login(kim)

    untaken = page.get(reverse("followup:tasks")).content.decode()
    assert "Take</button>" in untaken and "Not taken (leads)" in untaken
    followup_task_take(task=task, actor=jordan)
    followup_task_take(task=task, actor=jordan)  # already theirs: nothing new
    listed = page.get(reverse("followup:tasks"), {"owner": "nobody"}).content.decode()
    assert "Call back" not in listed
    taken_over = page.post(reverse("followup:task_take", args=[task.pk]))

    assert taken_over.status_code == 302 and taken_over["Location"].endswith("?owner=me")
    task.refresh_from_db()
    assert task.owner == kim
    events = Event.objects.filter(verb=Verb.FOLLOWUP_TASK_TAKEN).order_by("id")
    assert [(e.before["owner"], e.after["owner"]) for e in events] == [
        (None, jordan.pk),
        (jordan.pk, kim.pk),
    ]
    mine = page.get(reverse("followup:tasks"), {"owner": "me"}).content.decode()
    assert "Call back" in mine and "Take over</button>" not in mine
    followup_task_close(task=task, actor=kim, state=FollowupTask.State.DONE)
    with pytest.raises(ValidationError):
        followup_task_take(task=task, actor=jordan)


def test_the_report_splits_reorders_by_promises_and_counts_service_born_leads(
    customer, solved, lead, sales_user
):
    solved_at = datetime(2025, 1, 1, tzinfo=UTC)
    Ticket.objects.filter(pk=solved.pk).update(solved_at=solved_at)
    other = Customer.objects.create(name="Kept Karl")
    kept_ticket = ticket_open(customer=other, subject="Hi", body_text="Thanks")
    Ticket.objects.filter(pk=kept_ticket.pk).update(solved_at=solved_at)
    broken = commitment_create(
        actor=sales_user,
        customer=customer,
        description="Deliver by Friday",
        owner=sales_user,
        due_at=solved_at - timedelta(days=3),
    )
    commitment_break(commitment=broken, actor=sales_user, reason="Courier lost it")
    kept = commitment_create(
        actor=sales_user,
        customer=other,
        description="Call back",
        owner=sales_user,
        due_at=solved_at - timedelta(days=1),
    )
    commitment_keep(commitment=kept, actor=sales_user)
    commitment_create(  # due after the ticket was solved: not part of its service
        actor=sales_user,
        customer=other,
        description="Install",
        owner=sales_user,
        due_at=solved_at + timedelta(days=30),
    )
    order_create(customer=other, placed_at=solved_at + timedelta(days=10), amount=Decimal("30"))
    won = lead_create(
        customer=other,
        title="Second machine",
        actor=lead,
        source=Lead.Source.TICKET,
        ticket_id=kept_ticket.pk,
    )
    lead_win(lead=won, actor=sales_user, amount=Decimal("450.00"))

    report = loop_report(as_of=datetime(2026, 1, 1, tzinfo=UTC))

    split = {share.group: (share.tickets, share.shares[30]) for share in report.by_promise}
    assert split == {
        "Promises kept": (1, 1.0),
        "A promise broken": (1, 0.0),
        "No promise due": (0, None),
    }
    assert (report.leads.service_won, report.leads.service_won_amount) == (1, Decimal("450.00"))
    client = Client()
    client.force_login(lead)
    page = client.get(reverse("followup:report")).content.decode()
    assert 'id="reorders-promises"' in page and "450.00" in page
    csv = client.get(reverse("followup:report_csv", args=["reorders"])).content.decode()
    assert "promises,Promises kept,1,1.0000" in csv and "promises,A promise broken,1,0.0000" in csv
