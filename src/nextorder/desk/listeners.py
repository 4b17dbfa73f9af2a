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
