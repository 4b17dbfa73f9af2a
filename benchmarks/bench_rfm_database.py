"""RFM from the database at scale: bench_clv's 10M transactions in PostgreSQL's orders.

The same Parquet file as bench_clv (1M customers, 18 months) is loaded by COPY into
`crm_customer` and `crm_order` of `nextorder_bench` (set-up, timed apart), then:

* `customer_aggregates_from_database` and `rfm_summary_from_database`, calibration only
  and with bench_clv's hold-out split, median of 3 runs each, with EXPLAIN (ANALYZE,
  BUFFERS) of the aggregate: the issue asks for the figure, with no goal set;
* the database summary against `rfm.rfm_summary_from_file` on the same file: it must be
  the same summary (to 1e-9), or the two ways in have drifted apart;
* `customers_score` end to end on the 1M customers, by phase, and the peak RSS.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path
from typing import Any
from unittest import mock

import polars as pl

from benchmarks.bench_clv import (
    BENCH_DIR,
    CALIBRATION_END,
    LAST_DAY,
    N_TRANSACTIONS,
    TRANSACTIONS,
    write_transactions,
)
from benchmarks.postgres_db import BENCH_DATABASE, fresh_bench_database, server_settings
from benchmarks.results_io import print_goals, write_result

RUNS = 3
COPY_ROWS = 1_000_000
TOLERANCE = 1e-9
LOADED_AT = "2026-01-01 00:00:00+00"  # created_at / updated_at of every loaded row


def _execute(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def _copy(table: str, frame: pl.DataFrame) -> None:
    """COPY a frame's columns (text as the table wants it) in chunks of COPY_ROWS.

    FREEZE: the rows arrive frozen and all-visible, so neither a VACUUM nor the first
    timed read has to set hint bits on 10M rows. It needs the table emptied by TRUNCATE
    in the same transaction, which `load` does.
    """
    from django.db import connection

    columns = ", ".join(frame.columns)
    with connection.cursor() as cursor:
        copy_sql = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, FREEZE)"
        with cursor.cursor.copy(copy_sql) as copy:
            for start in range(0, frame.height, COPY_ROWS):
                copy.write(frame.slice(start, COPY_ROWS).write_csv(include_header=False))


@contextmanager
def _without_secondary_structures(tables: tuple[str, ...]) -> Iterator[None]:
    """Drop the tables' foreign keys and the indexes no constraint owns, put them back
    afterwards from their own definitions.

    A deferred foreign-key check per row and a random-order B-tree insert per row cost
    more than the COPY itself; one validation join and one sorted index build do not.
    Primary keys and unique constraints stay: their keys arrive in ascending order.
    """
    names = list(tables)
    foreign_keys = _execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)
        """,
        [names],
    )
    indexes = _execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index AS i
        WHERE i.indrelid::regclass::text = ANY(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)
        """,
        [names],
    )
    for table, name, _definition in foreign_keys:
        _execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        _execute(f"DROP INDEX {name}")
    yield
    for _name, definition in indexes:
        _execute(definition)
    for table, name, definition in foreign_keys:
        _execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _tables_from_file() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Customers and orders as the tables' columns, as text that COPY reads.

    Orders go in placed_at order (a shop's history grows that way), so a customer's
    orders are spread over the table as in production, not clustered. Each order is
    placed at noon UTC: its day is the file's day in any time zone within 11 hours of UTC.
    """
    transactions = (
        pl.read_parquet(TRANSACTIONS)
        .sort("date", "customer_id")
        .with_row_index("id", offset=1)
        .with_columns(pl.col("amount").cast(pl.Decimal(12, 2)))
    )
    customers = (
        transactions.group_by("customer_id")
        .agg(
            pl.len().alias("order_count"),
            pl.col("amount").sum().alias("total_spend"),
            pl.col("date").min().alias("first"),
            pl.col("date").max().alias("last"),
        )
        .sort("customer_id")
        .with_row_index("id", offset=1)
    )
    noon = pl.lit(" 12:00:00+00")
    orders = transactions.join(
        customers.select(pl.col("id").alias("customer_pk"), "customer_id"),
        on="customer_id",
    ).select(
        "id",
        pl.col("customer_pk").alias("customer_id"),
        pl.format("T{}", pl.col("id").cast(pl.Utf8).str.zfill(8)).alias("external_id"),
        (pl.col("date").dt.strftime("%Y-%m-%d") + noon).alias("placed_at"),
        "amount",
        pl.lit("USD").alias("currency"),
        pl.lit("web").alias("channel"),
        pl.lit(LOADED_AT).alias("created_at"),
        pl.lit(LOADED_AT).alias("updated_at"),
    )
    customers = customers.select(
        "id",
        pl.lit("person").alias("kind"),
        pl.format("Customer {}", pl.col("customer_id")).alias("name"),
        pl.col("customer_id").alias("external_id"),
        pl.lit("").alias("notes"),
        "order_count",
        "total_spend",
        (pl.col("first").dt.strftime("%Y-%m-%d") + noon).alias("first_order_at"),
        (pl.col("last").dt.strftime("%Y-%m-%d") + noon).alias("last_order_at"),
        pl.lit("").alias("value_reason"),
        pl.lit(LOADED_AT).alias("created_at"),
        pl.lit(LOADED_AT).alias("updated_at"),
    )
    return customers, orders.sort("id")


def load() -> dict[str, Any]:
    """The file into crm_customer and crm_order in one transaction, then ANALYZE."""
    from django.db import connection, transaction

    if connection.settings_dict["NAME"] != BENCH_DATABASE:  # TRUNCATE below: never elsewhere
        raise RuntimeError(f"refusing to load into {connection.settings_dict['NAME']}")
    started = time.perf_counter()
    customers, orders = _tables_from_file()
    prepared = time.perf_counter()
    with transaction.atomic():
        # FREEZE needs the tables truncated in this transaction. The database was created
        # this run, so the tables that CASCADE reaches (contacts, tickets...) are empty too.
        _execute("TRUNCATE crm_customer, crm_order CASCADE")
        with _without_secondary_structures(("crm_customer", "crm_order")):
            _copy("crm_customer", customers)
            copied_customers = time.perf_counter()
            _copy("crm_order", orders)
            copied = time.perf_counter()
        for table in ("crm_customer", "crm_order"):
            _execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
    committed = time.perf_counter()
    _execute("ANALYZE crm_customer")
    _execute("ANALYZE crm_order")
    ended = time.perf_counter()
    size = _execute("SELECT pg_total_relation_size('crm_order'), pg_relation_size('crm_order')")
    return {
        "seconds": ended - started,
        "phases_s": {
            "prepare_frames": prepared - started,
            "copy_customers": copied_customers - prepared,
            "copy_orders": copied - copied_customers,
            "indexes_and_foreign_keys_and_commit": committed - copied,
            "analyze": ended - committed,
        },
        "customers": customers.height,
        "orders": orders.height,
        "orders_table_bytes": size[0][1],
        "orders_total_bytes_with_indexes": size[0][0],
    }


def _load_in_child() -> dict[str, Any]:
    """`load` in a process of its own, so that its 2 GB of frames stay out of the peak
    RSS measured for the summaries and the scoring. The environment (DATABASE_URL of the
    bench database) is the parent's."""
    import django

    django.setup()
    figures = load()
    figures["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return figures


def _status_bytes(field: str) -> int | None:
    with suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    return None


def _reset_peak_rss() -> int:
    """Linux: start a new high-water mark, so each stage's peak RSS is its own (what the
    process already holds counts in it). Returns the RSS now."""
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status_bytes("VmRSS") or 0


def _peak_rss_bytes() -> int:
    peak = _status_bytes("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def timed_summaries(
    *, calibration_end: date, holdout_end: date | None
) -> tuple[dict[str, Any], pl.DataFrame, list[tuple[str, Any]]]:
    """RUNS of `rfm_summary_from_database`, each timed whole and in its aggregate call.

    The aggregate is timed inside the summary (the summary calls it through the module)
    rather than run apart: the same figures for half the minutes. Also returns the SQL
    statements the first run sent, for EXPLAIN.
    """
    from django.db import connection

    from nextorder.insight import selectors

    aggregate = selectors.customer_aggregates_from_database
    aggregate_s: list[float] = []
    summary_s: list[float] = []
    statements: list[tuple[str, Any]] = []

    def timed_aggregate(**kwargs: Any) -> pl.DataFrame:
        started = time.perf_counter()
        try:
            return aggregate(**kwargs)
        finally:
            aggregate_s.append(time.perf_counter() - started)

    def capture(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if not summary_s:
            statements.append((sql, params))
        return execute(sql, params, many, context)

    summary = pl.DataFrame()
    with (
        mock.patch.object(selectors, "customer_aggregates_from_database", timed_aggregate),
        connection.execute_wrapper(capture),
    ):
        for _ in range(RUNS):
            started = time.perf_counter()
            summary = selectors.rfm_summary_from_database(
                calibration_end=calibration_end, holdout_end=holdout_end
            )
            summary_s.append(time.perf_counter() - started)
    figures = {
        "aggregates_s": statistics.median(aggregate_s),
        "summary_s": statistics.median(summary_s),
        "aggregates_runs_s": aggregate_s,
        "summary_runs_s": summary_s,
        "customers": summary.height,
    }
    return figures, summary, statements


_PLAN_KEYS = (
    *("Strategy", "Partial Mode", "Relation Name", "Index Name", "Group Key", "Sort Key"),
    *("Workers Launched", "Sort Method", "Sort Space Type", "Sort Space Used", "HashAgg Batches"),
    *("Disk Usage", "Temp Read Blocks", "Temp Written Blocks"),
)


def _plan_nodes(node: dict[str, Any], depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every node of a JSON plan, top first, with what tells sorts, hashes and spills."""
    row = {
        "depth": depth,
        "node": node["Node Type"],
        "actual_rows": node.get("Actual Rows"),
        "loops": node.get("Actual Loops"),
        "total_ms": node.get("Actual Total Time"),
        **{key: node[key] for key in _PLAN_KEYS if key in node},
    }
    workers = [
        {key: worker[key] for key in ("Sort Method", "Sort Space Type", "Sort Space Used")}
        for worker in node.get("Workers", [])
        if "Sort Method" in worker
    ]
    if workers:
        row["workers_sort"] = workers
    yield row
    for child in node.get("Plans", []):
        yield from _plan_nodes(child, depth + 1)


def _spilled(row: dict[str, Any]) -> bool:
    sorts = [row, *row.get("workers_sort", [])]
    return (
        any(sort.get("Sort Space Type") == "Disk" for sort in sorts)
        or row.get("Disk Usage", 0) > 0
        or row.get("Temp Written Blocks", 0) > 0
    )


def _label(row: dict[str, Any]) -> str:
    """A node in a word or three: "Aggregate Finalize (Sorted)", "Sort [Disk]"."""
    mode = row.get("Partial Mode", "Simple")
    disk = (
        any(sort.get("Sort Space Type") == "Disk" for sort in [row, *row.get("workers_sort", [])])
        or row.get("Disk Usage", 0) > 0
    )
    return (
        row["node"]
        + (f" {mode}" if mode != "Simple" else "")
        + (f" ({row['Strategy']})" if "Strategy" in row else "")
        + (" [Disk]" if disk else "")
    )


def explain(statements: list[tuple[str, Any]]) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of the aggregate statement as the function sent it,
    after the session settings it made (SET LOCAL ...) in the same transaction."""
    from django.db import connection, transaction

    query, params = next((sql, p) for sql, p in statements if "GROUP BY" in sql)
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, settings_params in statements:
            if sql.lstrip().upper().startswith("SET "):
                cursor.execute(sql, settings_params)
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {query}", params)
        document = cursor.fetchone()[0]
    top = (json.loads(document) if isinstance(document, str) else document)[0]
    nodes = list(_plan_nodes(top["Plan"]))
    return {
        "execution_ms": top["Execution Time"],
        "planning_ms": top["Planning Time"],
        "jit_ms": top.get("JIT", {}).get("Timing", {}).get("Total"),
        "settings_made": [sql for sql, _ in statements if sql.lstrip().upper().startswith("SET ")],
        "spilled_to_disk": any(_spilled(row) for row in nodes),
        "shape": " <- ".join(_label(row) for row in nodes),
        "nodes": nodes,
    }


def compare(database: pl.DataFrame, file: pl.DataFrame) -> dict[str, Any]:
    """The database summary against the file's, customer by customer (external id)."""
    ours = database.drop("customer_id").rename({"external_id": "customer_id"}).sort("customer_id")
    reference = file.sort("customer_id")
    same_customers = ours.height == reference.height and ours["customer_id"].equals(
        reference["customer_id"]
    )
    columns = [name for name in reference.columns if name != "customer_id"]
    same_columns = sorted(columns) == sorted(name for name in ours.columns if name != "customer_id")
    differences: dict[str, float] = {}
    if same_customers and same_columns:
        for name in columns:
            gap = (ours[name].cast(pl.Float64) - reference[name].cast(pl.Float64)).abs().max()
            differences[name] = float(gap) if isinstance(gap, int | float) else 0.0
    return {
        "customers_database": ours.height,
        "customers_file": reference.height,
        "same_customers": same_customers,
        "same_columns": same_columns,
        "max_abs_difference": differences,
        "equal_within_1e_9": same_customers
        and same_columns
        and all(gap <= TOLERANCE for gap in differences.values()),
    }


def timed_scoring() -> dict[str, Any]:
    """`customers_score` on every customer, its phases told apart by its progress reports
    and by a timer around the tickets refresh.

    Phases: the summary from the database; the fit and the scores (Polars); the fit
    report and the COPY of the scores into staging; the UPDATE of every customer; the
    tickets refresh; the fit record, the event and the commit.
    """
    from nextorder.insight import services

    marks: dict[str, list[float]] = {}
    refresh = services.tickets_refresh_value_at_risk

    def progress(phase: str, done: int, total: int) -> None:
        marks.setdefault(phase, []).append(time.perf_counter())

    def timed_refresh(**kwargs: Any) -> int:
        progress("tickets", 0, 1)
        try:
            return refresh(**kwargs)
        finally:
            progress("tickets", 1, 1)

    started = time.perf_counter()
    with mock.patch.object(services, "tickets_refresh_value_at_risk", timed_refresh):
        run = services.customers_score(as_of=LAST_DAY, progress=progress)
    ended = time.perf_counter()
    scored = _execute(
        "SELECT count(*), count(*) FILTER (WHERE clv_12m IS NULL OR p_alive IS NULL) "
        "FROM crm_customer WHERE scored_at IS NOT NULL"
    )[0]
    report = run.fit.report
    return {
        "seconds": ended - started,
        "phases_s": {
            "summary_from_database": marks["summary"][-1] - started,
            "fit_and_scores": marks["fit"][-1] - marks["fit"][0],
            "report_and_staging_copy": marks["scores"][-1] - marks["fit"][-1],
            "update_customers": marks["tickets"][0] - marks["scores"][-1],
            "tickets_refresh": marks["tickets"][-1] - marks["tickets"][0],
            "fit_record_and_commit": ended - marks["tickets"][-1],
        },
        "customers_in_summary": run.fit.customers,
        "customers_scored": run.customers_scored,
        "customers_with_scored_at": scored[0],
        "scored_without_clv_or_p_alive": scored[1],
        "tickets_refreshed": run.tickets_refreshed,
        "fit_seconds_recorded": run.fit.seconds,
        "converged": report.get("converged"),
        "parameters": {
            name: report.get(name) for name in ("r", "alpha", "a", "b", "p", "q", "gamma")
        },
    }


def main() -> None:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    if not TRANSACTIONS.exists():
        write_transactions(TRANSACTIONS)
    version = fresh_bench_database()
    from django.conf import settings

    from nextorder.insight import rfm

    figures: dict[str, Any] = {
        "database": BENCH_DATABASE,
        "postgresql": version,
        "server_settings": server_settings(),
        "time_zone": settings.TIME_ZONE,
        "transactions": N_TRANSACTIONS,
        "runs_per_timing": RUNS,
        "load_average_1_min_at_start": os.getloadavg()[0],
    }
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        figures["load"] = pool.apply(_load_in_child)
    loaded = _execute(
        "SELECT (SELECT count(*) FROM crm_order), (SELECT count(*) FROM crm_customer)"
    )
    figures["load"]["orders_in_database"], figures["load"]["customers_in_database"] = loaded[0]

    # Stage by stage, each with its own peak RSS (and the RSS it started from): the
    # database summaries with their EXPLAIN, the scoring, and only then the Parquet
    # summaries they are checked against, whose memory would blur the others' peaks.
    rss: dict[str, dict[str, int]] = {}
    stages = (
        ("calibration_only", LAST_DAY, None),
        ("with_holdout", CALIBRATION_END, LAST_DAY),
    )
    summaries: dict[str, Any] = {}
    databases: dict[str, pl.DataFrame] = {}
    for label, calibration_end, holdout_end in stages:
        started_at = _reset_peak_rss()
        timing, databases[label], statements = timed_summaries(
            calibration_end=calibration_end, holdout_end=holdout_end
        )
        rss[f"database_summary_{label}"] = {"start": started_at, "peak": _peak_rss_bytes()}
        timing["explain"] = explain(statements)
        summaries[label] = timing
    started_at = _reset_peak_rss()
    figures["scoring"] = timed_scoring()
    rss["scoring"] = {"start": started_at, "peak": _peak_rss_bytes()}
    for label, calibration_end, holdout_end in stages:
        file = rfm.rfm_summary_from_file(
            path=TRANSACTIONS, calibration_end=calibration_end, holdout_end=holdout_end
        )
        summaries[label]["compared_with_file"] = compare(databases.pop(label), file)
    figures["rfm_from_database"] = summaries
    figures["rss_bytes"] = {
        **rss,
        "peak_of_measured_stages": max(stage["peak"] for stage in rss.values()),
        "peak_of_loading_process": figures["load"]["peak_rss_bytes"],
    }
    scoring = figures["scoring"]
    figures["goals"] = {
        "loaded_every_order_and_customer": loaded[0]
        == (N_TRANSACTIONS, figures["load"]["customers"]),
        **{
            f"database_summary_{label}_equals_file": summaries[label]["compared_with_file"][
                "equal_within_1e_9"
            ]
            for label in summaries
        },
        "scoring_scored_every_customer": scoring["customers_scored"]
        == scoring["customers_with_scored_at"]
        == figures["load"]["customers"]
        and scoring["scored_without_clv_or_p_alive"] == 0,
    }
    path = write_result(name="bench_rfm_database", figures=figures)
    _print(figures, path)


def _print(figures: dict[str, Any], path: Path) -> None:
    load_figures = figures["load"]
    print(
        f"Loaded {load_figures['orders_in_database']:,} orders of "
        f"{load_figures['customers_in_database']:,} customers into {figures['database']} in "
        f"{load_figures['seconds']:.1f} s (set-up): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in load_figures["phases_s"].items())
    )
    for label, row in figures["rfm_from_database"].items():
        check, plan = row["compared_with_file"], row["explain"]
        gap = max(check["max_abs_difference"].values(), default=float("nan"))
        print(
            f"RFM from the database, {label.replace('_', ' ')}: "
            f"aggregates {row['aggregates_s']:.2f} s,"
            f" summary {row['summary_s']:.2f} s ({row['customers']:,} customers; median of"
            f" {figures['runs_per_timing']})"
        )
        print(
            f"  against the Parquet summary: same customers {check['same_customers']}, "
            f"max abs difference {gap:.2e}"
        )
        print(
            f"  EXPLAIN ANALYZE {plan['execution_ms'] / 1000:.2f} s, "
            f"{'spills to disk' if plan['spilled_to_disk'] else 'in memory'}: {plan['shape']}"
        )
    scoring = figures["scoring"]
    print(
        f"customers_score on {scoring['customers_scored']:,} customers: "
        f"{scoring['seconds']:.1f} s: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in scoring["phases_s"].items())
        + f"; converged {scoring['converged']}"
    )
    rss = figures["rss_bytes"]
    print(
        "Peak RSS "
        + ", ".join(
            f"{label} {stage['peak'] / 1024**3:.2f} GiB"
            for label, stage in rss.items()
            if isinstance(stage, dict)
        )
        + f"; the loading process {rss['peak_of_loading_process'] / 1024**3:.2f} GiB"
    )
    print_goals(goals=figures["goals"], path=path)


if __name__ == "__main__":
    main()
