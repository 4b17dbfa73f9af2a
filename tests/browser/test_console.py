"""The console as an agent sees it: a real Chromium driven by Playwright."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone

from nextorder.crm.models import Customer
from nextorder.crm.services import orders_import
from nextorder.data import CDNOW_SAMPLE
from nextorder.desk.models import Message
from nextorder.insight.services import customers_score, value_models_fit
from tests.browser.conftest import require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
require_chromium()


@pytest.fixture
def page(browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    yield page
    page.screenshot(path=str(tmp_path / "last.png"))


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_selector("table.queue")


def test_agent_logs_in_works_a_ticket_and_sees_the_reply(agent, ticket, live_server, page):
    log_in(page, live_server, "agent1")
    row = page.locator(f"tr[data-ticket='{ticket.pk}']")
    assert "Ada Buyer" in row.inner_text() and "55.50" in row.inner_text()

    row.locator("a", has_text="Where is my order?").click()
    page.wait_for_selector("#conversation")
    assert "It is late." in page.inner_text("#conversation")
    assert "Total spend" in page.inner_text("aside")

    page.fill("textarea[name=body]", "Your parcel left our warehouse this morning.")
    page.select_option("select[name=status]", "pending")
    page.click("button:has-text('Send')")

    page.wait_for_selector("text=Reply sent.")
    assert "Your parcel left our warehouse this morning." in page.inner_text("#conversation")
    assert Message.objects.filter(ticket=ticket, direction="out").count() == 1


def test_filtering_the_queue_with_htmx_keeps_the_url(agent, ticket, live_server, page):
    log_in(page, live_server, "agent1")

    page.uncheck("input[name=status][value=new]")
    page.wait_for_selector(f"tr[data-ticket='{ticket.pk}']", state="detached")
    assert "status=open" in page.url and "No tickets match" in page.inner_text("#queue-table")


def _put_at_risk(customer: Customer) -> None:
    Customer.objects.filter(pk=customer.pk).update(
        value_at_risk=Decimal("240.00"),
        p_alive=0.3,
        scored_at=timezone.now(),
        value_reason="bought on 2 different days, last 8 months ago, 2 weeks after the first",
    )


def test_lead_opens_a_follow_up_with_a_customer_at_risk(lead, customer, live_server, page):
    _put_at_risk(customer)
    log_in(page, live_server, "lead1")
    page.click("header.top summary:has-text('Insight')")
    page.click("text=Customers at risk")
    row = page.locator("tr", has_text="Ada Buyer")
    assert "240.00" in row.inner_text() and "last 8 months ago" in row.inner_text()

    row.locator("button", has_text="Open follow-up").click()

    page.wait_for_selector("text=opened, assigned to you")
    assert "Value at risk: 240.00" in page.inner_text("#conversation")
    assert "How are things going, Ada Buyer?" in page.inner_text("h1")
    assert "risk" not in page.inner_text("h1")  # the subject goes to the customer


def test_the_at_risk_list_is_cards_on_a_phone(lead, customer, live_server, browser):
    _put_at_risk(customer)
    page = browser.new_page(viewport={"width": 1440, "height": 844})
    log_in(page, live_server, "lead1")  # waits for the queue, which has no row here
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/insight/at-risk/")

    row = page.locator("table.at-risk tbody tr", has_text="Ada Buyer")
    assert row.evaluate("r => getComputedStyle(r).display") == "block"
    at_risk = row.locator("td[data-label='At risk (USD)']")
    assert at_risk.inner_text() == "240.00"
    named = at_risk.evaluate("td => getComputedStyle(td, '::before').content")
    assert named == '"At risk (USD): "'  # the card names each figure
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = row.locator("button", has_text="Open follow-up").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    page.close()


def test_value_model_page_draws_the_hold_out_check(lead, live_server, page):
    orders_import(path=CDNOW_SAMPLE, file_format="cdnow")
    customers_score(as_of=date(1998, 6, 30))
    value_models_fit(calibration_end=date(1997, 9, 30), holdout_end=date(1998, 6, 30))
    log_in(page, live_server, "lead1")

    page.click("header.top summary:has-text('Insight')")
    page.click("text=Customer value")

    page.wait_for_selector("#holdout-check svg")
    assert page.locator("#holdout-check svg polyline").count() == 3  # actual and two models
    assert page.locator("#holdout-check svg rect.bar").count() == 3 * 8
    assert "2,357" in page.inner_text("#value-totals")


@pytest.mark.parametrize("width", [1440, 390])
@pytest.mark.parametrize("role", ["agent1", "manager1"])
def test_the_queue_fits_the_screen_of_a_desk_and_of_a_phone(
    agent, manager, ticket, live_server, browser, width, role, tmp_path
):
    """Nothing wider than the viewport: at 390 px (a phone) the rows become cards and the
    header wraps (a manager's has the most links), so "Log out" and every row's link stay
    on screen."""
    page = browser.new_page(viewport={"width": width, "height": 844})
    log_in(page, live_server, role)
    page.screenshot(path=str(tmp_path / f"queue-{role}-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for visible in ("button:has-text('Log out')", f"tr[data-ticket='{ticket.pk}'] a"):
        box = page.locator(visible).first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    menus = page.locator("header.top details.menu")
    assert menus.count() == (3 if role == "manager1" else 2)  # an agent: Sales, Setup (macros)
    for number in range(menus.count()):
        menus.nth(number).locator("summary").click()
        links = menus.nth(number).locator(".menu-items a")
        assert links.count() > 0 and page.locator("header.top details.menu[open]").count() == 1
        for link in range(links.count()):
            box = links.nth(link).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(tmp_path / f"menu-{role}-{width}-{number}.png"))
    page.keyboard.press("Escape")
    assert page.locator("header.top details.menu[open]").count() == 0
    page.close()


@pytest.mark.parametrize("width", [1440, 390])
def test_the_staffing_page_fits_a_desk_and_a_phone(lead, live_server, browser, width, tmp_path):
    """The interval table scrolls inside its box; the page itself is never wider."""
    from datetime import time

    from nextorder.insight.models import RosterShift
    from nextorder.insight.services import roster_shift_save

    for weekday in range(7):
        roster_shift_save(
            shift=RosterShift(weekday=weekday, starts_at=time(0), ends_at=time(23), agents=3),
            actor=None,
        )
    page = browser.new_page(viewport={"width": 1440, "height": 844})
    log_in(page, live_server, lead.username)
    page.set_viewport_size({"width": width, "height": 844})
    page.click("header.top summary:has-text('Insight')")
    page.click("a:has-text('Staffing')")
    page.wait_for_selector("table#staffing")
    page.screenshot(path=str(tmp_path / f"staffing-{width}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for visible in ("button:has-text('Show')", "input[name=week]", "#gaps"):
        box = page.locator(visible).first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert page.locator("table#staffing tbody tr").count() > 40
    page.close()
