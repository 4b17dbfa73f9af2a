"""The promise check after delivery: did what was agreed at the sale happen?"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from nextorder.core.models import Event, Verb
from nextorder.followup.models import FollowupTask
from nextorder.followup.services import PROMISE_CHECK_DAYS, promise_checks_open
from nextorder.sales.models import Commitment
from nextorder.sales.services import commitment_create

pytestmark = pytest.mark.django_db


def promise(customer, owner, *, kind, days_ago, order=True, state=None):
    made = commitment_create(
        customer=customer,
        order=customer.orders.order_by("placed_at").last() if order else None,
        kind=kind,
        description="As agreed at the sale",
        owner=owner,
        due_at=timezone.now() - timedelta(days=days_ago),
        actor=owner,
    )
    if state:
        Commitment.objects.filter(pk=made.pk).update(state=state)
    return made


def test_one_check_per_order_whose_delivery_promise_came_due(customer, sales_user):
    promise(customer, sales_user, kind=Commitment.Kind.DELIVER_BY, days_ago=2)
    promise(customer, sales_user, kind=Commitment.Kind.INSTALL_BY, days_ago=1)
    opened = promise_checks_open()
    assert [(t.kind, t.role) for t in opened] == [(FollowupTask.Kind.PROMISE_CHECK, "sales")]
    assert "O-15" in opened[0].title and "deliver by" in opened[0].title
    assert (
        Event.objects.filter(verb=Verb.FOLLOWUP_TASK_OPENED, customer_id=customer.pk).count() == 1
    )
    assert promise_checks_open() == []  # the playbook runs every night: still one task


@pytest.mark.parametrize(
    ("kind", "days_ago", "order", "state"),
    [
        (Commitment.Kind.CALL_BACK, 2, True, None),  # not about a delivery
        (Commitment.Kind.DELIVER_BY, -3, True, None),  # not due yet
        (Commitment.Kind.DELIVER_BY, PROMISE_CHECK_DAYS + 1, True, None),  # long past
        (Commitment.Kind.DELIVER_BY, 2, False, None),  # no order to ask about
        (Commitment.Kind.DELIVER_BY, 2, True, Commitment.State.WAIVED),
    ],
)
def test_no_check_for_what_is_not_a_delivery_come_due(
    customer, sales_user, kind, days_ago, order, state
):
    promise(customer, sales_user, kind=kind, days_ago=days_ago, order=order, state=state)
    assert promise_checks_open() == []


def test_a_broken_promise_is_checked_too(customer, sales_user):
    promise(customer, sales_user, kind=Commitment.Kind.DELIVER_BY, days_ago=3, state="broken")
    (task,) = promise_checks_open()
    assert task.title.endswith("broken)")
