"""Writes to the customer record: customers, contacts, orders, and bulk order imports."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from nextorder.core.bulk import (
    BATCH_ROWS,
    PhaseProgress,
    StagingColumn,
    no_phase_progress,
    staging_table_drop,
    staging_table_load,
)
from nextorder.core.files import DataFormat
from nextorder.core.models import Event, Verb
from nextorder.core.services import event_build, event_record, events_record, staff_actor
from nextorder.crm.importers import (
    ColumnMapping,
    OrderFileError,
    lines_as_in_editor,
    read_order_file,
    read_rates_file,
)
from nextorder.crm.models import (
    Contact,
    ContactEmail,
    CurrencyRate,
    Customer,
    Order,
    OrderImport,
    OrderLine,
    Product,
)
from nextorder.crm.selectors import rates_to_shop_currency


def normalise_email(address: str) -> str:
    return address.strip().lower()


@transaction.atomic
def customer_create(
    *,
    name: str,
    kind: str = Customer.Kind.PERSON,
    external_id: str | None = None,
    notes: str = "",
    actor: User | None = None,
) -> Customer:
    customer = Customer(name=name.strip(), kind=kind, external_id=external_id, notes=notes)
    customer.full_clean()
    customer.save()
    events_record(events=[_customer_created(customer, actor=actor)])
    return customer


def _customer_created(customer: Customer, *, actor: User | None) -> Event:
    return event_build(
        verb=Verb.CUSTOMER_CREATED,
        subject=customer,
        actor=actor,
        actor_label="" if staff_actor(actor) else "system",
        customer_id=customer.pk,
        after={"name": customer.name, "kind": customer.kind, "external_id": customer.external_id},
    )


# The fields of a customer that people edit; the order and value figures are derived.
CUSTOMER_EDITABLE_FIELDS = ("name", "kind", "external_id", "notes")


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    actor: User | None = None,
    occurred_at: datetime | None = None,
    **changes: Any,
) -> Customer:
    """Change the editable fields (CUSTOMER_EDITABLE_FIELDS); one event lists each change.

    `occurred_at` dates a change that belongs to history brought in from elsewhere."""
    unknown = set(changes) - set(CUSTOMER_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    stored = Customer.objects.get(pk=customer.pk)
    before = {k: getattr(stored, k) for k, v in changes.items() if getattr(stored, k) != v}
    if not before:
        return customer
    for name, value in changes.items():
        setattr(customer, name, value)
    customer.full_clean()
    customer.save(update_fields=[*before, "updated_at"])
    event_record(
        verb=Verb.CUSTOMER_UPDATED,
        subject=customer,
        actor=actor,
        actor_label="" if staff_actor(actor) else "system",
        customer_id=customer.pk,
        before=before,
        after={k: changes[k] for k in before},
        occurred_at=occurred_at,
    )
    return customer


@transaction.atomic
def contact_create(
    *, customer: Customer, name: str = "", emails: Iterable[str] = (), phone: str = ""
) -> Contact:
    addresses = [normalise_email(a) for a in emails]
    for address in addresses:
        validate_email(address)
    if len(set(addresses)) != len(addresses):
        raise ValidationError("An address is given twice.")
    taken = list(
        ContactEmail.objects.alias(key=Lower("address"))
        .filter(key__in=addresses)
        .values_list("address", flat=True)
    )
    if taken:
        raise ValueError(f"address already belongs to another contact: {', '.join(taken)}")
    contact = Contact.objects.create(customer=customer, name=name, phone=phone)
    ContactEmail.objects.bulk_create(
        ContactEmail(contact=contact, address=a, is_primary=i == 0) for i, a in enumerate(addresses)
    )
    return contact


@transaction.atomic
def contact_email_add(*, contact: Contact, address: str) -> ContactEmail:
    """Another address of a contact (the first one they have becomes their primary)."""
    address = normalise_email(address)
    validate_email(address)
    if ContactEmail.objects.alias(key=Lower("address")).filter(key=address).exists():
        raise ValidationError(f"{address} already belongs to a contact.")
    return ContactEmail.objects.create(
        contact=contact, address=address, is_primary=not contact.emails.exists()
    )


# Addresses at these domains belong to people, not to the company that owns the domain.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.com",
        "gmx.de",
        "web.de",
        "proton.me",
        "protonmail.com",
        "mail.com",
        "yandex.ru",
        "example.com",
    }
)


def contact_for_email(*, address: str, name: str = "", actor: User | None = None) -> Contact:
    """The contact an address belongs to (see `contacts_for_emails`); ValidationError
    when the address is not one."""
    address = normalise_email(address)
    found = contacts_for_emails(senders={address: name}, actor=actor)
    if address not in found:
        validate_email(address)  # raises: the only addresses left out are invalid ones
    return found[address]


# No savepoint of its own: a clash with a concurrent writer (IntegrityError) fails the
# caller's transaction, which tries again (desk.mail.inbound), and a savepoint would cost
# two more round trips on every message of every channel.
@transaction.atomic(savepoint=False)
def contacts_for_emails(
    *, senders: Mapping[str, str], actor: User | None = None
) -> dict[str, Contact]:
    """The contact each address belongs to, by normalised address; invalid ones are left out.

    An address nobody has (a stranger's first message) becomes a contact of the company
    customer whose people write from the same domain, or else of a new customer of its
    own, named by `senders[address]`. A batch of a mailbox costs a few queries, not a
    few per sender: one lookup, one domain match, one INSERT per table.
    """
    names = {normalise_email(a): n.strip() for a, n in senders.items()}
    # lower(address) is what the unique index holds: matched on it, the lookup is a seek.
    found = {
        known.address.lower(): known.contact
        for known in ContactEmail.objects.alias(key=Lower("address"))
        .filter(key__in=list(names))
        .select_related("contact__customer")
    }
    domains = {a: a.rpartition("@")[2] for a in names if a not in found and _is_email(a)}
    if not domains:
        return found
    companies = _company_customers(set(domains.values()) - PUBLIC_MAIL_DOMAINS)
    new_customers = {
        a: Customer(name=(names[a] or a)[:200], kind=Customer.Kind.PERSON)
        for a, domain in domains.items()
        if domain not in companies
    }
    Customer.objects.bulk_create(new_customers.values())
    events_record(events=[_customer_created(c, actor=actor) for c in new_customers.values()])
    contacts = {
        a: Contact(customer=new_customers.get(a) or companies[domain], name=names[a][:200])
        for a, domain in domains.items()
    }
    Contact.objects.bulk_create(contacts.values())
    ContactEmail.objects.bulk_create(
        ContactEmail(contact=contact, address=a, is_primary=True) for a, contact in contacts.items()
    )
    return found | contacts


def _is_email(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def _company_customers(domains: set[str]) -> dict[str, Customer]:
    """The company customer whose people write from each domain (the first one found)."""
    if not domains:
        return {}
    at_domain = Q()
    for domain in domains:
        at_domain |= Q(address__iendswith=f"@{domain}")
    companies: dict[str, Customer] = {}
    for known in (
        ContactEmail.objects.filter(at_domain, contact__customer__kind=Customer.Kind.COMPANY)
        .select_related("contact__customer")
        .order_by("contact__customer_id")
    ):
        companies.setdefault(known.address.lower().rpartition("@")[2], known.contact.customer)
    return companies


def customers_refresh_order_stats(
    *, customer_ids_sql: str, params: Sequence[int | str] = ()
) -> int:
    """Recompute order count, spend and first/last order for the customers the SQL selects.

    Only sales count (`Order.objects.sales()`: paid orders, less what was refunded); the
    spend is in the shop's currency, from the orders whose currency has a rate.

    One UPDATE ... FROM (aggregate) on both SQLite and PostgreSQL, so an import of a
    million orders refreshes its customers in one statement. Only customers whose figures
    change are written (a re-import, or customers an import created with their figures,
    cost the aggregate but no row writes); a customer left without orders gets zeros.
    Returns how many customers changed.
    """
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    rates = rates_to_shop_currency()
    rate = f"CASE o.currency {' '.join(['WHEN %s THEN %s'] * len(rates))} END"
    figures = ("order_count", "total_spend", "first_order_at", "last_order_at")
    sql = f"""
        UPDATE crm_customer SET
            order_count = stats.order_count,
            total_spend = stats.total_spend,
            first_order_at = stats.first_order_at,
            last_order_at = stats.last_order_at
        FROM (
            SELECT chosen.id AS customer_id, COUNT(o.id) AS order_count,
                   ROUND(COALESCE(SUM((o.amount - o.refunded_amount) * {rate}), 0), 2)
                       AS total_spend,
                   MIN(o.placed_at) AS first_order_at, MAX(o.placed_at) AS last_order_at
            FROM crm_customer AS chosen
            LEFT JOIN crm_order AS o ON o.customer_id = chosen.id AND o.status = %s
            WHERE chosen.id IN ({customer_ids_sql})
            GROUP BY chosen.id
        ) AS stats
        WHERE crm_customer.id = stats.customer_id
          AND ({" OR ".join(f"crm_customer.{f} {differs} stats.{f}" for f in figures)})
    """
    with connection.cursor() as cursor:
        rate_params = [value for pair in rates.items() for value in pair]
        cursor.execute(sql, [*rate_params, Order.Status.PAID, *params])
        return cursor.rowcount


@transaction.atomic
def products_add(*, products: Sequence[Product]) -> list[Product]:
    """New products for the catalogue (a SKU already known is refused): one INSERT."""
    for product in products:
        product.full_clean(validate_unique=False)
    skus = [p.sku for p in products]
    taken = set(Product.objects.filter(sku__in=skus).values_list("sku", flat=True))
    if taken or len(set(skus)) < len(skus):
        repeated = sorted(taken or {s for s in skus if skus.count(s) > 1})
        raise ValidationError(f"SKU already used: {', '.join(repeated[:5])}.")
    return Product.objects.bulk_create(products)


@dataclass(frozen=True)
class OrderLineSpec:
    """A line for `order_lines_add`: a product, or a description of what was sold."""

    quantity: int
    unit_price: Decimal
    product: Product | None = None
    description: str = ""


@transaction.atomic
def order_lines_add(*, lines: Mapping[Order, Sequence[OrderLineSpec]]) -> int:
    """What was bought in orders recorded without their lines (a file of totals, a sale
    pushed before its items): one INSERT for all, an event per order for the audit log
    (not the customer's timeline, where the order itself already stands). Returns the
    lines written."""
    rows: list[OrderLine] = []
    for order, specs in lines.items():
        for spec in specs:
            if spec.quantity < 1 or spec.unit_price < 0:
                raise ValidationError(
                    f"Order {order.reference}: a line needs a quantity of 1 or more and a "
                    "price of 0 or more."
                )
            if spec.product is None and not spec.description.strip():
                raise ValidationError(f"Order {order.reference}: a line names what was sold.")
            rows.append(
                OrderLine(
                    order=order,
                    product=spec.product,
                    description=spec.description.strip()[:200],
                    quantity=spec.quantity,
                    unit_price=spec.unit_price,
                    amount=spec.unit_price * spec.quantity,
                )
            )
    OrderLine.objects.bulk_create(rows)
    events_record(
        events=[
            event_build(
                verb=Verb.ORDER_LINES_ADDED,
                subject=order,
                actor_label="system",
                after={"order": order.reference, "lines": len(specs)},
            )
            for order, specs in lines.items()
            if specs
        ]
    )
    return len(rows)


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
    actor: User | None = None,
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
    event_record(
        verb=Verb.ORDER_CREATED,
        subject=order,
        actor=actor,
        actor_label="" if staff_actor(actor) else "system",
        customer_id=customer.pk,
        after={
            "order": order.external_id,
            "amount": str(order.amount),
            "currency": order.currency,
            "placed_at": order.placed_at.isoformat(),
        },
    )
    return order


def order_create_once(*, external_id: str, customer: Customer, **fields: Any) -> tuple[Order, bool]:
    """`order_create`, idempotent by `external_id`: a shop that pushes each sale may push
    one twice (a retry after a timeout). Returns the order and whether it is new; the
    same id for another customer is a ValidationError, not that customer's order."""
    existing = Order.objects.filter(external_id=external_id).first()
    if existing is None:
        try:
            return order_create(external_id=external_id, customer=customer, **fields), True
        except IntegrityError:  # a concurrent push of the same order won the race
            existing = Order.objects.get(external_id=external_id)
    if existing.customer_id != customer.pk:
        raise ValidationError(
            f"Order {external_id!r} is already recorded for customer #{existing.customer_id}."
        )
    return existing, False


@dataclass(frozen=True)
class ImportResult:
    """What an import read and changed: the summary the command prints (`summary()`).

    `not_counted` counts the new orders kept but not counted as sales, by status;
    `net_sales_added` is per currency what the new orders and the changed ones (say,
    refunded since the last import) added to sales, negative when refunds took away.
    """

    rows: int
    orders_created: int
    orders_existing: int
    orders_updated: int
    lines_created: int
    products_created: int
    customers_created: int
    contacts_created: int
    not_counted: dict[str, int]
    net_sales_added: dict[str, Decimal]
    layout: str
    warnings: tuple[str, ...]
    import_record: OrderImport
    # Which order each record of the file belongs to ("line", "order_external_id"), for
    # apps that read columns of their own beside the orders (sales' promises).
    row_orders: pl.DataFrame

    def summary(self) -> dict[str, Any]:
        """The figures as JSON-ready values (amounts as exact decimal text)."""
        return {
            "layout": self.layout,
            "orders": self.rows,
            "orders_new": self.orders_created,
            "orders_known": self.orders_existing,
            "orders_updated": self.orders_updated,
            "order_lines_new": self.lines_created,
            "products_new": self.products_created,
            "customers_new": self.customers_created,
            "contacts_new": self.contacts_created,
            "not_counted_as_sales": self.not_counted,
            "net_sales_added": {k: str(v) for k, v in self.net_sales_added.items()},
            "warnings": list(self.warnings),
        }


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_KEYS_TABLE = "nextorder_import_keys"


def _rows_matching_keys(keys: list[str], sql: str) -> list[tuple[Any, ...]]:
    """Run `sql`, which joins the table of `keys` ({keys}, column `key`), and return its rows.

    Hundreds of thousands of customer ids or addresses go to the database by COPY and are
    matched in one join: faster than as query parameters, and under every database's
    limit on their number.
    """
    staging_table_load(
        table=_KEYS_TABLE,
        columns=[StagingColumn("key", "text", "text")],
        frame=pl.DataFrame({"key": keys}, schema={"key": pl.Utf8}),
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {_KEYS_TABLE}")
        cursor.execute(sql.format(keys=_KEYS_TABLE))
        rows = cursor.fetchall()
    staging_table_drop(table=_KEYS_TABLE)
    return rows


def _customer_ids(external_ids: list[str]) -> dict[str, int]:
    """The keys of the customers we know among `external_ids`."""
    rows = _rows_matching_keys(
        external_ids,
        "SELECT c.external_id, c.id FROM crm_customer AS c JOIN {keys} AS k "
        "ON k.key = c.external_id",
    )
    return {external_id: int(pk) for external_id, pk in rows}


def _copy_text(value: object) -> str | None:
    """A model default as COPY's CSV reads it (None is NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _copy_rows(model: type[models.Model], rows: pl.DataFrame) -> list[int]:
    """PostgreSQL: COPY the rows straight into the model's table; returns their new keys.

    Keys come from the table's own sequence first, so no row has to be read back; the
    fields `rows` lacks get the model's defaults (now for auto_now fields). Datetime
    columns are naive UTC, like everything the reader produces.
    """
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [meta.db_table, pk.column])
        (sequence,) = cursor.fetchone()
        # The sequence resolved once: looking it up per row costs more than nextval.
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, rows.height]
        )
        ids = [int(row[0]) for row in cursor.fetchall()]
    now = timezone.now()
    columns: list[str] = []
    values: list[pl.Expr] = []
    for model_field in meta.concrete_fields:
        columns.append(model_field.column)
        if model_field is pk:
            values.append(pl.lit(pl.Series(pk.column, ids, dtype=pl.Int64)))
        elif model_field.attname in rows.columns:
            value = pl.col(model_field.attname)
            if rows.schema[model_field.attname] == pl.Datetime:
                value = value.dt.strftime("%Y-%m-%d %H:%M:%S%.f+00:00")
            values.append(value.alias(model_field.column))
        else:
            automatic = getattr(model_field, "auto_now", False) or getattr(
                model_field, "auto_now_add", False
            )
            default = now if automatic else model_field.get_default()
            values.append(pl.lit(_copy_text(default), dtype=pl.Utf8).alias(model_field.column))
    staged = rows.select(values)
    with connection.cursor() as cursor:
        copy_sql = f"COPY {meta.db_table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
        with cursor.cursor.copy(copy_sql) as copy:
            for start in range(0, staged.height, BATCH_ROWS):
                copy.write(
                    staged.slice(start, BATCH_ROWS).write_csv(include_header=False, null_value="")
                )
    return ids


def _create_rows(model: type[models.Model], rows: pl.DataFrame) -> list[int]:
    """Create one row per frame row (columns named by field attname); returns the keys.

    Imports create hundreds of thousands of customers and contacts: PostgreSQL takes
    them by COPY, other databases by bulk_create (one INSERT per row if they cannot
    return the keys of a bulk insert).
    """
    if rows.height == 0:
        return []
    if connection.vendor == "postgresql":
        return _copy_rows(model, rows)
    aware = rows.with_columns(pl.col(pl.Datetime).dt.replace_time_zone("UTC"))
    objects = [model(**row) for row in aware.iter_rows(named=True)]
    if connection.features.can_return_rows_from_bulk_insert:
        model._default_manager.bulk_create(objects)
    else:
        for obj in objects:
            obj.save(force_insert=True)
    return [int(obj.pk) for obj in objects]


def _guest_name(external_id: pl.Expr) -> pl.Expr:
    """A customer's name when the file gives none: the address, or what the key says."""
    return (
        pl.when(external_id.str.starts_with("guest:"))
        .then(pl.format("Guest (order {})", external_id.str.strip_prefix("guest:")))
        .when(external_id.str.contains("@"))
        .then(external_id)
        .otherwise(pl.format("Customer {}", external_id))
    )


def _owners_by_email(frame: pl.DataFrame) -> pl.DataFrame:
    """For orders keyed by email (no customer id in the file), the customer who already
    has a contact with that address: a guest's later order is that customer's."""
    emails = frame.filter(pl.col("keyed_by_email"))["email"].unique().to_list()
    if not emails:
        return frame.with_columns(pl.lit(None, dtype=pl.Int64).alias("email_owner_id"))
    return frame.join(
        _contact_owners(emails).select("email", pl.col("owner_id").alias("email_owner_id")),
        on="email",
        how="left",
        maintain_order="left",
    ).with_columns(
        pl.when(pl.col("keyed_by_email")).then(pl.col("email_owner_id")).alias("email_owner_id")
    )


def _net_in_shop_currency(rates: dict[str, Decimal]) -> pl.Expr:
    """`crm.selectors.net_in_shop_currency` for a frame of orders: null without a rate."""
    rate = pl.col("currency").replace_strict(
        {currency: float(value) for currency, value in rates.items()},
        default=None,
        return_dtype=pl.Float64,
    )
    return pl.col("net_amount").cast(pl.Float64) * rate


def _resolve_customers(frame: pl.DataFrame, progress: PhaseProgress) -> tuple[pl.DataFrame, int]:
    """Create the customers the file names that we do not know yet; map ids to keys.

    New customers are written with their order figures from the file (sales only, net
    of refunds, in the shop's currency), so that the statistics refresh after the orders
    finds them right and rewrites nothing (it still corrects them should some of their
    rows be orders we already had).
    """
    external_ids = frame["customer_external_id"].unique(maintain_order=True).to_list()
    progress("customers", 0, len(external_ids))
    frame = _owners_by_email(frame)
    unowned = frame.filter(pl.col("email_owner_id").is_null())
    known = _customer_ids(unowned["customer_external_id"].unique().to_list())
    sale = pl.col("status") == "paid"
    new = (
        unowned.filter(~pl.col("customer_external_id").is_in(list(known)))
        .with_columns(_net_in_shop_currency(rates_to_shop_currency()).alias("net_converted"))
        .group_by("customer_external_id", maintain_order=True)
        .agg(
            pl.col("customer_name").drop_nulls().first().alias("name"),
            sale.sum().cast(pl.Int64).alias("order_count"),
            pl.col("net_converted").sum().round(2).cast(pl.Decimal(14, 2)).alias("total_spend"),
            # Orders keep whole seconds (see _load_staging); so do their figures.
            pl.col("placed_at").filter(sale).dt.truncate("1s").min().alias("first_order_at"),
            pl.col("placed_at").filter(sale).dt.truncate("1s").max().alias("last_order_at"),
            (sale & (pl.col("currency") != settings.NEXTORDER_CURRENCY)).any().alias("converted"),
        )
        .select(
            pl.col("customer_external_id").alias("external_id"),
            pl.coalesce(
                pl.when(pl.col("name").fill_null("") != "").then(pl.col("name")),
                _guest_name(pl.col("customer_external_id")),
            ).alias("name"),
            "order_count",
            "total_spend",
            "first_order_at",
            "last_order_at",
            "converted",
        )
    )
    created = _create_rows(Customer, new.drop("converted"))
    progress("customers", len(external_ids), len(external_ids))
    ids = pl.DataFrame(
        {
            "customer_external_id": [*known, *new["external_id"]],
            "known_customer_id": [*known.values(), *created],
            # Spend converted from other currencies is left to the database to add up
            # (its rounding of exact decimals is the one that counts): those new
            # customers are refreshed with the customers we knew.
            "new_customer": [False] * len(known) + (~new["converted"]).to_list(),
        },
        schema={
            "customer_external_id": pl.Utf8,
            "known_customer_id": pl.Int64,
            "new_customer": pl.Boolean,
        },
    )
    frame = frame.join(ids, on="customer_external_id", how="left", maintain_order="left")
    return frame.with_columns(
        pl.coalesce("email_owner_id", "known_customer_id").alias("customer_id"),
        pl.col("new_customer").fill_null(False),
    ).drop("email_owner_id", "known_customer_id"), len(created)


def _contact_owners(emails: list[str]) -> pl.DataFrame:
    """The contact and customer each known address belongs to.

    Matched case-insensitively, as the unique constraint is, so that an address typed in
    mixed case in the admin still counts as known.
    """
    rows = _rows_matching_keys(
        emails,
        "SELECT lower(e.address), e.contact_id, c.customer_id "
        "FROM crm_contactemail AS e JOIN crm_contact AS c ON c.id = e.contact_id "
        "JOIN {keys} AS k ON k.key = lower(e.address)",
    )
    return pl.DataFrame(
        rows,
        schema={"email": pl.Utf8, "contact_id": pl.Int64, "owner_id": pl.Int64},
        orient="row",
    )


def _resolve_contacts(frame: pl.DataFrame, progress: PhaseProgress) -> tuple[pl.DataFrame, int]:
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
        row = conflicting.sort("line").row(0, named=True)
        raise OrderFileError(
            f"email {row['email']} is used for two customers in the file", line=row["line"]
        )
    progress("contacts", 0, firsts.height)
    owners = _contact_owners(firsts["email"].to_list())
    matched = firsts.join(owners, on="email", how="left")
    taken = matched.filter(
        pl.col("owner_id").is_not_null() & (pl.col("owner_id") != pl.col("customer_id"))
    )
    if taken.height:
        row = taken.sort("line").row(0, named=True)
        raise OrderFileError(
            f"email {row['email']} already belongs to a contact of another customer "
            f"(#{row['owner_id']})",
            line=row["line"],
        )
    new = matched.filter(pl.col("contact_id").is_null()).sort("line")
    contact_ids = _create_rows(
        Contact,
        new.select("customer_id", pl.col("contact_name").fill_null("").alias("name")),
    )
    _create_rows(
        ContactEmail,
        pl.DataFrame(
            {"contact_id": contact_ids, "address": new["email"], "is_primary": True},
            schema={"contact_id": pl.Int64, "address": pl.Utf8, "is_primary": pl.Boolean},
        ),
    )
    progress("contacts", firsts.height, firsts.height)
    mapping = pl.concat(
        [
            owners.select("email", "contact_id"),
            pl.DataFrame(
                {"email": new["email"], "contact_id": contact_ids},
                schema={"email": pl.Utf8, "contact_id": pl.Int64},
            ),
        ]
    )
    return frame.join(mapping, on="email", how="left"), len(contact_ids)


def _resolve_sales_reps(frame: pl.DataFrame) -> pl.DataFrame:
    names = frame["sales_rep"].drop_nulls().unique().to_list()
    users = dict(get_user_model().objects.filter(username__in=names).values_list("username", "id"))
    if unknown := sorted(set(names) - set(users)):
        line = frame.filter(pl.col("sales_rep") == unknown[0]).select(pl.col("line").min()).item()
        raise OrderFileError(f"sales rep {unknown[0]!r} is not a user", line=line)
    mapping = pl.DataFrame(
        {"sales_rep": list(users), "sales_rep_id": list(users.values())},
        schema={"sales_rep": pl.Utf8, "sales_rep_id": pl.Int64},
    )
    return frame.join(mapping, on="sales_rep", how="left")


_STAGING_TABLE = "nextorder_order_staging"
_STAGING_COLUMNS = (
    StagingColumn("line", "bigint", "integer"),
    StagingColumn("external_id", "varchar(100)", "text"),
    StagingColumn("customer_id", "bigint", "integer"),
    StagingColumn("contact_id", "bigint", "integer"),
    StagingColumn("placed_at", "timestamp", "text"),
    StagingColumn("amount", "numeric(12, 2)", "decimal"),
    StagingColumn("currency", "varchar(3)", "text"),
    StagingColumn("status", "varchar(10)", "text"),
    StagingColumn("refunded_amount", "numeric(12, 2)", "decimal"),
    StagingColumn("channel", "varchar(20)", "text"),
    StagingColumn("item_count", "integer", "integer"),
    StagingColumn("sales_rep_id", "integer", "integer"),
    StagingColumn("new_customer", "boolean", "boolean"),
)


def _load_staging(frame: pl.DataFrame, progress: PhaseProgress) -> None:
    """Put the file's orders into a temporary table; COPY on PostgreSQL."""
    # In customer order, which the INSERT keeps (it reads the table as written): each
    # customer's orders land together in crm_order and its indexes, and the foreign-key
    # checks at commit walk the customers in order. Polars sorts a million rows faster
    # than the database can within its default work_mem.
    staged = frame.sort("customer_id", "placed_at", "line").select(
        "line",
        pl.col("order_external_id").alias("external_id"),
        "customer_id",
        "contact_id",
        # Django's own text form of a datetime on SQLite; files carry no sub-second times.
        pl.col("placed_at").dt.strftime("%Y-%m-%d %H:%M:%S"),
        "amount",
        "currency",
        "status",
        "refunded_amount",
        "channel",
        "item_count",
        "sales_rep_id",
        "new_customer",
    )
    # Dropped by orders_import when done, and by staging_table_load first in case an
    # earlier import in the same session failed half-way.
    staging_table_load(
        table=_STAGING_TABLE,
        columns=_STAGING_COLUMNS,
        frame=staged,
        progress=lambda done, total: progress("orders", done, total),
    )
    if connection.vendor == "postgresql":
        # The planner's row counts for the anti-join in _insert_orders.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {_STAGING_TABLE}")


# Of the orders an INSERT added: how many, and their net, per status and currency.
_ADDED_BY_STATUS = "SELECT status, currency, COUNT(*), SUM(amount - refunded_amount) FROM {}"


def _insert_orders() -> tuple[int, list[tuple[Any, ...]]]:
    """Insert the staged orders whose id we do not know yet; returns how many, and per
    status and currency how many and their net amount (for the import's summary).

    An anti-join finds the new ones in one pass, and the plain INSERT that follows is
    much cheaper per row than ON CONFLICT's probe of the unique index. Should another
    import commit one of these order ids in between, the INSERT fails on the unique
    constraint and ON CONFLICT DO NOTHING runs instead, which waits and skips them. On
    PostgreSQL the figures come from the INSERT's own RETURNING rows, in the same pass;
    SQLite (one writer at a time) counts the new ones just before.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    order_columns = ", ".join(
        c.name for c in _STAGING_COLUMNS if c.name not in {"line", "new_customer"}
    )
    new_only = (
        "NOT EXISTS (SELECT 1 FROM crm_order AS known WHERE known.external_id = staged.external_id)"
    )
    insert = f"""
        INSERT INTO crm_order (created_at, updated_at, {order_columns})
        SELECT %s, %s, {order_columns}
        FROM {_STAGING_TABLE} AS staged
        WHERE {{condition}}
        {{on_conflict}}
    """

    def run(sql: str) -> tuple[int, list[tuple[Any, ...]]]:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"WITH added AS ({sql} RETURNING status, currency, amount, refunded_amount) "
                    f"{_ADDED_BY_STATUS.format('added')} GROUP BY status, currency",
                    [now, now],
                )
                rows = cursor.fetchall()
                return sum(int(row[2]) for row in rows), rows
            cursor.execute(
                f"{_ADDED_BY_STATUS.format(_STAGING_TABLE + ' AS staged')} "
                f"WHERE {new_only} GROUP BY status, currency"
            )
            rows = cursor.fetchall()
            cursor.execute(sql, [now, now])
            return cursor.rowcount, rows

    try:
        with transaction.atomic():
            return run(insert.format(condition=new_only, on_conflict=""))
    except IntegrityError:
        # "WHERE true": SQLite's parser needs a WHERE before an upsert's ON CONFLICT.
        return run(
            insert.format(condition="true", on_conflict="ON CONFLICT (external_id) DO NOTHING")
        )


def _by_status(rows: list[tuple[Any, ...]]) -> tuple[dict[str, int], dict[str, Decimal]]:
    """From `_insert_orders`' figures: how many new orders are not sales, by status, and
    the net sales of the others, by currency."""
    not_counted: dict[str, int] = {}
    net: dict[str, Decimal] = {}
    for status, currency, count, amount in rows:
        if status == Order.Status.PAID:
            net[currency] = net.get(currency, Decimal(0)) + _money(amount)
        else:
            not_counted[status] = not_counted.get(status, 0) + int(count)
    return not_counted, net


def _money(value: object) -> Decimal:
    """A sum as the database returns it (a float on SQLite) to the cent."""
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def _update_known_orders() -> tuple[list[tuple[str, str, str]], dict[str, Decimal]]:
    """Bring the status and refunds of recorded orders up to the file's (an order
    refunded since the last export); returns the changed orders (id, status before,
    after) and what the changes added to net sales, by currency."""
    paid = Order.Status.PAID
    changed = f"""FROM {_STAGING_TABLE} AS staged
        JOIN crm_order AS known ON known.external_id = staged.external_id
        WHERE known.status <> staged.status
           OR known.refunded_amount <> staged.refunded_amount"""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT known.external_id, known.status, staged.status, staged.currency,
                       CASE WHEN staged.status = %s
                            THEN staged.amount - staged.refunded_amount ELSE 0 END
                     - CASE WHEN known.status = %s
                            THEN known.amount - known.refunded_amount ELSE 0 END
                {changed}""",
            [paid, paid],
        )
        rows = cursor.fetchall()
        if not rows:
            return [], {}
        cursor.execute(
            f"""UPDATE crm_order SET status = staged.status,
                       refunded_amount = staged.refunded_amount, updated_at = %s
                FROM {_STAGING_TABLE} AS staged
                WHERE crm_order.external_id = staged.external_id
                  AND (crm_order.status <> staged.status
                       OR crm_order.refunded_amount <> staged.refunded_amount)""",
            [connection.ops.adapt_datetimefield_value(timezone.now())],
        )
    net: dict[str, Decimal] = {}
    for _, _, _, currency, delta in rows:
        net[currency] = net.get(currency, Decimal(0)) + _money(delta)
    return [(order, before, after) for order, before, after, _, _ in rows], net


_LINE_STAGING_TABLE = "nextorder_line_staging"
_LINE_STAGING_COLUMNS = (
    StagingColumn("external_id", "varchar(100)", "text"),
    StagingColumn("sku", "varchar(64)", "text"),
    StagingColumn("description", "varchar(200)", "text"),
    StagingColumn("quantity", "integer", "integer"),
    StagingColumn("unit_price", "numeric(12, 2)", "decimal"),
    StagingColumn("amount", "numeric(12, 2)", "decimal"),
)


def _create_products(lines: pl.DataFrame) -> int:
    """Create the products of the file's SKUs that we do not know, with the name and
    price of their first line; returns how many."""
    products = (
        lines.filter(pl.col("sku").is_not_null())
        .group_by("sku", maintain_order=True)
        .agg(
            pl.col("description").first().alias("name"),
            pl.col("unit_price").first().alias("price"),
            pl.col("currency").first(),
        )
    )
    if products.height == 0:
        return 0
    known = {
        sku
        for (sku,) in _rows_matching_keys(
            products["sku"].to_list(),
            "SELECT p.sku FROM crm_product AS p JOIN {keys} AS k ON k.key = p.sku",
        )
    }
    return len(_create_rows(Product, products.filter(~pl.col("sku").is_in(list(known)))))


def _insert_lines(lines: pl.DataFrame, progress: PhaseProgress) -> int:
    """Add the file's line items to the orders that have none yet (the new ones); a
    known order keeps the lines it has. Returns how many lines were added."""
    staged = lines.select(
        pl.col("order_external_id").alias("external_id"),
        "sku",
        "description",
        "quantity",
        pl.col("unit_price").cast(pl.Utf8),
        pl.col("amount").cast(pl.Utf8),
    )
    staging_table_load(
        table=_LINE_STAGING_TABLE,
        columns=_LINE_STAGING_COLUMNS,
        frame=staged,
        progress=lambda done, total: progress("lines", done, total),
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {_LINE_STAGING_TABLE}")
        cursor.execute(
            f"""INSERT INTO crm_orderline
                    (order_id, product_id, description, quantity, unit_price, amount)
                SELECT o.id, p.id, l.description, l.quantity, l.unit_price, l.amount
                FROM {_LINE_STAGING_TABLE} AS l
                JOIN crm_order AS o ON o.external_id = l.external_id
                LEFT JOIN crm_product AS p ON p.sku = l.sku
                WHERE NOT EXISTS (SELECT 1 FROM crm_orderline AS had
                                  WHERE had.order_id = o.id)"""
        )
        added = cursor.rowcount
    staging_table_drop(table=_LINE_STAGING_TABLE)
    return added


def _unconverted_warning(frame: pl.DataFrame) -> list[str]:
    """Say so when sales are in a currency without a rate: they add nothing to spend."""
    sales = frame.filter(pl.col("status") == Order.Status.PAID)
    missing = sorted(set(sales["currency"].unique()) - set(rates_to_shop_currency()))
    if not missing:
        return []
    return [
        f"sales in {', '.join(missing)} have no rate to {settings.NEXTORDER_CURRENCY} (the "
        "shop's currency): they are kept, but add to customers' spend and value only after "
        "`nextorder rates import`"
    ]


def _add_up(*parts: dict[str, Decimal]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for part in parts:
        for currency, amount in part.items():
            total[currency] = total.get(currency, Decimal(0)) + amount
    return dict(sorted(total.items()))


@transaction.atomic
def orders_import(
    *,
    path: Path,
    file_format: DataFormat,
    mapping: ColumnMapping | None = None,
    layout: str | None = None,
    default_currency: str | None = None,
    time_zone: str | None = None,
    shift_days: int = 0,
    actor: User | None = None,
    progress: PhaseProgress = no_phase_progress,
) -> ImportResult:
    """Import a file of orders, all of it or nothing.

    Idempotent by order id: an order whose id is already known keeps its customer,
    amount and lines, so running the same file twice changes nothing; only its status
    and refunds follow the file (an order refunded since is updated, not added again).
    `layout` names a platform's export (read from the header when not given); times
    without an offset are read in `time_zone` (default TIME_ZONE), amounts without a
    currency in `default_currency` (default NEXTORDER_CURRENCY). `shift_days` moves
    every date (the demo uses it to bring a historic data set up to today, keeping the
    intervals).
    """
    progress("reading", 0, 1)
    with lines_as_in_editor(path=path, file_format=file_format):
        read = read_order_file(
            path=path,
            file_format=file_format,
            mapping=mapping,
            layout=layout,
            default_currency=default_currency or settings.NEXTORDER_CURRENCY,
            time_zone=time_zone or settings.TIME_ZONE,
        )
        frame = read.orders
        if shift_days:
            frame = frame.with_columns(pl.col("placed_at") + timedelta(days=shift_days))
        progress("reading", 1, 1)
        frame, customers_created = _resolve_customers(frame, progress)
        frame, contacts_created = _resolve_contacts(frame, progress)
        frame = _resolve_sales_reps(frame)
    _load_staging(frame, progress)

    orders_created, added = _insert_orders()
    not_counted, new_net = _by_status(added)
    updated, changed_net = _update_known_orders()
    products_created = _create_products(read.lines)
    lines_created = _insert_lines(read.lines, progress) if read.lines.height else 0
    progress("statistics", 0, 1)
    # Customers this import created carry their figures from the file already; they are
    # wrong only if some of their rows were orders we had. Customers we knew change only
    # if they got new orders, or orders whose status changed. The refresh rewrites only
    # customers whose figures differ.
    stale = []
    if orders_created or updated:
        stale.append("NOT new_customer")
    if orders_created < frame.height:
        stale.append("new_customer")
    if stale:
        customers_refresh_order_stats(
            customer_ids_sql=f"SELECT DISTINCT customer_id FROM {_STAGING_TABLE} "
            f"WHERE {' OR '.join(stale)}"
        )
    staging_table_drop(table=_STAGING_TABLE)
    progress("statistics", 1, 1)

    record = OrderImport.objects.create(
        file_name=path.name,
        file_sha256=_file_sha256(path),
        file_format=file_format,
        rows=frame.height,
        orders_created=orders_created,
        orders_updated=len(updated),
        lines_created=lines_created,
        products_created=products_created,
        customers_created=customers_created,
        contacts_created=contacts_created,
        imported_by=staff_actor(actor),
    )
    result = ImportResult(
        rows=frame.height,
        orders_created=orders_created,
        orders_existing=frame.height - orders_created,
        orders_updated=len(updated),
        lines_created=lines_created,
        products_created=products_created,
        customers_created=customers_created,
        contacts_created=contacts_created,
        not_counted=dict(sorted(not_counted.items())),
        net_sales_added=_add_up(new_net, changed_net),
        layout=read.layout,
        warnings=(*read.warnings, *_unconverted_warning(frame)),
        import_record=record,
        row_orders=pl.concat(
            [
                read.orders.select("line", "order_external_id"),
                read.lines.select("line", "order_external_id"),
            ]
        ).unique("line"),
    )
    event_record(
        verb=Verb.ORDERS_IMPORTED,
        subject=record,
        actor=actor,
        actor_label="" if actor else "system:import",
        after={
            "file": path.name,
            **result.summary(),
            # Which orders changed status, so that the change can be traced to the file.
            "status_changes": [
                {"order": order, "before": before, "after": after}
                for order, before, after in updated[:_STATUS_CHANGES_LISTED]
            ],
        },
    )
    return result


# An import's event lists this many of the orders whose status it changed.
_STATUS_CHANGES_LISTED = 1000


@dataclass(frozen=True)
class RatesImportResult:
    rates: int
    changed: list[str]
    customers_updated: int


@transaction.atomic
def currency_rates_import(*, path: Path) -> RatesImportResult:
    """Set the rates of the currencies a file names (others keep theirs), then refresh
    the spend of the customers with sales in a currency whose rate changed."""
    rates = read_rates_file(path)
    if settings.NEXTORDER_CURRENCY in rates and rates[settings.NEXTORDER_CURRENCY] != 1:
        raise OrderFileError(
            f"{settings.NEXTORDER_CURRENCY} is the shop's currency (NEXTORDER_CURRENCY): its "
            "rate is 1"
        )
    stored = dict(CurrencyRate.objects.values_list("currency", "rate"))
    changed = sorted(c for c, rate in rates.items() if stored.get(c) != rate)
    for currency in changed:
        CurrencyRate.objects.update_or_create(currency=currency, defaults={"rate": rates[currency]})
    updated = 0
    if changed:
        updated = customers_refresh_order_stats(
            customer_ids_sql="SELECT DISTINCT customer_id FROM crm_order WHERE status = %s "
            f"AND currency IN ({', '.join(['%s'] * len(changed))})",
            params=[Order.Status.PAID, *changed],
        )
    return RatesImportResult(rates=len(rates), changed=changed, customers_updated=updated)
