"""Background work of the desk, run by `nextorder db_worker`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone
from django_tasks import task

from nextorder.core.models import Verb
from nextorder.core.services import event_record
from nextorder.core.tasks import book_once
from nextorder.desk.mail.outbound import delivery_attempt
from nextorder.desk.models import Delivery, SlaPolicy
from nextorder.desk.services import new_message_id
from nextorder.desk.sla import sla_clocks_check, sla_recompute_open


@task()
def deliver_reply(delivery_id: int) -> str:
    """Try to send the reply; book the next try when it failed and tries are left."""
    delivery = delivery_attempt(delivery_id=delivery_id)
    if delivery.status == Delivery.Status.QUEUED and delivery.next_attempt_at is not None:
        deliver_reply.using(run_after=delivery.next_attempt_at).enqueue(delivery_id)
    return delivery.status


@task()
def send_notice(to: str, subject: str, text: str) -> None:
    """Mail something that is not a reply: to a customer (a confirmation, a log-in link),
    or to staff (a service-level warning).

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


@task()
def sla_recompute(policy_id: int | None = None, because: str = "") -> dict[str, Any]:
    """After a policy or a calendar changed: every open ticket's policy and due times
    again (`because`: the verb of the calendar change, when it was one)."""
    report = sla_recompute_open()
    policy = SlaPolicy.objects.filter(pk=policy_id).first() if policy_id else None
    event_record(
        verb=Verb.SLA_RECOMPUTED,
        subject=policy,
        actor_label="system:sla",
        after={**asdict(report), "policy": policy_id, "because": because},
    )
    return asdict(report)


@task()
def sla_check() -> dict[str, Any]:
    """Warn and escalate what is due, then book the next check whatever happened, so the
    chain never breaks (as the nightly scoring does)."""
    outcome: dict[str, Any] = {}
    try:
        outcome.update(asdict(sla_clocks_check()))
    finally:
        outcome["next_run"] = sla_check_schedule().isoformat()
    return outcome


def sla_check_schedule() -> datetime:
    """Book the next SLA check unless one is booked; return when it will run."""
    when = timezone.now() + timedelta(seconds=settings.NEXTORDER_SLA_CHECK_SECONDS)
    return book_once(sla_check, run_after=when)
