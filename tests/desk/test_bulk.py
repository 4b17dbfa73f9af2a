from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Customer
from nextorder.desk.bulk import (
    BulkAction,
    saved_view_delete,
    saved_view_save,
    tickets_bulk_change,
)
from nextorder.desk.models import SavedView, Ticket
from nextorder.desk.services import ticket_open, ticket_update
from nextorder.desk.tags import tag_get_or_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(customer, contact, ticket, other_agent, lead) -> list[Ticket]:
    """Three tickets: unassigned, another agent's, and one already solved."""
    others = ticket_open(customer=customer, contact=contact, subject="B", body_text="b")
    ticket_update(ticket=others, actor=lead, expected_version=others.version, assignee=other_agent)
    solved = ticket_open(customer=customer, contact=contact, subject="C", body_text="c")
    ticket_update(ticket=solved, actor=lead, expected_version=solved.version, status="solved")
    return [ticket, others, solved]


def test_an_agent_takes_what_they_may_and_is_told_what_was_skipped(three, agent, other_agent):
    mine, others, solved = three
    outcome = tickets_bulk_change(
        ticket_ids=[t.pk for t in three] + [999_999],
        actor=agent,
        action=BulkAction.ASSIGN,
        assignee=other_agent,
    )
    # Assigning to someone else is a lead's: refused for every ticket but the one that
    # is other_agent's already.
    assert outcome.changed == []
    reasons = dict(outcome.skipped)
    assert "Only leads" in reasons[mine.pk] and "Only leads" in reasons[solved.pk]
    assert reasons[others.pk] == "already so" and reasons[999_999] == "no such ticket"

    assert Ticket.objects.get(pk=mine.pk).assignee is None
    assert outcome.summary().startswith("0 tickets changed; skipped: #")
    # Taking tickets is every agent's.
    outcome = tickets_bulk_change(
        ticket_ids=[t.pk for t in three], actor=agent, action=BulkAction.ASSIGN, assignee=agent
    )
    assert sorted(outcome.changed) == sorted(t.pk for t in three)
    assert Ticket.objects.filter(assignee=agent).count() == 3


def test_a_lead_assigns_all_and_status_and_tags_skip_what_is_already_so(three, lead, agent):
    outcome = tickets_bulk_change(
        ticket_ids=[t.pk for t in three], actor=lead, action=BulkAction.ASSIGN, assignee=agent
    )
    assert len(outcome.changed) == 3
    outcome = tickets_bulk_change(
        ticket_ids=[t.pk for t in three], actor=lead, action=BulkAction.STATUS, status="solved"
    )
    assert len(outcome.changed) == 2 and dict(outcome.skipped) == {three[2].pk: "already so"}
    tag = tag_get_or_create(name="Wave 1", actor=lead)
    outcome = tickets_bulk_change(
        ticket_ids=[three[0].pk], actor=lead, action=BulkAction.TAG, tag=tag
    )
    outcome = tickets_bulk_change(
        ticket_ids=[t.pk for t in three], actor=lead, action=BulkAction.TAG, tag=tag
    )
    assert len(outcome.changed) == 2 and dict(outcome.skipped) == {three[0].pk: "already so"}
    assert Event.objects.filter(verb=Verb.TICKET_TAGGED).count() == 3


def test_bulk_merge_goes_into_the_oldest_and_refuses_a_reader(three, agent, sales_user):
    stranger = Customer.objects.create(name="Bo Other")
    theirs = ticket_open(
        customer=stranger, subject="Hi", body_text="x", channel="agent", actor=agent
    )
    with pytest.raises(PermissionDenied):
        tickets_bulk_change(
            ticket_ids=[t.pk for t in three], actor=sales_user, action=BulkAction.MERGE
        )
    with pytest.raises(ValidationError):
        tickets_bulk_change(ticket_ids=[three[0].pk], actor=agent, action=BulkAction.MERGE)
    outcome = tickets_bulk_change(
        ticket_ids=[t.pk for t in three] + [theirs.pk], actor=agent, action=BulkAction.MERGE
    )
    assert outcome.target == three[0].pk and sorted(outcome.changed) == [three[1].pk, three[2].pk]
    assert "different customers'" in dict(outcome.skipped)[theirs.pk]
    assert three[0].messages.count() == 3
    again = tickets_bulk_change(
        ticket_ids=[t.pk for t in three], actor=agent, action=BulkAction.STATUS, status="open"
    )
    assert dict(again.skipped)[three[1].pk] == f"merged into #{three[0].pk}"


def test_the_queue_bulk_form_reports_changed_and_skipped(client, three, agent, other_agent):
    client.force_login(agent)
    response = client.post(
        reverse("desk:queue_bulk"),
        {
            "ticket": [str(t.pk) for t in three] + ["x", "²"],
            "action": "assign",
            "assignee": str(other_agent.pk),
            "query": "status=new&status=open",
        },
        follow=True,
    )
    html = response.content.decode()
    assert response.redirect_chain[0][0] == "/desk/?status=new&status=open"
    assert "0 tickets changed; skipped: #" in html and "Only leads" in html
    assert f"#{three[1].pk}: already so" in html


def test_saved_views_keep_only_the_filters_and_are_their_owners(agent, other_agent, client):
    view = saved_view_save(
        owner=agent, name="  My   urgent ", query="status=new&after=abc&team=2&x=1&sort=age"
    )
    assert view.name == "My urgent" and view.query == "status=new&team=2&sort=age"
    assert saved_view_save(owner=agent, name="My urgent", query="tag=3").pk == view.pk
    with pytest.raises(PermissionDenied):
        saved_view_delete(view=view, actor=other_agent)
    client.force_login(agent)
    html = client.get(reverse("desk:queue")).content.decode()
    assert 'href="/desk/?tag=3">My urgent</a>' in html
    client.force_login(other_agent)
    response = client.post(reverse("desk:saved_view_delete", args=[view.pk]))
    assert response.status_code == 404 and SavedView.objects.filter(pk=view.pk).exists()
