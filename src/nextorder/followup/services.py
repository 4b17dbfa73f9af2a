"""Every change of the follow-up record: surveys scheduled, sent and answered; referral
asks, referrals and their attribution; follow-up tasks opened and closed; the playbook
stopped for a customer or a customer unsubscribed. Each records its `core` event, so the
customer's timeline shows where they stand in the playbook.

Emails leave through a task enqueued inside the transaction (the database task backend
commits it with the change, core/dispatch.py) and are sent at least once, skipped when
the customer unsubscribed or was stopped in between.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from nextorder.core.models import Verb
from nextorder.core.roles import LEAD, SALES
from nextorder.core.services import event_build, event_record, events_record
from nextorder.crm.models import ContactEmail, Customer, Order
from nextorder.crm.services import normalise_email
from nextorder.followup.links import (
    LinkRefused,
    customer_id_from_unsubscribe_token,
    survey_id_from_token,
)
from nextorder.followup.mail import referral_ask_email, survey_email
from nextorder.followup.models import (
    CustomerFollowup,
    FollowupTask,
    Referral,
    ReferralAsk,
    Sending,
    Survey,
)
from nextorder.followup.selectors import (
    answered_surveys_to_follow,
    customers_to_nudge,
    promoter_filter,
    survey_period,
    surveys_needing_recovery,
    tickets_to_survey,
)
from nextorder.followup.timing import outside_quiet_hours
from nextorder.sales.models import Commitment

MAX_COMMENT_CHARS = 5000
_CUSTOMER_LABEL = "customer:survey"


def _followup_of(customer_id: int) -> CustomerFollowup:
    followup, _created = CustomerFollowup.objects.get_or_create(customer_id=customer_id)
    return followup


# Surveys


@transaction.atomic
def surveys_schedule(*, now: datetime | None = None) -> list[Survey]:
    """Survey the latest solved ticket of every customer the selection picks; each email
    waits for the quiet hours to end. A repeated run picks nobody twice: the selection
    skips surveyed tickets and customers, and (customer, period) is unique."""
    now = now or timezone.now()
    latest: dict[int, Any] = {}
    for row in (
        tickets_to_survey(now=now)
        .order_by("solved_at", "id")
        .values("id", "customer_id", "contact_id", "assignee_id")
    ):
        latest[row["customer_id"]] = row  # ascending: the last one kept is the latest
    if not latest:
        return []
    addresses: dict[int, str] = {}
    for contact_id, address in (
        ContactEmail.objects.filter(contact_id__in={row["contact_id"] for row in latest.values()})
        .order_by("is_primary", "-id")
        .values_list("contact_id", "address")
    ):
        addresses[contact_id] = address  # the primary (or first) address is written last
    send_after = outside_quiet_hours(now)
    surveys = Survey.objects.bulk_create(
        [
            Survey(
                ticket_id=row["id"],
                customer_id=customer_id,
                agent_id=row["assignee_id"],
                to_address=addresses[row["contact_id"]],
                period=survey_period(now),
                created_at=now,
                send_after=send_after,
            )
            for customer_id, row in latest.items()
        ]
    )
    events_record(
        events=[
            event_build(
                verb=Verb.SURVEY_SCHEDULED,
                subject=survey,
                actor_label="system:playbook",
                customer_id=survey.customer_id,
                after={"ticket": survey.ticket_id, "send_after": send_after.isoformat()},
                occurred_at=now,
            )
            for survey in surveys
        ]
    )
    from nextorder.followup.tasks import survey_deliver

    for survey in surveys:
        survey_deliver.using(run_after=send_after).enqueue(survey.pk)
    return surveys


def _send_once(
    *,
    model: type[Survey] | type[ReferralAsk],
    pk: int,
    build: Callable[[Any], EmailMultiAlternatives],
    verb: Verb,
) -> Any:
    """Send a queued email of the playbook once: a repeated task finds it sent (or
    skipped) and does nothing; an unsubscribed or stopped customer gets nothing. A
    failure leaves it queued for the task to try again, up to NEXTORDER_DELIVERY_ATTEMPTS."""
    row = model.objects.select_related("customer").get(pk=pk)
    if row.status != Sending.QUEUED:
        return row
    followup = CustomerFollowup.objects.filter(customer_id=row.customer_id).first()
    if followup is not None and not followup.emails_allowed:
        model.objects.filter(pk=pk, status=Sending.QUEUED).update(status=Sending.SKIPPED)
        row.refresh_from_db()
        return row
    try:
        build(row).send()
    except Exception as exc:  # any SMTP, network or backend error: try again later
        attempts = row.attempts + 1
        final = attempts >= settings.NEXTORDER_DELIVERY_ATTEMPTS
        model.objects.filter(pk=pk).update(
            status=Sending.FAILED if final else Sending.QUEUED,
            attempts=attempts,
            last_error=f"{type(exc).__name__}: {exc}"[:500],
        )
        row.refresh_from_db()
        return row
    with transaction.atomic():
        model.objects.filter(pk=pk).update(status=Sending.SENT, sent_at=timezone.now())
        event_record(
            verb=verb,
            subject=row,
            actor_label="system:mail",
            customer_id=row.customer_id,
            after={"to": row.to_address},
        )
    row.refresh_from_db()
    return row


def survey_send(*, survey_id: int) -> Survey:
    survey: Survey = _send_once(
        model=Survey,
        pk=survey_id,
        build=lambda survey: survey_email(
            Survey.objects.select_related("ticket").get(pk=survey.pk)
        ),
        verb=Verb.SURVEY_SENT,
    )
    return survey


def survey_for_link(*, token: str) -> Survey:
    """The unanswered survey a link opens, or LinkRefused saying why."""
    survey = (
        Survey.objects.select_related("ticket", "customer")
        .filter(pk=survey_id_from_token(token))
        .first()
    )
    if survey is None:
        raise LinkRefused("This survey no longer exists.", 404)
    if survey.answered_at is not None:
        raise LinkRefused(
            "This survey has been answered already; each link works once. Thank you!", 410
        )
    return survey


def _rating(value: int | None, *, low: int, high: int, name: str) -> int | None:
    if value is not None and not low <= value <= high:
        raise ValidationError(f"{name} is a number from {low} to {high}.")
    return value


@transaction.atomic
def survey_answer(*, token: str, csat: int | None, nps: int | None, comment: str = "") -> Survey:
    """Save the customer's answer once: a second submit, an expired or changed link
    records nothing. What follows (a recovery task, a referral ask) is a task of its own."""
    csat = _rating(csat, low=1, high=5, name="Satisfaction")
    nps = _rating(nps, low=0, high=10, name="Recommendation")
    comment = comment.replace("\x00", "").strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise ValidationError(f"Please keep it under {MAX_COMMENT_CHARS} characters.")
    if csat is None and nps is None and not comment:
        raise ValidationError("Choose a rating, or tell us in a few words.")
    survey = survey_for_link(token=token)
    now = timezone.now()
    saved = Survey.objects.filter(pk=survey.pk, answered_at__isnull=True).update(
        answered_at=now, csat=csat, nps=nps, comment=comment
    )
    if not saved:  # answered by another request since the check
        raise LinkRefused("This survey has been answered already. Thank you!", 410)
    survey.refresh_from_db()
    event_record(
        verb=Verb.SURVEY_ANSWERED,
        subject=survey,
        actor_label=_CUSTOMER_LABEL,
        customer_id=survey.customer_id,
        # "CSAT: none → 4" on the timeline: the answer's fields, from nothing.
        before={"csat": None, "nps": None},
        after={"csat": csat, "nps": nps, "ticket": survey.ticket_id, "standing": survey.standing},
        occurred_at=now,
    )
    return survey


# What answers lead to: recovery tasks for detractors, referral asks for promoters


def _recovery_title(survey: Survey) -> str:
    said = ", ".join(
        f"{name} {value}"
        for name, value in (("CSAT", survey.csat), ("NPS", survey.nps))
        if value is not None
    )
    return f"Call back: {said or 'unhappy'} on ticket #{survey.ticket_id}"


def _tasks_open(tasks: list[FollowupTask], *, now: datetime) -> list[FollowupTask]:
    FollowupTask.objects.bulk_create(tasks)
    events_record(
        events=[
            event_build(
                verb=Verb.FOLLOWUP_TASK_OPENED,
                subject=task,
                actor_label="system:playbook",
                customer_id=task.customer_id,
                after={"kind": task.kind, "title": task.title, "due_at": task.due_at.isoformat()},
                occurred_at=now,
            )
            for task in tasks
        ]
    )
    return tasks


@dataclass(frozen=True)
class AnswerFollowups:
    recovery_tasks: list[FollowupTask]
    referral_asks: list[ReferralAsk]


@transaction.atomic
def survey_answers_follow(
    *, now: datetime | None = None, survey_ids: list[int] | None = None
) -> AnswerFollowups:
    """Open a recovery task for every detractor's answer that has none (due within
    NEXTORDER_RECOVERY_DUE_HOURS, for a lead), and queue a referral ask for every
    promoter not asked this period. Run after each answer (for that survey) and by the
    nightly playbook (for all), which catches what a failed run left."""
    now = now or timezone.now()
    due = timedelta(hours=settings.NEXTORDER_RECOVERY_DUE_HOURS)
    detractors = surveys_needing_recovery(now=now)
    promoters = (
        answered_surveys_to_follow(now=now)
        .filter(promoter_filter())
        .exclude(
            Exists(
                ReferralAsk.objects.filter(
                    customer_id=OuterRef("customer_id"), period=OuterRef("period")
                )
            )
        )
        .exclude(
            Exists(
                CustomerFollowup.objects.filter(
                    customer_id=OuterRef("customer_id"), unsubscribed_at__isnull=False
                )
            )
        )
    )
    if survey_ids is not None:
        detractors, promoters = (
            detractors.filter(pk__in=survey_ids),
            promoters.filter(pk__in=survey_ids),
        )
    tasks = _tasks_open(
        [
            FollowupTask(
                kind=FollowupTask.Kind.RECOVERY,
                customer_id=survey.customer_id,
                period=f"survey:{survey.pk}",
                role=LEAD,
                title=_recovery_title(survey),
                survey=survey,
                due_at=(survey.answered_at or now) + due,
                created_at=now,
            )
            for survey in detractors
        ],
        now=now,
    )
    asks: dict[int, ReferralAsk] = {}
    for survey in promoters.order_by("answered_at"):
        asks.setdefault(
            survey.customer_id,
            ReferralAsk(
                customer_id=survey.customer_id,
                survey=survey,
                to_address=survey.to_address,
                period=survey.period,
                created_at=now,
            ),
        )
    created = ReferralAsk.objects.bulk_create(list(asks.values()))
    for ask in created:
        _referral_code(ask.customer_id)
    from nextorder.followup.tasks import referral_ask_deliver

    for ask in created:
        referral_ask_deliver.enqueue(ask.pk)
    return AnswerFollowups(recovery_tasks=tasks, referral_asks=created)


# What `_referral_code` makes (token_urlsafe); anything else is no code of ours, and
# is never taken to the database (PostgreSQL refuses a NUL in a text parameter).
REFERRAL_CODE = re.compile(r"[A-Za-z0-9_-]{1,16}")


def _referral_code(customer_id: int) -> str:
    followup = _followup_of(customer_id)
    if not followup.referral_code:
        followup.referral_code = secrets.token_urlsafe(6)  # 48 random bits, 8 characters
        followup.save(update_fields=["referral_code"])
    return followup.referral_code


def referral_ask_send(*, ask_id: int) -> ReferralAsk:
    ask: ReferralAsk = _send_once(
        model=ReferralAsk,
        pk=ask_id,
        build=lambda ask: referral_ask_email(ask, code=_referral_code(ask.customer_id)),
        verb=Verb.REFERRAL_ASK_SENT,
    )
    return ask


# Referrals


@transaction.atomic
def referral_register(*, code: str, email: str) -> Referral:
    """Someone opened a customer's referral link and left their address: when a customer
    with that address orders, the order counts for the referrer. A person is referred
    once; the first link counts."""
    referrer = (
        CustomerFollowup.objects.filter(referral_code=code).first()
        if REFERRAL_CODE.fullmatch(code)
        else None
    )
    if referrer is None:
        raise LinkRefused("This referral link is not valid: copy the whole link.", 404)
    address = normalise_email(email)
    referral, created = Referral.objects.get_or_create(
        email=address,
        defaults={"referrer_id": referrer.customer_id, "created_at": timezone.now()},
    )
    if created:
        event_record(
            verb=Verb.REFERRAL_REGISTERED,
            subject=referral,
            actor_label="customer:referred",
            customer_id=referrer.customer_id,
            after={"referral": referral.pk},
        )
    return referral


@transaction.atomic
def referrals_attribute(*, now: datetime | None = None) -> list[Referral]:
    """Give every open referral whose address now belongs to a customer that customer's
    first paid order since the referral; the referrer's sales rep is asked to thank them.
    Runs when orders are recorded or imported (a listener) and nightly; cheap when no
    referral is open."""
    now = now or timezone.now()
    open_referrals = list(Referral.objects.filter(order__isnull=True))
    if not open_referrals:
        return []
    owners = dict(
        ContactEmail.objects.filter(address__in=[r.email for r in open_referrals]).values_list(
            "address", "contact__customer_id"
        )
    )
    candidates = [
        r for r in open_referrals if r.email in owners and owners[r.email] != r.referrer_id
    ]
    attributed: list[Referral] = []
    for referral in candidates:
        order = (
            Order.objects.sales()
            .filter(customer_id=owners[referral.email], placed_at__gte=referral.created_at)
            .exclude(Exists(Referral.objects.filter(order_id=OuterRef("pk"))))
            .order_by("placed_at", "id")
            .first()
        )
        if order is None:
            continue
        referral.referred_customer_id, referral.order, referral.attributed_at = (
            order.customer_id,
            order,
            now,
        )
        referral.save(update_fields=["referred_customer", "order", "attributed_at"])
        attributed.append(referral)
    if not attributed:
        return []
    events_record(
        events=[
            event_build(
                verb=Verb.REFERRAL_ATTRIBUTED,
                subject=referral,
                actor_label="system:playbook",
                customer_id=referral.referrer_id,
                after={
                    "order": referral.order_id,
                    "referred_customer": referral.referred_customer_id,
                    "amount": str(referral.order.amount) if referral.order else None,
                },
                occurred_at=now,
            )
            for referral in attributed
        ]
    )
    _tasks_open(
        [
            FollowupTask(
                kind=FollowupTask.Kind.REFERRAL,
                customer_id=referral.referrer_id,
                period=f"referral:{referral.pk}",
                role=SALES,
                title=f"Thank for a referral: {referral.email} ordered",
                referral=referral,
                due_at=now + timedelta(days=2),
                created_at=now,
            )
            for referral in attributed
        ],
        now=now,
    )
    return attributed


# Next-order nudges, promise checks


@transaction.atomic
def nudges_open(*, now: datetime | None = None) -> list[FollowupTask]:
    """A task for sales for every customer whose next purchase is expected within
    NEXTORDER_NUDGE_DAYS_BEFORE days and who was not nudged since their last order."""
    now = now or timezone.now()
    picked = customers_to_nudge(now=now)
    if not picked:
        return []
    names = dict(Customer.objects.filter(pk__in=[pk for pk, _ in picked]).values_list("pk", "name"))
    return _tasks_open(
        [
            FollowupTask(
                kind=FollowupTask.Kind.NUDGE,
                customer_id=customer_id,
                period=f"{last_order_at:%Y-%m-%d}",
                role=SALES,
                title=f"Ask {names[customer_id]} for the next order",
                due_at=now + timedelta(days=settings.NEXTORDER_NUDGE_DAYS_BEFORE),
                created_at=now,
            )
            for customer_id, last_order_at in picked
        ],
        now=now,
    )


# Promises whose day came within this many days get their check after delivery.
PROMISE_CHECK_DAYS = 14
_DELIVERED_PROMISES = (
    Commitment.Kind.DELIVER_BY,
    Commitment.Kind.INSTALL_BY,
    Commitment.Kind.REPLACEMENT_PART,
    Commitment.Kind.TRAINING,
)


@transaction.atomic
def promise_checks_open(*, now: datetime | None = None) -> list[FollowupTask]:
    """The promise check after delivery: did what was agreed at the sale happen? One
    task for sales per order whose delivery promises (`sales.Commitment`) came due in
    the last PROMISE_CHECK_DAYS days, kept or not (a broken one is the first to check);
    once per order, however often the playbook runs."""
    now = now or timezone.now()
    due = (
        Commitment.objects.filter(
            kind__in=_DELIVERED_PROMISES,
            order__isnull=False,
            due_at__lte=now,
            due_at__gt=now - timedelta(days=PROMISE_CHECK_DAYS),
        )
        .exclude(state=Commitment.State.WAIVED)
        .select_related("customer", "order")
        .order_by("order_id", "due_at")
    )
    checked = set(
        FollowupTask.objects.filter(kind=FollowupTask.Kind.PROMISE_CHECK).values_list(
            "customer_id", "period"
        )
    )
    tasks: dict[str, FollowupTask] = {}
    for promise in due:
        assert promise.order is not None
        period = f"order:{promise.order_id}"
        if (promise.customer_id, period) in checked or period in tasks:
            continue
        tasks[period] = FollowupTask(
            kind=FollowupTask.Kind.PROMISE_CHECK,
            customer_id=promise.customer_id,
            period=period,
            role=SALES,
            title=(
                f"Check with {promise.customer.name} that order {promise.order.reference} "
                f"went as promised ({promise.get_kind_display().lower()} "
                f"{promise.due_at:%-d %b}: {promise.get_state_display().lower()})"
            )[:300],
            due_at=now + timedelta(days=1),
            created_at=now,
        )
    return _tasks_open(list(tasks.values()), now=now) if tasks else []


# Tasks, stopping, unsubscribing


@transaction.atomic
def followup_task_close(
    *, task: FollowupTask, actor: User, state: str, note: str = ""
) -> FollowupTask:
    """Mark a task done or dismissed; a closed task stays closed."""
    if state not in (FollowupTask.State.DONE, FollowupTask.State.DISMISSED):
        raise ValidationError("A task is closed as done or dismissed.")
    note = note.replace("\x00", "").strip()
    if len(note) > 1000:
        raise ValidationError("Keep the note under 1,000 characters.")
    now = timezone.now()
    closed = FollowupTask.objects.filter(pk=task.pk, state=FollowupTask.State.OPEN).update(
        state=state, closed_at=now, closed_by=actor, note=note
    )
    if not closed:
        raise ValidationError("This task was closed already.")
    event_record(
        verb=Verb.FOLLOWUP_TASK_CLOSED,
        subject=task,
        actor=actor,
        customer_id=task.customer_id,
        before={"state": FollowupTask.State.OPEN.value},
        after={"state": state, "kind": task.kind, **({"note": note} if note else {})},
    )
    task.refresh_from_db()
    return task


@transaction.atomic
def followup_task_take(*, task: FollowupTask, actor: User) -> FollowupTask:
    """Make an open task the actor's: theirs to do, and no one else's unless taken over
    (the event keeps whose it was)."""
    current = FollowupTask.objects.select_for_update().get(pk=task.pk)
    if current.state != FollowupTask.State.OPEN:
        raise ValidationError("This task was closed already.")
    if current.owner_id == actor.pk:
        return current
    before = current.owner_id
    current.owner = actor
    current.save(update_fields=["owner"])
    event_record(
        verb=Verb.FOLLOWUP_TASK_TAKEN,
        subject=current,
        actor=actor,
        customer_id=current.customer_id,
        before={"owner": before},
        after={"owner": actor.pk, "kind": current.kind},
    )
    return current


@transaction.atomic
def playbook_stop(*, customer: Customer, actor: User) -> CustomerFollowup:
    """No more follow-up email or task for this customer until resumed."""
    followup = _followup_of(customer.pk)
    if followup.stopped_at is None:
        followup.stopped_at, followup.stopped_by = timezone.now(), actor
        followup.save(update_fields=["stopped_at", "stopped_by"])
        event_record(
            verb=Verb.PLAYBOOK_STOPPED, subject=customer, actor=actor, customer_id=customer.pk
        )
    return followup


@transaction.atomic
def playbook_resume(*, customer: Customer, actor: User) -> CustomerFollowup:
    followup = _followup_of(customer.pk)
    if followup.stopped_at is not None:
        followup.stopped_at, followup.stopped_by = None, None
        followup.save(update_fields=["stopped_at", "stopped_by"])
        event_record(
            verb=Verb.PLAYBOOK_RESUMED, subject=customer, actor=actor, customer_id=customer.pk
        )
    return followup


@transaction.atomic
def emails_unsubscribe(*, token: str) -> CustomerFollowup:
    """The customer of a signed unsubscribe link gets no more follow-up email."""
    customer = Customer.objects.filter(pk=customer_id_from_unsubscribe_token(token)).first()
    if customer is None:
        raise LinkRefused("This unsubscribe link is for a customer we no longer have.", 404)
    followup = _followup_of(customer.pk)
    if followup.unsubscribed_at is None:
        followup.unsubscribed_at = timezone.now()
        followup.save(update_fields=["unsubscribed_at"])
        event_record(
            verb=Verb.EMAILS_UNSUBSCRIBED,
            subject=customer,
            actor_label="customer:unsubscribe",
            customer_id=customer.pk,
        )
    return followup


# The nightly run


@dataclass(frozen=True)
class PlaybookRun:
    surveys: int
    recovery_tasks: int
    referral_asks: int
    nudges: int
    referrals_attributed: int
    promise_checks: int

    def as_dict(self) -> dict[str, int]:
        return {field: getattr(self, field) for field in self.__dataclass_fields__}


def playbook_run(*, now: datetime | None = None) -> PlaybookRun:
    """Every step of the playbook once, each in its own transaction and idempotent."""
    now = now or timezone.now()
    surveys = surveys_schedule(now=now)
    followups = survey_answers_follow(now=now)
    nudges = nudges_open(now=now)
    referrals = referrals_attribute(now=now)
    promise_checks = promise_checks_open(now=now)
    return PlaybookRun(
        surveys=len(surveys),
        recovery_tasks=len(followups.recovery_tasks),
        referral_asks=len(followups.referral_asks),
        nudges=len(nudges),
        referrals_attributed=len(referrals),
        promise_checks=len(promise_checks),
    )
