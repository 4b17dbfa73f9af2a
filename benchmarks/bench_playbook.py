"""The follow-up playbook's nightly selection at scale, on PostgreSQL: who gets a survey
(tickets solved past the delay, not surveyed, customer not surveyed this period, not
stopped or unsubscribed, with an address), who gets a next-order nudge (expected next
purchase within the week, from the value model or their own interval), and which
detractors still need a recovery task.

Data (fixed seed, built in the database with generate_series): 1,000,000 customers (half
scored), one contact and address each, 1,000,000 tickets over two years (80% solved or
closed), 100,000 earlier surveys (a tenth of them detractors), 1% of customers stopped or
unsubscribed, 50,000 earlier nudges. `BENCH_PLAYBOOK_CUSTOMERS=100000` for a quick run.
Goal (issue 14, 2-core machine): the three selections under 5 s together.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from benchmarks.postgres_db import BENCH_DATABASE, fresh_bench_database, server_settings
from benchmarks.results_io import print_goals, write_result

N = int(os.environ.get("BENCH_PLAYBOOK_CUSTOMERS", "1000000"))
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
GOAL_SECONDS = 5.0
REPEATS = 3

_BUILD = """
SELECT setseed(0.14);
INSERT INTO crm_customer (id, kind, name, notes, order_count, total_spend, first_order_at,
    last_order_at, clv_12m, p_alive, expected_orders_90d, value_reason, scored_at,
    created_at, updated_at)
SELECT g, 'person', 'Customer ' || g, '', 1 + (g % 7), 50 * (1 + g % 7),
    %(now)s::timestamptz - (400 + g % 300) * interval '1 day',
    %(now)s::timestamptz - (g % 200) * interval '1 day',
    CASE WHEN g % 2 = 0 THEN 120 END, CASE WHEN g % 2 = 0 THEN 0.6 END,
    CASE WHEN g % 2 = 0 THEN 0.2 + (g % 40) / 10.0 END, '',
    CASE WHEN g % 2 = 0 THEN %(now)s::timestamptz - interval '1 day' END,
    %(now)s, %(now)s
FROM generate_series(1, %(n)s) g;
INSERT INTO crm_contact (id, customer_id, name, phone, created_at, updated_at)
SELECT g, g, '', '', %(now)s, %(now)s FROM generate_series(1, %(n)s) g;
INSERT INTO crm_contactemail (contact_id, address, is_primary)
SELECT g, 'c' || g || '@example.org', true FROM generate_series(1, %(n)s) g;
INSERT INTO desk_ticket (customer_id, contact_id, subject, status, priority, channel,
    value_at_risk, priority_reason, version, delivery_failed, created_at, updated_at,
    solved_at, closed_at)
SELECT 1 + (g::bigint * 7919) % %(n)s, 1 + (g::bigint * 7919) % %(n)s, 'Where is my order?',
    (ARRAY['open','pending','solved','closed','closed'])[1 + g % 5], 1, 'email', 0, '', 1, false,
    t - interval '2 days', t,
    CASE WHEN g % 5 >= 2 THEN t END, CASE WHEN g % 5 >= 3 THEN t END
FROM (SELECT g, %(now)s::timestamptz - random() * interval '730 days' AS t
      FROM generate_series(1, %(n)s) g) s;
INSERT INTO followup_survey (ticket_id, customer_id, to_address, period, created_at,
    send_after, status, last_error, answered_at, csat, nps, comment)
SELECT t.id, t.customer_id, 'c@example.org', (t.id % 100000)::int, t.solved_at + interval '1 day',
    t.solved_at + interval '1 day', 'sent', '', t.solved_at + interval '2 days',
    1 + t.id % 5, t.id % 11, ''
FROM desk_ticket t WHERE t.solved_at IS NOT NULL AND t.id %% 8 = 0
ORDER BY t.id LIMIT %(surveys)s
ON CONFLICT DO NOTHING;
INSERT INTO followup_customerfollowup (customer_id, unsubscribed_at, stopped_at)
SELECT g, CASE WHEN g % 2 = 0 THEN %(now)s::timestamptz END,
    CASE WHEN g % 2 = 1 THEN %(now)s::timestamptz END
FROM generate_series(1, %(n)s, 100) g;
INSERT INTO followup_followuptask (kind, customer_id, period, role, title, due_at, state,
    created_at, note)
SELECT 'nudge', g, 'p', 'sales', 'Ask', %(now)s::timestamptz, 'open',
    %(now)s::timestamptz - interval '3 days', ''
FROM generate_series(1, %(n)s, 20) g;
"""


def build() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            _BUILD.replace("%(n)s", str(N))
            .replace("%(surveys)s", str(N // 10))
            .replace("%(now)s", f"'{NOW.isoformat()}'")
            .replace("%%", "%")
        )
        for table in ("crm_customer", "crm_contact", "crm_contactemail", "desk_ticket"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        cursor.execute("ANALYZE")


def select_all() -> dict[str, float]:
    from nextorder.followup.selectors import (
        customers_to_nudge,
        surveys_needing_recovery,
        tickets_to_survey,
    )

    timings, counts = {}, {}
    for name, run in (
        ("survey", lambda: list(tickets_to_survey(now=NOW).values_list("id", "customer_id"))),
        ("nudge", lambda: customers_to_nudge(now=NOW)),
        ("recovery", lambda: list(surveys_needing_recovery(now=NOW).values_list("id", flat=True))),
    ):
        started = time.perf_counter()
        counts[name] = len(run())
        timings[name] = time.perf_counter() - started
    return {
        **{f"{k}_s": v for k, v in timings.items()},
        **{f"{k}_picked": v for k, v in counts.items()},
    }


def main() -> None:
    version = fresh_bench_database()
    started = time.perf_counter()
    build()
    built = time.perf_counter() - started
    runs = [select_all() for _ in range(REPEATS)]
    best = {key: min(run[key] for run in runs) for key in runs[0]}
    total = min(run["survey_s"] + run["nudge_s"] + run["recovery_s"] for run in runs)
    figures = {
        "database": BENCH_DATABASE,
        "postgres": version,
        "settings": server_settings(),
        "customers": N,
        "tickets": N,
        "build_s": round(built, 1),
        "selection_s": round(total, 3),
        **{key: round(value, 3) for key, value in best.items()},
        "goal_s": GOAL_SECONDS,
    }
    print(figures)
    path = write_result(
        name="bench_playbook" if N >= 1_000_000 else f"bench_playbook_{N}", figures=figures
    )
    print_goals(
        goals={f"selection under {GOAL_SECONDS} s at {N:,}": total < GOAL_SECONDS}, path=path
    )


if __name__ == "__main__":
    main()
