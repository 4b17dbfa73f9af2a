from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from nextorder.crm.models import Customer, Order, OrderLine
from nextorder.demo.data import CDNOW_LAST_DAY, cdnow_shift_days
from nextorder.desk.models import Message, Ticket
from nextorder.sales.models import Commitment, Lead, ServiceAgreement


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

    # CDNOW's customers and orders, and the Shopify sample's (tests/crm/exports.py); the
    # tickets asked for, and three of shop customers asking to buy (demo/data.py).
    assert counts[:3] == (2357 + 42, 6919 + 120, 60 + 3)
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


@pytest.mark.django_db(transaction=True)
def test_demo_shows_promises_agreements_and_leads_on_every_page():
    call_command("demo", "--no-serve", "--tickets", "40", verbosity=0)
    promises = Commitment.objects.all()
    states = set(promises.values_list("state", flat=True))
    assert {"kept", "broken", "open", "waived"} <= states
    assert promises.filter(state="open", due_soon_notified_at__isnull=False).exists()
    soon = timezone.localdate() + timedelta(days=settings.NEXTORDER_RENEWAL_DAYS)
    ending = ServiceAgreement.objects.filter(ends_on__lte=soon)
    assert ending.exists()
    assert Lead.objects.filter(source="renewal", agreement__in=ending).exists()
    born_in_service = Lead.objects.filter(source__in=Lead.SERVICE_SOURCES)
    assert born_in_service.filter(state="won").exists()

    call_command("demo", "--no-serve", "--tickets", "40", verbosity=0)
    assert Commitment.objects.count() == promises.count()  # once

    sam = Client()
    sam.force_login(get_user_model().objects.get(username="sam"))
    broken = promises.filter(state="broken").first()
    asking = Ticket.objects.get(subject="Price for a bigger pack")
    pages = {
        reverse("sales:commitments") + "?view=broken": broken.description,
        reverse("sales:commitments") + "?view=due_soon": "Open",
        reverse("sales:agreements") + "?ending=1": ending.first().name,
        reverse("sales:leads") + "?state=won": "Won from leads born in service",
        reverse("sales:lead", args=[born_in_service.first().pk]): "What the customer is worth",
        reverse("desk:customer", args=[broken.customer_id]): broken.description,
        reverse("desk:ticket", args=[asking.pk]): "The customer may want to buy",
        reverse("sales:lead_new", args=[asking.customer_id]): "Often bought with theirs",
    }
    for url, shown in pages.items():
        response = sam.get(url)
        assert response.status_code == 200, url
        assert escape(shown) in response.content.decode(), url
