"""State changes that start from customer value: follow-ups with customers at risk."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from nextorder.crm.models import Customer
from nextorder.desk.models import Ticket
from nextorder.desk.services import ticket_open, ticket_update


@transaction.atomic
def customer_follow_up_open(*, customer: Customer, actor: User, note: str = "") -> Ticket:
    """A ticket assigned to the one who opened it, carrying why the customer is at risk,
    so the follow-up sits in their queue and on the customer's timeline."""
    facts = [
        f"Value at risk: {customer.value_at_risk:,.2f}"
        if customer.value_at_risk is not None
        else "",
        f"P(alive): {customer.p_alive:.0%}" if customer.p_alive is not None else "",
        customer.value_reason,
        note.strip(),
    ]
    ticket = ticket_open(
        customer=customer,
        contact=customer.contacts.first(),
        subject=f"Follow-up with {customer.name}: at risk",
        body_text="\n".join(fact for fact in facts if fact),
        channel=Ticket.Channel.AGENT,
        priority=Ticket.Priority.HIGH,
        actor=actor,
    )
    ticket_update(ticket=ticket, actor=actor, expected_version=ticket.version, assignee=actor)
    return ticket
