"""Staffing a year of 15-minute intervals with Erlang C, against a per-interval Python loop.

35,040 intervals with a call centre's shape (quiet nights, a morning and an afternoon
peak, Mondays busiest, weekends light, a winter season) and up to about 500 agents.
Goal: the vectorised kernel under 0.2 s (the median of a few runs), with the same agents
in every interval as a plain-Python loop that staffs one interval at a time.
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np

from benchmarks.results_io import print_goals, write_result
from nextorder.insight import erlang

INTERVAL_SECONDS = 900
HANDLE_SECONDS = 300.0
TARGET_LEVEL = 0.8
ANSWER_WITHIN = 20.0
GOAL_SECONDS = 0.2


def year_of_calls(seed: int = 13) -> np.ndarray:
    """Calls per 15 minutes for 365 days: day shape x weekday x season, Poisson noise."""
    rng = np.random.default_rng(seed)
    hours = (np.arange(96) + 0.5) / 4
    day_shape = (
        0.03
        + np.exp(-(((hours - 10.5) / 1.8) ** 2))
        + 0.8 * np.exp(-(((hours - 15.0) / 2.2) ** 2))
        + 0.25 * np.exp(-(((hours - 20.0) / 1.5) ** 2))
    )
    weekday = np.array([1.25, 1.1, 1.0, 1.0, 0.95, 0.55, 0.35])
    days = np.arange(365)
    season = 1.0 + 0.25 * np.cos(2 * np.pi * (days - 15) / 365)
    mean = 900.0 * season[:, None] * weekday[days % 7][:, None] * day_shape[None, :]
    return rng.poisson(mean).astype(np.float64).ravel()


def agents_one_interval(calls: float) -> int:
    """The textbook loop: Erlang B by recursion, then Erlang C, one agent at a time."""
    if calls == 0:
        return 0
    traffic = calls * HANDLE_SECONDS / INTERVAL_SECONDS
    agents = math.floor(traffic) + 1
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    while True:
        waiting = agents * blocking / (agents - traffic * (1 - blocking))
        level = 1 - waiting * math.exp(-(agents - traffic) * ANSWER_WITHIN / HANDLE_SECONDS)
        if level >= TARGET_LEVEL:
            return agents
        agents += 1
        blocking = traffic * blocking / (agents + traffic * blocking)


def main() -> None:
    calls = year_of_calls()
    walls = []
    for _ in range(5):
        started = time.perf_counter()
        figures = erlang.agents_required(
            calls=calls,
            interval_seconds=INTERVAL_SECONDS,
            handle_seconds=HANDLE_SECONDS,
            target_level=TARGET_LEVEL,
            answer_within=ANSWER_WITHIN,
        )
        walls.append(time.perf_counter() - started)
    started = time.perf_counter()
    reference = [agents_one_interval(float(c)) for c in calls]
    loop_seconds = time.perf_counter() - started
    assert figures.agents.tolist() == reference, "the kernel and the loop disagree"

    kernel_seconds = statistics.median(walls)
    figures_out = {
        "intervals": int(calls.size),
        "max_agents": int(figures.agents.max()),
        "mean_agents": float(figures.agents.mean()),
        "kernel_seconds_median": kernel_seconds,
        "kernel_seconds_all": walls,
        "python_loop_seconds": loop_seconds,
        "speed_up": loop_seconds / kernel_seconds,
        "goals": {
            f"year of 15-minute intervals under {GOAL_SECONDS} s": kernel_seconds < GOAL_SECONDS,
            "same agents as the per-interval loop": True,
        },
    }
    path = write_result(name="bench_staffing", figures=figures_out)
    print(
        f"  {calls.size} intervals, up to {figures_out['max_agents']} agents: kernel "
        f"{kernel_seconds * 1000:.0f} ms, Python loop {loop_seconds:.1f} s "
        f"({figures_out['speed_up']:.0f}x)"
    )
    print_goals(goals=figures_out["goals"], path=path)


if __name__ == "__main__":
    main()
