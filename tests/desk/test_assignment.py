"""Assignment rules: who gets a new ticket, through every door a ticket comes in by."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from nextorder.core.models import Event, Team, Verb
from nextorder.crm.models import Product
from nextorder.crm.services import OrderLineSpec, order_create, order_lines_add
from nextorder.desk.assignment import agent_skill_add, assignment_rule_set
from nextorder.desk.language import guess_language
from nextorder.desk.mail.inbound import mail_receive
from nextorder.desk.models import AgentSkill, AssignmentRule, InboundMail, Ticket
from nextorder.desk.services import ticket_open, ticket_update
from tests.desk.mail_factory import customer_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(agent, other_agent, sales_user) -> Team:
    team = Team.objects.create(name="Orders")
    # A sales user in the team reads tickets but never works them: never assigned.
    team.members.add(agent, other_agent, sales_user)
    return team


def open_one(customer, contact, *, team=None, text="It is late.", **extra) -> Ticket:
    return ticket_open(
        customer=customer,
        contact=contact,
        subject="Help",
        body_text=text,
        team=team,
        channel=Ticket.Channel.WEB_FORM,
        **extra,
    )


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Hallo, ich habe meine Bestellung nicht bekommen und die Lieferung ist nicht da.", "de"),
        (
            "Bonjour, je n'ai pas reçu ma commande et le colis est perdu, merci pour votre aide",
            "fr",
        ),
        ("Hello, my order has not arrived and the tracking page is stuck. Please help.", "en"),
        ("ok", ""),
        ("#1042 #1043 12.99", ""),
    ],
)
def test_the_language_is_guessed_or_left_open(text, language):
    assert guess_language(text) == language


def test_round_robin_takes_turns_among_those_who_work_tickets(
    lead, team, agent, other_agent, customer, contact
):
    assignment_rule_set(
        team=team, method="round_robin", use_skills=False, takes_unrouted=False, actor=lead
    )
    got = [open_one(customer, contact, team=team).assignee for _ in range(4)]
    assert got == [agent, other_agent, agent, other_agent] or got == [
        other_agent,
        agent,
        other_agent,
        agent,
    ]
    assert AssignmentRule.objects.get(team=team).last_assigned == got[-1]


def test_fewest_open_tickets_wins(lead, team, agent, other_agent, customer, contact):
    for _ in range(2):
        open_one(customer, contact, team=team)
    busy = Ticket.objects.filter(team=team)
    busy.update(assignee=agent)
    assignment_rule_set(
        team=team, method="least_open", use_skills=False, takes_unrouted=False, actor=lead
    )
    assert open_one(customer, contact, team=team).assignee == other_agent


def test_skills_in_the_customers_language_and_products_come_first(
    lead, team, agent, other_agent, customer, contact
):
    assignment_rule_set(
        team=team, method="round_robin", use_skills=True, takes_unrouted=False, actor=lead
    )
    agent_skill_add(user=other_agent, kind="language", value="DE", actor=lead)
    german = "Hallo, ich habe meine Bestellung nicht bekommen, bitte helfen Sie mir."
    assert open_one(customer, contact, team=team, text=german).assignee == other_agent
    assert open_one(customer, contact, team=team, text=german).assignee == other_agent

    order = order_create(
        customer=customer,
        placed_at=datetime(2026, 11, 1, tzinfo=UTC),
        amount=Decimal("12.99"),
        external_id="#77",
    )
    disc = Product.objects.create(sku="CD-77", name="Night Trains", price=Decimal("12.99"))
    order_lines_add(lines={order: [OrderLineSpec(product=disc, quantity=1, unit_price=disc.price)]})
    agent_skill_add(user=agent, kind="product", value="night trains", actor=lead)
    about = open_one(customer, contact, team=team, text="My order #77 skips on track 3.")
    assert about.order == order and about.assignee == agent


def test_a_hand_picked_agent_and_a_manual_team_are_left_alone(
    lead, team, agent, other_agent, customer, contact
):
    assert open_one(customer, contact, team=team).assignee is None  # no rule: by hand
    assignment_rule_set(
        team=team, method="round_robin", use_skills=False, takes_unrouted=False, actor=lead
    )
    routed = open_one(customer, contact)
    assert routed.team is None and routed.assignee is None  # no team takes unrouted ones
    ticket = open_one(customer, contact, team=team)
    ticket_update(ticket=ticket, actor=lead, expected_version=ticket.version, assignee=None)
    ticket_update(ticket=ticket, actor=lead, expected_version=ticket.version, team=None)
    ticket.refresh_from_db()
    assert ticket.assignee is None and ticket.team is None


def test_email_without_a_team_goes_to_the_unrouted_team_and_its_rule(
    lead, team, agent, other_agent, contact
):
    assignment_rule_set(
        team=team, method="least_open", use_skills=False, takes_unrouted=True, actor=lead
    )
    outcome = mail_receive(
        raw=customer_email(sender="Ada <ada@example.com>"), source=InboundMail.Source.SMTP
    )
    assert outcome.ticket is not None
    ticket = Ticket.objects.get(pk=outcome.ticket.pk)
    assert ticket.team == team and ticket.assignee in (agent, other_agent)
    opened = Event.objects.get(verb=Verb.TICKET_OPENED, subject_id=ticket.pk)
    assert opened.after["assignee"] == ticket.assignee.username


def test_a_lead_routing_a_ticket_to_a_team_lets_its_rule_pick(
    lead, team, agent, other_agent, customer, contact
):
    ticket = open_one(customer, contact)
    assignment_rule_set(
        team=team, method="round_robin", use_skills=False, takes_unrouted=False, actor=lead
    )
    ticket_update(ticket=ticket, actor=lead, expected_version=ticket.version, team=team)
    ticket.refresh_from_db()
    assert ticket.assignee in (agent, other_agent)
    changed = Event.objects.filter(verb=Verb.TICKET_UPDATED).latest("id")
    assert changed.after == {"team": "Orders", "assignee": ticket.assignee.username}


def test_one_team_takes_the_unrouted_tickets(lead, team):
    other = Team.objects.create(name="Billing")
    assignment_rule_set(
        team=team, method="manual", use_skills=False, takes_unrouted=True, actor=lead
    )
    assignment_rule_set(
        team=other, method="manual", use_skills=False, takes_unrouted=True, actor=lead
    )
    assert list(
        AssignmentRule.objects.filter(takes_unrouted=True).values_list("team__name", flat=True)
    ) == ["Billing"]


def test_only_leads_set_rules_and_skills(agent, team):
    with pytest.raises(ValidationError):
        assignment_rule_set(
            team=team, method="round_robin", use_skills=False, takes_unrouted=False, actor=agent
        )
    with pytest.raises(ValidationError):
        agent_skill_add(user=agent, kind="language", value="de", actor=agent)


def test_the_assignment_page(client, lead, agent, team):
    client.force_login(lead)
    url = reverse("desk:assignment")
    assert "Orders" in client.get(url).content.decode()
    saved = client.post(
        url,
        {
            "action": "rule",
            "team": team.pk,
            f"team{team.pk}-method": "least_open",
            f"team{team.pk}-use_skills": "on",
        },
    )
    assert saved.status_code == 302
    assert AssignmentRule.objects.get(team=team).method == "least_open"
    bad = client.post(url, {"action": "rule", "team": team.pk, f"team{team.pk}-method": "x"})
    assert bad.status_code == 400
    added = client.post(
        url, {"action": "add_skill", "user": agent.pk, "kind": "language", "value": "fr"}
    )
    assert added.status_code == 302
    skill = AgentSkill.objects.get(user=agent)
    again = client.post(
        url, {"action": "add_skill", "user": agent.pk, "kind": "language", "value": "FR"}
    )
    assert again.status_code == 400 and AgentSkill.objects.count() == 1
    assert client.post(url, {"action": "remove_skill", "skill": skill.pk}).status_code == 302
    assert not AgentSkill.objects.exists()
    assert client.post(url, {"action": "remove_skill", "skill": "1" * 30}).status_code == 404
    assert client.post(url, {"action": "nonsense"}).status_code == 400
    client.force_login(agent)
    assert client.get(url).status_code == 403
