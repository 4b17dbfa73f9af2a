"""The sales pages and the desk's panels as each role uses them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from nextorder.crm.models import Customer, Product
from nextorder.desk.services import ticket_receive_message
from nextorder.sales.models import AgreementItem, Commitment, Lead, ServiceAgreement
from nextorder.sales.services import ItemSpec, agreement_create, commitments_check, lead_create

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_promises_page_lists_mine_overdue_and_broken(make_promise, sales_user, agent):
    make_promise(due_in=timedelta(days=2), description="Mine soon")
    make_promise(due_in=-timedelta(hours=1), description="Overdue one", owner=agent)
    make_promise(due_in=-timedelta(hours=2), description="Will break")
    page = _client(sales_user)
    mine = page.get(reverse("sales:commitments")).content.decode()
    assert "Mine soon" in mine and "Overdue one" not in mine
    overdue = page.get(reverse("sales:commitments"), {"view": "overdue"}).content.decode()
    assert "Overdue one" in overdue and "Mine soon" not in overdue
    commitments_check()
    broken = page.get(reverse("sales:commitments"), {"view": "broken"}).content.decode()
    assert "Will break" in broken and "Not kept by" in broken
    odd = page.get(reverse("sales:commitments"), {"view": "\x00", "page": "9" * 30})
    assert odd.status_code == 200


def test_sales_records_a_promise_shown_on_the_customer_page(customer, sales_user, agent):
    page = _client(sales_user)
    due = (timezone.localtime() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = page.post(
        reverse("sales:commitment_new", args=[customer.pk]),
        {
            "kind": "deliver_by",
            "description": "Deliver the grinder",
            "due_at": due,
            "owner": agent.pk,
        },
    )
    assert response.status_code == 302
    promise = Commitment.objects.get()
    assert (promise.owner, promise.created_by) == (agent, sales_user)
    shown = page.get(reverse("desk:customer", args=[customer.pk])).content.decode()
    assert "Deliver the grinder" in shown


def test_an_agent_marks_a_promise_kept_from_the_ticket_but_cannot_break_it(
    ticket, make_promise, agent
):
    promise = make_promise(due_in=timedelta(days=1), description="Send the manual")
    page = _client(agent)
    ticket_url = reverse("desk:ticket", args=[ticket.pk])
    shown = page.get(ticket_url).content.decode()
    assert "Send the manual" in shown and "Mark kept" in shown and "Settle" not in shown

    refused = page.post(
        reverse("sales:commitment_state", args=[promise.pk]), {"action": "break", "reason": "x"}
    )
    assert refused.status_code == 403
    kept = page.post(
        reverse("sales:commitment_state", args=[promise.pk]),
        {"action": "keep", "next": ticket_url},
    )
    assert kept.status_code == 302 and kept["Location"] == ticket_url
    assert Commitment.objects.get().state == Commitment.State.KEPT


def test_a_state_form_never_redirects_off_the_site(make_promise, sales_user):
    promise = make_promise(due_in=timedelta(days=1))
    response = _client(sales_user).post(
        reverse("sales:commitment_state", args=[promise.pk]),
        {"action": "keep", "next": "//evil.example/"},
    )
    assert response["Location"] == reverse("desk:customer", args=[promise.customer_id])


def test_buying_intent_on_a_ticket_is_one_click_from_a_lead(ticket, agent, contact):
    ticket_receive_message(ticket=ticket, contact=contact, body_text="Do you sell the pro model?")
    page = _client(agent)
    url = reverse("desk:ticket", args=[ticket.pk])
    shown = page.get(url).content.decode()
    assert "The customer may want to buy" in shown and "do you sell" in shown.lower()

    assert page.post(reverse("desk:ticket_lead", args=[ticket.pk])).status_code == 302
    assert page.post(reverse("desk:ticket_lead", args=[ticket.pk])).status_code == 302
    lead = Lead.objects.get()
    assert (lead.source, lead.ticket_id, lead.customer, lead.created_by) == (
        Lead.Source.TICKET,
        ticket.pk,
        ticket.customer,
        agent,
    )
    assert "Do you sell" in lead.note
    assert "Open lead from this ticket" in page.get(url).content.decode()


def test_a_ticket_without_intent_still_offers_the_lead_quietly(ticket, agent):
    shown = _client(agent).get(reverse("desk:ticket", args=[ticket.pk])).content.decode()
    assert "Make a lead" in shown and "The customer may want to buy" not in shown


def test_the_lead_page_shows_the_customers_value_and_the_ticket(ticket, sales_user):
    customer = ticket.customer
    customer.p_alive, customer.clv_12m, customer.value_at_risk = 0.8, Decimal(400), Decimal(100)
    customer.save()
    lead = lead_create(
        customer=customer, title="Pro model", source="ticket", ticket_id=ticket.pk, actor=sales_user
    )
    shown = _client(sales_user).get(reverse("sales:lead", args=[lead.pk])).content.decode()
    assert "Worth USD 500.00 over the next 12 months" in shown
    assert reverse("desk:ticket", args=[ticket.pk]) in shown


def test_closing_a_lead_won_with_the_order_counts_its_amount(customer, sales_user):
    lead = lead_create(customer=customer, title="Refill", source="renewal", actor=sales_user)
    order = customer.orders.first()
    page = _client(sales_user)
    response = page.post(
        reverse("sales:lead_close", args=[lead.pk]), {"outcome": "won", "order": order.pk}
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.state, lead.won_amount, lead.order) == ("won", order.amount, order)
    report = page.get(reverse("sales:leads"), {"state": ""}).content.decode()
    assert "Won from leads born in service" in report and f"{order.amount:.2f}" in report


def test_an_agreement_with_its_lines_from_the_form(customer, sales_user):
    product = Product.objects.create(sku="ESP-1", name="Espresso machine", price=900)
    today = timezone.localdate()
    form = {
        "name": "Care",
        "plan": "gold",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=365)).isoformat(),
        "first_response_minutes": "60",
        "items-TOTAL_FORMS": "3",
        "items-INITIAL_FORMS": "0",
        "items-0-effect": "covers",
        "items-0-product": str(product.pk),
        "items-0-kind": "repair",
        "items-1-effect": "excludes",
        "items-1-product": str(product.pk),
        "items-1-part": "battery",
        "items-2-effect": "",  # left at "—": no line
    }
    response = _client(sales_user).post(reverse("sales:agreement_new", args=[customer.pk]), form)
    assert response.status_code == 302
    agreement = ServiceAgreement.objects.get()
    assert agreement.first_response_minutes == 60
    assert sorted(agreement.items.values_list("effect", "part")) == [
        ("covers", ""),
        ("excludes", "battery"),
    ]


def test_coverage_is_answered_in_place_on_the_ticket(ticket, agent, sales_user):
    product = Product.objects.create(sku="ESP-1", name="Espresso machine", price=900)
    today = timezone.localdate()
    agreement_create(
        customer=ticket.customer,
        name="Care",
        starts_on=today,
        ends_on=today + timedelta(days=10),
        actor=sales_user,
        items=[ItemSpec(effect=AgreementItem.Effect.COVERS, product=product)],
    )
    page = _client(agent)
    shown = page.get(reverse("desk:ticket", args=[ticket.pk])).content.decode()
    assert "Is it covered?" in shown and "ESP-1 Espresso machine" in shown
    answer = page.get(
        reverse("sales:coverage"),
        {"customer": ticket.customer_id, "product": product.pk, "part": "", "kind": "repair"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    text = answer.content.decode()
    assert "<html" not in text and "Covered." in text and "Care covers" in text
    bad = page.get(reverse("sales:coverage"), {"customer": "x"}, headers={"HX-Request": "true"})
    assert bad.status_code == 400 and "<html" not in bad.content.decode()


def test_coverage_reached_without_a_customer_says_where_to_ask(agent):
    page = _client(agent)

    bare = page.get(reverse("sales:coverage"))
    stranger = page.get(reverse("sales:coverage"), {"customer": 999999, "on": "soon"})

    assert bare.status_code == 400
    assert "Start from the customer&#x27;s page or a ticket of theirs." in bare.content.decode()
    assert stranger.status_code == 400
    text = stranger.content.decode()
    assert "There is no such customer." in text and "On: Enter a valid date." in text


def test_the_at_risk_list_filters_on_promises_not_kept(customer, sales_user, make_promise):
    other = Customer.objects.create(name="Kept Karl")
    Customer.objects.filter(pk__in=[customer.pk, other.pk]).update(
        value_at_risk=Decimal(50), clv_12m=Decimal(100), p_alive=0.6
    )
    make_promise(due_in=-timedelta(hours=1), description="Overdue, not yet broken")
    page = _client(sales_user)
    everyone = page.get(reverse("insight:at_risk"), {"stage": "all"}).content.decode()
    assert "Kept Karl" in everyone and customer.name in everyone
    unkept = page.get(
        reverse("insight:at_risk"), {"stage": "all", "unkept_promises": "1"}
    ).content.decode()
    assert "Kept Karl" not in unkept and customer.name in unkept
