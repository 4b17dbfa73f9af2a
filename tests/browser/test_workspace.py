"""The agent's quick tools in a real Chromium: keyboard shortcuts, a macro applied from
the keyboard and sent, bulk selection, and the pages at a desk's and a phone's width."""

from __future__ import annotations

import pytest

from nextorder.desk.macros import macro_save
from nextorder.desk.models import Message, Ticket
from nextorder.desk.services import ticket_open
from nextorder.desk.tags import tag_get_or_create, ticket_tags_add
from tests.browser.conftest import require_chromium
from tests.browser.test_console import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
require_chromium()

SHOTS = "/tmp/workspace-shots"


@pytest.fixture
def refund(lead):
    return macro_save(
        actor=lead,
        name="Refund on its way",
        body="Dear {customer_name}, your refund is on its way. {agent_name}",
        personal=False,
        set_status=Ticket.Status.SOLVED,
        add_tags=[tag_get_or_create(name="refund", actor=lead)],
    )


@pytest.fixture
def page(browser, tmp_path):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    yield page
    page.screenshot(path=str(tmp_path / "last.png"))


def test_an_agent_moves_with_j_k_opens_and_sends_a_macro_from_the_keyboard(
    agent, ticket, refund, customer, contact, live_server, page
):
    other = ticket_open(customer=customer, contact=contact, subject="Second", body_text="x")
    log_in(page, live_server, "agent1")
    page.keyboard.press("j")
    first = page.locator("table.queue tr.current")
    assert first.get_attribute("data-ticket") == str(ticket.pk)
    page.keyboard.press("j")
    assert page.locator("tr.current").get_attribute("data-ticket") == str(other.pk)
    page.keyboard.press("k")
    page.keyboard.press("Enter")
    page.wait_for_selector("#conversation")
    assert page.url.endswith(f"/desk/tickets/{ticket.pk}/")

    page.keyboard.press("m")
    assert page.evaluate("document.activeElement.id") == "macro-filter"
    page.keyboard.type("refund")
    page.keyboard.press("Enter")
    page.wait_for_selector("#macro-chosen")
    assert (
        "when you send, it will also set the status to Solved; add the tag refund"
        in page.inner_text("#macro-chosen")
    )
    reply = page.locator("#reply textarea[name=body]")
    assert reply.input_value() == "Dear Ada Buyer, your refund is on its way. agent1"
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.name") == "body"
    page.keyboard.press("End")
    page.keyboard.type(" Thanks!")
    page.keyboard.press("Control+Enter")

    page.wait_for_selector("text=Reply sent.")
    sent = Message.objects.get(ticket=ticket, direction="out")
    assert sent.body_text.endswith("your refund is on its way. agent1 Thanks!")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.SOLVED
    assert list(ticket.tags.values_list("name", flat=True)) == ["refund"]


def test_shortcuts_sleep_while_typing_and_question_mark_shows_the_help(
    agent, ticket, live_server, page
):
    log_in(page, live_server, "agent1")
    page.click("input[name=name]")  # the saved view's name
    page.keyboard.type("jk?")
    assert page.locator("tr.current").count() == 0
    assert not page.locator("dialog#shortcuts").is_visible()
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("?")
    assert page.locator("dialog#shortcuts").is_visible()
    assert "choose a macro" in page.inner_text("dialog#shortcuts")
    page.keyboard.press("Escape")
    assert not page.locator("dialog#shortcuts").is_visible()


def test_bulk_tagging_from_the_queue_with_select_all(
    lead, ticket, customer, contact, live_server, page
):
    other = ticket_open(customer=customer, contact=contact, subject="Second", body_text="x")
    log_in(page, live_server, "lead1")
    page.check("#pick-all")
    page.select_option("select[name=action]", "tag")
    page.fill("#bulk input[name=tag]", "wave 1")
    page.click("text=Apply to selected")
    page.wait_for_selector("text=2 tickets changed.")
    assert page.locator(f"tr[data-ticket='{other.pk}'] .tag").inner_text() == "wave 1"
    assert "2 tickets match" in page.inner_text("#match-count")


@pytest.mark.parametrize("width", [1440, 390])
def test_the_workspace_fits_a_desk_and_a_phone(
    agent, lead, ticket, refund, live_server, browser, width
):
    """Checkboxes, tags, the count and the saved views on the queue; tags, the macro
    picker and the merge form on the ticket: nothing wider than the viewport."""
    ticket_tags_add(
        ticket=ticket,
        tags=[tag_get_or_create(name=n, actor=lead) for n in ("refund", "late delivery", "vip")],
        actor=lead,
    )
    page = browser.new_page(viewport={"width": width, "height": 844})
    log_in(page, live_server, "agent1")
    page.fill("form.save-view input[name=name]", "My new tickets")
    page.click("text=Save view")
    page.wait_for_selector("nav.saved-views")
    page.screenshot(path=f"{SHOTS}-queue-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.goto(f"{live_server.url}/desk/tickets/{ticket.pk}/?macro={refund.pk}")
    page.keyboard.press("m")
    page.screenshot(path=f"{SHOTS}-ticket-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.goto(f"{live_server.url}/desk/macros/")
    page.screenshot(path=f"{SHOTS}-macros-{width}.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.close()
