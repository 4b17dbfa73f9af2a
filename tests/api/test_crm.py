"""Customers, contacts and orders; a shop pushing the same sale twice records it once."""

from __future__ import annotations

import pytest

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Customer, Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales_api(api_client, sales_user):
    return api_client(sales_user)


def _order(customer, **overrides):
    return {
        "external_id": "W-1",
        "customer_id": customer.pk,
        "placed_at": "2026-04-01T10:00:00+02:00",
        "amount": "19.99",
        "currency": "EUR",
        "channel": "web",
        "item_count": 2,
        **overrides,
    }


def test_the_same_order_pushed_twice_is_recorded_once(sales_api, customer):
    first = sales_api.post("/api/v1/orders", _order(customer), content_type="application/json")
    assert first.status_code == 201, first.json()
    again = sales_api.post("/api/v1/orders", _order(customer), content_type="application/json")
    assert again.status_code == 200 and again.json() == first.json()
    assert Order.objects.filter(external_id="W-1").count() == 1
    assert Event.objects.filter(verb=Verb.ORDER_CREATED, subject_id=first.json()["id"]).count() == 1
    customer.refresh_from_db()
    # A sale in EUR counts, but adds to the spend (in USD, the shop's currency) only
    # once the shop gives EUR's rate.
    assert customer.order_count == 3 and str(customer.total_spend) == "55.50"
    assert first.json()["placed_at"].startswith("2026-04-01T08:00:00")


def test_an_order_id_of_another_customer_is_refused(sales_api, customer):
    other = Customer.objects.create(name="Other")
    sales_api.post("/api/v1/orders", _order(customer), content_type="application/json")
    clash = sales_api.post("/api/v1/orders", _order(other), content_type="application/json")
    assert clash.status_code == 400 and "already recorded" in clash.json()["detail"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"amount": "-1"},
        {"amount": "1.001"},
        {"amount": "10000000000.00"},
        {"amount": "NaN"},
        {"amount": "Infinity"},
        {"placed_at": "2026-04-01T10:00:00"},  # no offset
        {"placed_at": "0001-01-01T00:00:00+05:00"},
        {"currency": "euro"},
        {"channel": "fax"},
        {"external_id": ""},
        {"external_id": "x" * 101},
        {"item_count": -1},
        {"customer_id": 2**63},
    ],
)
def test_bad_orders_are_422(sales_api, customer, overrides):
    response = sales_api.post(
        "/api/v1/orders", _order(customer, **overrides), content_type="application/json"
    )
    assert response.status_code == 422, response.content


def test_orders_of_a_customer(sales_api, customer):
    body = sales_api.get(f"/api/v1/orders?customer={customer.pk}&limit=1").json()
    assert [o["external_id"] for o in body] == ["O-15"]
    assert sales_api.get("/api/v1/orders").status_code == 422
    assert sales_api.get("/api/v1/orders?customer=987654").status_code == 404


def test_customers_search_create_and_contacts(sales_api, customer, contact):
    created = sales_api.post(
        "/api/v1/customers",
        {"name": "Adam Smith", "external_id": "C-2"},
        content_type="application/json",
    )
    assert created.status_code == 201
    names = [c["name"] for c in sales_api.get("/api/v1/customers?q=ad").json()]
    assert names == ["Ada Buyer", "Adam Smith"]
    by_email = sales_api.get("/api/v1/customers?q=ada@exa").json()
    assert [c["id"] for c in by_email] == [customer.pk]
    assert sales_api.get("/api/v1/customers?limit=101").status_code == 422
    duplicate = sales_api.post(
        "/api/v1/customers",
        {"name": "Again", "external_id": "C-2"},
        content_type="application/json",
    )
    assert duplicate.status_code == 400
    url = f"/api/v1/customers/{customer.pk}/contacts"
    added = sales_api.post(
        url, {"name": "Bea", "emails": ["Bea@Example.com"]}, content_type="application/json"
    )
    assert added.status_code == 201 and added.json()["emails"] == ["bea@example.com"]
    taken = sales_api.post(url, {"emails": ["ada@example.com"]}, content_type="application/json")
    assert taken.status_code == 400 and "already belongs" in taken.json()["detail"]
    invalid = sales_api.post(url, {"emails": ["no at sign"]}, content_type="application/json")
    assert invalid.status_code == 400
    listed = sales_api.get(url).json()
    assert sorted(c["name"] for c in listed) == ["Ada", "Bea"]
    assert sales_api.get(f"/api/v1/customers/{customer.pk}").json()["order_count"] == 2
