"""Ticket events as webhook events (`ticket.created`, `ticket.updated`, `ticket.solved`).

Registered by DeskConfig.ready: core sends webhooks but knows nothing of tickets.
Internal notes announce nothing: subscribers are outside the desk. The ticket is sent
as the API shows it (`TicketOut`), so a subscriber parses one shape.
"""

from __future__ import annotations

from collections.abc import Sequence

from nextorder.core.dispatch import on_event
from nextorder.core.models import Event, Verb, WebhookEvent
from nextorder.core.tasks import webhooks_emit
from nextorder.core.webhooks import webhooks_wanted
from nextorder.desk.api import TicketOut
from nextorder.desk.models import Ticket


@on_event(
    Verb.TICKET_OPENED, Verb.TICKET_UPDATED, Verb.TICKET_REPLIED, Verb.TICKET_MESSAGE_RECEIVED
)
def ticket_webhooks(events: Sequence[Event]) -> None:
    announced = [(event, _webhook_events(event)) for event in events]
    if not webhooks_wanted(events=sorted({e for _, wanted in announced for e in wanted})):
        return
    tickets = Ticket.objects.in_bulk([event.subject_id for event in events if event.subject_id])
    for event, webhook_events in announced:
        if (ticket := tickets.get(event.subject_id or 0)) is not None:
            data = TicketOut.model_validate(ticket).model_dump(mode="json")
            webhooks_emit(events=webhook_events, occurred_at=event.occurred_at, data=data)


def _webhook_events(event: Event) -> list[WebhookEvent]:
    if event.verb == Verb.TICKET_OPENED:
        return [WebhookEvent.TICKET_CREATED]
    if event.after.get("status") == Ticket.Status.SOLVED:
        return [WebhookEvent.TICKET_UPDATED, WebhookEvent.TICKET_SOLVED]
    return [WebhookEvent.TICKET_UPDATED]
