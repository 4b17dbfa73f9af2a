"""Order import at scale: 1,000,000 CSV rows, then a Shopify export of 1,000,000 line
items, into PostgreSQL through `orders_import`.

The same code path as `nextorder import orders FILE`. Its progress reports give the
phases: reading (Polars reading and validation), customers, contacts, orders (COPY into
staging and the INSERT), statistics (customer figures), commit (the import record and
the commit, with PostgreSQL's deferred foreign-key checks of every new row).

The file is a realistic shop export (200,000 customers with skewed order counts, one
email per customer on most rows, names with commas and apostrophes, 3 years of datetimes),
generated once with a fixed seed under var/bench/ and reused. The database
`nextorder_bench` is dropped and recreated each run, so the first import starts empty.
Goal (2-core machine): at least 50,000 rows/s, fresh and re-import; the database must
then match the file and the re-import change nothing.

The Shopify export (Shopify's "Export orders" layout, every column of it; about 400,000
orders of 1 to 5 line items from 150,000 buyers keyed by email, guests without one, emails
in mixed case, statuses and refunds, offsets on both sides of summer time, notes spanning
lines) is imported in the same run into a fresh database. Goal: its line items import
at no less than half the generic file's rows per second, and the database holds the
file's orders, lines and net sales per currency.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.postgres_db import BENCH_DATABASE, fresh_bench_database, server_settings
from benchmarks.results_io import print_goals, write_result

BENCH_DIR = Path(__file__).resolve().parents[1] / "var/bench"
ORDERS_CSV = BENCH_DIR / "orders_1m.csv"
N_ORDERS = 1_000_000
N_CUSTOMERS = 200_000
FIRST_DAY = datetime(2023, 1, 1)
SECONDS = 3 * 365 * 86_400
GOAL_ROWS_PER_S = 50_000
SHOPIFY_CSV = BENCH_DIR / "shopify_orders_1m_lines.csv"
N_LINES = 1_000_000
N_BUYERS = 150_000
# The generic file sells in three currencies; the shop (NEXTORDER_CURRENCY, USD) gives
# the others' rates, so that every order adds to its customer's spend.
RATES = {"EUR": "1.08", "GBP": "1.27"}

_FIRST = (
    *("Ada", "Ben", "Chloe", "Dev", "Emma", "Femi", "Grace", "Hugo", "Ines", "Jon", "Kim"),
    *("Leila", "Marta", "Noah", "Olga", "Pavel", "Quinn", "Rosa", "Sam", "Tariq", "Uma"),
    *("Victor", "Wen", "Yara", "Zoe"),
)
_LAST = (
    *("Adams", "Bauer", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hughes", "Ivanova"),
    *("Jones", "Khan", "Larsen", "Müller", "Novak", "O'Brien", "Patel", "Quispe", "Rossi"),
    *("Smith", "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Young", "Zhou"),
)


def write_orders_csv(path: Path) -> None:
    """A shop export: every customer orders at least once, a few order very often."""
    rng = np.random.default_rng(20260601)
    # Skewed repeat buying: gamma-distributed rates, 1 guaranteed order per customer.
    weights = rng.gamma(0.6, 1.0, N_CUSTOMERS)
    extra = rng.choice(N_CUSTOMERS, N_ORDERS - N_CUSTOMERS, p=weights / weights.sum())
    customer = np.concatenate([np.arange(N_CUSTOMERS), extra])
    seconds = np.sort(rng.integers(0, SECONDS, N_ORDERS))
    customer = rng.permutation(customer)
    cents = np.maximum(np.round(rng.gamma(2.0, 2_400.0, N_ORDERS)), 99).astype(np.int64)
    first = rng.integers(0, len(_FIRST), N_CUSTOMERS)
    last = rng.integers(0, len(_LAST), N_CUSTOMERS)
    companies = rng.random(N_CUSTOMERS) < 0.08
    has_email = rng.random(N_CUSTOMERS) < 0.93

    people = pl.DataFrame(
        {
            "customer": np.arange(N_CUSTOMERS),
            "first": np.array(_FIRST)[first],
            "last": np.array(_LAST)[last],
            "company": companies,
            "has_email": has_email,
            "domain": np.array(["example.com", "mail.example.org", "shop-buyers.net"])[
                rng.integers(0, 3, N_CUSTOMERS)
            ],
        }
    ).select(
        "customer",
        pl.when("company")
        .then(pl.format("{} & {}, Ltd", pl.col("last"), pl.col("first")))
        .otherwise(pl.format("{} {}", pl.col("first"), pl.col("last")))
        .alias("customer_name"),
        pl.when("has_email")
        .then(
            pl.format(
                "{}.{}{}@{}",
                pl.col("first"),
                pl.col("last").str.replace("'", "").str.replace("ü", "ue"),
                pl.col("customer"),
                pl.col("domain"),
            ).str.to_lowercase()
        )
        .alias("email"),
    )
    orders = (
        pl.DataFrame(
            {
                "n": np.arange(N_ORDERS),
                "customer": customer,
                "seconds": seconds,
                "cents": cents,
                "row_has_email": rng.random(N_ORDERS) < 0.9,
                "shout": rng.random(N_ORDERS) < 0.05,
                "currency": rng.choice(["USD", "EUR", "GBP"], N_ORDERS, p=[0.8, 0.15, 0.05]),
                "channel": rng.choice(
                    ["web", "marketplace", "store", "phone", "sales_rep", "other"],
                    N_ORDERS,
                    p=[0.6, 0.15, 0.12, 0.08, 0.03, 0.02],
                ),
            }
        )
        .join(people, on="customer")
        .sort("n")
    )
    orders.select(
        pl.format("SO-{}", pl.col("n").add(1_000_001)).alias("order_id"),
        pl.format("C{}", pl.col("customer").add(100_000)).alias("customer_id"),
        "customer_name",
        pl.when("row_has_email")
        .then(pl.when("shout").then(pl.col("email").str.to_uppercase()).otherwise("email"))
        .alias("email"),
        (pl.lit(FIRST_DAY) + pl.duration(seconds=pl.col("seconds")))
        .dt.strftime("%Y-%m-%d %H:%M:%S")
        .alias("placed_at"),
        pl.format(
            "{}.{}",
            pl.col("cents") // 100,
            (pl.col("cents") % 100).cast(pl.Utf8).str.zfill(2),
        ).alias("amount"),
        "currency",
        "channel",
    ).write_csv(path)


def generated_once(path: Path, write: Callable[[Path], None]) -> float | None:
    """Write a benchmark's file unless an earlier run did; the seconds it took, or None."""
    if path.exists():
        return None
    started = time.perf_counter()
    write(path)
    return time.perf_counter() - started


def write_shopify_csv(path: Path) -> None:
    """Shopify's "Export orders" CSV: one row per line item, the order's columns on its
    first row only (tests/crm/exports.py documents the layout and its sources)."""
    from tests.crm.exports import SHOPIFY_COLUMNS

    rng = np.random.default_rng(20261201)
    # A new order starts on 40% of rows: orders of 2.5 line items on average.
    starts = rng.random(N_LINES) < 0.4
    starts[0] = True
    order = np.cumsum(starts) - 1
    n_orders = int(order[-1]) + 1
    skus = np.array([f"SKU-{i:04d}" for i in range(500)])
    prices = np.round(rng.gamma(2.0, 12.0, 500), 2) + 0.99
    product = rng.integers(0, 500, N_LINES)
    quantity = rng.choice([1, 1, 1, 2, 3], N_LINES)
    lines = pl.DataFrame(
        {
            "order": order,
            "first": starts,
            "sku": skus[product],
            "name": pl.Series([f'Item {i}, "classic"' for i in range(500)])
            .gather(product)
            .to_numpy(),
            "price_cents": np.round(prices[product] * 100).astype(np.int64),
            "quantity": quantity,
        }
    )
    weights = rng.gamma(0.6, 1.0, N_BUYERS)
    buyer = rng.choice(N_BUYERS, n_orders, p=weights / weights.sum())
    seconds = np.sort(rng.integers(0, SECONDS, n_orders))
    status = rng.choice(
        ["paid", "partially_refunded", "refunded", "voided", "pending"],
        n_orders,
        p=[0.84, 0.04, 0.04, 0.04, 0.04],
    )
    orders = pl.DataFrame(
        {
            "order": np.arange(n_orders),
            "buyer": buyer,
            "guest": rng.random(n_orders) < 0.05,
            "shout": rng.random(n_orders) < 0.05,
            "seconds": seconds,
            "status": status,
            "currency": rng.choice(["USD", "EUR", "GBP"], n_orders, p=[0.8, 0.15, 0.05]),
            "shipping_cents": rng.choice([0, 490], n_orders),
            "note": rng.choice(["", "", "", "Ring twice", 'Door "B",\nback yard'], n_orders),
        }
    )
    totals = lines.group_by("order").agg(
        (pl.col("price_cents") * pl.col("quantity")).sum().alias("items_cents")
    )
    money = lambda cents: pl.format(  # noqa: E731
        "{}.{}", cents // 100, (cents % 100).cast(pl.Utf8).str.zfill(2)
    )
    orders = orders.join(totals, on="order").with_columns(
        (pl.col("items_cents") + pl.col("shipping_cents")).alias("total_cents")
    )
    orders = orders.with_columns(
        pl.when(pl.col("status") == "refunded")
        .then(pl.col("total_cents"))
        .when(pl.col("status") == "partially_refunded")
        .then(pl.col("total_cents") // 4)
        .otherwise(0)
        .alias("refunded_cents"),
        (pl.lit(FIRST_DAY) + pl.duration(seconds=pl.col("seconds")))
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone("Europe/Berlin")
        .dt.strftime("%Y-%m-%d %H:%M:%S %z")
        .alias("created_at"),
        pl.when("guest")
        .then(None)
        .otherwise(pl.format("buyer{}@example.com", pl.col("buyer")))
        .alias("email"),
    ).with_columns(
        pl.when("shout").then(pl.col("email").str.to_uppercase()).otherwise("email").alias("email")
    )
    first = pl.col("first")
    rows = lines.join(orders, on="order", maintain_order="left").select(
        pl.format("#{}", pl.col("order") + 100_001).alias("Name"),
        pl.col("email").alias("Email"),
        pl.when(first).then("status").alias("Financial Status"),
        pl.when(first).then("currency").alias("Currency"),
        pl.when(first).then(money(pl.col("items_cents"))).alias("Subtotal"),
        pl.when(first).then(money(pl.col("shipping_cents"))).alias("Shipping"),
        pl.when(first).then(pl.lit("0.00")).alias("Taxes"),
        pl.when(first).then(money(pl.col("total_cents"))).alias("Total"),
        pl.when(first).then("created_at").alias("Created at"),
        pl.when(first).then("created_at").alias("Paid at"),
        pl.col("quantity").cast(pl.Utf8).alias("Lineitem quantity"),
        pl.col("name").alias("Lineitem name"),
        money(pl.col("price_cents")).alias("Lineitem price"),
        pl.col("sku").alias("Lineitem sku"),
        pl.when(first)
        .then(pl.format("Buyer {} Ölund-Smith", pl.col("buyer")))
        .alias("Billing Name"),
        pl.when(first).then("note").alias("Notes"),
        pl.when(first & (pl.col("status") == "voided")).then("created_at").alias("Cancelled at"),
        pl.when(first & (pl.col("refunded_cents") > 0))
        .then(money(pl.col("refunded_cents")))
        .alias("Refunded Amount"),
        pl.when(first).then((pl.col("order") + 5_000_000_000).cast(pl.Utf8)).alias("Id"),
    )
    missing = [c for c in SHOPIFY_COLUMNS if c not in rows.columns]
    rows.with_columns(pl.lit(None, dtype=pl.Utf8).alias(c) for c in missing).select(
        SHOPIFY_COLUMNS
    ).write_csv(path)


def shopify_figures(path: Path) -> dict[str, Any]:
    """What the export says, computed apart from the importer: orders, lines, the net
    sales per currency (paid and partially refunded orders, less refunds)."""
    frame = pl.read_csv(path, infer_schema=False)
    cents = lambda name: pl.col(name).str.replace(".", "", literal=True).cast(pl.Int64)  # noqa: E731
    orders = frame.filter(pl.col("Financial Status").is_not_null())
    net = (
        orders.filter(pl.col("Financial Status").is_in(["paid", "partially_refunded"]))
        .group_by("Currency")
        .agg((cents("Total") - cents("Refunded Amount").fill_null(0)).sum().alias("cents"))
    )
    return {
        "line_items": frame.height,
        "orders": orders.height,
        "net_cents": dict(sorted(net.iter_rows())),
        "size_bytes": path.stat().st_size,
    }


def shopify_check() -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT (SELECT COUNT(*) FROM crm_order), (SELECT COUNT(*) FROM crm_orderline),
                      (SELECT COUNT(*) FROM crm_product), (SELECT COUNT(*) FROM crm_customer)"""
        )
        orders, lines, products, customers = cursor.fetchone()
        cursor.execute(
            """SELECT currency, (SUM(amount - refunded_amount) * 100)::bigint FROM crm_order
               WHERE status = 'paid' GROUP BY currency ORDER BY currency"""
        )
        net = dict(cursor.fetchall())
    return {
        "orders": orders,
        "lines": lines,
        "products": products,
        "customers": customers,
        "net_cents": net,
    }


def shopify_run() -> dict[str, Any]:
    """The Shopify export into a fresh database, fresh and again."""
    from django.db import connection

    generated_s = generated_once(SHOPIFY_CSV, write_shopify_csv)
    expected = shopify_figures(SHOPIFY_CSV)
    # A database of its own, created as the generic run's was: the same starting point.
    connection.close()
    fresh_bench_database()
    fresh_s, fresh_phases, fresh = timed_import(SHOPIFY_CSV)
    after_fresh = shopify_check()
    again_s, again_phases, again = timed_import(SHOPIFY_CSV)
    after_again = shopify_check()
    runs = {}
    for key, seconds, phases, result in (
        ("fresh", fresh_s, fresh_phases, fresh),
        ("reimport", again_s, again_phases, again),
    ):
        runs[key] = {
            "seconds": seconds,
            "rows_per_s": expected["line_items"] / seconds,
            "phases_s": phases,
            "orders_created": result.orders_created,
            "orders_updated": result.orders_updated,
            "lines_created": result.lines_created,
            "customers_created": result.customers_created,
            "not_counted": result.not_counted,
        }
    return {
        "file": {**expected, "name": SHOPIFY_CSV.name, "generated_s": generated_s},
        **runs,
        "check_after_fresh": after_fresh,
        "check_after_reimport": after_again,
        "goals": {
            "shopify_database_matches_file": (
                after_fresh["orders"] == expected["orders"] == fresh.orders_created
                and after_fresh["lines"] == expected["line_items"] == fresh.lines_created
                and after_fresh["net_cents"] == expected["net_cents"]
            ),
            "shopify_reimport_changes_nothing": (
                again.orders_created == again.orders_updated == again.lines_created == 0
                and after_again == after_fresh
            ),
        },
    }


def file_figures(path: Path) -> dict[str, Any]:
    """What the file says, computed apart from the importer, to check the database against."""
    frame = pl.read_csv(path, infer_schema=False)
    cents = pl.col("amount").str.replace(".", "", literal=True).cast(pl.Int64)
    row = frame.select(
        pl.len().alias("rows"),
        pl.col("customer_id").n_unique().alias("customers"),
        pl.col("email").str.to_lowercase().drop_nulls().n_unique().alias("emails"),
        cents.sum().alias("total_cents"),
    ).row(0, named=True)
    return {**row, "size_bytes": path.stat().st_size}


def database_check() -> dict[str, Any]:
    """One SQL pass: order count, spend and every customer's figures against its orders."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH per_customer AS (
                SELECT o.customer_id, COUNT(*) AS n,
                       ROUND(SUM((o.amount - o.refunded_amount)
                                 * CASE WHEN o.currency = 'USD' THEN 1 ELSE r.rate END), 2)
                           AS spend,
                       MIN(o.placed_at) AS first_at, MAX(o.placed_at) AS last_at
                FROM crm_order AS o LEFT JOIN crm_currencyrate AS r ON r.currency = o.currency
                WHERE o.status = 'paid'
                GROUP BY o.customer_id
            )
            SELECT
                (SELECT COUNT(*) FROM crm_order),
                (SELECT COALESCE(SUM(amount), 0) * 100 FROM crm_order)::bigint,
                (SELECT COUNT(*) FROM crm_customer),
                (SELECT COUNT(*) FROM crm_contactemail),
                (SELECT COUNT(*) FROM crm_order WHERE contact_id IS NOT NULL),
                (SELECT COUNT(*) FROM crm_customer c LEFT JOIN per_customer p
                   ON p.customer_id = c.id
                 WHERE c.order_count IS DISTINCT FROM COALESCE(p.n, 0)
                    OR c.total_spend IS DISTINCT FROM COALESCE(p.spend, 0)
                    OR c.first_order_at IS DISTINCT FROM p.first_at
                    OR c.last_order_at IS DISTINCT FROM p.last_at),
                (SELECT md5(string_agg(id || ':' || order_count || ':' || total_spend, ','
                                       ORDER BY id)) FROM crm_customer)
            """
        )
        orders, cents, customers, emails, with_contact, mismatched, digest = cursor.fetchone()
    return {
        "orders": orders,
        "total_cents": cents,
        "customers": customers,
        "contact_emails": emails,
        "orders_with_contact": with_contact,
        "customers_with_wrong_figures": mismatched,
        "customer_figures_md5": digest,
    }


class PhaseClock:
    """Turns the importer's progress reports into seconds per phase.

    A phase runs from its first report to the next phase's first report; what follows the
    last report (the import record, and the commit with its deferred foreign-key checks)
    is "commit".
    """

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.marks: list[tuple[str, float]] = []
        self.last_report = self.started

    def __call__(self, phase: str, done: int, total: int) -> None:
        self.last_report = time.perf_counter()
        if not self.marks or self.marks[-1][0] != phase:
            self.marks.append((phase, self.last_report))

    def phases(self, *, ended: float) -> dict[str, float]:
        seconds: dict[str, float] = {}
        bounds = [*self.marks, ("commit", self.last_report), ("end", ended)]
        for (phase, start), (_next, end) in itertools.pairwise(bounds):
            seconds[phase] = seconds.get(phase, 0.0) + end - start
        return seconds


def timed_import(path: Path) -> tuple[float, dict[str, float], Any]:
    from nextorder.crm.services import orders_import

    clock = PhaseClock()
    result = orders_import(path=path, file_format="csv", progress=clock, time_zone="UTC")
    ended = time.perf_counter()
    return ended - clock.started, clock.phases(ended=ended), result


def main() -> None:
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    generated_s = generated_once(ORDERS_CSV, write_orders_csv)
    expected = file_figures(ORDERS_CSV)
    version = fresh_bench_database()
    from nextorder.crm.models import CurrencyRate

    for currency, rate in RATES.items():
        CurrencyRate.objects.create(currency=currency, rate=rate)
    figures: dict[str, Any] = {
        "database": BENCH_DATABASE,
        "postgresql": version,
        "server_settings": server_settings(),
        "file": {**expected, "name": ORDERS_CSV.name, "generated_s": generated_s},
    }

    fresh_s, fresh_phases, fresh = timed_import(ORDERS_CSV)
    after_fresh = database_check()
    again_s, again_phases, again = timed_import(ORDERS_CSV)
    after_again = database_check()

    figures["fresh"] = {
        "seconds": fresh_s,
        "rows_per_s": fresh.rows / fresh_s,
        "phases_s": fresh_phases,
        "orders_created": fresh.orders_created,
        "customers_created": fresh.customers_created,
        "contacts_created": fresh.contacts_created,
    }
    figures["reimport"] = {
        "seconds": again_s,
        "rows_per_s": again.rows / again_s,
        "phases_s": again_phases,
        "orders_created": again.orders_created,
        "orders_existing": again.orders_existing,
        "customers_created": again.customers_created,
        "contacts_created": again.contacts_created,
    }
    figures["check_after_fresh"] = after_fresh
    figures["check_after_reimport"] = after_again
    correct = (
        after_fresh["orders"] == expected["rows"] == N_ORDERS
        and fresh.orders_created == N_ORDERS
        and after_fresh["total_cents"] == expected["total_cents"]
        and after_fresh["customers"] == expected["customers"] == fresh.customers_created
        and after_fresh["contact_emails"] == expected["emails"] == fresh.contacts_created
        and after_fresh["customers_with_wrong_figures"] == 0
    )
    idempotent = (
        again.orders_created == 0
        and again.customers_created == 0
        and again.contacts_created == 0
        and after_again == after_fresh
    )
    figures["goals"] = {
        "fresh_import_at_least_50k_rows_per_s": fresh.rows / fresh_s >= GOAL_ROWS_PER_S,
        "reimport_at_least_50k_rows_per_s": again.rows / again_s >= GOAL_ROWS_PER_S,
        "database_matches_file": correct,
        "reimport_changes_nothing": idempotent,
    }
    shopify = shopify_run()
    figures["shopify"] = shopify
    figures["goals"] |= shopify.pop("goals")
    figures["goals"]["shopify_at_least_half_the_generic_rows_per_s"] = (
        shopify["fresh"]["rows_per_s"] >= figures["fresh"]["rows_per_s"] / 2
    )
    path = write_result(name="bench_import", figures=figures)

    size_mb = expected["size_bytes"] / 1e6
    print(
        f"{N_ORDERS:,} orders, {expected['customers']:,} customers, {expected['emails']:,} "
        f"emails; {ORDERS_CSV.name} {size_mb:.0f} MB"
        + (f" (generated in {generated_s:.1f} s)" if generated_s is not None else "")
    )
    for label, seconds, phases, result in (
        ("fresh import", fresh_s, fresh_phases, fresh),
        ("re-import", again_s, again_phases, again),
    ):
        print(
            f"{label:>12}: {seconds:6.1f} s, {result.rows / seconds:9,.0f} rows/s, "
            f"{result.orders_created:,} new orders"
        )
        print("              " + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()))
    print(
        f"check: {after_fresh['orders']:,} orders, "
        f"{after_fresh['customers_with_wrong_figures']} customers with wrong figures"
    )
    for label, key in (("shopify", "fresh"), ("shopify again", "reimport")):
        run = shopify[key]
        print(
            f"{label:>13}: {run['seconds']:6.1f} s, {run['rows_per_s']:9,.0f} line items/s, "
            f"{run['orders_created']:,} new orders"
        )
        print("              " + ", ".join(f"{k} {v:.1f} s" for k, v in run["phases_s"].items()))
    print_goals(goals=figures["goals"], path=path)


if __name__ == "__main__":
    main()
