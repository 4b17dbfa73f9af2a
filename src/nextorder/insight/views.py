"""Value and retention pages for leads, sales and managers: thin, as everywhere."""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from nextorder.crm.models import Customer
from nextorder.insight.selectors import (
    AtRiskFilters,
    acquisition_cohorts,
    customers_at_risk,
    leaky_bucket,
)
from nextorder.insight.services import customer_follow_up_open

RETENTION_OFFSETS = 13  # months 0..12 after acquisition


def _decimal(raw: str | None) -> Decimal:
    try:
        return max(Decimal(raw or "0"), Decimal(0))
    except InvalidOperation:
        return Decimal(0)


@login_required
@permission_required("crm.view_customer_value", raise_exception=True)
def at_risk(request: HttpRequest) -> HttpResponse:
    filters = AtRiskFilters(
        min_value_at_risk=float(_decimal(request.GET.get("min_value"))),
        falling_only=request.GET.get("falling") == "1",
        with_open_tickets_only=request.GET.get("open_tickets") == "1",
    )
    return render(
        request,
        "insight/at_risk.html",
        {"customers": customers_at_risk(filters=filters), "filters": filters},
    )


@require_POST
@login_required
@permission_required("desk.add_ticket", raise_exception=True)
def follow_up(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    ticket = customer_follow_up_open(
        customer=customer,
        actor=request.user,  # type: ignore[arg-type]
        note=request.POST.get("note", ""),
    )
    messages.success(request, f"Follow-up #{ticket.pk} opened and assigned to you.")
    return redirect("desk:ticket", pk=ticket.pk)


def _inactive_months(request: HttpRequest) -> int:
    raw = request.GET.get("inactive_months", "6")
    return min(max(int(raw), 1), 36) if raw.isdigit() else 6


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
        },
    )


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
