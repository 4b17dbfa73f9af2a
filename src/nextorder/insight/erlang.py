"""Erlang C and Erlang A staffing, vectorised over intervals.

Erlang C (M/M/n): calls arrive at random, agents answer in order, nobody hangs up.
Erlang A (M/M/n+M, "Palm"): callers also give up after an exponential patience, after
Garnett, Mandelbaum & Reiman (2002), "Designing a call center with impatient customers",
Manufacturing & Service Operations Management 4(3), 208-227.

Erlang B is computed by its recursion B(k) = A B(k-1) / (k + A B(k-1)), which stays in
[0, 1] for any number of agents: the textbook A^n / n! overflows past about 170 agents.
Inputs the model cannot answer are refused with a ValueError instead of a figure that
looks like one (pyworkforce returns a waiting probability above 1 when agents <= traffic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import gammainc, gammaln

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ArrayLike = npt.ArrayLike

# Where a series has converged: terms below this share of the sum change nothing.
_SERIES_TOLERANCE = 1e-16
_SERIES_MAX_TERMS = 1_000_000


@dataclass(frozen=True)
class QueueFigures:
    """What a number of agents gives, one entry per interval.

    `asa_seconds` is the mean wait of all offered calls: with patience that is
    E[W] = P(abandon) / theta as in Garnett et al., which tends to Erlang C's average
    speed of answer as patience grows. `abandon_probability` is None for Erlang C.
    """

    agents: IntArray
    service_level: FloatArray
    waiting_probability: FloatArray
    asa_seconds: FloatArray
    occupancy: FloatArray
    abandon_probability: FloatArray | None = None


@dataclass(frozen=True)
class Load:
    """Arrivals and handle time per interval, checked once; traffic in Erlangs."""

    calls: FloatArray
    interval_seconds: FloatArray
    handle_seconds: FloatArray

    @classmethod
    def of(
        cls, *, calls: ArrayLike, interval_seconds: ArrayLike, handle_seconds: ArrayLike
    ) -> Load:
        calls_, interval_, handle_ = np.broadcast_arrays(
            _checked(calls, name="calls"),
            _checked(interval_seconds, name="interval_seconds", positive=True),
            _checked(handle_seconds, name="handle_seconds", positive=True),
        )
        return cls(calls=calls_, interval_seconds=interval_, handle_seconds=handle_)

    @property
    def traffic(self) -> FloatArray:
        return np.asarray(self.calls * self.handle_seconds / self.interval_seconds)

    @property
    def arrival_rate(self) -> FloatArray:
        """Calls per second."""
        return np.asarray(self.calls / self.interval_seconds)


def _checked(values: ArrayLike, *, name: str, positive: bool = False) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers")
    if positive and np.any(array <= 0):
        raise ValueError(f"{name} must be greater than 0")
    if np.any(array < 0):
        raise ValueError(f"{name} must not be negative")
    return array


def _checked_agents(agents: ArrayLike) -> IntArray:
    array = np.asarray(agents)
    as_float = np.asarray(array, dtype=np.float64)
    if not np.all(np.isfinite(as_float)) or np.any(as_float < 0):
        raise ValueError("agents must be whole numbers, not negative")
    if np.any(as_float != np.floor(as_float)):
        raise ValueError("agents must be whole numbers, not negative")
    return as_float.astype(np.int64)


def _checked_target(target_level: ArrayLike) -> FloatArray:
    target = _checked(target_level, name="target_level")
    if np.any((target <= 0) | (target >= 1)):
        raise ValueError("target_level must be between 0 and 1, both excluded (0.8 for 80 %)")
    return target


def erlang_b(*, traffic: ArrayLike, agents: ArrayLike) -> FloatArray:
    """Blocking probability of n agents and no queue, by the recursion (any n)."""
    traffic_, agents_ = np.broadcast_arrays(
        _checked(traffic, name="traffic"), _checked_agents(agents)
    )
    flat_traffic, flat_agents = traffic_.ravel(), agents_.ravel()
    order = np.argsort(flat_agents.astype(np.int32), kind="stable")  # a radix sort
    sorted_agents = flat_agents[order]
    load = flat_traffic[order]
    blocking = np.ones_like(load)
    load_blocked, denominator = np.empty_like(load), np.empty_like(load)
    top = int(sorted_agents[-1]) if sorted_agents.size else 0
    # Intervals needing at least k agents form a suffix of the sorted order: step k
    # touches only them, so the work is the sum of the agents, not size x maximum.
    starts = np.searchsorted(sorted_agents, np.arange(1, top + 1), side="left")
    for k, start in enumerate(starts.tolist(), start=1):
        product, below = load_blocked[start:], denominator[start:]
        np.multiply(load[start:], blocking[start:], out=product)
        np.add(product, k, out=below)
        np.divide(product, below, out=blocking[start:])
    result = np.empty_like(blocking)
    result[order] = blocking
    return result.reshape(traffic_.shape)


def _erlang_c_from_b(traffic: FloatArray, agents: IntArray, blocking: FloatArray) -> FloatArray:
    spare = agents - traffic * (1.0 - blocking)
    # No traffic and no agents: nobody waits (0 / 0 otherwise).
    return np.divide(agents * blocking, spare, out=np.zeros_like(spare), where=spare > 0)


def _refuse_unstable(traffic: FloatArray, agents: IntArray) -> None:
    if np.any((agents <= traffic) & (traffic > 0)):
        raise ValueError(
            "Erlang C needs more agents than the traffic in Erlangs (calls x handle time / "
            "interval): with as many or fewer the queue grows without end"
        )


def erlang_c(*, traffic: ArrayLike, agents: ArrayLike) -> FloatArray:
    """Probability that a call waits at all (Erlang C); refuses agents <= traffic."""
    traffic_, agents_ = np.broadcast_arrays(
        _checked(traffic, name="traffic"), _checked_agents(agents)
    )
    _refuse_unstable(traffic_, agents_)
    blocking = erlang_b(traffic=traffic_, agents=agents_)
    return np.where(traffic_ > 0, _erlang_c_from_b(traffic_, agents_, blocking), 0.0)


def _erlang_c_level(
    traffic: FloatArray, agents: IntArray, blocking: FloatArray, within_handles: FloatArray
) -> FloatArray:
    """Service level alone, for the search's inner loop (traffic > 0 < agents - traffic)."""
    spare = agents - traffic
    waiting = agents * blocking / (spare + traffic * blocking)
    return np.asarray(1.0 - waiting * np.exp(-spare * within_handles))


def _erlang_c_figures(
    load: Load, agents: IntArray, blocking: FloatArray, answer_within: FloatArray
) -> QueueFigures:
    traffic = load.traffic
    busy = traffic > 0
    spare = np.where(busy, agents - traffic, 1.0)
    waiting = np.where(busy, _erlang_c_from_b(traffic, agents, blocking), 0.0)
    return QueueFigures(
        agents=agents,
        service_level=1.0 - waiting * np.exp(-spare * answer_within / load.handle_seconds),
        waiting_probability=waiting,
        asa_seconds=waiting * load.handle_seconds / spare,
        occupancy=np.where(busy, traffic / np.maximum(agents, 1), 0.0),
    )


def erlang_c_figures(
    *,
    calls: ArrayLike,
    interval_seconds: ArrayLike,
    handle_seconds: ArrayLike,
    agents: ArrayLike,
    answer_within: ArrayLike,
) -> QueueFigures:
    """Service level P(wait <= t), waiting probability, ASA and occupancy of n agents."""
    load = Load.of(calls=calls, interval_seconds=interval_seconds, handle_seconds=handle_seconds)
    agents_, within, calls_, interval_, handle_ = np.broadcast_arrays(
        _checked_agents(agents),
        _checked(answer_within, name="answer_within"),
        load.calls,
        load.interval_seconds,
        load.handle_seconds,
    )
    load = Load(calls=calls_, interval_seconds=interval_, handle_seconds=handle_)
    _refuse_unstable(load.traffic, agents_)
    blocking = erlang_b(traffic=load.traffic, agents=agents_)
    return _erlang_c_figures(load, agents_, blocking, within)


def _kummer_one(b: FloatArray, z: FloatArray) -> FloatArray:
    """M(1; b; z) = sum_j z^j / (b (b+1) ... (b+j-1)), for 0 <= z < b (terms only shrink)."""
    total = np.ones_like(z)
    term = np.ones_like(z)
    active = np.arange(z.size)
    flat_b, flat_z = b.ravel(), z.ravel()
    flat_total, flat_term = total.ravel(), term.ravel()
    for j in range(_SERIES_MAX_TERMS):
        if active.size == 0:
            break
        flat_term[active] *= flat_z[active] / (flat_b[active] + j)
        flat_total[active] += flat_term[active]
        active = active[flat_term[active] > _SERIES_TOLERANCE * flat_total[active]]
    return flat_total.reshape(z.shape)


def erlang_a_figures(
    *,
    calls: ArrayLike,
    interval_seconds: ArrayLike,
    handle_seconds: ArrayLike,
    agents: ArrayLike,
    answer_within: ArrayLike,
    patience_seconds: ArrayLike,
) -> QueueFigures:
    """Erlang A (M/M/n+M) figures, any number of agents (callers who give up keep it stable).

    With x = n mu / theta, y = lambda / theta and E = Erlang B(n, lambda / mu), Garnett et
    al. give P(wait) = A E / (1 + (A - 1) E), A = x e^y y^-x gamma(x, y), and P(abandon) =
    P(wait) (1 - 1/rho + 1/(rho A)). The service level counts calls answered within t: a
    caller finding j others waiting has e^(-theta V) ~ Beta(x, j + 1) for its wait V to an
    agent, which summed over j gives P(answered within t | waits) as
    (x/y) [P(x+1, y) - P(x+1, y u)] / P(x, y), u = e^(-theta t), P the regularised lower
    incomplete gamma. Below y = x the same quantities come from Kummer series
    M(1; x + 1; y), whose terms cannot underflow, so the figures reach Erlang C's as
    patience grows.
    """
    load = Load.of(calls=calls, interval_seconds=interval_seconds, handle_seconds=handle_seconds)
    agents_, within, patience, calls_, interval_, handle_ = np.broadcast_arrays(
        _checked_agents(agents),
        _checked(answer_within, name="answer_within"),
        _checked(patience_seconds, name="patience_seconds", positive=True),
        load.calls,
        load.interval_seconds,
        load.handle_seconds,
    )
    load = Load(calls=calls_, interval_seconds=interval_, handle_seconds=handle_)
    blocking = erlang_b(traffic=load.traffic, agents=agents_)
    return _erlang_a_figures(load, agents_, blocking, within, patience)


def _erlang_a_figures(
    load: Load,
    agents: IntArray,
    blocking: FloatArray,
    answer_within: FloatArray,
    patience: FloatArray,
) -> QueueFigures:
    x = agents * patience / load.handle_seconds
    y = load.arrival_rate * patience
    u = np.exp(-answer_within / patience)
    busy = y > 0
    # Below y = x the Kummer series converges (in about min(37 / (1 - y/x), 9 sqrt(x))
    # terms) and P(x, y) may underflow; scipy's P(x, y) also drifts for x in the 1e7s.
    gamma_form = busy & (y >= x)
    series_form = busy & ~gamma_form

    inverse_a = np.zeros_like(y)  # 1 / A(x, y); 0 where no call comes (unused there)
    answered_given_wait = np.ones_like(y)
    answered_within_given_wait = np.ones_like(y)

    if np.any(gamma_form):
        xo, yo, uo = x[gamma_form], y[gamma_form], u[gamma_form]
        lower = gammainc(xo, yo)
        log_a = yo - xo * np.log(yo) + gammaln(xo + 1) + np.log(lower)
        inverse_a[gamma_form] = np.exp(-log_a)
        upper_share = gammainc(xo + 1, yo)
        answered_given_wait[gamma_form] = xo / yo * upper_share / lower
        answered_within_given_wait[gamma_form] = (
            xo / yo * (upper_share - gammainc(xo + 1, yo * uo)) / lower
        )
    if np.any(series_form):
        xl, yl, ul = x[series_form], y[series_form], u[series_form]
        m1 = _kummer_one(xl + 1, yl)
        m2 = _kummer_one(xl + 2, yl)
        m2_within = _kummer_one(xl + 2, yl * ul)
        decay = np.exp(
            -(xl + 1) * answer_within[series_form] / patience[series_form] + yl * (1 - ul)
        )
        inverse_a[series_form] = 1.0 / m1
        share = xl / (xl + 1)
        answered_given_wait[series_form] = share * m2 / m1
        answered_within_given_wait[series_form] = share * (m2 - decay * m2_within) / m1

    waiting = np.where(
        busy, blocking / np.maximum(blocking + (1.0 - blocking) * inverse_a, 1e-300), 0.0
    )
    waiting = np.clip(waiting, 0.0, 1.0)
    abandon = np.clip(waiting * (1.0 - answered_given_wait), 0.0, 1.0)
    service_level = np.clip(1.0 - waiting + waiting * answered_within_given_wait, 0.0, 1.0)
    answered_rate = load.arrival_rate * (1.0 - abandon)
    return QueueFigures(
        agents=agents,
        service_level=service_level,
        waiting_probability=waiting,
        asa_seconds=abandon * patience,
        occupancy=np.where(
            agents > 0,
            answered_rate * load.handle_seconds / np.maximum(agents, 1),
            0.0,
        ),
        abandon_probability=abandon,
    )


def agents_required(
    *,
    calls: ArrayLike,
    interval_seconds: ArrayLike,
    handle_seconds: ArrayLike,
    target_level: ArrayLike,
    answer_within: ArrayLike,
    patience_seconds: ArrayLike | None = None,
) -> QueueFigures:
    """The fewest agents per interval whose service level reaches the target, and their figures.

    Erlang C starts at the fewest agents above the traffic (fewer never stabilise) and
    steps up; Erlang A starts at target x traffic (no more calls are answered than agents
    can handle). Each step advances Erlang B by one agent for the intervals still short,
    all at once: the loop runs over agents added, never over intervals.
    """
    load = Load.of(calls=calls, interval_seconds=interval_seconds, handle_seconds=handle_seconds)
    arrays = [
        load.calls,
        load.interval_seconds,
        load.handle_seconds,
        _checked_target(target_level),
        _checked(answer_within, name="answer_within"),
    ]
    if patience_seconds is not None:
        arrays.append(_checked(patience_seconds, name="patience_seconds", positive=True))
    calls_, interval_, handle_, target, within, *rest = (
        np.ascontiguousarray(a).ravel() for a in np.broadcast_arrays(*arrays)
    )
    shape = np.broadcast_shapes(*(np.shape(a) for a in arrays))
    load = Load(calls=calls_, interval_seconds=interval_, handle_seconds=handle_)
    traffic = load.traffic
    if patience_seconds is None:
        agents = np.where(traffic > 0, np.floor(traffic).astype(np.int64) + 1, 0)
    else:
        agents = np.ceil(target * traffic).astype(np.int64)
        agents = np.where(traffic > 0, np.maximum(agents, 1), 0)
    blocking = erlang_b(traffic=traffic, agents=agents)

    def figures(index: IntArray) -> QueueFigures:
        sub = Load(
            calls=calls_[index], interval_seconds=interval_[index], handle_seconds=handle_[index]
        )
        if patience_seconds is None:
            return _erlang_c_figures(sub, agents[index], blocking[index], within[index])
        return _erlang_a_figures(sub, agents[index], blocking[index], within[index], rest[0][index])

    short = np.flatnonzero(traffic > 0)
    while short.size:
        if patience_seconds is None:
            level = _erlang_c_level(
                traffic[short], agents[short], blocking[short], within[short] / handle_[short]
            )
        else:
            level = figures(short).service_level
        short = short[level < target[short]]
        agents[short] += 1
        load_blocked = traffic[short] * blocking[short]
        blocking[short] = load_blocked / (agents[short] + load_blocked)

    result = figures(np.arange(traffic.size))
    abandon = result.abandon_probability
    return QueueFigures(
        agents=result.agents.reshape(shape),
        service_level=result.service_level.reshape(shape),
        waiting_probability=result.waiting_probability.reshape(shape),
        asa_seconds=result.asa_seconds.reshape(shape),
        occupancy=result.occupancy.reshape(shape),
        abandon_probability=None if abandon is None else abandon.reshape(shape),
    )


def rostered(*, agents: ArrayLike, shrinkage: ArrayLike) -> IntArray:
    """Agents to roster so that `agents` are on the phones after shrinkage (breaks, training)."""
    shrink = _checked(shrinkage, name="shrinkage")
    if np.any(shrink >= 1):
        raise ValueError("shrinkage must be at least 0 and below 1 (0.3 for 30 %)")
    needed = _checked_agents(agents)
    # Rounded first: 14 / 0.7 is 20.000000000000004 in binary, which is 20 agents, not 21.
    return np.ceil(np.round(needed / (1.0 - shrink), 9)).astype(np.int64)
