"""Replies by email: queued with the reply (the task commits with it), sent by the
worker through Django's email backend to a real SMTP server on loopback, retried with
back-off when the server is down, flagged on the ticket when they finally fail."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from nextorder.core.models import Event, Verb
from nextorder.desk.mail.outbound import delivery_attempt
from nextorder.desk.models import Delivery, OutboxMail, Ticket
from nextorder.desk.services import ticket_open, ticket_reply
from nextorder.desk.tasks import deliver_reply
from tests.mail_server import smtp_settings
from tests.net import free_port

pytestmark = pytest.mark.django_db


_smtp = smtp_settings


def test_a_reply_queues_its_delivery_and_the_task_in_the_same_transaction(ticket, agent):
    reply = ticket_reply(ticket=ticket, author=agent, body="On its way.", expected_version=1)
    delivery = reply.deliveries.get()
    assert (delivery.status, delivery.to_address) == (Delivery.Status.QUEUED, "ada@example.com")
    task = DBTaskResult.objects.get()
    assert task.task_path == "nextorder.desk.tasks.deliver_reply"
    assert task.args_kwargs["args"] == [delivery.pk]


def test_notes_and_history_send_nothing(ticket, agent):
    ticket_reply(ticket=ticket, author=agent, body="Internal", expected_version=1, internal=True)
    from django.utils import timezone

    ticket_reply(
        ticket=ticket, author=agent, body="Old", expected_version=2, sent_at=timezone.now()
    )
    assert Delivery.objects.count() == 0 and DBTaskResult.objects.count() == 0


def test_a_ticket_without_a_contact_address_takes_no_public_reply(customer, agent):
    ticket = ticket_open(customer=customer, subject="Call me", body_text="Phone only")
    with pytest.raises(ValidationError, match="no contact with an email address"):
        ticket_reply(ticket=ticket, author=agent, body="Hello", expected_version=1)


def test_the_worker_sends_the_reply_threaded_over_smtp(ticket, agent, smtp_server):
    controller, mailbox = smtp_server
    first = ticket.messages.get()
    reply = ticket_reply(ticket=ticket, author=agent, body="It ships today.", expected_version=1)
    with _smtp(controller.port):
        status = deliver_reply.call(reply.deliveries.get().pk)
    assert status == Delivery.Status.SENT
    sent = message_from_bytes(mailbox.received[0], policy=policy.default)
    assert sent["Message-ID"] == reply.message_id
    assert sent["In-Reply-To"] == first.message_id
    assert first.message_id in sent["References"]
    assert sent["Subject"] == f"Re: Where is my order? [#{ticket.pk}]"
    assert sent["To"] == "ada@example.com"
    text = sent.get_body(("plain",)).get_content()
    assert "It ships today." in text and "> It is late." in text  # the thread quoted
    assert "It ships today." in sent.get_body(("html",)).get_content()
    assert Event.objects.filter(verb=Verb.REPLY_SENT, subject_id=ticket.pk).exists()


@override_settings(NEXTORDER_DELIVERY_ATTEMPTS=3)
def test_a_server_that_is_down_gets_the_reply_later_then_it_fails_for_good(ticket, agent):
    reply = ticket_reply(ticket=ticket, author=agent, body="Hello", expected_version=1)
    delivery = reply.deliveries.get()
    with _smtp(free_port()):  # nothing listens there: connection refused
        assert deliver_reply.call(delivery.pk) == Delivery.Status.QUEUED
        delivery.refresh_from_db()
        assert delivery.attempts == 1 and "ConnectionRefusedError" in delivery.last_error
        later = DBTaskResult.objects.order_by("-enqueued_at").first()
        assert later.run_after == delivery.next_attempt_at  # booked with back-off
        delivery_attempt(delivery_id=delivery.pk)
        final = delivery_attempt(delivery_id=delivery.pk)
    assert (final.status, final.attempts) == (Delivery.Status.FAILED, 3)
    ticket.refresh_from_db()
    assert ticket.delivery_failed
    assert Event.objects.filter(verb=Verb.REPLY_FAILED, subject_id=ticket.pk).exists()


@override_settings(EMAIL_BACKEND="nextorder.desk.mail.outbox.OutboxBackend")
def test_a_repeated_task_does_not_send_twice(ticket, agent):
    reply = ticket_reply(ticket=ticket, author=agent, body="Hello", expected_version=1)
    delivery = reply.deliveries.get()
    deliver_reply.call(delivery.pk)
    deliver_reply.call(delivery.pk)
    assert OutboxMail.objects.count() == 1  # the backend until EMAIL_HOST: kept, not sent
    assert Ticket.objects.get(pk=ticket.pk).delivery_failed is False
