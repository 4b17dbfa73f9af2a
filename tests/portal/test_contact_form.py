"""The public contact form: a ticket and a confirmation, and nothing for scripts."""

from __future__ import annotations

import logging

import pytest
from django.core import mail
from django.test import Client
from django.test.utils import override_settings
from django_tasks_db.models import DBTaskResult

from nextorder.core.models import Event
from nextorder.crm.models import ContactEmail
from nextorder.desk.mail.inbound import mail_receive
from nextorder.desk.mail.parse import MAX_BODY_CHARS
from nextorder.desk.models import InboundMail, Ticket
from nextorder.desk.tasks import send_notice
from tests.desk.mail_factory import customer_email
from tests.portal.conftest import notices

pytestmark = pytest.mark.django_db

FORM = {
    "name": "Cleo Newman",
    "email": "Cleo@Example.org",
    "subject": "Broken lid",
    "message": "The lid of my teapot arrived broken.",
    "order_number": "O-77",
    "website": "",
}


def test_the_form_shows_its_fields_and_a_hidden_honeypot(client):
    response = client.get("/contact/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="email"' in html and 'name="order_number"' in html
    assert '<div class="hp" aria-hidden="true"><label for="id_website">Leave this empty' in html
    assert "desk/" not in html  # no staff navigation


def test_a_message_opens_a_web_form_ticket_and_queues_a_confirmation(client):
    response = client.post("/contact/", FORM)

    assert response.status_code == 302 and response["Location"] == "/contact/thanks/"
    ticket = Ticket.objects.get()
    assert (ticket.channel, ticket.subject) == (Ticket.Channel.WEB_FORM, "Broken lid")
    assert ticket.contact.emails.get().address == "cleo@example.org"
    assert ticket.customer.name == "Cleo Newman"
    body = ticket.messages.get().body_text
    assert body.startswith("The lid of my teapot") and body.endswith("Order number: O-77")
    (notice,) = notices()
    assert notice["to"] == "cleo@example.org"
    assert f"[#{ticket.pk}]" in notice["subject"]
    assert "teapot" not in notice["subject"] + notice["text"]  # nothing the sender typed
    assert "http://testserver/portal/" in notice["text"]
    assert client.get("/contact/thanks/").status_code == 200


def test_the_confirmation_is_an_automatic_mail_from_the_desk_and_a_reply_threads(client):
    client.post("/contact/", FORM)
    ticket = Ticket.objects.get()

    send_notice.call(**notices()[0])

    (sent,) = mail.outbox
    assert sent.to == ["cleo@example.org"]
    assert sent.from_email == "Customer service <support@nextorder.localhost>"
    assert sent.extra_headers["Auto-Submitted"] == "auto-replied"
    assert sent.message()["Auto-Submitted"] == "auto-replied"
    assert f"[#{ticket.pk}]" in sent.subject
    reply = customer_email(
        sender="cleo@example.org", subject=f"Re: {sent.subject}", text="A photo follows."
    )
    outcome = mail_receive(raw=reply, source=InboundMail.Source.SMTP)
    assert outcome.ticket == ticket and ticket.messages.count() == 2


def test_a_known_address_writes_on_its_own_customers_behalf(client, contact):
    client.post("/contact/", {**FORM, "email": "ADA@example.com"})
    assert Ticket.objects.get().customer == contact.customer
    assert ContactEmail.objects.filter(address="ada@example.com").count() == 1


def test_a_filled_honeypot_pretends_success_and_creates_nothing(client, caplog):
    events_before = Event.objects.count()
    with caplog.at_level(logging.INFO, logger="nextorder.desk.portal.views"):
        response = client.post("/contact/", {**FORM, "website": "http://spam.example"})

    assert response.status_code == 302 and response["Location"] == "/contact/thanks/"
    assert Ticket.objects.count() == 0 and ContactEmail.objects.count() == 0
    assert Event.objects.count() == events_before and DBTaskResult.objects.count() == 0
    assert "honeypot" in caplog.text


def test_one_address_may_post_five_times_in_ten_minutes(client):
    for n in range(5):
        assert client.post("/contact/", {**FORM, "email": f"p{n}@example.org"}).status_code == 302

    response = client.post("/contact/", {**FORM, "email": "p6@example.org"})

    assert response.status_code == 429
    assert "Please wait a few minutes" in response.content.decode()
    assert Ticket.objects.count() == 5


def test_one_email_address_is_limited_whatever_the_client_address(client):
    for n in range(5):
        response = client.post("/contact/", FORM, REMOTE_ADDR=f"10.0.0.{n}")
        assert response.status_code == 302
    assert client.post("/contact/", FORM, REMOTE_ADDR="10.0.0.9").status_code == 429
    assert client.post("/contact/", {**FORM, "email": "x@example.org"}, REMOTE_ADDR="10.0.0.9")[
        "Location"
    ].endswith("/thanks/")


@override_settings(NEXTORDER_CONTACT_RATE="2/1h")
def test_the_rate_is_a_setting(client):
    for n in range(2):
        client.post("/contact/", {**FORM, "email": f"p{n}@example.org"})
    response = client.post("/contact/", {**FORM, "email": "p3@example.org"})
    assert response.status_code == 429 and "at most 2 of these in 60 minutes" in response.text


def test_csrf_is_enforced(db):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/contact/", FORM).status_code == 403
    assert Ticket.objects.count() == 0

    client.get("/contact/")
    token = client.cookies["csrftoken"].value
    assert client.post("/contact/", {**FORM, "csrfmiddlewaretoken": token}).status_code == 302
    assert Ticket.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("message", "Hello\x00there", "Null characters are not allowed."),
        ("subject", "x" * 251, "at most 250 characters"),
        ("message", "x" * (MAX_BODY_CHARS + 1), f"at most {MAX_BODY_CHARS} characters"),
        ("name", "n" * 201, "at most 200 characters"),
        ("email", "not an address", "Enter a valid email address."),
        ("email", "ada@exa\x00mple.com", "Null characters are not allowed."),
        ("message", "   ", "This field is required."),
        ("order_number", "9" * 101, "at most 100 characters"),
    ],
)
def test_bad_input_is_refused_with_a_message(client, field, value, says):
    response = client.post("/contact/", {**FORM, field: value})
    assert response.status_code == 400
    assert says in response.content.decode()
    assert Ticket.objects.count() == 0 and DBTaskResult.objects.count() == 0
