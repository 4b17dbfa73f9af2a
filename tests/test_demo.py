from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from nextorder.crm.models import Customer, Order, OrderLine
from nextorder.demo.data import CDNOW_LAST_DAY, cdnow_shift_days
from nextorder.desk.models import ClockState, Message, SlaPolicy, Ticket, TicketSla


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

    # CDNOW's customers and orders, and the Shopify sample's (tests/crm/exports.py).
    assert counts[:3] == (2357 + 42, 6919 + 120, 60)
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
    # Some tickets come from the biggest spenders.
    top = Customer.objects.order_by("-total_spend")[:236]
    assert Ticket.objects.filter(customer__in=top).exists()
    # Service levels: policies on service hours, and clocks met, missed and running.
    assert set(SlaPolicy.objects.values_list("name", flat=True)) == {"Urgent", "High", "Normal"}
    states = set(TicketSla.objects.values_list("first_response_state", flat=True))
    assert {ClockState.MET, ClockState.RUNNING} <= states
    assert TicketSla.objects.filter(resolution_state=ClockState.MET).exists()
