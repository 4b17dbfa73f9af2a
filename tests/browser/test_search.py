"""Search as an agent uses it: "/" from any page, type, open a result; at 1440 and 390 px."""

from __future__ import annotations

import pytest

from nextorder.crm.models import Customer
from nextorder.desk.services import ticket_open
from tests.browser.conftest import require_chromium
from tests.browser.test_console import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
require_chromium()


def _fits(page, width: int, *selectors: str) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for selector in selectors:
        box = page.locator(selector).first.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, selector


@pytest.mark.parametrize("width", [1440, 390])
def test_slash_types_into_the_search_box_and_a_result_opens(
    manager, customer, contact, live_server, browser, width, tmp_path
):
    ticket = ticket_open(
        customer=customer,
        contact=contact,
        subject="Cracked lid on the teapot",
        body_text="The lid of the teapot arrived cracked, with a chip on the spout.",
    )
    page = browser.new_page(viewport={"width": width, "height": 844})
    log_in(page, live_server, "manager1")  # a manager's header has the most links
    _fits(page, width, "#search-box", "button:has-text('Log out')")

    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search-box"
    page.keyboard.type("teapot spout")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"li[data-ticket='{ticket.pk}']")
    page.screenshot(path=str(tmp_path / f"search-{width}.png"), full_page=True)
    _fits(page, width, f"li[data-ticket='{ticket.pk}'] a", "#search-box")
    assert "chip on the spout" in page.inner_text(f"li[data-ticket='{ticket.pk}']")

    # "/" while typing in a field is a slash, not a jump to the search box.
    page.fill("main input[name=q]", "")
    page.click("main input[name=q]")
    page.keyboard.type("a/b")
    assert page.input_value("main input[name=q]") == "a/b"

    page.click(f"li[data-ticket='{ticket.pk}'] a")
    page.wait_for_selector("#conversation")
    assert "Cracked lid on the teapot" in page.inner_text("h1")
    page.close()


@pytest.mark.parametrize("width", [1440, 390])
def test_the_customer_list_searches_sorts_and_fits(
    manager, ticket, live_server, browser, width, tmp_path
):
    for number in range(60):
        Customer.objects.create(name=f"Zed Customer {number:02d}", total_spend=number)
    page = browser.new_page(viewport={"width": width, "height": 844})
    log_in(page, live_server, "manager1")
    page.click("header a:has-text('Customers')")
    page.wait_for_selector("table.customers")
    assert "1 to 50 of 61 customers" in page.inner_text("main")
    page.fill("main input[name=q]", "zed")
    page.select_option("select[name=sort]", "spend")
    page.click("button:has-text('Show')")
    page.wait_for_selector("text=1 to 50 of 60 customers")
    first = page.locator("table.customers tbody tr").first
    assert "Zed Customer 59" in first.inner_text()
    page.screenshot(path=str(tmp_path / f"customers-{width}.png"), full_page=True)
    _fits(page, width, "table.customers tbody tr a", "a:has-text('Next')")
    first.locator("a").click()
    page.wait_for_selector("text=Zed Customer 59")
    assert page.url.endswith(f"/desk/customers/{Customer.objects.get(name='Zed Customer 59').pk}/")
    page.close()
