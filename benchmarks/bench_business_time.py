"""Due times of 1,000,000 tickets in business time, the way an SLA policy change needs them.

A split-shift calendar in Europe/Berlin with German public holidays (Schedule built by
hand, no database); starts spread over 30 days, targets of up to five days of open time.
`add_business_seconds` (sorted open intervals, cumulative open time, np.searchsorted) on
all of them, against the scalar `add_business_time` in a plain loop over a sample of
20,000 in the same run, whose results must be identical; median of 3 runs each.
Goal: the million in under 10 s (the SLA recomputation has 60 s for everything).
"""

from __future__ import annotations

import statistics
import time as clock
from datetime import UTC, date, datetime, time, timedelta

import holidays
import numpy as np

from benchmarks.results_io import print_goals, write_result
from nextorder.core.business_time import Schedule, add_business_seconds, add_business_time

TICKETS = 1_000_000
SAMPLE = 20_000
RUNS = 3
GOAL_SECONDS = 10.0


def main() -> None:
    schedule = Schedule(
        time_zone="Europe/Berlin",
        weekly=(((time(9), time(12, 30)), (time(13), time(18))),) * 5 + ((), ()),
        closed_dates=frozenset(holidays.country_holidays("DE", years=[2026, 2027])),
    )
    rng = np.random.default_rng(13)
    first = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    starts = np.round(first + rng.uniform(0, 30 * 86_400, TICKETS), 6)
    seconds = np.round(rng.uniform(0, 5 * 86_400, TICKETS), 6)
    vectorised = []
    for _ in range(RUNS):
        began = clock.perf_counter()
        due = add_business_seconds(starts, seconds, schedule)
        vectorised.append(clock.perf_counter() - began)
    scalar = []
    for _ in range(RUNS):
        began = clock.perf_counter()
        looped = [
            add_business_time(
                datetime.fromtimestamp(start, UTC), timedelta(seconds=float(span)), schedule
            )
            for start, span in zip(starts[:SAMPLE], seconds[:SAMPLE], strict=True)
        ]
        scalar.append(clock.perf_counter() - began)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    looped_us = [(moment - epoch) // timedelta(microseconds=1) for moment in looped]
    same = np.round(due[:SAMPLE] * 1e6).astype(np.int64).tolist() == looped_us
    vector_s = statistics.median(vectorised)
    scalar_per_ticket = statistics.median(scalar) / SAMPLE
    figures = {
        "tickets": TICKETS,
        "vectorised_seconds": vector_s,
        "scalar_seconds_per_ticket": scalar_per_ticket,
        "scalar_seconds_for_all_extrapolated": scalar_per_ticket * TICKETS,
        "speedup": scalar_per_ticket * TICKETS / vector_s,
        "sample_identical": same,
        "first_day": str(date(2026, 11, 1)),
    }
    path = write_result(name="business_time", figures=figures)
    print(
        f"  {TICKETS:,} due times in {vector_s:.2f} s; the scalar loop would take "
        f"{scalar_per_ticket * TICKETS:.0f} s ({figures['speedup']:.0f}x)"
    )
    print_goals(
        goals={
            f"1,000,000 due times in under {GOAL_SECONDS:.0f} s": vector_s < GOAL_SECONDS,
            f"identical to the scalar form on {SAMPLE:,} tickets": same,
        },
        path=path,
    )


if __name__ == "__main__":
    main()
