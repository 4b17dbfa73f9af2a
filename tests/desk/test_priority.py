from __future__ import annotations

from decimal import Decimal

import pytest

from nextorder.crm.models import Customer
from nextorder.desk.models import Ticket
from nextorder.desk.priority import PriorityRule, decide_priority, reads_angry
from nextorder.desk.services import (
    priority_calibrate,
    ticket_open,
    ticket_receive_message,
    ticket_update,
    tickets_refresh_value_at_risk,
)

RULE = PriorityRule(top_value_at_risk=Decimal(200), described="top 10% of customers")


@pytest.mark.parametrize(
    ("text", "angry"),
    [
        ("This is unacceptable, I want a refund.", True),
        ("Still not here. This is ridiculous!!", True),
        ("Second time this happened, terrible service", True),
        ("Could you send me the invoice please?", False),
        ("Thanks, the refund arrived.", False),  # one word, calm
        ("I'd like to cancel my order and get a refund, please.", False),  # friction only
        ("The worst part is choosing which one to buy next.", False),  # one word, no anger
        ("Still not arrived. I'm FURIOUS", True),
    ],
)
def test_reads_angry(text, angry):
    assert reads_angry(text) is angry


@pytest.mark.parametrize(
    ("current", "value", "text", "expected"),
    [
        (1, None, "Where is my parcel?", 1),
        (1, Decimal(150), "Where is my parcel?", 1),  # below the top customers
        (1, Decimal(250), "Where is my parcel?", 2),  # one signal: High
        (1, Decimal(10), "Unacceptable, second time!!", 2),
        (1, Decimal(250), "Unacceptable, second time!!", 3),  # both: Urgent
        (0, None, "Unacceptable, second time!!", 2),
        (3, None, "hello", 3),  # never lowers
    ],
)
def test_rule(current, value, text, expected):
    decision = decide_priority(current=current, value_at_risk=value, text=text, rule=RULE)
    assert decision.priority == expected
    assert (decision.reason != "") == (expected > current)


@pytest.mark.django_db
def test_scoring_calibrates_the_rule_on_the_customer_base(agent):
    """The top 10% of scored customers by value at risk are the "most valuable" ones,
    whatever the amounts: each scoring recalibrates, and nobody with value is nothing."""
    assert priority_calibrate() is None  # nobody scored: the configured amount holds
    assert PriorityRule.current().top_value_at_risk == Decimal(200)
    Customer.objects.bulk_create(
        Customer(name=f"C{n}", value_at_risk=Decimal(n)) for n in range(1, 101)
    )
    calibration = priority_calibrate()
    assert calibration is not None and calibration.top_value_at_risk == Decimal(91)
    rule = PriorityRule.current()
    assert decide_priority(current=1, value_at_risk=Decimal(91), text="", rule=rule).reason == (
        "High: value at risk 91.00 (top 10% of customers)"
    )
    assert decide_priority(current=1, value_at_risk=Decimal(90), text="", rule=rule).priority == 1


@pytest.mark.django_db
def test_an_angry_valuable_quiet_customer_is_answered_first(customer, agent):
    Customer.objects.filter(pk=customer.pk).update(value_at_risk=Decimal("320.00"))
    customer.refresh_from_db()
    calm_nobody = ticket_open(
        customer=Customer.objects.create(name="New"), subject="Invoice", body_text="Please send it."
    )

    angry = ticket_open(
        customer=customer, subject="Again broken", body_text="Unacceptable, I am disappointed."
    )

    assert calm_nobody.priority == Ticket.Priority.NORMAL and calm_nobody.priority_reason == ""
    assert angry.priority == Ticket.Priority.URGENT
    assert "value at risk 320.00 (at least 200.00)" in angry.priority_reason
    assert "angry tone" in angry.priority_reason
    assert angry.value_at_risk == Decimal("320.00")


@pytest.mark.django_db
def test_an_angry_follow_up_raises_but_an_agents_choice_is_kept(ticket, agent, contact):
    ticket_update(ticket=ticket, actor=agent, expected_version=1, priority=Ticket.Priority.LOW)
    assert ticket.priority_reason == "Set by agent1"  # the agent's choice, not the rule's

    ticket_receive_message(ticket=ticket, contact=contact, body_text="Thanks, all good.")
    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.LOW

    ticket_receive_message(
        ticket=ticket, contact=contact, body_text="It broke AGAIN, this is ridiculous!!"
    )
    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.HIGH
    assert ticket.priority_reason == "High: angry tone"


@pytest.mark.django_db
def test_refreshing_value_at_risk_touches_active_tickets_only(ticket, agent, customer):
    solved = ticket_open(customer=customer, subject="old", body_text="x")
    ticket_update(ticket=solved, actor=agent, expected_version=1, status=Ticket.Status.SOLVED)
    Customer.objects.filter(pk=customer.pk).update(value_at_risk=Decimal("75.50"))

    changed = tickets_refresh_value_at_risk(customer_ids_sql=str(customer.pk))

    assert changed == 1
    ticket.refresh_from_db()
    solved.refresh_from_db()
    assert (ticket.value_at_risk, solved.value_at_risk) == (Decimal("75.50"), Decimal("0.00"))
