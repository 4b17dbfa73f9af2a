"""The API under load: POST /api/v1/tickets through gunicorn, requests/s and latency.

`gunicorn nextorder.wsgi:application --workers 2` (sync workers, persistent database
connections: DATABASE_CONN_MAX_AGE=600) serves the bench database on loopback. CLIENTS
Python threads, each with its own `http.client.HTTPConnection`, POST ticket creates one
after another with an agent integration user's bearer token: WARMUP seconds that are
not counted, then DURATION seconds that are. Half the requests open a ticket from a
known contact's address, half from an address nobody has (a new customer and contact,
at a non-public domain, so the company-domain lookup runs too). Any answer but 201 is an
error. Afterwards the database must hold exactly as many tickets as were created, and as
many contacts as the data plus the creates from new addresses.

gunicorn's sync workers answer one request per connection (`Connection: close`), so each
request is a new TCP connection on loopback; http.client reconnects by itself. The load
generator shares the machine's 2 cores with gunicorn and PostgreSQL: the figures include
the CPU seconds each used in the timed window (the client's own from process_time, the
workers' and the bench database's backends' from /proc) and the whole machine's, so a
reader sees how much went to the client and how much to other work. 16 threads need a
few ms of client CPU per request at most; if the client's CPU share approaches a core,
Python threads are what limits the rate, not the server.

Data: 10,000 customers, each with one contact and one address, loaded with COPY; the
database `nextorder_bench` is dropped and recreated each run. Afterwards creates run
in-process through Django's test Client: the SQL one create runs (known and new address),
its CPU and wall time, and a cProfile of the project's functions go into the JSON too.

Goal (2-core machine): at least 400 requests/s with p99 under 100 ms.
"""

from __future__ import annotations

import cProfile
import http.client
import io
import json
import os
import pstats
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.net import free_port

from benchmarks.postgres_db import (
    BENCH_DATABASE,
    BENCH_URL,
    fresh_bench_database,
    server_settings,
)
from benchmarks.results_io import cpu_snapshot, cpu_used, print_goals, write_result

N_CUSTOMERS = 10_000
CLIENTS = 16
WARMUP = 3.0
DURATION = 20.0
MAX_REQUESTS = 50_000  # over all threads: a bound in case the server is far faster
TIMEOUT = 30.0
WORKERS = 2
GOAL_RPS = 400.0
GOAL_P99_MS = 100.0
PROFILED_REQUESTS = 200
TOKEN_USER = "shop-bot"
BODY = "Hello,\nmy order has not arrived yet. It was due on Monday. Could you look into it?\n"
SUBJECTS = (
    "Where is my order?",
    "Refund for a damaged item",
    "Change of delivery address",
    "Invoice needed for my company",
    "Item missing from the parcel",
)
CUSTOMER_COLUMNS = (
    *("id", "created_at", "updated_at", "kind", "name"),
    *("notes", "order_count", "total_spend", "value_reason"),
)


def known_address(number: int) -> str:
    return f"buyer{number:05d}@shop{number % 50}.example"


def load_customers() -> None:
    """10,000 person customers, a contact and a primary address each, by COPY."""
    from django.db import connection
    from django.utils import timezone

    now = timezone.now().isoformat()
    ids = range(1, N_CUSTOMERS + 1)
    tables: list[tuple[str, tuple[str, ...], Any]] = [
        (
            "crm_customer",
            CUSTOMER_COLUMNS,
            ((i, now, now, "person", f"Customer {i:05d}", "", 0, 0, "") for i in ids),
        ),
        (
            "crm_contact",
            ("id", "created_at", "updated_at", "customer_id", "name", "phone"),
            ((i, now, now, i, f"Buyer {i:05d}", "") for i in ids),
        ),
        (
            "crm_contactemail",
            ("id", "contact_id", "address", "is_primary"),
            ((i, i, known_address(i), True) for i in ids),
        ),
    ]
    with connection.cursor() as cursor:
        for table, columns, rows in tables:
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def create_integration_user() -> str:
    """An agent-role staff user of its own for the integration, and its token's secret."""
    from nextorder.core.roles import AGENT
    from nextorder.core.services import api_token_create, user_create

    user = user_create(username=TOKEN_USER, role=AGENT)
    _token, secret = api_token_create(user=user, name="bench load", actor=None)
    return secret


def start_gunicorn(port: int, log: Any) -> subprocess.Popen[bytes]:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    env = {
        **os.environ,
        "DATABASE_URL": BENCH_URL,
        "DJANGO_SETTINGS_MODULE": "nextorder.settings",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "NEXTORDER_SSL_REDIRECT": "0",
        "DATABASE_CONN_MAX_AGE": "600",
    }
    command = [gunicorn, "nextorder.wsgi:application", "--workers", str(WORKERS)]
    command += ["--bind", f"127.0.0.1:{port}"]
    return subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def wait_until_answering(port: int, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until the API answers (401 without a token: routing, settings and auth all work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/tickets")
            status = conn.getresponse().status
            conn.close()
            if status == 401:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on {port}")


def request_body(thread: int, sequence: int, rng: random.Random) -> tuple[bytes, bool]:
    """Even requests from a known contact, odd ones from an address nobody has yet."""
    new = sequence % 2 == 1
    if new:
        address = f"new-{thread:02d}-{sequence:06d}@buyers{sequence % 97}.example"
        name = f"New buyer {thread}-{sequence}"
    else:
        address = known_address(rng.randint(1, N_CUSTOMERS))
        name = ""
    payload = {
        "contact_email": address,
        "contact_name": name,
        "subject": f"{SUBJECTS[sequence % len(SUBJECTS)]} ({thread}-{sequence})",
        "body": BODY,
    }
    return json.dumps(payload).encode(), new


def run_load(port: int, secret: str, server: subprocess.Popen[bytes]) -> dict[str, Any]:
    """CLIENTS threads for WARMUP + DURATION seconds; only requests begun after the
    warm-up count in the rate and the latencies."""
    headers = {
        "Authorization": f"Bearer {secret}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    budget = threading.Semaphore(MAX_REQUESTS)
    records: list[list[tuple[float, float, int, bool]]] = [[] for _ in range(CLIENTS)]
    failures: list[list[str]] = [[] for _ in range(CLIENTS)]
    go = threading.Event()
    start_at = time.perf_counter() + 0.5
    timed_from = start_at + WARMUP
    stop_at = timed_from + DURATION

    def client(number: int) -> None:
        rng = random.Random(1000 + number)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        go.wait()
        sequence = 0
        try:
            while time.perf_counter() < stop_at and budget.acquire(blocking=False):
                body, new = request_body(number, sequence, rng)
                began = time.perf_counter()
                try:
                    conn.request("POST", "/api/v1/tickets", body=body, headers=headers)
                    response = conn.getresponse()
                    answer = response.read()
                    status = response.status
                    if response.will_close:
                        conn.close()  # sync workers close after each answer; reconnect
                except (OSError, http.client.HTTPException) as error:
                    conn.close()
                    status, answer = 0, repr(error).encode()
                ended = time.perf_counter()
                records[number].append((began, ended, status, new))
                if status != 201 and len(failures[number]) < 5:
                    failures[number].append(f"{status}: {answer[:200].decode(errors='replace')}")
                sequence += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    while time.perf_counter() < start_at:
        time.sleep(0.01)
    go.set()
    while time.perf_counter() < timed_from:
        time.sleep(0.01)
    cpu_before = cpu_snapshot(server.pid)
    for thread in threads:
        thread.join(timeout=WARMUP + DURATION + TIMEOUT + 10)
    cpu_after = cpu_snapshot(server.pid)
    ended_at = time.perf_counter()

    every = [record for per_thread in records for record in per_thread]
    timed = [r for r in every if r[0] >= timed_from]
    ok = [r for r in timed if r[2] == 201]
    latencies = sorted((r[1] - r[0]) * 1000 for r in timed)
    # The window: from the end of the warm-up until the last counted answer arrived.
    window = max((r[1] for r in timed), default=stop_at) - timed_from
    errors_by_status: dict[str, int] = {}
    for r in every:
        if r[2] != 201:
            errors_by_status[str(r[2])] = errors_by_status.get(str(r[2]), 0) + 1

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

    return {
        "requests_total": len(every),
        "created_total": sum(1 for r in every if r[2] == 201),
        "created_new_address_total": sum(1 for r in every if r[2] == 201 and r[3]),
        "requests_timed": len(timed),
        "created_timed": len(ok),
        "errors_total": len(every) - sum(1 for r in every if r[2] == 201),
        "errors_timed": len(timed) - len(ok),
        "errors_by_status": errors_by_status,
        "error_samples": [f for per_thread in failures for f in per_thread][:10],
        "timed_window_s": round(window, 2),
        "requests_per_s": round(len(timed) / window, 1),
        "created_per_s": round(len(ok) / window, 1),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1], 1),
        "hit_request_bound": len(every) >= MAX_REQUESTS,
        "load_wall_s": round(ended_at - start_at, 2),
        "cpu": cpu_used(cpu_before, cpu_after, server="gunicorn"),
    }


def profile_create(secret: str) -> dict[str, Any]:
    """Creates in-process through Django's test Client (middleware, Ninja, services): the
    SQL one runs for each kind of address, the CPU and wall time of PROFILED_REQUESTS
    unprofiled, and a cProfile of as many (the project's own functions, top 10 by
    cumulative time; the frames above them are the test client, middleware and Ninja)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {secret}")
    rng = random.Random(7)

    def post(sequence: int) -> None:
        body, _new = request_body(99, sequence, rng)
        response = client.post("/api/v1/tickets", data=body, content_type="application/json")
        assert response.status_code == 201, response.content[:300]

    post(0)  # warm: imports, caches
    post(1)
    queries: dict[str, list[str]] = {}
    for kind, sequence in (("known_address", 2), ("new_address", 3)):
        with CaptureQueriesContext(connection) as captured:
            post(sequence)
        queries[kind] = [q["sql"][:300] for q in captured.captured_queries]
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK")
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT * FROM crm_contactemail WHERE address = %s", [known_address(5)]
        )
        lookup_plan = [row[0] for row in cursor.fetchall()]
    wall, cpu = time.perf_counter(), time.process_time()
    for sequence in range(4, 4 + PROFILED_REQUESTS):
        post(sequence)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    profiler = cProfile.Profile()
    profiler.enable()
    for sequence in range(4 + PROFILED_REQUESTS, 4 + 2 * PROFILED_REQUESTS):
        post(sequence)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"src/nextorder/", 10)
    return {
        "sql_queries_known_address": len(queries["known_address"]),
        "sql_queries_new_address": len(queries["new_address"]),
        "sql_statements_known_address": sum(
            1 for q in queries["known_address"] if not q.startswith(control)
        ),
        "sql_statements_new_address": sum(
            1 for q in queries["new_address"] if not q.startswith(control)
        ),
        "sql": queries,
        "contact_email_lookup_plan": lookup_plan,
        "requests": PROFILED_REQUESTS,
        "in_process_wall_ms_per_request": round(1000 * wall / PROFILED_REQUESTS, 2),
        "in_process_cpu_ms_per_request": round(1000 * cpu / PROFILED_REQUESTS, 2),
        "profiled_ms_per_request": round(
            1000 * stats.total_tt / PROFILED_REQUESTS,  # type: ignore[attr-defined]
            2,
        ),
        "top10_cumulative": out.getvalue().splitlines(),
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    load_before = uptime()
    started = time.perf_counter()
    version = fresh_bench_database()
    from nextorder.crm.models import Contact
    from nextorder.desk.models import Ticket

    load_customers()
    secret = create_integration_user()
    contacts_before = Contact.objects.count()
    load_s = time.perf_counter() - started

    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = start_gunicorn(port, log)
        try:
            wait_until_answering(port, server)
            load = run_load(port, secret, server)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.seek(0)
            server_log = log.read().decode(errors="replace").splitlines()[-20:]

    tickets_after = Ticket.objects.count()
    contacts_after = Contact.objects.count()
    profile = profile_create(secret)
    load_after = uptime()

    figures: dict[str, Any] = {
        "database": BENCH_DATABASE,
        "postgresql": version,
        "server_settings": server_settings(),
        "customers": N_CUSTOMERS,
        "clients": CLIENTS,
        "gunicorn_workers": WORKERS,
        "warmup_s": WARMUP,
        "duration_s": DURATION,
        "setup_s": round(load_s, 1),
        **load,
        "tickets_after": tickets_after,
        "contacts_added": contacts_after - contacts_before,
        "uptime_before": load_before,
        "uptime_after": load_after,
        "gunicorn_log_tail": server_log,
        "profile": profile,
    }
    figures["goals"] = {
        f">= {GOAL_RPS:.0f} req/s with p99 < {GOAL_P99_MS:.0f} ms": (
            load["requests_per_s"] >= GOAL_RPS and load["p99_ms"] < GOAL_P99_MS
        ),
        "no errors": load["errors_total"] == 0,
        "tickets in the database = successful creates": tickets_after == load["created_total"],
        "contacts added = creates from new addresses": (
            contacts_after - contacts_before == load["created_new_address_total"]
        ),
    }
    path = write_result(name="bench_api", figures=figures)

    cpu = load["cpu"]
    print(
        f"POST /api/v1/tickets, {CLIENTS} client threads, gunicorn {WORKERS} sync workers, "
        f"{N_CUSTOMERS:,} customers; {DURATION:.0f} s after {WARMUP:.0f} s warm-up"
    )
    print(
        f"{load['requests_per_s']} req/s ({load['requests_timed']:,} requests, "
        f"{load['errors_timed']} errors); p50 {load['p50_ms']} ms, p95 {load['p95_ms']} ms, "
        f"p99 {load['p99_ms']} ms, max {load['max_ms']} ms"
    )
    print(
        f"tickets in the database {tickets_after:,} = created {load['created_total']:,} "
        f"(warm-up included); errors in all {load['errors_total']} {load['errors_by_status']}"
    )
    print(
        f"CPU s in the {load['timed_window_s']} s window: client {cpu['client_cpu_s']}, "
        f"gunicorn {cpu['gunicorn_cpu_s']}, PostgreSQL backends "
        f"{cpu['postgres_bench_backends_cpu_s']}, other work {cpu['other_work_cpu_s']} "
        f"(machine busy {cpu['machine_busy_cpu_s']} of {cpu['machine_capacity_cpu_s']})"
    )
    print(
        f"one create in-process: {profile['in_process_wall_ms_per_request']} ms wall, "
        f"{profile['in_process_cpu_ms_per_request']} ms CPU; SQL statements (and with "
        f"BEGIN/COMMIT/SAVEPOINTs): known address {profile['sql_statements_known_address']} "
        f"({profile['sql_queries_known_address']}), new address "
        f"{profile['sql_statements_new_address']} ({profile['sql_queries_new_address']})"
    )
    print(f"load before: {load_before}\nload after:  {load_after}")
    print("\n".join(profile["top10_cumulative"][-12:]))
    for line in load["error_samples"][:3]:
        print(f"  error: {line}")
    print_goals(goals=figures["goals"], path=path)


if __name__ == "__main__":
    main()
