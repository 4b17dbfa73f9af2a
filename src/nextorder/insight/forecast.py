"""Arrivals per interval for the coming weeks: weekday x time-of-day shares on a linear
trend of weekly totals (plain NumPy, no Django).

History is whole weeks of counts, each week starting on Monday 00:00, `slots` intervals a
week. A week's total follows a straight line through the past weeks' totals (flat with
one week; weeks before the first arrival are left out); each slot takes its share of the
week as observed over all the weeks, so a Monday-morning peak stays a Monday-morning
peak whatever the trend does.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
DAYS_PER_MONTH = 365.25 / 12


def weekly_forecast(*, history: npt.ArrayLike, slots: int, weeks: int) -> FloatArray:
    """Expected arrivals per slot for `weeks` weeks after the history (weeks x slots)."""
    counts = np.asarray(history, dtype=np.float64)
    if slots < 1 or counts.size == 0 or counts.size % slots:
        raise ValueError("history must be whole weeks of slots")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("history counts must be finite and not negative")
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    by_week = counts.reshape(-1, slots)
    if by_week.sum() == 0:
        return np.zeros((weeks, slots))
    # Weeks before the first arrival are before the desk (or its records) began, not quiet.
    first = int(np.flatnonzero(by_week.sum(axis=1))[0])
    by_week = by_week[first:]
    totals = by_week.sum(axis=1)
    past = np.arange(len(totals), dtype=np.float64)
    if len(totals) > 1:
        slope, intercept = np.polyfit(past, totals, 1)
    else:
        slope, intercept = 0.0, float(totals[0])
    ahead = np.arange(len(totals), len(totals) + weeks, dtype=np.float64)
    expected_totals = np.maximum(intercept + slope * ahead, 0.0)
    shares = by_week.sum(axis=0) / totals.sum()
    return np.asarray(expected_totals[:, None] * shares[None, :])


def growth_factor(
    *, weeks: int, slots: int, customers: int, new_customers_per_month: float
) -> FloatArray:
    """How much more arrives per slot if sales bring N new customers a month who contact
    the desk as today's customers do: 1 + customers added by then / customers today."""
    if customers < 1:
        raise ValueError("the growth scenario needs at least one customer today")
    if not np.isfinite(new_customers_per_month) or new_customers_per_month < 0:
        raise ValueError("new customers per month must be a number, not negative")
    days_ahead = (np.arange(weeks * slots, dtype=np.float64) + 0.5) * 7 / slots
    added = new_customers_per_month * days_ahead / DAYS_PER_MONTH
    return np.asarray(1.0 + added / customers).reshape(weeks, slots)
