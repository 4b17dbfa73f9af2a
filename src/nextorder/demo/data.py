"""A reproducible demo desk on the CDNOW customers: staff, teams and conversations.

The CDNOW purchase history (1997-01-01 to 1998-06-30) is shifted by whole weeks so that
it ends shortly before today: intervals and weekdays stay as published, and the queue
looks like a live one. Tickets are written from templates that quote each customer's
real orders, through the same services an agent's actions use.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.template.defaultfilters import pluralize
from django.utils import timezone

from nextorder.core.models import BusinessCalendar, Team
from nextorder.core.roles import AGENT, LEAD, MANAGER, SALES
from nextorder.core.services import (
    calendar_create,
    team_calendar_set,
    team_ensure,
    user_create,
    user_role_set,
)
from nextorder.crm.models import Contact, Customer, Order, Product
from nextorder.crm.services import contact_create, customer_update
from nextorder.desk.assignment import agent_skill_add, assignment_rule_set
from nextorder.desk.bulk import saved_view_save
from nextorder.desk.macros import macro_save
from nextorder.desk.merge import ticket_merge
from nextorder.desk.models import AgentSkill, CallRecord, SlaPolicy, Ticket
from nextorder.desk.services import (
    MAX_CALL_RECORDS_PER_BATCH,
    CallRecordData,
    call_records_report,
    ticket_open,
    ticket_receive_message,
    ticket_reply,
    ticket_update,
)
from nextorder.desk.sla import sla_policy_create
from nextorder.desk.tags import tag_get_or_create, ticket_tags_add
from nextorder.insight import erlang
from nextorder.insight.models import RosterShift
from nextorder.insight.selectors import rostered_agents
from nextorder.insight.services import (
    customers_score,
    roster_shift_save,
    value_models_fit,
)
from nextorder.insight.tasks import nightly_scoring_schedule
from nextorder.sales.models import AgreementItem, Commitment, Lead, ServiceKind
from nextorder.sales.services import (
    ItemSpec,
    agreement_create,
    commitment_break,
    commitment_create,
    commitment_keep,
    commitment_waive,
    commitments_check,
    lead_create,
    lead_lose,
    lead_update,
    lead_win,
    product_affinities_refresh,
    renewal_leads_create,
)
from nextorder.sales.tasks import sales_schedule

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
    # A question about delivery or a charge comes soon after the order, or not at all.
    within_days: int | None = None


_CONVERSATIONS = (
    Conversation(
        "Order arrived with a cracked case",
        "Hi, my order from {order} arrived today and one of the CD cases is cracked. The disc "
        "looks fine but I bought it as a gift. Can you send a new case or a replacement?",
        1,
        "Sorry about the cracked case. I have sent a replacement case by first-class post; it "
        "should be with you in two working days, at no cost to you.",
        "The new case came today, thank you!",
        within_days=10,
    ),
    Conversation(
        "Still waiting for my order",
        "I ordered on {order} and nothing has arrived. The tracking page has not changed in "
        "days. Where is it?",
        1,
        "I'm sorry for the wait. I can see the parcel stuck at the carrier's depot and have "
        "opened a claim with them. I'll update you by Friday at the latest.",
        "It still hasn't arrived. This is getting frustrating, it is the second time.",
        within_days=21,
    ),
    Conversation(
        "Wrong album delivered",
        "I received the wrong album in my order from {order}. I ordered something else "
        "entirely. How do I swap it?",
        1,
        "Apologies for the mix-up. The right album is on its way today; keep the wrong one, "
        "no need to send it back.",
        "Got the right one now. Thanks for sorting it so quickly.",
        within_days=14,
    ),
    Conversation(
        "Charged twice",
        "My card statement shows the order of {order} twice. Please refund the duplicate "
        "charge as soon as possible.",
        1,
        "Thank you for your patience. The second charge was an authorisation hold and has been "
        "released; your bank should show it within 3-5 days.",
        "The second charge is still there after a week. I want a refund, not excuses.",
        within_days=30,
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
        within_days=30,
    ),
    Conversation(
        "Question about a pre-order",
        "I'd like to pre-order the new release from the band I bought on {order}. Do you take "
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
        within_days=45,
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


SALES_TEAM = "Sales line"
SALES_CALENDAR = "Sales line hours"
SERVICE_CALENDAR = "Service desk hours"
DEMO_TIME_ZONE = "America/New_York"  # CDNOW was an American shop
_SALES_WEEK = (((time(9), time(18)),),) * 5 + (((time(9), time(17)),), ())
# A lunch break on weekdays, closed at weekends and on US public holidays.
_SERVICE_WEEK = (((time(9), time(12, 30)), (time(13), time(18))),) * 5 + ((), ())


def ensure_demo_calendars() -> None:
    """A sales line open on Saturdays and a service desk that is not, so the coverage gap
    shows on the home page; left alone once they exist (a lead may have changed them)."""
    sales = BusinessCalendar.objects.filter(name=SALES_CALENDAR).first() or calendar_create(
        name=SALES_CALENDAR, time_zone=DEMO_TIME_ZONE, weekly=_SALES_WEEK
    )
    service = BusinessCalendar.objects.filter(name=SERVICE_CALENDAR).first() or calendar_create(
        name=SERVICE_CALENDAR,
        time_zone=DEMO_TIME_ZONE,
        weekly=_SERVICE_WEEK,
        holiday_country="US",
    )
    sales_team = team_ensure(name=SALES_TEAM)
    if sales_team.calendar is None:
        team_calendar_set(team=sales_team, calendar=sales, kind=Team.Kind.SALES)
    for team in Team.objects.filter(name__in=TEAM_NAMES, calendar__isnull=True):
        team_calendar_set(team=team, calendar=service)


def _order_phrase(order: Order) -> str:
    items = f"{order.item_count} CD{pluralize(order.item_count)}, " if order.item_count else ""
    placed = timezone.localtime(order.placed_at)
    return f"{placed:%-d %B %Y} (order {order.reference}, {items}${order.amount:,.2f})"


def _fitting(
    talks: tuple[Conversation, ...], *, order: Order, customer: Customer, opened: datetime
) -> list[Conversation]:
    """The conversations a customer could start about this order on that day."""
    age = opened - order.placed_at
    return [
        talk
        for talk in talks
        if customer.order_count >= talk.min_orders
        and (talk.within_days is None or age <= timedelta(days=talk.within_days))
    ]


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
    made = 0
    for customer in _pick_customers(rng, count=count, today=now):
        customer.refresh_from_db()
        status = rng.choice(statuses)
        active = status in Ticket.ACTIVE_STATUSES
        opened = now - timedelta(
            days=rng.uniform(0, 6) if active else rng.uniform(7, 330), minutes=rng.randint(0, 600)
        )
        # What the customer writes about: their last order before that day.
        order = customer.orders.filter(placed_at__lt=opened).order_by("-placed_at").first()
        if order is None:
            continue
        talk = rng.choice(_fitting(_CONVERSATIONS, order=order, customer=customer, opened=opened))
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
            order=order,
        )
        made += 1
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
    demo_workspace(staff=staff, now=now)
    return made


# Tags the demo puts on its tickets, by the words of their subject.
_TAGS_BY_SUBJECT = (
    ("delivery", ("Still waiting", "Address change", "Wrong album")),
    ("refund", ("Refund", "Charged twice", "cracked case")),
    ("account", ("log in",)),
)


def demo_workspace(*, staff: dict[str, User], now: datetime) -> None:
    """Macros shared by the lead and one of an agent's own, tags on tickets, a duplicate
    ticket merged into the first, and a saved queue view for an agent."""
    lead, alex = staff["jordan"], staff["alex"]
    tags = {
        name: tag_get_or_create(name=name, actor=lead)
        for name in ("delivery", "refund", "account", "vip")
    }
    macro_save(
        actor=lead,
        name="Order on its way",
        body="Hello {contact_name},\n\nThank you for your patience. Your order "
        "{last_order} ({last_order_products}) is on its way and should reach you within "
        "three working days.\n\nBest regards,\n{agent_name}",
        personal=False,
        set_status=Ticket.Status.PENDING,
        add_tags=[tags["delivery"]],
    )
    macro_save(
        actor=lead,
        name="Refund issued",
        body="Hello {contact_name},\n\nWe have refunded your order {last_order}; the money "
        "reaches your account within five working days.\n\nBest regards,\n{agent_name}",
        personal=False,
        set_status=Ticket.Status.SOLVED,
        add_tags=[tags["refund"]],
    )
    macro_save(
        actor=lead,
        name="Escalate to billing",
        body="",
        personal=False,
        team=Team.objects.get(name="Returns & billing"),
        set_priority=Ticket.Priority.HIGH,
        add_tags=[tags["refund"]],
    )
    macro_save(
        actor=alex,
        name="Ask for a photo",
        body="Hello {contact_name}, could you send us a photo of what arrived? {agent_name}",
        personal=True,
        set_status=Ticket.Status.PENDING,
    )
    for ticket in Ticket.objects.select_related("customer").order_by("id"):
        on = [
            tags[name]
            for name, words in _TAGS_BY_SUBJECT
            if any(w in ticket.subject for w in words)
        ]
        if ticket.customer.total_spend >= 500:
            on.append(tags["vip"])
        if on:
            ticket_tags_add(ticket=ticket, tags=on, actor=lead)
    first = Ticket.objects.filter(status=Ticket.Status.OPEN).order_by("id").first()
    if first is not None:
        again = ticket_open(
            customer=first.customer,
            contact=first.contact,
            subject=f"Re: {first.subject}",
            body_text="I wrote a few days ago and have not heard back yet. Any news?",
            sent_at=now - timedelta(hours=3),
        )
        first.refresh_from_db()
        ticket_merge(
            source=again,
            target=first,
            actor=lead,
            source_version=again.version,
            target_version=first.version,
        )
    saved_view_save(owner=alex, name="My open tickets", query="status=new&status=open&assignee=me")


def ensure_demo_assignment() -> None:
    """Assignment rules for the demo's teams, set after its history is written (the
    history keeps the assignees it was written with): new email goes round robin in
    Orders & delivery, where Priya reads German; billing goes to the least busy."""
    staff = ensure_demo_staff()
    lead = staff["jordan"]
    orders, billing = (Team.objects.get(name=name) for name in TEAM_NAMES)
    assignment_rule_set(
        team=orders, method="round_robin", use_skills=True, takes_unrouted=True, actor=lead
    )
    assignment_rule_set(
        team=billing, method="least_open", use_skills=True, takes_unrouted=False, actor=lead
    )
    if not AgentSkill.objects.exists():
        agent_skill_add(user=staff["priya"], kind="language", value="de", actor=lead)


# The demo's phone line: open Monday to Friday 08:00-18:00 and Saturday 09:00-13:00,
# busiest mid-morning; the roster thins out over lunch, which the staffing page shows.
DEMO_ROSTER = [
    *[(day, time(8), time(12), 14) for day in range(5)],
    *[(day, time(12), time(13), 5) for day in range(5)],
    *[(day, time(13), time(18), 12) for day in range(5)],
    (5, time(9), time(13), 4),
]
DEMO_HANDLE_SECONDS = 240.0


def _calls_per_half_hour(weekday: int, minute_of_day: int) -> float:
    """Expected calls in the half hour starting at `minute_of_day`."""
    hour = minute_of_day / 60 + 0.25
    if weekday == 6 or not (8 <= hour < 18) or (weekday == 5 and not 9 <= hour < 13):
        return 0.0
    shape = (
        0.25 + math.exp(-(((hour - 10.5) / 1.5) ** 2)) + 0.7 * math.exp(-(((hour - 14.5) / 2) ** 2))
    )
    return (40 if weekday < 5 else 12) * shape * (1.15 if weekday == 0 else 1.0)


def ensure_demo_roster() -> int:
    """The roster above, once (an edited roster is left as it is)."""
    if RosterShift.objects.exists():
        return 0
    for weekday, starts_at, ends_at, agents in DEMO_ROSTER:
        roster_shift_save(
            shift=RosterShift(weekday=weekday, starts_at=starts_at, ends_at=ends_at, agents=agents),
            actor=None,
        )
    return len(DEMO_ROSTER)


def generate_demo_calls(*, weeks: int = 3, now: datetime | None = None) -> int:
    """Call records for the whole weeks before this one and this week up to today, posted
    as a telephony system would (external ids: a second run the same day adds nothing;
    whole days, so a later hour adds nothing either). Waits follow
    Erlang C for the roster's agents on the phones (30 % shrinkage), so the lunch hour's
    short roster shows as long waits and hang-ups."""
    now = now or timezone.now()
    rng = random.Random(SEED)
    today = timezone.localdate(now)
    start = timezone.make_aware(
        datetime.combine(today - timedelta(days=today.weekday(), weeks=weeks), time())
    )
    end = timezone.make_aware(datetime.combine(today, time()))
    on_roster = rostered_agents(week_start=start, interval_minutes=30)
    records: list[CallRecordData] = []
    slot_start = start
    while slot_start < end:
        local = timezone.localtime(slot_start)
        minute = local.hour * 60 + local.minute
        slot = local.weekday() * 48 + minute // 30
        calls = _poisson(rng, _calls_per_half_hour(local.weekday(), minute))
        on_phones = int(on_roster[slot] * 0.7)
        traffic = calls * DEMO_HANDLE_SECONDS / 1800
        # Erlang C: a call waits with probability C, then about h / (n - A) on average.
        if on_phones > traffic:
            waiting = float(erlang.erlang_c(traffic=traffic, agents=on_phones)) if calls else 0.0
            mean_wait = DEMO_HANDLE_SECONDS / (on_phones - traffic)
        else:
            waiting, mean_wait = 1.0, 600.0
        for n in range(calls):
            offered_at = slot_start + timedelta(seconds=rng.uniform(0, 1800))
            wait = rng.expovariate(1 / mean_wait) if rng.random() < waiting else 0.0
            patience = rng.expovariate(1 / 120)
            abandoned = wait > patience
            records.append(
                CallRecordData(
                    external_id=f"demo-call-{offered_at:%Y%m%d%H%M}-{n}",
                    channel=CallRecord.Channel.PHONE if n % 5 else CallRecord.Channel.CHAT,
                    queue="support",
                    offered_at=offered_at,
                    outcome=CallRecord.Outcome.ABANDONED
                    if abandoned
                    else CallRecord.Outcome.ANSWERED,
                    wait_seconds=round(patience if abandoned else wait, 1),
                    handle_seconds=0.0
                    if abandoned
                    else round(rng.expovariate(1 / DEMO_HANDLE_SECONDS), 1),
                )
            )
        slot_start += timedelta(minutes=30)
    created = 0
    for first in range(0, len(records), MAX_CALL_RECORDS_PER_BATCH):
        batch = records[first : first + MAX_CALL_RECORDS_PER_BATCH]
        created += call_records_report(records=batch, actor=None).created
    return created


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: the demo's loads are small."""
    if mean <= 0:
        return 0
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


@dataclass(frozen=True)
class DemoPromise:
    kind: str
    text: str
    due_in_hours: float  # from now; negative is past
    # "kept", "waived" or "open"; an open one past due is broken by the hourly check.
    outcome: str
    owner: str = "sam"


_PROMISES = (
    DemoPromise("deliver_by", "Deliver the replacement disc by express", -72, "kept", "alex"),
    DemoPromise("call_back", "Call back once the carrier's claim is settled", -30, "open"),
    DemoPromise("discount", "15% off the next order, as promised on the phone", 24 * 20, "open"),
    DemoPromise("replacement_part", "Send a new CD case", 20, "open", "alex"),
    DemoPromise("call_back", "Call to confirm the refund arrived", 30, "open"),
    DemoPromise("deliver_by", "Pre-order ships on release day", -5, "open"),
    DemoPromise("training", "Walk them through the new account pages", 24 * 9, "open"),
    DemoPromise("other", "Hold two copies of the pre-order", -100, "waived"),
    DemoPromise("install_by", "Set up the gift-wrap option on their account", -200, "kept"),
)

# Customers of the shop's own export (they bought products), asking about buying more.
_INTENT_TICKETS = (
    (
        "Another bag?",
        "Hi! The tote bag I bought is great. Do you sell it in other colours? I would like "
        "another one for my sister.",
    ),
    (
        "Price for a bigger pack",
        "What is the price for the 1 kg pack of the Café crème? We go through it quickly.",
    ),
    (
        "Upgrade my order",
        "Can I upgrade my next order to gift wrapping for everything? And do you stock mugs "
        "in blue?",
    ),
)


def _shop_customers() -> list[Customer]:
    """The customers of the Shopify sample (with products and emails), most orders first."""
    return list(
        Customer.objects.filter(
            orders__lines__product__isnull=False, contacts__emails__isnull=False
        )
        .distinct()
        .order_by("-order_count", "id")
    )


def _demo_agreements(
    *, shop: list[Customer], served: list[Customer], sam: User, today: date
) -> None:
    covers, excludes = AgreementItem.Effect.COVERS, AgreementItem.Effect.EXCLUDES
    coffee, shirt, mug = (Product.objects.get(sku=s) for s in ("CAFÉ-250", "TEE-RED-M", "MUG-01"))
    plans = [
        (
            shop[0],
            "Coffee subscription care",
            "monthly",
            today - timedelta(days=340),
            today + timedelta(days=20),  # ends soon: a renewal lead for sales
            [
                ItemSpec(effect=covers, product=coffee, kind=ServiceKind.REPLACEMENT),
                ItemSpec(effect=covers, kind=ServiceKind.REMOTE_SUPPORT),
                ItemSpec(effect=excludes, product=mug, note="china is not covered"),
            ],
        ),
        (
            shop[1],
            "Merchandise care",
            "standard",
            today - timedelta(days=30),
            today + timedelta(days=335),
            [
                ItemSpec(effect=covers, product=shirt, kind=ServiceKind.REPLACEMENT),
                ItemSpec(effect=excludes, product=shirt, part="print", note="wear and washing"),
            ],
        ),
    ]
    plans += [
        (
            customer,
            "Priority care",
            "gold",
            today - timedelta(days=90),
            today + timedelta(days=275),
            [
                ItemSpec(effect=covers, kind=ServiceKind.REPLACEMENT),
                ItemSpec(effect=covers, kind=ServiceKind.REMOTE_SUPPORT),
                ItemSpec(effect=excludes, part="gift voucher", note="vouchers are not replaced"),
            ],
        )
        for customer in served[:3]
    ]
    for customer, name, plan, starts, ends, items in plans:
        agreement_create(
            customer=customer,
            name=name,
            plan=plan,
            starts_on=starts,
            ends_on=ends,
            first_response_minutes=60 if plan == "gold" else 240,
            resolution_minutes=480 if plan == "gold" else 2880,
            items=items,
            actor=sam,
        )


def _demo_leads(*, staff: dict[str, User], tickets: list[Ticket], shop: list[Customer]) -> None:
    """Leads born in service (some won, one lost), a referral and one of sales' own."""
    sam = staff["sam"]
    outcomes = ("won", "won", "lost", "open", "open")
    for ticket, outcome in zip(tickets, outcomes, strict=False):
        lead = lead_create(
            customer=ticket.customer,
            title=f"From ticket #{ticket.pk}: {ticket.subject}"[:200],
            source=Lead.Source.TICKET,
            ticket_id=ticket.pk,
            owner=sam,
            value_estimate=(
                ticket.customer.total_spend / max(ticket.customer.order_count, 1)
            ).quantize(Decimal("0.01")),
            actor=ticket.assignee or staff["alex"],
        )
        if outcome == "won":
            order = ticket.customer.orders.order_by("-placed_at").first()
            assert order is not None
            lead_win(lead=lead, actor=sam, amount=order.amount, order=order)
        elif outcome == "lost":
            lead_lose(lead=lead, actor=sam, reason="Bought elsewhere before we called")
    referral = lead_create(
        customer=shop[2], title="Referred by a regular", source=Lead.Source.REFERRAL, actor=sam
    )
    lead_update(lead=referral, actor=sam, value_estimate=Decimal("60.00"), owner=sam)
    own = lead_create(customer=shop[3], title="Office coffee order", actor=sam, owner=sam)
    lead_win(lead=own, actor=sam, amount=Decimal("240.00"))


# Every how many of the solved tickets' customers had a delivery promise, and every how
# many of those promises were broken: so the loop report splits reorders by promises.
PAST_PROMISE_EVERY = 4
BROKEN_EVERY = 3


def _past_promises(*, staff: dict[str, User]) -> int:
    """Delivery promises made at the order before a ticket, due two days before it was
    solved: most kept, some broken."""
    solved = list(
        Ticket.objects.select_related("customer")
        .filter(solved_at__isnull=False, customer__orders__isnull=False)
        .distinct()
        .order_by("id")
    )[::PAST_PROMISE_EVERY]
    for number, ticket in enumerate(solved):
        assert ticket.solved_at is not None
        promise = commitment_create(
            customer=ticket.customer,
            order=ticket.customer.orders.filter(placed_at__lt=ticket.solved_at)
            .order_by("-placed_at")
            .first(),
            kind=Commitment.Kind.DELIVER_BY,
            description="Deliver within three working days",
            owner=staff["sam"],
            due_at=ticket.solved_at - timedelta(days=2),
            actor=staff["sam"],
        )
        if number % BROKEN_EVERY == 0:
            commitment_break(
                commitment=promise, actor=staff["sam"], reason="The carrier lost the parcel"
            )
        else:
            commitment_keep(commitment=promise, actor=staff["sam"], reason="Delivered on time")
    return len(solved)


@transaction.atomic
def generate_demo_sales(*, now: datetime | None = None) -> str:
    """Promises (kept, broken, due soon), agreements (one ending soon), leads born in
    service and tickets whose customers ask to buy; once: a desk with promises is left
    alone. Written through the services, then the hourly check run as the worker would."""
    if Commitment.objects.exists():
        return "Promises, agreements and leads: already there."
    now = now or timezone.now()
    staff = ensure_demo_staff()
    served = list(
        Ticket.objects.select_related("customer", "assignee")
        .filter(customer__orders__isnull=False)
        .distinct()
        .order_by("id")[: len(_PROMISES) + 8]
    )
    shop = _shop_customers()
    for ticket, spec in zip(served, _PROMISES, strict=False):
        promise = commitment_create(
            customer=ticket.customer,
            order=ticket.customer.orders.order_by("-placed_at").first(),
            kind=spec.kind,
            description=spec.text,
            owner=staff[spec.owner],
            due_at=now + timedelta(hours=spec.due_in_hours),
            actor=staff["sam"],
        )
        if spec.outcome == "kept":
            commitment_keep(commitment=promise, actor=staff[spec.owner], reason="Done on time")
        elif spec.outcome == "waived":
            commitment_waive(
                commitment=promise, actor=staff["sam"], reason="The customer no longer needs it"
            )
    settled = _past_promises(staff=staff)
    check = commitments_check(now=now)
    _demo_agreements(
        shop=shop, served=[t.customer for t in served], sam=staff["sam"], today=now.date()
    )
    renewals = renewal_leads_create(today=now.date())
    team = Team.objects.filter(name=TEAM_NAMES[0]).first()
    asking = []
    # Those with the fewest orders: what others bought with theirs is still to suggest.
    for customer, (subject, text) in zip(reversed(shop[4:]), _INTENT_TICKETS, strict=False):
        asking.append(
            ticket_open(
                customer=customer,
                contact=_contact_for(customer),
                subject=subject,
                body_text=text,
                team=team,
                sent_at=now - timedelta(hours=3),
            )
        )
    _demo_leads(staff=staff, tickets=served[len(_PROMISES) :] + asking[:1], shop=shop)
    pairs = product_affinities_refresh()
    sales_schedule()
    return (
        f"Promises: {len(_PROMISES)} ({check.broken_overdue} broken by the check, "
        f"{check.flagged_due_soon} due soon), and {settled} settled before a ticket was "
        f"solved; agreements with {len(renewals)} renewal lead; "
        f"{Lead.objects.count()} leads; {len(asking)} customers asking to buy; "
        f"{pairs} product pairs bought together."
    )
