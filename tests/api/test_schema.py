"""Schemathesis against the published OpenAPI schema, through Django's WSGI app.

Every operation is called with inputs generated from the schema (valid ones and, where
the schema allows, edge cases), with a manager's token so that the role rules let most
calls through to the services. Each answer must not be a 5xx, must be documented and
must match its documented schema. In-process WSGI shares the test's database
connection, so the `db` fixture's transaction holds everything and no server is needed;
as Django's test client does, the fixture keeps a finished request from closing it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from nextorder.core.services import api_token_create
from nextorder.desk.services import ticket_open

# Loaded when the module is collected (pytest-django has set Django up by then): the
# schema is served by the app itself, without a database. (`schemathesis.pytest.
# from_fixture` would load it per test, but fails under pytest 9 in schemathesis 4.32.)
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler())


@pytest.fixture
def token(db, manager, ticket) -> Iterator[str]:
    """A manager's token; and something for the generated ids to find."""
    ticket_open(customer=ticket.customer, subject="Second", body_text="x")
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield api_token_create(user=manager, name="schemathesis", actor=None)[1]
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_answers_as_its_schema_says(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
