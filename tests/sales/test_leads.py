"""Leads: where they come from, how they close, and the revenue born in service; the
upsell suggestion read from products bought together."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Customer, Order, OrderLine, Product
from nextorder.sales.models import Lead, ProductAffinity
from nextorder.sales.selectors import lead_revenue, upsell_suggestions
from nextorder.sales.services import (
    lead_create,
    lead_lose,
    lead_win,
    product_affinities_refresh,
    suggestion_checked,
)

pytestmark = pytest.mark.django_db


def test_a_lead_from_a_ticket_must_name_the_ticket(customer, agent):
    with pytest.raises(ValidationError, match="names the ticket"):
        lead_create(customer=customer, title="More", source=Lead.Source.TICKET, actor=agent)
    lead = lead_create(
        customer=customer, title="More", source=Lead.Source.TICKET, ticket_id=7, actor=agent
    )
    event = Event.objects.get(verb=Verb.LEAD_CREATED)
    assert (event.customer_id, event.after["ticket"], event.after["source"]) == (
        customer.pk,
        7,
        "ticket",
    )
    assert lead.state == Lead.State.OPEN


def test_a_lead_closes_once(customer, sales_user):
    lead = lead_create(customer=customer, title="Second grinder", actor=sales_user)
    order = customer.orders.first()
    won = lead_win(lead=lead, actor=sales_user, amount=order.amount, order=order)
    assert (won.state, won.won_amount, won.order) == (Lead.State.WON, order.amount, order)
    with pytest.raises(ValidationError, match="already won"):
        lead_lose(lead=lead, actor=sales_user)


def test_revenue_of_leads_born_in_service_is_reported_apart(customer, sales_user):
    for source, amount in (
        (Lead.Source.TICKET, "120.00"),
        (Lead.Source.TICKET, "30.00"),
        (Lead.Source.RENEWAL, "500.00"),
        (Lead.Source.MANUAL, "1000.00"),
    ):
        lead = lead_create(
            customer=customer, title="x", source=source, ticket_id=1, actor=sales_user
        )
        lead_win(lead=lead, actor=sales_user, amount=Decimal(amount))
    lost = lead_create(customer=customer, title="y", source="ticket", ticket_id=2, actor=sales_user)
    lead_lose(lead=lost, actor=sales_user)
    lead_create(customer=customer, title="z", source="referral", actor=sales_user)

    report = lead_revenue()

    assert report.service_won_amount == Decimal("650.00")
    assert report.service_won == 3
    rows = {row.source: row for row in report.by_source}
    assert (rows["ticket"].won, rows["ticket"].lost, rows["ticket"].win_rate) == (2, 1, 2 / 3)
    assert rows["manual"].won_amount == Decimal("1000.00") and not rows["manual"].born_in_service
    assert (rows["referral"].open, rows["referral"].win_rate) == (1, None)


def _order(customer: Customer, number: int, *products: Product) -> Order:
    order = Order.objects.create(
        customer=customer,
        external_id=f"CO-{customer.pk}-{number}",
        placed_at=datetime(2026, 1, number, tzinfo=UTC),
        amount=Decimal(10 * len(products)),
    )
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=p, unit_price=10, amount=10) for p in products
    )
    return order


@pytest.fixture
def catalogue(db) -> dict[str, Product]:
    names = {"M": "Machine", "B": "Beans", "F": "Filters", "C": "Cleaner", "X": "Cups"}
    return {sku: Product.objects.create(sku=sku, name=name, price=5) for sku, name in names.items()}


def test_suggestions_are_what_others_bought_with_the_customers_products(catalogue, customer):
    p = catalogue
    others = [Customer.objects.create(name=f"Other {i}") for i in range(4)]
    # Machine with beans in three orders, with filters in two, with cleaner in one.
    _order(others[0], 1, p["M"], p["B"], p["F"])
    _order(others[1], 2, p["M"], p["B"], p["F"])
    _order(others[2], 3, p["M"], p["B"], p["C"])
    _order(others[3], 4, p["X"], p["C"])
    _order(customer, 5, p["M"])

    assert product_affinities_refresh() > 0
    assert ProductAffinity.objects.get(product=p["M"], other=p["B"]).orders == 3
    assert not ProductAffinity.objects.filter(product=p["M"], other=p["C"]).exists()

    suggestions = upsell_suggestions(customer=customer)
    assert [(s.product.sku, s.with_product.sku, s.orders) for s in suggestions] == [
        ("B", "M", 3),
        ("F", "M", 2),
    ]
    assert "Customers who bought Machine often add Beans" in suggestions[0].text

    # Only the products most often bought with each are kept: a page reads a few rows.
    product_affinities_refresh(per_product=1)
    assert list(ProductAffinity.objects.filter(product=p["M"]).values_list("other__sku")) == [
        ("B",)
    ]
    product_affinities_refresh()

    # What the customer has bought since is no longer suggested.
    _order(customer, 6, p["B"])
    assert [s.product.sku for s in upsell_suggestions(customer=customer)] == ["F"]


def test_a_suggestion_never_points_to_another_seller(catalogue, customer):
    p = catalogue
    p["B"].name = "Beans (cheaper at rival-beans.com)"
    p["B"].save()
    for number in (1, 2):
        _order(Customer.objects.create(name=f"O{number}"), number, p["M"], p["B"], p["F"])
    _order(customer, 3, p["M"])
    product_affinities_refresh()
    assert [s.product.sku for s in upsell_suggestions(customer=customer)] == ["F"]


@override_settings(NEXTORDER_OWN_DOMAINS=["shop.example"])
def test_suggested_text_is_checked_against_the_shops_own_domains():
    assert suggestion_checked("See https://shop.example/beans") == "See https://shop.example/beans"
    with pytest.raises(ValidationError, match=r"other-shop\.com"):
        suggestion_checked("Or try other-shop.com")


def test_no_order_lines_no_suggestions(customer):
    assert product_affinities_refresh() == 0
    assert upsell_suggestions(customer=customer) == []
