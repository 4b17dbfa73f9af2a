"""Webhooks: signed JSON POSTs to subscribers when tickets and orders change.

Apps turn their events into webhook events with `core.dispatch` listeners (desk, crm:
see their `webhooks.py`), which run after the change commits and call
`core.tasks.webhooks_emit`; that writes one delivery row per subscriber and enqueues the
task that sends it. A receiver checks the `X-NextOrder-Signature` header with
`verify_signature`: an HMAC-SHA256 of "<timestamp>.<body>" under the subscription's
secret, the timestamp bounding how long a captured request can be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from nextorder.core.models import WebhookDelivery, WebhookEvent, WebhookSubscription

MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 10
SIGNATURE_SCHEME = "sha256="


def sign(*, secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_SCHEME + mac.hexdigest()


def verify_signature(
    *,
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature: str,
    tolerance_seconds: int = 300,
) -> bool:
    """True if `signature` (the X-NextOrder-Signature header) signs this body and
    timestamp (X-NextOrder-Timestamp), and the timestamp is within the tolerance of now."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(time.time() - sent) > tolerance_seconds:
        return False
    raw = body.encode() if isinstance(body, str) else body
    expected = sign(secret=secret, timestamp=sent, body=raw)
    return hmac.compare_digest(expected, signature)


def payload(*, event: WebhookEvent, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    return {"event": event.value, "occurred_at": occurred_at.isoformat(), "data": data}


def webhooks_wanted(*, events: list[WebhookEvent]) -> bool:
    """Whether any active subscription asked for one of these events: one small query,
    so that a listener reads and serialises nothing when nobody listens."""
    subscribed = WebhookSubscription.objects.filter(active=True).values_list("events", flat=True)
    return any(event in wanted for wanted in subscribed for event in events)


def webhook_deliveries_create(
    *, events: list[WebhookEvent], occurred_at: datetime, data: dict[str, Any]
) -> list[WebhookDelivery]:
    """A pending delivery of each event for each active subscription that asked for it."""
    deliveries = [
        WebhookDelivery(
            subscription=subscription,
            event=event,
            payload=payload(event=event, occurred_at=occurred_at, data=data),
        )
        for subscription in WebhookSubscription.objects.filter(active=True)
        for event in events
        if event in subscription.events
    ]
    return WebhookDelivery.objects.bulk_create(deliveries)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a delivery: it counts as a failure, and the body is
    never re-sent (as GET, or to a host the manager did not subscribe)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(*, delivery: WebhookDelivery, body: bytes) -> int:
    """POST the body; the status code of a 2xx answer, or an exception."""
    timestamp = int(time.time())
    request = urllib.request.Request(
        delivery.subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "NextOrder-Webhooks/1",
            "X-NextOrder-Event": delivery.event,
            "X-NextOrder-Delivery": str(delivery.pk),
            "X-NextOrder-Timestamp": str(timestamp),
            "X-NextOrder-Signature": sign(
                secret=delivery.subscription.secret, timestamp=timestamp, body=body
            ),
        },
    )
    with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
        return int(response.status)


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, 8, ... minutes after the first, second, third, fourth failure."""
    return timedelta(minutes=2 ** (attempts - 1))


def webhook_delivery_attempt(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a pending delivery once and record how it went.

    A failure (no connection, a timeout, an answer other than 2xx) books the next attempt
    in `next_attempt_at`, until MAX_ATTEMPTS have failed: then the delivery is failed.
    """
    if delivery.status != WebhookDelivery.Status.PENDING:
        return delivery
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    delivery.attempts += 1
    now = timezone.now()
    try:
        delivery.last_status_code = _post(delivery=delivery, body=body)
    except urllib.error.HTTPError as exc:
        delivery.last_status_code = exc.code
        delivery.last_error = f"HTTP {exc.code} {exc.reason}"[:300]
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections
        delivery.last_status_code = None
        delivery.last_error = f"{type(exc).__name__}: {exc}"[:300]
    else:
        delivery.status = WebhookDelivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        delivery.last_error = ""
    if delivery.status == WebhookDelivery.Status.PENDING:
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    delivery.save()
    return delivery
