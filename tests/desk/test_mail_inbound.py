"""Email into the desk through `mail_receive`, the one way in for SMTP, IMAP and mailbox
imports: every message ends as a ticket message, a bounce, an ignored automatic reply or
a quarantined row with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.db import IntegrityError
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Contact, Customer
from nextorder.crm.services import contact_create, customer_create
from nextorder.desk.mail.inbound import (
    MailOutcome,
    mail_limits,
    mail_receive,
    mail_receive_many,
    quarantined_mail_delete,
    quarantined_mail_release,
)
from nextorder.desk.mail.parse import read_letter
from nextorder.desk.merge import ticket_merge
from nextorder.desk.models import Attachment, Delivery, InboundMail, Message, Ticket
from nextorder.desk.services import (
    CustomerMessage,
    customer_messages_receive,
    ticket_open,
    ticket_reply,
)
from tests.desk.mail_factory import customer_email

pytestmark = pytest.mark.django_db


def receive(raw: bytes) -> MailOutcome:
    return mail_receive(raw=raw, source=InboundMail.Source.SMTP)


def test_a_new_sender_opens_a_ticket_as_a_new_customer_and_contact():
    outcome = receive(customer_email(sender="Bea Lund <Bea.Lund@Mail.example.org>"))
    assert outcome.outcome == InboundMail.Outcome.OPENED
    ticket = outcome.ticket
    assert ticket.subject == "Where is my order?" and ticket.channel == Ticket.Channel.EMAIL
    assert ticket.contact.name == "Bea Lund"
    assert list(ticket.contact.emails.values_list("address", flat=True)) == [
        "bea.lund@mail.example.org"
    ]
    assert ticket.customer.name == "Bea Lund"
    assert ticket.messages.get().body_text.startswith("It has not arrived yet.")
    assert InboundMail.objects.get().ticket == ticket


def test_a_batch_is_taken_in_order_as_one_message_at_a_time_would_be(ticket, contact):
    """A mailbox batch or a group commit of SMTP: a stranger writing twice is one
    contact, a reply threads onto the ticket opened earlier in the same batch, a message
    twice in the batch is stored once, and what must be quarantined is, beside the rest."""
    first = customer_email(sender="Cy <cy@shop.example>", message_id="<cy-1@shop.example>")
    letters = [
        read_letter(raw, limits=mail_limits())
        for raw in (
            first,
            customer_email(
                sender="CY@shop.example",
                subject="Re: Where is my order?",
                text="Still nothing, this is unacceptable!!",
                message_id="<cy-2@shop.example>",
                in_reply_to="<cy-1@shop.example>",
            ),
            first,
            b"not an email at all",
            customer_email(sender="ADA@example.com", subject=f"Re: [#{ticket.pk}] Lid"),
        )
    ]
    outcomes = mail_receive_many(letters=letters, source=InboundMail.Source.SMTP)
    assert [o.outcome for o in outcomes] == [
        InboundMail.Outcome.OPENED,
        InboundMail.Outcome.ADDED,
        MailOutcome.DUPLICATE,
        InboundMail.Outcome.QUARANTINED,
        InboundMail.Outcome.ADDED,
    ]
    opened = outcomes[0].ticket
    assert outcomes[1].ticket == opened and opened.messages.count() == 2
    assert Contact.objects.filter(emails__address="cy@shop.example").count() == 1
    opened.refresh_from_db()
    assert opened.priority > Ticket.Priority.NORMAL and opened.version == 2
    assert outcomes[4].ticket == ticket and outcomes[4].message.author_contact == contact
    verbs = Event.objects.filter(subject_id=opened.pk, subject_type__model="ticket")
    assert sorted(verbs.values_list("verb", flat=True)) == [
        Verb.TICKET_MESSAGE_RECEIVED,
        Verb.TICKET_OPENED,
    ]
    assert InboundMail.objects.count() == 4  # the duplicate has no row of its own


def test_two_replies_to_one_ticket_in_a_batch_are_applied_in_turn(ticket, agent):
    """The second reply sees the first one's changes; the caller's copy is brought up
    to date, as a refresh would."""
    ticket_reply(
        ticket=ticket,
        author=agent,
        body="Shipped.",
        expected_version=ticket.version,
        status=Ticket.Status.SOLVED,
    )
    stale_version = ticket.version
    replies = [
        CustomerMessage(
            contact=ticket.contact,
            body_text=text,
            sent_at=timezone.now(),
            message_id=f"<r{n}@example.com>",
            ticket=ticket,
        )
        for n, text in enumerate(["Thanks, but it is broken.", "Photo attached."])
    ]
    first, second = customer_messages_receive(messages=replies)
    assert first.reopened and not second.reopened
    assert ticket.status == Ticket.Status.OPEN and ticket.version == stale_version + 2
    assert Ticket.objects.get(pk=ticket.pk).version == stale_version + 2


def test_a_known_address_in_other_capitals_is_the_same_contact(ticket, contact):
    outcome = receive(customer_email(sender="ADA@EXAMPLE.COM", subject="Another thing"))
    assert outcome.ticket.contact == contact
    assert Contact.objects.count() == 1


def test_a_colleague_at_a_company_customers_domain_joins_that_company():
    company = customer_create(name="Nordwind GmbH", kind=Customer.Kind.COMPANY)
    contact_create(customer=company, name="Jan", emails=["jan@nordwind.example"])
    outcome = receive(customer_email(sender="Ute <ute@nordwind.example>"))
    assert outcome.ticket.customer == company
    # A public mail domain names nobody's company.
    other = receive(customer_email(sender="x@gmail.com", subject="Hi"))
    assert other.ticket.customer != company


def test_a_reply_to_our_reply_threads_by_its_headers_and_reopens(ticket, agent):
    reply = ticket_reply(
        ticket=ticket, author=agent, body="It ships today.", expected_version=ticket.version
    )
    outcome = receive(
        customer_email(
            subject="Something else entirely",
            in_reply_to=reply.message_id,
            references=f"{ticket.messages.first().message_id} {reply.message_id}",
        )
    )
    assert outcome.outcome == InboundMail.Outcome.ADDED
    assert outcome.ticket == ticket
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN  # the reply left it pending
    assert outcome.message.in_reply_to == reply.message_id


def test_the_subject_token_threads_only_the_senders_own_customers_ticket(ticket, contact):
    same = receive(customer_email(sender="ada@example.com", subject=f"Re: hello [#{ticket.pk}]"))
    assert same.ticket == ticket
    stranger = receive(customer_email(sender="eve@evil.example", subject=f"[#{ticket.pk}] hi"))
    assert stranger.outcome == InboundMail.Outcome.OPENED
    assert stranger.ticket != ticket


def test_the_subject_token_of_a_merged_ticket_threads_onto_the_ticket_it_went_into(
    ticket, contact, agent
):
    survivor = ticket_open(
        customer=contact.customer, contact=contact, subject="Also", body_text="Another thing."
    )
    ticket_merge(
        source=ticket,
        target=survivor,
        actor=agent,
        source_version=ticket.version,
        target_version=survivor.version,
    )

    outcome = receive(customer_email(sender="ada@example.com", subject=f"Re: hello [#{ticket.pk}]"))

    assert outcome.outcome == InboundMail.Outcome.ADDED and outcome.ticket == survivor
    assert not ticket.messages.exists()


def test_a_message_to_a_closed_ticket_opens_a_new_one(ticket, agent):
    from nextorder.desk.services import ticket_update

    ticket_update(ticket=ticket, actor=agent, expected_version=ticket.version, status="closed")
    outcome = receive(customer_email(subject=f"Re: [#{ticket.pk}]"))
    assert outcome.outcome == InboundMail.Outcome.OPENED and outcome.ticket != ticket


def test_the_same_message_delivered_twice_creates_nothing_new():
    raw = customer_email(message_id="<twice@mail.example.com>")
    assert receive(raw).outcome == InboundMail.Outcome.OPENED
    assert receive(raw).outcome == MailOutcome.DUPLICATE
    assert (Ticket.objects.count(), Message.objects.count(), InboundMail.objects.count()) == (
        1,
        1,
        1,
    )


def test_a_message_without_message_id_is_recognised_by_its_bytes():
    raw = customer_email().replace(b"Message-ID:", b"X-Old-Message-ID:")
    assert receive(raw).outcome == InboundMail.Outcome.OPENED
    assert receive(raw).outcome == MailOutcome.DUPLICATE


def test_an_automatic_reply_opens_nothing_and_gets_no_answer():
    outcome = receive(
        customer_email(subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    )
    assert outcome.outcome == InboundMail.Outcome.AUTO_REPLY
    assert Ticket.objects.count() == 0 and Delivery.objects.count() == 0


def test_an_auto_reply_to_our_reply_gets_nothing(ticket, agent):
    """Loop prevention: our reply's delivery is the only mail the desk sends here."""
    reply = ticket_reply(ticket=ticket, author=agent, body="Hello", expected_version=ticket.version)
    receive(
        customer_email(
            subject="Automatic reply: Re: Where is my order?",
            in_reply_to=reply.message_id,
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    assert Delivery.objects.count() == 1
    assert ticket.messages.count() == 2


def _bounce_of(message_id: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        "To: support@nextorder.localhost\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.com>\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "MIME-Version: 1.0\r\n\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: rfc822; ada@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nSubject: Re: Where is my order?\r\n"
        "--B--\r\n"
    ).encode()


def test_a_bounce_of_our_reply_flags_it_on_its_ticket(ticket, agent):
    reply = ticket_reply(ticket=ticket, author=agent, body="Hello", expected_version=ticket.version)
    outcome = receive(_bounce_of(reply.message_id))
    assert outcome.outcome == InboundMail.Outcome.BOUNCE
    delivery = reply.deliveries.get()
    assert delivery.status == Delivery.Status.BOUNCED
    ticket.refresh_from_db()
    assert ticket.delivery_failed
    assert ticket.messages.count() == 2  # a bounce is not a customer message


def test_a_bounce_of_something_we_never_sent_is_recorded_only():
    outcome = receive(_bounce_of("<not-ours@elsewhere.example>"))
    assert outcome.outcome == InboundMail.Outcome.BOUNCE
    assert "did not send" in outcome.inbound.reason
    assert Ticket.objects.count() == 0


@override_settings(NEXTORDER_MAIL_MAX_ATTACHMENT_MB=0.001)
def test_a_message_over_a_limit_is_quarantined_whole_then_released_by_a_lead(lead):
    raw = customer_email(attachments=[("scan.pdf", "application/pdf", b"%PDF" + b"x" * 5000)])
    outcome = receive(raw)
    assert outcome.outcome == InboundMail.Outcome.QUARANTINED
    held = outcome.inbound
    assert "scan.pdf" in held.reason and "limit" in held.reason
    with held.raw.open("rb") as stored:
        assert stored.read() == raw
    assert Ticket.objects.count() == 0
    ticket = quarantined_mail_release(inbound=held, actor=lead)
    held.refresh_from_db()
    assert held.outcome == InboundMail.Outcome.RELEASED and held.ticket == ticket
    assert ticket.messages.get().attachments.get().filename == "scan.pdf"
    # Delivered again later, it is the same message: nothing new.
    assert receive(raw).outcome == MailOutcome.DUPLICATE


def test_an_unreadable_message_is_released_with_the_original_attached(lead):
    outcome = receive(b"\x00\x01\x02 not an email at all")
    assert outcome.outcome == InboundMail.Outcome.QUARANTINED
    ticket = quarantined_mail_release(inbound=outcome.inbound, actor=lead)
    assert ticket.customer.name == "Unknown senders"
    assert ticket.messages.get().attachments.get().filename == "original.eml"


def test_a_message_without_a_sender_is_quarantined_and_can_be_deleted(lead):
    outcome = receive(customer_email().replace(b"From: Ada <ada@example.com>\n", b""))
    assert outcome.outcome == InboundMail.Outcome.QUARANTINED
    assert "no sender" in outcome.inbound.reason
    deleted = quarantined_mail_delete(inbound=outcome.inbound, actor=lead)
    assert deleted.outcome == InboundMail.Outcome.DELETED and not deleted.raw
    with pytest.raises(ValueError, match="no longer in quarantine"):
        quarantined_mail_release(inbound=deleted, actor=lead)


def test_attachments_are_stored_and_inline_images_linked(client, agent):
    raw = customer_email(
        html='<p>See <img src="cid:photo1@mail.example.com"></p>',
        attachments=[("receipt.txt", "text/plain", b"paid 10.00")],
    )
    # Turn the text attachment into a related inline image referenced by the HTML.
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    html_part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    html_part.add_related(
        b"\x89PNG fake", maintype="image", subtype="png", cid="<photo1@mail.example.com>"
    )
    outcome = receive(message.as_bytes())
    stored = outcome.message
    names = sorted(a.filename for a in stored.attachments.all())
    assert "receipt.txt" in names and len(names) == 2
    image = Attachment.objects.get(inline=True)
    stored.refresh_from_db()
    url = reverse("desk:attachment", args=[image.pk])
    assert f'src="{url}"' in stored.body_html
    client.force_login(agent)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    text = Attachment.objects.get(filename="receipt.txt")
    download = client.get(reverse("desk:attachment", args=[text.pk]))
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"


def _stored_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


def test_a_batch_that_fails_leaves_no_file_behind(monkeypatch):
    """A rolled-back row leaves its file in storage unless the desk deletes it: a batch
    tried twice keeps only the files of the attempt that committed, one that fails keeps
    none, quarantined originals included."""
    letters = [
        read_letter(
            customer_email(attachments=[("receipt.txt", "text/plain", b"paid 10.00")]),
            limits=mail_limits(),
        ),
        read_letter(b"Subject: nobody sent this\r\n\r\nno From header\r\n", limits=mail_limits()),
    ]
    before = _stored_files()
    calls = []
    create = InboundMail.objects.bulk_create

    def clashes_once(rows, **options):
        calls.append(len(rows))
        if len(calls) == 1:
            raise IntegrityError("a concurrent writer took the sender's address")
        return create(rows, **options)

    monkeypatch.setattr(InboundMail.objects, "bulk_create", clashes_once)
    outcomes = mail_receive_many(letters=letters, source=InboundMail.Source.SMTP)
    assert [o.outcome for o in outcomes] == ["opened", "quarantined"] and len(calls) == 2
    kept = {
        Path(settings.MEDIA_ROOT) / name
        for name in [
            *Attachment.objects.values_list("file", flat=True),
            *InboundMail.objects.exclude(raw="").values_list("raw", flat=True),
        ]
    }
    assert _stored_files() - before == kept and len(kept) == 2

    def breaks(rows, **options):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(InboundMail.objects, "bulk_create", breaks)
    again = [
        read_letter(
            customer_email(attachments=[("photo.jpg", "image/jpeg", b"\xff\xd8 jpeg")]),
            limits=mail_limits(),
        )
    ]
    with pytest.raises(RuntimeError):
        mail_receive_many(letters=again, source=InboundMail.Source.SMTP)
    assert _stored_files() - before == kept
