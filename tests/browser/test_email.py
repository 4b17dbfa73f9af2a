"""Email end to end, as people see it: a customer's email arrives over SMTP, an agent
answers it in a real Chromium, and the customer's mailbox receives the threaded reply."""

from __future__ import annotations

import smtplib
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings

from nextorder.desk.mail.smtpd import smtp_server
from nextorder.desk.models import Delivery, Ticket
from nextorder.desk.tasks import deliver_reply
from tests.browser.test_console import log_in, page  # noqa: F401 - the fixture
from tests.desk.mail_factory import customer_email
from tests.net import free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class _CustomersMailbox:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook
        self.received.append(envelope.original_content or envelope.content)
        return "250 OK"


def test_an_agent_answers_an_emailed_ticket_and_the_customer_gets_the_thread(
    page,  # noqa: F811
    live_server,
    agent,
):
    desk = smtp_server(host="127.0.0.1", port=free_port(), workers=1)
    mailbox = _CustomersMailbox()
    customers_server = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    desk.start()
    customers_server.start()
    try:
        with smtplib.SMTP("127.0.0.1", desk.port, timeout=10) as client:
            client.sendmail(
                "nora@example.org",
                ["support@nextorder.localhost"],
                customer_email(
                    sender="Nora Quinn <nora@example.org>",
                    subject="My order arrived broken",
                    text="The case of the CD is cracked.",
                    message_id="<nora-1@example.org>",
                ),
            )
        ticket = Ticket.objects.get()
        log_in(page, live_server, agent.username)
        page.goto(f"{live_server.url}/desk/tickets/{ticket.pk}/")
        page.get_by_text("The case of the CD is cracked.").wait_for()
        page.fill("textarea[name=body]", "So sorry, Nora: a new one is on its way.")
        page.get_by_role("button", name="Send").click()
        page.get_by_text("Email to nora@example.org: Queued").wait_for()
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=customers_server.port,
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
        ):
            assert deliver_reply.call(Delivery.objects.get().pk) == Delivery.Status.SENT
        page.reload()
        page.get_by_text("Email to nora@example.org: Sent").wait_for()
    finally:
        desk.stop()
        customers_server.stop()
    reply = message_from_bytes(mailbox.received[0], policy=policy.default)
    assert reply["In-Reply-To"] == "<nora-1@example.org>"
    assert reply["Subject"] == f"Re: My order arrived broken [#{ticket.pk}]"
    body = reply.get_body(("plain",)).get_content()
    assert "a new one is on its way" in body and "> The case of the CD is cracked." in body
