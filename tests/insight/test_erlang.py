"""Erlang C and Erlang A kernels: a published example, the queue they model, and refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from nextorder.insight import erlang

# Worked example "Erlang C formula - example" published by Call Centre Helper
# (callcentrehelper.com, "Erlang C Formula - Made Simple With an Easy Worked Example"): 100 calls in
# 30 minutes, 180 s average handle time, target 80 % answered within 20 s: 14 agents,
# waiting probability 17.41 %, service level 88.84 %, occupancy 71.4 %, and 20 agents
# to roster with 30 % shrinkage.
PUBLISHED = {"calls": 100, "interval_seconds": 1800, "handle_seconds": 180}


def test_published_worked_example():
    figures = erlang.agents_required(**PUBLISHED, target_level=0.8, answer_within=20)
    assert int(figures.agents) == 14
    assert float(figures.service_level) == pytest.approx(0.8884, abs=5e-5)
    assert float(figures.waiting_probability) == pytest.approx(0.1741, abs=5e-5)
    assert float(figures.occupancy) == pytest.approx(0.714, abs=5e-4)
    assert int(erlang.rostered(agents=figures.agents, shrinkage=0.3)) == 20


def test_one_agent_fewer_misses_the_published_target():
    figures = erlang.erlang_c_figures(**PUBLISHED, agents=13, answer_within=20)
    assert float(figures.service_level) < 0.8


def erlang_b_closed_form(traffic: float, agents: int) -> float:
    terms = [traffic**k / math.factorial(k) for k in range(agents + 1)]
    return terms[-1] / sum(terms)


@given(traffic=st.floats(0.01, 60), agents=st.integers(0, 60))
def test_erlang_b_recursion_equals_the_closed_form(traffic, agents):
    recursive = float(erlang.erlang_b(traffic=traffic, agents=agents))
    assert recursive == pytest.approx(erlang_b_closed_form(traffic, agents), rel=1e-9)


def test_erlang_b_takes_each_interval_its_own_agents():
    traffic = np.array([3.0, 50.0, 0.5, 20.0])
    agents = np.array([5, 40, 0, 25])
    expected = [erlang_b_closed_form(a, n) for a, n in zip(traffic, agents, strict=True)]
    assert erlang.erlang_b(traffic=traffic, agents=agents) == pytest.approx(expected, rel=1e-9)


loads = st.tuples(st.floats(0.1, 5000), st.floats(300, 3600), st.floats(5, 1200), st.floats(0, 300))


@settings(max_examples=60, deadline=None)
@given(load=loads, extra=st.integers(1, 40))
def test_service_level_rises_with_agents_and_probabilities_stay_in_range(load, extra):
    calls, interval, handle, within = load
    traffic = calls * handle / interval
    agents = math.floor(traffic) + np.arange(extra, extra + 3)
    figures = erlang.erlang_c_figures(
        calls=calls,
        interval_seconds=interval,
        handle_seconds=handle,
        agents=agents,
        answer_within=within,
    )
    assert np.all((figures.waiting_probability >= 0) & (figures.waiting_probability <= 1))
    assert np.all((figures.service_level >= 0) & (figures.service_level <= 1))
    assert np.all(np.diff(figures.service_level) >= -1e-12)
    assert np.all(np.diff(figures.asa_seconds) <= 1e-12)


@settings(max_examples=30, deadline=None)
@given(traffic=st.floats(180, 900), target=st.floats(0.5, 0.95), within=st.floats(5, 60))
def test_hundreds_of_agents_give_finite_figures_at_the_least_number(traffic, target, within):
    """Far past where traffic^n / n! overflows (n > 170), and the answer is the least."""
    load = {"calls": traffic * 10, "interval_seconds": 900, "handle_seconds": 90}
    figures = erlang.agents_required(**load, target_level=target, answer_within=within)
    agents = int(figures.agents)
    assert agents > 170
    assert all(np.isfinite(float(value)) for value in vars(figures).values() if value is not None)
    assert float(figures.service_level) >= target
    if agents - 1 > traffic:
        fewer = erlang.erlang_c_figures(**load, agents=agents - 1, answer_within=within)
        assert float(fewer.service_level) < target


def test_vectorised_requirement_equals_one_interval_at_a_time():
    rng = np.random.default_rng(7)
    calls = rng.uniform(0, 3000, size=200)
    calls[:5] = 0
    handle = rng.uniform(60, 600, size=200)
    target = rng.uniform(0.5, 0.95, size=200)
    together = erlang.agents_required(
        calls=calls,
        interval_seconds=900,
        handle_seconds=handle,
        target_level=target,
        answer_within=20,
    )
    alone = [
        int(
            erlang.agents_required(
                calls=c, interval_seconds=900, handle_seconds=h, target_level=t, answer_within=20
            ).agents
        )
        for c, h, t in zip(calls, handle, target, strict=True)
    ]
    assert together.agents.tolist() == alone
    assert together.agents[:5].tolist() == [0] * 5


def palm_queue_by_markov_chain(*, calls, interval, handle, agents, within, patience):
    """Erlang A straight from its birth-death chain and each caller's place in the queue.

    A truncated stationary distribution; a caller finding j waiting reaches an agent after
    stages of rate n mu + k theta (k = j..0), so exp(-theta V) ~ Beta(x, j + 1), and is
    answered if its own patience outlasts V.
    """
    lam, mu, theta = calls / interval, 1 / handle, 1 / patience
    size = agents + 4000
    rates_up = np.full(size, lam)
    rates_down = np.array(
        [min(k, agents) * mu + max(k - agents, 0) * theta for k in range(1, size + 1)]
    )
    log_weights = np.concatenate([[0.0], np.cumsum(np.log(rates_up / rates_down))])
    weights = np.exp(log_weights - log_weights.max())
    stationary = weights / weights.sum()
    waiting = stationary[agents:].sum()
    queue = np.arange(size + 1 - agents)
    x, u = agents * mu / theta, math.exp(-theta * within)
    answered_share = x / (x + queue + 1)  # E[exp(-theta V)], the mean of Beta(x, j + 1)
    answered_within = answered_share * stats.beta.sf(u, x + 1, queue + 1)
    abandon = theta * (stationary[agents:] * queue).sum() / lam
    service_level = stationary[:agents].sum() + (stationary[agents:] * answered_within).sum()
    return waiting, abandon, service_level


@pytest.mark.parametrize(
    ("calls", "handle", "agents", "within", "patience"),
    [
        (100, 180, 14, 20, 60),  # the published load, callers giving up after a minute
        (100, 180, 9, 20, 120),  # fewer agents than Erlangs: stable only with abandonment
        (400, 240, 50, 30, 300),
        (2000, 120, 140, 20, 90),
        (30, 300, 3, 60, 30),
    ],
)
def test_erlang_a_matches_the_palm_queue(calls, handle, agents, within, patience):
    figures = erlang.erlang_a_figures(
        calls=calls,
        interval_seconds=1800,
        handle_seconds=handle,
        agents=agents,
        answer_within=within,
        patience_seconds=patience,
    )
    waiting, abandon, service_level = palm_queue_by_markov_chain(
        calls=calls, interval=1800, handle=handle, agents=agents, within=within, patience=patience
    )
    assert float(figures.waiting_probability) == pytest.approx(waiting, rel=1e-7)
    assert float(figures.abandon_probability) == pytest.approx(abandon, rel=1e-7)
    assert float(figures.service_level) == pytest.approx(service_level, rel=1e-7)
    # Little's law for those who give up: E[W] = P(abandon) x mean patience.
    assert float(figures.asa_seconds) == pytest.approx(abandon * patience, rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(load=loads, extra=st.integers(1, 20))
def test_erlang_a_approaches_erlang_c_as_patience_grows(load, extra):
    calls, interval, handle, within = load
    # Up to 98 % occupancy: nearer 1 the series behind Erlang A needs ~37 / (1 - y/x) terms.
    agents = math.floor(calls * handle / interval / 0.98) + extra
    common = {
        "calls": calls,
        "interval_seconds": interval,
        "handle_seconds": handle,
        "agents": agents,
        "answer_within": within,
    }
    c = erlang.erlang_c_figures(**common)
    # Patience long against the call, Erlang C's mean wait and its queue: abandonment from
    # a queue of L callers is L / patience, to be small against the spare capacity.
    queue_length = calls / interval * float(c.asa_seconds)
    patience = 1e4 * (handle + float(c.asa_seconds)) * (1 + queue_length)
    a = erlang.erlang_a_figures(**common, patience_seconds=patience)
    assert float(a.waiting_probability) == pytest.approx(float(c.waiting_probability), abs=1e-3)
    assert float(a.service_level) == pytest.approx(float(c.service_level), abs=1e-3)
    assert float(a.abandon_probability) < 1e-3


@settings(max_examples=40, deadline=None)
@given(load=loads, agents=st.integers(0, 400), patience=st.floats(1, 3600))
def test_erlang_a_probabilities_stay_in_range(load, agents, patience):
    calls, interval, handle, within = load
    figures = erlang.erlang_a_figures(
        calls=calls,
        interval_seconds=interval,
        handle_seconds=handle,
        agents=agents,
        answer_within=within,
        patience_seconds=patience,
    )
    for value in (figures.waiting_probability, figures.abandon_probability, figures.service_level):
        assert 0.0 <= float(value) <= 1.0
    assert float(figures.service_level) <= 1.0 - float(figures.abandon_probability) + 1e-12


def test_erlang_a_requirement_is_the_least_meeting_the_target():
    common = {**PUBLISHED, "answer_within": 20, "patience_seconds": 60}
    figures = erlang.agents_required(**common, target_level=0.8)
    agents = int(figures.agents)
    assert float(figures.service_level) >= 0.8
    fewer = erlang.erlang_a_figures(**common, agents=agents - 1)
    assert float(fewer.service_level) < 0.8


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: erlang.erlang_c(traffic=10, agents=10), "more agents than the traffic"),
        (lambda: erlang.erlang_c(traffic=10, agents=7), "more agents than the traffic"),
        (
            lambda: erlang.erlang_c_figures(**PUBLISHED, agents=[14, 9], answer_within=20),
            "more agents than the traffic",
        ),
        (lambda: erlang.rostered(agents=14, shrinkage=1.0), "shrinkage"),
        (lambda: erlang.rostered(agents=14, shrinkage=-0.1), "shrinkage"),
        (lambda: erlang.rostered(agents=14, shrinkage=float("nan")), "shrinkage"),
        (lambda: erlang.rostered(agents=-1, shrinkage=0.3), "agents"),
        (
            lambda: erlang.agents_required(**PUBLISHED, target_level=1.0, answer_within=20),
            "target_level",
        ),
        (
            lambda: erlang.agents_required(**PUBLISHED, target_level=0, answer_within=20),
            "target_level",
        ),
        (
            lambda: erlang.agents_required(
                calls=-1,
                interval_seconds=1800,
                handle_seconds=180,
                target_level=0.8,
                answer_within=20,
            ),
            "calls",
        ),
        (
            lambda: erlang.agents_required(
                calls=float("inf"),
                interval_seconds=1800,
                handle_seconds=180,
                target_level=0.8,
                answer_within=20,
            ),
            "calls",
        ),
        (
            lambda: erlang.agents_required(
                calls=100,
                interval_seconds=0,
                handle_seconds=180,
                target_level=0.8,
                answer_within=20,
            ),
            "interval_seconds",
        ),
        (
            lambda: erlang.agents_required(**PUBLISHED, target_level=0.8, answer_within=-5),
            "answer_within",
        ),
        (
            lambda: erlang.agents_required(
                **PUBLISHED, target_level=0.8, answer_within=20, patience_seconds=0
            ),
            "patience_seconds",
        ),
        (lambda: erlang.erlang_b(traffic=5, agents=2.5), "whole numbers"),
    ],
)
def test_refused_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_no_calls_need_no_agents():
    figures = erlang.agents_required(
        **{**PUBLISHED, "calls": 0}, target_level=0.8, answer_within=20
    )
    assert int(figures.agents) == 0
    assert float(figures.service_level) == 1.0
    assert int(erlang.rostered(agents=figures.agents, shrinkage=0.3)) == 0
