"""Token auth: a bearer secret, stored only as its hash, refused once revoked."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.test import Client

from nextorder.core.models import ApiToken, Event, Verb
from nextorder.core.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db
URL = "/api/v1/tickets"


def _get(secret: str | None, url: str = URL):
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    return Client(headers=headers).get(url)


def test_no_token_wrong_token_and_other_schemes_are_401(agent):
    _token, secret = api_token_create(user=agent, name="shop", actor=None)
    assert _get(secret).status_code == 200
    assert _get(None).status_code == 401
    assert _get("nxo_not-a-token").status_code == 401
    assert _get(secret[:-1]).status_code == 401
    assert _get("x" * 10_000).status_code == 401
    basic = Client(headers={"Authorization": f"Basic {secret}"}).get(URL)
    assert basic.status_code == 401
    assert _get(None).json() == {"detail": "Unauthorized"}


def test_a_revoked_token_or_an_inactive_user_is_401(agent, manager):
    token, secret = api_token_create(user=agent, name="shop", actor=manager)
    api_token_revoke(token=token, actor=manager)
    assert _get(secret).status_code == 401
    _token, other = api_token_create(user=agent, name="crm", actor=manager)
    agent.is_active = False
    agent.save()
    assert _get(other).status_code == 401
    verbs = list(
        Event.objects.filter(subject_id=token.pk, subject_type__model="apitoken").values_list(
            "verb", flat=True
        )
    )
    assert sorted(verbs) == sorted([Verb.API_TOKEN_CREATED, Verb.API_TOKEN_REVOKED])


def test_the_secret_is_nowhere_in_the_database(agent):
    token, secret = api_token_create(user=agent, name="shop", actor=None)
    assert secret.startswith("nxo_") and token.prefix == secret[:8]
    _get(secret)  # a use stamps last_used_at: nothing of the secret is written either
    token.refresh_from_db()
    assert token.last_used_at is not None
    for model in apps.get_models():
        for row in model.objects.values_list():
            assert not any(secret in str(value) for value in row), model


def test_the_api_needs_no_csrf_token(agent):
    _token, secret = api_token_create(user=agent, name="shop", actor=None)
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {secret}"})
    response = client.post(URL, {}, content_type="application/json")
    assert response.status_code == 422  # read and validated, not refused for CSRF


def test_a_session_does_not_authenticate_the_api(client, agent):
    client.force_login(agent)
    assert client.get(URL).status_code == 401


def test_the_command_creates_lists_and_revokes(agent, capsys):
    call_command("api_token", "create", "--user", agent.username, "--name", "shop")
    secret = capsys.readouterr().out.strip()
    assert _get(secret).status_code == 200
    token = ApiToken.objects.get()
    call_command("api_token", "list")
    listed = capsys.readouterr().out
    assert token.prefix in listed and "active" in listed and secret not in listed
    call_command("api_token", "revoke", str(token.pk))
    assert _get(secret).status_code == 401


def test_managers_revoke_in_the_admin_through_the_service(admin_client, agent):
    token, secret = api_token_create(user=agent, name="shop", actor=None)
    response = admin_client.post(
        "/admin/core/apitoken/",
        {"action": "revoke", admin.helpers.ACTION_CHECKBOX_NAME: [token.pk]},
    )
    assert response.status_code == 302
    assert _get(secret).status_code == 401
    assert Event.objects.filter(verb=Verb.API_TOKEN_REVOKED, subject_id=token.pk).exists()
