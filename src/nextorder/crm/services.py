"""Writes to the customer record: customers, contacts, orders, and bulk order imports."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from nextorder.core.services import event_record
from nextorder.crm.importers import ColumnMapping, FileFormat, OrderFileError, read_order_file
from nextorder.crm.models import Contact, ContactEmail, Customer, Order, OrderImport

# Progress reports: (phase, done, total); the CLI draws them as a Rich progress bar.
ProgressCallback = Callable[[str, int, int], None]
_BATCH = 50_000


def _no_progress(phase: str, done: int, total: int) -> None:
    """Default when nobody is watching."""


def normalise_email(address: str) -> str:
    return address.strip().lower()


@transaction.atomic
def contact_create(
    *, customer: Customer, name: str = "", emails: Iterable[str] = (), phone: str = ""
) -> Contact:
    addresses = [normalise_email(a) for a in emails]
    taken = list(
        ContactEmail.objects.filter(address__in=addresses).values_list("address", flat=True)
    )
    if taken:
        raise ValueError(f"address already belongs to another contact: {', '.join(taken)}")
    contact = Contact.objects.create(customer=customer, name=name, phone=phone)
    ContactEmail.objects.bulk_create(
        ContactEmail(contact=contact, address=a, is_primary=i == 0) for i, a in enumerate(addresses)
    )
    return contact


def customers_refresh_order_stats(*, customer_ids_sql: str, params: Sequence[int] = ()) -> int:
    """Recompute order count, spend and first/last order for the customers the SQL selects.

    One UPDATE ... FROM (aggregate) on both SQLite and PostgreSQL, so an import of a
    million orders refreshes its customers in one statement.
    """
    sql = f"""
        UPDATE crm_customer SET
            order_count = stats.order_count,
            total_spend = stats.total_spend,
            first_order_at = stats.first_order_at,
            last_order_at = stats.last_order_at
        FROM (
            SELECT customer_id, COUNT(*) AS order_count, SUM(amount) AS total_spend,
                   MIN(placed_at) AS first_order_at, MAX(placed_at) AS last_order_at
            FROM crm_order
            WHERE customer_id IN ({customer_ids_sql})
            GROUP BY customer_id
        ) AS stats
        WHERE crm_customer.id = stats.customer_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.rowcount


@transaction.atomic
def order_create(
    *,
    customer: Customer,
    placed_at: datetime,
    amount: Decimal,
    currency: str = "USD",
    channel: str = Order.Channel.WEB,
    external_id: str | None = None,
    contact: Contact | None = None,
    sales_rep: User | None = None,
    item_count: int | None = None,
) -> Order:
    order = Order(
        customer=customer,
        contact=contact,
        placed_at=placed_at,
        amount=amount,
        currency=currency,
        channel=channel,
        external_id=external_id,
        sales_rep=sales_rep,
        item_count=item_count,
    )
    order.full_clean()
    order.save()
    customers_refresh_order_stats(customer_ids_sql="%s", params=[customer.pk])
    customer.refresh_from_db()
    return order


@dataclass(frozen=True)
class ImportResult:
    rows: int
    orders_created: int
    orders_existing: int
    customers_created: int
    contacts_created: int
    import_record: OrderImport


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _customer_ids(external_ids: list[str]) -> dict[str, int]:
    rows = Customer.objects.filter(external_id__in=external_ids).values_list("external_id", "id")
    return {external_id: pk for external_id, pk in rows if external_id is not None}


def _resolve_customers(frame: pl.DataFrame, progress: ProgressCallback) -> tuple[pl.DataFrame, int]:
    """Create the customers the file names that we do not know yet; map ids to keys."""
    wanted = frame.group_by("customer_external_id", maintain_order=True).agg(
        pl.col("customer_name").drop_nulls().first()
    )
    external_ids = wanted["customer_external_id"].to_list()
    known: dict[str, int] = {}
    for start in range(0, len(external_ids), 5_000):
        chunk = external_ids[start : start + 5_000]
        known.update(_customer_ids(chunk))
        progress("customers", min(start + 5_000, len(external_ids)), len(external_ids))
    new = wanted.filter(~pl.col("customer_external_id").is_in(list(known)))
    created = Customer.objects.bulk_create(
        (
            Customer(external_id=external_id, name=name or f"Customer {external_id}")
            for external_id, name in new.iter_rows()
        ),
        batch_size=5_000,
    )
    if connection.features.can_return_rows_from_bulk_insert:
        known.update((c.external_id, c.pk) for c in created if c.external_id is not None)
    else:
        new_ids = new["customer_external_id"].to_list()
        for start in range(0, len(new_ids), 5_000):
            chunk = new_ids[start : start + 5_000]
            known.update(_customer_ids(chunk))
    ids = pl.DataFrame(
        {"customer_external_id": list(known), "customer_id": list(known.values())},
        schema={"customer_external_id": pl.Utf8, "customer_id": pl.Int64},
    )
    return frame.join(ids, on="customer_external_id", how="left"), len(created)


def _resolve_contacts(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Give every new email address a contact of the row's customer.

    An address that already belongs to another customer's contact is a bad row: mail
    from it would otherwise be matched to the wrong customer.
    """
    addressed = frame.filter(pl.col("email").is_not_null())
    if addressed.height == 0:
        return frame.with_columns(pl.lit(None, dtype=pl.Int64).alias("contact_id")), 0
    firsts = addressed.group_by("email", maintain_order=True).agg(
        pl.col("line").first(),
        pl.col("customer_id").first(),
        pl.col("contact_name").drop_nulls().first(),
    )
    conflicting = addressed.join(firsts.select("email", "customer_id"), on="email").filter(
        pl.col("customer_id") != pl.col("customer_id_right")
    )
    if conflicting.height:
        row = conflicting.row(0, named=True)
        raise OrderFileError(
            f"email {row['email']} is used for two customers in the file", line=row["line"]
        )
    existing: dict[str, tuple[int, int]] = {}
    emails = firsts["email"].to_list()
    for start in range(0, len(emails), 5_000):
        existing.update(
            (address, (contact_id, customer_id))
            for address, contact_id, customer_id in ContactEmail.objects.filter(
                address__in=emails[start : start + 5_000]
            ).values_list("address", "contact_id", "contact__customer_id")
        )
    contact_ids: dict[str, int] = {}
    created = 0
    for email, line, customer_id, contact_name in firsts.iter_rows():
        if email in existing:
            contact_id, owner_id = existing[email]
            if owner_id != customer_id:
                raise OrderFileError(
                    f"email {email} already belongs to a contact of another customer (#{owner_id})",
                    line=line,
                )
            contact_ids[email] = contact_id
            continue
        contact = Contact.objects.create(customer_id=customer_id, name=contact_name or "")
        ContactEmail.objects.create(contact=contact, address=email, is_primary=True)
        contact_ids[email] = contact.pk
        created += 1
    mapping = pl.DataFrame(
        {"email": list(contact_ids), "contact_id": list(contact_ids.values())},
        schema={"email": pl.Utf8, "contact_id": pl.Int64},
    )
    return frame.join(mapping, on="email", how="left"), created


def _resolve_sales_reps(frame: pl.DataFrame) -> pl.DataFrame:
    names = frame["sales_rep"].drop_nulls().unique().to_list()
    users = dict(get_user_model().objects.filter(username__in=names).values_list("username", "id"))
    if unknown := sorted(set(names) - set(users)):
        line = frame.filter(pl.col("sales_rep") == unknown[0])["line"][0]
        raise OrderFileError(f"sales rep {unknown[0]!r} is not a user", line=line)
    mapping = pl.DataFrame(
        {"sales_rep": list(users), "sales_rep_id": list(users.values())},
        schema={"sales_rep": pl.Utf8, "sales_rep_id": pl.Int64},
    )
    return frame.join(mapping, on="sales_rep", how="left")


_STAGING_COLUMNS = (
    "external_id",
    "customer_id",
    "contact_id",
    "placed_at",
    "amount",
    "currency",
    "channel",
    "item_count",
    "sales_rep_id",
)


def _load_staging(frame: pl.DataFrame, progress: ProgressCallback) -> None:
    """Put the file's orders into a temporary table; COPY on PostgreSQL."""
    staged = frame.select(
        pl.col("order_external_id").alias("external_id"),
        "customer_id",
        "contact_id",
        # Django's own text form of a datetime on SQLite; files carry no sub-second times.
        pl.col("placed_at").dt.strftime("%Y-%m-%d %H:%M:%S"),
        "amount",
        "currency",
        "channel",
        "item_count",
        "sales_rep_id",
    )
    total = staged.height
    with connection.cursor() as cursor:
        # Dropped by orders_import when done; dropped here too in case an earlier import
        # in the same session failed half-way.
        cursor.execute("DROP TABLE IF EXISTS nextorder_order_staging")
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE TEMPORARY TABLE nextorder_order_staging ("
                "external_id varchar(100), customer_id bigint, contact_id bigint, "
                "placed_at timestamp, amount numeric(12, 2), currency varchar(3), "
                "channel varchar(20), item_count integer, sales_rep_id integer)"
            )
            copy_sql = (
                f"COPY nextorder_order_staging ({', '.join(_STAGING_COLUMNS)}) "
                "FROM STDIN WITH (FORMAT csv)"
            )
            with cursor.cursor.copy(copy_sql) as copy:
                for start in range(0, total, _BATCH):
                    chunk = staged.slice(start, _BATCH)
                    copy.write(chunk.write_csv(include_header=False, null_value=""))
                    progress("orders", min(start + _BATCH, total), total)
        else:
            cursor.execute(
                "CREATE TEMPORARY TABLE nextorder_order_staging ("
                "external_id text, customer_id integer, contact_id integer, placed_at text, "
                "amount decimal, currency text, channel text, item_count integer, "
                "sales_rep_id integer)"
            )
            insert = (
                f"INSERT INTO nextorder_order_staging ({', '.join(_STAGING_COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(_STAGING_COLUMNS))})"
            )
            for start in range(0, total, _BATCH):
                chunk = staged.slice(start, _BATCH)
                cursor.executemany(insert, chunk.rows())
                progress("orders", min(start + _BATCH, total), total)


@transaction.atomic
def orders_import(
    *,
    path: Path,
    file_format: FileFormat,
    mapping: ColumnMapping | None = None,
    default_currency: str = "USD",
    shift_days: int = 0,
    actor: User | None = None,
    progress: ProgressCallback = _no_progress,
) -> ImportResult:
    """Import a file of orders, all of it or nothing.

    Idempotent by order id: an order whose id is already known is left as it is, so
    running the same file twice changes nothing. `shift_days` moves every date (the demo
    uses it to bring a historic data set up to today, keeping the intervals).
    """
    progress("reading", 0, 1)
    frame = read_order_file(
        path=path,
        file_format=file_format,
        mapping=mapping,
        default_currency=default_currency,
        time_zone=settings.TIME_ZONE,
    )
    if shift_days:
        frame = frame.with_columns(pl.col("placed_at") + timedelta(days=shift_days))
    progress("reading", 1, 1)
    frame, customers_created = _resolve_customers(frame, progress)
    frame, contacts_created = _resolve_contacts(frame)
    frame = _resolve_sales_reps(frame)
    _load_staging(frame, progress)

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO crm_order (created_at, updated_at, {", ".join(_STAGING_COLUMNS)})
            SELECT %s, %s, external_id, customer_id, contact_id, placed_at, amount, currency,
                   channel, item_count, sales_rep_id
            FROM nextorder_order_staging WHERE true
            ON CONFLICT (external_id) DO NOTHING
            """,
            [now, now],
        )
        orders_created = cursor.rowcount
    progress("statistics", 0, 1)
    customers_refresh_order_stats(
        customer_ids_sql="SELECT DISTINCT customer_id FROM nextorder_order_staging"
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE nextorder_order_staging")
    progress("statistics", 1, 1)

    record = OrderImport.objects.create(
        file_name=path.name,
        file_sha256=_file_sha256(path),
        file_format=file_format,
        rows=frame.height,
        orders_created=orders_created,
        customers_created=customers_created,
        contacts_created=contacts_created,
        imported_by=actor if actor is not None and actor.is_authenticated else None,
    )
    event_record(
        verb="orders.imported",
        subject=record,
        actor=actor,
        actor_label="" if actor else "system:import",
        after={
            "file": path.name,
            "rows": frame.height,
            "orders_created": orders_created,
            "customers_created": customers_created,
        },
    )
    return ImportResult(
        rows=frame.height,
        orders_created=orders_created,
        orders_existing=frame.height - orders_created,
        customers_created=customers_created,
        contacts_created=contacts_created,
        import_record=record,
    )
