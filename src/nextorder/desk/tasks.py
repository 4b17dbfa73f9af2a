"""Background work of the desk, run by `nextorder db_worker`."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django_tasks import task

from nextorder.desk.mail.outbound import delivery_attempt
from nextorder.desk.models import Delivery
from nextorder.desk.services import new_message_id


@task()
def deliver_reply(delivery_id: int) -> str:
    """Try to send the reply; book the next try when it failed and tries are left."""
    delivery = delivery_attempt(delivery_id=delivery_id)
    if delivery.status == Delivery.Status.QUEUED and delivery.next_attempt_at is not None:
        deliver_reply.using(run_after=delivery.next_attempt_at).enqueue(delivery_id)
    return delivery.status


@task()
def send_notice(to: str, subject: str, text: str) -> None:
    """Mail a customer something that is not a reply (a confirmation, a log-in link).

    `Auto-Submitted: auto-replied` (RFC 3834) tells the customer's auto-responder not to
    answer it, so an out-of-office reply cannot start a loop with the desk.
    """
    EmailMessage(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Auto-Submitted": "auto-replied", "Message-ID": new_message_id()},
    ).send()
