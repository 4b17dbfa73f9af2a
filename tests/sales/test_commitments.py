"""Promises: each change is one service with its event; the hourly check flags those
coming due and breaks those overdue, once each, however often it runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Customer, Order
from nextorder.sales.models import Commitment
from nextorder.sales.services import (
    commitment_break,
    commitment_create,
    commitment_keep,
    commitment_reassign,
    commitment_update,
    commitment_waive,
    commitments_check,
)
from nextorder.sales.tasks import owner_notify, promises_check_hourly, sales_schedule

pytestmark = pytest.mark.django_db


def _verbs(commitment: Commitment) -> list[str]:
    return list(
        Event.objects.filter(subject_id=commitment.pk, verb__startswith="commitment.")
        .order_by("occurred_at", "id")
        .values_list("verb", flat=True)
    )


def _notices() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=owner_notify.module_path))


def test_a_promise_is_recorded_on_the_customers_timeline(customer, sales_user):
    order = customer.orders.first()
    promise = commitment_create(
        customer=customer,
        order=order,
        kind=Commitment.Kind.INSTALL_BY,
        description="  Install on site  ",
        owner=sales_user,
        due_at=timezone.now() + timedelta(days=5),
        actor=sales_user,
    )
    assert promise.description == "Install on site"
    assert promise.state == Commitment.State.OPEN
    event = Event.objects.get(verb=Verb.COMMITMENT_CREATED)
    assert (event.customer_id, event.actor, event.after["order"]) == (
        customer.pk,
        sales_user,
        order.pk,
    )


def test_an_order_of_another_customer_is_refused(customer, sales_user):
    other = Customer.objects.create(name="Someone else")
    order = Order.objects.create(customer=other, placed_at=timezone.now(), amount=1)
    with pytest.raises(ValidationError, match="not an order of"):
        commitment_create(
            customer=customer,
            order=order,
            description="Deliver",
            owner=sales_user,
            due_at=timezone.now(),
            actor=sales_user,
        )
    assert not Commitment.objects.exists()


def test_an_inactive_owner_is_refused(customer, sales_user, agent):
    agent.is_active = False
    agent.save()
    with pytest.raises(ValidationError, match="not active"):
        commitment_create(
            customer=customer,
            description="Call back",
            owner=agent,
            due_at=timezone.now(),
            actor=sales_user,
        )


def test_a_promise_is_settled_once(make_promise, agent, sales_user):
    promise = make_promise(due_in=timedelta(days=1))
    kept = commitment_keep(commitment=promise, actor=agent, reason="Installed Tuesday")
    assert (kept.state, kept.reason, kept.settled_by) == ("kept", "Installed Tuesday", agent)
    with pytest.raises(ValidationError, match="already kept"):
        commitment_break(commitment=promise, actor=sales_user, reason="late")
    assert Commitment.objects.get().state == Commitment.State.KEPT
    assert _verbs(promise) == [Verb.COMMITMENT_CREATED, Verb.COMMITMENT_KEPT]


def test_breaking_or_waiving_needs_a_reason(make_promise, sales_user):
    promise = make_promise(due_in=timedelta(days=1))
    for settle in (commitment_break, commitment_waive):
        with pytest.raises(ValidationError, match="Say why"):
            settle(commitment=promise, actor=sales_user, reason="  ")
    waived = commitment_waive(commitment=promise, actor=sales_user, reason="Customer cancelled")
    assert waived.state == Commitment.State.WAIVED


def test_a_broken_promise_tells_its_owner_by_email(make_promise, sales_user):
    sales_user.email = "sam@shop.example"
    sales_user.save()
    promise = make_promise(due_in=timedelta(days=1), description="Ship the spare part")
    commitment_break(commitment=promise, actor=sales_user, reason="Supplier out of stock")
    (notice,) = _notices()
    assert owner_notify.call(*notice.args_kwargs["args"]) == "sent"
    (sent,) = mail.outbox
    assert sent.to == ["sam@shop.example"]
    assert "Supplier out of stock" in sent.body and "Ship the spare part" in sent.body


def test_changing_the_due_time_reminds_the_owner_again(make_promise, sales_user):
    promise = make_promise(due_in=timedelta(hours=2))
    assert commitments_check().flagged_due_soon == 1
    later = timezone.now() + timedelta(hours=5)
    promise = commitment_update(commitment=promise, actor=sales_user, due_at=later)
    assert promise.due_soon_notified_at is None
    assert commitments_check().flagged_due_soon == 1
    changed = Event.objects.get(verb=Verb.COMMITMENT_CHANGED)
    assert set(changed.after) == {"due_at"}


def test_reassigning_hands_the_promise_and_its_reminder_over(make_promise, sales_user, agent):
    promise = make_promise(due_in=timedelta(hours=2))
    commitments_check()
    handed = commitment_reassign(commitment=promise, owner=agent, actor=sales_user)
    assert (handed.owner, handed.due_soon_notified_at) == (agent, None)
    assert commitments_check().flagged_due_soon == 1
    reminders = Event.objects.filter(verb=Verb.COMMITMENT_DUE_SOON).order_by("id")
    assert [e.after["owner"] for e in reminders] == [sales_user.username, agent.username]


def test_the_check_flags_due_soon_and_breaks_overdue_once_each(make_promise):
    overdue = make_promise(due_in=-timedelta(hours=1))
    soon = make_promise(due_in=timedelta(hours=3))
    far = make_promise(due_in=timedelta(days=30))

    first = commitments_check()
    second = commitments_check()

    assert (first.flagged_due_soon, first.broken_overdue) == (1, 1)
    assert (second.flagged_due_soon, second.broken_overdue) == (0, 0)
    overdue.refresh_from_db()
    assert overdue.state == Commitment.State.BROKEN and "Not kept by" in overdue.reason
    assert overdue.settled_by is None
    assert Commitment.objects.get(pk=soon.pk).due_soon_notified_at is not None
    assert Commitment.objects.get(pk=far.pk).due_soon_notified_at is None
    # One email booked per event: two runs told each owner once.
    assert len(_notices()) == 2
    broken = Event.objects.get(verb=Verb.COMMITMENT_BROKEN)
    assert broken.actor is None and broken.actor_label == "system:promise_check"


def test_the_hourly_task_books_its_next_run_once(make_promise):
    make_promise(due_in=-timedelta(minutes=5))
    booked = sales_schedule()
    assert sales_schedule() == booked  # idempotent
    outcome = promises_check_hourly.call()
    assert outcome["promises_broken"] == 1
    pending = DBTaskResult.objects.filter(
        task_path=promises_check_hourly.module_path, status="READY"
    )
    assert pending.count() == 1


def test_an_owner_without_an_address_gets_no_email(make_promise, sales_user):
    promise = make_promise(due_in=timedelta(hours=1))
    commitments_check()
    (notice,) = _notices()
    assert owner_notify.call(*notice.args_kwargs["args"]) == "no address"
    assert mail.outbox == []
    assert Commitment.objects.get(pk=promise.pk).due_soon_notified_at is not None


def test_the_command_checks_by_hand_and_says_what_it_did(make_promise, capsys):
    make_promise(due_in=-timedelta(hours=1))
    make_promise(due_in=timedelta(hours=1))
    call_command("sales", "check")
    assert "1 coming due (owners told), 1 broken; 0 renewal leads" in capsys.readouterr().out
    call_command("sales", "check")
    assert "0 coming due (owners told), 0 broken" in capsys.readouterr().out
