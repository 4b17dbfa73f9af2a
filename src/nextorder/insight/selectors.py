"""Reads that feed the customer-value models and the retention views.

The heavy aggregation runs in the database as one GROUP BY (PostgreSQL or SQLite; on
Citus it runs on every shard), and only one row per customer, or per cohort and month,
comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Avg, Count, DateField, F, FloatField, Max, Q, QuerySet, Sum
from django.db.models.functions import Cast, TruncDate, TruncMonth
from django.utils import timezone

from nextorder.core.files import DataFormat
from nextorder.crm.importers import ColumnMapping, lines_as_in_editor, read_order_file
from nextorder.crm.models import Customer, Order
from nextorder.crm.selectors import net_in_shop_currency, rates_to_shop_currency
from nextorder.desk.models import CallRecord, Ticket
from nextorder.desk.selectors import IntervalWaits, wait_times
from nextorder.insight import erlang, forecast
from nextorder.insight.models import RosterShift, ValueModelFit
from nextorder.insight.rfm import DAYS_PER_WEEK, summary_from_aggregates
from nextorder.sales.selectors import unkept_promise_customers


def _sales_in_shop_currency(rates: dict[str, Decimal]) -> QuerySet[Order]:
    """The sales the value figures add up: those whose currency converts."""
    return Order.objects.sales().filter(currency__in=list(rates))


def _daily_transactions_sql(*, until: date) -> tuple[str, list[Any]]:
    """One row per customer and day (in the shop's time zone), amounts summed: the
    published models count at most one transaction a day. Sales only, net of refunds,
    in the shop's currency (orders in a currency without a rate are left out).

    Summed as floats, which is what the models read (the file path sums Float64 too): on
    PostgreSQL a parallel SUM over numeric ships serialised partial states between the
    workers, and on 10M orders that cost 3 s of 11 (benchmarks/bench_rfm_database.py).
    """
    rates = rates_to_shop_currency()
    days = (
        _sales_in_shop_currency(rates)
        .annotate(day=TruncDate("placed_at"))
        .filter(day__lte=until)
        .values("customer_id", "day")
        .annotate(amount=Sum(Cast(net_in_shop_currency(rates), FloatField())))
        .order_by()
    )
    sql, params = days.query.sql_with_params()
    return sql, list(params)


class MixedCurrencies(ValueError):
    """Sales in several currencies, which the models must not add together."""


def transactions_from_file(
    *,
    path: Path,
    file_format: DataFormat,
    mapping: ColumnMapping | None = None,
    layout: str | None = None,
    currency: str | None = None,
    time_zone: str | None = None,
) -> pl.DataFrame:
    """A file's sales as the models read them (customer_id, date, amount), read by the
    order import's reader: the same formats and refusals, the same customers (guests
    keyed by email), only paid orders net of refunds, and days in the shop's zone, as
    `_daily_transactions_sql` reads the database. So a fit on a file and a fit on the
    database after importing it agree.

    Raises OrderFileError for a bad file, MixedCurrencies when `currency` is needed.
    """
    zone = time_zone or settings.TIME_ZONE
    with lines_as_in_editor(path=path, file_format=file_format):
        orders = read_order_file(
            path=path, file_format=file_format, mapping=mapping, layout=layout, time_zone=zone
        ).orders
    sales = orders.filter(pl.col("status") == "paid")
    currencies = sorted(sales["currency"].unique().to_list())
    if currency is None and len(currencies) > 1:
        raise MixedCurrencies(
            f"the sales are in {', '.join(currencies)}: fit one currency at a time"
        )
    if currency is not None:
        sales = sales.filter(pl.col("currency") == currency)
    return sales.select(
        pl.col("customer_external_id").alias("customer_id"),
        pl.col("placed_at")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(zone)
        .dt.date()
        .alias("date"),
        pl.col("net_amount").cast(pl.Float64).alias("amount"),
    )


def _fetch_sorting_not_hashing(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run an aggregate over the daily rows with hash aggregation off (PostgreSQL).

    The daily GROUP BY has about one group per order, which the planner cannot know (no
    statistics on the day), so a hash aggregate spills and reduces nothing or, with a
    work_mem of 64 MB, runs in one process. Sorting in parallel is steadier: on 10M orders
    8.5 s against 11 s and 19 s (benchmarks/bench_rfm_database.py). The setting is put
    back as it was, for the rest of a caller's transaction.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(sql, params)
            return cursor.fetchall()
        cursor.execute("SELECT current_setting('enable_hashagg')")
        (hashagg,) = cursor.fetchone()
        cursor.execute("SET LOCAL enable_hashagg = off")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        cursor.execute("SELECT set_config('enable_hashagg', %s, true)", [hashagg])
        return rows


def customer_aggregates_from_database(
    *, calibration_end: date, holdout_end: date | None = None
) -> pl.DataFrame:
    """Per customer who bought by `calibration_end`, the aggregates `insight.rfm` turns
    into a summary: first and last transaction day (last within calibration), repeat
    transaction days and their amount, and (with a hold-out end) transaction days and
    amount after calibration. One GROUP BY over the orders; one row per customer back,
    joined to its external id after aggregating (a million rows rather than ten).

    On PostgreSQL the daily rows are grouped by sorting (see `_fetch_sorting_not_hashing`).
    """
    daily_sql, params = _daily_transactions_sql(until=holdout_end or calibration_end)
    end = calibration_end.isoformat() if connection.vendor == "sqlite" else calibration_end
    holdout_sums = (
        """,
                   SUM(CASE WHEN w.day > %s THEN 1 ELSE 0 END) AS frequency_holdout,
                   COALESCE(SUM(CASE WHEN w.day > %s THEN w.amount END), 0) AS amount_holdout"""
        if holdout_end
        else ""
    )
    sql = f"""
        SELECT a.customer_id, c.external_id, a.first_day, a.last_day, a.frequency,
               a.repeat_amount{", a.frequency_holdout, a.amount_holdout" if holdout_end else ""}
        FROM (
            SELECT w.customer_id,
                   MIN(w.day) AS first_day,
                   MAX(CASE WHEN w.day <= %s THEN w.day END) AS last_day,
                   SUM(CASE WHEN w.day <= %s THEN 1 ELSE 0 END) - 1 AS frequency,
                   COALESCE(SUM(CASE WHEN w.day > w.first_day AND w.day <= %s
                                     THEN w.amount END), 0) AS repeat_amount{holdout_sums}
            FROM (
                SELECT d.customer_id, d.day, d.amount,
                       MIN(d.day) OVER (PARTITION BY d.customer_id) AS first_day
                FROM ({daily_sql}) AS d
            ) AS w
            GROUP BY w.customer_id
            HAVING MIN(w.day) <= %s
        ) AS a
        JOIN crm_customer AS c ON c.id = a.customer_id
        ORDER BY a.customer_id
    """
    rows = _fetch_sorting_not_hashing(sql, [end] * (5 if holdout_end else 3) + params + [end])
    day_type = pl.Utf8 if connection.vendor == "sqlite" else pl.Date
    schema = {
        "customer_id": pl.Int64,
        "external_id": pl.Utf8,
        "first": day_type,
        "last": day_type,
        "frequency": pl.Int64,
        "repeat_amount": pl.Float64,
    }
    if holdout_end:
        schema |= {"frequency_holdout": pl.Int64, "amount_holdout": pl.Float64}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    if connection.vendor == "sqlite":  # SQLite's dates come back as ISO text
        frame = frame.with_columns(pl.col("first", "last").str.to_date("%Y-%m-%d"))
    return frame


def rfm_summary_from_database(
    *, calibration_end: date, holdout_end: date | None = None, period_days: float = DAYS_PER_WEEK
) -> pl.DataFrame:
    """`insight.rfm.rfm_summary` of the orders in the database, keyed by customer_id (our
    primary key) and external_id; the same definitions as the file path."""
    return summary_from_aggregates(
        aggregates=customer_aggregates_from_database(
            calibration_end=calibration_end, holdout_end=holdout_end
        ),
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        period_days=period_days,
        keys=("customer_id", "external_id"),
    )


def daily_purchase_counts_from_database(
    *, calibration_end: date, holdout_end: date
) -> pl.DataFrame:
    """`insight.holdout.daily_purchase_counts` of the orders in the database: per day,
    the first purchases and repeat purchases of customers who first bought by
    `calibration_end`; a few hundred rows back however many orders there are."""
    daily_sql, params = _daily_transactions_sql(until=holdout_end)
    end = calibration_end.isoformat() if connection.vendor == "sqlite" else calibration_end
    sql = f"""
        SELECT w.day,
               SUM(CASE WHEN w.day = w.first_day THEN 1 ELSE 0 END) AS first_purchases,
               SUM(CASE WHEN w.day > w.first_day THEN 1 ELSE 0 END) AS repeat_purchases
        FROM (
            SELECT d.day, MIN(d.day) OVER (PARTITION BY d.customer_id) AS first_day
            FROM ({daily_sql}) AS d
        ) AS w
        WHERE w.first_day <= %s
        GROUP BY w.day
        ORDER BY w.day
    """
    rows = _fetch_sorting_not_hashing(sql, [*params, end])
    frame = pl.DataFrame(
        rows,
        schema={
            "date": pl.Utf8 if connection.vendor == "sqlite" else pl.Date,
            "first_purchases": pl.Int64,
            "repeat_purchases": pl.Int64,
        },
        orient="row",
    )
    if connection.vendor == "sqlite":
        frame = frame.with_columns(pl.col("date").str.to_date("%Y-%m-%d"))
    return frame


@dataclass(frozen=True)
class CohortCell:
    cohort: date  # first day of the month of the customers' first order
    month: date  # first day of the month the orders were placed in
    offset: int  # months since the cohort's month: 0 is the month they were won
    customers: int  # of the cohort's customers, how many ordered in `month`
    revenue: float


@dataclass(frozen=True)
class Cohort:
    start: date
    size: int
    cells: list[CohortCell]

    def retention(self, offset: int) -> float | None:
        cell = next((c for c in self.cells if c.offset == offset), None)
        if cell is None:
            return None if offset > self.cells[-1].offset else 0.0
        return cell.customers / self.size


def _month_start(value: date) -> date:
    return date(value.year, value.month, 1)


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def acquisition_cohorts() -> list[Cohort]:
    """Customers grouped by the month of their first order, with how many of each
    cohort ordered, and how much they spent, in every month after: one GROUP BY."""
    rates = rates_to_shop_currency()
    rows = (
        _sales_in_shop_currency(rates)
        .annotate(
            cohort=TruncMonth("customer__first_order_at", output_field=DateField()),
            month=TruncMonth("placed_at", output_field=DateField()),
        )
        .values("cohort", "month")
        .annotate(
            customers=Count("customer_id", distinct=True),
            revenue=Sum(net_in_shop_currency(rates)),
        )
        .order_by("cohort", "month")
    )
    cohorts: dict[date, list[CohortCell]] = {}
    for row in rows:
        cohort, month = _month_start(row["cohort"]), _month_start(row["month"])
        cohorts.setdefault(cohort, []).append(
            CohortCell(
                cohort=cohort,
                month=month,
                offset=_months_between(cohort, month),
                customers=row["customers"],
                revenue=float(row["revenue"]),
            )
        )
    return [
        Cohort(start=start, size=cells[0].customers, cells=cells)
        for start, cells in cohorts.items()
    ]


@dataclass(frozen=True)
class BucketMonth:
    month: date
    gained: int  # customers whose first order was this month
    lost: int  # customers whose last order was `inactive_months` before this month
    active: int  # customers who ordered this month
    first_order_revenue: float
    repeat_revenue: float


def _add_months(value: date, months: int) -> date:
    index = value.year * 12 + value.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def leaky_bucket(*, inactive_months: int = 6, until: date) -> list[BucketMonth]:
    """Customers won and lost, and revenue from first against repeat orders, per month.

    A customer counts as lost in the month `inactive_months` after the month of their
    last order, so only months up to `until` can show losses that are already certain;
    a customer who comes back has a later last order and so was never lost.
    """
    month = TruncMonth("placed_at", output_field=DateField())
    rates = rates_to_shop_currency()
    net = net_in_shop_currency(rates)
    orders = dict(
        (_month_start(row["month"]), row)
        for row in _sales_in_shop_currency(rates)
        .annotate(month=month)
        .values("month")
        .annotate(active=Count("customer_id", distinct=True), revenue=Sum(net))
        .order_by("month")
    )
    first_revenue = {
        _month_start(row["month"]): float(row["revenue"])
        for row in _sales_in_shop_currency(rates)
        .filter(placed_at=F("customer__first_order_at"))
        .annotate(month=month)
        .values("month")
        .annotate(revenue=Sum(net))
        .order_by("month")
    }
    gained = _customers_by_month("first_order_at")
    lost = {
        _add_months(start, inactive_months): count
        for start, count in _customers_by_month("last_order_at").items()
    }
    if not orders:
        return []
    result = []
    current, last = min(orders), _month_start(until)
    while current <= last:
        row = orders.get(current)
        revenue = float(row["revenue"]) if row else 0.0
        first = first_revenue.get(current, 0.0)
        result.append(
            BucketMonth(
                month=current,
                gained=gained.get(current, 0),
                lost=lost.get(current, 0),
                active=row["active"] if row else 0,
                first_order_revenue=first,
                repeat_revenue=revenue - first,
            )
        )
        current = _add_months(current, 1)
    return result


def _customers_by_month(field: str) -> dict[date, int]:
    return {
        _month_start(row["month"]): row["customers"]
        for row in Customer.objects.filter(**{f"{field}__isnull": False})
        .annotate(month=TruncMonth(field, output_field=DateField()))
        .values("month")
        .annotate(customers=Count("id"))
        .order_by("month")
    }


# Under this P(alive) a customer has most likely left: winning them back is another job
# than keeping one who is slipping, so the at-risk list shows the two apart.
PROBABLY_GONE_BELOW = 0.05


class AtRiskStage(StrEnum):
    REACHABLE = "reachable"  # P(alive) at least PROBABLY_GONE_BELOW: still worth a save
    GONE = "gone"  # below it: a win-back
    ALL = "all"


@dataclass(frozen=True)
class AtRiskFilters:
    min_value_at_risk: float = 0.0
    stage: AtRiskStage = AtRiskStage.REACHABLE
    falling_only: bool = False  # P(alive) lower than at the scoring before
    with_open_tickets_only: bool = False
    with_unkept_promises_only: bool = False  # a promise broken, or open past its time


def customers_at_risk(
    *, filters: AtRiskFilters, limit: int | None = 100, offset: int = 0
) -> list[Customer]:
    """Scored customers by value at risk, most first, with their active ticket count
    (`limit` None: all of them, for a download)."""
    customers = _at_risk(filters).order_by("-value_at_risk", "id")
    return list(customers[offset : offset + limit] if limit is not None else customers[offset:])


def customers_at_risk_count(*, filters: AtRiskFilters) -> int:
    return _at_risk(filters).count()


def _at_risk(filters: AtRiskFilters) -> QuerySet[Customer]:
    customers = Customer.objects.filter(
        value_at_risk__isnull=False, value_at_risk__gte=filters.min_value_at_risk
    ).annotate(open_tickets=Count("tickets", filter=Q(tickets__status__in=Ticket.ACTIVE_STATUSES)))
    if filters.stage == AtRiskStage.REACHABLE:
        customers = customers.filter(p_alive__gte=PROBABLY_GONE_BELOW)
    elif filters.stage == AtRiskStage.GONE:
        customers = customers.filter(p_alive__lt=PROBABLY_GONE_BELOW)
    if filters.falling_only:
        customers = customers.filter(p_alive__lt=F("p_alive_previous"))
    if filters.with_open_tickets_only:
        customers = customers.filter(open_tickets__gt=0)
    if filters.with_unkept_promises_only:
        customers = customers.filter(pk__in=unkept_promise_customers())
    return customers


@dataclass(frozen=True)
class ValueTotals:
    scored_customers: int
    clv_12m: Decimal  # expected value of the next 12 months, all scored customers
    value_at_risk: Decimal
    customers_likely_gone: int  # P(alive) under one half
    scored_at: datetime | None


def customer_value_totals() -> ValueTotals:
    """What the customer base is worth and how much of it is slipping, in money."""
    totals = Customer.objects.filter(scored_at__isnull=False).aggregate(
        scored=Count("id"),
        clv=Sum("clv_12m"),
        at_risk=Sum("value_at_risk"),
        gone=Count("id", filter=Q(p_alive__lt=0.5)),
        latest=Max("scored_at"),
    )
    return ValueTotals(
        scored_customers=totals["scored"],
        clv_12m=totals["clv"] or Decimal(0),
        value_at_risk=totals["at_risk"] or Decimal(0),
        customers_likely_gone=totals["gone"],
        scored_at=totals["latest"],
    )


def latest_value_fit(*, purpose: str, with_holdout: bool = False) -> ValueModelFit | None:
    fits = ValueModelFit.objects.filter(purpose=purpose)
    if with_holdout:
        fits = fits.filter(holdout_end__isnull=False)
    return fits.select_related("fitted_by").first()


@dataclass(frozen=True)
class StaffingTarget:
    target_level: float = 0.8
    answer_within: float = 20.0
    shrinkage: float = 0.3
    interval_minutes: int = 30
    history_weeks: int = 8
    new_customers_per_month: float = 0.0


@dataclass(frozen=True)
class StaffingInterval:
    start: datetime
    forecast_calls: float
    forecast_tickets: float
    agents_required: int
    agents_to_roster: int
    agents_rostered: int
    measured: IntervalWaits

    @property
    def gap(self) -> int:
        """Agents missing from the roster (0 when covered)."""
        return max(self.agents_to_roster - self.agents_rostered, 0)


@dataclass(frozen=True)
class StaffingPlan:
    week_start: datetime
    target: StaffingTarget
    handle_seconds: float
    customers: int
    intervals: list[StaffingInterval]

    @property
    def gaps(self) -> int:
        return sum(1 for interval in self.intervals if interval.gap)


DEFAULT_HANDLE_SECONDS = 300.0


def _monday(day: date) -> datetime:
    monday = day - timedelta(days=day.weekday())
    return timezone.make_aware(datetime.combine(monday, time()))


def _counts_per_slot(moments: list[datetime], *, start: datetime, slots: int, seconds: int) -> Any:
    offsets = np.array([(m - start).total_seconds() for m in moments], dtype=np.float64)
    index = (offsets // seconds).astype(np.int64)
    return np.bincount(index[(index >= 0) & (index < slots)], minlength=slots)


def rostered_agents(*, week_start: datetime, interval_minutes: int) -> list[int]:
    """Agents on the roster in each interval of the week (a shift covers the intervals
    that start inside it)."""
    per_day = 24 * 60 // interval_minutes
    agents = [0] * (7 * per_day)
    for shift in RosterShift.objects.all():
        first = (shift.starts_at.hour * 60 + shift.starts_at.minute + interval_minutes - 1) // (
            interval_minutes
        )
        last = (shift.ends_at.hour * 60 + shift.ends_at.minute - 1) // interval_minutes
        for slot in range(first, last + 1):
            agents[shift.weekday * per_day + slot] += shift.agents
    return agents


def staffing_plan(*, week: date, target: StaffingTarget) -> StaffingPlan:
    """Forecast, required and rostered agents per interval of the week that holds `week`,
    with the wait times measured in it. The forecast learns from the whole weeks before
    that week (and before this week, for a week still to come)."""
    seconds = target.interval_minutes * 60
    slots = 7 * 24 * 3600 // seconds
    week_start = _monday(week)
    history_end = min(week_start, _monday(timezone.localdate()))
    history_start = history_end - timedelta(weeks=target.history_weeks)
    weeks_ahead = (week_start - history_end).days // 7 + 1
    calls = CallRecord.objects.filter(offered_at__gte=history_start, offered_at__lt=history_end)
    tickets = Ticket.objects.filter(created_at__gte=history_start, created_at__lt=history_end)
    history_slots = target.history_weeks * slots
    call_counts = _counts_per_slot(
        list(calls.values_list("offered_at", flat=True)),
        start=history_start,
        slots=history_slots,
        seconds=seconds,
    )
    ticket_counts = _counts_per_slot(
        list(tickets.values_list("created_at", flat=True)),
        start=history_start,
        slots=history_slots,
        seconds=seconds,
    )
    customers = Customer.objects.count()
    growth = (
        forecast.growth_factor(
            weeks=weeks_ahead,
            slots=slots,
            customers=customers,
            new_customers_per_month=target.new_customers_per_month,
        )[-1]
        if target.new_customers_per_month and customers
        else np.ones(slots)
    )
    forecast_calls = (
        forecast.weekly_forecast(history=call_counts, slots=slots, weeks=weeks_ahead)[-1] * growth
    )
    forecast_tickets = (
        forecast.weekly_forecast(history=ticket_counts, slots=slots, weeks=weeks_ahead)[-1] * growth
    )
    handle = (
        calls.filter(outcome=CallRecord.Outcome.ANSWERED).aggregate(handle=Avg("handle_seconds"))[
            "handle"
        ]
        or DEFAULT_HANDLE_SECONDS
    )
    required = erlang.agents_required(
        calls=forecast_calls,
        interval_seconds=seconds,
        handle_seconds=handle,
        target_level=target.target_level,
        answer_within=target.answer_within,
    )
    to_roster = erlang.rostered(agents=required.agents, shrinkage=target.shrinkage)
    on_roster = rostered_agents(week_start=week_start, interval_minutes=target.interval_minutes)
    measured = wait_times(
        start=week_start,
        end=week_start + timedelta(weeks=1),
        interval_minutes=target.interval_minutes,
        answer_within=target.answer_within,
    )
    return StaffingPlan(
        week_start=week_start,
        target=target,
        handle_seconds=float(handle),
        customers=customers,
        intervals=[
            StaffingInterval(
                start=measured[i].start,
                forecast_calls=float(forecast_calls[i]),
                forecast_tickets=float(forecast_tickets[i]),
                agents_required=int(required.agents[i]),
                agents_to_roster=int(to_roster[i]),
                agents_rostered=on_roster[i],
                measured=measured[i],
            )
            for i in range(slots)
        ],
    )
