from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from nextorder.crm.models import Customer, Order, OrderLine
from nextorder.demo.data import CDNOW_LAST_DAY, cdnow_shift_days
from nextorder.desk.models import Message, Ticket
from nextorder.followup.models import FollowupTask, Referral, Survey


def test_shift_keeps_weekdays_and_ends_before_today():
    today = date(2026, 11, 24)
    shift = cdnow_shift_days(today=today)
    assert shift % 7 == 0
    assert 14 <= (today - date.fromordinal(CDNOW_LAST_DAY.toordinal() + shift)).days < 21


@pytest.mark.django_db(transaction=True)
def test_demo_loads_once_and_rerunning_adds_nothing():
    call_command("demo", "--no-serve", "--tickets", "60", verbosity=0)
    counts = (
        Customer.objects.count(),
        Order.objects.count(),
        Ticket.objects.count(),
        Message.objects.count(),
    )

    call_command("demo", "--no-serve", "--tickets", "60", verbosity=0)

    # CDNOW's customers and orders, the Shopify sample's (tests/crm/exports.py), and the
    # follow-up's referred customer with their first order.
    assert counts[:3] == (2357 + 42 + 1, 6919 + 120 + 1, 60)
    assert OrderLine.objects.count() == 246
    assert (
        Customer.objects.count(),
        Order.objects.count(),
        Ticket.objects.count(),
        Message.objects.count(),
    ) == counts
    assert set(Ticket.objects.values_list("status", flat=True)) == set(Ticket.Status.values)
    assert get_user_model().objects.get(username="alex").groups.filter(name="agent").exists()
    # Triage that can be believed: the rule raises some tickets, few to Urgent.
    active = Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES)
    urgent = active.filter(priority=Ticket.Priority.URGENT).count()
    assert urgent <= 0.10 * active.count()
    assert active.filter(priority=Ticket.Priority.HIGH).exclude(priority_reason="").exists()
    # Follow-up: answered surveys of every standing, the tasks they open, a referral's order.
    standings = {survey.standing for survey in Survey.objects.filter(answered_at__isnull=False)}
    assert {"promoter", "detractor"} <= standings
    kinds = set(FollowupTask.objects.values_list("kind", flat=True))
    assert {FollowupTask.Kind.RECOVERY, FollowupTask.Kind.REFERRAL} <= kinds
    assert Referral.objects.filter(order__isnull=False).exists()
    # Some tickets come from the biggest spenders.
    top = Customer.objects.order_by("-total_spend")[:236]
    assert Ticket.objects.filter(customer__in=top).exists()
