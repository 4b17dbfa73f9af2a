"""Ticket events as webhook events (`ticket.created`, `ticket.updated`, `ticket.solved`).

Registered by DeskConfig.ready: core sends webhooks but knows nothing of tickets.
Internal notes announce nothing: subscribers are outside the desk. The ticket is sent
as the API shows it (`TicketOut`), so a subscriber parses one shape.
"""

from __future__ import annotations

from nextorder.core.dispatch import on_event
from nextorder.core.models import Event, Verb, WebhookEvent
from nextorder.core.tasks import webhooks_emit
from nextorder.core.webhooks import webhooks_wanted
from nextorder.desk.api import TicketOut
from nextorder.desk.models import Ticket


@on_event(
    Verb.TICKET_OPENED, Verb.TICKET_UPDATED, Verb.TICKET_REPLIED, Verb.TICKET_MESSAGE_RECEIVED
)
def ticket_webhooks(event: Event) -> None:
    events = [WebhookEvent.TICKET_CREATED]
    if event.verb != Verb.TICKET_OPENED:
        events = [WebhookEvent.TICKET_UPDATED]
        if event.after.get("status") == Ticket.Status.SOLVED:
            events.append(WebhookEvent.TICKET_SOLVED)
    if not webhooks_wanted(events=events):
        return
    ticket = Ticket.objects.filter(pk=event.subject_id or 0).first()
    if ticket is None:
        return
    data = TicketOut.model_validate(ticket).model_dump(mode="json")
    webhooks_emit(events=events, occurred_at=event.occurred_at, data=data)
