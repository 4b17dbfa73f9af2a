"""A reproducible demo desk on the CDNOW customers: staff, teams and conversations.

The CDNOW purchase history (1997-01-01 to 1998-06-30) is shifted by whole weeks so that
it ends shortly before today: intervals and weekdays stay as published, and the queue
looks like a live one. Tickets are written from templates that quote each customer's
real orders, through the same services an agent's actions use.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.template.defaultfilters import pluralize
from django.utils import timezone

from nextorder.core.models import Team
from nextorder.core.roles import AGENT, LEAD, MANAGER, SALES
from nextorder.crm.models import Contact, ContactEmail, Customer, Order
from nextorder.desk.models import Ticket
from nextorder.desk.services import ticket_open, ticket_reply, ticket_update

CDNOW_LAST_DAY = date(1998, 6, 30)
DEMO_PASSWORD = "nextorder-demo"
SEED = 20261124


def cdnow_sample_path() -> Path:
    return Path(str(resources.files("nextorder") / "data" / "CDNOW_sample.txt"))


def cdnow_shift_days(*, today: date) -> int:
    """Whole weeks that bring the sample's last day to within two weeks before today."""
    return ((today - timedelta(days=14)) - CDNOW_LAST_DAY).days // 7 * 7


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str
    is_superuser: bool = False


DEMO_USERS = (
    DemoUser("alex", "Alex", "Morgan", AGENT),
    DemoUser("priya", "Priya", "Shah", AGENT),
    DemoUser("jordan", "Jordan", "Lee", LEAD),
    DemoUser("sam", "Sam", "Okafor", SALES),
    DemoUser("maria", "Maria", "Costa", MANAGER),
    DemoUser("admin", "Ada", "Admin", MANAGER, is_superuser=True),
)
TEAM_NAMES = ("Orders & delivery", "Returns & billing")

_FIRST = (
    "Ava",
    "Ben",
    "Chloe",
    "Daniel",
    "Emma",
    "Felix",
    "Grace",
    "Henry",
    "Isla",
    "Jack",
    "Kate",
    "Liam",
    "Mia",
    "Noah",
    "Olivia",
    "Paul",
    "Quinn",
    "Ruby",
    "Sofia",
    "Tom",
    "Uma",
    "Victor",
    "Wendy",
    "Xavier",
    "Yara",
    "Zoe",
)
_LAST = (
    "Adams",
    "Baker",
    "Clark",
    "Davis",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jensen",
    "Khan",
    "Lopez",
    "Miller",
    "Nguyen",
    "Olsen",
    "Patel",
    "Reyes",
    "Smith",
    "Turner",
    "Usman",
    "Vargas",
    "Walsh",
    "Young",
    "Zimmer",
)


def person_name(number: int) -> str:
    """A stable, made-up name for a customer who is only a number in the data set."""
    return f"{_FIRST[number % len(_FIRST)]} {_LAST[(number * 7 + 3) % len(_LAST)]}"


# (subject, opening message, priority); {order} is the customer's real order quoted.
_COMPLAINTS = (
    (
        "Order arrived with a cracked case",
        "Hi, my order from {order} arrived today and one of the "
        "CD cases is cracked. The disc looks fine but I bought it as a gift. Can you send a "
        "new case or a replacement?",
        1,
    ),
    (
        "Still waiting for my order",
        "I ordered on {order} and nothing has arrived. The tracking "
        "page has not changed in days. Where is it?",
        2,
    ),
    (
        "Wrong album delivered",
        "I received the wrong album in my order from {order}. I ordered "
        "something else entirely. How do I swap it?",
        2,
    ),
    (
        "Charged twice",
        "My card statement shows the order of {order} twice. Please refund the "
        "duplicate charge as soon as possible.",
        3,
    ),
    (
        "Very disappointed",
        "This is the second time something went wrong. My order from {order} "
        "skips on track 3. I have been a loyal customer and I am close to taking my business "
        "elsewhere.",
        3,
    ),
    (
        "Question about a pre-order",
        "I'd like to pre-order the new release from the band I "
        "bought in {order}. Do you take pre-orders and when would it ship?",
        0,
    ),
    (
        "Gift wrapping for next order",
        "Last time ({order}) everything was perfect. Can I get gift "
        "wrapping on my next order? I want to buy a few CDs for my brother.",
        0,
    ),
    (
        "Refund not received",
        "You confirmed a refund for part of my order from {order} but I "
        "have not seen the money yet. Can you check?",
        2,
    ),
    (
        "Address change",
        "I have moved. Please update my shipping address before my next order; "
        "the last one ({order}) went to the old address.",
        1,
    ),
    (
        "Can't log in to my account",
        "I can't log in to see my order history, including the order "
        "from {order}. The password reset email never arrives.",
        1,
    ),
)
_AGENT_REPLIES = (
    "Thanks for letting us know, and sorry for the trouble. I have checked your order and "
    "arranged a replacement; it ships within two working days at no cost to you.",
    "I'm sorry about this. I can see the order and have opened a claim with the carrier. I'll "
    "update you as soon as I hear back, at the latest by Friday.",
    "Thank you for your patience. The duplicate charge was an authorisation hold and has been "
    "released; your bank should show it within 3-5 days.",
    "Good news: yes, we take pre-orders. I've noted your interest and you'll get an email the "
    "day it opens.",
    "I've updated your details. Is there anything else I can help with?",
)
_CUSTOMER_FOLLOWUPS = (
    "Thanks, that was quick. Much appreciated!",
    "It still hasn't arrived. This is getting frustrating.",
    "OK, I'll wait for your update.",
    "Perfect, thank you so much.",
)


def ensure_demo_staff() -> dict[str, User]:
    user_model = get_user_model()
    users: dict[str, User] = {}
    teams = [Team.objects.get_or_create(name=name)[0] for name in TEAM_NAMES]
    for index, spec in enumerate(DEMO_USERS):
        user, created = user_model.objects.get_or_create(
            username=spec.username,
            defaults={
                "first_name": spec.first_name,
                "last_name": spec.last_name,
                "email": f"{spec.username}@nextorder.localhost",
                "is_staff": True,
                "is_superuser": spec.is_superuser,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(Group.objects.get(name=spec.role))
        if spec.role in (AGENT, LEAD):
            teams[index % len(teams)].members.add(user)
        users[spec.username] = user
    return users


def _order_phrase(order: Order) -> str:
    items = f"{order.item_count} CD{pluralize(order.item_count)}, " if order.item_count else ""
    return f"{timezone.localtime(order.placed_at):%-d %B %Y} ({items}${order.amount:,.2f})"


def _pick_customers(rng: random.Random, *, count: int, today: datetime) -> list[Customer]:
    """A third big spenders, a third lapsed (no order for a year), a third anyone."""
    customers = list(Customer.objects.filter(order_count__gt=0).order_by("id"))
    by_spend = sorted(customers, key=lambda c: c.total_spend, reverse=True)
    big = by_spend[: max(1, len(customers) // 10)]
    lapsed = [
        c for c in customers if c.last_order_at and c.last_order_at < today - timedelta(days=365)
    ]
    pools = (big, lapsed or customers, customers)
    return [rng.choice(pools[i % 3]) for i in range(count)]


def _customer_number(customer: Customer) -> int:
    """CDNOW customers are numbered; the number keeps their made-up name stable."""
    external = customer.external_id or ""
    return int(external) if external.isdigit() else customer.pk


def _contact_for(customer: Customer) -> Contact:
    contact = customer.contacts.first()
    if contact is not None:
        return contact
    number = _customer_number(customer)
    contact = Contact.objects.create(customer=customer, name=customer.name)
    local = customer.name.lower().replace(" ", ".")
    ContactEmail.objects.create(
        contact=contact, address=f"{local}.{number}@example.com", is_primary=True
    )
    return contact


@transaction.atomic
def generate_demo_tickets(*, count: int = 400, now: datetime | None = None) -> int:
    """Write `count` conversations across all statuses, once: a desk with tickets is left alone."""
    if Ticket.objects.exists():
        return 0
    now = now or timezone.now()
    rng = random.Random(SEED)
    staff = ensure_demo_staff()
    agents = [staff["alex"], staff["priya"], staff["jordan"]]
    teams = list(Team.objects.filter(name__in=TEAM_NAMES))
    for customer in Customer.objects.filter(order_count__gt=0).exclude(
        name__regex=r"^[A-Z][a-z]+ [A-Z]"
    ):
        name = person_name(_customer_number(customer))
        Customer.objects.filter(pk=customer.pk).update(name=name)
    statuses = (
        [Ticket.Status.NEW] * 15
        + [Ticket.Status.OPEN] * 20
        + [Ticket.Status.PENDING] * 15
        + [Ticket.Status.SOLVED] * 30
        + [Ticket.Status.CLOSED] * 20
    )
    for customer in _pick_customers(rng, count=count, today=now):
        customer.refresh_from_db()
        order = customer.orders.order_by("-placed_at").first()
        assert order is not None
        subject, opening, priority = rng.choice(_COMPLAINTS)
        status = rng.choice(statuses)
        active = status in Ticket.ACTIVE_STATUSES
        opened = now - timedelta(
            days=rng.uniform(0, 6) if active else rng.uniform(7, 330), minutes=rng.randint(0, 600)
        )
        ticket = ticket_open(
            customer=customer,
            contact=_contact_for(customer),
            subject=subject,
            body_text=opening.format(order=_order_phrase(order)),
            channel=rng.choice([Ticket.Channel.EMAIL] * 3 + [Ticket.Channel.WEB_FORM]),
            priority=priority,
            team=rng.choice(teams),
            sent_at=opened,
        )
        if status == Ticket.Status.NEW:
            continue
        agent = rng.choice(agents)
        ticket_update(
            ticket=ticket, actor=staff["jordan"], expected_version=ticket.version, assignee=agent
        )
        replied = opened + timedelta(hours=rng.uniform(0.2, 20))
        ticket_reply(
            ticket=ticket,
            author=agent,
            body=rng.choice(_AGENT_REPLIES),
            expected_version=ticket.version,
            status=Ticket.Status.PENDING if status != Ticket.Status.OPEN else Ticket.Status.OPEN,
            sent_at=min(replied, now),
        )
        if status in (Ticket.Status.SOLVED, Ticket.Status.CLOSED):
            ticket.refresh_from_db()
            ticket_reply(
                ticket=ticket,
                author=agent,
                body="Glad we could sort this out. I'm closing this ticket; "
                "just reply if anything else comes up.",
                expected_version=ticket.version,
                status=status,
                sent_at=min(replied + timedelta(days=rng.uniform(0.5, 4)), now),
            )
    return count
