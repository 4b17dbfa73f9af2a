"""The agent queue at scale: server time of GET /desk/ with 1,000,000 tickets in PostgreSQL.

The whole request goes through Django's test Client as a logged-in agent: URL routing,
middleware (sessions, auth, CSRF, htmx), the selector's SQL and the template. Query
strings are the ones the console builds: the filter form's fields for a first page,
plus `after=<cursor>` from "Load more" (an htmx request) for a page deep in the queue.
A first page also counts the tickets its filters match (bounded at 10,001 rows), so
every `*_first` case is "the queue with its match count".

Each request's SQL time is summed through a connection execute wrapper on the same
requests, and each case reports p95 server time over p95 SQL time: issue 12's goal is
a page within 4x of its own SQL, and under 50 ms.

Data (fixed seed): 100,000 customers, 6 teams, 24 agents and 2 leads created with the
normal role helpers, 1,000,000 tickets over two years (30% new/open/pending, the rest
solved/closed) and 3,000,000 messages on them, loaded with COPY and then ANALYZEd; 5% of
the tickets carry the tag "late", 0.5% "vip". `NEXTORDER_BENCH_QUEUE_TICKETS=100000` runs
a tenth of it (customers and messages scaled alike) for development. The database
`nextorder_bench` is dropped and recreated each run. Goal (2-core machine): p95 under
50 ms for every case, and within 4x of the case's SQL time.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import numpy as np
import polars as pl

from benchmarks.postgres_db import BENCH_DATABASE, fresh_bench_database, server_settings
from benchmarks.results_io import print_goals, write_result

N_TICKETS = int(os.environ.get("NEXTORDER_BENCH_QUEUE_TICKETS", "1000000"))
N_CUSTOMERS = N_TICKETS // 10
N_MESSAGES = 3 * N_TICKETS
TEAMS = ("Orders", "Returns", "Billing", "Technical", "Wholesale", "Key accounts")
N_AGENTS = 24
PASSWORD = "bench-queue-password-1"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# Fewer requests for a quick look while developing (the figures then vary more).
WARMUP = int(os.environ.get("NEXTORDER_BENCH_QUEUE_WARMUP", "20"))
TIMED = int(os.environ.get("NEXTORDER_BENCH_QUEUE_REQUESTS", "200"))
GOAL_P95_MS = 50.0
GOAL_SQL_RATIO = 4.0
# Tags on tickets (name, colour, share of tickets): a common one and a rare one.
TAGS = (("late", "amber", 0.05), ("vip", "purple", 0.005))
STATUSES = ("new", "open", "pending", "solved", "closed")
STATUS_SHARE = (0.06, 0.14, 0.10, 0.20, 0.50)
# Mean age in days by status: new tickets are hours old, closed ones months.
STATUS_AGE_DAYS = (1.5, 12.0, 25.0, 60.0, 240.0)
SUBJECTS = (
    "Where is my order?",
    "Refund for a damaged item",
    "Change of delivery address",
    "Invoice needed for my company",
    "Item missing from the parcel",
    "Question about the warranty",
    "Cancel my subscription",
    "Wrong size delivered",
    "Payment taken twice",
    "Do you ship to Norway?",
)


def copy_frame(table: str, frame: pl.DataFrame) -> None:
    """COPY a frame whose columns are named like the table's."""
    from django.db import connection

    with connection.cursor() as cursor:
        columns = ", ".join(connection.ops.quote_name(c) for c in frame.columns)  # "references"
        sql = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
        with cursor.cursor.copy(sql) as copy:
            for start in range(0, frame.height, 100_000):
                chunk = frame.slice(start, 100_000)
                copy.write(chunk.write_csv(include_header=False, null_value=""))
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )


def iso(column: str) -> pl.Expr:
    return pl.col(column).dt.strftime("%Y-%m-%d %H:%M:%S%.f+00:00")


def load_customers(rng: np.random.Generator) -> np.ndarray:
    """100,000 customers with order figures and, for 40% of them, a value at risk."""
    ids = np.arange(1, N_CUSTOMERS + 1)
    orders = rng.geometric(0.35, N_CUSTOMERS)
    spend = np.round(orders * rng.gamma(2.0, 30.0, N_CUSTOMERS), 2)
    scored = rng.random(N_CUSTOMERS) < 0.4
    value_at_risk = np.where(scored, np.round(rng.lognormal(3.5, 1.2, N_CUSTOMERS), 2), 0.0)
    frame = pl.DataFrame(
        {
            "id": ids,
            "name": [f"Customer {i:06d}" for i in ids],
            "external_id": [f"B{i:06d}" for i in ids],
            "order_count": orders,
            "total_spend": spend,
            "days_since_order": rng.integers(1, 700, N_CUSTOMERS),
            "value_at_risk": value_at_risk,
            "scored": scored,
        }
    )
    copy_frame(
        "crm_customer",
        frame.select(
            "id",
            pl.lit(NOW).alias("created_at"),
            pl.lit(NOW).alias("updated_at"),
            pl.lit("person").alias("kind"),
            "name",
            "external_id",
            pl.lit("").alias("notes"),
            "order_count",
            pl.col("total_spend").round(2),
            (pl.lit(NOW) - pl.duration(days=pl.col("days_since_order") + 400)).alias(
                "first_order_at"
            ),
            (pl.lit(NOW) - pl.duration(days=pl.col("days_since_order"))).alias("last_order_at"),
            pl.when("scored").then(pl.col("value_at_risk")).alias("value_at_risk"),
            pl.lit("").alias("value_reason"),
        ).with_columns(
            iso("created_at"), iso("updated_at"), iso("first_order_at"), iso("last_order_at")
        ),
    )
    return value_at_risk


def create_staff() -> tuple[Any, list[Any], list[Any]]:
    """Teams and staff the normal way: users, role groups, team membership."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from nextorder.core.models import Team
    from nextorder.core.roles import AGENT, LEAD

    users = get_user_model()
    teams = [Team.objects.create(name=name) for name in TEAMS]
    agents = []
    for number in range(N_AGENTS + 2):
        role = AGENT if number < N_AGENTS else LEAD
        user = users.objects.create_user(
            username=f"{role}{number:02d}", password=PASSWORD, is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        teams[number % len(teams)].members.add(user)
        agents.append(user)
    return agents[0], agents, teams


def load_tickets(
    rng: np.random.Generator, value_at_risk: np.ndarray, agents: list[Any], teams: list[Any]
) -> dict[str, int]:
    """1,000,000 tickets in creation order (ids follow time, as they do in a live desk)."""
    status = rng.choice(len(STATUSES), N_TICKETS, p=STATUS_SHARE)
    age_days = rng.exponential(np.array(STATUS_AGE_DAYS)[status])
    age_days = np.minimum(age_days, 730.0)
    age_us = np.round(age_days * 86_400_000_000).astype(np.int64)
    # Customers who write often: a skewed choice, heavier for those with more orders.
    weights = rng.gamma(0.8, 1.0, N_CUSTOMERS)
    customer = rng.choice(N_CUSTOMERS, N_TICKETS, p=weights / weights.sum()) + 1
    priority = rng.choice(4, N_TICKETS, p=[0.15, 0.55, 0.22, 0.08])
    team_ids = np.array([t.pk for t in teams])
    team = np.where(
        rng.random(N_TICKETS) < 0.9,
        team_ids[rng.choice(len(teams), N_TICKETS, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.1])],
        -1,
    )
    agent_ids = np.array([a.pk for a in agents])
    assigned_share = np.array([0.2, 0.85, 0.9, 0.95, 0.95])[status]
    assignee = np.where(
        rng.random(N_TICKETS) < assigned_share,
        agent_ids[rng.integers(0, len(agent_ids), N_TICKETS)],
        -1,
    )
    frame = (
        pl.DataFrame(
            {
                "age_us": age_us,
                "customer_id": customer,
                "status": np.array(STATUSES)[status],
                "priority": priority,
                "team_id": team,
                "assignee_id": assignee,
                "subject": np.array(SUBJECTS)[rng.integers(0, len(SUBJECTS), N_TICKETS)],
                "channel": rng.choice(["email", "web_form", "portal", "phone"], N_TICKETS),
                "value_at_risk": np.round(value_at_risk[customer - 1], 2),
                "answer_minutes": rng.exponential(90.0, N_TICKETS),
            }
        )
        .with_columns(
            (pl.lit(NOW) - pl.duration(microseconds=pl.col("age_us"))).alias("created_at")
        )
        .sort("created_at")
        .with_row_index("id", offset=1)
    )
    answered = pl.col("created_at") + pl.duration(minutes=pl.col("answer_minutes"))
    solved = pl.col("status").is_in(["solved", "closed"])
    frame = frame.select(
        pl.col("id").cast(pl.Int64),
        "created_at",
        pl.col("created_at").alias("updated_at"),
        "customer_id",
        pl.format("{} (#{})", pl.col("subject"), pl.col("id")).alias("subject"),
        "status",
        "priority",
        "channel",
        pl.when(pl.col("team_id") > 0).then(pl.col("team_id")).alias("team_id"),
        pl.when(pl.col("assignee_id") > 0).then(pl.col("assignee_id")).alias("assignee_id"),
        pl.when(pl.col("status") != "new").then(answered).alias("first_response_at"),
        pl.when(solved).then(answered + timedelta(days=1)).alias("solved_at"),
        pl.when(pl.col("status") == "closed").then(answered + timedelta(days=8)).alias("closed_at"),
        answered.alias("last_message_at"),
        "value_at_risk",
        pl.lit("").alias("priority_reason"),
        pl.lit(1).alias("version"),
        pl.lit(False).alias("delivery_failed"),
    ).with_columns(
        iso("created_at"),
        iso("updated_at"),
        iso("first_response_at"),
        iso("solved_at"),
        iso("closed_at"),
        iso("last_message_at"),
    )
    copy_frame("desk_ticket", frame)
    return {
        status: int(count)
        for status, count in frame.group_by("status").len().sort("status").iter_rows()
    }


def load_tags(rng: np.random.Generator) -> dict[str, int]:
    """The tags, each on its share of the tickets (drawn at random)."""
    from nextorder.desk.models import Tag

    ids, next_row = {}, 1
    for name, colour, share in TAGS:
        tag = Tag.objects.create(name=name, colour=colour)
        tickets = np.flatnonzero(rng.random(N_TICKETS) < share) + 1
        frame = pl.DataFrame(
            {
                "id": np.arange(next_row, next_row + len(tickets)),
                "ticket_id": tickets,
                "tag_id": tag.pk,
                "created_at": NOW.isoformat(),
            }
        )
        copy_frame("desk_tickettag", frame)
        ids[name], next_row = tag.pk, next_row + len(tickets)
    return ids


BODY = "Hello, my order has not arrived yet. Could you look into it?"


def load_messages(
    rng: np.random.Generator,
    bodies: Callable[[np.random.Generator, int], pl.Series] = lambda _rng, count: pl.repeat(
        BODY, count, eager=True
    ),
) -> int:
    """3,000,000 messages, three per ticket on average (the customer's, replies, notes),
    so that the queue is measured beside a conversation table of a real desk's size.
    `bodies` writes their text (bench_search's has a vocabulary; here one sentence)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, created_at FROM desk_ticket ORDER BY id")
        tickets = cursor.fetchall()
    ticket_ids = np.array([row[0] for row in tickets], dtype=np.int64)
    per_ticket = rng.poisson(2.0, len(ticket_ids)) + 1
    scale = N_MESSAGES / per_ticket.sum()
    per_ticket = np.maximum(1, np.round(per_ticket * scale)).astype(np.int64)
    ticket_of = np.repeat(ticket_ids, per_ticket)[:N_MESSAGES]
    count = len(ticket_of)
    utc = [row[1].astimezone(UTC).replace(tzinfo=None) for row in tickets]
    created = np.repeat(np.array(utc, dtype="datetime64[us]"), per_ticket)
    first = np.r_[True, ticket_of[1:] != ticket_of[:-1]]
    direction = np.where(first, "in", rng.choice(["out", "in", "note"], count, p=[0.5, 0.4, 0.1]))
    frame = pl.DataFrame(
        {
            "id": np.arange(1, count + 1),
            "ticket_id": ticket_of,
            "direction": direction,
            "sent_at": created[:count]
            + rng.integers(0, 3 * 86_400_000_000, count).astype("timedelta64[us]") * (~first),
        }
    ).with_columns(pl.col("sent_at").dt.replace_time_zone("UTC"))
    frame = (
        frame.with_columns(bodies(rng, count).alias("body_text"))
        .select(
            "id",
            "ticket_id",
            "direction",
            "body_text",
            pl.format("<p>{}</p>", "body_text").alias("body_html"),
            "sent_at",
            pl.format("<m{}@bench.example>", pl.col("id")).alias("message_id"),
            pl.lit("").alias("in_reply_to"),
            pl.lit("").alias("references"),
            pl.col("sent_at").alias("created_at"),
        )
        .with_columns(iso("sent_at"), iso("created_at"))
    )
    copy_frame("desk_message", frame)
    return count


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "crm_customer",
            "desk_ticket",
            "desk_message",
            "desk_tickettag",
            "desk_tag",
            "core_team",
            "auth_user",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def form_query(*, sort: str = "priority", statuses=("new", "open", "pending"), **fields) -> str:
    """The filter form's fields in the order the browser sends them (hx-get on change)."""
    pairs = [("status", s) for s in statuses]
    pairs += [("team", fields.get("team", "")), ("assignee", fields.get("assignee", ""))]
    pairs.append(("tag", fields.get("tag", "")))
    pairs.append(("sort", sort))
    return urlencode(pairs)


def _at(*, sort: str, statuses: tuple[str, ...], position: int, **where: Any) -> Any:
    """The ticket at `position` (1-based) of this sort and filter, by OFFSET (slow, once):
    tier by tier (waiting on us, on the customer, done), each in the sort's order."""
    from django.db.models import Case, IntegerField, Value, When

    from nextorder.desk.models import Ticket
    from nextorder.desk.selectors import _ORDERINGS, TIERS, QueueSort

    ordering = _ORDERINGS[QueueSort(sort)]
    tier = Case(
        *(When(status__in=list(members), then=Value(n)) for n, members in enumerate(TIERS)),
        output_field=IntegerField(),
    )
    return (
        Ticket.objects.filter(status__in=list(statuses), **where)
        .alias(tier=tier)
        .order_by("tier", *ordering)
        .only("status", *(name.lstrip("-") for name in ordering))[position - 1]
    )


def ticket_at(*, sort: str, statuses: tuple[str, ...], position: int, **where: Any) -> int:
    return int(_at(sort=sort, statuses=statuses, position=position, **where).pk)


def deep_cursor(*, sort: str, statuses: tuple[str, ...], position: int, **where: Any) -> str:
    """The cursor "Load more" carries after `position` rows of this sort and filter (the
    queue's own encoding of the row it ends a page on)."""
    from nextorder.desk.selectors import QueueSort, _encode_cursor, tier_of

    ticket = _at(sort=sort, statuses=statuses, position=position, **where)
    return _encode_cursor(sort=QueueSort(sort), tier=tier_of(ticket.status), ticket=ticket)


class SqlClock:
    """Sums the time spent in the database by the requests it wraps (an execute wrapper
    on Django's connection: the driver's round trip, as the page waits for it)."""

    def __init__(self) -> None:
        self.ms = 0.0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.ms += (time.perf_counter() - started) * 1000


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * len(values)) - 1]


def time_case(client: Any, url: str, headers: dict[str, str]) -> dict[str, Any]:
    from django.db import connection

    for _ in range(WARMUP):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.status_code)
    timings, sql_timings = [], []
    clock = SqlClock()
    with connection.execute_wrapper(clock):
        for _ in range(TIMED):
            clock.ms = 0.0
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            sql_timings.append(clock.ms)
            assert response.status_code == 200
    html = response.content.decode()
    ids = [int(found) for found in re.findall(r'data-ticket="(\d+)"', html)]
    count = re.search(r'id="match-count">([^<]+)<', html)
    ordered = sorted(timings)
    return {
        "url": url,
        "htmx": bool(headers),
        "rows": len(ids),
        "first_id": ids[0] if ids else None,
        "match_count": count.group(1) if count else None,
        "requests": TIMED,
        "p50_ms": statistics.median(ordered),
        "p95_ms": _p95(timings),
        "p99_ms": ordered[int(0.99 * len(ordered)) - 1],
        "max_ms": ordered[-1],
        "mean_ms": statistics.fmean(ordered),
        "sql_p50_ms": statistics.median(sql_timings),
        "sql_p95_ms": _p95(sql_timings),
        "p95_over_sql_p95": _p95(timings) / _p95(sql_timings),
    }


_PLAN_INDEX = re.compile(r"(Index(?: Only)? Scan(?: Backward)?) using (\w+)")


def explain_queue_queries(client: Any, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of every ticket query one request runs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url, headers=headers)
    explained = []
    for query in captured.captured_queries:
        if 'FROM "desk_ticket"' not in query["sql"]:
            continue
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query['sql']}")
            plan = [row[0] for row in cursor.fetchall()]
        found = _PLAN_INDEX.findall("\n".join(plan))
        explained.append(
            {
                "top_line": plan[0].strip(),
                "ticket_indexes": sorted({name for _kind, name in found if "ticket" in name}),
                "scans": sorted({f"{kind} using {name}" for kind, name in found}),
                "execution": next((line.strip() for line in plan if "Execution Time" in line), ""),
                "buffers": next((line.strip() for line in plan if "Buffers:" in line), ""),
                "plan": plan,
                "sql": query["sql"],
            }
        )
    return {"sql_queries_per_request": len(captured.captured_queries), "ticket_queries": explained}


def build_cases(*, agent: Any, teams: list[Any], tags: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Each case: the URL the console requests, its htmx headers, the queue position."""
    from nextorder.desk.models import Ticket

    active = ("new", "open", "pending")
    with_solved = ("open", "pending", "solved")
    # "Load more" is an htmx GET of the link's URL, swapped into #load-more.
    more = {"HX-Request": "true", "HX-Target": "load-more", "HX-Current-URL": "/desk/"}
    team = teams[0].pk
    specs: list[tuple[str, dict[str, Any], dict[str, Any], str, bool]] = [
        # name, form fields, the same filter for the ORM, sort, deep
        ("priority", {}, {}, "priority", False),
        ("priority", {}, {}, "priority", True),
        ("value", {}, {}, "value", False),
        ("value", {}, {}, "value", True),
        ("age", {}, {}, "age", False),
        ("age", {}, {}, "age", True),
        ("team", {"team": team}, {"team_id": team}, "priority", False),
        ("team", {"team": team}, {"team_id": team}, "priority", True),
        ("assignee_me", {"assignee": "me"}, {"assignee_id": agent.pk}, "priority", False),
        ("assignee_none", {"assignee": "none"}, {"assignee__isnull": True}, "priority", False),
        ("assignee_none", {"assignee": "none"}, {"assignee__isnull": True}, "priority", True),
        ("with_solved", {"statuses": with_solved}, {}, "priority", False),
        ("with_solved", {"statuses": with_solved}, {}, "priority", True),
        ("with_solved_value", {"statuses": with_solved}, {}, "value", False),
        ("with_solved_value", {"statuses": with_solved}, {}, "value", True),
        ("all_statuses", {"statuses": STATUSES}, {}, "priority", True),
        # The tag filter: a common tag, deep; a rare one (one ticket in 200).
        ("tag_late", {"tag": tags["late"]}, {"tags": tags["late"]}, "priority", False),
        ("tag_late", {"tag": tags["late"]}, {"tags": tags["late"]}, "priority", True),
        ("tag_vip", {"tag": tags["vip"]}, {"tags": tags["vip"]}, "priority", False),
        ("tag_vip_value", {"tag": tags["vip"]}, {"tags": tags["vip"]}, "value", False),
    ]
    cases: dict[str, dict[str, Any]] = {
        "no_query_first": {"url": "/desk/", "headers": {}, "position": None, "first_id": None}
    }
    for name, form, where, sort, deep in specs:
        query = form_query(sort=sort, **form)
        if not deep:
            cases[f"{name}_first"] = {
                "url": f"/desk/?{query}",
                "headers": {},
                "position": None,
                "first_id": None,
            }
            continue
        statuses = form.get("statuses", active)
        total = Ticket.objects.filter(status__in=list(statuses), **where).count()
        position = min(500_000, total // 2)
        after = deep_cursor(sort=sort, statuses=statuses, position=position, **where)
        cases[f"{name}_deep"] = {
            "url": f"/desk/?{query}&{urlencode({'after': after})}",
            "headers": more,
            "position": position,
            "first_id": ticket_at(sort=sort, statuses=statuses, position=position + 1, **where),
        }
    return cases


def main() -> None:
    started = time.perf_counter()
    version = fresh_bench_database()
    from django.conf import settings
    from django.test import Client

    from nextorder.desk.models import Ticket

    rng = np.random.default_rng(20260601)
    value_at_risk = load_customers(rng)
    agent, agents, teams = create_staff()
    by_status = load_tickets(rng, value_at_risk, agents, teams)
    tags = load_tags(rng)
    messages = load_messages(rng)
    analyze()
    load_s = time.perf_counter() - started

    # The test Client without the test environment: no template instrumentation, and a
    # host name the settings allow.
    client = Client(HTTP_HOST="localhost")
    client.force_login(agent)
    cases = build_cases(agent=agent, teams=teams, tags=tags)
    results = {}
    print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)
    for name, case in cases.items():
        results[name] = time_case(client, case["url"], case["headers"])
        print(f"{name}: p95 {results[name]['p95_ms']:.1f} ms", flush=True)
        results[name]["position"] = case["position"]
        if case["first_id"] is not None:
            # A deep page starts with the ticket right after the cursor's.
            results[name]["first_row_is_next_ticket"] = (
                results[name]["first_id"] == case["first_id"]
            )
    plans = {
        name: explain_queue_queries(client, cases[name]["url"], cases[name]["headers"])
        for name in ("priority_first", "priority_deep")
    }
    page = settings.NEXTORDER_QUEUE_PAGE_SIZE
    active_count = sum(by_status[s] for s in ("new", "open", "pending"))
    figures: dict[str, Any] = {
        "database": BENCH_DATABASE,
        "postgresql": version,
        "server_settings": server_settings(),
        "tickets": Ticket.objects.count(),
        "messages": messages,
        "tickets_by_status": by_status,
        "customers": N_CUSTOMERS,
        "staff": len(agents),
        "teams": len(teams),
        "page_size": page,
        "load_s": load_s,
        "warmup_requests": WARMUP,
        "cases": results,
        "plans": plans,
    }
    figures["goals"] = {
        f"{name}_p95_under_50_ms": row["p95_ms"] < GOAL_P95_MS for name, row in results.items()
    }
    figures["goals"].update(
        {
            f"{name}_p95_within_4x_of_its_sql": row["p95_over_sql_p95"] <= GOAL_SQL_RATIO
            for name, row in results.items()
        }
    )
    figures["goals"]["every_page_full"] = all(row["rows"] == page for row in results.values())
    figures["goals"]["deep_pages_start_after_their_cursor"] = all(
        row.get("first_row_is_next_ticket", True) for row in results.values()
    )
    path = write_result(name="bench_queue", figures=figures)

    print(
        f"{figures['tickets']:,} tickets ({active_count:,} active), {N_CUSTOMERS:,} customers; "
        f"loaded in {load_s:.0f} s; {TIMED} timed requests per case after {WARMUP} warm-up"
    )
    print(f"{'case':<26}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'SQL p95':>9}{'ratio':>7}  rows")
    for name, row in results.items():
        where = f" after #{row['position']:,}" if row["position"] else ""
        count = f"; {row['match_count']}" if row["match_count"] else ""
        print(
            f"{name:<26}{row['p50_ms']:>8.1f}{row['p95_ms']:>8.1f}{row['p99_ms']:>8.1f}"
            f"{row['sql_p95_ms']:>9.1f}{row['p95_over_sql_p95']:>7.1f}  {row['rows']}{where}{count}"
        )
    for name, plan in plans.items():
        for query in plan["ticket_queries"]:
            print(
                f"plan {name}: {query['top_line'][:60]}...; {', '.join(query['ticket_indexes'])}; "
                f"{query['execution']}"
            )
    print_goals(goals=figures["goals"], path=path)


if __name__ == "__main__":
    main()
