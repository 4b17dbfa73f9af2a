"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV").

Each transaction's value is Gamma(p, nu) with nu ~ Gamma(q, gamma) per customer, so a
customer's mean repeat spend m over x transactions carries the information. lifetimes
calls gamma "v". Only customers with x > 0 and m > 0 have a likelihood; the rest are
left out and counted (real files contain zero-value orders).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from nextorder.insight.fitting import (
    ArrayLikeFloat,
    BoolArray,
    DistinctValues,
    FloatArray,
    SplitTerms,
    compress_rows,
    fit_log_parameters,
    weighted_counts,
)

PARAMETER_NAMES = ("p", "q", "gamma")


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def as_array(self) -> FloatArray:
        return np.array([self.p, self.q, self.gamma], dtype=np.float64)


@dataclass(frozen=True)
class GammaGammaFit(GammaGammaParams):
    log_likelihood: float
    standard_errors: dict[str, float]
    n_customers: int
    n_left_out: int
    converged: bool


def _as_float(values: ArrayLikeFloat) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def usable(*, frequency: ArrayLikeFloat, monetary_value: ArrayLikeFloat) -> BoolArray:
    """Mask of customers the model can learn from: a repeat purchase with positive mean."""
    x, m = _as_float(frequency), _as_float(monetary_value)
    return np.asarray((x > 0) & (m > 0) & np.isfinite(m), dtype=bool)


@dataclass(frozen=True)
class _SpendRows:
    """Per-row quantities that do not depend on the parameters, computed once per fit."""

    x: DistinctValues
    x_rows: FloatArray
    log_m: FloatArray
    log_mx: FloatArray

    @classmethod
    def of(cls, frequency: FloatArray, monetary_value: FloatArray) -> _SpendRows:
        return cls(
            x=DistinctValues.of(frequency),
            x_rows=frequency,
            log_m=np.log(monetary_value),
            log_mx=np.log(monetary_value * frequency),
        )


def _terms(params: FloatArray, rows: _SpendRows) -> SplitTerms:
    """Log density of the mean spend m of x transactions, and its gradient in (p, q, gamma).

    ln(gamma + m x) = ln(m x) + log1p(gamma / (m x)): exact when m x dwarfs gamma, and one
    transcendental call per row.
    """
    p, q, gamma = params
    xv = rows.x.values
    pxv = p * xv
    psi_pxv_q = digamma(pxv + q)
    px = p * rows.x_rows
    log_excess = np.log1p(gamma * np.exp(-rows.log_mx))
    log_gamma_mx = rows.log_mx + log_excess
    row_gradient = np.empty((len(px), 3))
    row_gradient[:, 0] = -rows.x_rows * log_excess
    row_gradient[:, 1] = -log_gamma_mx
    row_gradient[:, 2] = q / gamma - (px + q) * np.exp(-log_gamma_mx)
    return SplitTerms(
        row_values=-rows.log_m - px * log_excess - q * log_gamma_mx,
        row_gradient=row_gradient,
        frequency_values=gammaln(pxv + q) - gammaln(pxv) - gammaln(q) + q * np.log(gamma),
        frequency_gradient=np.column_stack(
            [
                xv * (psi_pxv_q - digamma(pxv)),
                psi_pxv_q - digamma(q) + np.log(gamma),
                np.zeros_like(xv),
            ]
        ),
    )


def _per_row(
    params: GammaGammaParams, frequency: ArrayLikeFloat, monetary_value: ArrayLikeFloat
) -> tuple[FloatArray, FloatArray]:
    rows = _SpendRows.of(_as_float(frequency), _as_float(monetary_value))
    return _terms(params.as_array(), rows).per_row(rows.x)


def log_likelihood(
    *, params: GammaGammaParams, frequency: ArrayLikeFloat, monetary_value: ArrayLikeFloat
) -> FloatArray:
    """Per-customer log-likelihood; only meaningful where ``usable`` is true."""
    return _per_row(params, frequency, monetary_value)[0]


def log_likelihood_gradient(
    *, params: GammaGammaParams, frequency: ArrayLikeFloat, monetary_value: ArrayLikeFloat
) -> FloatArray:
    """Per-customer gradient in (p, q, gamma), shape (n, 3)."""
    return _per_row(params, frequency, monetary_value)[1]


def fit(
    *,
    frequency: ArrayLikeFloat,
    monetary_value: ArrayLikeFloat,
    weights: ArrayLikeFloat | None = None,
    penalizer: float = 0.0,
) -> GammaGammaFit:
    """Maximum likelihood on the usable customers; the others are counted in n_left_out."""
    x, m = _as_float(frequency), _as_float(monetary_value)
    counts = np.ones(len(x)) if weights is None else _as_float(weights)
    keep = usable(frequency=x, monetary_value=m)
    if not keep.any():
        raise ValueError("no customer has a repeat purchase with a positive mean value")
    distinct = compress_rows(columns=(x[keep], m[keep]))
    distinct_weights = weighted_counts(distinct.inverse, weights=counts[keep])
    dx, dm = distinct.columns
    rows = _SpendRows.of(dx, dm)
    frequency_weights = rows.x.total_weights(distinct_weights)

    def weighted(params: FloatArray) -> tuple[float, FloatArray]:
        return _terms(params, rows).weighted_sum(
            row_weights=distinct_weights, frequency_weights=frequency_weights
        )

    mean_spend = float(np.average(dm, weights=distinct_weights))
    result = fit_log_parameters(
        log_likelihood_and_gradient=weighted,
        initial_params=np.array([1.0, 2.0, mean_spend]),
        total_weight=float(distinct_weights.sum()),
        penalizer=penalizer,
    )
    p, q, gamma = (float(value) for value in result.params)
    return GammaGammaFit(
        p=p,
        q=q,
        gamma=gamma,
        log_likelihood=result.log_likelihood,
        standard_errors=dict(zip(PARAMETER_NAMES, map(float, result.standard_errors), strict=True)),
        n_customers=round(distinct_weights.sum()),
        n_left_out=round(counts[~keep].sum()),
        converged=result.converged,
    )


def expected_average_value(
    *, params: GammaGammaParams, frequency: ArrayLikeFloat, monetary_value: ArrayLikeFloat
) -> FloatArray:
    """E[spend per transaction | x, m]: a credibility blend of m and the population mean.

    Customers the model could not learn from (x = 0, or m <= 0) get the population
    mean p * gamma / (q - 1); infinite when q <= 1, as the model has no finite mean then.
    """
    x, m = _as_float(frequency), _as_float(monetary_value)
    keep = usable(frequency=x, monetary_value=m)
    x_used = np.where(keep, x, 0.0)
    m_used = np.where(keep, m, 0.0)
    p, q, gamma = params.as_array()
    denominator = p * x_used + q - 1.0
    with np.errstate(divide="ignore"):
        value = p * (gamma + x_used * m_used) / denominator
    return np.asarray(np.where(denominator > 0, value, np.inf), dtype=np.float64)


def simulate_mean_spend(
    *, params: GammaGammaParams, frequency: ArrayLikeFloat, rng: np.random.Generator
) -> FloatArray:
    """Mean value of each customer's x repeat transactions (0 when x = 0).

    The sum of x Gamma(p, nu) values is Gamma(p x, nu), so one draw per customer.
    """
    x = _as_float(frequency)
    nu = rng.gamma(params.q, 1.0 / params.gamma, len(x))
    has_repeat = x > 0
    total = rng.gamma(np.where(has_repeat, params.p * x, 1.0), 1.0 / nu)
    return np.where(has_repeat, total / np.where(has_repeat, x, 1.0), 0.0)
