"""The portal as a customer sees it, on a desktop and on a phone, and the agent after."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import mail
from django_tasks_db.models import DBTaskResult

from nextorder.crm.models import Customer
from nextorder.crm.services import contact_create
from nextorder.desk.models import Message
from nextorder.desk.services import ticket_open
from nextorder.desk.tasks import send_notice
from tests.browser.conftest import require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
require_chromium()

SHOTS = Path("/tmp/portal-shots")
WIDTHS = {"desktop": 1440, "phone": 390}


def shoot(page, name: str) -> None:
    """Screenshots at both widths; at phone width nothing may be wider than the screen."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= WIDTHS["phone"], f"{name} is {scroll_width}px wide on a phone"
    page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


def mailed_link() -> str:
    """Run the mail task the request enqueued, and read the link out of the email."""
    task = DBTaskResult.objects.filter(task_path=send_notice.module_path).latest("enqueued_at")
    send_notice.call(**task.args_kwargs["kwargs"])
    sent = mail.outbox[-1]
    assert sent.extra_headers["Auto-Submitted"] == "auto-replied"
    match = re.search(r"https?://\S+/portal/login/\S+/", sent.body)
    assert match is not None, sent.body
    return match.group(0)


def test_a_contact_logs_in_by_link_answers_and_the_agent_sees_it(
    agent, customer, contact, ticket, live_server, browser
):
    other = Customer.objects.create(name="Zed Other")
    zed = contact_create(customer=other, name="Zed", emails=["zed@other.example"])
    ticket_open(customer=other, contact=zed, subject="Zed's private matter", body_text="Hush.")
    page = browser.new_page(viewport={"width": WIDTHS["desktop"], "height": 900})

    page.goto(f"{live_server.url}/contact/")
    page.wait_for_selector("h1:has-text('Write to us')")
    honeypot = page.locator("#id_website").bounding_box()
    assert honeypot is not None and honeypot["x"] + honeypot["width"] <= 0  # off screen
    shoot(page, "contact-form")

    page.goto(f"{live_server.url}/portal/")
    shoot(page, "portal-start")
    page.fill("#id_email", "ada@example.com")
    page.click("button:has-text('Email me a log-in link')")
    page.wait_for_selector("h1:has-text('Check your email')")
    shoot(page, "portal-link-sent")

    page.goto(mailed_link())
    page.wait_for_selector("button:has-text('Log in')")
    shoot(page, "portal-login")
    page.click("button:has-text('Log in')")
    page.wait_for_selector("table.portal-tickets")
    listing = page.inner_text("main")
    assert "Where is my order?" in listing and "Zed's private matter" not in listing
    shoot(page, "portal-tickets")

    page.click("text=Where is my order?")
    page.wait_for_selector("#conversation")
    assert "It is late." in page.inner_text("#conversation")
    assert "O-15" in page.inner_text("#orders")
    page.fill("textarea[name=body]", "Thanks, the parcel tracking says Monday.")
    page.click("button:has-text('Send')")
    page.wait_for_selector("text=your answer is on the ticket")
    assert "the parcel tracking says Monday" in page.inner_text("#conversation")
    shoot(page, "portal-ticket")
    assert Message.objects.filter(ticket=ticket, author_contact=contact).count() == 2

    desk = browser.new_page(viewport={"width": 1400, "height": 900})  # the agent's own browser
    desk.goto(f"{live_server.url}/desk/tickets/{ticket.pk}/")
    desk.fill("#id_username", "agent1")
    desk.fill("#id_password", "pw-for-tests-1")
    desk.click("button[type=submit]")
    desk.wait_for_selector("#conversation")
    assert "the parcel tracking says Monday" in desk.inner_text("#conversation")
