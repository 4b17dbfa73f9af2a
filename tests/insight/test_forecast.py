"""The arrival forecast: seasonality kept, trend followed, growth scaled by customers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nextorder.insight.forecast import growth_factor, weekly_forecast


def test_a_steady_week_is_forecast_as_itself():
    week = np.array([0, 4, 10, 2, 0, 1, 3], dtype=float)
    forecast = weekly_forecast(history=np.tile(week, 5), slots=7, weeks=2)
    assert forecast == pytest.approx(np.vstack([week, week]))


def test_a_growing_history_keeps_its_shape_and_grows_on():
    shape = np.array([1, 3, 6], dtype=float) / 10
    totals = np.array([100, 110, 120, 130], dtype=float)
    history = (totals[:, None] * shape[None, :]).ravel()
    forecast = weekly_forecast(history=history, slots=3, weeks=2)
    assert forecast.sum(axis=1) == pytest.approx([140, 150])
    assert forecast[0] / forecast[0].sum() == pytest.approx(shape)


def test_weeks_before_the_first_arrival_are_not_a_trend():
    week = np.array([2, 8, 2], dtype=float)
    history = np.concatenate([np.zeros(9), np.tile(week, 2)])
    assert weekly_forecast(history=history, slots=3, weeks=1)[0] == pytest.approx(week)


def test_a_falling_trend_stops_at_zero():
    history = np.array([30, 20, 10, 0], dtype=float)
    assert weekly_forecast(history=history, slots=1, weeks=3).min() == 0.0


@given(st.lists(st.integers(0, 500), min_size=14, max_size=14), st.integers(1, 8))
def test_forecasts_are_never_negative(counts, weeks):
    assert weekly_forecast(history=counts, slots=7, weeks=weeks).min() >= 0


def test_growth_adds_contacts_in_proportion_to_new_customers():
    factor = growth_factor(weeks=5, slots=7, customers=1000, new_customers_per_month=100)
    assert factor.shape == (5, 7)
    assert np.all(np.diff(factor.ravel()) > 0)
    # About 30.44 days in: a month of new customers, 10 % more contacts.
    assert factor.ravel()[30] == pytest.approx(1.1, abs=0.003)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: weekly_forecast(history=[1, 2, 3], slots=2, weeks=1), "whole weeks"),
        (lambda: weekly_forecast(history=[1, -2], slots=2, weeks=1), "not negative"),
        (lambda: weekly_forecast(history=[1, 2], slots=2, weeks=0), "weeks"),
        (
            lambda: growth_factor(weeks=1, slots=1, customers=0, new_customers_per_month=5),
            "one customer",
        ),
        (
            lambda: growth_factor(weeks=1, slots=1, customers=9, new_customers_per_month=-1),
            "negative",
        ),
    ],
)
def test_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()
