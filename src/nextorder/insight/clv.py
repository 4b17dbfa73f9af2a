"""Customer scores from a purchase model (BG/NBD or Pareto/NBD) and a Gamma-Gamma spend
model.

CLV follows lifetimes: the sum over months i = 1..months of (expected purchases in
month i) * expected order value / (1 + monthly_discount_rate)^i. The model's time unit
(weeks for the RFM default) is converted with an explicit ``periods_per_month``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from nextorder.insight import bgnbd, gamma_gamma, pareto_nbd
from nextorder.insight.bgnbd import BgNbdParams
from nextorder.insight.fitting import ArrayLikeFloat, FloatArray, compress_rows
from nextorder.insight.gamma_gamma import GammaGammaParams
from nextorder.insight.pareto_nbd import ParetoNbdParams

PurchaseParams = BgNbdParams | ParetoNbdParams

LIFETIMES_WEEKS_PER_MONTH = 4.345
"""lifetimes' month in weeks (30.4 days / 7); kept so CLV figures compare one to one."""


@dataclass(frozen=True)
class CustomerScores:
    probability_alive: FloatArray
    expected_transactions: FloatArray
    expected_average_value: FloatArray
    customer_lifetime_value: FloatArray
    # What the customer would be worth over the same months if known to be active:
    # CLV = P(alive) * value_if_alive, kept apart so a tiny P(alive) loses nothing.
    value_if_alive: FloatArray


def purchase_kernel(params: PurchaseParams) -> ModuleType:
    """The module of the purchase model `params` belong to. BG/NBD and Pareto/NBD offer
    the same functions (probability_alive, expected_transactions_if_alive,
    expected_transactions, expected_cumulative_transactions), so callers pick once."""
    return pareto_nbd if isinstance(params, ParetoNbdParams) else bgnbd


def _purchases_if_alive(
    *,
    purchase_params: PurchaseParams,
    frequency: FloatArray,
    T: FloatArray,
    horizon: float,
    months: int,
    monthly_discount_rate: float,
    periods_per_month: float,
) -> tuple[FloatArray, FloatArray]:
    """Expected purchases within ``horizon``, and the sum over months of discounted
    expected purchases, for customers alive at T.

    Both depend on (x, T) only, so they are evaluated once per distinct pair (real
    summaries, ages in whole days, have a few thousand however many customers there
    are), and for all horizons in one call: one 2F1 evaluation over a (horizon, pair)
    grid instead of a call per month.
    """
    distinct = compress_rows(columns=(frequency, T))
    x, age = distinct.columns
    ends = np.arange(months + 1, dtype=np.float64) * periods_per_month
    ends[0] = horizon
    expected = np.asarray(
        purchase_kernel(purchase_params).expected_transactions_if_alive(
            params=purchase_params, t=ends[:, None], frequency=x, T=age
        ),
        dtype=np.float64,
    )
    # Month 0 ends at T, where nothing has been bought yet.
    per_month = np.diff(expected[1:], axis=0, prepend=0.0)
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1.0, months + 1)
    discounted = np.einsum("m,mn->n", discount, per_month)
    return expected[0][distinct.inverse], discounted[distinct.inverse]


def customer_lifetime_value(
    *,
    purchase_params: PurchaseParams,
    spend_params: GammaGammaParams,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
    monetary_value: ArrayLikeFloat,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    periods_per_month: float = LIFETIMES_WEEKS_PER_MONTH,
) -> FloatArray:
    """Discounted expected value of each customer's purchases over the next ``months``."""
    return score_customers(
        purchase_params=purchase_params,
        spend_params=spend_params,
        frequency=frequency,
        recency=recency,
        T=T,
        monetary_value=monetary_value,
        horizon=0.0,
        months=months,
        monthly_discount_rate=monthly_discount_rate,
        periods_per_month=periods_per_month,
    ).customer_lifetime_value


def score_customers(
    *,
    purchase_params: PurchaseParams,
    spend_params: GammaGammaParams,
    frequency: ArrayLikeFloat,
    recency: ArrayLikeFloat,
    T: ArrayLikeFloat,
    monetary_value: ArrayLikeFloat,
    horizon: float,
    months: int = 12,
    monthly_discount_rate: float = 0.01,
    periods_per_month: float = LIFETIMES_WEEKS_PER_MONTH,
) -> CustomerScores:
    """Everything a customer page shows, in one pass that shares P(alive) and (x, T) work.

    ``horizon`` is in model periods (90 days in weeks: 90 / 7).
    """
    x = np.asarray(frequency, dtype=np.float64)
    age = np.asarray(T, dtype=np.float64)
    alive = np.asarray(
        purchase_kernel(purchase_params).probability_alive(
            params=purchase_params, frequency=x, recency=recency, T=age
        ),
        dtype=np.float64,
    )
    within_horizon, discounted = _purchases_if_alive(
        purchase_params=purchase_params,
        frequency=x,
        T=age,
        horizon=horizon,
        months=months,
        monthly_discount_rate=monthly_discount_rate,
        periods_per_month=periods_per_month,
    )
    average_value = gamma_gamma.expected_average_value(
        params=spend_params, frequency=x, monetary_value=monetary_value
    )
    value_if_alive = discounted * average_value
    return CustomerScores(
        probability_alive=alive,
        expected_transactions=alive * within_horizon,
        expected_average_value=average_value,
        customer_lifetime_value=alive * value_if_alive,
        value_if_alive=value_if_alive,
    )


@dataclass(frozen=True)
class SimulatedCustomers:
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary_value: FloatArray


def simulate_customers(
    *,
    purchase_params: BgNbdParams,
    spend_params: GammaGammaParams,
    n_customers: int,
    rng: np.random.Generator,
    calibration_days: int = 273,
    first_purchase_spread_days: int = 84,
    period_days: float = 7.0,
) -> SimulatedCustomers:
    """RFM rows of customers drawn from known parameters, shaped like a CDNOW cohort.

    First purchases fall on whole days spread over the first ``first_purchase_spread_days``
    of a ``calibration_days`` window; recency is floored to whole days, as in real data.
    """
    first_day = rng.integers(0, first_purchase_spread_days, n_customers, endpoint=False)
    age = (calibration_days - 1 - first_day) / period_days
    frequency, recency = bgnbd.simulate(
        params=purchase_params, T=age, rng=rng, recency_resolution=1.0 / period_days
    )
    monetary_value = gamma_gamma.simulate_mean_spend(
        params=spend_params, frequency=frequency, rng=rng
    )
    return SimulatedCustomers(
        frequency=frequency, recency=recency, T=age, monetary_value=monetary_value
    )
