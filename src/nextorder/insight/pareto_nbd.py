"""Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).

Purchases are Poisson with rate lambda ~ Gamma(r, alpha); lifetimes are exponential with
rate mu ~ Gamma(s, beta). Besides Gamma-function factors of x, a customer's likelihood is

    A + s I,  A = (alpha + T)^-(r+x) (beta + T)^-s,
    I = integral over tau in (t_x, T) of (alpha + tau)^-(r+x) (beta + tau)^-(s+1).

I = G(t_x) - G(T), where G(t) integrates the same function from t to infinity and so
depends on (x, t) alone: a fit evaluates it once per distinct (x, t) pair, a few
thousand however many customers. With P the larger of alpha, beta, G is a
2F1(1, b; c; z) series in z = |alpha - beta| / (P + t) whose terms are positive and
shrink faster than z^k, and whose derivatives in the parameters are sums over the same
terms. G(t_x) - G(T) cancels when t_x is near T, but then s G(T) < A, so what is lost
is a rounding error of the whole likelihood.

Where z is near 1 (alpha and beta far apart, t small) the series would need thousands
of terms; there I is integrated directly by Gauss-Legendre quadrature on panels that
double in width from the integrand's decay scale (~1e-9 relative over the whole range
of x, T and the parameters). lifetimes subtracts two hyp2f1 values instead, which
cancel badly and whose series stall in the same corner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln, logsumexp, zeta

from nextorder.insight.fitting import (
    ArrayLikeFloat,
    Derivatives,
    DistinctValues,
    FloatArray,
    IntArray,
    as_float,
    compress_rows,
    fit_log_parameters,
    sum_of_products,
    symmetric,
    weighted_counts,
)

PARAMETER_NAMES = ("r", "alpha", "s", "beta")
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(8)
_FIRST_PANEL_IN_DECAY_LENGTHS = 1.0
_MAX_PANELS = 96
_SERIES_MAX_Z = 0.8
"""Beyond this the series needs more than ~190 terms and quadrature is cheaper."""
_SERIES_TOLERANCE = 1e-17
_MIN_SERIES_TERMS = 4
"""Enough for the second derivative in z, which starts at the z^2 term, at z = 0."""
_SERIES_BLOCK = 1 << 15
"""Terms times pairs per block: larger (term, pair) arrays fall out of cache."""


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


@dataclass(frozen=True)
class _Integrals:
    """Logs of integrals (k,), gradients (4, k) and Hessians (4, 4, k) in the parameters.

    Rows come last throughout: the sums over them then run along contiguous memory.
    """

    log: FloatArray
    gradient: FloatArray
    hessian: FloatArray


def _accumulate(operation: np.ufunc, rows: FloatArray) -> None:
    """Running sums or products down the first axis, in place.

    numpy's cumsum and cumprod step one element at a time; a row at a time is several
    times faster when the rows are long.
    """
    for k in range(1, len(rows)):
        operation(rows[k], rows[k - 1], out=rows[k])


def _series_terms_needed(z: FloatArray) -> FloatArray:
    """Terms after which the rest of the series (less than z^K / (1 - z)) is negligible."""
    with np.errstate(divide="ignore"):
        needed = np.ceil(np.log(_SERIES_TOLERANCE * (1.0 - z)) / np.log(z)) + 2.0
    return np.maximum(np.where(z > 0, needed, 0.0), _MIN_SERIES_TERMS)


def _log_tails(
    m: FloatArray, big: float, n: FloatArray, small: float, t: FloatArray, terms: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ln G(t) = ln integral over (t, inf) of (big+tau)^-m (small+tau)^-n, big >= small,
    with its gradient and Hessian in (m, big, n, small), from ``terms`` terms of

        G = (big+t)^-m (small+t)^-(n-1) / (m+n-1) * sum_k D_k z^k,
        D_k = (m)_k / (m+n)_k,  z = (big - small) / (big + t).

    Each term's log has simple derivatives in m, n (sums of 1/(m+j), 1/(m+n+j)) and z
    (k/z), so the derivatives of the sum are sums over the terms; z-derivatives are
    formed from D_k z^(k-1) and D_k z^(k-2), as z is 0 at alpha = beta. Arrays are
    (term, pair), k = 1 .. terms - 1 (the k = 0 term is 1 and has no derivatives).
    """
    total = m + n
    big_t, small_t = big + t, small + t
    z = (big - small) / big_t
    j = np.arange(terms - 1.0)[:, None]
    k = j + 1.0
    m_j = m + j
    inverse_m = 1.0 / m_j
    inverse_total = 1.0 / (total + j)
    products = np.empty((terms - 1, 2, len(m)))
    products[:, 0] = m_j * inverse_total
    products[0, 1] = 1.0
    products[1:, 1] = z
    _accumulate(np.multiply, products)
    coefficient, power = products[:, 0], products[:, 1]  # D_k, z^(k-1)
    sums = np.empty((terms - 1, 4, len(m)))
    sums[:, 0] = inverse_m - inverse_total
    sums[:, 1] = inverse_total
    sums[:, 2] = inverse_total * inverse_total
    sums[:, 3] = inverse_m * inverse_m
    _accumulate(np.add, sums)
    # d/dm and -d/dn of ln term_k, and the sums of squares for the second derivatives.
    u, v, c2, b2 = sums[:, 0], sums[:, 1], sums[:, 2], sums[:, 3]
    d_z = k * coefficient * power  # d/dz of D_k z^k
    term = d_z * (z / k)
    d_zz = (k[1:] * j[1:]) * coefficient[1:] * power[:-1]

    series = 1.0 + term.sum(axis=0)

    def mean(weights: FloatArray, values: FloatArray) -> FloatArray:
        return np.asarray(np.einsum("kp,kp->p", weights, values), dtype=np.float64) / series

    f_m, f_n, f_z = mean(term, u), -mean(term, v), d_z.sum(axis=0) / series
    f_mm = mean(term, u * u - b2 + c2) - f_m * f_m
    f_mn = mean(term, c2 - u * v) - f_m * f_n
    f_nn = mean(term, v * v + c2) - f_n * f_n
    f_mz = mean(d_z, u) - f_m * f_z
    f_nz = -mean(d_z, v) - f_n * f_z
    f_zz = d_zz.sum(axis=0) / series - f_z * f_z

    z_big = small_t / big_t**2
    z_small = -1.0 / big_t
    log_big, log_small = np.log(big_t), np.log(small_t)
    inverse_rate = 1.0 / (total - 1.0)
    log_g = -m * log_big - (n - 1.0) * log_small + np.log(inverse_rate) + np.log(series)
    gradient = np.stack(
        [
            -log_big - inverse_rate + f_m,
            -m / big_t + f_z * z_big,
            -log_small - inverse_rate + f_n,
            -(n - 1.0) / small_t + f_z * z_small,
        ]
    )
    hessian = symmetric(
        {
            (0, 0): inverse_rate**2 + f_mm,
            (0, 1): -1.0 / big_t + f_mz * z_big,
            (0, 2): inverse_rate**2 + f_mn,
            (0, 3): f_mz * z_small,
            (1, 1): m / big_t**2 + f_zz * z_big**2 - 2.0 * f_z * small_t / big_t**3,
            (1, 2): f_nz * z_big,
            (1, 3): f_zz * z_big * z_small + f_z / big_t**2,
            (2, 2): inverse_rate**2 + f_nn,
            (2, 3): -1.0 / small_t + f_nz * z_small,
            (3, 3): (n - 1.0) / small_t**2 + f_zz * z_small**2,
        },
        4,
    )
    return log_g, gradient, hessian


def _tails_by_series(params: FloatArray, x: FloatArray, t: FloatArray) -> _Integrals:
    """ln G at (x, t) pairs sorted by t, all with z <= _SERIES_MAX_Z.

    The terms needed grow with z, which falls as t grows, so the pairs are taken in runs
    that need similar numbers of terms, and in blocks of at most _SERIES_BLOCK elements.
    """
    r, alpha, s, beta = params
    if alpha >= beta:
        big, small, m, n = alpha, beta, r + x, np.full_like(x, s + 1.0)
        order = [0, 1, 2, 3]
    else:
        big, small, m, n = beta, alpha, np.full_like(x, s + 1.0), r + x
        order = [2, 3, 0, 1]
    needed = _series_terms_needed((big - small) / (big + t))
    log_g, gradient, hessian = np.empty(len(x)), np.empty((4, len(x))), np.empty((4, 4, len(x)))
    start = 0
    while start < len(x):
        terms = int(needed[start])
        similar = int(np.searchsorted(-needed, -terms * 2 // 3, side="right"))
        stop = max(min(similar, start + _SERIES_BLOCK // terms), start + 1)
        run = slice(start, stop)
        log_g[run], gradient[:, run], hessian[:, :, run] = _log_tails(
            m[run], big, n[run], small, t[run], terms
        )
        start = stop
    # (m, big, n, small) is (r, alpha, s, beta) or (s, beta, r, alpha): its own inverse.
    return _Integrals(log=log_g, gradient=gradient[order], hessian=hessian[order][:, order])


def _integrals_by_quadrature(
    params: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> _Integrals:
    """ln I by quadrature, I = (alpha+t_x)^-(r+x) (beta+t_x)^-s J.

    With tau = t_x + (beta + t_x)(e^xi - 1),
    J = integral over xi in (0, Xi) of exp(-s xi - (r+x) log1p(rho expm1(xi))),
    rho = (beta+t_x)/(alpha+t_x), Xi = ln((beta+T)/(beta+t_x)). The integrand is 1 at
    xi = 0 and decays at a rate between (r+x) rho + s and r+x+s. The derivatives are the
    same quadrature of the integrand's derivatives at the nodes held fixed in tau, where
    the limits are data. Rows with t_x = T have I = 0 (ln I = -inf) and zero derivatives.
    """
    r, alpha, s, beta = params
    alpha_t_x, beta_t_x = alpha + t_x, beta + t_x
    rho = beta_t_x / alpha_t_x
    upper = np.log1p((T - t_x) / beta_t_x)
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

    log_growth = np.log1p(rho[:, None] * np.expm1(xi))
    r_x = (r + x)[:, None]
    with np.errstate(divide="ignore"):
        log_terms = -s * xi - r_x * log_growth + np.log(weight)
    has_interval = upper > 0
    log_j = np.full(len(x), -np.inf)
    log_j[has_interval] = logsumexp(log_terms[has_interval], axis=1)
    share = np.zeros_like(log_terms)
    share[has_interval] = np.exp(log_terms[has_interval] - log_j[has_interval, None])

    log_alpha_t_x, log_beta_t_x = np.log(alpha_t_x), np.log(beta_t_x)
    inverse_alpha = np.exp(-log_growth) / alpha_t_x[:, None]  # 1 / (alpha + tau)
    inverse_beta = np.exp(-xi) / beta_t_x[:, None]  # 1 / (beta + tau)
    # d ln f / d(r, alpha, s, beta) at the nodes, f = (alpha+tau)^-(r+x) (beta+tau)^-(s+1).
    d_log_f = np.stack(
        [
            -(log_alpha_t_x[:, None] + log_growth),
            -r_x * inverse_alpha,
            -(log_beta_t_x[:, None] + xi),
            -(s + 1.0) * inverse_beta,
        ]
    )
    gradient = np.einsum("nk,ink->in", share, d_log_f)
    centred = d_log_f - gradient[:, :, None]
    hessian = np.einsum("nk,ink,jnk->ijn", share, centred, centred)
    hessian[0, 1] -= np.einsum("nk,nk->n", share, inverse_alpha)
    hessian[1, 1] += (r + x) * np.einsum("nk,nk->n", share, inverse_alpha**2)
    hessian[2, 3] -= np.einsum("nk,nk->n", share, inverse_beta)
    hessian[3, 3] += (s + 1.0) * np.einsum("nk,nk->n", share, inverse_beta**2)
    hessian[1, 0], hessian[3, 2] = hessian[0, 1], hessian[2, 3]
    log_i = -(r + x) * log_alpha_t_x - s * log_beta_t_x + log_j
    return _Integrals(log=log_i, gradient=gradient, hessian=hessian)


@dataclass(frozen=True)
class _Histories:
    """Rows (x, t_x, T) and the distinct (x, t) pairs, t in {t_x, T}, that G is needed at.

    Pairs are sorted by t, so the z of the series falls along them and the pairs too
    close to z = 1 for the series are a prefix.
    """

    x: DistinctValues
    x_rows: FloatArray
    t_x: FloatArray
    T: FloatArray
    pair_x: FloatArray
    pair_t: FloatArray
    at_t_x: IntArray
    at_T: IntArray

    @classmethod
    def of(cls, frequency: FloatArray, recency: FloatArray, T: FloatArray) -> _Histories:
        size = len(frequency)
        pairs = compress_rows(
            columns=(np.concatenate([recency, T]), np.concatenate([frequency, frequency]))
        )
        pair_t, pair_x = pairs.columns
        return cls(
            x=DistinctValues.of(frequency),
            x_rows=frequency,
            t_x=recency,
            T=T,
            pair_x=pair_x,
            pair_t=pair_t,
            at_t_x=pairs.inverse[:size],
            at_T=pairs.inverse[size:],
        )


@dataclass(frozen=True)
class _Terms:
    """Each row's likelihood as A + s G(t_x) - s G(T) (or A + s I where the series does
    not reach), in log space: the three parts' shares of the likelihood (3, n), the last
    one negative, and gradients (3, 4, n); and the Gamma-function factors per distinct x.
    """

    log_mixture: FloatArray
    mixture_gradient: FloatArray
    shares: FloatArray
    part_gradients: FloatArray
    tails: _Integrals
    first_series_pair: int
    series_rows: IntArray
    quadrature_rows: IntArray
    quadrature: _Integrals | None
    frequency_values: FloatArray
    frequency_gradient: FloatArray

    @classmethod
    def at(cls, params: FloatArray, rows: _Histories) -> _Terms:
        r, alpha, s, beta = params
        big, small = max(alpha, beta), min(alpha, beta)
        first = int(np.count_nonzero((big - small) / (big + rows.pair_t) > _SERIES_MAX_Z))
        tails = _tails_by_series(params, rows.pair_x[first:], rows.pair_t[first:])
        in_series = rows.at_t_x >= first
        series_rows = np.flatnonzero(in_series)
        quadrature_rows = np.flatnonzero(~in_series)

        size = len(rows.x_rows)
        r_x = r + rows.x_rows
        log_alpha_T, log_beta_T = np.log(alpha + rows.T), np.log(beta + rows.T)
        log_parts = np.empty((3, size))
        part_gradients = np.zeros((3, 4, size))
        log_parts[0] = -r_x * log_alpha_T - s * log_beta_T
        part_gradients[0] = [
            -log_alpha_T,
            -r_x / (alpha + rows.T),
            -log_beta_T,
            -s / (beta + rows.T),
        ]
        log_s = np.log(s)
        for part, at in ((1, rows.at_t_x), (2, rows.at_T)):
            pair = at[series_rows] - first
            log_parts[part, series_rows] = log_s + tails.log[pair]
            part_gradients[part][:, series_rows] = tails.gradient[:, pair]
        quadrature = None
        if len(quadrature_rows):
            quadrature = _integrals_by_quadrature(
                params,
                rows.x_rows[quadrature_rows],
                rows.t_x[quadrature_rows],
                rows.T[quadrature_rows],
            )
            log_parts[1, quadrature_rows] = log_s + quadrature.log
            log_parts[2, quadrature_rows] = -np.inf
            part_gradients[1][:, quadrature_rows] = quadrature.gradient
        part_gradients[1:, 2] += 1.0 / s

        top = np.maximum(log_parts[0], log_parts[1])
        scaled = np.exp(log_parts - top)
        scaled[2] *= -1.0
        # s G(T) < A, so the sum stays above A's part however G(t_x) and G(T) cancel;
        # their difference is taken first (exactly 0 at t_x = T) and kept from rounding
        # below 0, so that A's share, P(alive), stays within [0, 1].
        dropped = scaled[1] + scaled[2]
        rounded_away = dropped <= 0
        scaled[1:, rounded_away] = 0.0
        mixture = scaled[0] + np.maximum(dropped, 0.0)
        shares = scaled / mixture

        xv = rows.x.values
        return cls(
            log_mixture=top + np.log(mixture),
            mixture_gradient=np.einsum("kn,kin->in", shares, part_gradients),
            shares=shares,
            part_gradients=part_gradients,
            tails=tails,
            first_series_pair=first,
            series_rows=series_rows,
            quadrature_rows=quadrature_rows,
            quadrature=quadrature,
            frequency_values=gammaln(r + xv) - gammaln(r) + r * np.log(alpha) + s * np.log(beta),
            frequency_gradient=np.stack(
                [
                    digamma(r + xv) - digamma(r) + np.log(alpha),
                    np.full_like(xv, r / alpha),
                    np.full_like(xv, np.log(beta)),
                    np.full_like(xv, s / beta),
                ]
            ),
        )


def _per_row(
    params: ParetoNbdParams, frequency: ArrayLikeFloat, recency: ArrayLikeFloat, T: ArrayLikeFloat
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-row log-likelihood, its gradient (n, 4), and P(alive) (the share of A)."""
    rows = _Histories.of(as_float(frequency), as_float(recency), as_float(T))
    terms = _Terms.at(params.as_array(), rows)
    inverse = rows.x.inverse
    return (
        terms.log_mixture + terms.frequency_values[inverse],
        (terms.mixture_gradient + terms.frequency_gradient[:, inverse]).T,
        terms.shares[0],
    )


def _weighted_derivatives(
    params: FloatArray, rows: _Histories, weights: FloatArray, frequency_weights: FloatArray
) -> Derivatives:
    """Weighted log-likelihood, gradient and Hessian over the rows.

    For a row, ln(sum of parts) has Hessian sum_i share_i (H_i + g_i g_i^T) - g g^T =
    sum_i share_i (H_i + (g_i - g)(g_i - g)^T). The G Hessians are summed per pair
    with the rows' shares as weights, not gathered to every row.
    """
    r, alpha, s, beta = params
    terms = _Terms.at(params, rows)
    total = float(frequency_weights.sum())
    xv = rows.x.values
    value = sum_of_products(weights, terms.log_mixture) + float(
        frequency_weights @ terms.frequency_values
    )
    gradient = np.einsum("in,n->i", terms.mixture_gradient, weights) + np.einsum(
        "in,n->i", terms.frequency_gradient, frequency_weights
    )
    weighted_shares = terms.shares * weights
    centred = terms.part_gradients - terms.mixture_gradient
    hessian = sum(
        np.einsum("in,jn->ij", centred[part] * weighted_shares[part], centred[part])
        for part in range(3)
    )

    series, first = terms.series_rows, terms.first_series_pair
    pair_weights = sum(
        weighted_counts(
            at[series] - first,
            weights=weighted_shares[part, series],
            minlength=len(terms.tails.log),
        )
        for part, at in ((1, rows.at_t_x), (2, rows.at_T))
    )
    hessian += np.einsum("ijp,p->ij", terms.tails.hessian, pair_weights)
    if terms.quadrature is not None:
        hessian += np.einsum(
            "ijn,n->ij", terms.quadrature.hessian, weighted_shares[1, terms.quadrature_rows]
        )

    alive = weighted_shares[0]
    inverse_alpha_T, inverse_beta_T = 1.0 / (alpha + rows.T), 1.0 / (beta + rows.T)
    hessian[0, 0] += float(frequency_weights @ zeta(2.0, r + xv)) - total * float(zeta(2.0, r))
    hessian[0, 1] += total / alpha - sum_of_products(alive, inverse_alpha_T)
    hessian[1, 1] += -total * r / alpha**2 + sum_of_products(
        alive * (r + rows.x_rows), inverse_alpha_T**2
    )
    hessian[2, 2] -= float(weighted_shares[1:].sum()) / s**2
    hessian[2, 3] += total / beta - sum_of_products(alive, inverse_beta_T)
    hessian[3, 3] += -total * s / beta**2 + s * sum_of_products(alive, inverse_beta_T**2)
    hessian[1, 0], hessian[3, 2] = hessian[0, 1], hessian[2, 3]
    return value, gradient, hessian


def log_likelihood(
    *,
    params: ParetoNbdParams,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
) -> FloatArray:
    """Per-customer log-likelihood."""
    return _per_row(params, frequency, recency, T)[0]


def log_likelihood_gradient(
    *,
    params: ParetoNbdParams,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
) -> FloatArray:
    """Per-customer gradient in (r, alpha, s, beta), shape (n, 4)."""
    return _per_row(params, frequency, recency, T)[1]


def fit(
    *,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
    weights: ArrayLikeFloat | None = None,
    penalizer: float = 0.0,
) -> ParetoNbdFit:
    """Maximum likelihood; customers sharing (x, t_x, T) are fitted once, weighted."""
    x, t_x, age = as_float(frequency), as_float(recency), as_float(T)
    counts = np.ones(len(x)) if weights is None else as_float(weights)
    distinct = compress_rows(columns=(x, t_x, age))
    distinct_weights = weighted_counts(distinct.inverse, weights=counts)
    rows = _Histories.of(*distinct.columns)
    frequency_weights = rows.x.total_weights(distinct_weights)

    mean_age = max(float(np.mean(age)), 1e-3)
    result = fit_log_parameters(
        log_likelihood_derivatives=lambda params: _weighted_derivatives(
            params, rows, distinct_weights, frequency_weights
        ),
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
    return _per_row(params, frequency, recency, T)[2]


def _expected_over_lifetime_window(s: float, scale: FloatArray, t: FloatArray) -> FloatArray:
    """(1 - (scale/(scale+t))^(s-1)) / (s-1), with its limit log1p(t/scale) at s = 1."""
    log_ratio = np.log1p(t / scale)
    if s == 1.0:
        return np.asarray(log_ratio, dtype=np.float64)
    return np.asarray(-np.expm1(-(s - 1.0) * log_ratio) / (s - 1.0), dtype=np.float64)


def expected_transactions_if_alive(
    *,
    params: ParetoNbdParams,
    t: ArrayLikeFloat | float,
    frequency: ArrayLikeFloat,
    T: ArrayLikeFloat,
) -> FloatArray:
    """Expected purchases in (T, T + t] for a customer known to be alive at T.

    Depends on (x, T) but not t_x, as with BG/NBD, so scoring can evaluate it on
    distinct (x, T) pairs.
    """
    x, age = as_float(frequency), as_float(T)
    rate = (params.r + x) * (params.beta + age) / (params.alpha + age)
    return rate * _expected_over_lifetime_window(params.s, params.beta + age, as_float(t))


def expected_transactions(
    *,
    params: ParetoNbdParams,
    t: ArrayLikeFloat | float,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
) -> FloatArray:
    """E[purchases in (T, T + t] | x, t_x, T]."""
    alive = probability_alive(params=params, frequency=frequency, recency=recency, T=T)
    return alive * expected_transactions_if_alive(params=params, t=t, frequency=frequency, T=T)


def expected_cumulative_transactions(
    *, params: ParetoNbdParams, t: ArrayLikeFloat | float
) -> FloatArray:
    """E[X(t)] for a new customer."""
    horizon = as_float(t)
    window = _expected_over_lifetime_window(params.s, np.full_like(horizon, params.beta), horizon)
    return params.r * params.beta / params.alpha * window
