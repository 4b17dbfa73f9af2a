"""Promises made at the sale, read from optional columns of an order file.

crm reads the orders and knows nothing of promises; the import command calls
`orders_import_with_promises`, which imports the orders (crm) and then the promise
columns of the same rows, in one transaction: a bad promise row refuses the whole file,
with its line, as a bad order row does.

Columns (any case): `promise` (what was promised; a row without it has none),
`promise_due` (a date, due by the end of that day, or a date and time, in the import's
time zone unless it carries an offset), `promise_owner` (a staff user's name or email;
else the order's sales rep, else the person importing), `promise_kind` (one of
Commitment.Kind, by value or label; default "other").
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import polars as pl
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from nextorder.core.files import DataFormat
from nextorder.crm.importers import OrderFileError, lines_as_in_editor, read_columns
from nextorder.crm.models import Order
from nextorder.crm.services import ImportResult, orders_import
from nextorder.sales.models import Commitment
from nextorder.sales.services import commitment_build, commitments_create_many

PROMISE_COLUMNS = ("promise", "promise_due", "promise_owner", "promise_kind")
_KINDS = {
    **{value: value for value in Commitment.Kind.values},
    **{str(label).lower(): value for value, label in Commitment.Kind.choices},
}


@dataclass(frozen=True)
class OrdersAndPromises:
    orders: ImportResult
    promises_created: int
    promises_known: int  # already recorded by an earlier import of the same rows

    def summary(self) -> dict[str, Any]:
        return {
            **self.orders.summary(),
            "promises_new": self.promises_created,
            "promises_known": self.promises_known,
        }


def _due(raw: str, zone: zoneinfo.ZoneInfo) -> datetime:
    """A date is due by the end of that day; a time without an offset is in `zone`."""
    text = raw.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime.combine(day, time(23, 59, 59), tzinfo=zone)
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _owners(names: set[str]) -> dict[str, User]:
    """Active staff users by the names or addresses a file gives (a query per distinct
    name: a file names few owners, however many rows)."""
    found = {}
    for name in names:
        user = (
            get_user_model()
            .objects.filter(Q(username=name) | Q(email__iexact=name), is_active=True)
            .order_by("id")
            .first()
        )
        if user is not None:
            found[name] = user
    return found


def _promise_rows(promises: pl.DataFrame, result: ImportResult) -> list[dict[str, Any]]:
    wanted = promises.filter(
        pl.any_horizontal(pl.col(c).is_not_null() for c in promises.columns if c != "line")
    )
    joined = wanted.join(
        result.row_orders.with_columns(pl.col("line").cast(wanted["line"].dtype)),
        on="line",
        how="left",
    )
    return joined.sort("line").to_dicts()


def _commitment_of_row(
    row: dict[str, Any],
    *,
    orders: dict[str, Order],
    owners: dict[str, User],
    zone: zoneinfo.ZoneInfo,
    actor: User | None,
) -> Commitment:
    line = row["line"]
    description = row.get("promise")
    if not description:
        raise OrderFileError("promise columns are filled but the promise says nothing", line=line)
    order = orders.get(row.get("order_external_id") or "")
    if order is None:
        raise OrderFileError("the promise's row belongs to no order", line=line)
    try:
        due_at = _due(row.get("promise_due") or "", zone)
    except ValueError:
        raise OrderFileError(
            f"promise due {row.get('promise_due')!r} is not a date (YYYY-MM-DD) or date and time",
            line=line,
        ) from None
    kind_text = (row.get("promise_kind") or "other").strip().lower()
    if kind_text not in _KINDS:
        raise OrderFileError(
            f"promise kind {row['promise_kind']!r} is not one of "
            + ", ".join(Commitment.Kind.values),
            line=line,
        )
    owner_name = row.get("promise_owner")
    owner = owners.get(owner_name) if owner_name else (order.sales_rep or actor)
    if owner is None:
        raise OrderFileError(
            f"promise owner {owner_name!r} is no active staff user"
            if owner_name
            else "the promise has no owner (fill promise_owner, or the order's sales rep)",
            line=line,
        )
    try:
        return commitment_build(
            customer=order.customer,
            order=order,
            kind=_KINDS[kind_text],
            description=description,
            owner=owner,
            due_at=due_at,
            actor=actor,
        )
    except ValidationError as exc:
        raise OrderFileError(f"promise refused: {' '.join(exc.messages)}", line=line) from exc


@transaction.atomic
def orders_import_with_promises(
    *, path: Path, file_format: DataFormat, actor: User | None = None, **options: Any
) -> OrdersAndPromises:
    """Import the orders of a file (`crm.services.orders_import`, whose options these
    are), then the promises of its rows; all of it or nothing. Idempotent as the order
    import is: a promise already recorded for its order (same kind, text and due time)
    is not made again."""
    result = orders_import(path=path, file_format=file_format, actor=actor, **options)
    with lines_as_in_editor(path=path, file_format=file_format):
        promises = read_columns(path=path, file_format=file_format, names=PROMISE_COLUMNS)
        if promises.width == 1:
            return OrdersAndPromises(orders=result, promises_created=0, promises_known=0)
        for column in PROMISE_COLUMNS:
            if column not in promises.columns:
                promises = promises.with_columns(pl.lit(None, dtype=pl.Utf8).alias(column))
        rows = _promise_rows(promises, result)
        ids = {r["order_external_id"] for r in rows if r.get("order_external_id")}
        orders = {
            o.external_id: o
            for o in Order.objects.filter(external_id__in=ids).select_related(
                "customer", "sales_rep"
            )
            if o.external_id
        }
        owners = _owners({r["promise_owner"] for r in rows if r.get("promise_owner")})
        zone = zoneinfo.ZoneInfo(options.get("time_zone") or settings.TIME_ZONE)
        built = [
            _commitment_of_row(row, orders=orders, owners=owners, zone=zone, actor=actor)
            for row in rows
        ]
    known: set[tuple[int | None, str, str, datetime]] = set(
        Commitment.objects.filter(order__in=orders.values()).values_list(
            "order_id", "kind", "description", "due_at"
        )
    )
    new: list[Commitment] = []
    for commitment in built:
        key = (commitment.order_id, commitment.kind, commitment.description, commitment.due_at)
        if key not in known:
            known.add(key)
            new.append(commitment)
    commitments_create_many(commitments=new, actor=actor, label="" if actor else "system:import")
    return OrdersAndPromises(
        orders=result, promises_created=len(new), promises_known=len(built) - len(new)
    )
