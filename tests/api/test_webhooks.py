"""Webhooks end to end: a real HTTP receiver on loopback checks every signature; one that
is down gets the delivery later, with back-off, once it is up."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django_tasks_db.models import DBTaskResult

from nextorder.core.models import WebhookDelivery, WebhookEvent
from nextorder.core.services import webhook_subscription_create
from nextorder.core.tasks import webhook_deliver
from nextorder.core.webhooks import MAX_ATTEMPTS, sign, verify_signature
from nextorder.desk.services import ticket_open, ticket_update

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP server on 127.0.0.1 that verifies signatures and records what it got."""

    def __init__(self, *, status: int = 200) -> None:
        self.status = status
        self.secret = ""
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                valid = verify_signature(
                    secret=receiver.secret,
                    timestamp=self.headers["X-NextOrder-Timestamp"],
                    body=body,
                    signature=self.headers["X-NextOrder-Signature"],
                )
                receiver.received.append(
                    {
                        "valid": valid,
                        "event": self.headers["X-NextOrder-Event"],
                        "delivery": self.headers["X-NextOrder-Delivery"],
                        "content_type": self.headers["Content-Type"],
                        "body": json.loads(body),
                    }
                )
                self.send_response(receiver.status if valid else 400)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def _subscribe(url: str, manager, events=tuple(WebhookEvent.values)):
    return webhook_subscription_create(url=url, events=list(events), actor=manager)


def _run_pending() -> None:
    for delivery in WebhookDelivery.objects.filter(status="pending").order_by("id"):
        webhook_deliver.call(delivery.pk)


def test_ticket_events_reach_the_receiver_signed(
    receiver, manager, agent, customer, django_capture_on_commit_callbacks
):
    receiver.secret = _subscribe(receiver.url, manager).secret
    with django_capture_on_commit_callbacks(execute=True):
        ticket = ticket_open(customer=customer, subject="Late", body_text="Where is it?")
    with django_capture_on_commit_callbacks(execute=True):
        ticket_update(ticket=ticket, actor=agent, expected_version=1, status="solved")
    # Each delivery was enqueued for the worker; here the task runs in the test.
    assert DBTaskResult.objects.filter(task_path=webhook_deliver.module_path).count() == 3
    _run_pending()
    got = [(r["event"], r["valid"], r["content_type"]) for r in receiver.received]
    assert got == [
        ("ticket.created", True, "application/json"),
        ("ticket.updated", True, "application/json"),
        ("ticket.solved", True, "application/json"),
    ]
    created = receiver.received[0]["body"]
    assert created["event"] == "ticket.created"
    assert created["data"]["id"] == ticket.pk and created["data"]["subject"] == "Late"
    assert receiver.received[2]["body"]["data"]["status"] == "solved"
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_only_subscribed_events_of_active_subscriptions_are_sent(
    receiver, manager, customer, django_capture_on_commit_callbacks
):
    receiver.secret = _subscribe(receiver.url, manager, events=["order.created"]).secret
    webhook_subscription_create(
        url=receiver.url, events=["order.created"], actor=manager, active=False
    )
    with django_capture_on_commit_callbacks(execute=True):
        ticket_open(customer=customer, subject="Hi", body_text="x")
    assert not WebhookDelivery.objects.exists()


def test_an_order_pushed_through_the_api_is_announced(
    receiver, manager, api_client, sales_user, customer, django_capture_on_commit_callbacks
):
    receiver.secret = _subscribe(receiver.url, manager, events=["order.created"]).secret
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(sales_user).post(
            "/api/v1/orders",
            {
                "external_id": "W-9",
                "customer_id": customer.pk,
                "placed_at": "2026-05-01T09:00:00Z",
                "amount": "42.00",
            },
            content_type="application/json",
        )
    assert response.status_code == 201
    _run_pending()
    (received,) = receiver.received
    assert received["valid"] and received["body"]["data"] == response.json()


def test_a_subscriber_that_is_down_gets_it_later(
    manager, customer, django_capture_on_commit_callbacks
):
    with Receiver(status=500) as failing:
        failing.secret = _subscribe(failing.url, manager).secret
        with django_capture_on_commit_callbacks(execute=True):
            ticket_open(customer=customer, subject="Hi", body_text="x")
        delivery = WebhookDelivery.objects.get()
        before = time.time()
        webhook_deliver.call(delivery.pk)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            "pending",
            1,
            500,
        )
        assert 55 <= delivery.next_attempt_at.timestamp() - before <= 65  # one minute
        retry = DBTaskResult.objects.filter(task_path=webhook_deliver.module_path).latest(
            "enqueued_at"
        )
        assert retry.run_after == delivery.next_attempt_at
        port = failing.server.server_port
    # Now nothing listens on that port: connection refused.
    webhook_deliver.call(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 2, None)
    assert "refused" in delivery.last_error.lower()
    gap = delivery.next_attempt_at.timestamp() - time.time()
    assert 110 <= gap <= 125  # two minutes
    with Receiver() as up:
        up.server.server_close()
        # The same address as before: the subscription's URL names that port.
        up.server = ThreadingHTTPServer(("127.0.0.1", port), up.server.RequestHandlerClass)
        up.thread = threading.Thread(target=up.server.serve_forever, daemon=True)
        up.thread.start()
        up.secret = delivery.subscription.secret
        webhook_deliver.call(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert up.received[0]["valid"] and up.received[0]["delivery"] == str(delivery.pk)


def test_after_the_last_attempt_the_delivery_has_failed(
    manager, customer, django_capture_on_commit_callbacks
):
    _subscribe("http://127.0.0.1:9/closed", manager)
    with django_capture_on_commit_callbacks(execute=True):
        ticket_open(customer=customer, subject="Hi", body_text="x")
    delivery = WebhookDelivery.objects.get()
    gaps = []
    for _ in range(MAX_ATTEMPTS):
        webhook_deliver.call(delivery.pk)
        delivery.refresh_from_db()
        if delivery.next_attempt_at:
            gaps.append(round((delivery.next_attempt_at.timestamp() - time.time()) / 60))
    assert gaps == [1, 2, 4, 8, 16, 32, 64]
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 8, None)
    webhook_deliver.call(delivery.pk)  # a stray retry changes nothing
    delivery.refresh_from_db()
    assert delivery.attempts == 8


def test_verify_signature_refuses_tampering_and_old_timestamps():
    body = b'{"event":"ticket.created"}'
    now = int(time.time())
    good = sign(secret="s3cret", timestamp=now, body=body)
    assert verify_signature(secret="s3cret", timestamp=str(now), body=body, signature=good)
    assert verify_signature(secret="s3cret", timestamp=now, body=body.decode(), signature=good)
    assert not verify_signature(secret="other", timestamp=now, body=body, signature=good)
    assert not verify_signature(secret="s3cret", timestamp=now, body=body + b" ", signature=good)
    assert not verify_signature(secret="s3cret", timestamp=now + 1, body=body, signature=good)
    assert not verify_signature(secret="s3cret", timestamp="soon", body=body, signature=good)
    old = now - 301
    stale = sign(secret="s3cret", timestamp=old, body=body)
    assert not verify_signature(secret="s3cret", timestamp=old, body=body, signature=stale)


def test_webhook_crud_and_delivery_log_over_the_api(
    api_client, manager, customer, django_capture_on_commit_callbacks
):
    manager_api = api_client(manager)
    created = manager_api.post(
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["ticket.created"]},
        content_type="application/json",
    )
    assert created.status_code == 201 and len(created.json()["secret"]) > 30
    hook = created.json()["id"]
    assert "secret" not in manager_api.get(f"/api/v1/webhooks/{hook}").json()
    bad = manager_api.post(
        "/api/v1/webhooks",
        {"url": "ftp://example.com/hook", "events": ["ticket.created"]},
        content_type="application/json",
    )
    assert bad.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        ticket_open(customer=customer, subject="Hi", body_text="x")
    log = manager_api.get(f"/api/v1/webhooks/{hook}/deliveries").json()
    assert [(d["event"], d["status"], d["attempts"]) for d in log] == [
        ("ticket.created", "pending", 0)
    ]
    patched = manager_api.patch(
        f"/api/v1/webhooks/{hook}", {"active": False}, content_type="application/json"
    )
    assert patched.status_code == 200 and patched.json()["active"] is False
    assert manager_api.delete(f"/api/v1/webhooks/{hook}").status_code == 204
    assert manager_api.get(f"/api/v1/webhooks/{hook}").status_code == 404
