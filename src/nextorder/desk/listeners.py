"""What the desk does when its events happen (see core/dispatch.py)."""

from __future__ import annotations

from collections.abc import Sequence

from nextorder.core.dispatch import on_event
from nextorder.core.models import Event, Verb


@on_event(Verb.TICKET_REPLIED)
def reply_enqueue_delivery(events: Sequence[Event]) -> None:
    """A live public reply carries its delivery row: book the worker to send it."""
    from nextorder.desk.tasks import deliver_reply

    for event in events:
        if delivery_id := event.after.get("delivery"):
            deliver_reply.enqueue(delivery_id)


@on_event(Verb.SLA_WARNED, Verb.SLA_BREACHED)
def sla_notice_enqueue(events: Sequence[Event]) -> None:
    """A warning or a breach mails the people its event names (booked with the change,
    so a worker that stops after the commit still sends it, and one that stops before
    sends nothing)."""
    from nextorder.desk.tasks import send_notice

    for event in events:
        for address in event.after.get("notify", []):
            send_notice.enqueue(address, event.after["subject"], event.after["text"])


@on_event(Verb.SLA_POLICY_CREATED, Verb.SLA_POLICY_CHANGED)
def sla_recompute_enqueue(events: Sequence[Event]) -> None:
    """A policy changed: the worker recomputes the open tickets' due times."""
    from nextorder.desk.tasks import sla_recompute

    for event in events:
        if event.subject_id is not None:
            sla_recompute.enqueue(event.subject_id)


@on_event(
    Verb.CALENDAR_CHANGED,
    Verb.CALENDAR_EXCEPTION_SET,
    Verb.CALENDAR_IMPORTED,
    Verb.TEAM_CALENDAR_SET,
)
def sla_recompute_after_calendar(events: Sequence[Event]) -> None:
    """Other hours move the due times of the clocks that run in them: once per change."""
    from nextorder.desk.tasks import sla_recompute

    sla_recompute.enqueue(None, events[0].verb)
