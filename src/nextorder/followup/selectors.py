"""Reads of the follow-up record: who the playbook picks tonight, the tasks list, and a
customer's standing in the playbook.

The nightly picks are set-based (one statement each, anti-joins instead of a loop over
customers), so they cost what the base costs to scan once: see benchmarks/bench_playbook.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.dateparse import parse_datetime

from nextorder.crm.models import ContactEmail, Customer
from nextorder.desk.models import Ticket
from nextorder.followup.models import CustomerFollowup, FollowupTask, Survey

# A ticket solved longer ago than this past the survey delay is not surveyed: the
# customer has moved on, and the index range read each night stays short.
SURVEY_LOOKBACK = timedelta(days=7)
# Scored customers expected to buy less than this in 90 days are left to the at-risk list.
_MIN_EXPECTED_ORDERS_90D = 0.05


def _stopped(*, or_unsubscribed: bool) -> Exists:
    """Staff stopped the playbook for the customer (no email, no task), or, for what is
    emailed, the customer asked for no more email (a person may still call them)."""
    held = Q(stopped_at__isnull=False)
    if or_unsubscribed:
        held |= Q(unsubscribed_at__isnull=False)
    return Exists(CustomerFollowup.objects.filter(customer_id=OuterRef("customer_id")).filter(held))


def survey_period(when: datetime) -> int:
    """The NEXTORDER_SURVEY_PERIOD_DAYS-long stretch of the calendar `when` falls in."""
    return int(when.timestamp() // (settings.NEXTORDER_SURVEY_PERIOD_DAYS * 86400))


def tickets_to_survey(*, now: datetime) -> QuerySet[Ticket]:
    """Solved tickets past the survey delay, not surveyed, of customers who can be
    emailed and had no survey in the last period (one customer may appear with several
    tickets: the caller keeps their latest)."""
    due = now - timedelta(hours=settings.NEXTORDER_SURVEY_DELAY_HOURS)
    recent = now - timedelta(days=settings.NEXTORDER_SURVEY_PERIOD_DAYS)
    return (
        Ticket.objects.filter(
            solved_at__lte=due,
            solved_at__gt=due - SURVEY_LOOKBACK,
            status__in=[Ticket.Status.SOLVED, Ticket.Status.CLOSED],
            contact__isnull=False,
        )
        .exclude(Exists(Survey.objects.filter(ticket_id=OuterRef("pk"))))
        .exclude(
            Exists(
                Survey.objects.filter(customer_id=OuterRef("customer_id"), created_at__gt=recent)
            )
        )
        .exclude(_stopped(or_unsubscribed=True))
        .filter(Exists(ContactEmail.objects.filter(contact_id=OuterRef("contact_id"))))
    )


def answered_surveys_to_follow(*, now: datetime) -> QuerySet[Survey]:
    """Surveys answered in the last period whose customer the playbook may still act on;
    which of them need a recovery task or a referral ask is the caller's anti-join."""
    recent = now - timedelta(days=settings.NEXTORDER_SURVEY_PERIOD_DAYS)
    return Survey.objects.filter(answered_at__gt=recent).exclude(_stopped(or_unsubscribed=False))


def detractor_filter() -> Q:
    return Q(nps__lte=6) | Q(csat__in=(1, 2))


def promoter_filter() -> Q:
    return (Q(nps__gte=9) | Q(csat=5)) & ~detractor_filter()


def surveys_needing_recovery(*, now: datetime) -> QuerySet[Survey]:
    return (
        answered_surveys_to_follow(now=now)
        .filter(detractor_filter())
        .exclude(
            Exists(
                FollowupTask.objects.filter(
                    survey_id=OuterRef("pk"), kind=FollowupTask.Kind.RECOVERY
                )
            )
        )
    )


def _days(column: str) -> str:
    """A timestamp column as days since 1970 (a float), on either database."""
    if connection.vendor == "postgresql":
        return f"(extract(epoch from {column}) / 86400.0)"
    return f"(julianday({column}) - 2440587.5)"


def customers_to_nudge(*, now: datetime) -> list[tuple[int, datetime]]:
    """(customer id, last order) of those whose expected next purchase falls within the
    next NEXTORDER_NUDGE_DAYS_BEFORE days and who have no nudge since their last order.

    The expected next purchase is the last order plus the customer's interval between
    orders: from the value model when the customer is scored (90 days over the orders
    it expects in them, which already weighs in that they may have left), else their
    own mean interval (first to last order over the orders between).
    """
    expected = (
        f"CASE WHEN c.scored_at IS NOT NULL AND c.expected_orders_90d >= %s "
        f"THEN {_days('c.last_order_at')} + 90.0 / c.expected_orders_90d "
        f"WHEN c.scored_at IS NULL AND c.order_count >= 2 "
        f"THEN {_days('c.last_order_at')} + ({_days('c.last_order_at')} - "
        f"{_days('c.first_order_at')}) / (c.order_count - 1) END"
    )
    today = now.timestamp() / 86400.0
    sql = f"""
        SELECT c.id, c.last_order_at FROM crm_customer c
        WHERE c.order_count >= 1 AND ({expected}) BETWEEN %s AND %s
        AND NOT EXISTS (
            SELECT 1 FROM followup_customerfollowup f
            WHERE f.customer_id = c.id AND f.stopped_at IS NOT NULL)
        AND NOT EXISTS (
            SELECT 1 FROM followup_followuptask t
            WHERE t.customer_id = c.id AND t.kind = %s AND t.created_at > c.last_order_at)
    """
    params: list[float | str] = [
        _MIN_EXPECTED_ORDERS_90D,
        today,
        today + settings.NEXTORDER_NUDGE_DAYS_BEFORE,
        FollowupTask.Kind.NUDGE.value,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], _aware(row[1])) for row in cursor.fetchall()]


def _aware(value: datetime | str) -> datetime:
    """A raw cursor on SQLite returns UTC as text; PostgreSQL an aware datetime."""
    parsed = parse_datetime(value) if isinstance(value, str) else value
    if parsed is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TaskFilters:
    kind: str = ""
    state: str = FollowupTask.State.OPEN
    # Whose: "" anyone's, "me" the viewer's, "nobody" not taken yet.
    owner: str = ""


def followup_tasks(
    *, filters: TaskFilters, user: User | None = None, limit: int = 200
) -> QuerySet[FollowupTask]:
    tasks = FollowupTask.objects.filter(state=filters.state).select_related(
        "customer", "survey", "survey__ticket", "referral", "closed_by", "owner"
    )
    if filters.kind:
        tasks = tasks.filter(kind=filters.kind)
    if filters.owner == "me" and user is not None:
        tasks = tasks.filter(owner=user)
    elif filters.owner == "nobody":
        tasks = tasks.filter(owner__isnull=True)
    order = ("due_at", "id") if filters.state == FollowupTask.State.OPEN else ("-closed_at", "-id")
    return tasks.order_by(*order)[:limit]


@dataclass(frozen=True)
class CustomerStanding:
    """Where one customer stands in the playbook, for the ticket panel and customer page."""

    surveys: list[Survey]
    open_tasks: list[FollowupTask]
    followup: CustomerFollowup | None
    referrals_made: int
    referrals_ordered: int

    @property
    def stopped(self) -> bool:
        return self.followup is not None and self.followup.stopped_at is not None

    @property
    def unsubscribed(self) -> bool:
        return self.followup is not None and self.followup.unsubscribed_at is not None


def customer_standing(*, customer: Customer, surveys: int = 3) -> CustomerStanding:
    referrals = customer.referrals_made.all()
    return CustomerStanding(
        surveys=list(
            customer.surveys.select_related("ticket", "agent").order_by("-created_at", "-id")[
                :surveys
            ]
        ),
        open_tasks=list(customer.followup_tasks.filter(state=FollowupTask.State.OPEN)),
        followup=CustomerFollowup.objects.filter(customer=customer).first(),
        referrals_made=referrals.count(),
        referrals_ordered=referrals.filter(order__isnull=False).count(),
    )
