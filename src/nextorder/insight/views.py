"""Value and retention pages for leads, sales and managers: thin, as everywhere."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from nextorder.core import charts, params
from nextorder.crm.models import Customer
from nextorder.crm.selectors import customer_value
from nextorder.insight.models import ValueModelFit
from nextorder.insight.selectors import (
    PROBABLY_GONE_BELOW,
    AtRiskFilters,
    AtRiskStage,
    BucketMonth,
    Cohort,
    StaffingTarget,
    acquisition_cohorts,
    customer_value_totals,
    customers_at_risk,
    customers_at_risk_count,
    latest_value_fit,
    leaky_bucket,
    staffing_plan,
)
from nextorder.insight.services import customer_follow_up_open
from nextorder.insight.valuation import MODEL_LABELS, holdout_charts, unconverged_models

RETENTION_OFFSETS = 13  # months 0..12 after acquisition
COHORT_LINES = 5  # the most recent cohorts drawn one by one, beside the average


class FollowUpForm(forms.Form):
    # Django's CharField refuses NUL characters; the note is bounded like any message.
    note = forms.CharField(required=False, max_length=5000)


@login_required
@permission_required("crm.view_customer_value", raise_exception=True)
def at_risk(request: HttpRequest) -> HttpResponse:
    return _at_risk_page(request)


AT_RISK_PAGE_SIZE = 100


def _at_risk_filters(request: HttpRequest) -> AtRiskFilters:
    stage = next((s for s in AtRiskStage if s.value == request.GET.get("stage")), None)
    return AtRiskFilters(
        min_value_at_risk=float(params.amount(request.GET.get("min_value")) or 0),
        stage=stage or AtRiskStage.REACHABLE,
        falling_only=request.GET.get("falling") == "1",
        with_open_tickets_only=request.GET.get("open_tickets") == "1",
        with_unkept_promises_only=request.GET.get("unkept_promises") == "1",
    )


def _at_risk_page(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    filters = _at_risk_filters(request)
    typed = (request.GET.get("min_value") or "").strip()
    if typed and params.amount(typed) is None and not error:
        error = f"{typed[:40]!r} is not an amount: showing every value at risk."
    total = customers_at_risk_count(filters=filters)
    pages = max((total + AT_RISK_PAGE_SIZE - 1) // AT_RISK_PAGE_SIZE, 1)
    # Past the last page is the last page (the list shrank since the link was made).
    page = min(params.integer(request.GET.get("page"), minimum=1, maximum=10**6) or 1, pages)
    offset = (page - 1) * AT_RISK_PAGE_SIZE
    customers = customers_at_risk(filters=filters, limit=AT_RISK_PAGE_SIZE, offset=offset)
    query = request.GET.copy()
    query.pop("page", None)

    def page_link(number: int) -> str:
        query["page"] = str(number)
        return query.urlencode()

    return render(
        request,
        "insight/at_risk.html",
        {
            "rows": [(customer, customer_value(customer=customer)) for customer in customers],
            "total": total,
            "first_shown": offset + 1 if customers else 0,
            "last_shown": offset + len(customers),
            "previous_page": page_link(page - 1) if page > 1 else "",
            "next_page": page_link(page + 1) if page < pages else "",
            "download_query": request.GET.urlencode(),
            "currency": settings.NEXTORDER_CURRENCY,
            "filters": filters,
            "error": error,
            "stages": [
                (
                    AtRiskStage.REACHABLE,
                    f"Still reachable ({PROBABLY_GONE_BELOW:.0%}+ likely buying)",
                ),
                (AtRiskStage.GONE, f"Probably gone (under {PROBABLY_GONE_BELOW:.0%}): win back"),
                (AtRiskStage.ALL, "Everyone"),
            ],
        },
        status=status,
    )


@login_required
@permission_required("crm.view_customer_value", raise_exception=True)
def at_risk_csv(request: HttpRequest) -> HttpResponse:
    """Every customer the at-risk filters match, not only the page on screen."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="nextorder-customers-at-risk.csv"'
    writer = csv.writer(response)
    currency = settings.NEXTORDER_CURRENCY
    writer.writerow(
        [
            "customer_id",
            "name",
            f"value_at_risk_{currency}",
            "chance_still_buying",
            f"worth_now_{currency}",
            "orders",
            "last_order",
            "open_tickets",
            "next_step",
            "why",
        ]
    )
    for customer in customers_at_risk(filters=_at_risk_filters(request), limit=None):
        value = customer_value(customer=customer)
        writer.writerow(
            [
                customer.pk,
                customer.name,
                customer.value_at_risk,
                f"{value.chance:.4f}" if value else "",
                value.now if value else "",
                customer.order_count,
                customer.last_order_at.date().isoformat() if customer.last_order_at else "",
                customer.open_tickets,  # type: ignore[attr-defined]
                value.step if value else "",
                customer.value_reason,
            ]
        )
    return response


@require_POST
@login_required
@permission_required(["crm.view_customer_value", "desk.add_ticket"], raise_exception=True)
def follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    """Those who see the at-risk list (leads, sales, managers) open follow-ups from it."""
    customer = get_object_or_404(Customer, pk=pk)
    form = FollowUpForm(request.POST)
    if not form.is_valid():
        reason = " ".join(str(error) for error in form.errors["note"])
        return _at_risk_page(request, error=reason, status=400)
    follow_up = customer_follow_up_open(
        customer=customer,
        actor=request.user,  # type: ignore[arg-type]
        note=form.cleaned_data["note"],
    )
    ticket = follow_up.ticket
    whose = "assigned to you" if ticket.assignee_id == request.user.pk else "in the queue"
    if follow_up.opened:
        messages.success(request, f"Follow-up #{ticket.pk} opened, {whose}.")
    else:
        messages.info(request, f"{customer.name} has a follow-up open already: #{ticket.pk}.")
    return redirect("desk:ticket", pk=ticket.pk)


def _inactive_months(request: HttpRequest) -> int:
    """Months without an order after which a customer counts as lost: 1 to 36, else 6."""
    return params.integer(request.GET.get("inactive_months"), minimum=1, maximum=36) or 6


@login_required
@permission_required("crm.view_customer_value", raise_exception=True)
def retention(request: HttpRequest) -> HttpResponse:
    cohorts = acquisition_cohorts()
    inactive_months = _inactive_months(request)
    bucket = leaky_bucket(inactive_months=inactive_months, until=timezone.localdate())
    offsets = list(range(RETENTION_OFFSETS))
    matrix = [
        (
            cohort,
            [cohort.retention(k) for k in offsets],
            [next((c.revenue for c in cohort.cells if c.offset == k), None) for k in offsets],
        )
        for cohort in cohorts
    ]
    return render(
        request,
        "insight/retention.html",
        {
            "matrix": matrix,
            "offsets": offsets,
            "bucket": bucket,
            "inactive_months": inactive_months,
            **_retention_charts(cohorts=cohorts, bucket=bucket),
        },
    )


def _retention_charts(*, cohorts: list[Cohort], bucket: list[BucketMonth]) -> dict[str, str]:
    """The retention curves (the size-weighted average over cohorts, and the latest
    cohorts with three months behind them), customers won against lost, and revenue from
    first against repeat orders."""
    if not cohorts:
        return {}
    curves: dict[str, list[tuple[float, float]]] = {}
    average = []
    for offset in range(1, RETENTION_OFFSETS):
        seen = [c for c in cohorts if c.cells[-1].offset >= offset]
        if seen:
            retained = sum((c.retention(offset) or 0.0) * c.size for c in seen)
            average.append((float(offset), 100 * retained / sum(c.size for c in seen)))
    curves["All cohorts"] = average
    for cohort in [c for c in cohorts if c.cells[-1].offset >= 3][-COHORT_LINES:]:
        curves[f"{cohort.start:%b %Y}"] = [
            (float(offset), 100 * (cohort.retention(offset) or 0.0))
            for offset in range(1, min(RETENTION_OFFSETS, cohort.cells[-1].offset + 1))
        ]
    months = [f"{m.month:%b %y}" for m in bucket]
    return {
        "cohort_chart": charts.line_chart_svg(
            series=curves,
            title="Customers who ordered again, by months since their first order",
            x_label="months since the first order",
            y_label="% of the cohort",
            width=760,
        ),
        "bucket_chart": charts.bar_chart_svg(
            categories=months,
            series={
                "Won": [float(m.gained) for m in bucket],
                "Lost": [float(m.lost) for m in bucket],
            },
            title="Customers won and lost each month",
            x_label="month",
            y_label="customers",
            width=760,
        ),
        "revenue_chart": charts.bar_chart_svg(
            categories=months,
            series={
                "First orders": [m.first_order_revenue for m in bucket],
                "Repeat orders": [m.repeat_revenue for m in bucket],
            },
            title="Revenue from first orders and repeat orders",
            x_label="month",
            y_label="revenue",
            width=760,
            # Repeat revenue is the kept customers': green, not the red of "lost".
            colours=(charts.BLUE, charts.GREEN),
        ),
    }


@login_required
@permission_required("crm.view_customer_value", raise_exception=True)
def value_model(request: HttpRequest) -> HttpResponse:
    """The model behind the scores: its parameters, and how well it predicted a hold-out."""
    scoring = latest_value_fit(purpose=ValueModelFit.Purpose.SCORING)
    check = latest_value_fit(purpose=ValueModelFit.Purpose.FIT, with_holdout=True)
    return render(
        request,
        "insight/value_model.html",
        {
            "totals": customer_value_totals(),
            "scoring": scoring,
            "scoring_models": _model_rows(scoring.report) if scoring else [],
            "scoring_unconverged": unconverged_models(report=scoring.report) if scoring else [],
            "scoring_model": (
                MODEL_LABELS.get(scoring.report.get("scoring_model", "bgnbd")) if scoring else None
            ),
            "check": check,
            "check_models": _model_rows(check.report) if check else [],
            "check_charts": holdout_charts(report=check.report) if check else {},
            "holdout_weeks": settings.NEXTORDER_HOLDOUT_WEEKS,
        },
    )


@dataclass(frozen=True)
class _ModelRow:
    label: str
    log_likelihood: float | None
    parameters: list[tuple[str, float | None, float | None]]  # name, estimate, std. error
    holdout: dict[str, Any] | None


def _model_rows(report: dict[str, Any]) -> list[_ModelRow]:
    """A fit report's models as rows for a table, in the order they are discussed."""
    checks = report.get("holdout") or {}
    errors = report["standard_errors"]
    rows = [
        _ModelRow(
            "BG/NBD (purchases)",
            report["log_likelihood"]["bgnbd"],
            [(name, report[name], errors.get(name)) for name in ("r", "alpha", "a", "b")],
            checks.get("bgnbd"),
        ),
        _ModelRow(
            "Gamma-Gamma (spend)",
            report["log_likelihood"]["gamma_gamma"],
            [(name, report[name], errors.get(name)) for name in ("p", "q", "gamma")],
            None,
        ),
    ]
    if pareto := report.get("pareto_nbd"):
        rows.append(
            _ModelRow(
                "Pareto/NBD (purchases, for comparison)",
                report["log_likelihood"]["pareto_nbd"],
                [
                    (name, pareto[name], pareto["standard_errors"].get(name))
                    for name in ("r", "alpha", "s", "beta")
                ],
                checks.get("pareto_nbd"),
            )
        )
    return rows


@login_required
@permission_required("crm.view_customer_value", raise_exception=True)
def retention_csv(request: HttpRequest, table: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="nextorder-{table}.csv"'
    writer = csv.writer(response)
    if table == "cohorts":
        writer.writerow(
            ["cohort", "cohort_size", "month", "months_since", "customers", "retention", "revenue"]
        )
        for cohort in acquisition_cohorts():
            for cell in cohort.cells:
                writer.writerow(
                    [
                        cohort.start.isoformat(),
                        cohort.size,
                        cell.month.isoformat(),
                        cell.offset,
                        cell.customers,
                        f"{cell.customers / cohort.size:.4f}",
                        f"{cell.revenue:.2f}",
                    ]
                )
    elif table == "leaky-bucket":
        writer.writerow(
            ["month", "gained", "lost", "active", "first_order_revenue", "repeat_revenue"]
        )
        for month in leaky_bucket(
            inactive_months=_inactive_months(request), until=timezone.localdate()
        ):
            writer.writerow(
                [
                    month.month.isoformat(),
                    month.gained,
                    month.lost,
                    month.active,
                    f"{month.first_order_revenue:.2f}",
                    f"{month.repeat_revenue:.2f}",
                ]
            )
    else:
        return HttpResponse("Unknown table: use cohorts or leaky-bucket.", status=404)
    return response


def _week(raw: str | None) -> date:
    """The week asked for, or this week's (an unreadable or far-off date is ignored)."""
    try:
        day = date.fromisoformat(raw or "")
    except ValueError:
        return timezone.localdate()
    return day if 2000 <= day.year <= 2100 else timezone.localdate()


@login_required
@permission_required("insight.view_rostershift", raise_exception=True)
def staffing(request: HttpRequest) -> HttpResponse:
    interval = 15 if request.GET.get("interval") == "15" else 30
    growth = params.integer(request.GET.get("new_customers"), maximum=1_000_000) or 0
    target = StaffingTarget(interval_minutes=interval, new_customers_per_month=growth)
    plan = staffing_plan(week=_week(request.GET.get("week")), target=target)
    shown = [
        row
        for row in plan.intervals
        if row.forecast_calls >= 0.05 or row.agents_rostered or row.measured.offered
    ]
    offered = sum(row.measured.offered for row in plan.intervals)
    answered = sum(row.measured.answered for row in plan.intervals)
    in_time = sum(
        (row.measured.service_level or 0) * row.measured.offered for row in plan.intervals
    )
    waited = sum((row.measured.asa_seconds or 0) * row.measured.answered for row in plan.intervals)
    return render(
        request,
        "insight/staffing.html",
        {
            "plan": plan,
            "rows": shown,
            "interval": interval,
            "growth": growth,
            "week_value": plan.week_start.date().isoformat(),
            "previous_week": (plan.week_start.date() - timedelta(weeks=1)).isoformat(),
            "next_week": (plan.week_start.date() + timedelta(weeks=1)).isoformat(),
            "offered": offered,
            "measured_level": in_time / offered if offered else None,
            "measured_asa": waited / answered if answered else None,
            "abandoned": offered - answered,
        },
    )
