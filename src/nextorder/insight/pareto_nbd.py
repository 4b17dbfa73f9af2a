"""Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).

Purchases are Poisson with rate lambda ~ Gamma(r, alpha); lifetimes are exponential with
rate mu ~ Gamma(s, beta). The likelihood needs

    I = integral over tau in (t_x, T) of (alpha + tau)^-(r+x) (beta + tau)^-(s+1),

which lifetimes writes with two 2F1 terms whose difference cancels and whose series
stalls when one of alpha, beta dwarfs the other. Here I is computed directly, in log
space, by Gauss-Legendre quadrature on panels that double in width from the integrand's
decay scale: accurate to ~1e-9 relative over the whole range of x, T and the parameters,
and its gradient is the same quadrature of the differentiated integrand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln, logsumexp

from nextorder.insight.fitting import (
    ArrayLikeFloat,
    FloatArray,
    compress_rows,
    fit_log_parameters,
    weighted_counts,
)

PARAMETER_NAMES = ("r", "alpha", "s", "beta")
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(8)
_FIRST_PANEL_IN_DECAY_LENGTHS = 1.0
_MAX_PANELS = 96


@dataclass(frozen=True)
class ParetoNbdParams:
    r: float
    alpha: float
    s: float
    beta: float

    def as_array(self) -> FloatArray:
        return np.array([self.r, self.alpha, self.s, self.beta], dtype=np.float64)


@dataclass(frozen=True)
class ParetoNbdFit(ParetoNbdParams):
    log_likelihood: float
    standard_errors: dict[str, float]
    n_customers: int
    converged: bool


def _as_float(values: ArrayLikeFloat | float) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _log_integral_and_gradient(
    params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """ln J and its gradient, where I = (alpha+t_x)^-(r+x) (beta+t_x)^-s J.

    With tau = t_x + (beta + t_x)(e^xi - 1),
    J = integral over xi in (0, Xi) of exp(-s xi - (r+x) log1p(rho expm1(xi))),
    rho = (beta+t_x)/(alpha+t_x), Xi = ln((beta+T)/(beta+t_x)). The integrand is 1 at
    xi = 0 and decays at a rate between (r+x) rho + s and r+x+s. Rows with t_x = T
    have J = 0 (ln J = -inf) and a zero gradient.
    """
    r, alpha, s, beta = params
    rho = (beta + t_x) / (alpha + t_x)
    upper = np.log1p((T - t_x) / (beta + t_x))
    fastest_decay = np.maximum((r + x) * rho + s, r + x + s)
    first_edge = _FIRST_PANEL_IN_DECAY_LENGTHS / fastest_decay
    ratio = np.max(upper / first_edge, initial=1.0)
    panels = int(min(_MAX_PANELS, np.ceil(np.log2(max(ratio, 1.0))) + 2))
    edges = np.minimum(
        np.concatenate(
            [np.zeros((len(x), 1)), first_edge[:, None] * 2.0 ** np.arange(panels)], axis=1
        ),
        upper[:, None],
    )
    half_width = 0.5 * np.diff(edges, axis=1)
    centre = 0.5 * (edges[:, 1:] + edges[:, :-1])
    xi = (centre[:, :, None] + half_width[:, :, None] * _NODES).reshape(len(x), -1)
    weight = (half_width[:, :, None] * _WEIGHTS).reshape(len(x), -1)

    grows = np.expm1(xi)
    log_growth = np.log1p(rho[:, None] * grows)
    r_x = (r + x)[:, None]
    with np.errstate(divide="ignore"):
        log_terms = -s * xi - r_x * log_growth + np.log(weight)
    has_interval = upper > 0
    log_j = np.full(len(x), -np.inf)
    log_j[has_interval] = logsumexp(log_terms[has_interval], axis=1)
    share = np.zeros_like(log_terms)
    share[has_interval] = np.exp(log_terms[has_interval] - log_j[has_interval, None])

    d_rho = -np.sum(share * r_x * grows / (1.0 + rho[:, None] * grows), axis=1)
    gradient = np.empty((len(x), 4))
    gradient[:, 0] = -np.sum(share * log_growth, axis=1)
    gradient[:, 1] = d_rho * (-rho / (alpha + t_x))
    gradient[:, 2] = -np.sum(share * xi, axis=1)
    # Leibniz term: the upper limit Xi moves with beta.
    log_integrand_at_upper = -s * upper - (r + x) * np.log1p(rho * np.expm1(upper))
    boundary = np.zeros(len(x))
    boundary[has_interval] = np.exp(log_integrand_at_upper[has_interval] - log_j[has_interval]) * (
        1.0 / (beta + T[has_interval]) - 1.0 / (beta + t_x[has_interval])
    )
    gradient[:, 3] = d_rho * rho / (beta + t_x) + boundary
    return log_j, gradient


def _alive_and_dropped(
    params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Log of the two likelihood parts (alive at T; died in (t_x, T)) and their gradients."""
    r, alpha, s, beta = params
    log_alpha_T, log_beta_T = np.log(alpha + T), np.log(beta + T)
    log_alpha_t_x, log_beta_t_x = np.log(alpha + t_x), np.log(beta + t_x)
    alive = -(r + x) * log_alpha_T - s * log_beta_T
    log_j, d_log_j = _log_integral_and_gradient(params, x, t_x, T)
    dropped = np.log(s) - (r + x) * log_alpha_t_x - s * log_beta_t_x + log_j
    d_alive = np.column_stack([-log_alpha_T, -(r + x) / (alpha + T), -log_beta_T, -s / (beta + T)])
    d_dropped = d_log_j + np.column_stack(
        [-log_alpha_t_x, -(r + x) / (alpha + t_x), 1.0 / s - log_beta_t_x, -s / (beta + t_x)]
    )
    return alive, dropped, d_alive, d_dropped


def _log_likelihood_and_gradient(
    params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> tuple[FloatArray, FloatArray]:
    r, alpha, s, beta = params
    alive, dropped, d_alive, d_dropped = _alive_and_dropped(params, x, t_x, T)
    combined = np.logaddexp(alive, dropped)
    share_alive = np.exp(alive - combined)[:, None]
    share_dropped = np.exp(dropped - combined)[:, None]
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    d_common = np.column_stack(
        [
            digamma(r + x) - digamma(r) + np.log(alpha),
            np.full(len(x), r / alpha),
            np.full(len(x), np.log(beta)),
            np.full(len(x), s / beta),
        ]
    )
    gradient = (
        d_common
        + share_alive * d_alive
        + share_dropped * np.where(share_dropped > 0, d_dropped, 0.0)
    )
    return common + combined, gradient


def log_likelihood(
    *,
    params: ParetoNbdParams,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
) -> FloatArray:
    """Per-customer log-likelihood."""
    values, _ = _log_likelihood_and_gradient(
        params.as_array(), _as_float(frequency), _as_float(recency), _as_float(T)
    )
    return values


def log_likelihood_gradient(
    *,
    params: ParetoNbdParams,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
) -> FloatArray:
    """Per-customer gradient in (r, alpha, s, beta), shape (n, 4)."""
    _, gradient = _log_likelihood_and_gradient(
        params.as_array(), _as_float(frequency), _as_float(recency), _as_float(T)
    )
    return gradient


def fit(
    *,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
    weights: ArrayLikeFloat | None = None,
    penalizer: float = 0.0,
) -> ParetoNbdFit:
    """Maximum likelihood; customers sharing (x, t_x, T) are fitted once, weighted."""
    x, t_x, age = _as_float(frequency), _as_float(recency), _as_float(T)
    counts = np.ones(len(x)) if weights is None else _as_float(weights)
    distinct = compress_rows(columns=(x, t_x, age))
    distinct_weights = weighted_counts(distinct.inverse, weights=counts)
    dx, dt_x, dT = distinct.columns

    def weighted(params: FloatArray) -> tuple[float, FloatArray]:
        values, gradient = _log_likelihood_and_gradient(params, dx, dt_x, dT)
        return float(distinct_weights @ values), distinct_weights @ gradient

    mean_age = max(float(np.mean(age)), 1e-3)
    result = fit_log_parameters(
        log_likelihood_and_gradient=weighted,
        initial_params=np.array([1.0, mean_age, 1.0, mean_age]),
        total_weight=float(counts.sum()),
        penalizer=penalizer,
    )
    r, alpha, s, beta = (float(value) for value in result.params)
    return ParetoNbdFit(
        r=r,
        alpha=alpha,
        s=s,
        beta=beta,
        log_likelihood=result.log_likelihood,
        standard_errors=dict(zip(PARAMETER_NAMES, map(float, result.standard_errors), strict=True)),
        n_customers=round(counts.sum()),
        converged=result.converged,
    )


def probability_alive(
    *,
    params: ParetoNbdParams,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
) -> FloatArray:
    """P(still active at T | history): the alive part's share of the likelihood."""
    alive, dropped, _, _ = _alive_and_dropped(
        params.as_array(), _as_float(frequency), _as_float(recency), _as_float(T)
    )
    return np.asarray(np.exp(alive - np.logaddexp(alive, dropped)), dtype=np.float64)


def _expected_over_lifetime_window(s: float, scale: FloatArray, t: FloatArray) -> FloatArray:
    """(1 - (scale/(scale+t))^(s-1)) / (s-1), with its limit log1p(t/scale) at s = 1."""
    log_ratio = np.log1p(t / scale)
    if s == 1.0:
        return np.asarray(log_ratio, dtype=np.float64)
    return np.asarray(-np.expm1(-(s - 1.0) * log_ratio) / (s - 1.0), dtype=np.float64)


def expected_transactions(
    *,
    params: ParetoNbdParams,
    t: ArrayLikeFloat | float,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
) -> FloatArray:
    """E[purchases in (T, T + t] | x, t_x, T]."""
    x, age = _as_float(frequency), _as_float(T)
    alive = probability_alive(params=params, frequency=x, recency=recency, T=age)
    rate = (params.r + x) * (params.beta + age) / (params.alpha + age)
    window = _expected_over_lifetime_window(params.s, params.beta + age, _as_float(t))
    return alive * rate * window


def expected_cumulative_transactions(
    *, params: ParetoNbdParams, t: ArrayLikeFloat | float
) -> FloatArray:
    """E[X(t)] for a new customer."""
    horizon = _as_float(t)
    window = _expected_over_lifetime_window(params.s, np.full_like(horizon, params.beta), horizon)
    return params.r * params.beta / params.alpha * window
