from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from nextorder.crm.models import Customer, Order, OrderLine
from nextorder.demo.data import CDNOW_LAST_DAY, cdnow_shift_days
from nextorder.desk.models import (
    AssignmentRule,
    CallRecord,
    ClockState,
    Macro,
    Message,
    SavedView,
    SlaPolicy,
    Ticket,
    TicketSla,
    TicketTag,
)
from nextorder.desk.search import SearchFilters, search
from nextorder.followup.models import FollowupTask, Referral, Survey
from nextorder.insight.coverage import coverage_report
from nextorder.insight.selectors import StaffingTarget, staffing_plan
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
        CallRecord.objects.count(),
    )

    call_command("demo", "--no-serve", "--tickets", "60", verbosity=0)

    # CDNOW's customers and orders, and the Shopify sample's (tests/crm/exports.py).
    # 60 conversations, a duplicate merged into one of them, and three of shop customers
    # asking to buy (demo/data.py).
    # The follow-up's referred customer came with their first order.
    assert counts[:3] == (2357 + 42 + 1, 6919 + 120 + 1, 60 + 1 + 3)
    # The Shopify sample's 246 lines, and made-up CDs adding up to each CDNOW order.
    assert OrderLine.objects.filter(product__sku__startswith="CD-").exists()
    assert OrderLine.objects.exclude(product__sku__startswith="CD-").count() == 246
    totals = Order.objects.filter(item_count__gt=0, external_id__regex=r"-\d{14}-").annotate(
        lines_amount=Sum("lines__amount"), cds=Sum("lines__quantity")
    )
    # Compared in Python: SQLite sums decimals as floating point.
    assert all(round(o.lines_amount, 2) == o.amount and o.cds == o.item_count for o in totals)
    # Every conversation is about an order placed before it, a delivery soon after.
    tickets = Ticket.objects.filter(merged_into__isnull=True).select_related("order")
    assert all(t.order.placed_at < t.created_at for t in tickets if t.order)
    assert tickets.filter(order__isnull=False).count() >= 60
    cracked = tickets.filter(subject__contains="cracked")
    assert all(t.created_at - t.order.placed_at <= timedelta(days=10) for t in cracked)
    assert (
        Customer.objects.count(),
        Order.objects.count(),
        Ticket.objects.count(),
        Message.objects.count(),
        CallRecord.objects.count(),
    ) == counts
    assert set(Ticket.objects.values_list("status", flat=True)) == set(Ticket.Status.values)
    assert_staffing_shows_something(counts[4])
    assert get_user_model().objects.get(username="alex").groups.filter(name="agent").exists()
    # Triage that can be believed: the rule raises some tickets, few to Urgent.
    active = Ticket.objects.filter(status__in=Ticket.ACTIVE_STATUSES)
    urgent = active.filter(priority=Ticket.Priority.URGENT).count()
    assert urgent <= 0.10 * active.count()
    assert active.filter(priority=Ticket.Priority.HIGH).exclude(priority_reason="").exists()
    # New email finds its agent by the rules the demo sets after writing its history.
    assert AssignmentRule.objects.filter(takes_unrouted=True, method="round_robin").exists()
    # The workspace: shared macros and an agent's own, tags, a merged ticket, a saved view.
    assert Macro.objects.filter(owner__isnull=True).count() == 3
    assert Macro.objects.filter(owner__username="alex").exists()
    assert TicketTag.objects.values("tag").distinct().count() >= 3
    merged = Ticket.objects.get(merged_into__isnull=False)
    assert merged.status == Ticket.Status.CLOSED and not merged.messages.exists()
    assert merged.merged_into.messages.filter(body_text__contains="Any news?").exists()
    assert SavedView.objects.filter(owner__username="alex").exists()
    # The sales line is open on Saturdays and the service desk is not: the home page says so.
    coverage = coverage_report()
    assert coverage.sales_only[0].label == "Saturdays 09:00-17:00"
    assert coverage.sales_only[0].shares["orders"] > 0
    client = Client()
    client.force_login(get_user_model().objects.get(username="alex"))
    panel = client.get(reverse("insight:coverage_panel")).content.decode()
    assert "Saturdays 09:00-17:00: sales open, service closed" in panel
    # Follow-up: answered surveys of every standing, the tasks they open, a referral's order.
    standings = {survey.standing for survey in Survey.objects.filter(answered_at__isnull=False)}
    assert {"promoter", "detractor"} <= standings
    kinds = set(FollowupTask.objects.values_list("kind", flat=True))
    assert {FollowupTask.Kind.RECOVERY, FollowupTask.Kind.REFERRAL} <= kinds
    assert Referral.objects.filter(order__isnull=False).exists()
    # Some tickets come from the biggest spenders.
    top = Customer.objects.order_by("-total_spend")[:236]
    assert Ticket.objects.filter(customer__in=top).exists()
    # Search finds the demo's conversations and people (its writes were indexed as made).
    alex = get_user_model().objects.get(username="alex")
    ticket = Ticket.objects.order_by("-id").first()
    found = search(user=alex, query=ticket.subject, filters=SearchFilters())
    assert ticket.pk in [hit.ticket.pk for hit in found.tickets]
    by_name = search(user=alex, query=ticket.customer.name, filters=SearchFilters())
    assert ticket.customer in by_name.customers

    # Service levels: policies on service hours, and clocks met, missed and running.
    assert set(SlaPolicy.objects.values_list("name", flat=True)) == {"Urgent", "High", "Normal"}
    states = set(TicketSla.objects.values_list("first_response_state", flat=True))
    assert {ClockState.MET, ClockState.RUNNING} <= states
    assert TicketSla.objects.filter(resolution_state=ClockState.MET).exists()


def assert_staffing_shows_something(counts_of_calls: int) -> None:
    """Weeks of calls, a forecast, and the lunch hour short of agents."""
    assert counts_of_calls > 2000
    last_week = timezone.localdate() - timedelta(weeks=1)
    plan = staffing_plan(week=last_week, target=StaffingTarget())
    assert plan.gaps > 0
    assert sum(row.measured.offered for row in plan.intervals) > 500
    assert any(row.measured.abandoned for row in plan.intervals)
    assert max(row.forecast_calls for row in plan.intervals) > 20


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
