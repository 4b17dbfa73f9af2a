"""Every console URL, fuzzed through its query parameters and form fields as every role.

A URL is typed by people and by tools, and a form can be posted by anything: whatever
arrives, the answer is a page, a redirect, a refusal (4xx), never a server error. The
readers in `nextorder.core.params`, the queue cursor and the forms are what make that so;
these tests throw at them what a hand-edited link or a hostile client would send (huge
and non-ASCII digits, NaN, cursors of the wrong shape, NUL bytes) and check each answer.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nextorder.core.models import Team
from nextorder.core.services import calendar_create
from nextorder.crm.models import Customer
from nextorder.desk.models import Message, SlaPolicy, Ticket
from nextorder.followup.links import survey_token
from nextorder.followup.models import CustomerFollowup, FollowupTask, Referral, Survey
from nextorder.sales.models import Commitment
from nextorder.sales.services import commitment_create, lead_create

pytestmark = pytest.mark.django_db

# Function-scoped fixtures are made once per test and shared by its examples on purpose:
# the examples pile up replies and updates on one ticket, as a day's traffic would.
fuzz = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    max_examples=80,
    deadline=None,
)

ROLES = ("anonymous", "agent", "lead", "sales", "manager")
CURRENT = "<the ticket's current version>"  # replaced at request time

# Numbers as people and tools mistype them: beyond 32 and 64 bits, non-ASCII digits
# ("²".isdigit() is True, int("²") fails; int("٣") is 3), exponents, NaN, NUL.
ODD_NUMBERS = [
    "",
    "0",
    "-1",
    "1",
    "+1",
    " 1",
    "1 ",
    "1.0",
    "1_000",
    "0x1F",
    str(2**31 - 1),
    str(2**31),
    str(2**63 - 1),
    "9223372036854775808",
    str(2**64),
    str(-(2**63) - 1),
    "²",
    "٣",
    "\uff11",  # fullwidth one
    "1e999999",
    "-1e999999",
    "1E+999999999999999999",
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "\x00",
    "1\x00",
    "9" * 5000,
    "1" + "0" * 4999,
]
odd_text = st.one_of(
    st.sampled_from(ODD_NUMBERS),
    st.integers().map(str),
    st.integers(min_value=2**62, max_value=2**70).map(str),
    st.text(max_size=40),
)

# Path ids that do not exist, at the edge of a 64-bit key and beyond it.
odd_ids = st.one_of(
    st.sampled_from([0, 2**31, 2**63 - 1, 2**63, 2**64, 10**30]),
    st.integers(min_value=1, max_value=2**63 - 1),
)

# Cursor atoms: valid keys (so that a well-shaped cursor reaches the database) beside
# every wrong type and out-of-range value a JSON document can carry.
VALID_ATOMS = [1, 2, 3, 4, "2026-03-15T00:00:00+00:00", "120.00", "0", "0.00"]
BAD_ATOMS: list[Any] = [
    -1,
    2**63,
    2**70,
    -(2**70),
    1.5,
    float("nan"),
    float("inf"),
    True,
    None,
    [],
    {},
    [[1, [2]]],
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1e999999",
    "-1",
    "1e12",
    "²",
    "2026-03-15T00:00:00",  # naive
    "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
    "2026-13-45T00:00:00+00:00",
    "",
]
cursor_atoms = st.one_of(
    st.sampled_from(VALID_ATOMS),
    st.sampled_from(BAD_ATOMS),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
# JSON no encoder writes: numbers too big for a float, NaN tokens in a key's place.
RAW_JSON = [
    "{}",
    "[]",
    '["priority"]',
    '["priority", 0, 1]',
    '["priority", 3, 1, "2026-03-15T00:00:00+00:00", 1]',
    '["priority", true]',
    '["value", 0, "NaN", 1, "x", 1]',
    '["priority", 0, 1e999999, "2026-03-15T00:00:00+00:00", 1]',
    '["value", 0, NaN, 2, "2026-03-15T00:00:00+00:00", 1]',
    '["value", 1, Infinity, 2, "2026-03-15T00:00:00+00:00", 1]',
    '["age", 0, "2026-03-15T00:00:00+00:00", -Infinity]',
    '["age", 0, "2026-03-15T00:00:00+00:00", ' + "9" * 5000 + "]",
    "[" * 5000 + "]" * 5000,
    '["priority", ' + "[" * 100_000 + "]" * 100_000 + "]",
    '"priority"',
    "null",
    "1e999999",
]


@st.composite
def cursor_json(draw: st.DrawFn) -> str:
    """The JSON inside a cursor: shaped like one (a sort name, a tier, then keys) or not."""
    shaped = st.builds(
        lambda sort, tier, atoms: json.dumps([sort, tier, *atoms]),
        st.sampled_from(["priority", "value", "age", "", "PRIORITY", 1]),
        st.one_of(st.sampled_from([0, 1, 2]), cursor_atoms),
        st.lists(cursor_atoms, max_size=5),
    )
    return draw(st.one_of(shaped, st.sampled_from(RAW_JSON), json_values.map(json.dumps)))


@st.composite
def cursors(draw: st.DrawFn) -> str:
    """`after=`: base64 of JSON (as the queue writes it, and as other tools would), or not."""
    encode = draw(
        st.sampled_from(
            [
                lambda b: base64.urlsafe_b64encode(b).decode(),
                lambda b: base64.b64encode(b).decode(),
                lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="),
                lambda b: b.decode(),
            ]
        )
    )
    return draw(
        st.one_of(
            cursor_json().map(lambda text: encode(text.encode())),
            st.text(max_size=40),
            st.sampled_from(["%%%", "=", "====", "\x00", "AAAA", "W10="]),
        )
    )


@dataclass(frozen=True)
class World:
    users: dict[str, User | None]
    ticket: Ticket
    customer: Customer
    team: Team

    def client(self, role: str, **headers: str) -> Client:
        client = Client(headers=headers)
        user = self.users[role]
        if user is not None:
            client.force_login(user)
        return client

    def ids(self) -> dict[str, str]:
        """The ids worth posting: real users (one of whom, sales, cannot work tickets)."""
        return {role: str(user.pk) for role, user in self.users.items() if user is not None}


@pytest.fixture
def world(agent, lead, sales_user, manager, ticket) -> World:
    """One ticket for a customer who is scored and on the at-risk list, and a team."""
    Customer.objects.filter(pk=ticket.customer_id).update(
        value_at_risk=Decimal("120.00"),
        clv_12m=Decimal("300.00"),
        p_alive=0.4,
        p_alive_previous=0.6,
        expected_orders_90d=0.7,
        scored_at=timezone.now() - timedelta(days=1),
    )
    return World(
        users={
            "anonymous": None,
            "agent": agent,
            "lead": lead,
            "sales": sales_user,
            "manager": manager,
        },
        ticket=ticket,
        customer=Customer.objects.get(pk=ticket.customer_id),
        team=Team.objects.create(name="Returns"),
    )


def answered(response: HttpResponse) -> HttpResponse:
    """The one property every request here must have: no server error.

    (The test client raises a view's exception itself, with its traceback, before this.)
    """
    assert response.status_code < 500, response.content[:2000]
    event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics: what was reached
    return response


roles = st.sampled_from(ROLES)
htmx_headers = st.sampled_from(
    [{}, {"HX-Request": "true"}, {"HX-Request": "true", "HX-Target": "queue-table"}]
)
statuses = st.lists(st.one_of(st.sampled_from(Ticket.Status.values), odd_text), max_size=6)
queue_queries = st.fixed_dictionaries(
    {},
    optional={
        "status": statuses,
        "team": odd_text,
        "assignee": st.one_of(st.sampled_from(["me", "none", "ME", "None"]), odd_text),
        "sort": st.one_of(st.sampled_from(["priority", "value", "age", "due", "-id"]), st.text()),
        "due": st.one_of(st.sampled_from(["soon", "SOON", ""]), odd_text),
        "after": cursors(),
        "tag": odd_text,
    },
)


@fuzz
@given(role=roles, query=queue_queries, headers=htmx_headers)
def test_queue_answers_any_query_without_a_server_error(world, role, query, headers):
    """Filters a hand-edited link cannot parse are ignored; a cursor that is not ours is
    refused with a 400; neither is a 500, in the full page or in either htmx fragment."""
    response = answered(world.client(role, **headers).get(reverse("desk:queue"), query))
    # Everyone with a role reads the queue; the anonymous are sent to log in.
    assert response.status_code in ((302,) if role == "anonymous" else (200, 400))


@pytest.mark.parametrize("raw", RAW_JSON)
def test_every_odd_cursor_is_refused_with_400(world, raw):
    """Each of the hand-written cursors, every time (the property test samples them)."""
    after = base64.urlsafe_b64encode(raw.encode()).decode()
    response = world.client("agent").get(reverse("desk:queue"), {"after": after})
    assert response.status_code == 400


@fuzz
@given(role=roles, pk=st.one_of(st.none(), odd_ids), query=st.dictionaries(st.text(), st.text()))
def test_ticket_page_answers_any_id_and_query(world, role, pk, query):
    """A ticket that does not exist is a 404 (even at 2**63 and beyond), not a 500."""
    path = reverse("desk:ticket", args=[world.ticket.pk if pk is None else pk])
    answered(world.client(role).get(path, query))


def version_of(world: World, raw: str) -> str:
    if raw == CURRENT:
        return str(Ticket.objects.get(pk=world.ticket.pk).version)
    return raw


reply_forms = st.fixed_dictionaries(
    {},
    optional={
        "body": st.one_of(
            st.text(),
            st.sampled_from(["\x00", "ok\x00", " \n ", "x" * 200_001, "<b>hi</b>"]),
        ),
        "status": st.one_of(st.sampled_from(Ticket.Status.values), odd_text),
        "internal": st.one_of(st.sampled_from(["on", "1", "true", "false", ""]), st.text()),
        "version": st.one_of(st.just(CURRENT), odd_text, st.integers(max_value=-1).map(str)),
    },
)


@fuzz
@given(role=roles, pk=st.one_of(st.none(), odd_ids), form=reply_forms)
def test_reply_answers_any_form_without_a_server_error(world, role, pk, form):
    """Bodies with NUL, empty or too long, statuses that do not exist, versions of any
    size or script are refused with a 400 (a stale version with a 409): never a 500."""
    before = Message.objects.count()
    if "version" in form:
        form["version"] = version_of(world, form["version"])
    path = reverse("desk:ticket_reply", args=[world.ticket.pk if pk is None else pk])
    response = answered(world.client(role).post(path, form))
    if response.status_code != 302:
        assert Message.objects.count() == before  # a refused reply stores nothing
    else:
        assert "\x00" not in Message.objects.latest("id").body_text


update_forms = st.fixed_dictionaries(
    {},
    optional={
        "status": st.one_of(st.sampled_from(Ticket.Status.values), odd_text),
        "priority": st.one_of(st.sampled_from([str(p) for p in Ticket.Priority.values]), odd_text),
        "assignee": st.one_of(st.sampled_from(["agent", "lead", "sales", "manager"]), odd_text),
        "team": st.one_of(st.just("<team>"), odd_text),
        "version": st.one_of(
            st.just(CURRENT),
            odd_text,
            st.sampled_from(["9223372036854775808", "²", "9" * 5000, "-1", str(2**31)]),
        ),
    },
)


@fuzz
@given(role=roles, pk=st.one_of(st.none(), odd_ids), form=update_forms)
def test_update_answers_any_form_without_a_server_error(world, role, pk, form):
    """Unknown choices and ids (of any size, in any script) are a 400; assigning to a
    sales user, who cannot work tickets, a 400; an agent routing a ticket, a 403."""
    ids = world.ids()
    if form.get("assignee") in ids:
        form["assignee"] = ids[form["assignee"]]
    if form.get("team") == "<team>":
        form["team"] = str(world.team.pk)
    if "version" in form:
        form["version"] = version_of(world, form["version"])
    path = reverse("desk:ticket_update", args=[world.ticket.pk if pk is None else pk])
    answered(world.client(role).post(path, form))


@fuzz
@given(role=roles, pk=st.one_of(st.none(), odd_ids), query=st.dictionaries(st.text(), st.text()))
def test_customer_page_answers_any_id(world, role, pk, query):
    """A customer id that does not exist is a 404, at any size."""
    path = reverse("desk:customer", args=[world.customer.pk if pk is None else pk])
    answered(world.client(role).get(path, query))


# What people type into a search box, and what tools put in its link.
search_words = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        ["'", '"', "&|!", "-", "or", "a:*", "x" * 1000, "\x00", "Ada", "Where is my order?"]
    ),
    odd_text,
)
days = st.one_of(
    st.dates().map(str), st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30"]), odd_text
)
search_queries = st.fixed_dictionaries(
    {},
    optional={
        "q": search_words,
        "kind": st.lists(
            st.one_of(st.sampled_from(["tickets", "customers", "contacts", "orders"]), odd_text),
            max_size=5,
        ),
        "status": statuses,
        "team": odd_text,
        "assignee": st.one_of(st.sampled_from(["me", "none"]), odd_text),
        "from": days,
        "to": days,
        "page": odd_text,
    },
)


@fuzz
@given(role=roles, query=search_queries)
def test_search_answers_any_query(world, role, query):
    """Any words, filters that do not parse (ignored), any page: a page of results or of
    none, never a 500."""
    response = answered(world.client(role).get(reverse("desk:search"), query))
    assert response.status_code == (302 if role == "anonymous" else 200)


customer_list_queries = st.fixed_dictionaries(
    {},
    optional={
        "q": search_words,
        "sort": st.one_of(st.sampled_from(["name", "spend", "last_order", "risk"]), st.text()),
        "page": odd_text,
    },
)


@fuzz
@given(role=roles, query=customer_list_queries)
def test_customer_list_answers_any_query(world, role, query):
    """An unknown sort is by name; any page a page (past the last, the last)."""
    response = answered(world.client(role).get(reverse("desk:customers"), query))
    assert response.status_code == (302 if role == "anonymous" else 200)


at_risk_queries = st.fixed_dictionaries(
    {},
    optional={
        "min_value": odd_text,
        "stage": st.one_of(st.sampled_from(["reachable", "gone", "all"]), st.text()),
        "falling": st.one_of(st.just("1"), st.text()),
        "open_tickets": st.one_of(st.just("1"), st.text()),
        "page": odd_text,
    },
)


@fuzz
@given(role=roles, query=at_risk_queries, download=st.booleans())
def test_at_risk_answers_any_filter(world, role, query, download):
    """An amount that is not a finite, bounded number (NaN, 1e999999, "²") counts as no
    minimum (and the page says so); an unknown stage as the default one; any page as a
    page; the download takes the same filters."""
    name = "insight:at_risk_csv" if download else "insight:at_risk"
    answered(world.client(role).get(reverse(name), query))


@fuzz
@given(
    role=roles,
    pk=st.one_of(st.none(), odd_ids),
    form=st.fixed_dictionaries(
        {}, optional={"note": st.one_of(st.text(), st.sampled_from(["\x00", "x" * 5001]))}
    ),
)
def test_follow_up_answers_any_note(world, role, pk, form):
    """A note with NUL or over 5,000 characters is refused with a 400 and opens nothing."""
    before = Ticket.objects.count()
    path = reverse("insight:follow_up", args=[world.customer.pk if pk is None else pk])
    response = answered(world.client(role).post(path, form))
    if response.status_code != 302 or role == "anonymous":
        assert Ticket.objects.count() == before


assignment_forms = st.fixed_dictionaries(
    {},
    optional={
        "action": st.one_of(st.sampled_from(["rule", "add_skill", "remove_skill"]), odd_text),
        "team": st.one_of(odd_text, st.just("1")),
        "skill": odd_text,
        "user": odd_text,
        "kind": st.one_of(st.sampled_from(["product", "language"]), odd_text),
        "value": st.one_of(st.text(), st.sampled_from(["\x00", "x" * 201])),
    },
)


@fuzz
@given(role=roles, form=assignment_forms)
def test_assignment_answers_any_form(world, role, form):
    """A form naming no team or skill, a bad method or a NUL in a skill changes nothing."""
    form = {**form, f"team{world.team.pk}-method": form.get("kind", "manual")}
    if form.get("team") == "1":
        form["team"] = str(world.team.pk)
    answered(world.client(role).post(reverse("desk:assignment"), form))


policy_choices = st.lists(
    st.one_of(st.sampled_from(["0", "3", "email", "pending", "solved"]), odd_text), max_size=4
)
policy_forms = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.text(max_size=120), st.sampled_from(["Urgent", "\x00"])),
        "position": odd_text,
        "active": st.sampled_from(["on", ""]),
        "customer_kind": st.one_of(st.sampled_from(["person", "company"]), odd_text),
        "priorities": policy_choices,
        "channels": policy_choices,
        "pause_statuses": policy_choices,
        "first_response_minutes": odd_text,
        "next_response_minutes": odd_text,
        "resolution_minutes": odd_text,
        "calendar": odd_text,
        "reassign_on_breach": st.sampled_from(["on", ""]),
        "version": odd_text,
    },
)


@fuzz
@given(role=roles, pk=st.one_of(st.none(), odd_ids), form=policy_forms)
def test_sla_policy_pages_answer_any_form(world, role, pk, form):
    """A policy form that does not read is the form again with its errors (400); a role
    that may not edit policies gets 403; neither a 500, adding or editing."""
    policy, _created = SlaPolicy.objects.get_or_create(name="Fuzzed", defaults={"position": 5})
    answered(world.client(role).post(reverse("desk:sla_policies"), form))
    path = reverse("desk:sla_policy", args=[policy.pk if pk is None else pk])
    answered(world.client(role).post(path, form))


retention_queries = st.fixed_dictionaries({}, optional={"inactive_months": odd_text})


@fuzz
@given(role=roles, query=retention_queries)
def test_retention_answers_any_inactive_months(world, role, query):
    """Months outside 1 to 36, or not ASCII digits, are the default six."""
    answered(world.client(role).get(reverse("insight:retention"), query))


@fuzz
@given(
    role=roles,
    table=st.one_of(
        st.sampled_from(["cohorts", "leaky-bucket"]), st.from_regex(r"\A[-a-zA-Z0-9_]{1,30}\Z")
    ),
    query=retention_queries,
)
def test_retention_csv_answers_any_table_and_months(world, role, table, query):
    """An unknown table is a 404; the leaky bucket reads its months as the page does."""
    response = answered(
        world.client(role).get(reverse("insight:retention_csv", args=[table]), query)
    )
    if role in ("lead", "sales", "manager") and table in ("cohorts", "leaky-bucket"):
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")


@fuzz
@given(role=roles, query=st.dictionaries(st.text(), st.text()))
def test_value_model_page_answers_any_query(world, role, query):
    """The page takes no parameters; any it is given change nothing."""
    answered(world.client(role).get(reverse("insight:value_model"), query))


staffing_queries = st.fixed_dictionaries(
    {},
    optional={
        "week": st.one_of(odd_text, st.dates().map(date.isoformat)),
        "interval": st.one_of(odd_text, st.sampled_from(["15", "30"])),
        "new_customers": odd_text,
    },
)


@fuzz
@given(role=roles, query=staffing_queries)
def test_staffing_answers_any_week_interval_and_growth(world, role, query):
    """An unreadable week is this week; an odd interval is 30 minutes; odd growth is none."""
    response = answered(world.client(role).get(reverse("insight:staffing"), query))
    if role in ("lead", "manager"):
        assert response.status_code == 200


# The known cases, one by one: each bad value is ignored (the page as without it) or
# refused with a 400 that says why.


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "query",
    [
        {"team": "9223372036854775808"},
        {"team": "²"},
        {"assignee": "9" * 5000},
        {"assignee": "²"},
        {"status": ["new", "\x00", "nope"], "sort": "nonsense"},
    ],
    ids=[
        "team-2**63",
        "team-superscript-two",
        "assignee-5000-digits",
        "assignee-superscript-two",
        "status-and-sort-unknown",
    ],
)
def test_queue_ignores_a_filter_it_cannot_read(client, agent, ticket, query):
    """An unreadable filter is no filter: the queue shows the ticket it would without it."""
    client.force_login(agent)
    response = client.get(reverse("desk:queue"), query)
    assert response.status_code == 200
    assert ticket.subject in response.content.decode()


@pytest.mark.parametrize(
    "payload",
    [
        "{}",
        "[]",
        '["priority"]',
        '["value", "NaN", 1, "x", 1]',
        '["value", "NaN", 2, "2026-03-15T00:00:00+00:00", 1]',
        '["value", "Infinity", 2, "2026-03-15T00:00:00+00:00", 1]',
        '["value", "sNaN", 2, "2026-03-15T00:00:00+00:00", 1]',
        '["value", NaN, 2, "2026-03-15T00:00:00+00:00", 1]',
        '["value", "1e999999", 2, "2026-03-15T00:00:00+00:00", 1]',
        f'["value", "1.00", 2, "2026-03-15T00:00:00+00:00", {2**70}]',
        '["value", "1.00", 2.5, "2026-03-15T00:00:00+00:00", 1]',
        '["value", "1.00", 2, "0001-01-01T00:00:00+05:00", 1]',
        '["value", "1.00", 2, "2026-03-15T00:00:00", 1]',
        '["value", "1.00", [2], "2026-03-15T00:00:00+00:00", 1]',
        '["priority", 2, "2026-03-15T00:00:00+00:00", 1]',  # a cursor of another sort
    ],
)
@pytest.mark.parametrize("htmx", [{}, {"HTTP_HX_REQUEST": "true"}])
def test_queue_refuses_a_cursor_it_did_not_write(client, agent, ticket, payload, htmx):
    """A value-sorted cursor holding NaN, Infinity, sNaN, a key of the wrong type or
    size, or a time without its offset or out of range is a 400 with a message."""
    client.force_login(agent)
    response = client.get(reverse("desk:queue"), {"sort": "value", "after": b64(payload)}, **htmx)
    assert response.status_code == 400
    assert "This page link is out of date" in response.content.decode()


def test_queue_filters_by_the_largest_key_as_by_any_other(client, agent, ticket):
    """2**63-1 is a key that could exist: it filters (to nothing here), it is no error."""
    client.force_login(agent)
    response = client.get(reverse("desk:queue"), {"team": str(2**63 - 1)})
    assert response.status_code == 200
    assert ticket.subject not in response.content.decode()


def test_queue_reads_a_well_formed_value_cursor(client, agent, ticket):
    """The counterpart of the refusals above: a cursor of the right shape is a page."""
    client.force_login(agent)
    cursor = b64(f'["value", 0, "9999.00", 4, "2026-03-15T00:00:00+00:00", {2**63 - 1}]')
    response = client.get(reverse("desk:queue"), {"sort": "value", "after": cursor})
    assert response.status_code == 200


@pytest.mark.parametrize("months", ["²", "9223372036854775808", "0", "37", "NaN", "9" * 5000])
def test_retention_page_and_csv_ignore_unreadable_months(client, lead, customer, months):
    """Unreadable or out-of-range months are the default six, on the page and in the CSV."""
    client.force_login(lead)
    page = client.get(reverse("insight:retention"), {"inactive_months": months})
    assert page.status_code == 200 and page.context["inactive_months"] == 6
    csv = client.get(
        reverse("insight:retention_csv", args=["leaky-bucket"]), {"inactive_months": months}
    )
    assert csv.status_code == 200
    assert csv.content.decode().startswith("month,gained,lost,active")


def test_follow_up_note_with_nul_is_refused_and_opens_nothing(client, lead, customer):
    """PostgreSQL cannot store NUL; the form refuses it before any ticket is opened."""
    client.force_login(lead)
    before = Ticket.objects.count()
    response = client.post(reverse("insight:follow_up", args=[customer.pk]), {"note": "a\x00b"})
    assert response.status_code == 400
    assert Ticket.objects.count() == before


def test_a_million_character_reply_is_refused_and_stores_nothing(client, agent, ticket):
    """Beyond the message limit, the reply is a 400 and neither message nor version moves."""
    client.force_login(agent)
    before = Message.objects.count()
    response = client.post(
        reverse("desk:ticket_reply", args=[ticket.pk]),
        {"body": "x" * 1_000_000, "status": "pending", "version": ticket.version},
    )
    assert response.status_code == 400
    assert Message.objects.count() == before
    assert Ticket.objects.get(pk=ticket.pk).version == ticket.version


@pytest.mark.parametrize(
    "view",
    ["desk:ticket", "desk:customer"],
)
@pytest.mark.parametrize("pk", [2**63 - 1, 2**63, 10**30])
def test_ids_beyond_any_row_are_not_found(client, manager, ticket, view, pk):
    """Ids at and beyond the largest 64-bit key are a plain 404."""
    client.force_login(manager)
    assert client.get(reverse(view, args=[pk])).status_code == 404


# The workspace's forms: tags, macros, merge, split, bulk actions and saved views.

tickets_posted = st.lists(st.one_of(st.just("<ticket>"), odd_text), max_size=5)
bulk_forms = st.fixed_dictionaries(
    {},
    optional={
        "ticket": tickets_posted,
        "action": st.one_of(st.sampled_from(["assign", "status", "tag", "merge"]), odd_text),
        "assignee": st.one_of(st.sampled_from(["me", "none", "agent", "sales"]), odd_text),
        "status": st.one_of(st.sampled_from(Ticket.Status.values), odd_text),
        "tag": st.one_of(st.sampled_from(["late", "x" * 51, " ", "\x00"]), st.text(max_size=60)),
        "query": st.one_of(st.just("status=new&tag=1"), st.text(max_size=80)),
    },
)


@fuzz
@given(role=roles, form=bulk_forms)
def test_bulk_actions_answer_any_form(world, role, form):
    """Ids that are not ids are dropped, unknown ones skipped, a tag name that cannot be
    one refused with a message: the queue comes back, never a 500."""
    ids = world.ids()
    form["ticket"] = [
        str(world.ticket.pk) if t == "<ticket>" else t for t in form.get("ticket", [])
    ]
    if form.get("assignee") in ids:
        form["assignee"] = ids[form["assignee"]]
    answered(world.client(role).post(reverse("desk:queue_bulk"), form))


ticket_forms = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(["late", "x" * 51, "\x00", " "]), st.text()),
        "macro": odd_text,
        "target": st.one_of(st.just("<ticket>"), odd_text),
        "different_customers": st.one_of(st.just("on"), st.text(max_size=5)),
        "message": odd_text,
        "with_later": st.one_of(st.just("on"), st.text(max_size=5)),
        "version": st.one_of(st.just(CURRENT), odd_text),
    },
)


@fuzz
@given(
    role=roles,
    name=st.sampled_from(
        ["desk:ticket_tag_add", "desk:ticket_macro", "desk:ticket_merge", "desk:ticket_split"]
    ),
    pk=st.one_of(st.none(), odd_ids),
    form=ticket_forms,
)
def test_ticket_tools_answer_any_form(world, role, name, pk, form):
    """A tag, macro, merge or split form with ids of any size or script, a ticket merged
    into itself, a stale version: a 4xx with its reason or a redirect, never a 500."""
    if form.get("target") == "<ticket>":
        form["target"] = str(world.ticket.pk)
    if "version" in form:
        form["version"] = version_of(world, form["version"])
    answered(
        world.client(role).post(reverse(name, args=[world.ticket.pk if pk is None else pk]), form)
    )


macro_forms = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(["Thanks", "", "x" * 101]), st.text()),
        "body": st.one_of(
            st.sampled_from(["Hi {customer_name}", "{nope}", "{0.__class__}", "{{x}}", "\x00"]),
            st.text(),
        ),
        "shared_with": st.one_of(st.sampled_from(["personal", "all", "team:<team>"]), odd_text),
        "set_status": st.one_of(st.sampled_from(Ticket.Status.values), odd_text),
        "set_priority": odd_text,
        "set_assignee": st.one_of(st.sampled_from(["agent", "sales"]), odd_text),
        "add_tags": st.one_of(st.sampled_from(["a, b", "x" * 60, ",,"]), st.text()),
    },
)


@fuzz
@given(role=roles, form=macro_forms)
def test_macro_page_answers_any_form(world, role, form):
    """Unknown placeholders, sharing a role may not choose, odd ids: a 400 that says why."""
    ids = world.ids()
    if form.get("set_assignee") in ids:
        form["set_assignee"] = ids[form["set_assignee"]]
    if form.get("shared_with") == "team:<team>":
        form["shared_with"] = f"team:{world.team.pk}"
    answered(world.client(role).post(reverse("desk:macros"), form))


@fuzz
@given(
    role=roles,
    form=st.fixed_dictionaries(
        {}, optional={"name": st.one_of(st.text(), st.just("x" * 61)), "query": st.text()}
    ),
)
def test_saved_views_answer_any_form(world, role, form):
    answered(world.client(role).post(reverse("desk:saved_view_create"), form))


# Hours as people type them: ranges in other scripts and separators, 24:00, overlaps.
odd_hours = st.one_of(
    st.sampled_from(
        [
            "09:00-17:00",
            "09:00-12:00, 13:00-17:00",
            "22:00-24:00",
            "00:00-24:00",
            "17:00-09:00",
            "09:00-13:00, 12:00-14:00",
            "9-17",
            "\u0669-\u0661\u0667",  # Arabic-Indic digits
            "09:00\u201317:00",  # an en dash
            "24:00-25:00",
            "99999999999999999999:00-1",
            "-",
            ",,,",
            "closed",
            "\x00",
        ]
    ),
    odd_text,
)
calendar_forms = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.just("Service hours"), st.text(max_size=120)),
        "time_zone": st.one_of(
            st.sampled_from(["Europe/Berlin", "UTC", "../../etc/passwd", "Europe/", ""]), odd_text
        ),
        "holiday_country": st.one_of(st.sampled_from(["DE", "US", "de", "XX", ""]), odd_text),
        "holiday_subdivision": st.one_of(st.sampled_from(["BY", "CA", ""]), odd_text),
        **{day: odd_hours for day in ("monday", "tuesday", "saturday", "sunday")},
    },
)


@pytest.fixture
def business_calendar(db):
    return calendar_create(name="Service hours", time_zone="Europe/Berlin")


@fuzz
@given(role=roles, form=calendar_forms, new=st.booleans())
def test_calendar_forms_answer_any_hours(world, business_calendar, role, form, new):
    """Hours that overlap, run backwards or are not times, zones and countries that do
    not exist: a 400 with the reason, never a 500 (and the ValueError of the kernel never
    escapes as one)."""
    if new:
        path = reverse("insight:calendar_new")
    else:
        path = reverse("insight:calendar_edit", args=[business_calendar.pk])
    answered(world.client(role).post(path, form))


@fuzz
@given(
    role=roles,
    pk=st.one_of(st.none(), odd_ids),
    form=st.fixed_dictionaries(
        {},
        optional={
            "day": st.one_of(st.sampled_from(["2026-12-24", "0000-01-01", "9999-12-31"]), odd_text),
            "name": st.text(max_size=250),
            "hours": odd_hours,
        },
    ),
    remove=st.booleans(),
)
def test_exception_forms_answer_any_date_and_hours(
    world, business_calendar, role, pk, form, remove
):
    name = "insight:calendar_exception_remove" if remove else "insight:calendar_exception_add"
    path = reverse(name, args=[business_calendar.pk if pk is None else pk])
    answered(world.client(role).post(path, form))


@fuzz
@given(
    role=roles,
    data=st.one_of(
        st.binary(max_size=300),
        st.sampled_from(
            [
                b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20260101\r\n"
                b"DTEND;VALUE=DATE:99991231\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20260101T100000Z\r\n"
                b"DURATION:P9999W\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                b"BEGIN:VEVENT\r\nEND:VEVENT\r\n",
            ]
        ),
    ),
)
def test_ical_upload_answers_any_file(world, business_calendar, role, data):
    """Garbage, empty calendars, events without times or lasting millennia: a 400 that
    says why, never a 500."""
    path = reverse("insight:calendar_import", args=[business_calendar.pk])
    answered(world.client(role).post(path, {"file": SimpleUploadedFile("x.ics", data)}))


@fuzz
@given(
    role=roles,
    form=st.fixed_dictionaries(
        {},
        optional={
            "calendar": st.one_of(st.just("<calendar>"), odd_text),
            "kind": st.one_of(st.sampled_from(["sales", "service"]), odd_text),
        },
    ),
    query=st.dictionaries(st.text(), st.text(), max_size=3),
)
def test_team_calendar_and_pages_answer_anything(world, business_calendar, role, form, query):
    if form.get("calendar") == "<calendar>":
        form["calendar"] = str(business_calendar.pk)
    client = world.client(role)
    answered(client.post(reverse("insight:team_calendar", args=[world.team.pk]), form))
    answered(client.get(reverse("insight:calendars"), query))
    answered(client.get(reverse("insight:coverage_panel"), query))


# The sales pages: lists read their filters as the queue does; forms refuse what they
# cannot store (times beyond what the database holds, NUL, huge or foreign numbers).
odd_dates = st.one_of(
    st.sampled_from(
        ["0001-01-01", "9999-12-31", "2026-02-30", "2026-13-01", "1e9", "\x00", "", "today"]
    ),
    st.dates().map(str),
    odd_text,
)
odd_times = st.one_of(
    st.sampled_from(
        ["9999-12-31T23:59", "0001-01-01T00:00", "2026-03-15T25:00", "2026-03-15 10:00", "\x00"]
    ),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
    odd_text,
)
sales_lists = st.sampled_from(
    [
        (
            "sales:commitments",
            {
                "view": st.one_of(st.sampled_from(["mine", "overdue", "broken", "all"]), odd_text),
                "page": odd_text,
            },
        ),
        (
            "sales:leads",
            {
                "state": st.one_of(st.sampled_from(["open", "won", ""]), odd_text),
                "source": odd_text,
                "page": odd_text,
            },
        ),
        ("sales:agreements", {"ending": st.one_of(st.just("1"), odd_text), "page": odd_text}),
        (
            "sales:coverage",
            {
                "customer": st.one_of(st.just("<customer>"), odd_text),
                "product": odd_text,
                "part": st.text(max_size=300),
                "kind": st.one_of(st.sampled_from(["repair", "training"]), odd_text),
                "on": odd_dates,
            },
        ),
    ]
)


@fuzz
@given(role=roles, page=sales_lists, data=st.data(), headers=htmx_headers)
def test_sales_lists_answer_any_query(world, role, page, data, headers):
    """Unknown lists, states and pages are the defaults; a coverage question it cannot
    read is a 400 that says why, as a page or an htmx fragment."""
    name, fields = page
    query = data.draw(st.fixed_dictionaries({}, optional=fields))
    if query.get("customer") == "<customer>":
        query["customer"] = str(world.customer.pk)
    answered(world.client(role, **headers).get(reverse(name), query))


promise_forms = st.fixed_dictionaries(
    {},
    optional={
        "kind": st.one_of(st.sampled_from(["deliver_by", "training"]), odd_text),
        "description": st.one_of(st.text(), st.sampled_from(["\x00", "x" * 501])),
        "due_at": odd_times,
        "owner": st.one_of(st.sampled_from(["agent", "sales"]), odd_text),
        "order": odd_text,
    },
)


@fuzz
@given(role=roles, form=promise_forms)
def test_promise_form_answers_any_input(world, role, form):
    """A due time the database cannot hold (year 9999 east of UTC), an unknown owner,
    kind or order is a 400 with the form again; nothing is stored then."""
    ids = world.ids()
    if form.get("owner") in ids:
        form["owner"] = ids[form["owner"]]
    before = Commitment.objects.count()
    path = reverse("sales:commitment_new", args=[world.customer.pk])
    response = answered(world.client(role).post(path, form))
    if response.status_code != 302:
        assert Commitment.objects.count() == before


@fuzz
@given(
    role=roles,
    form=st.fixed_dictionaries(
        {},
        optional={
            "action": st.one_of(st.sampled_from(["keep", "break", "waive", "reassign"]), odd_text),
            "reason": st.one_of(st.text(), st.sampled_from(["\x00", "x" * 501])),
            "owner": odd_text,
            "next": st.one_of(
                st.sampled_from(["/desk/", "//evil.example", "http://x", "/\\x"]), st.text()
            ),
        },
    ),
)
def test_promise_state_answers_any_input(world, role, form):
    """Settling the same promise again is refused with a message; a `next` off the site
    is never followed."""
    promise = commitment_create(
        customer=world.customer,
        description="Call back",
        owner=world.users["sales"],
        due_at=timezone.now() + timedelta(days=1),
        actor=None,
    )
    response = answered(
        world.client(role).post(reverse("sales:commitment_state", args=[promise.pk]), form)
    )
    if response.status_code == 302:
        assert response["Location"].startswith("/") and not response["Location"].startswith("//")


agreement_forms = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.text(), st.sampled_from(["\x00", "x" * 201])),
        "starts_on": odd_dates,
        "ends_on": odd_dates,
        "first_response_minutes": odd_text,
        "resolution_minutes": odd_text,
        "items-TOTAL_FORMS": odd_text,
        "items-INITIAL_FORMS": odd_text,
        "items-0-effect": st.one_of(st.sampled_from(["covers", "excludes", ""]), odd_text),
        "items-0-product": odd_text,
        "items-0-part": st.text(),
        "items-0-kind": odd_text,
    },
)


@fuzz
@given(role=roles, form=agreement_forms)
def test_agreement_form_answers_any_input(world, role, form):
    """Dates that are not dates, minutes beyond 32 bits, a formset's counts of any size."""
    path = reverse("sales:agreement_new", args=[world.customer.pk])
    answered(world.client(role).post(path, form))


lead_forms = st.fixed_dictionaries(
    {},
    optional={
        "customer": st.one_of(st.just("<customer>"), odd_text),
        "title": st.one_of(st.text(), st.sampled_from(["\x00", "x" * 201])),
        "source": st.one_of(st.sampled_from(["manual", "ticket", "renewal"]), odd_text),
        "owner": odd_text,
        "value_estimate": odd_text,
        "outcome": st.one_of(st.sampled_from(["won", "lost"]), odd_text),
        "amount": odd_text,
        "order": odd_text,
    },
)


@fuzz
@given(role=roles, form=lead_forms, close=st.booleans())
def test_lead_forms_answer_any_input(world, role, form, close):
    """Amounts that are NaN, Infinity or beyond the column, unknown sources and orders."""
    if form.get("customer") == "<customer>":
        form["customer"] = str(world.customer.pk)
    lead = lead_create(customer=world.customer, title="More", actor=None)
    path = (
        reverse("sales:lead_close", args=[lead.pk])
        if close
        else reverse("sales:lead_new", args=[world.customer.pk])
    )
    answered(world.client(role).post(path, form))


# The follow-up pages: the customer's (survey, unsubscribe, referral: a signed link or a
# code, no log-in) and the staff's (tasks, closing one, stopping the playbook, the report).

link_text = st.one_of(st.from_regex(r"\A[-A-Za-z0-9_:.]{1,80}\Z"), st.sampled_from(ODD_NUMBERS[1:]))
survey_forms = st.fixed_dictionaries(
    {},
    optional={
        "csat": odd_text,
        "nps": odd_text,
        "comment": st.one_of(st.text(max_size=200), st.just("x" * 5001), st.just("a\x00b")),
    },
)


@pytest.fixture
def survey(world) -> Survey:
    return Survey.objects.create(
        ticket=world.ticket,
        customer=world.customer,
        to_address="ada@example.com",
        period=1,
        created_at=timezone.now(),
        send_after=timezone.now(),
    )


@fuzz
@given(role=roles, forged=st.one_of(st.none(), link_text), query=survey_forms, form=survey_forms)
def test_survey_answers_any_link_and_form_without_a_server_error(
    world, survey, role, forged, query, form
):
    """A forged link is refused; a real one saves a valid answer and nothing else; a
    GET never records."""
    Survey.objects.filter(pk=survey.pk).update(answered_at=None, csat=None, nps=None, comment="")

    def stored() -> list[tuple[Any, ...]]:
        return list(Survey.objects.values_list("answered_at", "csat", "nps", "comment"))

    before = stored()
    token = survey_token(survey.pk) if forged is None else forged
    path = reverse("followup:survey", args=[token])
    answered(world.client(role).get(path, query))
    assert stored() == before
    response = answered(world.client(role).post(path, form))
    if response.status_code != 200:
        assert stored() == before
    if forged is not None:
        assert response.status_code in (400, 404)


@fuzz
@given(role=roles, token=link_text, one_click=st.booleans())
def test_unsubscribe_answers_any_link(world, role, token, one_click):
    path = reverse("followup:unsubscribe", args=[token])
    response = answered(
        world.client(role).post(path, {"List-Unsubscribe": "One-Click"})
        if one_click
        else world.client(role).get(path)
    )
    assert response.status_code == 400
    assert not CustomerFollowup.objects.filter(unsubscribed_at__isnull=False).exists()


@fuzz
@given(role=roles, code=link_text, email=odd_text)
def test_referral_answers_any_code_and_address(world, role, code, email):
    CustomerFollowup.objects.update_or_create(
        customer=world.customer, defaults={"referral_code": "abcdEF12"}
    )
    for path in (reverse("followup:referral", args=[code]), "/followup/referral/abcdEF12/"):
        answered(world.client(role).post(path, {"email": email}))
    assert all("@" in address for address in Referral.objects.values_list("email", flat=True))


@fuzz
@given(
    role=roles,
    query=st.fixed_dictionaries(
        {},
        optional={
            "kind": st.one_of(st.sampled_from(FollowupTask.Kind.values), odd_text),
            "state": st.one_of(st.sampled_from(FollowupTask.State.values), odd_text),
            "owner": st.one_of(st.sampled_from(["me", "nobody"]), odd_text),
        },
    ),
    form=st.fixed_dictionaries(
        {},
        optional={
            "state": st.one_of(st.sampled_from(["done", "dismissed", "open"]), odd_text),
            "note": st.one_of(st.text(max_size=100), st.just("n" * 1001)),
        },
    ),
    pk=st.one_of(st.none(), st.integers(min_value=1, max_value=2**31)),
)
def test_tasks_answer_any_filter_and_close_any_form(world, role, query, form, pk):
    task, _created = FollowupTask.objects.get_or_create(
        customer=world.customer,
        kind=FollowupTask.Kind.NUDGE,
        period="fuzz",
        defaults={
            "role": "sales",
            "title": "Ask",
            "due_at": timezone.now(),
            "created_at": timezone.now(),
        },
    )
    answered(world.client(role).get(reverse("followup:tasks"), query))
    path = reverse("followup:task_close", args=[task.pk if pk is None else pk])
    response = answered(world.client(role).post(path, form))
    task.refresh_from_db()
    if response.status_code != 302 or role in ("anonymous", "agent"):
        assert task.state == FollowupTask.State.OPEN
    if task.state != FollowupTask.State.OPEN:
        FollowupTask.objects.filter(pk=task.pk).update(state=FollowupTask.State.OPEN)


@fuzz
@given(role=roles, action=odd_text, pk=st.one_of(st.none(), st.integers(min_value=1)))
def test_playbook_stop_answers_any_form(world, role, action, pk):
    path = reverse("followup:playbook", args=[world.customer.pk if pk is None else pk])
    answered(world.client(role).post(path, {"action": action}))
    assert not CustomerFollowup.objects.filter(stopped_at__isnull=False).exists()


@fuzz
@given(
    role=roles,
    table=st.from_regex(r"\A[-a-zA-Z0-9_]{1,30}\Z"),
    query=st.dictionaries(st.text(), st.text()),
)
def test_report_and_its_csv_answer_any_table(world, role, table, query):
    answered(world.client(role).get(reverse("followup:report"), query))
    response = answered(world.client(role).get(reverse("followup:report_csv", args=[table])))
    if role in ("lead", "sales", "manager") and table in ("reorders", "time-to-next-order"):
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
