"""Production settings are safe by default, and each switch for plain HTTP works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

NEXTORDER = str(Path(sys.executable).with_name("nextorder"))  # the console script
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 30 + "production-key-with-enough-entropy-7c1f0e9a2b",
    "ALLOWED_HOSTS": "desk.example.com",
    # The one choice left to the deployer: ask browsers to preload HTTPS for the domain.
    "NEXTORDER_HSTS_PRELOAD": "1",
}


def _deploy_check(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("NEXTORDER_", "DEBUG"))},
        **PRODUCTION,
        **extra,
        "DJANGO_SETTINGS_MODULE": "nextorder.settings",
        "NEXTORDER_VAR_DIR": str(tmp_path),
    }
    return subprocess.run(
        [NEXTORDER, "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_is_silent_with_production_variables(tmp_path):
    result = _deploy_check(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_plain_http_switches_reach_the_settings(tmp_path):
    result = _deploy_check(
        tmp_path,
        NEXTORDER_SSL_REDIRECT="0",
        NEXTORDER_SECURE_COOKIES="0",
        NEXTORDER_HSTS_SECONDS="0",
    )
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_without_inline_script(client, agent):
    client.force_login(agent)
    response = client.get(reverse("desk:queue"))
    policy = response["Content-Security-Policy"]
    script_src = next(d for d in policy.split(";") if d.strip().startswith("script-src"))
    assert script_src.split() == ["script-src", "'self'"]
    assert "unsafe-eval" not in policy
    assert b"<script>" not in response.content  # scripts come from files only
