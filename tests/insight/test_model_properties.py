"""Numerical behaviour of the model kernels over extreme inputs, and parameter recovery."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextorder.insight import bgnbd, clv, gamma_gamma, pareto_nbd
from nextorder.insight.fitting import compress_rows

positive = st.floats(min_value=1e-3, max_value=1e3)
moderate = st.floats(min_value=0.1, max_value=10.0)


@st.composite
def histories(draw, *, max_frequency: int = 1_000_000, max_T: float = 1e6, size: int = 8):
    """Customer histories: 0 <= recency <= T, and recency 0 without repeat purchases."""
    frequency = np.array(
        draw(st.lists(st.integers(0, max_frequency), min_size=size, max_size=size)), dtype=float
    )
    age = np.array(
        draw(st.lists(st.floats(1e-3, max_T), min_size=size, max_size=size)), dtype=float
    )
    share = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=size, max_size=size)))
    recency = np.where(frequency > 0, age * share, 0.0)
    return frequency, recency, age


def numerical_gradient(function, params: np.ndarray) -> np.ndarray:
    gradient = np.empty(len(params))
    for i in range(len(params)):
        step = 1e-6 * params[i]
        up, down = params.copy(), params.copy()
        up[i] += step
        down[i] -= step
        gradient[i] = (function(up) - function(down)) / (2 * step)
    return gradient


@settings(max_examples=150, deadline=None)
@given(r=positive, alpha=positive, a=positive, b=positive, history=histories())
def test_bgnbd_is_finite_and_bounded_over_extremes(r, alpha, a, b, history):
    frequency, recency, age = history
    params = bgnbd.BgNbdParams(r=r, alpha=alpha, a=a, b=b)
    data = {"frequency": frequency, "recency": recency, "T": age}
    assert np.all(np.isfinite(bgnbd.log_likelihood(params=params, **data)))
    assert np.all(np.isfinite(bgnbd.log_likelihood_gradient(params=params, **data)))
    alive = bgnbd.probability_alive(params=params, **data)
    assert np.all((alive >= 0) & (alive <= 1))
    expected = bgnbd.expected_transactions(params=params, t=52.0, **data)
    assert np.all(np.isfinite(expected) & (expected >= 0))
    cumulative = bgnbd.expected_cumulative_transactions(params=params, t=age)
    assert np.all(np.isfinite(cumulative) & (cumulative >= 0))


@settings(max_examples=150, deadline=None)
@given(r=positive, alpha=positive, s=positive, beta=positive, history=histories())
def test_pareto_nbd_is_finite_and_bounded_over_extremes(r, alpha, s, beta, history):
    frequency, recency, age = history
    params = pareto_nbd.ParetoNbdParams(r=r, alpha=alpha, s=s, beta=beta)
    data = {"frequency": frequency, "recency": recency, "T": age}
    assert np.all(np.isfinite(pareto_nbd.log_likelihood(params=params, **data)))
    assert np.all(np.isfinite(pareto_nbd.log_likelihood_gradient(params=params, **data)))
    alive = pareto_nbd.probability_alive(params=params, **data)
    assert np.all((alive >= 0) & (alive <= 1))
    expected = pareto_nbd.expected_transactions(params=params, t=52.0, **data)
    assert np.all(np.isfinite(expected) & (expected >= 0))


@settings(max_examples=150, deadline=None)
@given(
    p=positive,
    q=positive,
    gamma=positive,
    frequency=st.lists(st.integers(1, 1_000_000), min_size=6, max_size=6),
    spend=st.lists(st.floats(1e-6, 1e6), min_size=6, max_size=6),
)
def test_gamma_gamma_is_finite_over_extremes(p, q, gamma, frequency, spend):
    params = gamma_gamma.GammaGammaParams(p=p, q=q, gamma=gamma)
    data = {"frequency": np.array(frequency, float), "monetary_value": np.array(spend)}
    assert np.all(np.isfinite(gamma_gamma.log_likelihood(params=params, **data)))
    assert np.all(np.isfinite(gamma_gamma.log_likelihood_gradient(params=params, **data)))
    value = gamma_gamma.expected_average_value(params=params, **data)
    assert np.all((value > 0) & ~np.isnan(value))


@settings(max_examples=60, deadline=None)
@given(
    params=st.tuples(moderate, moderate, moderate, moderate),
    history=histories(max_frequency=50, max_T=100.0),
)
def test_bgnbd_gradient_matches_finite_differences(params, history):
    frequency, recency, age = history
    data = {"frequency": frequency, "recency": recency, "T": age}

    def total(values: np.ndarray) -> float:
        return float(bgnbd.log_likelihood(params=bgnbd.BgNbdParams(*values), **data).sum())

    values = np.array(params)
    analytic = bgnbd.log_likelihood_gradient(params=bgnbd.BgNbdParams(*values), **data).sum(0)
    np.testing.assert_allclose(analytic, numerical_gradient(total, values), rtol=1e-5, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(
    params=st.tuples(moderate, moderate, moderate, moderate),
    history=histories(max_frequency=50, max_T=100.0),
)
def test_pareto_nbd_gradient_matches_finite_differences(params, history):
    frequency, recency, age = history
    data = {"frequency": frequency, "recency": recency, "T": age}

    def total(values: np.ndarray) -> float:
        return float(
            pareto_nbd.log_likelihood(params=pareto_nbd.ParetoNbdParams(*values), **data).sum()
        )

    values = np.array(params)
    analytic = pareto_nbd.log_likelihood_gradient(
        params=pareto_nbd.ParetoNbdParams(*values), **data
    ).sum(0)
    np.testing.assert_allclose(analytic, numerical_gradient(total, values), rtol=1e-5, atol=1e-5)


@settings(max_examples=60, deadline=None)
@given(
    params=st.tuples(moderate, moderate, moderate),
    frequency=st.lists(st.integers(1, 50), min_size=6, max_size=6),
    spend=st.lists(st.floats(0.5, 500.0), min_size=6, max_size=6),
)
def test_gamma_gamma_gradient_matches_finite_differences(params, frequency, spend):
    data = {"frequency": np.array(frequency, float), "monetary_value": np.array(spend)}

    def total(values: np.ndarray) -> float:
        return float(
            gamma_gamma.log_likelihood(params=gamma_gamma.GammaGammaParams(*values), **data).sum()
        )

    values = np.array(params)
    analytic = gamma_gamma.log_likelihood_gradient(
        params=gamma_gamma.GammaGammaParams(*values), **data
    ).sum(0)
    np.testing.assert_allclose(analytic, numerical_gradient(total, values), rtol=1e-5, atol=1e-5)


def numerical_jacobian(function, params: np.ndarray) -> np.ndarray:
    """Five-point central differences of a vector function: one column per parameter.

    The analytic gradient it differentiates carries rounding noise of its own (sums with
    cancellation, ~1e-12); a step of 1e-6 relative divides that by ~1e-7 and leaves
    ~1e-5 of noise. The five-point stencil's O(h^4) error lets the step be 1e-3
    relative, where both the noise and the truncation error sit far below 1e-5.
    """
    columns = []
    for i in range(len(params)):
        step = 1e-3 * params[i]

        def at(shift: float, i: int = i, step: float = step) -> np.ndarray:
            moved = params.copy()
            moved[i] += shift * step
            return np.asarray(function(moved))

        columns.append((at(-2) - 8 * at(-1) + 8 * at(1) - at(2)) / (12 * step))
    return np.column_stack(columns)


def assert_fit_derivatives_agree(derivatives, params: np.ndarray, per_row_total) -> None:
    """What a fit uses (weighted value, gradient, Hessian) against the per-row functions
    and finite differences of the analytic gradient."""
    value, gradient, hessian = derivatives(params)
    expected_value, expected_gradient = per_row_total(params)
    assert value == pytest.approx(expected_value, rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-12, atol=1e-12)
    numerical = numerical_jacobian(lambda values: derivatives(values)[1], params)
    np.testing.assert_allclose(hessian, numerical, rtol=1e-5, atol=1e-5)


weights_of_8 = st.lists(st.integers(1, 5), min_size=8, max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    params=st.tuples(moderate, moderate, moderate, moderate),
    history=histories(max_frequency=50, max_T=100.0),
    weights=weights_of_8,
)
def test_bgnbd_fit_derivatives_match_rows_and_finite_differences(params, history, weights):
    frequency, recency, age = history
    rows = bgnbd._Rows.of(frequency, recency, age)
    w = np.array(weights, dtype=float)

    def per_row_total(values):
        data = {"params": bgnbd.BgNbdParams(*values), "frequency": frequency, "recency": recency}
        return (
            w @ bgnbd.log_likelihood(**data, T=age),
            w @ bgnbd.log_likelihood_gradient(**data, T=age),
        )

    assert_fit_derivatives_agree(
        lambda values: bgnbd._weighted_derivatives(values, rows, w, rows.x.total_weights(w)),
        np.array(params),
        per_row_total,
    )


@settings(max_examples=60, deadline=None)
@given(
    params=st.tuples(moderate, moderate, moderate, moderate),
    history=histories(max_frequency=50, max_T=100.0),
    weights=weights_of_8,
)
def test_pareto_nbd_fit_derivatives_match_rows_and_finite_differences(params, history, weights):
    """Moderate parameters reach both the series (alpha near beta) and the quadrature
    (alpha and beta far apart, so z near 1 for small t)."""
    frequency, recency, age = history
    rows = pareto_nbd._Histories.of(frequency, recency, age)
    w = np.array(weights, dtype=float)

    def per_row_total(values):
        data = {"params": pareto_nbd.ParetoNbdParams(*values), "frequency": frequency}
        return (
            w @ pareto_nbd.log_likelihood(**data, recency=recency, T=age),
            w @ pareto_nbd.log_likelihood_gradient(**data, recency=recency, T=age),
        )

    assert_fit_derivatives_agree(
        lambda values: pareto_nbd._weighted_derivatives(values, rows, w, rows.x.total_weights(w)),
        np.array(params),
        per_row_total,
    )


@settings(max_examples=60, deadline=None)
@given(
    params=st.tuples(moderate, moderate, moderate),
    frequency=st.lists(st.integers(1, 50), min_size=8, max_size=8),
    spend=st.lists(st.floats(0.5, 500.0), min_size=8, max_size=8),
    weights=weights_of_8,
)
def test_gamma_gamma_fit_derivatives_match_rows_and_finite_differences(
    params, frequency, spend, weights
):
    x, m, w = np.array(frequency, float), np.array(spend), np.array(weights, float)

    def per_row_total(values):
        data = {"params": gamma_gamma.GammaGammaParams(*values), "frequency": x}
        return (
            w @ gamma_gamma.log_likelihood(**data, monetary_value=m),
            w @ gamma_gamma.log_likelihood_gradient(**data, monetary_value=m),
        )

    assert_fit_derivatives_agree(
        gamma_gamma._WeightedRows.of(x, m, w).derivatives, np.array(params), per_row_total
    )


@pytest.mark.parametrize(
    "params", [(0.55, 10.6, 0.61, 11.7), (0.5, 9.7, 1.07, 30.7), (2.0, 3.0, 0.3, 1.5)]
)
def test_pareto_nbd_series_and_quadrature_agree(params):
    """I = G(t_x) - G(T) from the 2F1 series against direct quadrature of I, with the
    derivatives both give."""
    rng = np.random.default_rng(8)
    frequency = rng.integers(0, 30, 200).astype(float)
    age = rng.uniform(0.5, 60.0, 200)
    recency = np.where(frequency > 0, age * rng.uniform(0.0, 0.95, 200), 0.0)
    values = np.array(params)
    rows = pareto_nbd._Histories.of(frequency, recency, age)
    tails = pareto_nbd._tails_by_series(values, rows.pair_x, rows.pair_t)
    quadrature = pareto_nbd._integrals_by_quadrature(values, frequency, recency, age)
    at_t_x, at_T = tails.log[rows.at_t_x], tails.log[rows.at_T]
    series_log = at_t_x + np.log(-np.expm1(at_T - at_t_x))
    np.testing.assert_allclose(series_log, quadrature.log, rtol=1e-9)
    share = 1.0 / -np.expm1(at_T - at_t_x)  # G(t_x) / I; G(T) / I is share - 1
    series_gradient = (
        share * tails.gradient[:, rows.at_t_x] - (share - 1.0) * tails.gradient[:, rows.at_T]
    )
    np.testing.assert_allclose(series_gradient, quadrature.gradient, rtol=1e-7, atol=1e-9)


def test_pareto_nbd_likelihood_matches_direct_integration():
    """The quadrature against scipy.integrate.quad on a few hand-picked histories."""
    from scipy.integrate import quad
    from scipy.special import gammaln

    r, alpha, s, beta = 0.55, 10.6, 0.61, 11.7
    params = pareto_nbd.ParetoNbdParams(r=r, alpha=alpha, s=s, beta=beta)
    for x, t_x, age in [(0, 0.0, 38.9), (2, 30.4, 38.9), (14, 20.0, 39.0), (1, 0.2, 500.0)]:
        integral, _ = quad(
            lambda tau, x=x: (alpha + tau) ** -(r + x) * (beta + tau) ** -(s + 1),
            t_x,
            age,
            epsabs=0,
            epsrel=1e-12,
        )
        likelihood = np.exp(gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)) * (
            (alpha + age) ** -(r + x) * (beta + age) ** -s + s * integral
        )
        ours = pareto_nbd.log_likelihood(params=params, frequency=[x], recency=[t_x], T=[age])
        assert ours[0] == pytest.approx(np.log(likelihood), rel=1e-9)


def test_expectations_agree_with_simulation():
    params = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    rng = np.random.default_rng(11)
    horizon = np.full(400_000, 78.0)
    frequency, _ = bgnbd.simulate(params=params, T=horizon, rng=rng)
    predicted = bgnbd.expected_cumulative_transactions(params=params, t=78.0)
    assert frequency.mean() == pytest.approx(float(predicted), rel=0.02)


def test_compress_rows_matches_numpy_unique():
    rng = np.random.default_rng(2)
    columns = (rng.integers(0, 4, 500).astype(float), rng.integers(0, 3, 500) / 7.0)
    distinct = compress_rows(columns=columns)
    stacked = np.column_stack(columns)
    rows, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(np.column_stack(distinct.columns), rows)
    np.testing.assert_array_equal(distinct.inverse, inverse.ravel())
    np.testing.assert_array_equal(distinct.counts, counts)
    np.testing.assert_array_equal(np.column_stack(distinct.columns)[distinct.inverse], stacked)


def test_compress_rows_matches_numpy_unique_on_continuous_and_wide_columns():
    """The sort-and-search ranks (continuous values) and keys too sparse for a bincount."""
    rng = np.random.default_rng(3)
    columns = (
        rng.integers(0, 3, 400).astype(float),
        rng.integers(0, 5, 400) * 1e5,
        np.round(rng.gamma(2.0, 10.0, 400), 1),
    )
    distinct = compress_rows(columns=columns)
    stacked = np.column_stack(columns)
    rows, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(np.column_stack(distinct.columns), rows)
    np.testing.assert_array_equal(distinct.inverse, inverse.ravel())
    np.testing.assert_array_equal(distinct.counts, counts)


@pytest.mark.parametrize("seed", [1, 2])
def test_fits_recover_simulated_parameters(seed):
    purchase = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    spend = gamma_gamma.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    customers = clv.simulate_customers(
        purchase_params=purchase,
        spend_params=spend,
        n_customers=50_000,
        rng=np.random.default_rng(seed),
    )
    purchase_fit = bgnbd.fit(
        frequency=customers.frequency, recency=customers.recency, T=customers.T
    )
    spend_fit = gamma_gamma.fit(
        frequency=customers.frequency, monetary_value=customers.monetary_value
    )
    for fitted, truth in ((purchase_fit, purchase), (spend_fit, spend)):
        assert fitted.converged
        for name, error in fitted.standard_errors.items():
            assert abs(getattr(fitted, name) - getattr(truth, name)) < 3 * error, name


def test_gamma_gamma_leaves_out_zero_value_and_one_time_customers():
    fit = gamma_gamma.fit(
        frequency=np.array([0, 2, 3, 1, 4, 2, 5, 1, 3, 2], float),
        monetary_value=np.array([0, 10.0, 0.0, 25.0, 12.0, 9.0, 14.0, 30.0, 11.0, 8.0]),
    )
    assert (fit.n_customers, fit.n_left_out) == (8, 2)
    value = gamma_gamma.expected_average_value(
        params=fit, frequency=np.array([0.0, 3.0]), monetary_value=np.array([0.0, 0.0])
    )
    assert np.all(np.isfinite(value))
    assert value[0] == pytest.approx(value[1])


def test_scores_are_consistent_and_fast_enough_to_vectorise():
    purchase = bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
    spend = gamma_gamma.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)
    customers = clv.simulate_customers(
        purchase_params=purchase,
        spend_params=spend,
        n_customers=20_000,
        rng=np.random.default_rng(4),
    )
    data = {"frequency": customers.frequency, "recency": customers.recency, "T": customers.T}
    scores = clv.score_customers(
        purchase_params=purchase,
        spend_params=spend,
        monetary_value=customers.monetary_value,
        horizon=90 / 7,
        **data,
    )
    np.testing.assert_allclose(
        scores.expected_transactions,
        bgnbd.expected_transactions(params=purchase, t=90 / 7, **data),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        scores.probability_alive, bgnbd.probability_alive(params=purchase, **data)
    )
    assert np.all(scores.customer_lifetime_value >= 0)
