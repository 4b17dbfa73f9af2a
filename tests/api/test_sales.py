"""Promises, coverage, agreements and leads over the API, with the console's role rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from nextorder.crm.models import Product
from nextorder.sales.models import Commitment, Lead

pytestmark = pytest.mark.django_db


def _due(days: int = 2) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


def test_sales_records_a_promise_and_an_agent_marks_it_kept(
    api_client, sales_user, agent, customer
):
    sales = api_client(sales_user)
    order = customer.orders.first()
    made = sales.post(
        "/api/v1/sales/commitments",
        {
            "customer_id": customer.pk,
            "order_id": order.pk,
            "kind": "install_by",
            "description": "Install on site",
            "due_at": _due(),
        },
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["owner_id"], body["state"], body["order_id"]) == (sales_user.pk, "open", order.pk)

    agents = api_client(agent)
    refused = agents.post(
        f"/api/v1/sales/commitments/{body['id']}/break",
        {"reason": "late"},
        content_type="application/json",
    )
    assert refused.status_code == 403 and "sales.change_commitment" in refused.json()["detail"]
    kept = agents.post(
        f"/api/v1/sales/commitments/{body['id']}/keep", {}, content_type="application/json"
    )
    assert kept.status_code == 200 and kept.json()["state"] == "kept"
    again = agents.post(
        f"/api/v1/sales/commitments/{body['id']}/keep", {}, content_type="application/json"
    )
    assert again.status_code == 400 and "already kept" in again.json()["detail"]

    listed = agents.get("/api/v1/sales/commitments", {"customer": customer.pk, "state": "kept"})
    assert [c["id"] for c in listed.json()] == [body["id"]]


def test_agents_may_not_make_promises(api_client, agent, customer):
    response = api_client(agent).post(
        "/api/v1/sales/commitments",
        {"customer_id": customer.pk, "description": "x", "due_at": _due()},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Commitment.objects.exists()


def test_breaking_without_a_reason_is_a_400_with_the_reason(api_client, sales_user, customer):
    sales = api_client(sales_user)
    made = sales.post(
        "/api/v1/sales/commitments",
        {"customer_id": customer.pk, "description": "Call back", "due_at": _due()},
        content_type="application/json",
    ).json()
    response = sales.post(
        f"/api/v1/sales/commitments/{made['id']}/break", {}, content_type="application/json"
    )
    assert response.status_code == 400 and "Say why" in response.json()["detail"]


def test_an_agreement_answers_coverage_questions(api_client, sales_user, agent, customer):
    product = Product.objects.create(sku="ESP-1", name="Espresso machine", price=900)
    today = timezone.localdate()
    made = api_client(sales_user).post(
        "/api/v1/sales/agreements",
        {
            "customer_id": customer.pk,
            "name": "Care",
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=90)).isoformat(),
            "first_response_minutes": 60,
            "items": [
                {"effect": "covers", "product_id": product.pk},
                {"effect": "excludes", "product_id": product.pk, "part": "battery"},
            ],
        },
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    assert len(made.json()["items"]) == 2

    agents = api_client(agent)
    pump = agents.get("/api/v1/sales/coverage", {"customer": customer.pk, "product": product.pk})
    assert pump.json()["covered"] is True
    assert pump.json()["until"] == (today + timedelta(days=90)).isoformat()
    battery = agents.get(
        "/api/v1/sales/coverage",
        {"customer": customer.pk, "product": product.pk, "part": "battery", "kind": "repair"},
    )
    assert battery.json()["covered"] is False and "excludes" in battery.json()["reason"]
    assert agents.get("/api/v1/sales/agreements", {"customer": customer.pk}).status_code == 200


def test_a_lead_from_service_is_won_with_its_order(api_client, agent, sales_user, customer):
    made = api_client(agent).post(
        "/api/v1/sales/leads",
        {"customer_id": customer.pk, "title": "Second machine", "source": "ticket", "ticket_id": 5},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    lead_id = made.json()["id"]
    order = customer.orders.first()
    refused = api_client(agent).post(
        f"/api/v1/sales/leads/{lead_id}/win",
        {"order_id": order.pk},
        content_type="application/json",
    )
    assert refused.status_code == 403
    won = api_client(sales_user).post(
        f"/api/v1/sales/leads/{lead_id}/win",
        {"order_id": order.pk},
        content_type="application/json",
    )
    assert won.status_code == 200
    assert won.json()["won_amount"] == str(order.amount)
    assert Lead.objects.get().state == Lead.State.WON


def test_a_ticket_lead_without_its_ticket_is_a_400(api_client, agent, customer):
    response = api_client(agent).post(
        "/api/v1/sales/leads",
        {"customer_id": customer.pk, "title": "More", "source": "ticket"},
        content_type="application/json",
    )
    assert response.status_code == 400 and "names the ticket" in response.json()["detail"]
