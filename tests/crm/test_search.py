"""Finding customers by name or address: few matches are read by id and sorted, many are
left to the sort's index; either way the same customers in the same order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nextorder.core.search import search_text
from nextorder.crm import selectors
from nextorder.crm.models import Customer
from nextorder.crm.selectors import (
    CustomerSort,
    contacts_find,
    customers_list,
    customers_search,
)
from nextorder.crm.services import contact_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> list[Customer]:
    made = []
    for number, name in enumerate(["Jane Doe", "John Doe", "Joan Dorsey", "Ada Lovelace"]):
        customer = Customer.objects.create(name=name, total_spend=Decimal(10 * number))
        contact_create(
            customer=customer, name=name, emails=[f"{name.split()[0].lower()}@do.example"]
        )
        made.append(customer)
    return made


@pytest.mark.parametrize("few", [selectors.FEW_MATCHES, 1])
def test_few_and_many_matches_give_the_same_customers_in_the_sorts_order(people, monkeypatch, few):
    monkeypatch.setattr(selectors, "FEW_MATCHES", few)

    by_name = [c.name for c in customers_search(query="do")]
    by_spend = [c.name for c in customers_list(query="do", sort=CustomerSort.SPEND)]
    by_address = [c.name for c in customers_search(query="jane@do.example")]
    nobody = list(customers_search(query="zzzyqx"))
    contacts = [c.name for c in contacts_find(text=search_text("do"))]
    contact_by_address = [c.name for c in contacts_find(text=search_text("joan@do"))]

    assert by_name == ["Jane Doe", "Joan Dorsey", "John Doe"]
    assert by_spend == ["Joan Dorsey", "John Doe", "Jane Doe"]
    assert by_address == ["Jane Doe"]
    assert nobody == []
    assert contacts == ["Jane Doe", "Joan Dorsey", "John Doe"]
    assert contact_by_address == ["Joan Dorsey"]
