"""The one way to write an event row; every state-changing service calls it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from nextorder.core.models import Event


def staff_actor(actor: User | None) -> User | None:
    """The user to record as having acted: an anonymous or missing one is nobody."""
    return actor if actor is not None and actor.is_authenticated else None


def event_record(
    *,
    verb: str,
    subject: models.Model,
    actor: User | None = None,
    actor_label: str = "",
    customer_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """`occurred_at` is for history brought in from elsewhere; live changes use now."""
    return Event.objects.create(
        occurred_at=occurred_at or timezone.now(),
        actor=staff_actor(actor),
        actor_label=actor_label,
        verb=verb,
        subject_type=ContentType.objects.get_for_model(subject),
        subject_id=subject.pk,
        customer_id=customer_id,
        before=before or {},
        after=after or {},
    )
