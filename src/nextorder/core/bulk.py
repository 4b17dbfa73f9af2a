"""Bulk writes through a temporary staging table: COPY on PostgreSQL, batched inserts on
SQLite, so that one `INSERT … SELECT` or `UPDATE … FROM` then applies a million rows.

An import of orders and a scoring run of customers both write this way; neither sends
one statement per row.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from django.db import connection
from django.db.models.expressions import RawSQL

BATCH_ROWS = 50_000

# Called with (rows written, rows in all) after each batch.
RowProgress = Callable[[int, int], None]
# Long runs report (phase, done, total); the CLI draws each phase as a Rich progress bar.
PhaseProgress = Callable[[str, int, int], None]


def _no_progress(done: int, total: int) -> None:
    """Default when nobody is watching."""


def no_phase_progress(phase: str, done: int, total: int) -> None:
    """Default when nobody is watching."""


@dataclass(frozen=True)
class StagingColumn:
    name: str
    postgres_type: str
    sqlite_type: str


def staging_table_load(
    *,
    table: str,
    columns: Sequence[StagingColumn],
    frame: pl.DataFrame,
    progress: RowProgress = _no_progress,
) -> None:
    """Create the temporary `table` afresh and fill it with `frame`'s columns, in order.

    Dropped first in case an earlier run in the same session failed half-way; callers
    drop it when done (`staging_table_drop`). Datetimes must arrive as text in the
    database's own format; nulls as nulls.
    """
    names = [column.name for column in columns]
    staged = frame.select(names)
    total = staged.height
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        postgres = connection.vendor == "postgresql"
        definition = ", ".join(
            f"{c.name} {c.postgres_type if postgres else c.sqlite_type}" for c in columns
        )
        cursor.execute(f"CREATE TEMPORARY TABLE {table} ({definition})")
        if postgres:
            copy_sql = f"COPY {table} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)"
            with cursor.cursor.copy(copy_sql) as copy:
                for start in range(0, total, BATCH_ROWS):
                    chunk = staged.slice(start, BATCH_ROWS)
                    copy.write(chunk.write_csv(include_header=False, null_value=""))
                    progress(min(start + BATCH_ROWS, total), total)
        else:
            insert = (
                f"INSERT INTO {table} ({', '.join(names)}) "
                f"VALUES ({', '.join(['%s'] * len(names))})"
            )
            for start in range(0, total, BATCH_ROWS):
                cursor.executemany(insert, staged.slice(start, BATCH_ROWS).rows())
                progress(min(start + BATCH_ROWS, total), total)
    if total == 0:
        progress(0, 0)


def staging_table_drop(*, table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def rows_update(rows: Sequence[Any], *, fields: Sequence[str]) -> None:
    """Write these fields of many rows of one model: one UPDATE sent for all (executemany).

    Django's bulk_update builds a CASE expression per field and row, which cost more
    than the rest of a mailbox batch together.
    """
    if not rows:
        return
    meta = type(rows[0])._meta
    columns = [field for field in meta.concrete_fields if field.name in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column.column)} = %s" for column in columns)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s",
            [
                [c.get_db_prep_save(getattr(r, c.attname), connection) for c in columns] + [r.pk]
                for r in rows
            ],
        )


def ids_subquery(ids: Sequence[int]) -> RawSQL:
    """`SELECT` of these ids as one parameter, for `pk__in`: thousands of `IN (%s, …)`
    placeholders cost the driver more to split than the query costs to run (22 ms for
    5,000 ids, measured on the queue page). An array on PostgreSQL, JSON on SQLite."""
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::bigint[])", [list(ids)])
    return RawSQL("SELECT value FROM json_each(%s)", [json.dumps(list(ids))])
