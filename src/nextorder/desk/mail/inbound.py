"""Email into the desk: every message ends as a ticket message, a bounce record, an
ignored automatic reply or a quarantined row with its reason. Nothing is dropped.

`mail_receive` is the one way in for SMTP, IMAP and mailbox imports. It runs in one
transaction: the caller (the SMTP server before its "250", fetchmail before it moves the
message on the IMAP server) acknowledges a message only once it is committed.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from nextorder.core.html import sanitise_html
from nextorder.core.models import Verb
from nextorder.core.services import event_record
from nextorder.crm.models import Contact, Customer
from nextorder.crm.services import contact_for_email, customer_create
from nextorder.desk.mail.outbound import TICKET_TOKEN, delivery_bounced
from nextorder.desk.mail.parse import (
    Kind,
    MailLimits,
    MailRejected,
    ParsedAttachment,
    ParsedMail,
    parse_mail,
)
from nextorder.desk.models import Attachment, Delivery, InboundMail, Message, Ticket
from nextorder.desk.services import ticket_open, ticket_receive_message

UNKNOWN_SENDER_ID = "nextorder:unknown-sender"


def mail_limits() -> MailLimits:
    megabyte = 1024 * 1024
    return MailLimits(
        max_message_bytes=int(settings.NEXTORDER_MAIL_MAX_MESSAGE_MB * megabyte),
        max_attachment_bytes=int(settings.NEXTORDER_MAIL_MAX_ATTACHMENT_MB * megabyte),
    )


@dataclass(frozen=True)
class MailOutcome:
    """What became of one message; `duplicate` when it had been received already."""

    outcome: str  # an InboundMail.Outcome, or "duplicate"
    inbound: InboundMail | None = None
    ticket: Ticket | None = None
    message: Message | None = None

    DUPLICATE = "duplicate"


def mail_receive(
    *,
    raw: bytes,
    source: str,
    received_at: datetime | None = None,
    history: bool = False,
) -> MailOutcome:
    """Take one message into the desk.

    `history` is for a mailbox brought from another tool: the message's own Date dates
    it. Two deliveries of one message (same Message-ID, or the same bytes when it has
    none) make one ticket message; a race between two of them, or two first messages
    from one new sender, is settled by the database's unique keys and one retry.
    """
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _receive(
                    raw=raw,
                    source=source,
                    received_at=received_at or timezone.now(),
                    history=history,
                )
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def synthetic_message_id(raw: bytes) -> str:
    """For a message without a Message-ID: the same bytes delivered twice get one id."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.nextorder>"


def _already_received(message_id: str) -> bool:
    return (
        Message.objects.filter(message_id=message_id).exists()
        or InboundMail.objects.filter(message_id=message_id).exists()
    )


def _receive(*, raw: bytes, source: str, received_at: datetime, history: bool) -> MailOutcome:
    try:
        parsed = parse_mail(raw, limits=mail_limits())
    except MailRejected as rejected:
        return _quarantine(raw=raw, source=source, received_at=received_at, reason=rejected.reason)
    message_id = parsed.message_id or synthetic_message_id(raw)
    if _already_received(message_id):
        return MailOutcome(MailOutcome.DUPLICATE)
    ledger = InboundMail(
        received_at=received_at,
        source=source,
        message_id=message_id,
        from_address=parsed.from_address[:254],
        subject=parsed.subject,
        size=len(raw),
    )
    if parsed.kind == Kind.BOUNCE:
        return _bounce(parsed=parsed, ledger=ledger)
    if parsed.kind == Kind.AUTO_REPLY:
        ledger.outcome = InboundMail.Outcome.AUTO_REPLY
        ledger.save()
        return MailOutcome(ledger.outcome, inbound=ledger)
    if not parsed.from_address:
        return _quarantine(
            raw=raw,
            source=source,
            received_at=received_at,
            reason="no sender address (From): nobody to answer",
            message_id=message_id,
        )
    try:
        contact = sender_contact(parsed)
    except ValidationError:
        return _quarantine(
            raw=raw,
            source=source,
            received_at=received_at,
            reason=f"the sender address {parsed.from_address[:100]!r} is not valid",
            message_id=message_id,
        )
    sent_at = (parsed.sent_at or received_at) if history else received_at
    ticket, message, opened = _file_message(
        parsed=parsed, message_id=message_id, contact=contact, sent_at=sent_at
    )
    ledger.outcome = InboundMail.Outcome.OPENED if opened else InboundMail.Outcome.ADDED
    ledger.ticket, ledger.ticket_message = ticket, message
    ledger.save()
    return MailOutcome(ledger.outcome, inbound=ledger, ticket=ticket, message=message)


def sender_contact(parsed: ParsedMail) -> Contact:
    """The sender's contact (crm.contact_for_email makes one for a stranger)."""
    try:
        return contact_for_email(address=parsed.from_address, name=parsed.from_name)
    except ValueError as taken:  # written meanwhile by a concurrent message: retry
        raise IntegrityError(str(taken)) from taken


def _thread(parsed: ParsedMail, contact: Contact) -> Ticket | None:
    """The ticket this message continues: by our Message-IDs in its headers, then by the
    [#id] token in the subject (only the sender's own customer's ticket). A closed
    ticket is not reopened: the customer's new message starts a new one."""
    ids = [i for i in (parsed.in_reply_to, *reversed(parsed.references)) if i]
    ticket: Ticket | None = None
    if ids:
        earlier = (
            Message.objects.filter(message_id__in=ids[:50])
            .select_related("ticket")
            .order_by("-sent_at")
            .first()
        )
        ticket = earlier.ticket if earlier else None
    if ticket is None and (token := TICKET_TOKEN.search(parsed.subject)):
        ticket = Ticket.objects.filter(
            pk=int(token.group(1)), customer_id=contact.customer_id
        ).first()
    if ticket is not None and ticket.status == Ticket.Status.CLOSED:
        return None
    return ticket


def _body_text(parsed: ParsedMail) -> str:
    if parsed.body_text.strip():
        return parsed.body_text
    files = len([a for a in parsed.attachments if not a.inline])
    return f"(no text; {files} attachment{'s' if files != 1 else ''})" if files else "(no text)"


def _file_message(
    *, parsed: ParsedMail, message_id: str, contact: Contact, sent_at: datetime
) -> tuple[Ticket, Message, bool]:
    ticket = _thread(parsed, contact)
    if ticket is None:
        ticket = ticket_open(
            customer=contact.customer,
            contact=contact,
            subject=parsed.subject,
            body_text=_body_text(parsed),
            body_html=parsed.body_html,
            channel=Ticket.Channel.EMAIL,
            sent_at=sent_at,
            message_id=message_id,
        )
        message = ticket.messages.get()
        opened = True
    else:
        received = ticket_receive_message(
            ticket=ticket,
            contact=contact,
            body_text=_body_text(parsed),
            body_html=parsed.body_html,
            sent_at=sent_at,
            message_id=message_id,
            in_reply_to=parsed.in_reply_to,
            references=" ".join(parsed.references),
        )
        ticket, message, opened = received.ticket, received.message, False
    _store_attachments(message=message, attachments=parsed.attachments, html=parsed.body_html)
    return ticket, message, opened


_CID = re.compile(r"""(["'])cid:([^"']{1,250})\1""", re.IGNORECASE)


def _store_attachments(*, message: Message, attachments: list[ParsedAttachment], html: str) -> None:
    """Files through Django's storage; inline images are then linked from the HTML."""
    by_cid: dict[str, int] = {}
    for part in attachments:
        attachment = Attachment(
            message=message,
            filename=part.filename,
            content_type=part.content_type[:100],
            size=len(part.content),
            content_id=part.content_id[:250],
            inline=part.inline,
        )
        attachment.file.save(part.filename, ContentFile(part.content), save=True)
        if part.content_id:
            by_cid[part.content_id] = attachment.pk
    if by_cid and html:

        def link(match: re.Match[str]) -> str:
            pk = by_cid.get(match.group(2))
            url = reverse("desk:attachment", args=[pk]) if pk else ""
            return f"{match.group(1)}{url}{match.group(1)}"

        Message.objects.filter(pk=message.pk).update(body_html=sanitise_html(_CID.sub(link, html)))


def _bounce(*, parsed: ParsedMail, ledger: InboundMail) -> MailOutcome:
    """A reply of ours came back: flag it on its ticket. A bounce of something we did
    not send is recorded and left alone (it answers nothing)."""
    ledger.outcome = InboundMail.Outcome.BOUNCE
    delivery = (
        Delivery.objects.filter(message__message_id=parsed.bounced_message_id)
        .select_related("message__ticket")
        .order_by("-id")
        .first()
        if parsed.bounced_message_id
        else None
    )
    if delivery is None:
        ledger.reason = "a bounce of a message the desk did not send"
        ledger.save()
        return MailOutcome(ledger.outcome, inbound=ledger)
    delivery_bounced(delivery=delivery, recipient=parsed.bounce_recipient)
    ledger.ticket, ledger.ticket_message = delivery.message.ticket, delivery.message
    ledger.reason = f"our reply to {parsed.bounce_recipient or delivery.to_address} bounced"
    ledger.save()
    return MailOutcome(ledger.outcome, inbound=ledger, ticket=ledger.ticket)


def _quarantine(
    *, raw: bytes, source: str, received_at: datetime, reason: str, message_id: str = ""
) -> MailOutcome:
    message_id = message_id or synthetic_message_id(raw)
    if InboundMail.objects.filter(message_id=message_id).exists():
        return MailOutcome(MailOutcome.DUPLICATE)
    ledger = InboundMail(
        received_at=received_at,
        source=source,
        message_id=message_id,
        size=len(raw),
        outcome=InboundMail.Outcome.QUARANTINED,
        reason=reason[:500],
    )
    ledger.raw.save(f"{uuid.uuid4().hex}.eml", ContentFile(raw), save=False)
    ledger.save()
    event_record(
        verb=Verb.MAIL_QUARANTINED,
        subject=ledger,
        actor_label=f"system:{source}",
        after={"reason": ledger.reason, "size": len(raw)},
    )
    return MailOutcome(ledger.outcome, inbound=ledger)


# ---------------------------------------------------------------- the quarantine


@transaction.atomic
def quarantined_mail_release(*, inbound: InboundMail, actor: User) -> Ticket:
    """A lead lets a quarantined message in, past the limits that held it. One that
    still cannot be read becomes a ticket of its own with the original attached, under
    the "Unknown senders" customer when nobody can be named."""
    inbound = InboundMail.objects.select_for_update().get(pk=inbound.pk)
    if inbound.outcome != InboundMail.Outcome.QUARANTINED:
        raise ValueError("This message is no longer in quarantine.")
    with inbound.raw.open("rb") as handle:
        raw = handle.read()
    unbounded = MailLimits(
        max_message_bytes=len(raw) + 1,
        max_attachment_bytes=len(raw) + 1,
        max_attachments=10_000,
        max_header_bytes=len(raw) + 1,
        max_parts=100_000,
        max_depth=10_000,
    )
    try:
        parsed: ParsedMail | None = parse_mail(raw, limits=unbounded)
    except MailRejected:
        parsed = None
    if parsed is not None and parsed.kind == Kind.MESSAGE and parsed.from_address:
        contact = sender_contact(parsed)
    else:
        contact = _unknown_sender_contact()
        parsed = ParsedMail(
            kind=Kind.MESSAGE,
            subject=(parsed.subject if parsed else "") or "Unreadable email",
            body_text=(
                f"This email was held in quarantine ({inbound.reason}) and cannot be shown "
                "as text; the original is attached."
            ),
            attachments=[
                ParsedAttachment(
                    filename="original.eml", content_type="message/rfc822", content=raw
                )
            ],
        )
    ticket, message, _opened = _file_message(
        parsed=parsed, message_id=inbound.message_id, contact=contact, sent_at=timezone.now()
    )
    InboundMail.objects.filter(pk=inbound.pk).update(
        outcome=InboundMail.Outcome.RELEASED,
        handled_by=actor,
        handled_at=timezone.now(),
        ticket=ticket,
        ticket_message=message,
    )
    event_record(
        verb=Verb.MAIL_RELEASED,
        subject=inbound,
        actor=actor,
        customer_id=ticket.customer_id,
        after={"ticket": ticket.pk, "reason": inbound.reason},
    )
    return ticket


def _unknown_sender_contact() -> Contact:
    customer = Customer.objects.filter(external_id=UNKNOWN_SENDER_ID).first() or customer_create(
        name="Unknown senders", external_id=UNKNOWN_SENDER_ID
    )
    return customer.contacts.first() or Contact.objects.create(customer=customer)


@transaction.atomic
def quarantined_mail_delete(*, inbound: InboundMail, actor: User) -> InboundMail:
    """Delete the stored message (spam, say); its ledger row stays, so the count holds."""
    inbound = InboundMail.objects.select_for_update().get(pk=inbound.pk)
    if inbound.outcome != InboundMail.Outcome.QUARANTINED:
        raise ValueError("This message is no longer in quarantine.")
    inbound.raw.delete(save=False)
    inbound.outcome = InboundMail.Outcome.DELETED
    inbound.handled_by, inbound.handled_at = actor, timezone.now()
    inbound.save(update_fields=["raw", "outcome", "handled_by", "handled_at"])
    event_record(
        verb=Verb.MAIL_DELETED, subject=inbound, actor=actor, after={"reason": inbound.reason}
    )
    return inbound
