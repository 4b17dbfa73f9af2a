"""A token acts with its user's role: what the console refuses, the API refuses (403)."""

from __future__ import annotations

import pytest

from nextorder.desk.models import Ticket

pytestmark = pytest.mark.django_db


def test_an_agent_cannot_assign_to_others_but_may_take_a_ticket(
    api_client, agent, other_agent, ticket
):
    agent_api = api_client(agent)
    refused = agent_api.patch(
        f"/api/v1/tickets/{ticket.pk}",
        {"assignee_id": other_agent.pk, "version": ticket.version},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert "Only leads can assign" in refused.json()["detail"]
    taken = agent_api.patch(
        f"/api/v1/tickets/{ticket.pk}",
        {"assignee_id": agent.pk, "version": ticket.version},
        content_type="application/json",
    )
    assert taken.status_code == 200 and taken.json()["assignee_id"] == agent.pk


def test_a_ticket_goes_only_to_someone_who_works_tickets(api_client, lead, sales_user, ticket):
    response = api_client(lead).patch(
        f"/api/v1/tickets/{ticket.pk}",
        {"assignee_id": sales_user.pk, "version": ticket.version},
        content_type="application/json",
    )
    assert response.status_code == 400 and "cannot work tickets" in response.json()["detail"]


def test_sales_reads_tickets_but_cannot_reply_or_change_them(api_client, sales_user, ticket):
    sales_api = api_client(sales_user)
    assert sales_api.get(f"/api/v1/tickets/{ticket.pk}").status_code == 200
    reply = sales_api.post(
        f"/api/v1/tickets/{ticket.pk}/reply",
        {"body": "Hello", "version": ticket.version},
        content_type="application/json",
    )
    assert reply.status_code == 403
    change = sales_api.patch(
        f"/api/v1/tickets/{ticket.pk}",
        {"status": "solved", "version": ticket.version},
        content_type="application/json",
    )
    assert change.status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.NEW and ticket.messages.count() == 1


def test_agents_cannot_create_customers_or_orders_sales_can(
    api_client, agent, sales_user, customer
):
    customer_body = {"name": "New Co", "kind": "company"}
    order_body = {
        "external_id": "W-1",
        "customer_id": customer.pk,
        "placed_at": "2026-04-01T10:00:00Z",
        "amount": "10.00",
    }
    agent_api, sales_api = api_client(agent), api_client(sales_user)
    for url, body in (("/api/v1/customers", customer_body), ("/api/v1/orders", order_body)):
        assert agent_api.post(url, body, content_type="application/json").status_code == 403
        assert sales_api.post(url, body, content_type="application/json").status_code == 201


def test_only_managers_manage_webhooks(api_client, lead, manager):
    body = {"url": "http://127.0.0.1:9/hook", "events": ["ticket.created"]}
    lead_api = api_client(lead)
    assert lead_api.get("/api/v1/webhooks").status_code == 403
    assert (
        lead_api.post("/api/v1/webhooks", body, content_type="application/json").status_code == 403
    )
    created = api_client(manager).post("/api/v1/webhooks", body, content_type="application/json")
    assert created.status_code == 201
    assert lead_api.get(f"/api/v1/webhooks/{created.json()['id']}/deliveries").status_code == 403
