"""Recorded orders as `order.created` webhooks, so other systems hear of each sale.

Registered by CrmConfig.ready. A bulk import announces nothing per order: it records
one ORDERS_IMPORTED event, not a million ORDER_CREATED ones. The order is sent as the
API shows it (`OrderOut`).
"""

from __future__ import annotations

from collections.abc import Sequence

from nextorder.core.dispatch import on_event
from nextorder.core.models import Event, Verb, WebhookEvent
from nextorder.core.tasks import webhooks_emit
from nextorder.core.webhooks import webhooks_wanted
from nextorder.crm.api import OrderOut
from nextorder.crm.models import Order


@on_event(Verb.ORDER_CREATED)
def order_webhooks(events: Sequence[Event]) -> None:
    if not webhooks_wanted(events=[WebhookEvent.ORDER_CREATED]):
        return
    orders = Order.objects.in_bulk([event.subject_id for event in events if event.subject_id])
    for event in events:
        if (order := orders.get(event.subject_id or 0)) is not None:
            webhooks_emit(
                events=[WebhookEvent.ORDER_CREATED],
                occurred_at=event.occurred_at,
                data=OrderOut.model_validate(order).model_dump(mode="json"),
            )
