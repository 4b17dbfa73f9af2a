"""Background work of the desk, run by `nextorder db_worker`."""

from __future__ import annotations

from django_tasks import task

from nextorder.desk.mail.outbound import delivery_attempt
from nextorder.desk.models import Delivery


@task()
def deliver_reply(delivery_id: int) -> str:
    """Try to send the reply; book the next try when it failed and tries are left."""
    delivery = delivery_attempt(delivery_id=delivery_id)
    if delivery.status == Delivery.Status.QUEUED and delivery.next_attempt_at is not None:
        deliver_reply.using(run_after=delivery.next_attempt_at).enqueue(delivery_id)
    return delivery.status
