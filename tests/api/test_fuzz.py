"""Whatever JSON arrives, the API answers with a 4xx and a message, or a success: never
a 5xx. Hypothesis builds bodies of any shape, and near-valid ones with hostile values."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nextorder.sales.services import commitment_create, lead_create

pytestmark = pytest.mark.django_db

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
hostile = (
    st.none()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from(["", "\x00", "NaN", "-1", "1e400", "a" * 300, "0001-01-01T00:00:00+05:00"])
    | st.text(max_size=20)
)
FIELDS = [
    "customer_id",
    "contact_email",
    "subject",
    "body",
    "priority",
    "status",
    "version",
    "assignee_id",
    "team_id",
    "internal",
    "external_id",
    "placed_at",
    "amount",
    "currency",
    "channel",
    "item_count",
    "name",
    "kind",
    "emails",
    "url",
    "events",
    "active",
    "description",
    "due_at",
    "owner_id",
    "order_id",
    "reason",
    "title",
    "source",
    "ticket_id",
    "value_estimate",
    "starts_on",
    "ends_on",
    "first_response_minutes",
    "items",
    "product_id",
    "part",
    "effect",
]
bodies = json_values | st.dictionaries(st.sampled_from(FIELDS), hostile, max_size=8)


@pytest.fixture
def manager_api(api_client, manager, ticket):
    return api_client(manager)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, route=st.integers(min_value=0, max_value=6))
def test_no_body_gives_a_server_error(manager_api, ticket, body, route):
    method, url = [
        ("post", "/api/v1/tickets"),
        ("post", f"/api/v1/tickets/{ticket.pk}/reply"),
        ("patch", f"/api/v1/tickets/{ticket.pk}"),
        ("post", "/api/v1/customers"),
        ("post", f"/api/v1/customers/{ticket.customer_id}/contacts"),
        ("post", "/api/v1/orders"),
        ("post", "/api/v1/webhooks"),
    ][route]
    response = getattr(manager_api, method)(url, body, content_type="application/json")
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert response.json()["detail"]


@pytest.fixture
def sold(manager_api, ticket, manager) -> dict[str, int]:
    """A promise and a lead to act on."""
    promise = commitment_create(
        customer=ticket.customer,
        description="Call back",
        owner=manager,
        due_at=ticket.created_at,
        actor=manager,
    )
    lead = lead_create(customer=ticket.customer, title="More", actor=manager)
    return {"promise": promise.pk, "lead": lead.pk}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, route=st.integers(min_value=0, max_value=8))
def test_no_sales_body_gives_a_server_error(manager_api, sold, body, route):
    promise, lead = sold["promise"], sold["lead"]
    url = [
        "/api/v1/sales/commitments",
        f"/api/v1/sales/commitments/{promise}/keep",
        f"/api/v1/sales/commitments/{promise}/break",
        f"/api/v1/sales/commitments/{promise}/waive",
        f"/api/v1/sales/commitments/{promise}/reassign",
        "/api/v1/sales/agreements",
        "/api/v1/sales/leads",
        f"/api/v1/sales/leads/{lead}/win",
        f"/api/v1/sales/leads/{lead}/lose",
    ][route]
    response = manager_api.post(url, body, content_type="application/json")
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        assert response.json()["detail"]
