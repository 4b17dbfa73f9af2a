"""The mail pages of the console: each reply's address and delivery state, quoted text
folded away, the quarantine for leads, the outbox for managers."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from nextorder.desk.mail.inbound import mail_receive
from nextorder.desk.models import InboundMail, Ticket
from nextorder.desk.services import ticket_reply
from nextorder.desk.tasks import deliver_reply
from tests.desk.mail_factory import customer_email

pytestmark = pytest.mark.django_db


@override_settings(EMAIL_BACKEND="nextorder.desk.mail.outbox.OutboxBackend")
def test_the_ticket_shows_where_each_reply_went_and_the_outbox_has_it(
    client, agent, manager, ticket
):
    reply = ticket_reply(ticket=ticket, author=agent, body="Shipped today.", expected_version=1)
    client.force_login(agent)
    page = client.get(reverse("desk:ticket", args=[ticket.pk])).content.decode()
    assert "Email to ada@example.com: <strong>Queued</strong>" in page
    deliver_reply.call(reply.deliveries.get().pk)
    page = client.get(reverse("desk:ticket", args=[ticket.pk])).content.decode()
    assert "Email to ada@example.com: <strong>Sent</strong>" in page
    assert client.get(reverse("desk:outbox")).status_code == 403
    client.force_login(manager)
    outbox = client.get(reverse("desk:outbox")).content.decode()
    assert f"Re: Where is my order? [#{ticket.pk}]" in outbox


def test_quoted_text_is_folded_behind_the_new_words(client, agent):
    body = "Yes, the blue one please.\n\nOn Mon, 30 Nov 2026, Support wrote:\n> Which colour?\n"
    ticket = mail_receive(raw=customer_email(text=body), source="smtp").ticket
    client.force_login(agent)
    page = client.get(reverse("desk:ticket", args=[ticket.pk])).content.decode()
    shown, folded = page.split('<details class="quoted">', 1)
    assert "Yes, the blue one please." in shown and "Which colour?" not in shown
    assert "Which colour?" in folded


def test_a_lead_releases_a_quarantined_message_from_the_console(client, lead, agent):
    held = mail_receive(raw=b"\x00\x01 not mail", source="smtp").inbound
    client.force_login(agent)
    assert client.get(reverse("desk:quarantine")).status_code == 403
    client.force_login(lead)
    page = client.get(reverse("desk:quarantine")).content.decode()
    assert "1 waiting" in page and held.reason in page
    response = client.post(reverse("desk:quarantine_release", args=[held.pk]))
    ticket = Ticket.objects.get()
    assert response["Location"] == reverse("desk:ticket", args=[ticket.pk])
    assert InboundMail.objects.get().outcome == InboundMail.Outcome.RELEASED
    again = client.post(reverse("desk:quarantine_release", args=[held.pk]), follow=True)
    assert "no longer in quarantine" in again.content.decode()


def test_an_address_added_on_the_ticket_lets_a_reply_reach_the_customer(client, lead, customer):
    from nextorder.crm.services import contact_create, customer_create
    from nextorder.desk.services import ticket_open

    ticket = ticket_open(
        customer=customer,
        subject="Follow-up",
        body_text="Call them",
        channel="agent",
        actor=lead,
        internal=True,
    )
    client.force_login(lead)
    page = client.get(reverse("desk:ticket", args=[ticket.pk])).content.decode()
    assert "Nobody can be emailed on this ticket" in page
    url = reverse("desk:ticket_contact_address", args=[ticket.pk])
    other = customer_create(name="Someone else")
    contact_create(customer=other, emails=["taken@example.org"])
    refused = client.post(url, {"address": "Taken@Example.org", "version": ticket.version})
    assert refused.status_code == 400
    assert "belongs to another customer" in refused.content.decode()
    response = client.post(url, {"address": "ada.b@example.org", "name": "Ada", "version": 1})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.contact.customer == customer and ticket.version == 2
    reply = ticket_reply(ticket=ticket, author=lead, body="Hello Ada", expected_version=2)
    assert reply.deliveries.get().to_address == "ada.b@example.org"
    page = client.get(reverse("desk:ticket", args=[ticket.pk])).content.decode()
    assert "Replies go to ada.b@example.org." in page
