"""GET /api/v1/search: the console's search, for a token."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_search_finds_a_ticket_its_customer_and_orders(api_client, sales_user, ticket, customer):
    api = api_client(sales_user)
    found = api.get("/api/v1/search", {"q": "order"}).json()
    assert [hit["ticket"]["id"] for hit in found["tickets"]] == [ticket.pk]
    assert found["more_tickets"] is False and found["cut"] is False
    by_address = api.get("/api/v1/search", {"q": "ada@example.com"}).json()
    assert [c["id"] for c in by_address["customers"]] == [customer.pk]
    assert [c["emails"] for c in by_address["contacts"]] == [["ada@example.com"]]
    order = api.get("/api/v1/search", {"q": "O-15", "kind": ["orders"]}).json()
    assert [o["external_id"] for o in order["orders"]] == ["O-15"]
    assert order["tickets"] == [] and order["customers"] == []


def test_filters_and_bounds(api_client, agent, ticket):
    api = api_client(agent)
    closed = api.get("/api/v1/search", {"q": "order", "status": ["closed"]}).json()
    assert closed["tickets"] == []
    mine = api.get("/api/v1/search", {"q": "order", "assignee": "none"}).json()
    assert [hit["ticket"]["id"] for hit in mine["tickets"]] == [ticket.pk]
    assert api.get("/api/v1/search", {"q": "x" * 1001}).status_code == 422
    assert api.get("/api/v1/search", {"q": "x", "opened_from": "0001-01-01"}).status_code == 422
    assert api.get("/api/v1/search", {"q": "x", "page": 0}).status_code == 422
    long = api.get("/api/v1/search", {"q": "order " * 100}).json()
    assert long["cut"] is True and len(long["tickets"]) == 1


def test_a_token_of_no_role_is_refused(api_client, make_user):
    nobody = make_user("norole", "agent")
    nobody.groups.clear()
    response = api_client(nobody).get("/api/v1/search", {"q": "order"})
    assert response.status_code == 403 and response.json()["detail"]
