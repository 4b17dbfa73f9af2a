"""BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

A customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha) and, after each
repeat purchase, drops out for good with probability p ~ Beta(a, b). Inputs are the RFM
summary columns: frequency x (repeat purchases), recency t_x and age T, in one time unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaincinv, digamma, expit, gammaln, hyp2f1, zeta

from nextorder.insight.fitting import (
    ArrayLikeFloat,
    BoolArray,
    Derivatives,
    DistinctValues,
    FloatArray,
    as_float,
    compress_rows,
    fit_log_parameters,
    sum_of_products,
    symmetric,
    weighted_counts,
)

PARAMETER_NAMES = ("r", "alpha", "a", "b")
_NEAR_ONE = 1e-6
ArrayOrFloat = FloatArray | float
_MAX_SERIES_TERMS = 500
_LEGENDRE_NODES, _LEGENDRE_WEIGHTS = np.polynomial.legendre.leggauss(96)
_UNIT_NODES, _UNIT_WEIGHTS = 0.5 * (_LEGENDRE_NODES + 1.0), 0.5 * _LEGENDRE_WEIGHTS


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_array(self) -> FloatArray:
        return np.array([self.r, self.alpha, self.a, self.b], dtype=np.float64)


@dataclass(frozen=True)
class BgNbdFit(BgNbdParams):
    log_likelihood: float
    standard_errors: dict[str, float]
    n_customers: int
    converged: bool


@dataclass(frozen=True)
class _Rows:
    """Per-row quantities that do not depend on the parameters, computed once per fit."""

    x: DistinctValues
    x_rows: FloatArray
    t_x: FloatArray
    T: FloatArray
    has_repeat: BoolArray
    repeats_before_last: FloatArray
    """max(x - 1, 0): the dropout term is a / (b + x - 1), absent without repeats."""

    @classmethod
    def of(cls, frequency: FloatArray, recency: FloatArray, T: FloatArray) -> _Rows:
        return cls(
            x=DistinctValues.of(frequency),
            x_rows=frequency,
            t_x=recency,
            T=T,
            has_repeat=frequency > 0,
            repeats_before_last=np.maximum(frequency - 1.0, 0.0),
        )


@dataclass(frozen=True)
class _Terms:
    """The likelihood's parts at given params (eq. 6 of the paper, in log space).

    The two alternatives (still alive at T; dropped out after t_x) are combined with
    logaddexp, so neither huge x nor huge T can overflow; ``share_*`` are their shares
    of the likelihood, which weight their gradients.
    """

    combined: FloatArray
    share_alive: FloatArray
    share_dropped: FloatArray
    r_x: FloatArray
    log_alpha_T: FloatArray
    log_alpha_t_x: FloatArray
    inverse_alpha_T: FloatArray
    inverse_alpha_t_x: FloatArray
    inverse_b: FloatArray
    frequency_values: FloatArray
    frequency_gradient: FloatArray

    @classmethod
    def at(cls, params: FloatArray, rows: _Rows) -> _Terms:
        r, alpha, a, b = params
        xv = rows.x.values
        r_x = r + rows.x_rows
        b_plus_x_minus_one = b + rows.repeats_before_last
        log_alpha_T = np.log(alpha + rows.T)
        log_alpha_t_x = np.log(alpha + rows.t_x)
        alive = -r_x * log_alpha_T
        dropped = np.where(
            rows.has_repeat,
            np.log(a) - np.log(b_plus_x_minus_one) - r_x * log_alpha_t_x,
            -np.inf,
        )
        combined = np.logaddexp(alive, dropped)
        psi_a_b_xv = digamma(a + b + xv)
        return cls(
            combined=combined,
            share_alive=np.exp(alive - combined),
            share_dropped=np.exp(dropped - combined),
            r_x=r_x,
            log_alpha_T=log_alpha_T,
            log_alpha_t_x=log_alpha_t_x,
            inverse_alpha_T=1.0 / (alpha + rows.T),
            inverse_alpha_t_x=1.0 / (alpha + rows.t_x),
            inverse_b=1.0 / b_plus_x_minus_one,
            frequency_values=gammaln(r + xv)
            - gammaln(r)
            + r * np.log(alpha)
            + gammaln(a + b)
            + gammaln(b + xv)
            - gammaln(b)
            - gammaln(a + b + xv),
            frequency_gradient=np.column_stack(
                [
                    digamma(r + xv) - digamma(r) + np.log(alpha),
                    np.full_like(xv, r / alpha),
                    digamma(a + b) - psi_a_b_xv,
                    digamma(a + b) + digamma(b + xv) - digamma(b) - psi_a_b_xv,
                ]
            ),
        )

    def row_gradient(self, a: float) -> FloatArray:
        """Gradient of the per-row part in (r, alpha, a, b), shape (n, 4)."""
        alive, dropped = self.share_alive, self.share_dropped
        gradient = np.empty((len(alive), 4))
        gradient[:, 0] = -alive * self.log_alpha_T - dropped * self.log_alpha_t_x
        gradient[:, 1] = -self.r_x * (
            alive * self.inverse_alpha_T + dropped * self.inverse_alpha_t_x
        )
        gradient[:, 2] = dropped / a
        gradient[:, 3] = -dropped * self.inverse_b
        return gradient


def _per_row(
    params: BgNbdParams, frequency: ArrayLikeFloat, recency: ArrayLikeFloat, T: ArrayLikeFloat
) -> tuple[FloatArray, FloatArray]:
    rows = _Rows.of(as_float(frequency), as_float(recency), as_float(T))
    terms = _Terms.at(params.as_array(), rows)
    inverse = rows.x.inverse
    return (
        terms.combined + terms.frequency_values[inverse],
        terms.row_gradient(params.a) + terms.frequency_gradient[inverse],
    )


def log_likelihood(
    *, params: BgNbdParams, frequency: ArrayLikeFloat, recency: ArrayLikeFloat, T: ArrayLikeFloat
) -> FloatArray:
    """Per-customer log-likelihood, for model comparison and tests."""
    return _per_row(params, frequency, recency, T)[0]


def log_likelihood_gradient(
    *, params: BgNbdParams, frequency: ArrayLikeFloat, recency: ArrayLikeFloat, T: ArrayLikeFloat
) -> FloatArray:
    """Per-customer gradient in (r, alpha, a, b), shape (n, 4)."""
    return _per_row(params, frequency, recency, T)[1]


def _weighted_derivatives(
    params: FloatArray, rows: _Rows, weights: FloatArray, frequency_weights: FloatArray
) -> Derivatives:
    """Weighted log-likelihood, gradient and Hessian over the rows, as sums of products
    of per-row columns (einsum, no BLAS, no (n, 4) temporaries).

    The per-row part is log(e^u + e^v), whose Hessian is the shares' mix of the two
    Hessians plus share_alive * share_dropped * (grad u - grad v)(grad u - grad v)^T.
    """
    r, alpha, a, b = params
    terms = _Terms.at(params, rows)
    total = float(frequency_weights.sum())
    xv = rows.x.values
    alive = weights * terms.share_alive
    dropped = weights * terms.share_dropped
    r_x, inverse_T, inverse_t_x = terms.r_x, terms.inverse_alpha_T, terms.inverse_alpha_t_x

    n_dropped = float(dropped.sum())
    value = sum_of_products(weights, terms.combined) + float(
        frequency_weights @ terms.frequency_values
    )
    gradient = np.array(
        [
            -sum_of_products(alive, terms.log_alpha_T)
            - sum_of_products(dropped, terms.log_alpha_t_x),
            -sum_of_products(alive, r_x, inverse_T) - sum_of_products(dropped, r_x, inverse_t_x),
            n_dropped / a,
            -sum_of_products(dropped, terms.inverse_b),
        ]
    ) + np.einsum("i,ij->j", frequency_weights, terms.frequency_gradient)

    mixing = alive * terms.share_dropped
    differences = np.stack(
        [
            terms.log_alpha_t_x - terms.log_alpha_T,
            r_x * (inverse_t_x - inverse_T),
            terms.inverse_b,
        ]
    )
    # (grad u - grad v) is (differences[0], differences[1], -1/a, differences[2]).
    outer = np.einsum("in,jn->ij", differences * mixing, differences)
    by_a = -np.einsum("in,n->i", differences, mixing) / a
    hessian = np.empty((4, 4))
    hessian[np.ix_([0, 1, 3], [0, 1, 3])] = outer
    hessian[2, [0, 1, 3]] = hessian[[0, 1, 3], 2] = by_a
    hessian[2, 2] = float(mixing.sum()) / a**2

    trigamma_a_b_xv = zeta(2.0, a + b + xv)
    trigamma_a_b = float(zeta(2.0, a + b))
    hessian += symmetric(
        {
            (0, 0): float(frequency_weights @ zeta(2.0, r + xv)) - total * float(zeta(2.0, r)),
            (0, 1): total / alpha
            - sum_of_products(alive, inverse_T)
            - sum_of_products(dropped, inverse_t_x),
            (1, 1): -total * r / alpha**2
            + sum_of_products(alive, r_x, inverse_T * inverse_T)
            + sum_of_products(dropped, r_x, inverse_t_x * inverse_t_x),
            (2, 2): total * trigamma_a_b
            - float(frequency_weights @ trigamma_a_b_xv)
            - n_dropped / a**2,
            (2, 3): total * trigamma_a_b - float(frequency_weights @ trigamma_a_b_xv),
            (3, 3): total * (trigamma_a_b - float(zeta(2.0, b)))
            + float(frequency_weights @ (zeta(2.0, b + xv) - trigamma_a_b_xv))
            + sum_of_products(dropped, terms.inverse_b, terms.inverse_b),
        },
        4,
    )
    return value, gradient, hessian


def _moment_start(rows: _Rows, weights: FloatArray) -> FloatArray:
    """r and alpha from the moments of Poisson-Gamma counts, dropout ignored:
    E[x | T] = (r / alpha) T and Var[x | T] - E[x | T] = (r / alpha^2) T^2; a = b = 1.

    A start a Newton step or two closer than a fixed one. Without overdispersion (or
    without repeat purchases) the moments say nothing, and the start is neutral.
    """
    x, age = rows.x_rows, rows.T
    rate = sum_of_products(weights, x) / sum_of_products(weights, age)
    excess = x - rate * age
    spread = sum_of_products(weights, excess * excess - rate * age) / sum_of_products(
        weights, age, age
    )
    if not (rate > 0 and spread > 0):
        return np.array([1.0, max(float(np.average(age, weights=weights)), 1e-3), 1.0, 1.0])
    alpha = rate / spread
    return np.array([rate * alpha, alpha, 1.0, 1.0])


def fit(
    *,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
    weights: ArrayLikeFloat | None = None,
    penalizer: float = 0.0,
) -> BgNbdFit:
    """Maximum likelihood; customers sharing (x, t_x, T) are fitted once, weighted.

    ``weights`` lets a caller pass already-distinct rows with their counts.
    """
    x, t_x, age = as_float(frequency), as_float(recency), as_float(T)
    counts = np.ones(len(x)) if weights is None else as_float(weights)
    distinct = compress_rows(columns=(x, t_x, age))
    distinct_weights = weighted_counts(distinct.inverse, weights=counts)
    rows = _Rows.of(*distinct.columns)
    frequency_weights = rows.x.total_weights(distinct_weights)

    result = fit_log_parameters(
        log_likelihood_derivatives=lambda params: _weighted_derivatives(
            params, rows, distinct_weights, frequency_weights
        ),
        initial_params=_moment_start(rows, distinct_weights),
        total_weight=float(counts.sum()),
        penalizer=penalizer,
    )
    r, alpha, a, b = (float(value) for value in result.params)
    return BgNbdFit(
        r=r,
        alpha=alpha,
        a=a,
        b=b,
        log_likelihood=result.log_likelihood,
        standard_errors=dict(zip(PARAMETER_NAMES, map(float, result.standard_errors), strict=True)),
        n_customers=round(counts.sum()),
        converged=result.converged,
    )


def probability_alive(
    *, params: BgNbdParams, frequency: ArrayLikeFloat, recency: ArrayLikeFloat, T: ArrayLikeFloat
) -> FloatArray:
    """P(still active at T | history); 1 for customers without repeat purchases."""
    x, t_x, age = as_float(frequency), as_float(recency), as_float(T)
    r, alpha, a, b = params.as_array()
    log_odds_dropped = np.where(
        x > 0,
        np.log(a)
        - np.log(b + np.maximum(x - 1.0, 0.0))
        + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x)),
        -np.inf,
    )
    return np.asarray(expit(-log_odds_dropped), dtype=np.float64)


def _hyp2f1(a: ArrayOrFloat, b: ArrayOrFloat, c: ArrayOrFloat, z: ArrayOrFloat) -> FloatArray:
    """scipy's 2F1, with the plain power series where it gives up.

    scipy 1.17 returns NaN for c >~ 100 and z >~ 0.95 (e.g. 2F1(1, 1; 104; 0.96)), where
    the series' terms shrink like (ab/c)^k / k! as long as a and b are not much larger
    than c. Where both fail the result stays non-finite and the caller switches form.
    """
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z)))
    values = np.array(hyp2f1(a, b, c, z), dtype=np.float64)
    failed = ~np.isfinite(values)
    if failed.any():
        a_f, b_f, c_f, z_f = a[failed], b[failed], c[failed], z[failed]
        term = np.ones_like(c_f)
        total = np.ones_like(c_f)
        with np.errstate(over="ignore", invalid="ignore"):
            for k in range(_MAX_SERIES_TERMS):
                term *= (a_f + k) * (b_f + k) / ((c_f + k) * (k + 1.0)) * z_f
                total += term
                if not np.any(np.abs(term) > 1e-17 * np.abs(total)):
                    break
        values[failed] = np.where(np.abs(term) <= 1e-17 * np.abs(total), total, np.nan)
    return values


def _expected_if_alive_by_quadrature(
    r: float, alpha: float, a: float, b: float, x: FloatArray, age: FloatArray, t: FloatArray
) -> FloatArray:
    """The same expectation as a mixture over the dropout probability p ~ Beta(a, b + x).

    Alive customers with rates lambda, p buy (1 - exp(-lambda p t)) / p times in t;
    averaging over lambda ~ Gamma(r + x, alpha + T) leaves
    g(p) = (1 - (1 + p t / (alpha + T))^-(r+x)) / p, bounded and monotone, integrated
    against the Beta quantile function. Slower than the closed form, but finite for
    every input, so it is the fallback where the 2F1 evaluation fails.
    """
    nodes, weights = _UNIT_NODES, _UNIT_WEIGHTS
    p = betaincinv(a, (b + x)[:, None], nodes[None, :])
    rate = (t / (alpha + age))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(
            p > 0, -np.expm1(-(r + x)[:, None] * np.log1p(p * rate)) / p, (r + x)[:, None] * rate
        )
    return np.asarray(g @ weights, dtype=np.float64)


def _expected_if_alive(
    r: float, alpha: float, a: float, b: float, x: FloatArray, age: FloatArray, t: FloatArray
) -> FloatArray:
    """(a+b+x-1)/(a-1) * [1 - (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z)], z = t/(alpha+T+t).

    lifetimes evaluates 2F1 directly, which overflows for large x; its Euler transform
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z) stays moderate. Where that product is
    not finite the direct form is tried, and where both fail, the quadrature.
    """
    x, age, t = np.broadcast_arrays(x, age, t)
    c = a + b + x - 1.0
    z = t / (alpha + age + t)
    log_remaining = np.log1p(-z)
    with np.errstate(invalid="ignore", over="ignore"):
        decay = np.exp((a - 1.0) * log_remaining) * _hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
        retry = ~np.isfinite(decay)
        if retry.any():
            x_r, z_r = x[retry], z[retry]
            decay[retry] = np.exp((r + x_r) * log_remaining[retry]) * _hyp2f1(
                r + x_r, b + x_r, c[retry], z_r
            )
        expected = c / (a - 1.0) * (1.0 - decay)
    failed = ~np.isfinite(expected) | (expected < -1e-9 * np.abs(c / (a - 1.0)))
    if failed.any():
        expected = np.array(expected, dtype=np.float64)
        expected[failed] = _expected_if_alive_by_quadrature(
            r, alpha, a, b, x[failed], age[failed], t[failed]
        )
    return np.asarray(np.maximum(expected, 0.0), dtype=np.float64)


def expected_transactions_if_alive(
    *, params: BgNbdParams, t: ArrayLikeFloat | float, frequency: ArrayLikeFloat, T: ArrayLikeFloat
) -> FloatArray:
    """Expected purchases in (T, T + t] for a customer known to be alive at T.

    Depends on (x, T) but not t_x, so callers scoring many customers can evaluate it on
    distinct (x, T) pairs.
    """
    r, alpha, a, b = params.as_array()
    x, age, horizon = as_float(frequency), as_float(T), as_float(t)
    if abs(a - 1.0) >= _NEAR_ONE:
        return _expected_if_alive(r, alpha, a, b, x, age, horizon)
    # (a+b+x-1)/(a-1) * [...] is 0/0 at a = 1; the function is smooth there.
    return 0.5 * (
        _expected_if_alive(r, alpha, 1.0 - 2 * _NEAR_ONE, b, x, age, horizon)
        + _expected_if_alive(r, alpha, 1.0 + 2 * _NEAR_ONE, b, x, age, horizon)
    )


def expected_transactions(
    *,
    params: BgNbdParams,
    t: ArrayLikeFloat | float,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
) -> FloatArray:
    """E[purchases in (T, T + t] | x, t_x, T] (paper eq. 10)."""
    alive = probability_alive(params=params, frequency=frequency, recency=recency, T=T)
    return alive * expected_transactions_if_alive(params=params, t=t, frequency=frequency, T=T)


def expected_cumulative_transactions(
    *, params: BgNbdParams, t: ArrayLikeFloat | float
) -> FloatArray:
    """E[X(t)]: repeat purchases in the first t periods of a new customer (paper eq. 9)."""
    horizon = as_float(t)
    zeros = np.zeros_like(horizon)
    return expected_transactions_if_alive(params=params, t=horizon, frequency=zeros, T=zeros)


def simulate(
    *,
    params: BgNbdParams,
    T: ArrayLikeFloat,
    rng: np.random.Generator,
    recency_resolution: float | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Draw (frequency, recency) for customers observed for T periods each.

    ``recency_resolution`` puts recency on a grid (1/7: whole days in weeks), as purchases
    recorded by date are. The first purchase happens at a uniform time of its day, so
    the day count floor(offset + t_x) is unbiased; None keeps continuous times.
    """
    age = as_float(T)
    size = len(age)
    rate = rng.gamma(params.r, 1.0 / params.alpha, size)
    dropout = rng.beta(params.a, params.b, size)
    arrivals = rng.poisson(rate * age)
    purchases_before_dropout = rng.geometric(np.clip(dropout, 1e-300, 1.0))
    frequency = np.minimum(arrivals, purchases_before_dropout)
    has_repeat = frequency > 0
    # The k-th of n uniform arrival times on (0, T) is T * Beta(k, n - k + 1).
    position = rng.beta(
        np.where(has_repeat, frequency, 1), np.where(has_repeat, arrivals - frequency + 1, 1)
    )
    recency = np.where(has_repeat, age * position, 0.0)
    if recency_resolution is not None:
        offset_in_first_day = rng.uniform(0.0, 1.0, size)
        recency = np.where(
            has_repeat,
            np.floor(recency / recency_resolution + offset_in_first_day) * recency_resolution,
            0.0,
        )
    return frequency.astype(np.float64), recency
