"""Replies by email: the message as the customer's mail client will thread it, and its
delivery, tried by the worker with back-off until it is sent or finally fails.

Delivery is at least once: a worker that dies between the SMTP server's "250" and the
row's update sends the reply again on its next try, with the same Message-ID, which
mail clients show once.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone
from django.utils.html import escape

from nextorder.core.html import sanitise_html
from nextorder.core.models import Verb
from nextorder.core.services import event_record
from nextorder.desk.models import Delivery, Message, Ticket

_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|fw|fwd)\s*:\s*)+", re.IGNORECASE)
TICKET_TOKEN = re.compile(r"\[#(\d{1,18})\]")


def reply_subject(ticket: Ticket) -> str:
    """ "Re: <subject> [#id]": the token threads the customer's answer even when their
    client drops our Message-ID from the headers."""
    subject = TICKET_TOKEN.sub("", _REPLY_PREFIX.sub("", ticket.subject)).strip()
    return f"Re: {subject} [#{ticket.pk}]"


def _earlier_message(message: Message) -> Message | None:
    return (
        message.ticket.messages.exclude(direction=Message.Direction.NOTE)
        .filter(sent_at__lte=message.sent_at)
        .exclude(pk=message.pk)
        .select_related("author_user", "author_contact")
        .order_by("-sent_at", "-id")
        .first()
    )


def reply_email(*, delivery: Delivery) -> EmailMultiAlternatives:
    message = delivery.message
    ticket = message.ticket
    text, html = message.body_text, message.body_html
    earlier = _earlier_message(message)
    if earlier is not None:
        when = timezone.localtime(earlier.sent_at)
        said = f"On {when:%-d %b %Y %H:%M}, {earlier.author_display} wrote:"
        quoted = "\n".join(f"> {line}" for line in earlier.body_text.splitlines())
        text = f"{text}\n\n{said}\n{quoted}\n"
        html = (
            f"{html}<p>{escape(said)}</p>"
            f"<blockquote>{sanitise_html(earlier.body_html)}</blockquote>"
        )
    headers = {
        "Message-ID": message.message_id,
        "X-NextOrder-Ticket": str(ticket.pk),
    }
    if message.in_reply_to:
        headers["In-Reply-To"] = message.in_reply_to
    if message.references:
        headers["References"] = message.references
    email = EmailMultiAlternatives(
        subject=reply_subject(ticket),
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[delivery.to_address],
        headers=headers,
    )
    email.attach_alternative(html, "text/html")
    return email


def _retry_delay(attempts: int) -> timedelta:
    return timedelta(minutes=2 ** (attempts - 1))


def delivery_attempt(*, delivery_id: int) -> Delivery:
    """Send a queued reply once. A failure leaves it queued for a later try
    (`next_attempt_at`), or failed after NEXTORDER_DELIVERY_ATTEMPTS tries."""
    delivery = Delivery.objects.select_related("message__ticket", "message__author_user").get(
        pk=delivery_id
    )
    if delivery.status != Delivery.Status.QUEUED:
        return delivery  # already sent, failed or bounced: a repeated task does nothing
    try:
        reply_email(delivery=delivery).send()
    except Exception as exc:  # any SMTP, network or backend error: try again later
        return _delivery_failed_attempt(delivery=delivery, error=f"{type(exc).__name__}: {exc}")
    return _delivery_sent(delivery=delivery)


@transaction.atomic
def _delivery_sent(*, delivery: Delivery) -> Delivery:
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENT,
        sent_at=now,
        attempts=delivery.attempts + 1,
        next_attempt_at=None,
        last_error="",
    )
    ticket = delivery.message.ticket
    Ticket.objects.filter(pk=ticket.pk, delivery_failed=True).update(delivery_failed=False)
    event_record(
        verb=Verb.REPLY_SENT,
        subject=ticket,
        actor_label="system:mail",
        customer_id=ticket.customer_id,
        after={"message": delivery.message_id, "to": delivery.to_address},
    )
    delivery.refresh_from_db()
    return delivery


@transaction.atomic
def _delivery_failed_attempt(*, delivery: Delivery, error: str) -> Delivery:
    attempts = delivery.attempts + 1
    now = timezone.now()
    final = attempts >= settings.NEXTORDER_DELIVERY_ATTEMPTS
    Delivery.objects.filter(pk=delivery.pk).update(
        attempts=attempts,
        last_error=error[:500],
        status=Delivery.Status.FAILED if final else Delivery.Status.QUEUED,
        failed_at=now if final else None,
        next_attempt_at=None if final else now + _retry_delay(attempts),
    )
    if final:
        _ticket_flag_undelivered(
            delivery=delivery,
            verb=Verb.REPLY_FAILED,
            to=delivery.to_address,
            attempts=attempts,
            error=error[:200],
        )
    delivery.refresh_from_db()
    return delivery


@transaction.atomic
def delivery_bounced(*, delivery: Delivery, recipient: str = "", reason: str = "") -> Delivery:
    """The mail server accepted the reply and later returned it: the address is bad."""
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.BOUNCED,
        failed_at=timezone.now(),
        last_error=(reason or f"returned for {recipient or delivery.to_address}")[:500],
    )
    _ticket_flag_undelivered(
        delivery=delivery, verb=Verb.REPLY_BOUNCED, to=recipient or delivery.to_address
    )
    delivery.refresh_from_db()
    return delivery


def _ticket_flag_undelivered(*, delivery: Delivery, verb: Verb, **facts: object) -> None:
    """A reply that will not arrive: the ticket is flagged in the queue, and says why."""
    ticket = delivery.message.ticket
    Ticket.objects.filter(pk=ticket.pk).update(delivery_failed=True)
    event_record(
        verb=verb,
        subject=ticket,
        actor_label="system:mail",
        customer_id=ticket.customer_id,
        after={"message": delivery.message_id, **facts},
    )
