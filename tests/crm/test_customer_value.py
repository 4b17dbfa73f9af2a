"""A scored customer's value as the agent reads it: worth if still buying, the chance
they are, worth now, at risk, and the next step, consistent with each other."""

from __future__ import annotations

from decimal import Decimal

import pytest

from nextorder.crm.models import Customer
from nextorder.crm.selectors import customer_value


def scored(*, orders: int, spend: str, clv: str, at_risk: str, p_alive: float) -> Customer:
    return Customer(
        name="X",
        order_count=orders,
        total_spend=Decimal(spend),
        clv_12m=Decimal(clv),
        value_at_risk=Decimal(at_risk),
        p_alive=p_alive,
    )


def test_not_scored_says_nothing():
    assert customer_value(customer=Customer(name="New")) is None


@pytest.mark.parametrize(
    ("customer", "step"),
    [
        (scored(orders=6, spend="300", clv="150", at_risk="50", p_alive=0.75), "Keep"),
        (scored(orders=4, spend="200", clv="12.49", at_risk="925.57", p_alive=0.013), "Win back"),
        (scored(orders=3, spend="300", clv="1", at_risk="20", p_alive=0.05), "Nothing to do"),
        # BG/NBD: a one-time buyer is "alive" by assumption, however long ago they bought.
        (scored(orders=1, spend="40", clv="35", at_risk="0", p_alive=1.0), "Win a second order"),
    ],
)
def test_the_next_step(customer, step):
    value = customer_value(customer=customer)
    assert value is not None and value.step == step


def test_the_figures_agree_with_each_other():
    """The report's contradiction ('12-month value 12.49 · value at risk 925.57') reads
    as one story: 938.06 if still buying, 1% likely, so 12.49 now and 925.57 at risk."""
    value = customer_value(
        customer=scored(orders=4, spend="200", clv="12.49", at_risk="925.57", p_alive=0.013)
    )
    assert value is not None
    assert value.if_buying == value.now + value.at_risk == Decimal("938.06")
    assert value.explanation == (
        "Worth USD 938.06 over the next 12 months if still buying, and 1% likely to be: "
        "USD 12.49 now, USD 925.57 at risk."
    )
