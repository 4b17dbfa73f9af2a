"""The customer portal: one-time links, one customer's tickets, no internal notes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Contact
from nextorder.desk.merge import ticket_merge
from nextorder.desk.models import Message, PortalLoginToken, Ticket
from nextorder.desk.portal.services import portal_link_request
from nextorder.desk.portal.views import PORTAL_SESSION_KEY
from nextorder.desk.services import ticket_reply, ticket_update
from nextorder.insight.services import customer_follow_up_open
from tests.portal.conftest import link_secret, notices, portal_log_in

pytestmark = pytest.mark.django_db


def test_a_known_address_is_mailed_a_link_and_an_unknown_one_is_told_the_same(client, contact):
    known = client.post("/portal/", {"email": "Ada@Example.com"})
    unknown = client.post("/portal/", {"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 200
    assert "If we know" in known.text
    assert known.text.replace("Ada@Example.com", "X") == unknown.text.replace(
        "nobody@example.com", "X"
    )
    token = PortalLoginToken.objects.get()
    assert token.contact == contact and token.used_at is None
    assert timedelta(minutes=29) < token.expires_at - token.created_at <= timedelta(minutes=30)
    (notice,) = notices()
    assert notice["to"] == "ada@example.com"
    assert "/portal/login/" in notice["text"] and "works once, within 30 minutes" in notice["text"]
    assert token.token_sha256 not in notice["text"]  # the hash is not the secret
    assert Event.objects.filter(
        verb=Verb.PORTAL_LINK_SENT, customer_id=contact.customer_id
    ).exists()


def test_the_link_is_stored_hashed(contact):
    portal_link_request(address="ada@example.com", site_url="http://testserver")
    secret = link_secret()
    assert not PortalLoginToken.objects.filter(token_sha256__contains=secret).exists()
    assert len(PortalLoginToken.objects.get().token_sha256) == 64


def test_opening_the_link_shows_a_button_and_spends_nothing(client, contact):
    portal_link_request(address="ada@example.com", site_url="http://testserver")
    url = f"/portal/login/{link_secret()}/"

    for _scanner in range(3):
        response = client.get(url)
        assert response.status_code == 200 and "Log in</button>" in response.text
    assert PortalLoginToken.objects.get().used_at is None
    assert PORTAL_SESSION_KEY not in client.session
    assert client.get("/portal/tickets/").status_code == 302


def test_posting_the_link_logs_in_once(client, contact):
    portal_link_request(address="ada@example.com", site_url="http://testserver")
    url = f"/portal/login/{link_secret()}/"

    response = client.post(url)

    assert response.status_code == 302 and response["Location"] == "/portal/tickets/"
    assert client.session[PORTAL_SESSION_KEY] == contact.pk
    assert PortalLoginToken.objects.get().used_at is not None
    assert Event.objects.filter(
        verb=Verb.PORTAL_LINK_USED, customer_id=contact.customer_id
    ).exists()

    again = Client()
    for method in (again.get, again.post):
        refused = method(url)
        assert refused.status_code == 410
        assert "has been used already" in refused.text
    assert PORTAL_SESSION_KEY not in again.session
    assert again.get("/portal/tickets/").status_code == 302


def test_an_expired_link_is_refused(client, contact):
    portal_link_request(address="ada@example.com", site_url="http://testserver")
    PortalLoginToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.post(f"/portal/login/{link_secret()}/")

    assert response.status_code == 410 and "has expired" in response.text
    assert PORTAL_SESSION_KEY not in client.session
    assert PortalLoginToken.objects.get().used_at is None


@override_settings(NEXTORDER_PORTAL_LINK_MINUTES=5)
def test_how_long_a_link_works_is_a_setting(contact):
    token = portal_link_request(address="ada@example.com", site_url="http://testserver")
    assert token is not None
    assert token.expires_at - token.created_at <= timedelta(minutes=5)
    assert "within 5 minutes" in notices()[0]["text"]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"),  # one character changed
        lambda s: s[:-1],  # cut short
        lambda s: s + "x",  # longer
        lambda s: "%00" + s[1:],  # NUL
        lambda s: "a" * 43,  # made up, well formed
    ],
)
def test_a_tampered_link_is_refused(client, contact, tamper):
    portal_link_request(address="ada@example.com", site_url="http://testserver")
    url = f"/portal/login/{tamper(link_secret())}/"

    for response in (client.get(url), client.post(url)):
        assert response.status_code == 400 and "not valid" in response.text
    assert PORTAL_SESSION_KEY not in client.session
    assert PortalLoginToken.objects.get().used_at is None


def test_link_requests_are_rate_limited(client, contact):
    for _ in range(5):
        assert client.post("/portal/", {"email": "ada@example.com"}).status_code == 200
    response = client.post("/portal/", {"email": "ada@example.com"})
    assert response.status_code == 429 and "Too many requests" in response.text
    assert PortalLoginToken.objects.count() == 5


def test_a_bad_address_is_refused_with_a_message(client):
    response = client.post("/portal/", {"email": "no\x00pe"})
    assert response.status_code == 400 and "Null characters are not allowed." in response.text


def test_portal_pages_need_a_portal_session(client, ticket):
    for url in ("/portal/tickets/", f"/portal/tickets/{ticket.pk}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == "/portal/"
    response = client.post(f"/portal/tickets/{ticket.pk}/reply/", {"body": "Hello"})
    assert response.status_code == 302
    assert ticket.messages.count() == 1


def test_a_contact_sees_every_ticket_of_their_customer_and_no_other(
    portal_client, ticket, colleague_ticket, stranger_ticket
):
    response = portal_client.get("/portal/tickets/")

    assert response.status_code == 200
    listed = {t.pk for t in response.context["tickets"]}
    assert listed == {ticket.pk, colleague_ticket.pk}
    assert "Zed&#x27;s secret" not in response.text and "Zed's secret" not in response.text
    assert portal_client.get(f"/portal/tickets/{colleague_ticket.pk}/").status_code == 200
    assert portal_client.get(f"/portal/tickets/{stranger_ticket.pk}/").status_code == 404
    reply = portal_client.post(f"/portal/tickets/{stranger_ticket.pk}/reply/", {"body": "Hi"})
    assert reply.status_code == 404 and stranger_ticket.messages.count() == 1
    assert portal_client.get("/portal/tickets/999999999/").status_code == 404


def test_the_ticket_shows_the_conversation_and_orders_but_never_internal_notes(
    portal_client, ticket, agent
):
    ticket_reply(
        ticket=ticket, author=agent, body="SECRET-NOTE: refund?", expected_version=1, internal=True
    )
    ticket_reply(ticket=ticket, author=agent, body="It ships today.", expected_version=2)

    response = portal_client.get(f"/portal/tickets/{ticket.pk}/")

    assert response.status_code == 200
    assert "It is late." in response.text and "It ships today." in response.text
    assert "SECRET-NOTE" not in response.text
    assert [m.direction for m in response.context["conversation"]] == ["in", "out"]
    assert "O-15" in response.text and "35.50 USD" in response.text  # the customer's orders
    assert "Value at risk" not in response.text and "agent1" not in response.text


def test_stored_script_in_ticket_text_is_rendered_harmless(portal_client, ticket, contact):
    ticket.subject = "<script>alert('subject')</script>"
    ticket.save()
    Message.objects.filter(ticket=ticket).update(
        body_html='<p>Hi</p><script>alert(1)</script><img src=x onerror="alert(2)">'
        '<a href="javascript:alert(3)">link</a>'
    )
    Contact.objects.filter(pk=contact.pk).update(name="<script>alert('name')</script>")

    for url in ("/portal/tickets/", f"/portal/tickets/{ticket.pk}/"):
        html = portal_client.get(url).text
        assert "<script>" not in html and "onerror" not in html and "javascript:" not in html
        assert "&lt;script&gt;alert(&#x27;subject&#x27;)" in html


def test_a_reply_in_the_portal_reopens_a_solved_ticket(portal_client, ticket, agent, contact):
    ticket_update(ticket=ticket, actor=agent, expected_version=1, status=Ticket.Status.SOLVED)

    response = portal_client.post(f"/portal/tickets/{ticket.pk}/reply/", {"body": "Still late!"})

    assert response.status_code == 302 and response["Location"] == f"/portal/tickets/{ticket.pk}/"
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.OPEN
    message = ticket.messages.last()
    assert (message.direction, message.author_contact, message.body_text) == (
        Message.Direction.INBOUND,
        contact,
        "Still late!",
    )
    event = Event.objects.filter(verb=Verb.TICKET_MESSAGE_RECEIVED).get()
    assert event.actor_label == f"customer:{contact.pk}"
    assert "Still late!" in portal_client.get(response["Location"]).text


def test_a_colleague_answers_a_ticket_someone_else_opened(client, colleague, ticket):
    portal_log_in(client, "bo@example.com")
    client.post(f"/portal/tickets/{ticket.pk}/reply/", {"body": "Ada is away; I'm on it."})
    assert ticket.messages.last().author_contact == colleague


def test_a_closed_ticket_takes_no_more_answers(portal_client, ticket, agent):
    ticket_update(ticket=ticket, actor=agent, expected_version=1, status=Ticket.Status.CLOSED)
    assert "This ticket is closed" in portal_client.get(f"/portal/tickets/{ticket.pk}/").text

    response = portal_client.post(f"/portal/tickets/{ticket.pk}/reply/", {"body": "Hello?"})

    assert response.status_code == 400 and "write to us with a new message" in response.text
    assert ticket.messages.count() == 1


@pytest.mark.parametrize(("body", "says"), [("a\x00b", "Null characters"), ("  ", "required")])
def test_a_bad_answer_is_refused_with_a_message(portal_client, ticket, body, says):
    response = portal_client.post(f"/portal/tickets/{ticket.pk}/reply/", {"body": body})
    assert response.status_code == 400 and says in response.text
    assert ticket.messages.count() == 1


def test_staff_and_portal_sessions_are_independent(agent, contact, ticket):
    staff = Client()
    staff.force_login(agent)
    assert staff.get("/portal/tickets/").status_code == 302  # a staff log-in is no contact

    portal_log_in(staff, "ada@example.com")  # the same browser logs in to the portal too
    assert staff.get("/desk/").status_code == 200
    assert staff.get("/portal/tickets/").status_code == 200

    assert staff.post("/portal/logout/").status_code == 302
    assert staff.get("/portal/tickets/").status_code == 302
    assert staff.get("/desk/").status_code == 200  # still logged in as staff

    customer = Client()
    portal_log_in(customer, "ada@example.com")
    assert customer.get("/desk/").status_code == 302  # a contact is no staff user
    assert customer.get(f"/desk/tickets/{ticket.pk}/").status_code == 302
    assert customer.get("/admin/").status_code == 302


def test_logging_in_changes_the_session_id(client, contact):
    client.get("/portal/")
    client.post("/portal/", {"email": "ada@example.com"})
    before = client.session.session_key
    client.post(f"/portal/login/{link_secret()}/")
    assert client.session.session_key != before


def test_a_deleted_contact_is_logged_out(portal_client, contact):
    contact.delete()
    assert portal_client.get("/portal/tickets/").status_code == 302
    assert PORTAL_SESSION_KEY not in portal_client.session


def test_nothing_is_sent_for_an_unknown_address(client):
    client.post("/portal/", {"email": "nobody@example.com"})
    assert DBTaskResult.objects.count() == 0 and Event.objects.count() == 0
    assert PortalLoginToken.objects.count() == 0


def test_a_follow_up_holding_only_notes_is_not_shown_until_the_customer_is_written_to(
    portal_client, customer, agent
):
    follow_up = customer_follow_up_open(customer=customer, actor=agent).ticket

    assert follow_up.pk not in {
        t.pk for t in portal_client.get("/portal/tickets/").context["tickets"]
    }
    assert portal_client.get(f"/portal/tickets/{follow_up.pk}/").status_code == 404
    assert (
        portal_client.post(f"/portal/tickets/{follow_up.pk}/reply/", {"body": "?"}).status_code
        == 404
    )

    follow_up.refresh_from_db()
    ticket_reply(
        ticket=follow_up, author=agent, body="How are you?", expected_version=follow_up.version
    )

    assert follow_up.pk in {t.pk for t in portal_client.get("/portal/tickets/").context["tickets"]}
    page = portal_client.get(f"/portal/tickets/{follow_up.pk}/")
    assert page.status_code == 200 and "How are you?" in page.text
    assert "Value at risk" not in page.text and "risk" not in follow_up.subject


def test_a_merged_ticket_leads_to_the_ticket_it_was_merged_into(
    portal_client, ticket, colleague_ticket, agent
):
    ticket_merge(
        source=ticket,
        target=colleague_ticket,
        actor=agent,
        source_version=ticket.version,
        target_version=colleague_ticket.version,
    )

    listed = {t.pk for t in portal_client.get("/portal/tickets/").context["tickets"]}
    assert listed == {colleague_ticket.pk}
    response = portal_client.get(f"/portal/tickets/{ticket.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/portal/tickets/{colleague_ticket.pk}/"
    page = portal_client.get(response["Location"])
    assert "It is late." in page.text  # the merged ticket's message, now on the survivor

    answered = portal_client.post(f"/portal/tickets/{ticket.pk}/reply/", {"body": "Any news?"})

    assert answered.status_code == 302
    assert answered["Location"] == f"/portal/tickets/{colleague_ticket.pk}/"
    assert colleague_ticket.messages.filter(body_text="Any news?").exists()
    assert not ticket.messages.exists()
