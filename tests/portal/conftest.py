"""Customers of the portal: Ada's company with two contacts, and a stranger customer."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from nextorder.crm.models import Contact, Customer
from nextorder.crm.services import contact_create
from nextorder.desk.models import Ticket
from nextorder.desk.portal.services import portal_link_request
from nextorder.desk.services import ticket_open
from nextorder.desk.tasks import send_notice

LINK = re.compile(r"http://testserver/portal/login/([A-Za-z0-9_-]+)/")


def notices() -> list[dict]:
    """The send_notice tasks enqueued so far, oldest first, as their keyword arguments."""
    rows = DBTaskResult.objects.filter(task_path=send_notice.module_path).order_by("enqueued_at")
    return [row.args_kwargs["kwargs"] for row in rows]


def link_secret() -> str:
    """The secret of the last log-in link mailed."""
    match = LINK.search(notices()[-1]["text"])
    assert match is not None
    return match.group(1)


@pytest.fixture
def colleague(customer) -> Contact:
    return contact_create(customer=customer, name="Bo", emails=["bo@example.com"])


@pytest.fixture
def colleague_ticket(customer, colleague) -> Ticket:
    return ticket_open(
        customer=customer, contact=colleague, subject="Invoice copy", body_text="Please."
    )


@pytest.fixture
def stranger_ticket(db) -> Ticket:
    other = Customer.objects.create(name="Zed Other")
    zed = contact_create(customer=other, name="Zed", emails=["zed@other.example"])
    return ticket_open(customer=other, contact=zed, subject="Zed's secret", body_text="Private.")


def portal_log_in(client: Client, address: str) -> None:
    portal_link_request(address=address, site_url="http://testserver")
    response = client.post(f"/portal/login/{link_secret()}/")
    assert response.status_code == 302 and response["Location"] == "/portal/tickets/"


@pytest.fixture
def portal_client(contact) -> Client:
    """A browser logged in to the portal as Ada."""
    client = Client()
    portal_log_in(client, "ada@example.com")
    return client
