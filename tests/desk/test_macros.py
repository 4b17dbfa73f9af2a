from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from nextorder.core.models import Event, Team, Verb
from nextorder.crm.models import OrderLine, Product
from nextorder.crm.services import order_create
from nextorder.desk.macros import macro_apply, macro_delete, macro_save, macro_text, macros_for
from nextorder.desk.models import Macro, Message, Ticket
from nextorder.desk.services import TicketConflict
from nextorder.desk.tags import tag_get_or_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def refund(lead):
    return macro_save(
        actor=lead,
        name="Refund on its way",
        body="Dear {customer_name}, the refund for {last_order} ({last_order_products}) "
        "is on its way. {agent_name}",
        personal=False,
        set_status=Ticket.Status.SOLVED,
        set_priority=Ticket.Priority.LOW,
        add_tags=[tag_get_or_create(name="refund", actor=lead)],
    )


def test_placeholders_are_filled_from_the_ticket_and_the_agent(refund, ticket, agent, customer):
    agent.first_name, agent.last_name = "Jo", "Agent"
    order = order_create(
        customer=customer,
        placed_at=datetime(2026, 4, 2, tzinfo=UTC),
        amount=Decimal("9.99"),
        external_id="O-77",
    )
    OrderLine.objects.create(
        order=order,
        product=Product.objects.create(sku="CD-1", name="Blue Train", price=Decimal("9.99")),
        unit_price=Decimal("9.99"),
        amount=Decimal("9.99"),
    )
    text = macro_text(macro=refund, ticket=ticket, agent=agent)
    assert text == (
        "Dear Ada Buyer, the refund for O-77 of 2 April 2026 (Blue Train) is on its way. Jo Agent"
    )
    # An order whose file had no number got a made-up key no customer ever saw.
    later = order_create(
        customer=customer,
        placed_at=datetime(2026, 5, 3, tzinfo=UTC),
        amount=Decimal("5.00"),
        external_id="1084-20260503000000-5.00-0",
    )
    text = macro_text(macro=refund, ticket=ticket, agent=agent)
    assert f"the refund for No. {later.pk} of 3 May 2026" in text and "1084-" not in text


def test_unknown_placeholders_are_named_when_the_macro_is_saved(lead):
    with pytest.raises(ValidationError, match=r"\{customer\.__class__\}|\{secret\}"):
        macro_save(actor=lead, name="Bad", body="Hi {secret} {customer_name}", personal=True)
    # Attribute access is not a placeholder at all: it stays as text, never evaluated.
    macro = macro_save(actor=lead, name="Odd", body="Hi {customer.__class__}", personal=True)
    assert "{customer.__class__}" in macro.body


def test_only_leads_share_macros_and_owners_keep_personal_ones(agent, other_agent, lead):
    with pytest.raises(PermissionDenied):
        macro_save(actor=agent, name="Shared", body="Hello", personal=False)
    mine = macro_save(actor=agent, name="Mine", body="Hello {customer_name}", personal=True)
    assert list(macros_for(agent)) == [mine]
    assert list(macros_for(other_agent)) == []
    with pytest.raises(PermissionDenied):
        macro_delete(macro=mine, actor=other_agent)
    returns = Team.objects.create(name="Returns")
    returns.members.add(other_agent)
    team_macro = macro_save(
        actor=lead, name="Returns label", body="Label attached", personal=False, team=returns
    )
    assert list(macros_for(other_agent)) == [team_macro]
    assert team_macro not in macros_for(agent)
    macro_delete(macro=mine, actor=agent)
    assert Event.objects.filter(verb=Verb.MACRO_DELETED).count() == 1


def test_applying_a_macro_sends_the_reply_then_runs_its_actions(refund, ticket, agent):
    applied = macro_apply(
        ticket=ticket,
        macro=refund,
        actor=agent,
        expected_version=ticket.version,
        reply="Dear Ada, edited by me.",
    )
    ticket.refresh_from_db()
    assert applied.message is not None and applied.message.body_text == "Dear Ada, edited by me."
    assert ticket.status == Ticket.Status.SOLVED and ticket.priority == Ticket.Priority.LOW
    assert list(ticket.tags.values_list("name", flat=True)) == ["refund"]
    assert ticket.assignee == agent  # answering took it
    event = Event.objects.get(verb=Verb.MACRO_APPLIED)
    assert event.after["macro"] == "Refund on its way" and event.subject_id == ticket.pk


def test_a_macro_with_a_reply_needs_one_and_a_stale_page_changes_nothing(refund, ticket, agent):
    with pytest.raises(ValidationError, match="writes a reply"):
        macro_apply(ticket=ticket, macro=refund, actor=agent, expected_version=ticket.version)
    with pytest.raises(TicketConflict):
        macro_apply(ticket=ticket, macro=refund, actor=agent, expected_version=0, reply="Hi")
    assert not ticket.tags.exists() and Message.objects.filter(ticket=ticket).count() == 1


def test_a_macro_assigning_someone_else_is_a_leads(ticket, agent, other_agent, lead):
    escalate = macro_save(
        actor=lead, name="Escalate", body="", personal=False, set_assignee=other_agent
    )
    with pytest.raises(PermissionDenied):
        macro_apply(ticket=ticket, macro=escalate, actor=agent, expected_version=ticket.version)
    macro_apply(ticket=ticket, macro=escalate, actor=lead, expected_version=ticket.version)
    ticket.refresh_from_db()
    assert ticket.assignee == other_agent


def test_the_ticket_page_fills_the_reply_box_and_the_reply_runs_the_macro(
    client, refund, ticket, agent
):
    client.force_login(agent)
    page = client.get(reverse("desk:ticket", args=[ticket.pk]), {"macro": refund.pk})
    html = page.content.decode()
    assert "Dear Ada Buyer, the refund for O-15" in html
    assert f'name="macro" value="{refund.pk}"' in html
    assert "add the tag refund" in html  # what sending will also do
    response = client.post(
        reverse("desk:ticket_reply", args=[ticket.pk]),
        {
            "body": "Dear Ada, done.",
            "status": "solved",
            "version": ticket.version,
            "macro": refund.pk,
        },
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.SOLVED and ticket.tags.get().name == "refund"


def test_a_macro_not_shared_with_the_agent_cannot_be_used(client, ticket, agent, other_agent):
    theirs = macro_save(actor=other_agent, name="Theirs", body="", personal=True, set_priority=3)
    client.force_login(agent)
    response = client.post(
        reverse("desk:ticket_macro", args=[ticket.pk]),
        {"macro": theirs.pk, "version": ticket.version},
    )
    assert response.status_code == 404
    assert Ticket.objects.get(pk=ticket.pk).priority == ticket.priority


def test_the_macro_page_reports_an_unknown_placeholder(client, lead):
    client.force_login(lead)
    response = client.post(
        reverse("desk:macros"),
        {"name": "Typo", "body": "Hi {custmer_name}", "shared_with": "all"},
    )
    assert response.status_code == 400
    assert "Unknown placeholder {custmer_name}" in response.content.decode()
    response = client.post(
        reverse("desk:macros"),
        {"name": "Fine", "body": "Hi {customer_name}", "shared_with": "all", "add_tags": "vip"},
    )
    assert response.status_code == 302
    assert macros_for(lead).get().add_tags.get().name == "vip"


@pytest.mark.parametrize(
    "body",
    [
        "Out of stock here; try https://www.othershop.example/cd-123 instead.",
        "Write to sales@cheaper.example for a better price.",
    ],
)
def test_a_macro_never_points_a_customer_to_another_seller(lead, body):
    with pytest.raises(ValidationError, match="another seller"):
        macro_save(actor=lead, name="Elsewhere", body=body, personal=False)
    assert not Macro.objects.filter(name="Elsewhere").exists()
    own = macro_save(
        actor=lead, name="Ours", body="Reply to support@nextorder.localhost.", personal=False
    )
    assert own.pk


def test_the_macro_list_says_what_each_does_in_words(client, lead, agent):
    macro_save(
        actor=lead,
        name="Close it",
        body="",
        personal=False,
        set_status="solved",
        set_priority=3,
        add_tags=[tag_get_or_create(name="vip", actor=lead)],
    )
    client.force_login(agent)
    html = client.get(reverse("desk:macros")).content.decode()
    assert "Set the status to Solved; set the priority to Urgent; add the tag vip" in html
    assert "leads change it" in html and "; </td>" not in html
