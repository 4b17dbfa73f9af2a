"""The order behind a ticket: named by number in the customer's message (through every
door a customer writes through), or picked by the agent from the customer's own orders."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Customer, Order, Product
from nextorder.crm.selectors import order_numbers_in
from nextorder.crm.services import OrderLineSpec, order_create, order_lines_add
from nextorder.desk.mail.inbound import mail_receive
from nextorder.desk.models import InboundMail, Ticket
from nextorder.desk.services import ticket_open, ticket_receive_message, ticket_update
from tests.desk.mail_factory import customer_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop_order(customer) -> Order:
    return order_create(
        customer=customer,
        placed_at=datetime(2026, 11, 20, 14, 30, tzinfo=UTC),
        amount=Decimal("31.98"),
        external_id="#1042",
    )


@pytest.fixture
def strangers_order(db) -> Order:
    stranger = Customer.objects.create(name="Someone Else")
    return order_create(
        customer=stranger,
        placed_at=datetime(2026, 11, 21, tzinfo=UTC),
        amount=Decimal("9.99"),
        external_id="#1043",
    )


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("my order #1042 arrived broken", ["1042"]),
        ("Order No. 5521, and order number: W-88", ["5521", "w-88"]),
        ("Bestellung? order nr 77 / order id: A1B2", ["77", "a1b2"]),
        ("the order from last week", []),
        ("see #hashtag and order of my dreams", []),
    ],
)
def test_order_numbers_are_read_as_customers_write_them(text, numbers):
    assert order_numbers_in(text) == numbers


def test_an_email_naming_the_customers_order_is_about_that_order(contact, shop_order):
    raw = customer_email(
        sender="Ada <ada@example.com>",
        subject="Problem with order #1042",
        text="The second CD of it skips.",
    )
    outcome = mail_receive(raw=raw, source=InboundMail.Source.SMTP)
    assert outcome.ticket is not None
    assert outcome.ticket.order == shop_order


def test_another_customers_order_number_is_never_linked(contact, strangers_order):
    ticket = ticket_open(
        customer=contact.customer,
        contact=contact,
        subject="Order #1043",
        body_text="Where is order #1043?",
        channel=Ticket.Channel.WEB_FORM,
    )
    assert ticket.order is None


def test_a_made_up_import_key_reads_as_the_row_number_and_is_found_by_it(customer, contact):
    imported = order_create(
        customer=customer,
        placed_at=datetime(1997, 2, 17, tzinfo=UTC),
        amount=Decimal("119.43"),
        external_id="0244-19970217000000-119.43-0",
    )
    assert imported.reference == f"No. {imported.pk}"
    ticket = ticket_open(
        customer=customer,
        contact=contact,
        subject="Question",
        body_text=f"About my order no. {imported.pk}: can I still return it?",
    )
    assert ticket.order == imported


def test_a_later_message_does_not_move_the_ticket_to_another_order(ticket, contact, shop_order):
    assert ticket.order is None
    ticket_receive_message(ticket=ticket, contact=contact, body_text="It was order #1042.")
    ticket.refresh_from_db()
    assert ticket.order is None  # the agent links it: a follow-up may quote any order


def test_the_agent_links_the_order_and_the_timeline_names_it(ticket, agent, shop_order):
    ticket_update(ticket=ticket, actor=agent, expected_version=ticket.version, order=shop_order)
    ticket.refresh_from_db()
    assert ticket.order == shop_order
    event = Event.objects.filter(verb=Verb.TICKET_UPDATED).latest("id")
    assert event.after == {"order": "#1042"}
    assert event.before == {"order": None}


def test_another_customers_order_is_refused(ticket, agent, strangers_order):
    with pytest.raises(ValidationError, match="another customer's order"):
        ticket_update(
            ticket=ticket, actor=agent, expected_version=ticket.version, order=strangers_order
        )
    ticket.refresh_from_db()
    assert ticket.order is None and ticket.version == 1


def test_the_ticket_page_names_the_products_and_offers_only_the_customers_orders(
    client, agent, ticket, shop_order, strangers_order
):
    product = Product.objects.create(sku="CD-1", name="Harbour Lights: Night Trains", price=15)
    order_lines_add(
        lines={
            shop_order: [
                OrderLineSpec(product=product, quantity=2, unit_price=Decimal("15.99")),
            ]
        }
    )
    client.force_login(agent)
    url = reverse("desk:ticket_update", args=[ticket.pk])

    refused = client.post(
        url,
        {
            "status": ticket.status,
            "priority": ticket.priority,
            "order": strangers_order.pk,
            "version": ticket.version,
        },
    )
    assert refused.status_code == 400
    assert (
        client.post(
            url,
            {
                "status": ticket.status,
                "priority": ticket.priority,
                "order": shop_order.pk,
                "version": ticket.version,
            },
        ).status_code
        == 302
    )

    page = client.get(reverse("desk:ticket", args=[ticket.pk])).content.decode()
    assert "About order #1042" in page
    assert "2 \N{MULTIPLICATION SIGN} Harbour Lights: Night Trains" in page
    assert "#1043" not in page


@pytest.mark.parametrize(
    "bad",
    [
        OrderLineSpec(description="a CD", quantity=0, unit_price=Decimal(1)),
        OrderLineSpec(description="a CD", quantity=1, unit_price=Decimal(-1)),
        OrderLineSpec(description="  ", quantity=1, unit_price=Decimal(1)),
    ],
)
def test_a_bad_line_is_refused_and_nothing_is_written(shop_order, bad):
    good = OrderLineSpec(description="a CD", quantity=1, unit_price=Decimal(1))
    with pytest.raises(ValidationError, match="#1042"):
        order_lines_add(lines={shop_order: [good, bad]})
    assert not shop_order.lines.exists()


def test_lines_are_priced_and_recorded_as_an_event(shop_order):
    added = order_lines_add(
        lines={
            shop_order: [OrderLineSpec(description="a CD", quantity=2, unit_price=Decimal("15.99"))]
        }
    )
    assert added == 1
    assert shop_order.lines.get().amount == Decimal("31.98")
    event = Event.objects.get(verb=Verb.ORDER_LINES_ADDED)
    assert event.after == {"order": "#1042", "lines": 1}
    assert event.customer_id is None  # the order is on the timeline; its lines are detail


def test_an_order_known_by_its_day_shows_no_time_of_day(client, agent, ticket, shop_order):
    """The customer fixture's orders are dates (00:00); the shop's order has its time."""
    client.force_login(agent)
    page = client.get(reverse("desk:ticket", args=[ticket.pk])).content.decode()
    timeline = page[page.index('class="timeline"') :]
    assert "20 Nov 2026 14:30</span> Ordered" in timeline
    assert "15 Mar 2026</span> Ordered" in timeline
