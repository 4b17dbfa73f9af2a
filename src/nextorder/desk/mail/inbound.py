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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.urls import reverse
from django.utils import timezone

from nextorder.core.html import sanitise_html
from nextorder.core.models import Verb
from nextorder.core.services import event_record
from nextorder.crm.models import Contact, Customer
from nextorder.crm.services import contacts_for_emails, customer_create
from nextorder.desk.mail.outbound import TICKET_TOKEN, delivery_bounced
from nextorder.desk.mail.parse import (
    CID_IN_HTML,
    Kind,
    Letter,
    MailLimits,
    MailRejected,
    ParsedAttachment,
    ParsedMail,
    parse_mail,
    read_letter,
)
from nextorder.desk.merge import merge_survivors
from nextorder.desk.models import Attachment, Delivery, InboundMail, Message, Ticket
from nextorder.desk.services import CustomerMessage, ReceivedMessage, customer_messages_receive

UNKNOWN_SENDER_ID = "nextorder:unknown-sender"


def mail_limits() -> MailLimits:
    megabyte = 1024 * 1024
    return MailLimits(
        max_message_bytes=int(settings.NEXTORDER_MAIL_MAX_MESSAGE_MB * megabyte),
        max_attachment_bytes=int(settings.NEXTORDER_MAIL_MAX_ATTACHMENT_MB * megabyte),
    )


# The files stored inside the innermost `files_kept_only_if_committed` block.
_STORED: ContextVar[list[FieldFile] | None] = ContextVar("stored_mail_files", default=None)


@contextmanager
def files_kept_only_if_committed() -> Iterator[None]:
    """Wrap a transaction that stores mail files: when it ends in an error, the files it
    stored are deleted, since a rolled-back row leaves its file behind in storage (neither
    the database nor Django removes it). A block inside another hands its files to the
    outer one when it succeeds, so they go if the outer transaction fails after all."""
    outer = _STORED.get()
    stored: list[FieldFile] = []
    token = _STORED.set(stored)
    try:
        yield
    except BaseException:
        for field in stored:
            field.delete(save=False)
        raise
    else:
        if outer is not None:
            outer.extend(stored)
    finally:
        _STORED.reset(token)


def _store_file(field: FieldFile, *, name: str, content: bytes) -> None:
    field.save(name, ContentFile(content), save=False)
    if (stored := _STORED.get()) is not None:
        stored.append(field)


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
    """Take one message into the desk (see `mail_receive_many`)."""
    return mail_receive_many(
        letters=[read_letter(raw, limits=mail_limits())],
        source=source,
        received_at=received_at,
        history=history,
    )[0]


def mail_receive_many(
    *,
    letters: Sequence[Letter],
    source: str,
    received_at: datetime | None = None,
    history: bool = False,
) -> list[MailOutcome]:
    """Take messages into the desk in one transaction, in order: the one way in for
    SMTP, IMAP and mailbox imports.

    `history` is for a mailbox brought from another tool: each message's own Date dates
    it. Two deliveries of one message (same Message-ID, or the same bytes when it has
    none) make one ticket message. A race with a concurrent writer (two first messages
    from one new sender through two channels) is settled by the database's unique keys:
    the batch is tried again, then message by message, so one bad message never holds
    back the others.
    """
    received_at = received_at or timezone.now()
    for _attempt in (1, 2):
        try:
            with files_kept_only_if_committed(), transaction.atomic():
                return _receive(letters, source=source, received_at=received_at, history=history)
        except IntegrityError:
            if len(letters) == 1 and _attempt == 2:
                raise
    return [
        mail_receive_many(
            letters=[letter], source=source, received_at=received_at, history=history
        )[0]
        for letter in letters
    ]


def synthetic_message_id(raw: bytes) -> str:
    """For a message without a Message-ID: the same bytes delivered twice get one id."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@no-message-id.nextorder>"


def _received_ids(message_ids: set[str]) -> set[str]:
    """Which of these Message-IDs the desk holds already (as a ticket message or a ledger row)."""
    ids = list(message_ids)
    found = [
        model.objects.filter(message_id__in=ids).order_by().values_list("message_id", flat=True)
        for model in (Message, InboundMail)
    ]
    return set(found[0].union(found[1]))


@dataclass(frozen=True)
class _Filing:
    """A customer's message on its way into a ticket."""

    parsed: ParsedMail
    message_id: str
    contact: Contact
    sent_at: datetime


def _receive(
    letters: Sequence[Letter], *, source: str, received_at: datetime, history: bool
) -> list[MailOutcome]:
    outcomes: list[MailOutcome | None] = [None] * len(letters)
    ids = [
        (letter.parsed.message_id if letter.parsed else "") or synthetic_message_id(letter.raw)
        for letter in letters
    ]
    seen = _received_ids(set(ids))
    ledger: dict[int, InboundMail] = {}
    from_customers: list[int] = []
    for n, (letter, message_id) in enumerate(zip(letters, ids, strict=True)):
        parsed = letter.parsed
        if message_id in seen:
            outcomes[n] = MailOutcome(MailOutcome.DUPLICATE)
            continue
        seen.add(message_id)
        if parsed is None:
            outcomes[n] = _quarantine(
                letter, reason=letter.rejected, message_id=message_id, source=source, at=received_at
            )
            continue
        row = InboundMail(
            received_at=received_at,
            source=source,
            message_id=message_id,
            from_address=parsed.from_address[:254],
            subject=parsed.subject,
            size=len(letter.raw),
        )
        if parsed.kind == Kind.BOUNCE:
            outcomes[n] = _bounce(parsed=parsed, ledger=row)
        elif parsed.kind == Kind.AUTO_REPLY:
            row.outcome = InboundMail.Outcome.AUTO_REPLY
            ledger[n] = row
        elif not parsed.from_address:
            reason = "no sender address (From): nobody to answer"
            outcomes[n] = _quarantine(
                letter, reason=reason, message_id=message_id, source=source, at=received_at
            )
        else:
            ledger[n] = row
            from_customers.append(n)
    contacts = sender_contacts([letters[n].parsed for n in from_customers])  # type: ignore[misc]
    filings: dict[int, _Filing] = {}
    for n in from_customers:
        parsed = letters[n].parsed
        assert parsed is not None
        contact = contacts.get(parsed.from_address)
        if contact is None:
            reason = f"the sender address {parsed.from_address[:100]!r} is not valid"
            outcomes[n] = _quarantine(
                letters[n], reason=reason, message_id=ids[n], source=source, at=received_at
            )
            del ledger[n]
            continue
        sent_at = (parsed.sent_at or received_at) if history else received_at
        filings[n] = _Filing(parsed=parsed, message_id=ids[n], contact=contact, sent_at=sent_at)
    for n, received in zip(filings, _file_messages(list(filings.values())), strict=True):
        row = ledger[n]
        row.outcome = InboundMail.Outcome.OPENED if received.opened else InboundMail.Outcome.ADDED
        row.ticket, row.ticket_message = received.ticket, received.message
    InboundMail.objects.bulk_create(ledger.values())
    for n, row in ledger.items():
        outcomes[n] = MailOutcome(
            row.outcome, inbound=row, ticket=row.ticket, message=row.ticket_message
        )
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def sender_contacts(parsed: Sequence[ParsedMail]) -> dict[str, Contact]:
    """The senders' contacts by address (crm.contacts_for_emails makes them for strangers);
    an address that is not valid has none."""
    senders: dict[str, str] = {}
    for mail in parsed:
        senders.setdefault(mail.from_address, mail.from_name)
    return contacts_for_emails(senders=senders)


def _file_messages(filings: list[_Filing]) -> list[ReceivedMessage]:
    """Each message into the ticket it continues, or a new one, with its attachments."""
    continues = _threads(filings)
    received = customer_messages_receive(
        messages=[
            CustomerMessage(
                contact=filing.contact,
                subject=filing.parsed.subject,
                body_text=_body_text(filing.parsed),
                body_html=filing.parsed.body_html,
                sent_at=filing.sent_at,
                message_id=filing.message_id,
                in_reply_to=filing.parsed.in_reply_to,
                references=" ".join(filing.parsed.references),
                ticket=ticket if isinstance(ticket, Ticket) else None,
                continues=ticket if isinstance(ticket, int) else None,
            )
            for filing, ticket in zip(filings, continues, strict=True)
        ]
    )
    _store_attachments(
        [
            (r.message, f.parsed.attachments, f.parsed.body_html)
            for f, r in zip(filings, received, strict=True)
        ]
    )
    return received


def _threads(filings: list[_Filing]) -> list[Ticket | int | None]:
    """The ticket each message continues: a ticket, the index of an earlier message of the
    batch whose ticket it continues, or None for a new ticket.

    By our Message-IDs in In-Reply-To and References (the latest message among them),
    then by the [#id] token in the subject (only the sender's own customer's ticket). A
    closed ticket is not reopened: the customer's new message starts a new one.
    """
    referenced = {i for f in filings for i in _thread_ids(f.parsed)}
    earlier: dict[str, tuple[datetime, int]] = {
        message_id: (sent_at, ticket_id)
        for message_id, sent_at, ticket_id in Message.objects.filter(
            message_id__in=list(referenced)
        ).values_list("message_id", "sent_at", "ticket_id")
    }
    tokens = {
        n: int(token.group(1))
        for n, f in enumerate(filings)
        if (token := TICKET_TOKEN.search(f.parsed.subject))
    }
    wanted = {ticket_id for _, ticket_id in earlier.values()} | set(tokens.values())
    tickets = merge_survivors(Ticket.objects.in_bulk(list(wanted)))
    in_batch: dict[str, tuple[datetime, Ticket | int | None]] = {}
    continues: list[Ticket | int | None] = []
    for n, filing in enumerate(filings):
        ids = _thread_ids(filing.parsed)
        candidates: list[tuple[datetime, Ticket | int | None]] = [
            *(in_batch[i] for i in ids if i in in_batch),
            *((earlier[i][0], tickets.get(earlier[i][1])) for i in ids if i in earlier),
        ]
        target = max(candidates, key=lambda c: c[0])[1] if candidates else None
        if target is None and n in tokens:
            ticket = tickets.get(tokens[n])
            if ticket is not None and ticket.customer_id == filing.contact.customer_id:
                target = ticket
        if isinstance(target, Ticket) and target.status == Ticket.Status.CLOSED:
            target = None
        continues.append(target)
        in_batch[filing.message_id] = (filing.sent_at, n)
    return continues


def _thread_ids(parsed: ParsedMail) -> list[str]:
    """The Message-IDs a message answers: In-Reply-To and the 50 latest References."""
    return [i for i in (parsed.in_reply_to, *parsed.references[-50:]) if i]


def _body_text(parsed: ParsedMail) -> str:
    if parsed.body_text.strip():
        return parsed.body_text
    files = len([a for a in parsed.attachments if not a.inline])
    return f"(no text; {files} attachment{'s' if files != 1 else ''})" if files else "(no text)"


def _store_attachments(messages: list[tuple[Message, list[ParsedAttachment], str]]) -> None:
    """Files through Django's storage, rows in one INSERT; inline images are then linked
    from their message's HTML."""
    rows = [
        (
            html,
            Attachment(
                message=message,
                filename=part.filename,
                content_type=part.content_type[:100],
                size=len(part.content),
                content_id=part.content_id[:250],
                inline=part.inline,
            ),
            part,
        )
        for message, parts, html in messages
        for part in parts
    ]
    for _html, attachment, part in rows:
        _store_file(attachment.file, name=part.filename, content=part.content)
    Attachment.objects.bulk_create([attachment for _html, attachment, _part in rows])
    by_message: dict[Message, tuple[str, dict[str, int]]] = {}
    for html, attachment, part in rows:
        if part.content_id and html:
            links = by_message.setdefault(attachment.message, (html, {}))[1]
            links[part.content_id] = attachment.pk
    for message, (html, by_cid) in by_message.items():

        def link(match: re.Match[str], by_cid: dict[str, int] = by_cid) -> str:
            pk = by_cid.get(match.group(2))
            url = reverse("desk:attachment", args=[pk]) if pk else ""
            return f"{match.group(1)}{url}{match.group(1)}"

        Message.objects.filter(pk=message.pk).update(
            body_html=sanitise_html(CID_IN_HTML.sub(link, html))
        )


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
    letter: Letter, *, reason: str, message_id: str, source: str, at: datetime
) -> MailOutcome:
    ledger = InboundMail(
        received_at=at,
        source=source,
        message_id=message_id,
        size=len(letter.raw),
        outcome=InboundMail.Outcome.QUARANTINED,
        reason=reason[:500],
    )
    _store_file(ledger.raw, name=f"{uuid.uuid4().hex}.eml", content=letter.raw)
    ledger.save()
    event_record(
        verb=Verb.MAIL_QUARANTINED,
        subject=ledger,
        actor_label=f"system:{source}",
        after={"reason": ledger.reason, "size": len(letter.raw)},
    )
    return MailOutcome(ledger.outcome, inbound=ledger)


# ---------------------------------------------------------------- the quarantine


@files_kept_only_if_committed()
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
    contact = (
        sender_contacts([parsed]).get(parsed.from_address)
        if parsed is not None and parsed.kind == Kind.MESSAGE
        else None
    )
    if contact is None:
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
    assert parsed is not None
    [received] = _file_messages(
        [
            _Filing(
                parsed=parsed,
                message_id=inbound.message_id,
                contact=contact,
                sent_at=timezone.now(),
            )
        ]
    )
    ticket, message = received.ticket, received.message
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
