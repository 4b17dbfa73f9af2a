"""Log-in throttling: repeated wrong passwords lock the user out from that address, with
a clear page; a manager releases it, or the cool-off does; all of it is in the event log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse

from nextorder.core.models import Event, Verb

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests-1"  # tests/conftest.py's make_user


def _log_in(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def _lock_out(client: Client, username: str) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _log_in(client, username, "wrong")


def test_the_right_password_after_the_limit_of_wrong_ones_is_refused(agent):
    client = Client()
    _lock_out(client, agent.username)
    response = _log_in(client, agent.username, PASSWORD)
    assert response.status_code == 429
    assert b"Log-in locked" in response.content
    assert b"a manager can release it" in response.content
    assert "_auth_user_id" not in client.session


def test_below_the_limit_the_right_password_logs_in(agent):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _log_in(client, agent.username, "wrong")
    assert _log_in(client, agent.username, PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(agent.pk)


def test_a_lockout_is_per_user_and_address(agent, other_agent):
    _lock_out(Client(REMOTE_ADDR="10.0.0.1"), agent.username)
    assert _log_in(Client(REMOTE_ADDR="10.0.0.2"), agent.username, PASSWORD).status_code == 302
    assert (
        _log_in(Client(REMOTE_ADDR="10.0.0.1"), other_agent.username, PASSWORD).status_code == 302
    )


def test_failures_and_the_lockout_are_in_the_event_log(agent):
    _lock_out(Client(), agent.username)
    _log_in(Client(), agent.username, PASSWORD)
    failed = Event.objects.filter(verb=Verb.LOGIN_FAILED, subject_id=agent.pk)
    # The wrong passwords, and the right one refused while locked out.
    assert failed.count() == settings.AXES_FAILURE_LIMIT + 1
    locked = Event.objects.filter(verb=Verb.LOGIN_LOCKED_OUT, subject_id=agent.pk)
    assert locked.exists()
    assert locked.first().after["address"] == "127.0.0.1"
    # Nobody's name still leaves a trace, without a subject.
    _log_in(Client(), "no-such-user", "x")
    nobody = Event.objects.get(verb=Verb.LOGIN_FAILED, after__username="no-such-user")
    assert nobody.subject_id is None


def test_a_manager_releases_a_lockout_in_the_admin(agent, manager):
    _lock_out(Client(), agent.username)
    admin = Client()
    admin.force_login(manager)
    attempt = AccessAttempt.objects.get(username=agent.username)
    url = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    assert admin.post(url, {"post": "yes"}).status_code == 302
    assert _log_in(Client(), agent.username, PASSWORD).status_code == 302


def test_the_lockout_ends_after_the_cool_off(agent):
    _lock_out(Client(), agent.username)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(seconds=1)
    )
    assert _log_in(Client(), agent.username, PASSWORD).status_code == 302
