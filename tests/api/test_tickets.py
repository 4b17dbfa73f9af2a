"""The tickets endpoints call the desk's services and selectors: same rules, same events."""

from __future__ import annotations

import pytest

from nextorder.core.models import Event, Team, Verb
from nextorder.crm.models import ContactEmail, Customer
from nextorder.crm.services import order_create
from nextorder.desk.models import Message, Ticket
from nextorder.desk.services import ticket_open

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_api(api_client, agent):
    return api_client(agent)


def test_open_a_ticket_for_a_customer(agent_api, agent, customer):
    response = agent_api.post(
        "/api/v1/tickets",
        {"customer_id": customer.pk, "subject": "Broken", "body": "It broke.", "priority": 2},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["channel"] == "api" and body["priority"] == 2 and body["status"] == "new"
    assert [m["body_text"] for m in body["messages"]] == ["It broke."]
    event = Event.objects.get(verb=Verb.TICKET_OPENED, subject_id=body["id"])
    assert event.actor == agent


def test_open_by_email_finds_the_contact_or_makes_a_customer(agent_api, contact):
    known = agent_api.post(
        "/api/v1/tickets",
        {"contact_email": "ADA@example.com", "subject": "Hi", "body": "Again."},
        content_type="application/json",
    )
    assert known.status_code == 201
    assert known.json()["contact_id"] == contact.pk
    assert known.json()["customer_id"] == contact.customer_id
    new = agent_api.post(
        "/api/v1/tickets",
        {"contact_email": "bo@example.org", "contact_name": "Bo", "subject": "Hi", "body": "New."},
        content_type="application/json",
    )
    assert new.status_code == 201
    customer = Customer.objects.get(pk=new.json()["customer_id"])
    assert customer.name == "Bo"
    assert ContactEmail.objects.get(address="bo@example.org").contact.customer == customer


@pytest.mark.parametrize(
    "body",
    [
        {"subject": "Hi", "body": "x"},  # no customer
        {"customer_id": 1, "contact_email": "a@b.co", "subject": "Hi", "body": "x"},
        {"customer_id": 0, "subject": "Hi", "body": "x"},
        {"customer_id": 2**63, "subject": "Hi", "body": "x"},
        {"customer_id": 1, "subject": "", "body": "x"},
        {"customer_id": 1, "subject": "x" * 251, "body": "x"},
        {"customer_id": 1, "subject": "Hi", "body": "nul\x00"},
        {"customer_id": 1, "subject": "Hi", "body": "x", "priority": 9},
    ],
)
def test_bad_input_is_422(agent_api, body):
    response = agent_api.post("/api/v1/tickets", body, content_type="application/json")
    assert response.status_code == 422, response.content


def test_refusals_are_4xx_with_a_message(agent_api, customer):
    missing = agent_api.post(
        "/api/v1/tickets",
        {"customer_id": customer.pk + 1000, "subject": "Hi", "body": "x"},
        content_type="application/json",
    )
    assert missing.status_code == 404
    blank = agent_api.post(
        "/api/v1/tickets",
        {"customer_id": customer.pk, "subject": "Hi", "body": "  "},
        content_type="application/json",
    )
    assert blank.status_code == 400 and blank.json() == {"detail": "The message is empty."}
    bad_address = agent_api.post(
        "/api/v1/tickets",
        {"contact_email": "not an address", "subject": "Hi", "body": "x"},
        content_type="application/json",
    )
    assert bad_address.status_code == 400 and bad_address.json()["detail"]


def test_detail_has_the_messages_and_notes(agent_api, agent, ticket):
    agent_api.post(
        f"/api/v1/tickets/{ticket.pk}/reply",
        {"body": "Checking.", "internal": True, "version": ticket.version},
        content_type="application/json",
    )
    body = agent_api.get(f"/api/v1/tickets/{ticket.pk}").json()
    assert [(m["direction"], m["body_text"]) for m in body["messages"]] == [
        ("in", "It is late."),
        ("note", "Checking."),
    ]
    assert agent_api.get("/api/v1/tickets/999999").status_code == 404


def test_reply_moves_the_status_and_a_stale_version_is_409(agent_api, agent, ticket):
    response = agent_api.post(
        f"/api/v1/tickets/{ticket.pk}/reply",
        {"body": "On its way.", "status": "pending", "version": ticket.version},
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["ticket"]["status"] == "pending"
    assert response.json()["ticket"]["assignee_id"] == agent.pk
    stale = agent_api.post(
        f"/api/v1/tickets/{ticket.pk}/reply",
        {"body": "Again.", "version": ticket.version},
        content_type="application/json",
    )
    assert stale.status_code == 409
    assert "was changed by agent1" in stale.json()["detail"]
    assert Message.objects.filter(ticket=ticket).count() == 2


def test_patch_changes_only_the_fields_given(api_client, lead, agent, ticket):
    lead_api = api_client(lead)
    team = Team.objects.create(name="Returns")
    response = lead_api.patch(
        f"/api/v1/tickets/{ticket.pk}",
        {"assignee_id": agent.pk, "team_id": team.pk, "version": ticket.version},
        content_type="application/json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["assignee_id"], body["team_id"], body["status"]) == (agent.pk, team.pk, "new")
    cleared = lead_api.patch(
        f"/api/v1/tickets/{ticket.pk}",
        {"assignee_id": None, "priority": 3, "version": body["version"]},
        content_type="application/json",
    )
    assert cleared.status_code == 200
    assert (cleared.json()["assignee_id"], cleared.json()["team_id"]) == (None, team.pk)
    unknown = lead_api.patch(
        f"/api/v1/tickets/{ticket.pk}",
        {"team_id": 123456, "version": cleared.json()["version"]},
        content_type="application/json",
    )
    assert unknown.status_code == 400 and unknown.json() == {"detail": "There is no team #123456."}
    null_status = lead_api.patch(
        f"/api/v1/tickets/{ticket.pk}",
        {"status": None, "version": cleared.json()["version"]},
        content_type="application/json",
    )
    assert null_status.status_code == 400


def test_list_filters(agent_api, agent, customer, ticket):
    other = Customer.objects.create(name="Other")
    theirs = ticket_open(customer=other, subject="Theirs", body_text="x")
    solved = ticket_open(customer=customer, subject="Done", body_text="x")
    solved.status = Ticket.Status.SOLVED
    solved.save()

    def ids(query: str) -> set[int]:
        response = agent_api.get(f"/api/v1/tickets{query}")
        assert response.status_code == 200, response.json()
        return {t["id"] for t in response.json()["items"]}

    assert ids("") == {ticket.pk, theirs.pk}
    assert ids(f"?customer={customer.pk}") == {ticket.pk}
    assert ids("?status=solved&status=new") == {ticket.pk, theirs.pk, solved.pk}
    assert ids("?assignee=none") == {ticket.pk, theirs.pk}
    assert ids("?assignee=me") == set()
    assert ids(f"?assignee={agent.pk}") == set()
    assert agent_api.get("/api/v1/tickets?status=bogus").status_code == 422
    assert agent_api.get("/api/v1/tickets?cursor=bm9wZQ").status_code == 400


@pytest.mark.parametrize("sort", ["priority", "value", "age"])
def test_the_cursor_walks_every_ticket_once(agent_api, customer, sort):
    opened = {
        ticket_open(customer=customer, subject=f"T{i}", body_text="x", priority=i % 4).pk
        for i in range(23)
    }
    seen: list[int] = []
    query = f"?limit=5&sort={sort}&status=new&status=solved"
    pages = 0
    while True:
        body = agent_api.get(f"/api/v1/tickets{query}").json()
        seen += [t["id"] for t in body["items"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        query = f"?limit=5&sort={sort}&status=new&status=solved&cursor={body['next_cursor']}"
    assert len(seen) == len(set(seen)) and set(seen) == opened
    assert pages == 5


def test_a_ticket_is_opened_about_the_customers_own_order_only(agent_api, customer):
    own = customer.orders.get(external_id="O-15")
    stranger = Customer.objects.create(name="Someone Else")
    strangers = order_create(
        customer=stranger, placed_at=own.placed_at, amount=own.amount, external_id="O-99"
    )
    base = {"customer_id": customer.pk, "subject": "Broken", "body": "It broke."}

    refused = agent_api.post(
        "/api/v1/tickets", {**base, "order_id": strangers.pk}, content_type="application/json"
    )
    assert refused.status_code == 400
    assert "another customer's order" in refused.json()["detail"]
    unknown = agent_api.post(
        "/api/v1/tickets", {**base, "order_id": 10**9}, content_type="application/json"
    )
    assert unknown.status_code == 400
    made = agent_api.post(
        "/api/v1/tickets", {**base, "order_id": own.pk}, content_type="application/json"
    )
    assert made.status_code == 201 and made.json()["order_id"] == own.pk
    named = agent_api.post(
        "/api/v1/tickets",
        {**base, "body": "It is about order O-1."},
        content_type="application/json",
    )
    assert named.json()["order_id"] == customer.orders.get(external_id="O-1").pk
