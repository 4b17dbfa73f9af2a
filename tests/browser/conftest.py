"""Debian's Chromium, driven by Playwright, for the browser tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def require_chromium() -> None:
    """Skip the calling module without chromium, unless CI demands the browser tests."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("NEXTORDER_REQUIRE_BROWSER"):
        raise RuntimeError("NEXTORDER_REQUIRE_BROWSER is set but Debian's chromium is missing")
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django must allow ORM calls.
    # For this test only: left set, it fails `check --deploy` in tests/core (async.E001).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        # ORM calls made while Playwright's loop runs get a connection of that context;
        # close it there, or it keeps the PostgreSQL test database from being dropped.
        connections.close_all()
        browser.close()
