"""Stored script, tried through every path that writes text someone else will read.

An agent's reply, an inbound email's HTML, a customer name from an order file or the
admin: each is written once and shown to every agent who opens the ticket. Whatever was
written, the console must show it as text (escaped) or sanitised HTML, never as markup
that runs. Each test writes a payload one way and reads the pages as a manager (who sees
the most: the ticket, the customer, the queue and the at-risk list).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from nextorder.crm.models import Contact, Customer
from nextorder.crm.services import contact_create, customer_create, orders_import
from nextorder.desk.models import Message, Ticket
from nextorder.desk.services import (
    new_message_id,
    ticket_open,
    ticket_receive_message,
    ticket_reply,
)
from tests.portal.conftest import portal_log_in

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '"><svg onload=alert(1)>',
]
# What any of the payloads looks like once it is live markup (compared in lower case).
LIVE_MARKUP = [b"<script>alert(1)", b"<img src=x onerror", b"<svg onload", b'<a href="javascript:']
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data"}


class _ScriptFinder(HTMLParser):
    """Reads a page as a browser would and notes anything in it that could run script:
    an event-handler attribute, a javascript: URL, or an inline script that calls alert."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in URL_ATTRIBUTES and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and "alert" in data:
            self.found.append(f"<script>{data[:80]}")


def assert_inert(content: bytes) -> None:
    """No payload is live in the page, as bytes and as a parser reads it."""
    lowered = content.lower()
    for live in LIVE_MARKUP:
        assert live not in lowered, live
    finder = _ScriptFinder()
    finder.feed(content.decode())
    finder.close()
    assert finder.found == []


def as_template_text(payload: str) -> bytes:
    """The payload as a template variable shows it: every markup character escaped."""
    return escape(payload).encode()


def as_message_text(payload: str) -> bytes:
    """The payload as the sanitiser writes text back out: only &, < and > escaped."""
    return payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


def scored(customer: Customer) -> Customer:
    """Give the customer scores that put them on the at-risk list's default view."""
    Customer.objects.filter(pk=customer.pk).update(
        value_at_risk=Decimal("150.00"),
        clv_12m=Decimal("400.00"),
        p_alive=0.45,
        p_alive_previous=0.7,
        expected_orders_90d=0.8,
        value_reason="quiet for a while",
        scored_at=timezone.now() - timedelta(days=1),
    )
    customer.refresh_from_db()
    return customer


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def console_pages(manager: User, ticket: Ticket) -> dict[str, bytes]:
    """The four pages a stored payload could reach, as the manager sees them."""
    client = logged_in(manager)
    pages = {
        "ticket": client.get(reverse("desk:ticket", args=[ticket.pk])),
        "customer": client.get(reverse("desk:customer", args=[ticket.customer_id])),
        "queue": client.get(reverse("desk:queue")),
        "at-risk": client.get(reverse("insight:at_risk"), {"stage": "all"}),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
    return {name: response.content for name, response in pages.items()}


def assert_all_inert(pages: dict[str, bytes]) -> None:
    for name, content in pages.items():
        try:
            assert_inert(content)
        except AssertionError as failure:
            raise AssertionError(f"live script on the {name} page: {failure}") from failure


@pytest.fixture
def payload_customer(customer: Customer) -> Customer:
    return scored(customer)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("internal", [False, True], ids=["reply", "internal-note"])
def test_agent_reply_and_note_show_as_text(agent, manager, ticket, payload, internal):
    """What an agent types is text: it shows escaped, never as markup."""
    form = {"body": payload, "status": "pending", "version": ticket.version}
    if internal:
        form["internal"] = "on"

    response = logged_in(agent).post(reverse("desk:ticket_reply", args=[ticket.pk]), form)

    assert response.status_code == 302
    assert Message.objects.filter(ticket=ticket, body_text=payload).exists()
    pages = console_pages(manager, ticket)
    assert_all_inert(pages)
    assert as_message_text(payload) in pages["ticket"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_channel_ticket_subject_and_inbound_html_are_inert(
    manager, payload_customer, contact, payload
):
    """A channel opens a ticket with whatever subject and HTML the sender chose: the
    subject shows escaped wherever tickets are listed, the HTML only sanitised."""
    ticket = ticket_open(
        customer=payload_customer,
        contact=contact,
        subject=payload,
        body_text=payload,
        body_html=f"<p>Hello there</p>{payload}",
    )

    pages = console_pages(manager, ticket)

    assert_all_inert(pages)
    for name in ("ticket", "customer", "queue"):
        assert as_template_text(payload) in pages[name], name
    assert b"Hello there" in pages["ticket"]  # the harmless part of the HTML survives


@pytest.mark.parametrize("payload", PAYLOADS)
def test_channel_ticket_plain_text_body_shows_as_text(manager, payload_customer, contact, payload):
    """A message that came as plain text only is shown as that text, escaped."""
    ticket = ticket_open(
        customer=payload_customer, contact=contact, subject="Plain", body_text=payload
    )

    pages = console_pages(manager, ticket)

    assert_all_inert(pages)
    assert as_message_text(payload) in pages["ticket"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_contact_form_text_is_inert_in_the_console_and_the_portal(manager, agent, payload):
    """Anyone may post the contact form; what they typed shows as text to agents, and an
    agent's answer shows as text to the customer in the portal."""
    Client().post(
        reverse("contact:form"),
        {"name": payload, "email": "p@example.org", "subject": payload, "message": payload},
    )
    ticket = Ticket.objects.get()
    ticket_reply(ticket=ticket, author=agent, body=f"Answer {payload}", expected_version=1)
    portal = Client()
    portal_log_in(portal, "p@example.org")

    pages = {
        **console_pages(manager, ticket),
        "portal tickets": portal.get(reverse("portal:tickets")).content,
        "portal ticket": portal.get(reverse("portal:ticket", args=[ticket.pk])).content,
    }

    assert_all_inert(pages)
    for name in ("ticket", "portal tickets", "portal ticket"):
        assert as_template_text(payload) in pages[name], name
    assert as_message_text(f"Answer {payload}") in pages["portal ticket"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_customer_follow_up_message_html_is_inert(manager, ticket, contact, payload):
    """The customer writes again, in HTML: sanitised, and the text beside it kept."""
    ticket_receive_message(
        ticket=ticket,
        contact=contact,
        body_text=f"Still waiting {payload}",
        body_html=f"<p>Still waiting</p>{payload}",
    )

    pages = console_pages(manager, ticket)

    assert_all_inert(pages)
    assert b"Still waiting" in pages["ticket"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_follow_up_note_from_the_at_risk_page_shows_as_text(
    lead, manager, payload_customer, contact, payload
):
    """A lead's note on a follow-up is an internal note: text, escaped."""
    response = logged_in(lead).post(
        reverse("insight:follow_up", args=[payload_customer.pk]), {"note": payload}
    )

    assert response.status_code == 302
    follow_up = Ticket.objects.get(customer=payload_customer, channel=Ticket.Channel.AGENT)
    pages = console_pages(manager, follow_up)
    assert_all_inert(pages)
    assert as_message_text(payload) in pages["ticket"]


def assert_names_shown_as_text(pages: dict[str, bytes], payload: str) -> None:
    escaped = as_template_text(payload)
    for name in ("ticket", "customer", "queue", "at-risk"):
        assert escaped in pages[name], f"customer name not shown escaped on the {name} page"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_customer_and_contact_names_from_the_services(manager, lead, payload):
    """Names come from people and files: they show as text on every page, including in
    the subject a follow-up builds from the customer's name."""
    customer = scored(customer_create(name=payload, external_id="X-1"))
    contact = contact_create(customer=customer, name=payload, emails=["x@example.com"])
    ticket = ticket_open(customer=customer, contact=contact, subject="Hi", body_text="Hello")
    follow_up = logged_in(lead).post(reverse("insight:follow_up", args=[customer.pk]))
    assert follow_up.status_code == 302

    pages = console_pages(manager, ticket)

    assert_all_inert(pages)
    assert_names_shown_as_text(pages, payload)
    # The contact's name: the ticket's "by …" line and the customer's contact list.
    assert pages["ticket"].count(as_template_text(payload)) >= 2
    assert pages["customer"].count(as_template_text(payload)) >= 2


@pytest.mark.parametrize("payload", PAYLOADS)
def test_customer_and_contact_names_from_an_order_import(manager, tmp_path: Path, payload):
    """An order file names customers and contacts; its names show as text, like any."""
    path = tmp_path / "orders.csv"
    with path.open("w", newline="") as file:
        file.write("customer_id,order_id,placed_at,amount,email,customer_name,contact_name\n")
        writer = csv.writer(file)  # quotes the payloads' quotes
        writer.writerow(["K1", "A-1", "2026-01-05", "10.00", "kim@example.com", payload, payload])
        writer.writerow(["K1", "A-2", "2026-02-05", "12.50", "kim@example.com", payload, payload])

    orders_import(path=path, file_format="csv")

    customer = scored(Customer.objects.get(external_id="K1"))
    assert customer.name == payload
    contact = Contact.objects.get(customer=customer)
    assert contact.name == payload
    ticket = ticket_open(customer=customer, contact=contact, subject="Hi", body_text="Hello")
    pages = console_pages(manager, ticket)
    assert_all_inert(pages)
    assert_names_shown_as_text(pages, payload)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_customer_added_in_the_admin_shows_as_text(manager, payload):
    """Managers edit customers in the admin; what they type shows as text in the admin
    and in the console."""
    client = logged_in(manager)
    response = client.post(
        reverse("admin:crm_customer_add"),
        {
            "name": payload,
            "kind": Customer.Kind.COMPANY,
            "external_id": "ADM-1",
            "notes": payload,
            "contacts-TOTAL_FORMS": "1",
            "contacts-INITIAL_FORMS": "0",
            "contacts-MIN_NUM_FORMS": "0",
            "contacts-MAX_NUM_FORMS": "1000",
            "contacts-0-name": payload,
            "contacts-0-phone": "",
        },
    )

    assert response.status_code == 302, response.content[:3000]
    customer = scored(Customer.objects.get(external_id="ADM-1"))
    assert customer.name == payload
    contact = Contact.objects.get(customer=customer)
    ticket = ticket_open(customer=customer, contact=contact, subject="Hi", body_text="Hello")
    pages = console_pages(manager, ticket)
    pages["admin list"] = client.get(reverse("admin:crm_customer_changelist")).content
    pages["admin change"] = client.get(
        reverse("admin:crm_customer_change", args=[customer.pk])
    ).content
    assert_all_inert(pages)
    assert_names_shown_as_text(pages, payload)
    assert as_template_text(payload) in pages["admin list"]


@pytest.mark.parametrize("role", ["agent", "lead", "sales_user"])
def test_only_managers_reach_the_admin_to_add_a_message(request, ticket, role):
    """Agents, leads and sales are not let into the admin at all: sent to its log-in."""
    user = request.getfixturevalue(role)
    before = Message.objects.count()

    response = logged_in(user).post(reverse("admin:desk_message_add"), _message_form(ticket))

    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response["Location"].startswith(reverse("admin:login"))
    assert Message.objects.count() == before


def test_messages_are_read_only_even_for_managers_in_the_admin(manager, ticket):
    """Messages are history: the admin shows them and adds none, so none skips the
    services' sanitising."""
    before = Message.objects.count()

    response = logged_in(manager).post(reverse("admin:desk_message_add"), _message_form(ticket))

    assert response.status_code == 403
    assert Message.objects.count() == before


def _message_form(ticket: Ticket) -> dict[str, str]:
    return {
        "ticket": str(ticket.pk),
        "direction": Message.Direction.INBOUND,
        "body_text": PAYLOADS[0],
        "body_html": "".join(PAYLOADS),
        "sent_at_0": "2026-03-01",
        "sent_at_1": "10:00:00",
        "message_id": "<admin@example.com>",
    }


def test_message_stored_raw_by_an_old_import_renders_sanitised(manager, ticket):
    """A row that skipped the services (an old import, a database edit) is sanitised
    when it is shown: the template reads body_html only through the `sanitised` filter."""
    message = Message.objects.create(
        ticket=ticket,
        direction=Message.Direction.INBOUND,
        body_text="Old message",
        body_html="<p>Kept <b>formatting</b></p>" + "".join(PAYLOADS),
        sent_at=datetime(2026, 3, 2, tzinfo=UTC),
        message_id=new_message_id(),
    )

    pages = console_pages(manager, ticket)

    assert_all_inert(pages)
    assert f'id="message-{message.pk}"'.encode() in pages["ticket"]
    assert b"Kept <b>formatting</b>" in pages["ticket"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_checker_itself_sees_live_markup(payload):
    """The check above would catch the payload were it rendered unescaped."""
    with pytest.raises(AssertionError):
        assert_inert(f"<p>{payload}</p>".encode())
