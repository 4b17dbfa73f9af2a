"""Kaplan-Meier survival curve with Greenwood confidence bands (NumPy, no Django).

Survival here is "not ordered again yet": durations are days from a ticket to the
customer's next order, censored (observed = False) when no order followed by the end of
the data. The bands are the exponential-Greenwood ("log-log") ones, which stay inside
[0, 1]; lifelines draws the same (Kalbfleisch & Prentice, *The Statistical Analysis of
Failure Time Data*, 2nd ed., 2002, §1.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Z_95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class SurvivalCurve:
    times: npt.NDArray[np.float64]  # the distinct event times, ascending
    survival: npt.NDArray[np.float64]  # S(t) just after each time
    lower: npt.NDArray[np.float64]
    upper: npt.NDArray[np.float64]
    at_risk: npt.NDArray[np.int64]
    events: npt.NDArray[np.int64]

    def at(self, t: float) -> float:
        """S(t): the step function read at t (1 before the first event)."""
        index = int(np.searchsorted(self.times, t, side="right")) - 1
        return 1.0 if index < 0 else float(self.survival[index])


def kaplan_meier(
    durations: npt.ArrayLike, observed: npt.ArrayLike, *, z: float = Z_95
) -> SurvivalCurve:
    """The product-limit estimate at each distinct time with at least one event.

    At a tie, events happen before censorings (the usual convention), so a subject
    censored at t is still at risk at t.
    """
    t = np.asarray(durations, dtype=np.float64)
    d = np.asarray(observed, dtype=bool)
    if t.shape != d.shape or t.ndim != 1:
        raise ValueError("durations and observed must be 1-d and of one length")
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise ValueError("durations must be finite and not negative")
    if t.size == 0:
        empty = np.array([], dtype=np.float64)
        return SurvivalCurve(
            empty, empty, empty, empty, np.array([], np.int64), np.array([], np.int64)
        )
    times, inverse = np.unique(t, return_inverse=True)
    events = np.bincount(inverse, weights=d, minlength=times.size).astype(np.int64)
    leaving = np.bincount(inverse, minlength=times.size).astype(np.int64)
    at_risk = t.size - np.concatenate(([0], np.cumsum(leaving)[:-1]))
    keep = events > 0
    times, events, at_risk = times[keep], events[keep], at_risk[keep]
    survival = np.cumprod(1.0 - events / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(events / (at_risk * (at_risk - events)))
        log_s = np.log(survival)
        # theta = log(-log S), se(theta) = sqrt(greenwood) / |log S|
        spread = z * np.sqrt(greenwood) / np.abs(log_s)
        theta = np.log(-log_s)
        lower = np.exp(-np.exp(theta + spread))
        upper = np.exp(-np.exp(theta - spread))
    # Where S is 1 (no event yet) or 0 (everyone has), the band closes on the estimate.
    degenerate = ~np.isfinite(lower) | ~np.isfinite(upper) | (survival <= 0) | (survival >= 1)
    lower = np.where(degenerate, survival, lower)
    upper = np.where(degenerate, survival, upper)
    return SurvivalCurve(times, survival, lower, upper, at_risk, events)
