"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV").

Each transaction's value is Gamma(p, nu) with nu ~ Gamma(q, gamma) per customer, so a
customer's mean repeat spend m over x transactions carries the information. lifetimes
calls gamma "v". Only customers with x > 0 and m > 0 have a likelihood; the rest are
left out and counted (real files contain zero-value orders).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln, zeta

from nextorder.insight.fitting import (
    ArrayLikeFloat,
    BoolArray,
    Derivatives,
    DistinctValues,
    FloatArray,
    as_float,
    fit_log_parameters,
    sum_of_products,
    symmetric,
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


def usable(*, frequency: ArrayLikeFloat, monetary_value: ArrayLikeFloat) -> BoolArray:
    """Mask of customers the model can learn from: a repeat purchase with positive mean."""
    x, m = as_float(frequency), as_float(monetary_value)
    return np.asarray((x > 0) & (m > 0) & np.isfinite(m), dtype=bool)


@dataclass(frozen=True)
class _SpendRows:
    """Per-row quantities that do not depend on the parameters, computed once per fit."""

    x: DistinctValues
    x_rows: FloatArray
    log_m: FloatArray
    log_mx: FloatArray
    inverse_mx: FloatArray

    @classmethod
    def of(cls, frequency: FloatArray, monetary_value: FloatArray) -> _SpendRows:
        mx = monetary_value * frequency
        return cls(
            x=DistinctValues.of(frequency),
            x_rows=frequency,
            log_m=np.log(monetary_value),
            log_mx=np.log(mx),
            inverse_mx=1.0 / mx,
        )


@dataclass(frozen=True)
class _Terms:
    """What the likelihood needs per row and per distinct frequency at given params.

    Per row only ln(gamma + m x) and 1 / (gamma + m x) depend on the parameters, the
    first as ln(m x) + log1p(gamma / (m x)): exact when m x dwarfs gamma. Everything
    with digamma and gammaln depends on x alone.
    """

    log_excess: FloatArray
    inverse_total: FloatArray
    px: FloatArray
    psi_pxv_q: FloatArray
    psi_pxv: FloatArray
    frequency_values: FloatArray

    @classmethod
    def at(cls, params: FloatArray, rows: _SpendRows) -> _Terms:
        p, q, gamma = params
        xv = rows.x.values
        pxv = p * xv
        excess = gamma * rows.inverse_mx
        return cls(
            log_excess=np.log1p(excess),
            inverse_total=rows.inverse_mx / (1.0 + excess),
            px=pxv,
            psi_pxv_q=digamma(pxv + q),
            psi_pxv=digamma(pxv),
            frequency_values=gammaln(pxv + q) - gammaln(pxv) - gammaln(q) + q * np.log(gamma),
        )


def _per_row(
    params: GammaGammaParams, frequency: ArrayLikeFloat, monetary_value: ArrayLikeFloat
) -> tuple[FloatArray, FloatArray]:
    """Log density of the mean spend m of x transactions, and its gradient in (p, q, gamma)."""
    rows = _SpendRows.of(as_float(frequency), as_float(monetary_value))
    p, q, gamma = params.as_array()
    terms = _Terms.at(params.as_array(), rows)
    x, inverse = rows.x_rows, rows.x.inverse
    log_total = rows.log_mx + terms.log_excess
    values = terms.frequency_values[inverse] - rows.log_m - p * x * terms.log_excess - q * log_total
    gradient = np.empty((len(x), 3))
    gradient[:, 0] = x * ((terms.psi_pxv_q - terms.psi_pxv)[inverse] - terms.log_excess)
    gradient[:, 1] = (terms.psi_pxv_q[inverse] - digamma(q) + np.log(gamma)) - log_total
    gradient[:, 2] = q / gamma - (p * x + q) * terms.inverse_total
    return values, gradient


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


@dataclass(frozen=True)
class _WeightedRows:
    """Rows with their weights, and the parameter-free weighted sums, for a fit."""

    rows: _SpendRows
    weights: FloatArray
    by_x: FloatArray
    """(weights, weights * x) stacked: the two weightings every per-row sum needs."""
    frequency_weights: FloatArray
    total: float
    sum_log_m: float
    sum_log_mx: float

    @classmethod
    def of(
        cls, frequency: FloatArray, monetary_value: FloatArray, weights: FloatArray
    ) -> _WeightedRows:
        rows = _SpendRows.of(frequency, monetary_value)
        return cls(
            rows=rows,
            weights=weights,
            by_x=np.stack([weights, weights * frequency]),
            frequency_weights=rows.x.total_weights(weights),
            total=float(weights.sum()),
            sum_log_m=sum_of_products(weights, rows.log_m),
            sum_log_mx=sum_of_products(weights, rows.log_mx),
        )

    def derivatives(self, params: FloatArray) -> Derivatives:
        """Weighted log-likelihood, gradient and Hessian: six weighted sums over rows,
        the rest over the distinct frequencies."""
        p, q, gamma = params
        terms = _Terms.at(params, self.rows)
        inverse_total = terms.inverse_total
        per_row = np.stack([terms.log_excess, inverse_total, inverse_total * inverse_total])
        # sums[k, j]: weights (k = 0) or weights * x (k = 1) times per_row[j].
        sums = np.einsum("kn,jn->kj", self.by_x, per_row)
        xv, wx = self.rows.x.values, self.frequency_weights
        trigamma_pxv_q = zeta(2.0, terms.px + q)
        trigamma_pxv = zeta(2.0, terms.px)
        psi_difference = terms.psi_pxv_q - terms.psi_pxv
        log_gamma = np.log(gamma)
        value = (
            float(wx @ terms.frequency_values)
            - self.sum_log_m
            - p * sums[1, 0]
            - q * (self.sum_log_mx + sums[0, 0])
        )
        gradient = np.array(
            [
                float(wx @ (xv * psi_difference)) - sums[1, 0],
                float(wx @ terms.psi_pxv_q)
                + self.total * (log_gamma - digamma(q))
                - self.sum_log_mx
                - sums[0, 0],
                self.total * q / gamma - p * sums[1, 1] - q * sums[0, 1],
            ]
        )
        hessian = symmetric(
            {
                (0, 0): float(wx @ (xv * xv * (trigamma_pxv_q - trigamma_pxv))),
                (0, 1): float(wx @ (xv * trigamma_pxv_q)),
                (0, 2): -sums[1, 1],
                (1, 1): float(wx @ trigamma_pxv_q) - self.total * float(zeta(2.0, q)),
                (1, 2): self.total / gamma - sums[0, 1],
                (2, 2): -self.total * q / gamma**2 + p * sums[1, 2] + q * sums[0, 2],
            },
            3,
        )
        return value, gradient, hessian


def _log_moment_start(rows: _WeightedRows) -> FloatArray:
    """A start from the moments of ln m, which exist however heavy the tail of m is.

    Given x, m x is Gamma(p x, 1) / nu, so Var[ln m | x] = psi1(p x) + psi1(q), about
    1 / (p x) + psi1(q): regressing the squared residuals of ln m on 1 / x gives p and
    psi1(q) ~ 1/q + 1/(2 q^2); then E[ln(m x) | x] = psi(p x) - psi(q) + ln gamma gives
    gamma. Newton finishes from there in a few steps.
    """
    weights, x, log_m = rows.weights, rows.rows.x_rows, rows.rows.log_m
    inverse_x = 1.0 / x
    mean_inverse_x = sum_of_products(weights, inverse_x) / rows.total
    centred = inverse_x - mean_inverse_x
    spread = sum_of_products(weights, centred * centred)

    def line(values: FloatArray) -> tuple[float, float]:
        slope = sum_of_products(weights, centred * values) / spread
        return sum_of_products(weights, values) / rows.total - slope * mean_inverse_x, slope

    if not spread > 0:
        return np.array([1.0, 2.0, float(np.exp(rows.sum_log_m / rows.total))])
    intercept, slope = line(log_m)
    variance, inverse_p = line((log_m - intercept - slope * inverse_x) ** 2)
    if not (variance > 0 and inverse_p > 0):
        return np.array([1.0, 2.0, float(np.exp(rows.sum_log_m / rows.total))])
    p = 1.0 / inverse_p
    q = (1.0 + np.sqrt(1.0 + 2.0 * variance)) / (2.0 * variance)
    mean_psi_px = float(rows.frequency_weights @ digamma(p * rows.rows.x.values)) / rows.total
    log_gamma = (rows.sum_log_mx / rows.total) - mean_psi_px + float(digamma(q))
    return np.array([p, q, float(np.exp(log_gamma))])


def fit(
    *,
    frequency: ArrayLikeFloat,
    monetary_value: ArrayLikeFloat,
    weights: ArrayLikeFloat | None = None,
    penalizer: float = 0.0,
) -> GammaGammaFit:
    """Maximum likelihood on the usable customers; the others are counted in n_left_out.

    Rows are not merged into distinct (x, m) pairs: m is continuous, so almost every row
    is distinct and sorting them would cost more than the whole fit.
    """
    x, m = as_float(frequency), as_float(monetary_value)
    counts = np.ones(len(x)) if weights is None else as_float(weights)
    keep = usable(frequency=x, monetary_value=m)
    if not keep.any():
        raise ValueError("no customer has a repeat purchase with a positive mean value")
    rows = _WeightedRows.of(x[keep], m[keep], counts[keep])
    result = fit_log_parameters(
        log_likelihood_derivatives=rows.derivatives,
        initial_params=_log_moment_start(rows),
        total_weight=rows.total,
        penalizer=penalizer,
    )
    p, q, gamma = (float(value) for value in result.params)
    return GammaGammaFit(
        p=p,
        q=q,
        gamma=gamma,
        log_likelihood=result.log_likelihood,
        standard_errors=dict(zip(PARAMETER_NAMES, map(float, result.standard_errors), strict=True)),
        n_customers=round(rows.total),
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
    x, m = as_float(frequency), as_float(monetary_value)
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
    x = as_float(frequency)
    nu = rng.gamma(params.q, 1.0 / params.gamma, len(x))
    has_repeat = x > 0
    total = rng.gamma(np.where(has_repeat, params.p * x, 1.0), 1.0 / nu)
    return np.where(has_repeat, total / np.where(has_repeat, x, 1.0), 0.0)
