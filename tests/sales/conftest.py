from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from nextorder.sales.services import commitment_create


@pytest.fixture
def make_promise(customer, sales_user):
    def make(*, due_in: timedelta, owner=None, **fields):
        return commitment_create(
            customer=customer,
            description=fields.pop("description", "Install the machine"),
            owner=owner or sales_user,
            due_at=timezone.now() + due_in,
            actor=sales_user,
            **fields,
        )

    return make
