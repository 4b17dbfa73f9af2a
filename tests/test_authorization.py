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

from datetime import timedelta

import pytest
from django.contrib import admin
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from nextorder.core.models import BusinessCalendar, Team
from nextorder.core.services import calendar_create
from nextorder.desk.bulk import saved_view_save
from nextorder.desk.macros import macro_save
from nextorder.desk.mail.inbound import mail_receive
from nextorder.desk.models import Attachment, InboundMail, OutboxMail, SlaPolicy
from nextorder.desk.tags import tag_get_or_create
from nextorder.followup.models import FollowupTask
from nextorder.sales.services import agreement_create, commitment_create, lead_create

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
    ("desk:ticket_tag_add", "GET"): (405, 405, 405, 405, 405),
    ("desk:ticket_tag_add", "POST"): (LOGIN, 400, 400, 403, 400),
    ("desk:ticket_tag_delete", "GET"): (405, 405, 405, 405, 405),
    ("desk:ticket_tag_delete", "POST"): (LOGIN, 302, 302, 403, 302),
    ("desk:ticket_macro", "GET"): (405, 405, 405, 405, 405),
    ("desk:ticket_macro", "POST"): (LOGIN, 400, 400, 403, 400),
    ("desk:ticket_merge", "GET"): (405, 405, 405, 405, 405),
    ("desk:ticket_merge", "POST"): (LOGIN, 400, 400, 403, 400),
    ("desk:ticket_split", "GET"): (405, 405, 405, 405, 405),
    ("desk:ticket_split", "POST"): (LOGIN, 400, 400, 403, 400),
    # The bulk and saved-view forms go back to the queue, with the error said there.
    ("desk:queue_bulk", "GET"): (405, 405, 405, 405, 405),
    ("desk:queue_bulk", "POST"): (LOGIN, 302, 302, 403, 302),
    ("desk:saved_view_create", "GET"): (405, 405, 405, 405, 405),
    ("desk:saved_view_create", "POST"): (LOGIN, 302, 302, 302, 302),
    # The agent's own view: nobody else's to delete (404, as if it did not exist).
    ("desk:saved_view_delete", "GET"): (405, 405, 405, 405, 405),
    ("desk:saved_view_delete", "POST"): (LOGIN, 302, 404, 404, 404),
    ("desk:macros", "GET"): (LOGIN, 200, 200, 403, 200),
    ("desk:macros", "POST"): (LOGIN, 400, 400, 403, 400),
    # A macro shared with everyone by the lead: leads (and managers) change it.
    ("desk:macro_edit", "GET"): (LOGIN, 403, 200, 403, 200),
    ("desk:macro_edit", "POST"): (LOGIN, 403, 400, 403, 400),
    # The agent's personal macro: only its owner deletes it; nobody else sees it (404).
    ("desk:macro_delete", "GET"): (405, 405, 405, 405, 405),
    ("desk:macro_delete", "POST"): (LOGIN, 302, 404, 403, 404),
    ("desk:customer", "GET"): (LOGIN, 200, 200, 200, 200),
    ("desk:customers", "GET"): (LOGIN, 200, 200, 200, 200),
    # Every role reads tickets and the record (core/roles.py): each searches all kinds.
    ("desk:search", "GET"): (LOGIN, 200, 200, 200, 200),
    ("desk:attachment", "GET"): (LOGIN, 200, 200, 200, 200),
    ("desk:assignment", "GET"): (LOGIN, 403, 200, 403, 200),
    ("desk:assignment", "POST"): (LOGIN, 403, 400, 403, 400),  # no action: a bad request
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
    ("followup:tasks", "GET"): (LOGIN, 403, 200, 200, 200),
    ("followup:task_close", "GET"): (405, 405, 405, 405, 405),
    ("followup:task_close", "POST"): (LOGIN, 403, 400, 400, 400),
    ("followup:task_take", "GET"): (405, 405, 405, 405, 405),
    # Taking needs no form: a role that works tasks takes it (and is sent to its tasks).
    ("followup:task_take", "POST"): (LOGIN, 403, 302, 302, 302),
    ("followup:playbook", "GET"): (405, 405, 405, 405, 405),
    ("followup:playbook", "POST"): (LOGIN, 403, 400, 400, 400),
    ("followup:report", "GET"): (LOGIN, 403, 200, 200, 200),
    ("followup:report_csv", "GET"): (LOGIN, 403, 200, 200, 200),
    # Pages customers reach from an email: the signed link decides, not a log-in.
    ("followup:survey", "GET"): (400, 400, 400, 400, 400),  # a link that is not valid
    ("followup:survey", "POST"): (400, 400, 400, 400, 400),
    ("followup:unsubscribe", "GET"): (400, 400, 400, 400, 400),
    ("followup:unsubscribe", "POST"): (400, 400, 400, 400, 400),
    ("followup:referral", "GET"): (404, 404, 404, 404, 404),  # nobody's referral code
    ("followup:referral", "POST"): (404, 404, 404, 404, 404),
    # Everyone sees business hours and coverage; leads and managers change them.
    ("insight:calendars", "GET"): (LOGIN, 200, 200, 200, 200),
    ("insight:coverage_panel", "GET"): (LOGIN, 200, 200, 200, 200),
    ("insight:calendar_new", "GET"): (LOGIN, 403, 200, 403, 200),
    ("insight:calendar_new", "POST"): (LOGIN, 403, 400, 403, 400),
    ("insight:calendar_edit", "GET"): (LOGIN, 403, 200, 403, 200),
    ("insight:calendar_edit", "POST"): (LOGIN, 403, 400, 403, 400),
    ("insight:calendar_exception_add", "GET"): (405, 405, 405, 405, 405),
    ("insight:calendar_exception_add", "POST"): (LOGIN, 403, 400, 403, 400),
    ("insight:calendar_exception_remove", "GET"): (405, 405, 405, 405, 405),
    ("insight:calendar_exception_remove", "POST"): (LOGIN, 403, 400, 403, 400),
    ("insight:calendar_import", "GET"): (405, 405, 405, 405, 405),
    ("insight:calendar_import", "POST"): (LOGIN, 403, 400, 403, 400),
    ("insight:team_calendar", "GET"): (405, 405, 405, 405, 405),
    ("insight:team_calendar", "POST"): (LOGIN, 403, 400, 403, 400),
    ("insight:staffing", "GET"): (LOGIN, 403, 200, 403, 200),
    # Sales makes and changes promises, agreements and leads; agents and leads see them,
    # mark a promise kept and open leads (an empty POST is the form again, 400).
    ("sales:commitments", "GET"): (LOGIN, 200, 200, 200, 200),
    ("sales:commitment_new", "GET"): (LOGIN, 403, 403, 200, 200),
    ("sales:commitment_new", "POST"): (LOGIN, 403, 403, 400, 400),
    ("sales:commitment_edit", "GET"): (LOGIN, 403, 403, 200, 200),
    ("sales:commitment_edit", "POST"): (LOGIN, 403, 403, 400, 400),
    ("sales:commitment_state", "GET"): (405, 405, 405, 405, 405),
    ("sales:commitment_state", "POST"): (LOGIN, 400, 400, 400, 400),
    ("sales:agreements", "GET"): (LOGIN, 200, 200, 200, 200),
    ("sales:agreement_new", "GET"): (LOGIN, 403, 403, 200, 200),
    ("sales:agreement_new", "POST"): (LOGIN, 403, 403, 400, 400),
    ("sales:agreement_edit", "GET"): (LOGIN, 403, 403, 200, 200),
    ("sales:agreement_edit", "POST"): (LOGIN, 403, 403, 400, 400),
    ("sales:coverage", "GET"): (LOGIN, 400, 400, 400, 400),  # no question asked
    ("sales:leads", "GET"): (LOGIN, 200, 200, 200, 200),
    ("sales:lead_new", "GET"): (LOGIN, 200, 200, 200, 200),
    ("sales:lead_new", "POST"): (LOGIN, 400, 400, 400, 400),
    ("sales:lead", "GET"): (LOGIN, 200, 200, 200, 200),
    ("sales:lead", "POST"): (LOGIN, 403, 403, 400, 400),
    ("sales:lead_close", "GET"): (405, 405, 405, 405, 405),
    ("sales:lead_close", "POST"): (LOGIN, 403, 403, 400, 400),
    # One action opens a lead from the ticket; again, it points to the one open.
    ("desk:ticket_lead", "GET"): (405, 405, 405, 405, 405),
    ("desk:ticket_lead", "POST"): (LOGIN, 302, 302, 302, 302),
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
    "desk.assignmentrule",
    "desk.agentskill",
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
    "desk.tag",
    "desk.tickettag",
    "desk.macro",
    "desk.savedview",
    "desk.slapolicy",
    "desk.ticketsla",
    "insight.valuemodelfit",
    "followup.survey",
    "followup.referralask",
    "followup.referral",
    "followup.followuptask",
    "followup.customerfollowup",
    "desk.callrecord",
    "sales.commitment",
    "sales.serviceagreement",
    "sales.lead",
    "sales.productaffinity",
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


@pytest.fixture
def sold(customer, sales_user) -> dict[str, int]:
    """A promise, an agreement and a lead of the customer, for the sales pages."""
    today = timezone.localdate()
    promise = commitment_create(
        customer=customer,
        description="Deliver by Friday",
        owner=sales_user,
        due_at=timezone.now() + timedelta(days=3),
        actor=sales_user,
    )
    agreement = agreement_create(
        customer=customer,
        name="Care",
        starts_on=today,
        ends_on=today + timedelta(days=365),
        actor=sales_user,
    )
    lead = lead_create(customer=customer, title="Second machine", actor=sales_user)
    return {"promise": promise.pk, "agreement": agreement.pk, "lead": lead.pk}


@pytest.fixture
def followup_task(customer) -> FollowupTask:
    return FollowupTask.objects.create(
        kind=FollowupTask.Kind.NUDGE,
        customer=customer,
        period="2026-03-15",
        role="sales",
        title="Ask for the next order",
        due_at=timezone.now(),
        created_at=timezone.now(),
    )


@pytest.fixture
def business_calendar(db) -> BusinessCalendar:
    return calendar_create(name="Service hours", time_zone="Europe/Berlin")


@pytest.fixture
def workspace(agent, lead) -> dict[str, int]:
    """A tag on nothing, the lead's shared macro, the agent's macro and saved view."""
    shared = macro_save(actor=lead, name="Thanks", body="Thank you", personal=False)
    mine = macro_save(actor=agent, name="Mine", body="Hi {customer_name}", personal=True)
    return {
        "tag": tag_get_or_create(name="late", actor=agent).pk,
        "shared_macro": shared.pk,
        "my_macro": mine.pk,
        "view": saved_view_save(owner=agent, name="Mine", query="status=new").pk,
    }


def _url(
    name: str, ticket, customer, attachment, mail, workspace, calendar, sold, followup_task
) -> str:
    held, kept = mail
    if name == "desk:sla_policy":
        return reverse(name, args=[SlaPolicy.objects.get_or_create(name="Matrix")[0].pk])
    args = {
        "desk:ticket_tag_add": [ticket.pk],
        "desk:ticket_tag_delete": [ticket.pk, workspace["tag"]],
        "desk:ticket_macro": [ticket.pk],
        "desk:ticket_merge": [ticket.pk],
        "desk:ticket_split": [ticket.pk],
        "desk:saved_view_delete": [workspace["view"]],
        "desk:macro_edit": [workspace["shared_macro"]],
        "desk:macro_delete": [workspace["my_macro"]],
        "insight:calendar_edit": [calendar.pk],
        "insight:calendar_exception_add": [calendar.pk],
        "insight:calendar_exception_remove": [calendar.pk],
        "insight:calendar_import": [calendar.pk],
        "insight:team_calendar": [Team.objects.get_or_create(name="Returns")[0].pk],
        "sales:commitment_new": [customer.pk],
        "sales:commitment_edit": [sold["promise"]],
        "sales:commitment_state": [sold["promise"]],
        "sales:agreement_new": [customer.pk],
        "sales:agreement_edit": [sold["agreement"]],
        "sales:lead_new": [customer.pk],
        "sales:lead": [sold["lead"]],
        "sales:lead_close": [sold["lead"]],
        "desk:ticket_lead": [ticket.pk],
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
        "followup:task_close": [followup_task.pk],
        "followup:task_take": [followup_task.pk],
        "followup:playbook": [customer.pk],
        "followup:report_csv": ["reorders"],
        "followup:survey": ["not-a-link-we-sent"],
        "followup:unsubscribe": ["not-a-link-we-sent"],
        "followup:referral": ["nobodys"],
        "portal:login": ["not-a-link-we-sent"],
        "portal:ticket": [ticket.pk],
        "portal:reply": [ticket.pk],
    }.get(name, [])
    return reverse(name, args=args)


@pytest.mark.parametrize(("name", "method"), list(MATRIX))
def test_each_role_gets_the_status_in_the_table(
    clients,
    ticket,
    customer,
    attachment,
    mail,
    workspace,
    business_calendar,
    sold,
    followup_task,
    name,
    method,
):
    got = {}
    for role in ROLES:
        client = clients[role]
        url = _url(
            name,
            ticket,
            customer,
            attachment,
            mail,
            workspace,
            business_calendar,
            sold,
            followup_task,
        )
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
