"""Webhook deliveries as background tasks: each sends once and books its own retry; and
the booking of daily tasks, which book their successors."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks.base import Task
from django_tasks_db.models import DBTaskResult

from nextorder.core.models import WebhookDelivery, WebhookEvent
from nextorder.core.webhooks import webhook_deliveries_create, webhook_delivery_attempt


def webhooks_emit(
    *, events: list[WebhookEvent], occurred_at: datetime, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """Record a delivery per subscriber and enqueue its sending (from a dispatch listener,
    inside the change's transaction: the deliveries and their tasks commit with it)."""
    deliveries = webhook_deliveries_create(events=events, occurred_at=occurred_at, data=data)
    for delivery in deliveries:
        webhook_deliver.enqueue(delivery.pk)
    return deliveries


@task()
def webhook_deliver(delivery_id: int) -> dict[str, Any]:
    """Send one delivery; after a failure enqueue the next attempt at `next_attempt_at`
    (run_after on the database backend), so back-off needs no scheduler."""
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None:  # its subscription was deleted meanwhile
        return {"status": "gone"}
    delivery = webhook_delivery_attempt(delivery=delivery)
    if delivery.status == WebhookDelivery.Status.PENDING and delivery.next_attempt_at:
        webhook_deliver.using(run_after=delivery.next_attempt_at).enqueue(delivery.pk)
    return {
        "status": delivery.status,
        "attempts": delivery.attempts,
        "status_code": delivery.last_status_code,
    }


def next_local_time(*, at: str, setting: str, after: datetime) -> datetime:
    """The first `at` (HH:MM, in the shop's time zone, read from the setting named
    `setting`) strictly after `after`."""
    try:
        clock = time.fromisoformat(at)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{setting}={at!r} is not HH:MM") from exc
    day: date = timezone.localtime(after).date()
    candidate = timezone.make_aware(datetime.combine(day, clock))
    if candidate <= after:
        candidate = timezone.make_aware(datetime.combine(day + timedelta(days=1), clock))
    return candidate


def book_once(booked_task: Task[Any, Any], *, run_after: datetime) -> datetime:
    """Book a run of a task that books its own successor, unless a run is booked already
    (one pending run at most); return when the booked run will be."""
    if not booked_task.get_backend().supports_defer:
        raise ImproperlyConfigured(
            "the task backend cannot run tasks later; use django_tasks_db's DatabaseBackend"
        )
    with transaction.atomic():
        booked = (
            DBTaskResult.objects.select_for_update()
            .filter(task_path=booked_task.module_path, status=TaskResultStatus.READY)
            .order_by("run_after")
            .first()
        )
        if booked is not None:
            return booked.run_after
        booked_task.using(run_after=run_after).enqueue()
        return run_after
