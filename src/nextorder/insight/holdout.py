"""The hold-out check of Fader, Hardie & Lee (2005): does the calibrated model predict the
purchases customers actually made afterwards?

Two views, returned as plain data for tables and charts: cumulative repeat purchases
period by period over calibration and hold-out (the paper's tracking figure), and mean
hold-out purchases by calibration frequency (the conditional-expectation figure).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from nextorder.insight.clv import PurchaseParams, purchase_kernel
from nextorder.insight.fitting import FloatArray
from nextorder.insight.rfm import DAYS_PER_WEEK, daily_transactions


@dataclass(frozen=True)
class TrackingPoint:
    period: int
    """Periods since the first customer's first purchase (1 = end of the first period)."""
    actual: float
    """Cumulative repeat purchases (days) of the cohort up to the end of the period."""
    predicted: float
    in_holdout: bool


@dataclass(frozen=True)
class ConditionalRow:
    label: str
    """Calibration frequency: "0", "1", ... and "7+" for the last, open bin."""
    n_customers: int
    actual: float
    """Mean hold-out purchases of these customers."""
    predicted: float


@dataclass(frozen=True)
class HoldoutReport:
    tracking: tuple[TrackingPoint, ...]
    conditional: tuple[ConditionalRow, ...]
    final_cumulative_error_pct: float
    """(predicted - actual) / actual at the last period, in percent (signed)."""
    tracking_mape_pct: float
    """Mean absolute percentage error of the cumulative curve over the hold-out periods."""
    conditional_mape_pct: float
    """Mean absolute percentage error over frequency bins with non-zero actual mean."""


def _expected_conditional(params: PurchaseParams, summary: pl.DataFrame) -> FloatArray:
    return np.asarray(
        purchase_kernel(params).expected_transactions(
            params=params,
            t=summary["duration_holdout"].to_numpy(),
            frequency=summary["frequency"].to_numpy().astype(np.float64),
            recency=summary["recency"].to_numpy(),
            T=summary["T"].to_numpy(),
        ),
        dtype=np.float64,
    )


def _mape_pct(predicted: FloatArray, actual: FloatArray) -> float:
    nonzero = actual != 0
    if not nonzero.any():
        return float("nan")
    return float(100.0 * np.mean(np.abs(predicted[nonzero] - actual[nonzero]) / actual[nonzero]))


def daily_purchase_counts(
    *, transactions: pl.LazyFrame | pl.DataFrame, calibration_end: date, holdout_end: date
) -> pl.DataFrame:
    """Per calendar day up to `holdout_end`: the cohort's first purchases and repeat
    purchases (days with a purchase), for customers who first bought by `calibration_end`.

    All the tracking figure needs; `insight.selectors` computes the same columns (date,
    first_purchases, repeat_purchases) in the database.
    """
    return (
        daily_transactions(transactions=transactions)
        .filter(pl.col("date") <= holdout_end)
        .with_columns(pl.col("date").min().over("customer_id").alias("first"))
        .filter(pl.col("first") <= calibration_end)
        .group_by("date")
        .agg(
            (pl.col("date") == pl.col("first")).sum().alias("first_purchases"),
            (pl.col("date") > pl.col("first")).sum().alias("repeat_purchases"),
        )
        .sort("date")
        .collect()
    )


def tracking(
    *,
    daily_counts: pl.DataFrame,
    params: PurchaseParams,
    calibration_end: date,
    holdout_end: date,
    period_days: float = DAYS_PER_WEEK,
) -> tuple[TrackingPoint, ...]:
    """Cumulative repeat purchases, actual against sum over customers of E[X(age)].

    Each customer enters at their first purchase, so the prediction is E[X(t)] shifted
    by their first-purchase day; customers sharing that day are evaluated once.
    """
    cohort_start = daily_counts.filter(pl.col("first_purchases") > 0)["date"].min()
    if not isinstance(cohort_start, date):
        raise ValueError("no customer bought during the calibration period")
    day_of = (daily_counts["date"] - cohort_start).dt.total_days().to_numpy()
    repeats = daily_counts["repeat_purchases"].to_numpy().astype(np.float64)
    births = daily_counts["first_purchases"].to_numpy().astype(np.float64)

    total_days = (holdout_end - cohort_start).days + 1
    n_periods = int(np.ceil(total_days / period_days))
    calibration_periods = int(np.ceil(((calibration_end - cohort_start).days + 1) / period_days))
    period_end_day = np.arange(1, n_periods + 1) * period_days
    actual = (repeats[None, :] * (day_of[None, :] < period_end_day[:, None])).sum(axis=1)
    born = births > 0
    ages = np.maximum(period_end_day[:, None] - day_of[born][None, :], 0.0) / period_days
    cumulative = purchase_kernel(params).expected_cumulative_transactions(params=params, t=ages)
    predicted = np.asarray(cumulative, dtype=np.float64) @ births[born]
    return tuple(
        TrackingPoint(
            period=period + 1,
            actual=float(actual[period]),
            predicted=float(predicted[period]),
            in_holdout=period + 1 > calibration_periods,
        )
        for period in range(n_periods)
    )


def conditional_expectations(
    *,
    summary: pl.DataFrame,
    params: PurchaseParams,
    max_frequency: int = 7,
) -> tuple[ConditionalRow, ...]:
    """Mean actual vs predicted hold-out purchases per calibration frequency bin.

    ``summary`` is an ``rfm_summary`` with a hold-out; bins 0 .. max_frequency - 1 and
    an open bin max_frequency+.
    """
    predicted = _expected_conditional(params, summary)
    actual = summary["frequency_holdout"].to_numpy().astype(np.float64)
    bins = np.minimum(summary["frequency"].to_numpy(), max_frequency)
    rows = []
    for frequency in range(max_frequency + 1):
        members = bins == frequency
        if not members.any():
            continue
        rows.append(
            ConditionalRow(
                label=f"{frequency}+" if frequency == max_frequency else str(frequency),
                n_customers=int(members.sum()),
                actual=float(actual[members].mean()),
                predicted=float(predicted[members].mean()),
            )
        )
    return tuple(rows)


def holdout_report(
    *,
    summary: pl.DataFrame,
    daily_counts: pl.DataFrame,
    params: PurchaseParams,
    calibration_end: date,
    holdout_end: date,
    period_days: float = DAYS_PER_WEEK,
    max_frequency: int = 7,
) -> HoldoutReport:
    """Both views and their error figures; fit ``params`` on the calibration period only.

    ``summary`` is an RFM summary with a hold-out, ``daily_counts`` from
    ``daily_purchase_counts`` (or the database's equivalent), both for the same dates.
    """
    points = tracking(
        daily_counts=daily_counts,
        params=params,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        period_days=period_days,
    )
    rows = conditional_expectations(summary=summary, params=params, max_frequency=max_frequency)
    holdout_points = [point for point in points if point.in_holdout]
    final = points[-1]
    return HoldoutReport(
        tracking=points,
        conditional=rows,
        final_cumulative_error_pct=_percent_error(final.predicted, final.actual),
        tracking_mape_pct=_mape_pct(
            np.array([point.predicted for point in holdout_points]),
            np.array([point.actual for point in holdout_points]),
        ),
        conditional_mape_pct=_mape_pct(
            np.array([row.predicted for row in rows]), np.array([row.actual for row in rows])
        ),
    )


def _percent_error(predicted: float, actual: float) -> float:
    return 100.0 * (predicted - actual) / actual if actual else float("nan")
