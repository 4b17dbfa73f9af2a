from __future__ import annotations

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from nextorder.core.models import Event, Team
from nextorder.crm.selectors import customer_timeline
from nextorder.desk.models import Message, Ticket
from nextorder.desk.services import (
    TicketConflict,
    ticket_open,
    ticket_receive_message,
    ticket_reply,
    ticket_update,
)

pytestmark = pytest.mark.django_db


def ticket_events(ticket: Ticket) -> list[str]:
    return list(
        Event.objects.filter(subject_id=ticket.pk, subject_type__model="ticket")
        .order_by("occurred_at", "id")
        .values_list("verb", flat=True)
    )


def test_opening_a_ticket_writes_the_message_and_an_event(ticket, customer):
    message = ticket.messages.get()
    assert message.direction == Message.Direction.INBOUND
    assert message.message_id.startswith("<") and message.message_id.endswith(">")
    assert ticket_events(ticket) == ["ticket.opened"]
    assert Event.objects.get(verb="ticket.opened").customer_id == customer.pk


def test_first_reply_opens_the_ticket_and_threads_the_message(ticket, agent):
    inbound = ticket.messages.get()

    reply = ticket_reply(ticket=ticket, author=agent, body="On its way.", expected_version=1)

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN
    assert ticket.first_response_at == reply.sent_at
    assert ticket.version == 2
    assert reply.in_reply_to == inbound.message_id
    assert inbound.message_id in reply.references
    event = Event.objects.get(verb="ticket.replied")
    assert event.before == {"status": "new", "assignee": None}
    assert (event.after["status"], event.after["assignee"]) == ("open", "agent1")


def test_internal_note_is_not_a_first_response(ticket, agent):
    ticket_reply(ticket=ticket, author=agent, body="check stock", expected_version=1, internal=True)
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert ticket.messages.filter(direction=Message.Direction.NOTE).count() == 1


def test_empty_reply_is_refused(ticket, agent):
    with pytest.raises(ValidationError):
        ticket_reply(ticket=ticket, author=agent, body="   ", expected_version=1)
    assert ticket.messages.count() == 1


def test_stale_version_is_a_conflict_that_names_who_changed_what(ticket, agent, other_agent):
    loaded_by_second = Ticket.objects.get(pk=ticket.pk)
    ticket_update(ticket=ticket, actor=agent, expected_version=1, status=Ticket.Status.PENDING)

    with pytest.raises(TicketConflict) as caught:
        ticket_update(
            ticket=loaded_by_second,
            actor=other_agent,
            expected_version=loaded_by_second.version,
            status=Ticket.Status.SOLVED,
        )

    assert "agent1" in str(caught.value) and "status: New → Pending" in str(caught.value)
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING
    assert ticket_events(ticket) == ["ticket.opened", "ticket.updated"]


def test_solving_stamps_solved_at_and_reopening_clears_it(ticket, agent, contact):
    ticket_update(ticket=ticket, actor=agent, expected_version=1, status=Ticket.Status.SOLVED)
    assert ticket.solved_at is not None

    received = ticket_receive_message(ticket=ticket, contact=contact, body_text="Still broken")

    assert received.reopened
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN and ticket.solved_at is None
    event = Event.objects.filter(verb="ticket.message_received").get()
    assert event.before == {"status": "solved"}


def test_agents_may_take_tickets_but_only_leads_assign_others(ticket, agent, other_agent, lead):
    ticket_update(ticket=ticket, actor=agent, expected_version=1, assignee=agent)
    with pytest.raises(PermissionDenied):
        ticket_update(ticket=ticket, actor=agent, expected_version=2, assignee=other_agent)
    with pytest.raises(PermissionDenied):
        ticket_update(
            ticket=ticket, actor=agent, expected_version=2, team=Team.objects.create(name="B")
        )

    ticket_update(ticket=ticket, actor=lead, expected_version=2, assignee=other_agent)
    ticket.refresh_from_db()
    assert ticket.assignee == other_agent


@pytest.mark.django_db(transaction=True)
def test_two_agents_saving_at_once_one_wins_one_is_told(ticket, agent, other_agent):
    """Real concurrency: both load version 1, both save at the same moment."""
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def save(actor, status):
        try:
            mine = Ticket.objects.get(pk=ticket.pk)
            barrier.wait(timeout=10)
            ticket_update(ticket=mine, actor=actor, expected_version=1, status=status)
            outcomes[actor.username] = "saved"
        except TicketConflict as conflict:
            outcomes[actor.username] = conflict
        finally:
            connection.close()

    threads = [
        threading.Thread(target=save, args=(agent, Ticket.Status.PENDING)),
        threading.Thread(target=save, args=(other_agent, Ticket.Status.SOLVED)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(type(o).__name__ for o in outcomes.values()) == ["TicketConflict", "str"]
    winner = next(name for name, outcome in outcomes.items() if outcome == "saved")
    ticket.refresh_from_db()
    assert ticket.version == 2
    assert ticket.status == (Ticket.Status.PENDING if winner == "agent1" else Ticket.Status.SOLVED)
    assert Event.objects.filter(verb="ticket.updated").count() == 1


def test_only_an_agent_opens_a_ticket_with_an_internal_note(customer, agent):
    with pytest.raises(ValidationError, match="internal note"):
        ticket_open(customer=customer, subject="Hi", body_text="x", internal=True)

    ticket = ticket_open(
        customer=customer,
        subject="Call back",
        body_text="Wants a call about the invoice.",
        channel=Ticket.Channel.AGENT,
        actor=agent,
        internal=True,
    )

    assert ticket.messages.get().direction == Message.Direction.NOTE
    assert ticket.first_response_at is None


def test_answering_an_unassigned_ticket_takes_it(ticket, agent, other_agent, lead):
    ticket_reply(ticket=ticket, author=agent, body="Noted.", expected_version=1, internal=True)
    assert ticket.assignee is None  # a note is not an answer

    ticket_reply(ticket=ticket, author=agent, body="On its way.", expected_version=2)

    assert ticket.assignee == agent
    event = Event.objects.filter(verb="ticket.replied").get()
    assert (event.before["assignee"], event.after["assignee"]) == (None, "agent1")
    ticket_reply(ticket=ticket, author=other_agent, body="Also: tracking link.", expected_version=3)
    assert ticket.assignee == agent  # someone else's ticket stays theirs


def test_a_customer_message_on_a_stale_copy_of_the_ticket_never_conflicts(ticket, agent, contact):
    stale = Ticket.objects.get(pk=ticket.pk)  # a worker loaded it before the agent replied
    ticket_reply(ticket=ticket, author=agent, body="On its way.", expected_version=ticket.version)
    received = ticket_receive_message(ticket=stale, contact=contact, body_text="Thanks!")
    ticket.refresh_from_db()
    assert received.message.body_text == "Thanks!"
    assert ticket.version == 3  # opened 1, replied 2, customer wrote 3
    assert stale.version == 3  # the caller's copy is current again


def test_a_ticket_cannot_be_assigned_to_someone_whose_role_only_reads_tickets(
    ticket, lead, sales_user
):
    with pytest.raises(ValidationError, match="cannot work tickets"):
        ticket_update(
            ticket=ticket, actor=lead, expected_version=ticket.version, assignee=sales_user
        )
    ticket.refresh_from_db()
    assert ticket.assignee is None and ticket.version == 1


def test_message_text_is_bounded_and_nul_characters_are_dropped(ticket, agent, contact):
    with pytest.raises(ValidationError, match="limit is 200,000"):
        ticket_reply(
            ticket=ticket, author=agent, body="x" * 1_000_000, expected_version=ticket.version
        )
    with pytest.raises(ValidationError, match="empty"):
        ticket_reply(ticket=ticket, author=agent, body=" \x00 ", expected_version=ticket.version)
    received = ticket_receive_message(ticket=ticket, contact=contact, body_text="a\x00b")
    assert received.message.body_text == "ab"
    assert Message.objects.filter(ticket=ticket).count() == 2


def test_the_timeline_reads_changes_by_their_names(ticket, agent, customer):
    """Labels, not the stored numbers and keys; nobody, not None."""
    ticket_update(
        ticket=ticket,
        actor=agent,
        expected_version=1,
        priority=Ticket.Priority.LOW,
        assignee=agent,
    )
    titles = [entry.title for entry in customer_timeline(customer=customer)]
    changed = next(title for title in titles if title.startswith("Ticket changed"))
    assert "priority: Normal → Low" in changed and "assignee: nobody → agent1" in changed
    assert "None" not in changed


def test_an_internal_note_does_not_move_the_last_message(ticket, agent):
    """The customer sees "last message" in the portal, the agent in the queue: a note
    between agents is neither's last message; a public reply is."""
    before = Ticket.objects.get(pk=ticket.pk).last_message_at
    ticket_reply(
        ticket=ticket, author=agent, body="Check stock first.", expected_version=1, internal=True
    )
    ticket.refresh_from_db()
    assert ticket.last_message_at == before
    ticket_reply(ticket=ticket, author=agent, body="On its way.", expected_version=ticket.version)
    ticket.refresh_from_db()
    assert ticket.last_message_at > before
