"""A reproducible demo desk on the CDNOW customers: staff, teams and conversations.

The CDNOW purchase history (1997-01-01 to 1998-06-30) is shifted by whole weeks so that
it ends shortly before today: intervals and weekdays stay as published, and the queue
looks like a live one. Tickets are written from templates that quote each customer's
real orders, through the same services an agent's actions use.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.template.defaultfilters import pluralize
from django.utils import timezone

from nextorder.core.models import Team
from nextorder.core.roles import AGENT, LEAD, MANAGER, SALES
from nextorder.core.services import calendar_create, team_ensure, user_create, user_role_set
from nextorder.crm.models import Contact, Customer, Order
from nextorder.crm.services import contact_create, customer_update
from nextorder.desk.models import SlaPolicy, Ticket
from nextorder.desk.services import (
    ticket_open,
    ticket_receive_message,
    ticket_reply,
    ticket_update,
)
from nextorder.desk.sla import sla_policy_create
from nextorder.insight.services import customers_score, value_models_fit
from nextorder.insight.tasks import nightly_scoring_schedule

CDNOW_LAST_DAY = date(1998, 6, 30)
# The published calibration period: 39 weeks from the cohort's first day.
CDNOW_CALIBRATION_END = date(1997, 9, 30)
DEMO_PASSWORD = "nextorder-demo"
SEED = 20261124


def cdnow_shift_days(*, today: date) -> int:
    """Whole weeks that bring the sample's last day to within two weeks before today."""
    return ((today - timedelta(days=14)) - CDNOW_LAST_DAY).days // 7 * 7


def score_demo_customers(*, shift_days: int) -> str:
    """Score every customer once, before tickets are written, so that tickets open with
    the customer's value at risk and the priority rule has its say; and check the model
    on the published CDNOW periods, which the shift by whole weeks leaves intact.

    Returns a line for the console. A desk with scores is left alone.
    """
    if Customer.objects.filter(scored_at__isnull=False).exists():
        return "Customer value: already scored."
    run = customers_score()
    shift = timedelta(days=shift_days)
    value_models_fit(
        calibration_end=CDNOW_CALIBRATION_END + shift, holdout_end=CDNOW_LAST_DAY + shift
    )
    nightly_scoring_schedule()
    return (
        f"Customer value: {run.customers_scored} customers scored; hold-out check on the "
        "published CDNOW periods recorded; nightly scoring booked."
    )


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


@dataclass(frozen=True)
class Conversation:
    """One kind of customer question, with the agent's answer and the customer's
    follow-up that fit it; {order} is the customer's real latest order, quoted."""

    subject: str
    opening: str
    # Low for what can wait (thanks, a catalogue question); else Normal, and the priority
    # rule raises what a valuable or angry customer writes, as it would live.
    priority: int
    reply: str
    follow_up: str
    # Only a customer with this many orders speaks of "a loyal customer".
    min_orders: int = 1


_CONVERSATIONS = (
    Conversation(
        "Order arrived with a cracked case",
        "Hi, my order from {order} arrived today and one of the CD cases is cracked. The disc "
        "looks fine but I bought it as a gift. Can you send a new case or a replacement?",
        1,
        "Sorry about the cracked case. I have sent a replacement case by first-class post; it "
        "should be with you in two working days, at no cost to you.",
        "The new case came today, thank you!",
    ),
    Conversation(
        "Still waiting for my order",
        "I ordered on {order} and nothing has arrived. The tracking page has not changed in "
        "days. Where is it?",
        1,
        "I'm sorry for the wait. I can see the parcel stuck at the carrier's depot and have "
        "opened a claim with them. I'll update you by Friday at the latest.",
        "It still hasn't arrived. This is getting frustrating, it is the second time.",
    ),
    Conversation(
        "Wrong album delivered",
        "I received the wrong album in my order from {order}. I ordered something else "
        "entirely. How do I swap it?",
        1,
        "Apologies for the mix-up. The right album is on its way today; keep the wrong one, "
        "no need to send it back.",
        "Got the right one now. Thanks for sorting it so quickly.",
    ),
    Conversation(
        "Charged twice",
        "My card statement shows the order of {order} twice. Please refund the duplicate "
        "charge as soon as possible.",
        1,
        "Thank you for your patience. The second charge was an authorisation hold and has been "
        "released; your bank should show it within 3-5 days.",
        "The second charge is still there after a week. I want a refund, not excuses.",
    ),
    Conversation(
        "Very disappointed",
        "This is the second time something went wrong. My order from {order} skips on track "
        "3. I have been a loyal customer and I am close to taking my business elsewhere.",
        1,
        "I'm sorry, and I understand. A replacement disc ships today by express, and I've "
        "added a 15% credit to your account for your next order.",
        "Thank you, that is more than fair. The new disc plays perfectly.",
        min_orders=3,
    ),
    Conversation(
        "Question about a pre-order",
        "I'd like to pre-order the new release from the band I bought in {order}. Do you take "
        "pre-orders and when would it ship?",
        0,
        "Yes, we take pre-orders. I've noted your interest and you'll get an email the day it "
        "opens; it ships on the release date.",
        "Great, please put me down for two copies.",
    ),
    Conversation(
        "Gift wrapping for next order",
        "Last time ({order}) everything was perfect. Can I get gift wrapping on my next "
        "order? I want to buy a few CDs for my brother.",
        0,
        "Of course: tick 'gift wrap' at checkout and add a message if you like; it's free on "
        "orders of three CDs or more.",
        "Perfect, thank you so much.",
    ),
    Conversation(
        "Refund not received",
        "You confirmed a refund for part of my order from {order} but I have not seen the "
        "money yet. Can you check?",
        1,
        "I've checked: the refund was sent on Tuesday and usually takes 3-5 working days to "
        "appear. Here is the reference for your bank: RF-2231.",
        "It arrived this morning. Thanks.",
    ),
    Conversation(
        "Address change",
        "I have moved. Please update my shipping address before my next order; the last one "
        "({order}) went to the old address.",
        1,
        "Done: your new address is on your account and will be used from your next order.",
        "Thanks, that was quick. Much appreciated!",
    ),
    Conversation(
        "Can't log in to my account",
        "I can't log in to see my order history, including the order from {order}. The "
        "password reset email never arrives.",
        1,
        "The reset emails were caught by a spam filter on our side; I've fixed it and sent a "
        "new link just now. It is valid for an hour.",
        "That worked, I'm back in.",
    ),
)
_CLOSING = (
    "Glad we could sort this out. I'm closing this ticket; just reply if anything else comes up."
)


def ensure_demo_staff() -> dict[str, User]:
    """The demo's staff and teams; run again, it puts their roles back as they were."""
    users: dict[str, User] = {}
    for index, spec in enumerate(DEMO_USERS):
        user = get_user_model().objects.filter(username=spec.username).first()
        if user is None:
            user = user_create(
                username=spec.username,
                role=spec.role,
                password=DEMO_PASSWORD,
                first_name=spec.first_name,
                last_name=spec.last_name,
                email=f"{spec.username}@nextorder.localhost",
                is_superuser=spec.is_superuser,
            )
        else:
            user_role_set(user=user, role=spec.role)
        if spec.role in (AGENT, LEAD):
            team_ensure(name=TEAM_NAMES[index % len(TEAM_NAMES)], members=[user])
        users[spec.username] = user
    for name in TEAM_NAMES:
        team_ensure(name=name)
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
    local = customer.name.lower().replace(" ", ".")
    return contact_create(
        customer=customer, name=customer.name, emails=[f"{local}.{number}@example.com"]
    )


# Business minutes on the demo's service hours (Monday to Friday, 08:00-18:00): a
# business day is ten hours.
_BUSINESS_DAY = 10 * 60
DEMO_POLICIES: tuple[tuple[str, int, list[int], int, int, int], ...] = (
    ("Urgent", 10, [Ticket.Priority.URGENT], 60, 120, _BUSINESS_DAY),
    ("High", 20, [Ticket.Priority.HIGH], 4 * 60, 4 * 60, 3 * _BUSINESS_DAY),
    ("Normal", 30, [], _BUSINESS_DAY, _BUSINESS_DAY, 5 * _BUSINESS_DAY),
)


def ensure_demo_policies(*, actor: User) -> None:
    """Service hours and three policies, before the tickets, so that each ticket's clocks
    run from the (past) moments the services are given: some met, some breached, some
    still running."""
    if SlaPolicy.objects.exists():
        return
    weekday = ((time(8), time(18)),)
    hours = calendar_create(
        name="Service hours",
        time_zone="Europe/Berlin",
        weekly=(weekday,) * 5 + ((), ()),
        holiday_country="DE",
        actor=actor,
    )
    for name, position, priorities, first, following, resolution in DEMO_POLICIES:
        sla_policy_create(
            actor=actor,
            name=name,
            position=position,
            priorities=priorities,
            first_response_minutes=first,
            next_response_minutes=following,
            resolution_minutes=resolution,
            calendar=hours,
        )


@transaction.atomic
def generate_demo_tickets(*, count: int = 400, now: datetime | None = None) -> int:
    """Write `count` conversations across all statuses, once: a desk with tickets is left alone."""
    if Ticket.objects.exists():
        return 0
    now = now or timezone.now()
    rng = random.Random(SEED)
    staff = ensure_demo_staff()
    ensure_demo_policies(actor=staff["jordan"])
    agents = [staff["alex"], staff["priya"], staff["jordan"]]
    teams = list(Team.objects.filter(name__in=TEAM_NAMES))
    for customer in Customer.objects.filter(order_count__gt=0).exclude(
        name__regex=r"^[A-Z][a-z]+ [A-Z]"
    ):
        # CDNOW's customers are numbers; a made-up name, dated to their first order.
        customer_update(
            customer=customer,
            name=person_name(_customer_number(customer)),
            occurred_at=customer.first_order_at,
        )
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
        talk = rng.choice([c for c in _CONVERSATIONS if customer.order_count >= c.min_orders])
        status = rng.choice(statuses)
        active = status in Ticket.ACTIVE_STATUSES
        opened = now - timedelta(
            days=rng.uniform(0, 6) if active else rng.uniform(7, 330), minutes=rng.randint(0, 600)
        )
        contact = _contact_for(customer)
        ticket = ticket_open(
            customer=customer,
            contact=contact,
            subject=talk.subject,
            body_text=talk.opening.format(order=_order_phrase(order)),
            channel=rng.choice([Ticket.Channel.EMAIL] * 3 + [Ticket.Channel.WEB_FORM]),
            priority=talk.priority,
            team=rng.choice(teams),
            sent_at=opened,
        )
        if status == Ticket.Status.NEW:
            continue
        agent = rng.choice(agents)
        assigned = opened + timedelta(minutes=rng.uniform(5, 60))
        ticket_update(
            ticket=ticket,
            actor=staff["jordan"],
            expected_version=ticket.version,
            assignee=agent,
            occurred_at=min(assigned, now),
        )
        replied = min(assigned + timedelta(hours=rng.uniform(0.2, 20)), now)
        ticket_reply(
            ticket=ticket,
            author=agent,
            body=talk.reply,
            expected_version=ticket.version,
            status=Ticket.Status.PENDING,
            sent_at=replied,
        )
        if status == Ticket.Status.PENDING:
            continue
        # The customer answers: a pending ticket opens again (the reopen path agents see).
        answered = min(replied + timedelta(hours=rng.uniform(1, 48)), now)
        ticket_receive_message(
            ticket=ticket, contact=contact, body_text=talk.follow_up, sent_at=answered
        )
        if status == Ticket.Status.OPEN:
            continue
        ticket_reply(
            ticket=ticket,
            author=agent,
            body=_CLOSING,
            expected_version=ticket.version,
            status=status,
            sent_at=min(answered + timedelta(hours=rng.uniform(0.5, 30)), now),
        )
    return count
