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
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nextorder.core.models import Team
from nextorder.crm.models import Customer
from nextorder.desk.models import Message, SlaPolicy, Ticket

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
