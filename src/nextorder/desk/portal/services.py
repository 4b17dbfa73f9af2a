"""What customers change without an agent: a message through the contact form, a
log-in link to the portal asked for and used, a reply written in the portal.

Mail to the customer is a `send_notice` task enqueued inside the transaction, so it
goes out exactly when the change commits (core/dispatch.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from nextorder.core.models import Verb
from nextorder.core.services import event_record
from nextorder.crm.models import Contact, ContactEmail
from nextorder.crm.services import contact_for_email, normalise_email
from nextorder.desk.models import PortalLoginToken, Ticket
from nextorder.desk.services import ReceivedMessage, ticket_open, ticket_receive_message
from nextorder.desk.tasks import send_notice

# What secrets.token_urlsafe(32) returns: 43 characters of the URL-safe alphabet.
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
# Used and expired links are kept this long (so that a second click is told "already
# used", not "not valid"), then deleted when a new link is made.
_KEEP_SPENT_LINKS = timedelta(days=1)


@transaction.atomic
def web_form_submit(
    *, name: str, email: str, subject: str, message: str, order_number: str = "", portal_url: str
) -> Ticket:
    """Open a ticket for the sender (a new customer if the address is new) and mail a
    confirmation whose subject carries the ticket's [#id], so a reply to it threads.

    The confirmation repeats nothing the sender typed: anyone can enter anyone's
    address, and the form must not mail a stranger's words to it.
    """
    body = message
    if order_number.strip():
        body = f"{message}\n\nOrder number: {order_number.strip()}"
    contact = contact_for_email(address=email, name=name)
    ticket = ticket_open(
        customer=contact.customer,
        contact=contact,
        subject=subject,
        body_text=body,
        channel=Ticket.Channel.WEB_FORM,
    )
    send_notice.enqueue(
        to=normalise_email(email),
        subject=f"We received your message [#{ticket.pk}]",
        text=(
            f"Thank you for writing to us. Your message is ticket #{ticket.pk}; we will "
            "answer it by email.\n\n"
            "To add to it, reply to this email (keep the [#"
            f"{ticket.pk}] in the subject), or follow it in the customer portal:\n"
            f"{portal_url}\n"
        ),
    )
    return ticket


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def portal_link_request(*, address: str, site_url: str) -> PortalLoginToken | None:
    """Mail a one-time log-in link if a contact has `address`; None (and nothing sent,
    nothing recorded) otherwise. The caller tells the person the same either way."""
    known = (
        ContactEmail.objects.select_related("contact")
        .filter(address=normalise_email(address))
        .first()
    )
    if known is None:
        return None
    now = timezone.now()
    PortalLoginToken.objects.filter(expires_at__lt=now - _KEEP_SPENT_LINKS).delete()
    secret = secrets.token_urlsafe(32)
    minutes = settings.NEXTORDER_PORTAL_LINK_MINUTES
    token = PortalLoginToken.objects.create(
        contact=known.contact,
        token_sha256=_sha256(secret),
        expires_at=now + timedelta(minutes=minutes),
    )
    link = site_url.rstrip("/") + reverse("portal:login", args=[secret])
    send_notice.enqueue(
        to=known.address,
        subject="Your log-in link to the customer portal",
        text=(
            f"Open this link to log in to the customer portal:\n{link}\n\n"
            f"It works once, within {minutes} minutes. If you did not ask for it, "
            "ignore this email: nobody can log in without the link.\n"
        ),
    )
    event_record(
        verb=Verb.PORTAL_LINK_SENT,
        subject=known.contact,
        actor_label=f"customer:{known.contact_id}",
        customer_id=known.contact.customer_id,
        after={"to": known.address, "token": token.pk},
    )
    return token


class PortalLinkRefused(Exception):
    """A log-in link that logs nobody in, with what to tell the person and the status."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def portal_link_check(*, secret: str) -> PortalLoginToken:
    """The unused, unexpired link with this secret, or PortalLinkRefused saying why."""
    token = (
        PortalLoginToken.objects.select_related("contact")
        .filter(token_sha256=_sha256(secret))
        .first()
        if _SECRET.fullmatch(secret)
        else None
    )
    if token is None:
        raise PortalLinkRefused(
            "This log-in link is not valid: it may have been cut short or changed. "
            "Copy the whole link from the email, or ask for a new one.",
            400,
        )
    if token.used_at is not None:
        raise PortalLinkRefused(
            "This log-in link has been used already; each link works once. Ask for a new one.",
            410,
        )
    if token.expires_at <= timezone.now():
        raise PortalLinkRefused(
            "This log-in link has expired; links work for "
            f"{settings.NEXTORDER_PORTAL_LINK_MINUTES} minutes. Ask for a new one.",
            410,
        )
    return token


@transaction.atomic
def portal_link_use(*, secret: str) -> Contact:
    """Spend the link and return the contact it logs in; refused links change nothing."""
    token = portal_link_check(secret=secret)
    now = timezone.now()
    spent = PortalLoginToken.objects.filter(pk=token.pk, used_at__isnull=True).update(used_at=now)
    if not spent:  # another request used it since the check
        raise PortalLinkRefused("This log-in link has been used already. Ask for a new one.", 410)
    event_record(
        verb=Verb.PORTAL_LINK_USED,
        subject=token.contact,
        actor_label=f"customer:{token.contact_id}",
        customer_id=token.contact.customer_id,
        after={"token": token.pk},
    )
    return token.contact


@transaction.atomic
def portal_ticket_reply(*, contact: Contact, ticket: Ticket, body: str) -> ReceivedMessage:
    """The contact answers one of their customer's tickets (a solved one reopens).

    A closed ticket takes no more messages: what the customer has to say now is a new
    request, which an agent would otherwise never see.
    """
    if ticket.customer_id != contact.customer_id:
        raise ValidationError("This ticket is not one of yours.")
    if ticket.status == Ticket.Status.CLOSED:
        raise ValidationError("This ticket is closed; please write to us with a new message.")
    return ticket_receive_message(ticket=ticket, contact=contact, body_text=body)
