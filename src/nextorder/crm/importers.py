"""Reading a shop's order history from CSV, Parquet or the CDNOW fixed-width format.

This module only reads and validates (with Polars, vectorised); `services.orders_import`
writes, and `clv fit --from-file` reads through it too, so that both see the same record.
A file is either generic (one column per field, `ColumnMapping`) or a platform's export
(`LAYOUTS`: Shopify, WooCommerce, Magento, Etsy), whose rows are line items grouped into
orders. Validation reports the first bad row with the line an editor shows it on (a
quoted note may span lines), so a user can fix the file and run the import again.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path

import polars as pl

from nextorder.core.files import DATA_FORMATS, DataFormat

CHANNELS = ("web", "store", "phone", "marketplace", "sales_rep", "other")
# What an order counts as: only paid orders are sales (less what was refunded of them).
STATUSES = ("paid", "pending", "cancelled", "refunded")
_LOCAL_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
    "%Y%m%d",
)
# Offsets are brought to one spelling (" +0100") before these read them.
_OFFSET_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f %z",
    "%Y-%m-%dT%H:%M:%S%.f %z",
    "%Y-%m-%d %H:%M %z",
    "%Y-%m-%dT%H:%M %z",
)
_OFFSET_PATTERN = r"\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|[+-]\d\d:?\d\d)$"
_AMOUNT_PATTERN = r"^-?\d{1,10}(\.\d{1,2})?$"
_EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_CURRENCY_PATTERN = r"^[A-Z]{3}$"


class OrderFileError(ValueError):
    """A file that cannot be imported; `line` is None when the whole file is at fault."""

    def __init__(self, reason: str, *, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(f"line {line}: {reason}" if line is not None else reason)


REQUIRED_FIELDS = ("customer_id", "placed_at", "amount")
# A line item needs these; its product is its SKU, or just its name when it has none.
LINE_FIELDS = ("sku", "product_name", "quantity", "unit_price")


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of the file holds which field.

    None (the default) means the column named like the field, if the file has one;
    "" means the file has no such column even if one is named like it. Column names are
    matched without regard to case; "First Name+Last Name" joins several columns (a
    customer name in two parts). Without an order id column, ids are derived from
    customer, time and amount (with a counter for identical rows), which keeps
    re-imports of the same file idempotent. With line fields, each row is a line item
    and rows sharing an order id are one order.
    """

    customer_id: str | None = None
    placed_at: str | None = None
    amount: str | None = None
    order_id: str | None = None
    customer_name: str | None = None
    email: str | None = None
    contact_name: str | None = None
    currency: str | None = None
    channel: str | None = None
    item_count: str | None = None
    sales_rep: str | None = None
    status: str | None = None
    cancelled_at: str | None = None
    refunded: str | None = None
    amount_after_refunds: str | None = None
    sku: str | None = None
    product_name: str | None = None
    quantity: str | None = None
    unit_price: str | None = None

    def resolve(
        self, *, available: list[str], required: tuple[str, ...] = REQUIRED_FIELDS
    ) -> dict[str, list[str]]:
        """The file columns of each field (none, one, or several joined); a named column
        must exist."""
        by_lower: dict[str, str] = {}
        for name in available:
            by_lower.setdefault(name.strip().lower(), name)
        resolved: dict[str, list[str]] = {}
        missing = []
        for spec in fields(self):
            chosen = getattr(self, spec.name)
            if chosen is None:
                chosen = spec.name if spec.name in by_lower or spec.name in required else ""
            if not chosen:
                resolved[spec.name] = []
                continue
            parts = [chosen] if chosen.lower() in by_lower else chosen.split("+")
            missing += [part for part in parts if part.strip().lower() not in by_lower]
            resolved[spec.name] = [by_lower.get(part.strip().lower(), part) for part in parts]
        if missing:
            raise OrderFileError(
                f"column(s) {sorted(missing)} not in the file; it has {_shown(available)}. "
                "Map them with --column FIELD=COLUMN or --mapping FILE"
            )
        return resolved

    @classmethod
    def from_file(cls, path: Path) -> ColumnMapping:
        """A mapping file is JSON: {"customer_id": "Kundennummer", "amount": "Betrag", ...}."""
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise OrderFileError(f"cannot read mapping file {path}: {exc}") from exc
        known = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) - known:
            unknown = sorted(set(raw) - known) if isinstance(raw, dict) else raw
            raise OrderFileError(
                f"mapping file {path}: unknown fields {unknown}; known: {sorted(known)}"
            )
        return cls(**raw)


# The generic file's status words: our own, and the ones most shops use.
_GENERIC_STATUSES = {
    "paid": "paid",
    "completed": "paid",
    "complete": "paid",
    "processing": "paid",
    "partially_refunded": "paid",
    "pending": "pending",
    "unpaid": "pending",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "voided": "cancelled",
    "failed": "cancelled",
    "refunded": "refunded",
}


@dataclass(frozen=True)
class Layout:
    """A platform's order export: its columns, its status words, and how it marks guests.

    `signature` is a set of columns (lower case) that only this export has together: a
    file whose header holds them is read in this layout without being told.
    """

    name: str
    mapping: ColumnMapping
    signature: frozenset[str]
    statuses: Mapping[str, str]
    # Customer ids that mean "no account" (WooCommerce writes 0 for a guest).
    guest_ids: tuple[str, ...] = ()
    channel: str = "web"
    # Date formats of the platform's own, tried before the usual ones.
    date_formats: tuple[str, ...] = ()
    # Amounts written with a currency symbol ("€1,094.83"), which also gives the currency.
    money_symbols: bool = False


# Columns as each platform documents its export; the test generator
# (tests/crm/exports.py) writes these layouts and cites the same sources.
#
# Shopify, Admin > Orders > Export ("Export orders" CSV, help.shopify.com/en/manual/
# orders/export-orders): one row per line item; the order's columns (Financial Status,
# Total, Created at, ...) are filled on its first row only. Financial Status is one of
# paid, pending, authorized, partially_paid, partially_refunded, refunded, voided;
# "Cancelled at" is set on cancelled orders; times carry an offset (+0100).
SHOPIFY = Layout(
    name="shopify",
    mapping=ColumnMapping(
        customer_id="",
        order_id="Name",
        placed_at="Created at",
        amount="Total",
        currency="Currency",
        email="Email",
        customer_name="Billing Name",
        status="Financial Status",
        cancelled_at="Cancelled at",
        refunded="Refunded Amount",
        sku="Lineitem sku",
        product_name="Lineitem name",
        quantity="Lineitem quantity",
        unit_price="Lineitem price",
    ),
    signature=frozenset({"name", "financial status", "lineitem quantity", "lineitem name"}),
    statuses={
        "paid": "paid",
        "partially_refunded": "paid",
        "pending": "pending",
        "authorized": "pending",
        "partially_paid": "pending",
        "refunded": "refunded",
        "voided": "cancelled",
    },
)

# WooCommerce through "Advanced Order Export For WooCommerce" (AlgolPlus,
# wordpress.org/plugins/woo-order-export-lite), its default field labels with one row
# per product ("Fill order columns" on, so each row repeats the order's columns).
# Order Status is WooCommerce's: pending, processing, on-hold, completed, cancelled,
# refunded, failed (woocommerce.com/document/managing-orders/order-statuses); a guest
# has Customer User ID 0; Order Date is the shop's local time without offset.
WOOCOMMERCE = Layout(
    name="woocommerce",
    mapping=ColumnMapping(
        customer_id="Customer User ID",
        order_id="Order Number",
        placed_at="Order Date",
        amount="Order Total Amount",
        currency="Order Currency",
        email="Email (Billing)",
        customer_name="First Name (Billing)+Last Name (Billing)",
        status="Order Status",
        refunded="Order Refund Amount",
        sku="SKU",
        product_name="Item Name",
        quantity="Quantity",
        unit_price="Item Cost",
    ),
    signature=frozenset({"order number", "order status", "order total amount", "item name"}),
    statuses={
        "completed": "paid",
        "processing": "paid",
        "pending": "pending",
        "pending payment": "pending",
        "on-hold": "pending",
        "on hold": "pending",
        "cancelled": "cancelled",
        "failed": "cancelled",
        "refunded": "refunded",
    },
    guest_ids=("0",),
)

# Magento 2, Admin > Sales > Orders > Export > CSV: the order grid as shown, one row per
# order (experienceleague.adobe.com, "Orders workspace": ID, Purchase Point, Purchase
# Date, Bill-to Name, Ship-to Name, Grand Total (Base), Grand Total (Purchased), Status,
# Customer Email, Total Refunded, ...). Purchase Date is in the store's time zone as the
# admin shows it ("Nov 15, 2026 3:16:58 PM"); amounts carry their currency's symbol;
# Status is the label (Pending, Processing, Complete, Closed = refunded, Canceled, On
# Hold, Suspected Fraud, Payment Review). The grid has no line items.
MAGENTO = Layout(
    name="magento",
    mapping=ColumnMapping(
        customer_id="",
        order_id="ID",
        placed_at="Purchase Date",
        amount="Grand Total (Purchased)",
        email="Customer Email",
        customer_name="Bill-to Name",
        status="Status",
        refunded="Total Refunded",
    ),
    signature=frozenset({"id", "purchase date", "bill-to name", "grand total (purchased)"}),
    statuses={
        "pending": "pending",
        "processing": "paid",
        "complete": "paid",
        "closed": "refunded",
        "canceled": "cancelled",
        "on hold": "pending",
        "suspected fraud": "pending",
        "payment review": "pending",
        "pending payment": "pending",
    },
    date_formats=("%b %d, %Y %I:%M:%S %p",),
    money_symbols=True,
)

# Etsy, Shop Manager > Settings > Options > Download Data > "Orders" CSV
# (help.etsy.com, "How to Download Your Shop's Data": EtsySoldOrders.csv), one row per
# order: Sale Date (MM/DD/YY), Order ID, Buyer User ID, Full Name, First Name, Last Name,
# Number of Items, ..., Currency, Order Value, ..., Order Total, ..., Adjusted Order
# Total (after refunds), ..., Buyer. Etsy gives sellers no buyer email; every buyer has an
# account. Its line items are in the separate "Order Items" CSV, not read here.
ETSY = Layout(
    name="etsy",
    mapping=ColumnMapping(
        customer_id="Buyer User ID",
        order_id="Order ID",
        placed_at="Sale Date",
        amount="Order Total",
        amount_after_refunds="Adjusted Order Total",
        currency="Currency",
        customer_name="Full Name",
        item_count="Number of Items",
    ),
    signature=frozenset({"sale date", "order id", "buyer user id", "adjusted order total"}),
    statuses={},
    channel="marketplace",
    date_formats=("%m/%d/%y",),
)

LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (SHOPIFY, WOOCOMMERCE, MAGENTO, ETSY)
}


def layout_of_header(columns: list[str]) -> Layout | None:
    """The platform whose export has these columns, or None for a generic file."""
    header = {name.strip().lower() for name in columns}
    return next((layout for layout in LAYOUTS.values() if layout.signature <= header), None)


def _clipped(value: object, *, width: int = 40) -> str:
    """A value from the file as an error message can show it: quoted, and cut if long."""
    text = str(value)
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def _shown(columns: list[str], *, most: int = 12) -> str:
    """Column names as a reader can take them in, however odd the file's header is."""
    more = f" and {len(columns) - most} more" if len(columns) > most else ""
    return f"[{', '.join(_clipped(name) for name in columns[:most])}]{more}"


# Separators a shop's export may use: Excel writes ';' where the decimal mark is a comma.
_SEPARATORS = (",", ";", "\t", "|")
_SNIFF_BYTES = 64 * 1024


def _csv_separator(path: Path) -> str:
    """The separator of a CSV file, from its header line; refuses binary files.

    A binary file read as text gives a header of garbage and an error that lists it;
    saying what the file is helps more.
    """
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if b"\x00" in head:
        raise OrderFileError(
            "the file is not text (it holds binary data): export the orders as CSV or Parquet"
        )
    header = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return max(_SEPARATORS, key=header.count)


@contextmanager
def lines_as_in_editor(*, path: Path, file_format: DataFormat) -> Iterator[None]:
    """Turn the record numbers in OrderFileErrors raised inside into the lines an editor
    shows: a quoted note spanning lines makes them differ.

    Counted only when something fails, by reading the file up to the record once more.
    """
    try:
        yield
    except OrderFileError as exc:
        if exc.line is None or file_format != "csv":
            raise
        raise OrderFileError(exc.reason, line=_editor_line(path, exc.line)) from exc


def _editor_line(path: Path, record: int) -> int:
    """The line on which record number `record` (the header being 1) starts."""
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=_csv_separator(path))
        start = 1
        for number, _ in enumerate(reader, start=1):
            if number == record:
                return start
            start = reader.line_num + 1
    return record


# The CDNOW sample carries no order ids, names or emails: customer, date, CDs, dollars.
# Its columns are named after the fields, so the default mapping reads it.
CDNOW_COLUMNS = ("cohort_id", "customer_id", "placed_at", "item_count", "amount")


def _read_raw(path: Path, file_format: DataFormat) -> pl.DataFrame:
    """Every column as text, so that validation, not the reader, decides what is wrong."""
    if not path.is_file():
        raise OrderFileError(f"no such file: {path}")
    try:
        if file_format == "csv":
            return pl.read_csv(
                path,
                infer_schema=False,
                encoding="utf8-lossy",
                separator=_csv_separator(path),
            )
        if file_format == "parquet":
            frame = pl.read_parquet(path)
            return frame.with_columns(pl.all().cast(pl.Utf8))
        lines = pl.read_csv(
            path,
            has_header=False,
            new_columns=["raw"],
            separator="\x1f",
            infer_schema=False,
            quote_char=None,
        )
        split = lines.select(pl.col("raw").str.extract_all(r"\S+").alias("fields"))
        width = split.with_row_index("line", offset=1).filter(
            pl.col("fields").list.len() != len(CDNOW_COLUMNS)
        )
        if width.height:
            line, found = width.row(0)[0], len(width.row(0)[1])
            raise OrderFileError(
                f"expected {len(CDNOW_COLUMNS)} fields (cohort id, customer id, date, "
                f"CDs, dollars) of the CDNOW format, found {found}; a CSV file needs "
                "--format csv",
                line=line,
            )
        return split.select(
            pl.col("fields").list.get(i).alias(name) for i, name in enumerate(CDNOW_COLUMNS)
        )
    except OrderFileError:
        raise
    except Exception as exc:  # the readers raise many types; the user needs the message
        raise OrderFileError(f"cannot read {path} as {file_format}: {exc}") from exc


def read_columns(*, path: Path, file_format: DataFormat, names: tuple[str, ...]) -> pl.DataFrame:
    """The columns of an order file named (case-insensitively) in `names`, as text, with
    the record numbers `read_order_file` gives its rows ("line"); for another app's
    optional columns (sales' promises), read beside the orders. Only the header is read
    when none of them is in the file."""
    none = pl.DataFrame(schema={"line": pl.UInt32})
    if file_format not in ("csv", "parquet") or not path.is_file():
        return none
    header = (
        pl.read_csv(
            path,
            n_rows=0,
            infer_schema=False,
            encoding="utf8-lossy",
            separator=_csv_separator(path),
        ).columns
        if file_format == "csv"
        else pl.read_parquet_schema(path).keys()
    )
    present = {c.strip().lower(): c for c in header if c.strip().lower() in names}
    if not present:
        return none
    raw = _read_raw(path, file_format).with_row_index(
        "line", offset=2 if file_format == "csv" else 1
    )
    return raw.select(
        "line", *(_blank_is_null(pl.col(column)).alias(name) for name, column in present.items())
    )


def _first_line_failing(frame: pl.DataFrame, condition: pl.Expr) -> int | None:
    hits = frame.select(pl.col("line").filter(condition).first()).item()
    return int(hits) if hits is not None else None


def _first_of(values: pl.Series, formats: tuple[str, ...], dtype: pl.Datetime) -> pl.Series:
    """Each value read with the first format that fits it.

    A file keeps to one format, so the first or second format usually reads every value;
    the later ones only run while some value is still unread.
    """
    parsed = pl.Series(values.name, [None] * values.len(), dtype=dtype)
    for fmt in formats:
        parsed = parsed.fill_null(
            values.str.to_datetime(fmt, time_unit="us", time_zone=dtype.time_zone, strict=False)
        )
        if parsed.null_count() == values.null_count():
            break
    return parsed


@dataclass(frozen=True)
class OrderTimes:
    """Times read from a file: naive UTC (null where unreadable), whether each was a local
    time the zone skips (the hour clocks jump in spring), and how many local times had a
    clock time but no offset."""

    utc: pl.Series
    skipped: pl.Series
    local_clock_times: int


def parse_times(
    text: pl.Series, *, time_zone: str, local_formats: tuple[str, ...] = ()
) -> OrderTimes:
    """Read times with an offset (+0100, +01:00, Z) as given, the others in `time_zone`.

    A time that does not exist in the zone (the hour skipped in spring) is null; one that
    exists twice (the hour repeated in autumn) is read as the earlier.
    """
    text = text.str.strip_chars()
    offset = text.str.contains(_OFFSET_PATTERN).fill_null(False)
    nothing = pl.Series([None], dtype=pl.Utf8)
    with_offset = pl.Series(text.name, [None] * text.len(), dtype=pl.Datetime("us"))
    if offset.any():  # most files keep to one kind: the other is not looked at
        normal = text.zip_with(offset, nothing)
        normal = normal.str.replace(r"\s*Z$", " +0000").str.replace(
            r"\s*([+-]\d\d):?(\d\d)$", " ${1}${2}"
        )
        with_offset = _first_of(
            normal, _OFFSET_FORMATS, pl.Datetime("us", "UTC")
        ).dt.replace_time_zone(None)
    if offset.all():
        return OrderTimes(utc=with_offset, skipped=~offset, local_clock_times=0)
    local_text = text.zip_with(~offset, nothing)
    naive = _first_of(local_text, (*local_formats, *_LOCAL_FORMATS), pl.Datetime("us"))
    local = (
        naive.dt.replace_time_zone(time_zone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )
    clock = local_text.str.contains(r"\d:\d\d").fill_null(False).sum()
    return OrderTimes(
        utc=with_offset.fill_null(local),
        skipped=naive.is_not_null() & local.is_null(),
        local_clock_times=int(clock),
    )


@dataclass(frozen=True)
class OrderFile:
    """A file read and checked: one row per order, one per line item, and what to warn of.

    `orders`: line, customer_external_id, keyed_by_email, order_external_id, placed_at
    (naive UTC), amount and refunded_amount (text, exact), net_amount (what the order
    adds to sales: amount less refunds when paid, else 0), status, currency, channel,
    item_count, customer_name, email, contact_name, sales_rep. `lines`: line,
    order_external_id, sku, description, quantity, unit_price, amount, currency.
    """

    orders: pl.DataFrame
    lines: pl.DataFrame
    layout: str
    warnings: tuple[str, ...] = ()


def _blank_is_null(expr: pl.Expr) -> pl.Expr:
    stripped = expr.str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped)


def _raise_first(frame: pl.DataFrame, checks: list[tuple[pl.Expr, str]]) -> None:
    """Raise for the earliest line that fails any check, naming its values."""
    failures = [
        (line, reason)
        for condition, reason in checks
        if (line := _first_line_failing(frame, condition)) is not None
    ]
    if failures:
        line, reason = min(failures)
        value = frame.filter(pl.col("line") == line).row(0, named=True)
        raise OrderFileError(f"{reason} ({_describe(value)})", line=line)


def _amount_checks(column: str, label: str) -> list[tuple[pl.Expr, str]]:
    return [
        (
            pl.col(column).is_not_null() & ~pl.col(column).str.contains(_AMOUNT_PATTERN),
            f"{label} is not a number with at most 2 decimals",
        ),
        (pl.col(column).str.starts_with("-"), f"{label} is negative"),
    ]


def _select_fields(raw: pl.DataFrame, wanted: dict[str, list[str]]) -> pl.DataFrame:
    """One column per field, blanks as nulls; a field from several columns joins them."""

    def column(name: str) -> pl.Expr:
        sources = wanted[name]
        if not sources:
            return pl.lit(None, dtype=pl.Utf8).alias(name)
        if len(sources) == 1:
            return _blank_is_null(pl.col(sources[0])).alias(name)
        parts = [pl.col(source).fill_null("").str.strip_chars() for source in sources]
        return _blank_is_null(pl.concat_str(parts, separator=" ")).alias(name)

    return raw.select("line", *(column(spec.name) for spec in fields(ColumnMapping)))


# The symbols an amount may be written with, and the currency each one means.
_CURRENCY_SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "CHF": "CHF"}
_MONEY_COLUMNS = ("amount", "refunded", "amount_after_refunds", "unit_price")


def _money_with_symbols(rows: pl.DataFrame) -> pl.DataFrame:
    """Amounts as an admin screen shows them ("€1,094.83"): the symbol gives the order's
    currency where the file names none, and goes, with the thousands separators."""
    symbol = pl.col("amount").str.extract(r"^\s*([^\d\s.,-]+)\s*\d")
    unknown = symbol.is_not_null() & ~symbol.is_in(list(_CURRENCY_SYMBOLS))
    if (line := _first_line_failing(rows, unknown)) is not None:
        raise OrderFileError(
            f"amount has a currency symbol that is not one of {', '.join(_CURRENCY_SYMBOLS)}",
            line=line,
        )
    return rows.with_columns(
        pl.coalesce("currency", symbol.replace_strict(_CURRENCY_SYMBOLS, default=None)).alias(
            "currency"
        ),
        *(pl.col(name).str.replace_all(r"^[^\d-]+|,", "").alias(name) for name in _MONEY_COLUMNS),
    )


def _lines_of(rows: pl.DataFrame) -> pl.DataFrame:
    """The line items of a file whose rows are line items; checked."""
    items = rows.filter(pl.col("sku").is_not_null() | pl.col("product_name").is_not_null())
    _raise_first(
        items,
        [
            (
                ~pl.col("quantity").fill_null("").str.contains(r"^\d{1,9}$")
                | (pl.col("quantity") == "0"),
                "line quantity is not a whole number above 0",
            ),
            (pl.col("unit_price").is_null(), "line price is empty"),
            *_amount_checks("unit_price", "line price"),
            (pl.col("sku").str.len_chars() > 64, "SKU is longer than 64 characters"),
            (pl.col("product_name").str.len_chars() > 200, "product name is longer than 200"),
        ],
    )
    quantity = pl.col("quantity").cast(pl.Int64)
    price = pl.col("unit_price").cast(pl.Decimal(14, 2))
    return items.select(
        "line",
        pl.col("order_id").alias("order_external_id"),
        "sku",
        pl.col("product_name").fill_null(pl.col("sku")).alias("description"),
        quantity.alias("quantity"),
        price.alias("unit_price"),
        (price * quantity).cast(pl.Decimal(14, 2)).alias("amount"),
    )


def _orders_of_lines(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per order id, from rows that are its line items.

    The order's columns are taken from the first row that has them (Shopify fills them on
    the first row only; WooCommerce repeats them). Two rows of one order with different
    totals are two orders under one id: refused, as summing them would double sales.
    """
    order_fields = [c for c in rows.columns if c not in {"line", "order_id", *LINE_FIELDS}]
    grouped = rows.group_by("order_id", maintain_order=True).agg(
        pl.col("line").first(),
        *(pl.col(name).drop_nulls().first() for name in order_fields),
        pl.col("amount").drop_nulls().n_unique().alias("totals"),
        pl.col("line")
        .filter(pl.col("amount").is_not_null())
        .get(1, null_on_oob=True)
        .alias("second_total_line"),
        pl.col("quantity").cast(pl.Int64, strict=False).sum().alias("line_quantity"),
    )
    twice = grouped.filter(pl.col("totals") > 1)
    if twice.height:
        row = twice.row(0, named=True)
        raise OrderFileError(
            f"order {row['order_id']!r} has two different totals (lines {row['line']} and "
            f"{row['second_total_line']}): two orders under one id",
            line=row["second_total_line"],
        )
    return grouped.with_columns(
        pl.col("item_count").fill_null(pl.col("line_quantity").cast(pl.Utf8))
    ).drop("totals", "second_total_line", "line_quantity")


def _statuses(orders: pl.DataFrame, table: Mapping[str, str]) -> pl.DataFrame:
    """Each order's status in our words; refunds made whole for fully refunded orders."""
    known = (
        pl.col("status")
        .str.to_lowercase()
        .replace_strict(dict(table), default=None, return_dtype=pl.Utf8)
    )
    _raise_first(
        orders,
        [
            (
                pl.col("status").is_not_null() & known.is_null(),
                f"status is not one of {', '.join(sorted(table))}",
            ),
            *_amount_checks("refunded", "refunded amount"),
            *_amount_checks("amount_after_refunds", "amount after refunds"),
        ],
    )
    status = (
        pl.when(pl.col("cancelled_at").is_not_null())
        .then(pl.lit("cancelled"))
        .otherwise(known.fill_null("paid"))
    )
    amount = pl.col("amount").cast(pl.Decimal(14, 2))
    after_refunds = amount - pl.col("amount_after_refunds").cast(pl.Decimal(14, 2))
    refunded = pl.coalesce(
        pl.col("refunded").cast(pl.Decimal(14, 2)), after_refunds, pl.lit(0)
    ).cast(pl.Decimal(14, 2))
    orders = orders.with_columns(status.alias("status")).with_columns(
        pl.when(pl.col("status") == "refunded")
        .then(amount)
        .otherwise(refunded)
        .alias("refunded_amount")
    )
    # A paid order refunded in full is a refunded one, whatever the platform calls it.
    orders = orders.with_columns(
        pl.when(
            (pl.col("status") == "paid")
            & (pl.col("refunded_amount") == amount)
            & (pl.col("refunded_amount") > 0)
        )
        .then(pl.lit("refunded"))
        .otherwise(pl.col("status"))
        .alias("status")
    )
    _raise_first(
        orders,
        [
            (
                (pl.col("refunded_amount") > amount) | (pl.col("refunded_amount") < 0),
                "refunded amount is more than the order's total",
            )
        ],
    )
    return orders.with_columns(
        pl.when(pl.col("status") == "paid")
        .then(amount - pl.col("refunded_amount"))
        .otherwise(pl.lit(0))
        .cast(pl.Decimal(14, 2))
        .alias("net_amount"),
        pl.col("refunded_amount").cast(pl.Utf8),
    )


def _customer_keys(orders: pl.DataFrame, layout: Layout | None) -> pl.DataFrame:
    """Key each order's customer: the platform's customer id, else the email, else a
    customer of its own (a guest who left no address).

    A guest whose email a registered customer of the file has is that customer.
    """
    customer = pl.col("customer_id")
    if layout is not None and layout.guest_ids:
        customer = pl.when(customer.is_in(layout.guest_ids)).then(None).otherwise(customer)
    orders = orders.with_columns(customer.alias("customer_id"))
    if orders["customer_id"].null_count() == 0:
        return orders.with_columns(
            pl.lit(False).alias("keyed_by_email"),
            pl.col("customer_id").alias("customer_external_id"),
        )
    registered = (
        orders.filter(pl.col("customer_id").is_not_null() & pl.col("email").is_not_null())
        .group_by("email")
        .agg(pl.col("customer_id").first().alias("registered_id"))
    )
    orders = orders.join(registered, on="email", how="left", maintain_order="left")
    customer_id = pl.coalesce("customer_id", "registered_id")
    return orders.with_columns(
        (customer_id.is_null() & pl.col("email").is_not_null()).alias("keyed_by_email"),
        pl.coalesce(customer_id, "email", pl.format("guest:{}", "order_id")).alias(
            "customer_external_id"
        ),
    ).drop("registered_id")


def _order_checks(*, generic: bool, has_order_id: bool) -> list[tuple[pl.Expr, str]]:
    checks: list[tuple[pl.Expr, str]] = [
        (
            pl.col("placed_at").is_null() & ~pl.col("skipped"),
            "order date is not a date (use YYYY-MM-DD, YYYYMMDD or ISO with an offset)",
        ),
        (pl.col("amount").is_null(), "amount is not a number with at most 2 decimals"),
        *_amount_checks("amount", "amount"),
        (~pl.col("currency").str.contains(_CURRENCY_PATTERN), "currency is not a 3-letter code"),
        (~pl.col("channel").is_in(CHANNELS), f"channel is not one of {', '.join(CHANNELS)}"),
        (
            pl.col("item_count").is_not_null() & ~pl.col("item_count").str.contains(r"^\d{1,9}$"),
            "item count is not a whole number",
        ),
        (
            pl.col("email").is_not_null() & ~pl.col("email").str.contains(_EMAIL_PATTERN),
            "email address is not valid",
        ),
        (pl.col("email").str.len_chars() > 254, "email address is longer than 254 characters"),
        (
            (pl.col("customer_name").str.len_chars() > 200)
            | (pl.col("contact_name").str.len_chars() > 200),
            "customer or contact name is longer than 200 characters",
        ),
    ]
    if generic:
        checks.append((pl.col("customer_id").is_null(), "customer id is empty"))
    if has_order_id:
        checks.append((pl.col("order_id").is_null(), "order id is empty"))
    return checks


def read_order_file(
    *,
    path: Path,
    file_format: DataFormat,
    mapping: ColumnMapping | None = None,
    layout: str | None = None,
    default_currency: str = "USD",
    time_zone: str = "UTC",
) -> OrderFile:
    """Read, check and normalise an order file; raise OrderFileError at the first bad row.

    `layout` names a platform's export (LAYOUTS); without it and without a mapping, a
    CSV whose header is a platform's is read as that platform's. Line numbers in errors
    count records (the header is 1); `lines_as_in_editor` turns them into lines.
    """
    if file_format not in DATA_FORMATS:
        raise OrderFileError(f"unknown format {file_format!r}; use one of {DATA_FORMATS}")
    if layout is not None and layout not in LAYOUTS:
        raise OrderFileError(f"unknown layout {layout!r}; use one of {sorted(LAYOUTS)}")
    raw = _read_raw(path, file_format)
    chosen = LAYOUTS[layout] if layout else None
    if chosen is None and mapping in (None, ColumnMapping()):
        chosen = layout_of_header(raw.columns)
    if chosen is not None:
        overrides = {
            k: v for k, v in (mapping or ColumnMapping()).__dict__.items() if v is not None
        }
        # A layout's columns are its own: a field it does not map is not in the file,
        # even where a column is named like it (Etsy's SKU column lists an order's SKUs).
        own = {k: "" if v is None else v for k, v in chosen.mapping.__dict__.items()}
        mapping = ColumnMapping(**{**own, **overrides})
    required = REQUIRED_FIELDS if chosen is None else ("placed_at", "amount", "order_id")
    wanted = (mapping or ColumnMapping()).resolve(available=raw.columns, required=required)
    first_line = 2 if file_format == "csv" else 1
    raw = raw.with_row_index("line", offset=first_line)
    if raw.height == 0:
        raise OrderFileError("the file has no order rows")

    rows = _select_fields(raw, wanted).with_columns(
        pl.col("currency").str.to_uppercase(),
        pl.col("channel").str.to_lowercase().fill_null(chosen.channel if chosen else "web"),
        pl.col("email").str.to_lowercase(),
    )
    if chosen is not None and chosen.money_symbols:
        rows = _money_with_symbols(rows)
    rows = rows.with_columns(pl.col("currency").fill_null(default_currency))
    has_lines = any(wanted[name] for name in LINE_FIELDS)
    has_order_id = bool(wanted["order_id"])
    if has_lines:
        if not has_order_id or not (wanted["quantity"] and wanted["unit_price"]):
            raise OrderFileError(
                "line items need an order id, a quantity and a unit price column "
                "(map order_id, quantity and unit_price)"
            )
        lines = _lines_of(rows)
        orders = _orders_of_lines(rows)
    else:
        lines = _lines_of(rows.clear())
        orders = rows.drop(*LINE_FIELDS)
    times = parse_times(
        orders["placed_at"],
        time_zone=time_zone,
        local_formats=chosen.date_formats if chosen else (),
    )
    text_times = orders["placed_at"]
    orders = orders.with_columns(times.utc.alias("placed_at"))
    _raise_first(
        orders.with_columns(text_times.alias("placed_at_text"), times.skipped.alias("skipped")),
        [
            (
                pl.col("skipped"),
                f"order time does not exist in {time_zone} (clocks skip it in spring)",
            ),
            *_order_checks(generic=chosen is None, has_order_id=has_order_id),
        ],
    )
    orders = _statuses(orders, chosen.statuses if chosen else _GENERIC_STATUSES)
    orders = _customer_keys(orders, chosen).with_columns(pl.col("item_count").cast(pl.Int64))
    if has_order_id:
        if not has_lines:
            _refuse_repeated_ids(orders)
    else:
        # Same customer, time and amount twice is two orders: number the repeats. The key's
        # shape is models.SYNTHESIZED_ORDER_ID, so the console shows no made-up number.
        repeat = pl.int_range(pl.len()).over("customer_external_id", "placed_at", "amount")
        orders = orders.with_columns(
            pl.format(
                "{}-{}-{}-{}",
                pl.col("customer_external_id"),
                pl.col("placed_at").dt.strftime("%Y%m%d%H%M%S"),
                pl.col("amount"),
                repeat,
            ).alias("order_id")
        )
    too_long = _first_line_failing(
        orders,
        (pl.col("order_id").str.len_chars() > 100)
        | (pl.col("customer_external_id").str.len_chars() > 100),
    )
    if too_long is not None:
        raise OrderFileError("customer or order id is longer than 100 characters", line=too_long)
    warnings = []
    if times.local_clock_times and time_zone == "UTC":
        warnings.append(
            f"{times.local_clock_times} order times have no offset and were read as UTC; "
            "if they are the shop's local times, import again with --time-zone "
            "(e.g. Europe/Berlin) or set TIME_ZONE"
        )
    currencies = orders.select("order_id", "currency").rename({"order_id": "order_external_id"})
    return OrderFile(
        orders=orders.rename({"order_id": "order_external_id"}).drop(
            "customer_id", "cancelled_at", "refunded", "amount_after_refunds"
        ),
        lines=lines.join(currencies, on="order_external_id", how="left"),
        layout=chosen.name if chosen else "generic",
        warnings=tuple(warnings),
    )


def _refuse_repeated_ids(orders: pl.DataFrame) -> None:
    duplicate = orders.with_columns(
        pl.col("line").first().over("order_id").alias("first_line")
    ).filter(pl.col("line") != pl.col("first_line"))
    if duplicate.height:
        row = duplicate.row(0, named=True)
        raise OrderFileError(
            f"order id {row['order_id']!r} already used on line {row['first_line']}",
            line=row["line"],
        )


def _describe(row: dict[str, object]) -> str:
    hidden = {"line", "placed_at", "net_amount", "refunded_amount", "keyed_by_email", "skipped"}
    shown = {k: v for k, v in row.items() if v is not None and k not in hidden}
    return ", ".join(f"{k}={_clipped(v)}" for k, v in shown.items())


_COLUMN_OPTION = re.compile(r"^(?P<field>[a-z_]+)=(?P<column>.+)$")


def mapping_from_options(*, base: ColumnMapping, options: list[str]) -> ColumnMapping:
    """Apply `field=column` options (from the command line) on top of a mapping."""
    known = {f.name for f in fields(ColumnMapping)}
    changes: dict[str, str | None] = {}
    for option in options:
        match = _COLUMN_OPTION.match(option)
        if match is None or match["field"] not in known:
            raise OrderFileError(
                f"bad column option {option!r}: use FIELD=COLUMN with FIELD in {sorted(known)}"
            )
        column = match["column"]
        changes[match["field"]] = "" if column == "-" else column
    return ColumnMapping(**{**base.__dict__, **changes})


_RATE_PATTERN = re.compile(r"^\d{1,10}(\.\d{1,8})?$")


def read_rates_file(path: Path) -> dict[str, Decimal]:
    """A shop's exchange rates: a CSV with the columns currency and rate (what one unit
    of the currency is worth in the shop's own), names in any case."""
    if not path.is_file():
        raise OrderFileError(f"no such file: {path}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=_csv_separator(path))
        header = [name.strip().lower() for name in next(reader, [])]
        if "currency" not in header or "rate" not in header:
            raise OrderFileError(f"the header needs the columns currency and rate; it has {header}")
        at, rate_at = header.index("currency"), header.index("rate")
        rates: dict[str, Decimal] = {}
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            currency = row[at].strip().upper() if len(row) > at else ""
            rate = row[rate_at].strip() if len(row) > rate_at else ""
            line = reader.line_num
            if not re.fullmatch(_CURRENCY_PATTERN[1:-1], currency):
                raise OrderFileError(f"currency is not a 3-letter code ({currency!r})", line=line)
            if not _RATE_PATTERN.match(rate) or Decimal(rate) == 0:
                raise OrderFileError(
                    f"rate is not a number above 0 with at most 8 decimals ({rate!r})", line=line
                )
            if currency in rates:
                raise OrderFileError(f"{currency} is given twice", line=line)
            rates[currency] = Decimal(rate)
    if not rates:
        raise OrderFileError("the file has no rates")
    return rates
