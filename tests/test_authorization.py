"""Who may do what, for every URL of the console, in one table.

Each row is a URL name and a method, with the status every role gets. A POST carries
no data: a role that may act gets the form back with its errors (400), one that may not
gets 403, so nothing in the table depends on what a valid form would change. A URL that
is added without a row fails `test_every_url_has_a_row`.

The API (`/api/v1/`, namespace "api") is left out: it reads no session, so every role
without a token gets the same 401, and its role rules are per operation and token,
which `tests/api/` covers (test_auth.py, test_roles.py).
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from nextorder.desk.mail.inbound import mail_receive
from nextorder.desk.models import Attachment, InboundMail, OutboxMail, SlaPolicy

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "agent", "lead", "sales", "manager")
LOGIN = 302  # an anonymous request is sent to the log-in page
PORTAL = 302  # without a portal session, the portal's pages send to its log-in page

# (url name, method): status for anonymous, agent, lead, sales, manager.
MATRIX: dict[tuple[str, str], tuple[int, int, int, int, int]] = {
    ("home", "GET"): (302, 302, 302, 302, 302),
    ("favicon", "GET"): (301, 301, 301, 301, 301),
    ("login", "GET"): (200, 200, 200, 200, 200),
    ("login", "POST"): (200, 200, 200, 200, 200),  # the form again, with its errors
    ("logout", "GET"): (405, 405, 405, 405, 405),
    ("logout", "POST"): (302, 302, 302, 302, 302),
    ("desk:queue", "GET"): (LOGIN, 200, 200, 200, 200),
    ("desk:ticket", "GET"): (LOGIN, 200, 200, 200, 200),
    ("desk:ticket_reply", "GET"): (405, 405, 405, 405, 405),
    ("desk:ticket_reply", "POST"): (LOGIN, 400, 400, 403, 400),
    ("desk:ticket_update", "GET"): (405, 405, 405, 405, 405),
    ("desk:ticket_update", "POST"): (LOGIN, 400, 400, 403, 400),
    ("desk:ticket_contact_address", "GET"): (405, 405, 405, 405, 405),
    ("desk:ticket_contact_address", "POST"): (LOGIN, 400, 400, 403, 400),
    ("desk:customer", "GET"): (LOGIN, 200, 200, 200, 200),
    ("desk:attachment", "GET"): (LOGIN, 200, 200, 200, 200),
    ("desk:quarantine", "GET"): (LOGIN, 403, 200, 403, 200),
    ("desk:quarantine_raw", "GET"): (LOGIN, 403, 200, 403, 200),
    ("desk:quarantine_release", "GET"): (405, 405, 405, 405, 405),
    ("desk:quarantine_release", "POST"): (LOGIN, 403, 302, 403, 302),
    ("desk:quarantine_delete", "GET"): (405, 405, 405, 405, 405),
    ("desk:quarantine_delete", "POST"): (LOGIN, 403, 302, 403, 302),
    ("desk:outbox", "GET"): (LOGIN, 403, 403, 403, 200),
    ("desk:sla_policies", "GET"): (LOGIN, 403, 200, 403, 200),
    ("desk:sla_policies", "POST"): (LOGIN, 403, 400, 403, 400),
    ("desk:sla_policy", "GET"): (LOGIN, 403, 200, 403, 200),
    ("desk:sla_policy", "POST"): (LOGIN, 403, 400, 403, 400),
    ("desk:outbox_message", "GET"): (LOGIN, 403, 403, 403, 200),
    ("insight:at_risk", "GET"): (LOGIN, 403, 200, 200, 200),
    ("insight:at_risk_csv", "GET"): (LOGIN, 403, 200, 200, 200),
    ("insight:follow_up", "GET"): (405, 405, 405, 405, 405),
    # An empty note is a valid request: the follow-up opens and the page moves to it.
    ("insight:follow_up", "POST"): (LOGIN, 403, 302, 302, 302),
    ("insight:retention", "GET"): (LOGIN, 403, 200, 200, 200),
    ("insight:retention_csv", "GET"): (LOGIN, 403, 200, 200, 200),
    ("insight:value_model", "GET"): (LOGIN, 403, 200, 200, 200),
    # Public pages: a staff log-in changes nothing; an empty form is a 400 with its errors.
    ("contact:form", "GET"): (200, 200, 200, 200, 200),
    ("contact:form", "POST"): (400, 400, 400, 400, 400),
    ("contact:thanks", "GET"): (200, 200, 200, 200, 200),
    ("portal:start", "GET"): (200, 200, 200, 200, 200),
    ("portal:start", "POST"): (400, 400, 400, 400, 400),
    ("portal:login", "GET"): (400, 400, 400, 400, 400),  # a link that is not valid
    ("portal:login", "POST"): (400, 400, 400, 400, 400),
    ("portal:logout", "GET"): (405, 405, 405, 405, 405),
    ("portal:logout", "POST"): (302, 302, 302, 302, 302),
    # A staff session is not a portal session.
    ("portal:tickets", "GET"): (PORTAL, PORTAL, PORTAL, PORTAL, PORTAL),
    ("portal:ticket", "GET"): (PORTAL, PORTAL, PORTAL, PORTAL, PORTAL),
    ("portal:reply", "GET"): (405, 405, 405, 405, 405),
    ("portal:reply", "POST"): (PORTAL, PORTAL, PORTAL, PORTAL, PORTAL),
}

# Models whose admin pages are read-only: they change through their services only.
READ_ONLY_IN_ADMIN = {
    "core.event",
    "core.businesscalendar",
    "core.openingperiod",
    "core.calendarexception",
    "core.apitoken",
    "core.webhooksubscription",
    "core.webhookdelivery",
    "crm.order",
    "crm.orderline",
    "crm.orderimport",
    "crm.currencyrate",
    "desk.ticket",
    "desk.message",
    "desk.attachment",
    "desk.delivery",
    "desk.inboundmail",
    "desk.outboxmail",
    "desk.mailboxcursor",
    "desk.portallogintoken",
    "desk.prioritycalibration",
    "desk.slapolicy",
    "desk.ticketsla",
    "insight.valuemodelfit",
    "axes.accesslog",
    "axes.accessattempt",
    "axes.accessfailurelog",
}
# Models outside NextOrder's apps that managers may not open at all.
CLOSED_TO_MANAGERS = {"auth.group", "django_tasks_database.dbtaskresult"}
# Managers may look at the staff accounts, not change them (a superuser's job).
VIEW_ONLY_FOR_MANAGERS = {"auth.user"}


def _url_names(patterns: list[URLPattern | URLResolver], namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace in ("admin", "api"):
                continue  # the admin has its own tests below; the API its own in tests/api
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= _url_names(pattern.url_patterns, inner)
        elif pattern.name:
            names.add(f"{namespace}{pattern.name}")
        else:
            names.add(f"{namespace}<unnamed {pattern.pattern}>")
    return names


def test_every_url_has_a_row():
    assert _url_names(get_resolver().url_patterns) == {name for name, _ in MATRIX}


@pytest.fixture
def clients(agent, lead, sales_user, manager) -> dict[str, Client]:
    signed_in = {"agent": agent, "lead": lead, "sales": sales_user, "manager": manager}
    clients = {"anonymous": Client()}
    for role, user in signed_in.items():
        clients[role] = Client()
        clients[role].force_login(user)
    return clients


@pytest.fixture
def attachment(ticket) -> Attachment:
    attachment = Attachment(
        message=ticket.messages.get(), filename="photo.png", content_type="image/png", size=3
    )
    attachment.file.save("photo.png", ContentFile(b"png"), save=True)
    return attachment


@pytest.fixture
def mail(db) -> tuple[int, int]:
    """A quarantined message and a kept outbox message, for the mail pages."""
    held = mail_receive(raw=b"\x00 unreadable", source=InboundMail.Source.SMTP).inbound
    kept = OutboxMail.objects.create(
        from_address="support@nextorder.localhost",
        to_addresses="a@b.example",
        subject="Hi",
        raw=b"",
    )
    return held.pk, kept.pk


def _url(name: str, ticket, customer, attachment, mail) -> str:
    held, kept = mail
    if name == "desk:sla_policy":
        return reverse(name, args=[SlaPolicy.objects.get_or_create(name="Matrix")[0].pk])
    args = {
        "desk:quarantine_raw": [held],
        "desk:quarantine_release": [held],
        "desk:quarantine_delete": [held],
        "desk:outbox_message": [kept],
        "desk:attachment": [attachment.pk],
        "desk:ticket": [ticket.pk],
        "desk:ticket_reply": [ticket.pk],
        "desk:ticket_update": [ticket.pk],
        "desk:ticket_contact_address": [ticket.pk],
        "desk:customer": [customer.pk],
        "insight:follow_up": [customer.pk],
        "insight:retention_csv": ["cohorts"],
        "portal:login": ["not-a-link-we-sent"],
        "portal:ticket": [ticket.pk],
        "portal:reply": [ticket.pk],
    }.get(name, [])
    return reverse(name, args=args)


@pytest.mark.parametrize(("name", "method"), list(MATRIX))
def test_each_role_gets_the_status_in_the_table(
    clients, ticket, customer, attachment, mail, name, method
):
    got = {}
    for role in ROLES:
        client = clients[role]
        url = _url(name, ticket, customer, attachment, mail)
        response = client.get(url) if method == "GET" else client.post(url, {})
        got[role] = response.status_code
    assert got == dict(zip(ROLES, MATRIX[name, method], strict=True))


def test_a_refused_action_renders_the_console_page_with_the_reason(clients, ticket):
    response = clients["sales"].post(reverse("desk:ticket_reply", args=[ticket.pk]), {})
    assert response.status_code == 403
    assert b"Not allowed" in response.content
    assert b'href="/desk/"' in response.content  # the console's navigation is there


def _admin_statuses(client: Client, label: str) -> tuple[int, int]:
    app_label, model_name = label.split(".")
    changelist = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    add = client.get(reverse(f"admin:{app_label}_{model_name}_add"))
    return changelist.status_code, add.status_code


def test_only_managers_reach_the_admin(clients):
    for role in ("anonymous", "agent", "lead", "sales"):
        response = clients[role].get(reverse("admin:index"))
        assert response.status_code == 302, role
        assert "/admin/login/" in response["Location"], role
    assert clients["manager"].get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label_lower)
def test_admin_pages_of_each_model_by_role(clients, model):
    label = model._meta.label_lower
    for role in ("anonymous", "agent", "lead", "sales"):
        changelist, add = _admin_statuses(clients[role], label)
        assert (changelist, add) == (302, 302), role
    if label in CLOSED_TO_MANAGERS:
        expected = (403, 403)
    elif label in READ_ONLY_IN_ADMIN or label in VIEW_ONLY_FOR_MANAGERS:
        expected = (200, 403)
    else:
        expected = (200, 200)
    assert _admin_statuses(clients["manager"], label) == expected
