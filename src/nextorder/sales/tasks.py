"""Background work of sales, run by `nextorder db_worker`: the hourly check of promises
and agreements, the nightly co-occurrence table (each booking its next run), and the
owners' notices."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone
from django_tasks import task

from nextorder.core.models import Event, Verb
from nextorder.core.tasks import book_once, next_local_time
from nextorder.sales.models import Commitment
from nextorder.sales.services import (
    commitments_check,
    product_affinities_refresh,
    renewal_leads_create,
)


@task()
def owner_notify(event_id: int) -> str:
    """Email a promise's owner what happened to it (coming due, broken). Runs once per
    event; an owner without an address is told on the promises page only."""
    event = Event.objects.filter(pk=event_id).first()
    if event is None or event.subject_id is None:
        return "gone"
    commitment = (
        Commitment.objects.select_related("owner", "customer").filter(pk=event.subject_id).first()
    )
    if commitment is None or not commitment.owner.email:
        return "no address"
    due = timezone.localtime(commitment.due_at)
    if event.verb == Verb.COMMITMENT_DUE_SOON:
        subject = f"Promise to {commitment.customer.name} due {due:%d %b %H:%M}"
        text = f"Your promise to {commitment.customer.name} is due {due:%d %b %Y %H:%M}."
    else:
        subject = f"Promise to {commitment.customer.name} broken"
        text = f"Your promise to {commitment.customer.name} was broken: {commitment.reason}"
    EmailMessage(
        subject=subject,
        body=f"{text}\n\n{commitment.get_kind_display()}: {commitment.description}\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[commitment.owner.email],
        headers={"Auto-Submitted": "auto-generated"},
    ).send()
    return "sent"


@task()
def promises_check_hourly() -> dict[str, Any]:
    """Owners told of promises coming due, overdue ones broken, agreements ending soon
    made renewal leads; then the next hour's run booked, whatever happened."""
    try:
        promises = commitments_check()
        renewals = renewal_leads_create()
        return {
            "promises_due_soon": promises.flagged_due_soon,
            "promises_broken": promises.broken_overdue,
            "renewal_leads": len(renewals),
        }
    finally:
        book_once(promises_check_hourly, run_after=timezone.now() + timedelta(hours=1))


@task()
def affinities_refresh_nightly() -> dict[str, Any]:
    """The co-occurrence table the upsell suggestions read, rebuilt once a night (it reads
    every order line); then the next night's run booked."""
    try:
        return {"product_pairs": product_affinities_refresh()}
    finally:
        book_once(
            affinities_refresh_nightly,
            run_after=next_local_time(
                at=settings.NEXTORDER_AFFINITY_TIME,
                setting="NEXTORDER_AFFINITY_TIME",
                after=timezone.now(),
            ),
        )


def sales_schedule() -> dict[str, datetime]:
    """Book the first hourly promise check (now) and nightly refresh unless booked
    (`nextorder sales schedule`, which the demo does too); idempotent."""
    now = timezone.now()
    return {
        "promises": book_once(promises_check_hourly, run_after=now),
        "affinities": book_once(
            affinities_refresh_nightly,
            run_after=next_local_time(
                at=settings.NEXTORDER_AFFINITY_TIME,
                setting="NEXTORDER_AFFINITY_TIME",
                after=now,
            ),
        ),
    }
