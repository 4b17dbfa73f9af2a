from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from hypothesis import settings

from nextorder.core.roles import AGENT, LEAD, MANAGER, SALES
from nextorder.core.services import user_create
from nextorder.crm.models import Contact, Customer
from nextorder.crm.services import contact_create, order_create
from nextorder.desk.models import Ticket
from nextorder.desk.services import ticket_open
from tests.mail_server import smtp_server  # noqa: F401 - a fixture for every test

# Hypothesis explores new inputs on every developer's run; CI replays a fixed sequence,
# so that what lands is what was tested. `.ci/run` sets HYPOTHESIS_PROFILE=ci.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate limits count in the cache, which outlives a test: every test starts at zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_user(db):
    def make(username: str, role: str):
        return user_create(username=username, role=role, password="pw-for-tests-1")

    return make


@pytest.fixture
def agent(make_user):
    return make_user("agent1", AGENT)


@pytest.fixture
def other_agent(make_user):
    return make_user("agent2", AGENT)


@pytest.fixture
def lead(make_user):
    return make_user("lead1", LEAD)


@pytest.fixture
def sales_user(make_user):
    return make_user("sales1", SALES)


@pytest.fixture
def manager(make_user):
    return make_user("manager1", MANAGER)


@pytest.fixture
def customer(db) -> Customer:
    customer = Customer.objects.create(name="Ada Buyer", external_id="C-1")
    for day, amount in ((1, "20.00"), (15, "35.50")):
        order_create(
            customer=customer,
            placed_at=datetime(2026, 3, day, tzinfo=UTC),
            amount=Decimal(amount),
            external_id=f"O-{day}",
        )
    customer.refresh_from_db()
    return customer


@pytest.fixture
def contact(customer) -> Contact:
    return contact_create(customer=customer, name="Ada", emails=["Ada@Example.com"])


@pytest.fixture
def ticket(customer, contact) -> Ticket:
    return ticket_open(
        customer=customer, contact=contact, subject="Where is my order?", body_text="It is late."
    )
