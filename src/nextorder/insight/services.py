"""State changes that start from customer value: scoring customers, recording model fits,
and follow-ups with customers at risk."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from nextorder.core.bulk import (
    PhaseProgress,
    StagingColumn,
    no_phase_progress,
    staging_table_drop,
    staging_table_load,
)
from nextorder.core.models import Verb
from nextorder.core.services import event_record, staff_actor
from nextorder.crm.models import Customer
from nextorder.desk.models import Ticket
from nextorder.desk.services import (
    priority_calibrate,
    ticket_open,
    ticket_update,
    tickets_refresh_value_at_risk,
)
from nextorder.insight.models import RosterShift, ValueModelFit
from nextorder.insight.selectors import (
    daily_purchase_counts_from_database,
    rfm_summary_from_database,
)
from nextorder.insight.valuation import (
    PURCHASE_MODELS,
    PurchaseModel,
    customer_scores,
    fit_report,
    fit_value_models,
)

_SCORES_TABLE = "nextorder_score_staging"
_SCORE_COLUMNS = (
    StagingColumn("customer_id", "bigint", "integer"),
    StagingColumn("clv_12m", "numeric(14, 2)", "decimal"),
    StagingColumn("p_alive", "double precision", "real"),
    StagingColumn("expected_orders_90d", "double precision", "real"),
    StagingColumn("value_at_risk", "numeric(14, 2)", "decimal"),
    StagingColumn("value_reason", "varchar(300)", "text"),
)


def purchase_model() -> PurchaseModel:
    """The model scores come from, as NEXTORDER_PURCHASE_MODEL names it."""
    chosen = settings.NEXTORDER_PURCHASE_MODEL
    for model in PURCHASE_MODELS:
        if model == chosen:
            return model
    raise ImproperlyConfigured(
        f"NEXTORDER_PURCHASE_MODEL={chosen!r}: use one of {', '.join(PURCHASE_MODELS)}"
    )


@dataclass(frozen=True)
class ScoringRun:
    fit: ValueModelFit
    customers_scored: int
    tickets_refreshed: int


def customers_score(
    *,
    as_of: date | None = None,
    actor: User | None = None,
    progress: PhaseProgress = no_phase_progress,
) -> ScoringRun:
    """Fit BG/NBD and Gamma-Gamma on every order up to `as_of` (default today) and write
    each customer's scores, then copy the new value at risk onto their active tickets.

    The previous P(alive) is kept beside the new one so that a falling P(alive) shows.
    Raises `valuation.NotEnoughHistory` when the orders cannot support a fit.
    """
    started = time.perf_counter()
    as_of = as_of or timezone.localdate()
    progress("summary", 0, 1)
    summary = rfm_summary_from_database(calibration_end=as_of)
    progress("summary", 1, 1)
    progress("fit", 0, 1)
    model = purchase_model()
    fits = fit_value_models(summary=summary, with_pareto=model == "pareto_nbd")
    scores = summary.select("customer_id").hstack(
        customer_scores(
            fits=fits,
            summary=summary,
            purchase_model=model,
            monthly_discount_rate=settings.NEXTORDER_CLV_MONTHLY_DISCOUNT_RATE,
        )
    )
    progress("fit", 1, 1)
    report = {
        **fit_report(fits=fits, summary=summary, calibration_end=as_of, source="database"),
        "scoring_model": model,
    }
    now = timezone.now()
    with transaction.atomic():
        staging_table_load(
            table=_SCORES_TABLE,
            columns=_SCORE_COLUMNS,
            frame=scores,
            progress=lambda done, total: progress("scores", done, total),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE crm_customer SET
                    p_alive_previous = crm_customer.p_alive,
                    p_alive = s.p_alive,
                    clv_12m = s.clv_12m,
                    expected_orders_90d = s.expected_orders_90d,
                    value_at_risk = s.value_at_risk,
                    value_reason = COALESCE(s.value_reason, ''),
                    scored_at = %s
                FROM {_SCORES_TABLE} AS s
                WHERE crm_customer.id = s.customer_id
                """,
                [connection.ops.adapt_datetimefield_value(now)],
            )
            scored = cursor.rowcount
        tickets = tickets_refresh_value_at_risk(
            customer_ids_sql=f"SELECT customer_id FROM {_SCORES_TABLE}"
        )
        priority_calibrate()
        staging_table_drop(table=_SCORES_TABLE)
        fit = ValueModelFit.objects.create(
            purpose=ValueModelFit.Purpose.SCORING,
            fitted_at=now,
            fitted_by=staff_actor(actor),
            source="database",
            calibration_end=as_of,
            customers=summary.height,
            customers_scored=scored,
            seconds=time.perf_counter() - started,
            report=report,
        )
        event_record(
            verb=Verb.CUSTOMERS_SCORED,
            subject=fit,
            actor=actor,
            actor_label="" if staff_actor(actor) else "system:scoring",
            after={"as_of": as_of.isoformat(), "customers": scored, "tickets": tickets},
        )
    return ScoringRun(fit=fit, customers_scored=scored, tickets_refreshed=tickets)


def value_models_fit(
    *,
    calibration_end: date,
    holdout_end: date | None = None,
    with_pareto: bool = True,
    penalizer: float = 0.0,
    actor: User | None = None,
    progress: PhaseProgress = no_phase_progress,
) -> ValueModelFit:
    """Fit the models on the database's orders up to `calibration_end` and, with a
    hold-out end, check their predictions against what customers bought after it.

    Recorded (not scored) so that the console shows the latest check.
    """
    started = time.perf_counter()
    progress("summary", 0, 1)
    summary = rfm_summary_from_database(calibration_end=calibration_end, holdout_end=holdout_end)
    daily_counts = (
        daily_purchase_counts_from_database(
            calibration_end=calibration_end, holdout_end=holdout_end
        )
        if holdout_end
        else None
    )
    progress("summary", 1, 1)
    progress("fit", 0, 1)
    fits = fit_value_models(summary=summary, with_pareto=with_pareto, penalizer=penalizer)
    report = fit_report(
        fits=fits,
        summary=summary,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        daily_counts=daily_counts,
        source="database",
    )
    progress("fit", 1, 1)
    with transaction.atomic():
        fit = ValueModelFit.objects.create(
            purpose=ValueModelFit.Purpose.FIT,
            fitted_at=timezone.now(),
            fitted_by=staff_actor(actor),
            source="database",
            calibration_end=calibration_end,
            holdout_end=holdout_end,
            customers=summary.height,
            seconds=time.perf_counter() - started,
            report=report,
        )
        event_record(
            verb=Verb.VALUE_MODEL_FITTED,
            subject=fit,
            actor=actor,
            actor_label="" if staff_actor(actor) else "system:scoring",
            after={
                "calibration_end": calibration_end.isoformat(),
                "holdout_end": holdout_end.isoformat() if holdout_end else None,
                "customers": summary.height,
            },
        )
    return fit


@dataclass(frozen=True)
class FollowUp:
    ticket: Ticket
    opened: bool  # False: the customer's open follow-up, which was there already


@transaction.atomic
def customer_follow_up_open(*, customer: Customer, actor: User, note: str = "") -> FollowUp:
    """A ticket assigned to the one who opened it (when their role works tickets),
    carrying why the customer is at risk as an internal note (value figures are never for
    the customer's eyes), so the follow-up sits in their queue and on the timeline.

    One open follow-up per customer: a second click, or a colleague's, finds the first
    (the customer's row is locked meanwhile, so two at once cannot both open one).
    """
    Customer.objects.select_for_update().filter(pk=customer.pk).exists()
    already = (
        customer.tickets.filter(channel=Ticket.Channel.AGENT, status__in=Ticket.ACTIVE_STATUSES)
        .order_by("-created_at", "-id")
        .first()
    )
    if already is not None:
        return FollowUp(ticket=already, opened=False)
    facts = [
        f"Value at risk: {customer.value_at_risk:,.2f}"
        if customer.value_at_risk is not None
        else "",
        f"P(alive): {customer.p_alive:.0%}" if customer.p_alive is not None else "",
        customer.value_reason,
        note.strip(),
    ]
    ticket = ticket_open(
        customer=customer,
        contact=customer.contacts.first(),
        # The subject is what the customer reads when an agent writes to them: why they
        # are followed up stays in the note.
        subject=f"How are things going, {customer.name}?",
        # A customer not scored yet, followed up without a note, still gets a first line.
        body_text="\n".join(fact for fact in facts if fact) or "Follow-up (not scored yet).",
        channel=Ticket.Channel.AGENT,
        priority=Ticket.Priority.HIGH,
        actor=actor,
        internal=True,
    )
    if actor.has_perm("desk.change_ticket"):
        # A sales user cannot work tickets: theirs waits in the queue for an agent.
        ticket_update(ticket=ticket, actor=actor, expected_version=ticket.version, assignee=actor)
    return FollowUp(ticket=ticket, opened=True)


@transaction.atomic
def roster_shift_save(*, shift: RosterShift, actor: User | None) -> RosterShift:
    """Create or change one roster shift, checked, with the change in the audit log."""
    before = {} if shift.pk is None else _roster_fields(RosterShift.objects.get(pk=shift.pk))
    shift.full_clean()
    shift.save()
    event_record(
        verb=Verb.ROSTER_CHANGED,
        subject=shift,
        actor=actor,
        before=before,
        after=_roster_fields(shift),
    )
    return shift


@transaction.atomic
def roster_shift_delete(*, shift: RosterShift, actor: User | None) -> None:
    event_record(verb=Verb.ROSTER_CHANGED, subject=shift, actor=actor, before=_roster_fields(shift))
    shift.delete()


def _roster_fields(shift: RosterShift) -> dict[str, object]:
    return {
        "team": shift.team_id,
        "weekday": shift.weekday,
        "starts_at": shift.starts_at.isoformat(timespec="minutes"),
        "ends_at": shift.ends_at.isoformat(timespec="minutes"),
        "agents": shift.agents,
    }
