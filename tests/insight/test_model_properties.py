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
