from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.urls import reverse

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Customer
from nextorder.crm.services import contact_create
from nextorder.desk.mail.inbound import mail_receive
from nextorder.desk.merge import DifferentCustomers, ticket_merge, ticket_split
from nextorder.desk.models import Attachment, InboundMail, Message, Ticket
from nextorder.desk.services import (
    TicketConflict,
    ticket_open,
    ticket_receive_message,
    ticket_reply,
    ticket_update,
)
from nextorder.desk.tags import tag_get_or_create, ticket_tags_add
from tests.desk.mail_factory import customer_email

pytestmark = pytest.mark.django_db


def events_of(ticket: Ticket) -> set[int]:
    kind = ContentType.objects.get_for_model(Ticket)
    return set(
        Event.objects.filter(subject_type=kind, subject_id=ticket.pk).values_list("pk", flat=True)
    )


def messages_of(ticket: Ticket) -> set[int]:
    return set(Message.objects.filter(ticket=ticket).values_list("pk", flat=True))


@pytest.fixture
def second(customer, contact, agent) -> Ticket:
    """A second ticket of the same customer, with a reply, a change and an attachment."""
    ticket = ticket_open(
        customer=customer, contact=contact, subject="Parcel", body_text="Also late"
    )
    ticket_reply(ticket=ticket, author=agent, body="Looking", expected_version=ticket.version)
    ticket_update(ticket=ticket, actor=agent, expected_version=ticket.version, priority=2)
    attachment = Attachment(
        message=ticket.messages.first(), filename="a.png", content_type="image/png", size=3
    )
    attachment.file.save("a.png", ContentFile(b"png"), save=True)
    ticket.refresh_from_db()
    return ticket


def test_merge_keeps_every_message_and_event(ticket, second, agent):
    ticket_reply(ticket=ticket, author=agent, body="On its way", expected_version=ticket.version)
    tag = tag_get_or_create(name="late", actor=agent)
    ticket_tags_add(ticket=second, tags=[tag], actor=agent)
    second.refresh_from_db()
    source_messages, target_messages = messages_of(second), messages_of(ticket)
    source_events, target_events = events_of(second), events_of(ticket)
    all_messages, all_events = Message.objects.count(), Event.objects.count()

    survivor = ticket_merge(
        source=second,
        target=ticket,
        actor=agent,
        source_version=second.version,
        target_version=ticket.version,
    )

    assert survivor.pk == ticket.pk
    assert messages_of(ticket) == source_messages | target_messages
    assert messages_of(second) == set()
    assert Message.objects.count() == all_messages
    # Every event of both is the survivor's now, plus one on each ticket for the merge.
    assert events_of(ticket) >= source_events | target_events
    assert len(events_of(ticket)) == len(source_events) + len(target_events) + 1
    assert Event.objects.count() == all_events + 2
    merged = Event.objects.get(pk__in=events_of(second))
    assert merged.verb == Verb.TICKET_MERGED and merged.after["merged_into"] == ticket.pk
    assert Attachment.objects.get().message.ticket_id == ticket.pk
    assert list(ticket.tags.values_list("name", flat=True)) == ["late"]
    second.refresh_from_db()
    assert second.status == Ticket.Status.CLOSED and second.merged_into_id == ticket.pk


def test_merge_checks_both_versions(ticket, second, agent):
    stale = second.version
    ticket_update(ticket=second, actor=agent, expected_version=second.version, priority=3)
    before = messages_of(ticket)
    with pytest.raises(TicketConflict):
        ticket_merge(
            source=second,
            target=ticket,
            actor=agent,
            source_version=stale,
            target_version=ticket.version,
        )
    assert messages_of(ticket) == before  # nothing moved
    ticket.refresh_from_db()
    second.refresh_from_db()
    with pytest.raises(TicketConflict):
        ticket_merge(
            source=second,
            target=ticket,
            actor=agent,
            source_version=second.version,
            target_version=ticket.version - 1,
        )
    assert Ticket.objects.get(pk=second.pk).merged_into_id is None


def test_merge_refuses_itself_twice_and_other_customers_unless_confirmed(ticket, second, agent):
    with pytest.raises(ValidationError, match="into itself"):
        ticket_merge(source=ticket, target=ticket, actor=agent, source_version=1, target_version=1)
    stranger = Customer.objects.create(name="Bo Other")
    theirs = ticket_open(
        customer=stranger,
        contact=contact_create(customer=stranger, name="Bo", emails=["bo@example.com"]),
        subject="Hi",
        body_text="Mine",
    )
    with pytest.raises(DifferentCustomers):
        ticket_merge(
            source=theirs,
            target=ticket,
            actor=agent,
            source_version=theirs.version,
            target_version=ticket.version,
        )
    ticket_merge(
        source=theirs,
        target=ticket,
        actor=agent,
        source_version=theirs.version,
        target_version=ticket.version,
        different_customers=True,
    )
    theirs.refresh_from_db()
    with pytest.raises(ValidationError, match="already merged"):
        ticket_merge(
            source=theirs,
            target=second,
            actor=agent,
            source_version=theirs.version,
            target_version=second.version,
        )


def test_the_customer_writing_to_a_merged_message_lands_on_the_survivor(ticket, second, agent):
    """The moved messages keep their ids, so email threading finds the survivor."""
    ticket_merge(
        source=second,
        target=ticket,
        actor=agent,
        source_version=second.version,
        target_version=ticket.version,
    )
    moved = Message.objects.filter(ticket=ticket, body_text="Also late").get()
    outcome = mail_receive(
        raw=customer_email(
            sender="Ada <ada@example.com>", subject="Re: Parcel", in_reply_to=moved.message_id
        ),
        source=InboundMail.Source.SMTP,
    )
    assert outcome.inbound.ticket_id == ticket.pk


def test_a_merged_tickets_page_sends_to_the_survivor(client, ticket, second, agent):
    ticket_merge(
        source=second,
        target=ticket,
        actor=agent,
        source_version=second.version,
        target_version=ticket.version,
    )
    client.force_login(agent)
    response = client.get(reverse("desk:ticket", args=[second.pk]), follow=True)
    assert response.redirect_chain == [(reverse("desk:ticket", args=[ticket.pk]), 302)]
    assert f"Ticket #{second.pk} was merged into this one" in response.content.decode()
    customer_page = client.get(reverse("desk:customer", args=[ticket.customer_id]))
    merged = f'merged into <a href="{reverse("desk:ticket", args=[ticket.pk])}">#{ticket.pk}</a>'
    assert merged in customer_page.content.decode()


def test_merging_from_the_ticket_page_asks_before_mixing_customers(client, ticket, agent):
    stranger = Customer.objects.create(name="Bo Other")
    theirs = ticket_open(
        customer=stranger, subject="Hi", body_text="Mine", channel="agent", actor=agent
    )
    client.force_login(agent)
    url = reverse("desk:ticket_merge", args=[theirs.pk])
    response = client.post(url, {"target": ticket.pk, "version": theirs.version})
    assert response.status_code == 400 and "confirm to merge" in response.content.decode()
    response = client.post(
        url, {"target": ticket.pk, "version": theirs.version, "different_customers": "on"}
    )
    assert response.status_code == 302
    assert Ticket.objects.get(pk=theirs.pk).merged_into_id == ticket.pk


def test_split_moves_a_message_and_those_after_it(ticket, agent, contact):
    ticket_reply(ticket=ticket, author=agent, body="Looking", expected_version=ticket.version)
    second = ticket_receive_message(
        ticket=ticket, contact=contact, body_text="Another thing"
    ).message
    third = ticket_receive_message(ticket=ticket, contact=contact, body_text="And more").message
    first = ticket.messages.order_by("sent_at", "id").first()
    with pytest.raises(ValidationError, match="first message stays"):
        ticket_split(ticket=ticket, message=first, actor=agent, expected_version=ticket.version)
    with pytest.raises(TicketConflict):
        ticket_split(ticket=ticket, message=second, actor=agent, expected_version=1)

    new = ticket_split(
        ticket=ticket, message=second, actor=agent, expected_version=ticket.version, with_later=True
    )

    assert messages_of(new) == {second.pk, third.pk}
    assert len(messages_of(ticket)) == 2
    assert new.customer_id == ticket.customer_id and new.status == Ticket.Status.OPEN
    assert f"split from #{ticket.pk}" in new.subject
    verbs = Event.objects.filter(verb__in=[Verb.TICKET_SPLIT, Verb.TICKET_SPLIT_FROM])
    assert sorted(e.subject_id for e in verbs) == sorted([ticket.pk, new.pk])
    new.refresh_from_db()
    assert new.last_message_at == third.sent_at
