"""SLA due times after a policy change: 1,000,000 open tickets recomputed on PostgreSQL.

Data (fixed shape, built in the database with generate_series): 20,000 customers and
NEXTORDER_BENCH_SLA_TICKETS open tickets (1,000,000 by default; 100,000 to develop on)
over the last 30 days, 70% new/open and 30% pending (paused), every one with running
first-response and resolution clocks, a third with a running next-response clock. Three
policies are created through the service; then one is changed (its first-response target
halved) and `sla_recompute_open` (what the worker's `sla_recompute` task runs) matches
every open ticket again and rewrites its due times, batch by batch.

Goals (issue 13): the whole recompute under 60 s on a 2-core machine; each batch its own
transaction, so the rows one batch holds locked (never the ticket table) are released
within the longest batch's time, which is recorded.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from benchmarks.postgres_db import BENCH_DATABASE, fresh_bench_database, server_settings
from benchmarks.results_io import print_goals, write_result

N_TICKETS = int(os.environ.get("NEXTORDER_BENCH_SLA_TICKETS", "1000000"))
N_CUSTOMERS = 20_000
GOAL_SECONDS = 60.0


def load(n_tickets: int) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO crm_customer (id, created_at, updated_at, kind, name, external_id,
                notes, order_count, total_spend, value_at_risk, value_reason)
            SELECT i, now(), now(), CASE WHEN i %% 5 = 0 THEN 'company' ELSE 'person' END,
                'Customer ' || i, 'S' || i, '', 1 + i %% 7, 50 + i %% 400, i %% 300, ''
            FROM generate_series(1, %s) AS i
            """,
            [N_CUSTOMERS],
        )
        cursor.execute(
            """
            INSERT INTO desk_ticket (id, created_at, updated_at, customer_id, subject, status,
                priority, channel, value_at_risk, priority_reason, version, delivery_failed,
                last_message_at)
            SELECT i, t, t, 1 + i %% %s, 'Ticket ' || i,
                CASE WHEN i %% 10 < 3 THEN 'pending' WHEN i %% 10 < 5 THEN 'new' ELSE 'open' END,
                (i * 7) %% 4, (ARRAY['email', 'web_form', 'portal', 'phone'])[1 + i %% 4],
                i %% 300, '', 1, false, t
            FROM (
                SELECT i, now() - make_interval(secs => (i * 2654435761 %% 2592000)) AS t
                FROM generate_series(1, %s) AS i
            ) AS generated
            """,
            [N_CUSTOMERS, n_tickets],
        )
        cursor.execute(
            """
            INSERT INTO desk_ticketsla (ticket_id, status, paused_since,
                first_response_state, first_response_started_at, first_response_paused_seconds,
                first_response_step,
                next_response_state, next_response_started_at, next_response_paused_seconds,
                next_response_step,
                resolution_state, resolution_started_at, resolution_paused_seconds,
                resolution_step)
            SELECT id, status, CASE WHEN status = 'pending' THEN created_at + interval '1 hour' END,
                CASE WHEN status = 'pending' THEN 'paused' ELSE 'running' END, created_at,
                id % 3600, 0,
                CASE WHEN id % 3 = 0 THEN
                    CASE WHEN status = 'pending' THEN 'paused' ELSE 'running' END
                ELSE '' END,
                CASE WHEN id % 3 = 0 THEN created_at + interval '30 minutes' END, 0, 0,
                CASE WHEN status = 'pending' THEN 'paused' ELSE 'running' END, created_at,
                id % 3600, 0
            FROM desk_ticket
            """
        )
        for table in ("crm_customer", "desk_ticket", "desk_ticketsla"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def backend_cpu_seconds() -> float | None:
    """CPU time of this connection's server process so far, when the server runs on this
    machine (/proc): on a shared machine the wall clock counts others' work too."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    version = fresh_bench_database()
    from django.contrib.auth.models import User

    from nextorder.desk.models import Ticket, TicketSla
    from nextorder.desk.sla import RECOMPUTE_BATCH, sla_policy_create, sla_policy_update
    from nextorder.desk.sla import sla_recompute_open as recompute

    started = time.perf_counter()
    load(N_TICKETS)
    load_s = time.perf_counter() - started
    manager = User.objects.create_user(username="bench-manager")
    sla_policy_create(
        actor=manager,
        name="Urgent",
        position=10,
        priorities=[Ticket.Priority.URGENT],
        first_response_minutes=60,
        next_response_minutes=60,
        resolution_minutes=8 * 60,
    )
    sla_policy_create(
        actor=manager,
        name="Companies",
        position=20,
        customer_kind="company",
        first_response_minutes=4 * 60,
        next_response_minutes=4 * 60,
        resolution_minutes=2 * 24 * 60,
    )
    normal = sla_policy_create(
        actor=manager,
        name="Everyone else",
        position=30,
        first_response_minutes=24 * 60,
        next_response_minutes=8 * 60,
        resolution_minutes=5 * 24 * 60,
    )
    first = recompute()  # the policies apply to the loaded tickets: the state before the change
    sla_policy_update(
        policy=normal, actor=manager, expected_version=normal.version, first_response_minutes=720
    )
    backend_before, python_before = backend_cpu_seconds(), time.process_time()
    report = recompute()
    python_cpu = time.process_time() - python_before
    backend_after = backend_cpu_seconds()
    backend_cpu = (
        None if backend_before is None or backend_after is None else backend_after - backend_before
    )
    sample = TicketSla.objects.filter(policy=normal, first_response_state="running").first()
    assert sample is not None and sample.first_response_due_at is not None
    moved = (
        sample.first_response_due_at - sample.first_response_started_at
    ).total_seconds() - sample.first_response_paused_seconds
    figures: dict[str, Any] = {
        "database": BENCH_DATABASE,
        "postgres": version,
        "server": server_settings(),
        "tickets": N_TICKETS,
        "customers": N_CUSTOMERS,
        "batch_size": RECOMPUTE_BATCH,
        "rows_written": report.written,
        "load_s": round(load_s, 1),
        "first_recompute_s": round(first.seconds, 2),
        "recompute_s": round(report.seconds, 2),
        "tickets_recomputed": report.tickets,
        "batches": report.batches,
        "longest_batch_lock_ms": round(report.longest_batch_seconds * 1000, 1),
        "tickets_per_s": round(report.tickets / report.seconds),
        "python_cpu_s": round(python_cpu, 2),
        "server_cpu_s": None if backend_cpu is None else round(backend_cpu, 2),
        "load_average_1m": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "changed_target_applied_s": moved,
    }
    figures["goals"] = {
        "recompute_under_60_s": report.seconds < GOAL_SECONDS,
        "every_open_ticket_recomputed": report.tickets == N_TICKETS,
        "new_target_applied": moved == 720 * 60,
    }
    path = write_result(name="bench_sla", figures=figures)
    print(
        f"{N_TICKETS:,} open tickets loaded in {load_s:.0f} s; recompute after a policy change "
        f"{report.seconds:.1f} s in {report.batches} batches of {RECOMPUTE_BATCH:,} "
        f"({figures['tickets_per_s']:,} tickets/s), longest batch (rows locked) "
        f"{figures['longest_batch_lock_ms']:.0f} ms; CPU {python_cpu:.1f} s here, "
        f"{figures['server_cpu_s']} s in the server; load average {figures['load_average_1m']:.1f}"
    )
    print_goals(goals=figures["goals"], path=path)


if __name__ == "__main__":
    main()
