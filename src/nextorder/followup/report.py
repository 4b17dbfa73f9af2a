"""Did service bring the next order? The loop's own report: of the customers whose
ticket was solved, who ordered again within 30, 90 and 180 days, split by their answer
to the survey, by how fast the first reply came and by whether the promises made to
them (`sales.Commitment`, due by the time the ticket was solved) were kept; time to the
next order as Kaplan-Meier curves; revenue from referrals and from leads born in
service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db.models import Exists, Min, OuterRef, Subquery, Sum
from django.utils import timezone

from nextorder.core.charts import bar_chart_svg, line_chart_svg
from nextorder.crm.models import NET_AMOUNT, Order
from nextorder.desk.models import Ticket
from nextorder.followup.kernels.kaplan_meier import SurvivalCurve, kaplan_meier
from nextorder.followup.models import Referral, Survey
from nextorder.sales.models import Commitment
from nextorder.sales.selectors import LeadRevenue, lead_revenue

HORIZONS = (30, 90, 180)


@dataclass(frozen=True)
class SolvedTicket:
    solved_at: datetime
    first_response_hours: float | None
    csat: int | None
    next_order_days: float | None  # None: no order since
    # Of the customer's promises due by the time the ticket was solved: any broken, else
    # any kept.
    promise_broken: bool = False
    promise_kept: bool = False


def _csat_group(row: SolvedTicket) -> str:
    if row.csat is None:
        return "No answer"
    return "CSAT 4-5" if row.csat >= 4 else ("CSAT 3" if row.csat == 3 else "CSAT 1-2")


def _response_group(row: SolvedTicket) -> str:
    hours = row.first_response_hours
    if hours is None:
        return "No reply"
    if hours < 1:
        return "Under 1 h"
    return "1-8 h" if hours < 8 else ("8-24 h" if hours < 24 else "Over 24 h")


def _promise_group(row: SolvedTicket) -> str:
    if row.promise_broken:
        return "A promise broken"
    return "Promises kept" if row.promise_kept else "No promise due"


CSAT_GROUPS = ("CSAT 4-5", "CSAT 3", "CSAT 1-2", "No answer")
RESPONSE_GROUPS = ("Under 1 h", "1-8 h", "8-24 h", "Over 24 h", "No reply")
PROMISE_GROUPS = ("Promises kept", "A promise broken", "No promise due")


@dataclass(frozen=True)
class ReorderShare:
    group: str
    tickets: int
    shares: dict[int, float | None]  # horizon in days: share, None when none is old enough
    # Horizon in days: the tickets solved long enough ago to count in its share.
    counted: dict[int, int]

    @property
    def columns(self) -> list[tuple[float | None, int]]:
        """(Share, tickets it is of) for each horizon, in order, for the table."""
        return [(self.shares[h], self.counted[h]) for h in HORIZONS]


@dataclass
class LoopReport:
    as_of: datetime
    tickets: int
    by_csat: list[ReorderShare]
    by_response: list[ReorderShare]
    by_promise: list[ReorderShare]
    curves: dict[str, SurvivalCurve]
    referrals: int
    referrals_ordered: int
    referral_revenue: Decimal
    leads: LeadRevenue
    charts: dict[str, str] = field(default_factory=dict)

    def csv_tables(self) -> dict[str, list[list[object]]]:
        reorders: list[list[object]] = [
            ["split", "group", "tickets", *(f"ordered_within_{h}_days" for h in HORIZONS)]
        ]
        for split, shares in (
            ("csat", self.by_csat),
            ("first_response", self.by_response),
            ("promises", self.by_promise),
        ):
            for share in shares:
                reorders.append(
                    [split, share.group, share.tickets]
                    + [
                        "" if share.shares[h] is None else f"{share.shares[h]:.4f}"
                        for h in HORIZONS
                    ]
                )
        curve_rows: list[list[object]] = [
            ["group", "days", "not_ordered_yet", "lower_95", "upper_95", "at_risk", "orders"]
        ]
        for group, curve in self.curves.items():
            for i in range(curve.times.size):
                curve_rows.append(
                    [
                        group,
                        f"{curve.times[i]:.2f}",
                        f"{curve.survival[i]:.4f}",
                        f"{curve.lower[i]:.4f}",
                        f"{curve.upper[i]:.4f}",
                        int(curve.at_risk[i]),
                        int(curve.events[i]),
                    ]
                )
        return {"reorders": reorders, "time-to-next-order": curve_rows}


def solved_tickets(*, as_of: datetime) -> list[SolvedTicket]:
    """Every solved ticket with its customer's first paid order after it was solved."""
    next_order = (
        Order.objects.sales()
        .filter(customer_id=OuterRef("customer_id"), placed_at__gt=OuterRef("solved_at"))
        .order_by()
        .values("customer_id")
        .annotate(first=Min("placed_at"))
        .values("first")
    )
    due = Commitment.objects.filter(
        customer_id=OuterRef("customer_id"), due_at__lte=OuterRef("solved_at")
    )
    rows = (
        Ticket.objects.filter(solved_at__isnull=False, solved_at__lte=as_of)
        .annotate(
            next_order_at=Subquery(next_order[:1]),
            csat=Subquery(Survey.objects.filter(ticket_id=OuterRef("pk")).values("csat")[:1]),
            broken=Exists(due.filter(state=Commitment.State.BROKEN)),
            kept=Exists(due.filter(state=Commitment.State.KEPT)),
        )
        .values_list(
            "solved_at",
            "created_at",
            "first_response_at",
            "csat",
            "next_order_at",
            "broken",
            "kept",
        )
    )
    day = timedelta(days=1).total_seconds()
    return [
        SolvedTicket(
            solved_at=solved,
            first_response_hours=(
                (first - created).total_seconds() / 3600 if first is not None else None
            ),
            csat=csat,
            next_order_days=(
                (next_at - solved).total_seconds() / day
                if next_at is not None and next_at <= as_of
                else None
            ),
            promise_broken=broken,
            promise_kept=kept,
        )
        for solved, created, first, csat, next_at, broken, kept in rows
        if solved is not None
    ]


def _shares(
    rows: list[SolvedTicket],
    *,
    as_of: datetime,
    groups: tuple[str, ...],
    key: Callable[[SolvedTicket], str],
) -> list[ReorderShare]:
    found = []
    for group in groups:
        members = [row for row in rows if key(row) == group]
        shares: dict[int, float | None] = {}
        counted: dict[int, int] = {}
        for horizon in HORIZONS:
            # Only tickets solved at least `horizon` days ago can show an order within it.
            old_enough = [r for r in members if r.solved_at <= as_of - timedelta(days=horizon)]
            ordered = sum(
                1
                for r in old_enough
                if r.next_order_days is not None and r.next_order_days <= horizon
            )
            shares[horizon] = ordered / len(old_enough) if old_enough else None
            counted[horizon] = len(old_enough)
        found.append(
            ReorderShare(group=group, tickets=len(members), shares=shares, counted=counted)
        )
    return found


def _curves(rows: list[SolvedTicket], *, as_of: datetime) -> dict[str, SurvivalCurve]:
    curves = {}
    for group in CSAT_GROUPS:
        members = [row for row in rows if _csat_group(row) == group]
        if not members:
            continue
        durations = [
            row.next_order_days
            if row.next_order_days is not None
            else (as_of - row.solved_at).total_seconds() / 86400
            for row in members
        ]
        observed = [row.next_order_days is not None for row in members]
        curves[group] = kaplan_meier(np.array(durations), np.array(observed))
    return curves


def _charts(report: LoopReport) -> dict[str, str]:
    charts = {}
    for name, shares, title in (
        ("csat", report.by_csat, "Ordered again after a ticket, by the customer's CSAT"),
        ("response", report.by_response, "Ordered again after a ticket, by time to first reply"),
        ("promises", report.by_promise, "Ordered again after a ticket, by promises kept"),
    ):
        shown = [share for share in shares if share.tickets]
        if shown:
            charts[name] = bar_chart_svg(
                categories=[share.group for share in shown],
                series={
                    f"within {h} days": [100 * (share.shares[h] or 0.0) for share in shown]
                    for h in HORIZONS
                },
                title=title,
                x_label="",
                y_label="% of tickets",
            )
    if report.curves:
        series, bands = {}, {}
        for group, curve in report.curves.items():
            steps: list[tuple[float, float]] = [(0.0, 1.0)]
            band: list[tuple[float, float, float]] = [(0.0, 1.0, 1.0)]
            previous = (1.0, 1.0, 1.0)
            for t, s, low, high in zip(
                curve.times, curve.survival, curve.lower, curve.upper, strict=True
            ):
                steps += [(float(t), previous[0]), (float(t), float(s))]
                band += [(float(t), previous[1], previous[2]), (float(t), float(low), float(high))]
                previous = (float(s), float(low), float(high))
            series[group], bands[group] = steps, band
        charts["curves"] = line_chart_svg(
            series=series,
            bands=bands,
            title="Not ordered again yet, days after the ticket (95% bands)",
            x_label="days after the ticket was solved",
            y_label="share not ordered yet",
        )
    return charts


def loop_report(*, as_of: datetime | None = None) -> LoopReport:
    as_of = as_of or timezone.now()
    rows = solved_tickets(as_of=as_of)
    referrals = Referral.objects.all()
    referred_revenue = (
        Order.objects.sales()
        .filter(referral__isnull=False)
        .aggregate(total=Sum(NET_AMOUNT))["total"]
    )
    report = LoopReport(
        as_of=as_of,
        tickets=len(rows),
        by_csat=_shares(rows, as_of=as_of, groups=CSAT_GROUPS, key=_csat_group),
        by_response=_shares(rows, as_of=as_of, groups=RESPONSE_GROUPS, key=_response_group),
        by_promise=_shares(rows, as_of=as_of, groups=PROMISE_GROUPS, key=_promise_group),
        curves=_curves(rows, as_of=as_of),
        referrals=referrals.count(),
        referrals_ordered=referrals.filter(order__isnull=False).count(),
        referral_revenue=referred_revenue or Decimal(0),
        leads=lead_revenue(),
    )
    report.charts = _charts(report)
    return report
