"""Staff roles decide admin access; every change of role or record writes its event."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from nextorder.core.models import Event, Verb
from nextorder.core.roles import AGENT, MANAGER, SALES
from nextorder.core.services import user_create, user_role_set
from nextorder.crm.services import customer_create, customer_update, order_create

pytestmark = pytest.mark.django_db


def test_staff_status_follows_the_role():
    user = user_create(username="kim", role=AGENT, password="pw-for-tests-1")
    assert not user.is_staff
    user_role_set(user=user, role=MANAGER)
    assert user.is_staff
    user_role_set(user=user, role=SALES)
    assert not user.is_staff
    assert list(user.groups.values_list("name", flat=True)) == [SALES]
    changes = Event.objects.filter(verb=Verb.USER_ROLE_SET, subject_id=user.pk)
    assert [e.after["roles"] for e in changes.order_by("id")] == [[AGENT], [MANAGER], [SALES]]


def test_an_unknown_role_is_refused():
    with pytest.raises(ValidationError, match="Unknown role"):
        user_create(username="kim", role="owner", password="pw-for-tests-1")


def test_customer_and_order_services_write_events(manager):
    customer = customer_create(name="Lena Ortiz", actor=manager)
    customer_update(customer=customer, name="Lena Ortiz-Baum", actor=manager)
    customer_update(customer=customer, name="Lena Ortiz-Baum", actor=manager)  # no change
    order_create(
        customer=customer,
        placed_at=datetime(2026, 11, 2, tzinfo=UTC),
        amount=Decimal("42.00"),
        external_id="A-1",
    )
    timeline = Event.objects.filter(customer_id=customer.pk).order_by("id")
    assert [e.verb for e in timeline] == [
        Verb.CUSTOMER_CREATED,
        Verb.CUSTOMER_UPDATED,
        Verb.ORDER_CREATED,
    ]
    assert timeline[1].before == {"name": "Lena Ortiz"}
    assert timeline[1].actor == manager
    assert timeline[2].after["amount"] == "42.00"
