"""Promises, coverage and leads on the ticket, on a phone: a real Chromium, the console's
Content-Security-Policy (no inline script) and htmx answering in place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from nextorder.crm.models import Product
from nextorder.desk.services import ticket_receive_message
from nextorder.sales.models import AgreementItem, Commitment, Lead
from nextorder.sales.services import ItemSpec, agreement_create, commitment_create
from tests.browser.conftest import require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
require_chromium()


def test_an_agent_on_a_phone_asks_coverage_keeps_a_promise_and_makes_a_lead(
    agent, sales_user, ticket, contact, live_server, browser
):
    product = Product.objects.create(sku="ESP-1", name="Espresso machine", price=900)
    today = timezone.localdate()
    agreement_create(
        customer=ticket.customer,
        name="Care Plus",
        starts_on=today,
        ends_on=today + timedelta(days=30),
        actor=sales_user,
        items=[
            ItemSpec(effect=AgreementItem.Effect.COVERS, product=product),
            ItemSpec(effect=AgreementItem.Effect.EXCLUDES, product=product, part="battery"),
        ],
    )
    commitment_create(
        customer=ticket.customer,
        description="Send the descaling kit",
        owner=sales_user,
        due_at=timezone.now() + timedelta(days=1),
        actor=sales_user,
    )
    ticket_receive_message(ticket=ticket, contact=contact, body_text="Do you sell descaler?")

    page = browser.new_page(viewport={"width": 390, "height": 844})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "agent1")
    page.fill("#id_password", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/desk/tickets/{ticket.pk}/")

    # Coverage, answered in place (htmx), without leaving the ticket.
    url = page.url
    page.select_option(".coverage-form select[name=product]", str(product.pk))
    page.fill(".coverage-form input[name=part]", "battery")
    page.click("button:has-text('Is it covered?')")
    page.wait_for_selector("#coverage-answer .answer")
    assert "Not covered." in page.inner_text("#coverage-answer")
    assert "Care Plus excludes the battery" in page.inner_text("#coverage-answer")
    assert page.url == url
    page.fill(".coverage-form input[name=part]", "pump")
    page.click("button:has-text('Is it covered?')")
    page.wait_for_selector("#coverage-answer .answer.covered")

    # The promise, marked kept from the panel.
    assert "Send the descaling kit" in page.inner_text("aside")
    page.click("button:has-text('Mark kept')")
    page.wait_for_selector("text=Promise updated.")
    assert Commitment.objects.get().state == Commitment.State.KEPT

    # Buying intent, one click from a lead.
    assert "The customer may want to buy" in page.inner_text("body")
    page.click("button:has-text('Make a lead')")
    page.wait_for_selector("text=Lead opened for sales")
    assert Lead.objects.get().ticket_id == ticket.pk

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert errors == []
    page.close()
