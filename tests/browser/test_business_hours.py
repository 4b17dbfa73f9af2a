"""Business hours in a real Chromium: the coverage panel arrives on the home page under the
Content-Security-Policy, and the pages fit a desk's screen and a phone's."""

from __future__ import annotations

from datetime import time

import pytest

from nextorder.core.models import Team
from nextorder.core.services import calendar_create, team_calendar_set, team_ensure
from tests.browser.conftest import require_chromium
from tests.browser.test_console import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
require_chromium()


@pytest.mark.parametrize("width", [1440, 390])
def test_lead_sees_the_gap_and_edits_hours_on_a_desk_and_a_phone(
    lead, ticket, live_server, browser, width, tmp_path
):
    week = (((time(9), time(17)),),) * 5
    sales = calendar_create(
        name="Sales line", time_zone="Europe/Berlin", weekly=(*week, ((time(9), time(17)),), ())
    )
    service = calendar_create(
        name="Service desk",
        time_zone="Europe/Berlin",
        weekly=(*week, (), ()),
        holiday_country="DE",
    )
    team_calendar_set(team=team_ensure(name="Sales"), calendar=sales, kind=Team.Kind.SALES)
    team_calendar_set(team=team_ensure(name="Service"), calendar=service)
    page = browser.new_page(viewport={"width": width, "height": 844})
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    log_in(page, live_server, "lead1")
    page.wait_for_selector("#coverage-panel li")
    assert "Saturdays 09:00-17:00: sales open, service closed" in page.inner_text("#coverage-panel")
    for path in ("/insight/hours/", f"/insight/hours/{service.pk}/"):
        page.goto(f"{live_server.url}{path}")
        page.screenshot(path=str(tmp_path / f"hours-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
    page.fill("#id_saturday", "10:00-14:00")
    page.click("text=Save hours")
    page.wait_for_selector("text=Hours saved.")
    assert page.input_value("#id_saturday") == "10:00-14:00"
    assert errors == []
    page.close()
