"""Upsell suggestions at scale: products bought together, over a large order history.

Data (PostgreSQL, fixed seed, generated in SQL): 500 products with skewed popularity
(the k-th most popular bought ~1/k as often), 100,000 customers, 500,000 orders of one
to four lines (about 1.25M order lines). Then:

* `product_affinities_refresh`: the co-occurrence table rebuilt from every order line
  in one statement (as the nightly task does);
* `upsell_suggestions` for 300 random customers (after 30 warm-up calls): p50/p95 of a
  page's read of the table;
* the reference, in the same process: the same suggestions computed from the order
  lines at request time (the self-join restricted to the customer's products), for 3
  of those customers, to show what the table saves.

Goals (2-core machine): suggestions p95 under 20 ms; the rebuild under 60 s.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

from benchmarks.postgres_db import BENCH_DATABASE, fresh_bench_database, server_settings
from benchmarks.results_io import print_goals, write_result

N_PRODUCTS = 500
N_CUSTOMERS = 100_000
N_ORDERS = 500_000
WARMUP, TIMED, REFERENCE = 30, 300, 3
GOAL_P95_MS, GOAL_REFRESH_S = 20.0, 60.0

# What a page would do without the table: the same co-occurrence, from the lines.
ON_THE_FLY = """
    WITH owned AS (
        SELECT DISTINCT l.product_id FROM crm_orderline l JOIN crm_order o ON o.id = l.order_id
        WHERE o.customer_id = %s AND l.product_id IS NOT NULL
    )
    SELECT b.product_id, COUNT(DISTINCT a.order_id) AS n
    FROM crm_orderline a JOIN crm_orderline b
      ON b.order_id = a.order_id AND b.product_id <> a.product_id
    WHERE a.product_id IN (SELECT product_id FROM owned)
      AND b.product_id NOT IN (SELECT product_id FROM owned)
    GROUP BY b.product_id HAVING COUNT(DISTINCT a.order_id) >= 2
    ORDER BY n DESC, b.product_id LIMIT 3
"""


def _execute(sql: str, params: list[Any] | None = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def load() -> int:
    """Products, customers, orders and lines in four INSERT … SELECT; returns the lines."""
    from django.db import connection

    _execute("SELECT setseed(0.20261201)")
    _execute(
        """
        INSERT INTO crm_product (sku, name, price, currency, created_at, updated_at)
        SELECT 'SKU-' || i, 'Product ' || i, 10 + i %% 90, 'USD', now(), now()
        FROM generate_series(1, %s) i
        """,
        [N_PRODUCTS],
    )
    _execute(
        """
        INSERT INTO crm_customer (kind, name, notes, order_count, total_spend, value_reason,
                                  created_at, updated_at)
        SELECT 'person', 'Customer ' || i, '', 0, 0, '', now(), now()
        FROM generate_series(1, %s) i
        """,
        [N_CUSTOMERS],
    )
    _execute(
        """
        INSERT INTO crm_order (customer_id, external_id, placed_at, amount, currency, status,
                               refunded_amount, channel, created_at, updated_at)
        SELECT c.first + (random() * (%s - 1))::int, 'B-' || i,
               now() - random() * interval '700 days', 50, 'USD', 'paid', 0, 'web', now(), now()
        FROM generate_series(1, %s) i, (SELECT min(id) AS first FROM crm_customer) c
        """,
        [N_CUSTOMERS, N_ORDERS],
    )
    # One to four lines an order; the product by a Zipf-like draw: floor(N^u) is the
    # k-th product with probability ~1/k.
    _execute(
        """
        INSERT INTO crm_orderline (order_id, product_id, description, quantity, unit_price, amount)
        SELECT o.id, p.first + least(floor(power(%s, random()))::int, %s) - 1, '', 1, 10, 10
        FROM crm_order o
        CROSS JOIN LATERAL generate_series(1, 1 + (random() * 3)::int + (o.id * 0)) line
        CROSS JOIN (SELECT min(id) AS first FROM crm_product) p
        """,
        [N_PRODUCTS, N_PRODUCTS],
    )
    _execute("ANALYZE")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM crm_orderline")
        return int(cursor.fetchone()[0])


def main() -> None:
    version = fresh_bench_database()
    from django.db import connection

    from nextorder.crm.models import Customer
    from nextorder.sales.selectors import upsell_suggestions
    from nextorder.sales.services import product_affinities_refresh

    started = time.perf_counter()
    lines = load()
    load_s = time.perf_counter() - started
    print(f"loaded {lines:,} order lines in {load_s:.1f} s")

    started = time.perf_counter()
    pairs = product_affinities_refresh()
    refresh_s = time.perf_counter() - started
    _execute("ANALYZE sales_productaffinity")
    print(f"rebuilt {pairs:,} product pairs in {refresh_s:.1f} s")

    rng = random.Random(20261201)
    first = Customer.objects.order_by("id").values_list("id", flat=True).first()
    assert first is not None
    ids = [first + rng.randrange(N_CUSTOMERS) for _ in range(WARMUP + TIMED)]
    customers = list(Customer.objects.filter(pk__in=ids).order_by("id"))
    rng.shuffle(customers)
    timings, suggested = [], 0
    for index, customer in enumerate(customers):
        started = time.perf_counter()
        found = upsell_suggestions(customer=customer)
        elapsed = (time.perf_counter() - started) * 1000
        if index >= WARMUP:
            timings.append(elapsed)
            suggested += bool(found)
    reference = []
    with connection.cursor() as cursor:
        for customer in customers[WARMUP : WARMUP + REFERENCE]:
            started = time.perf_counter()
            cursor.execute(ON_THE_FLY, [customer.pk])
            cursor.fetchall()
            reference.append((time.perf_counter() - started) * 1000)

    p50, p95 = statistics.median(timings), statistics.quantiles(timings, n=20)[18]
    reference_p50 = statistics.median(reference)
    figures = {
        "postgres": version,
        "database": BENCH_DATABASE,
        "server_settings": server_settings(),
        "products": N_PRODUCTS,
        "customers": N_CUSTOMERS,
        "orders": N_ORDERS,
        "order_lines": lines,
        "load_s": round(load_s, 2),
        "refresh_s": round(refresh_s, 2),
        "product_pairs": pairs,
        "suggestions_timed": len(timings),
        "customers_with_suggestions": suggested,
        "suggestions_p50_ms": round(p50, 2),
        "suggestions_p95_ms": round(p95, 2),
        "on_the_fly_p50_ms": round(reference_p50, 2),
        "table_speedup_p50": round(reference_p50 / p50, 1),
    }
    path = write_result(name="bench_upsell", figures=figures)
    print(
        f"suggestions p50 {p50:.2f} ms, p95 {p95:.2f} ms; from the lines at request time "
        f"p50 {reference_p50:.1f} ms ({reference_p50 / p50:.0f}x)"
    )
    print_goals(
        goals={
            f"suggestions p95 under {GOAL_P95_MS:.0f} ms": p95 < GOAL_P95_MS,
            f"rebuild under {GOAL_REFRESH_S:.0f} s": refresh_s < GOAL_REFRESH_S,
        },
        path=path,
    )


if __name__ == "__main__":
    main()
