"""Reading a shop's order history from CSV, Parquet or the CDNOW fixed-width format.

This module only reads and validates (with Polars, vectorised); `services.orders_import`
writes. Validation reports the first bad row with its line number in the file (header
is line 1 of a CSV; one record per line is assumed), so a user can fix the file and
run the import again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from pathlib import Path

import polars as pl

from nextorder.core.files import DATA_FORMATS, DataFormat

CHANNELS = ("web", "store", "phone", "marketplace", "sales_rep", "other")
_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
    "%Y%m%d",
)
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


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of the file holds which field.

    None (the default) means the column named like the field, if the file has one;
    "" means the file has no such column even if one is named like it. Without an order
    id column, ids are derived from customer, time and amount (with a counter for
    identical rows), which keeps re-imports of the same file idempotent.
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

    def resolve(self, *, available: list[str]) -> dict[str, str | None]:
        """The file column of each field, or None; a named column must exist."""
        resolved: dict[str, str | None] = {}
        missing = []
        for spec in fields(self):
            chosen = getattr(self, spec.name)
            if chosen is None:
                chosen = spec.name if spec.name in available or spec.name in REQUIRED_FIELDS else ""
            if chosen and chosen not in available:
                missing.append(chosen)
            resolved[spec.name] = chosen or None
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


def _first_line_failing(frame: pl.DataFrame, condition: pl.Expr) -> int | None:
    hits = frame.select(pl.col("line").filter(condition).first()).item()
    return int(hits) if hits is not None else None


def _parse_datetimes(text: pl.Series) -> pl.Series:
    """Each value read with the first format that fits it.

    A file keeps to one format, so the first or second format usually reads every value;
    the later ones only run while some value is still unread.
    """
    text = text.str.strip_chars()
    parsed = pl.Series(text.name, [None] * text.len(), dtype=pl.Datetime("us"))
    for fmt in _DATETIME_FORMATS:
        parsed = parsed.fill_null(text.str.strptime(pl.Datetime("us"), fmt, strict=False))
        if parsed.null_count() == text.null_count():
            break
    return parsed


def read_order_file(
    *,
    path: Path,
    file_format: DataFormat,
    mapping: ColumnMapping | None = None,
    default_currency: str = "USD",
    time_zone: str = "UTC",
) -> pl.DataFrame:
    """Read, check and normalise an order file; raise OrderFileError at the first bad row.

    The result has one row per order: line, customer_external_id, order_external_id,
    placed_at (naive UTC; the file's times are read in `time_zone`), amount (text, exact),
    currency, channel, item_count, customer_name, email, contact_name, sales_rep.
    """
    if file_format not in DATA_FORMATS:
        raise OrderFileError(f"unknown format {file_format!r}; use one of {DATA_FORMATS}")
    raw = _read_raw(path, file_format)
    wanted = (mapping or ColumnMapping()).resolve(available=raw.columns)
    first_line = 2 if file_format == "csv" else 1
    raw = raw.with_row_index("line", offset=first_line)
    if raw.height == 0:
        raise OrderFileError("the file has no order rows")

    def column(field: str) -> pl.Expr:
        name = wanted[field]
        if name is None:
            return pl.lit(None, dtype=pl.Utf8)
        return pl.col(name).str.strip_chars()

    frame = raw.select(
        "line",
        column("customer_id").alias("customer_external_id"),
        column("order_id").alias("order_external_id"),
        column("placed_at").alias("placed_at_text"),
        column("amount").alias("amount"),
        column("currency").str.to_uppercase().fill_null(default_currency).alias("currency"),
        column("channel").str.to_lowercase().fill_null("web").alias("channel"),
        column("item_count").alias("item_count_text"),
        column("customer_name").alias("customer_name"),
        column("email").str.to_lowercase().alias("email"),
        column("contact_name").alias("contact_name"),
        column("sales_rep").alias("sales_rep"),
    )
    frame = frame.with_columns(_parse_datetimes(frame["placed_at_text"]).alias("placed_at"))

    checks: list[tuple[pl.Expr, str]] = [
        (pl.col("customer_external_id").fill_null("") == "", "customer id is empty"),
        (pl.col("placed_at").is_null(), "order date is not a date (use YYYY-MM-DD or YYYYMMDD)"),
        (
            ~pl.col("amount").fill_null("").str.contains(_AMOUNT_PATTERN),
            "amount is not a number with at most 2 decimals",
        ),
        (pl.col("amount").str.starts_with("-"), "amount is negative"),
        (~pl.col("currency").str.contains(_CURRENCY_PATTERN), "currency is not a 3-letter code"),
        (~pl.col("channel").is_in(CHANNELS), f"channel is not one of {', '.join(CHANNELS)}"),
        (
            pl.col("item_count_text").is_not_null()
            & ~pl.col("item_count_text").str.contains(r"^\d{1,9}$"),
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
    if wanted["order_id"] is not None:
        checks.append((pl.col("order_external_id").fill_null("") == "", "order id is empty"))
    failures = [
        (line, reason)
        for condition, reason in checks
        if (line := _first_line_failing(frame, condition)) is not None
    ]
    if failures:
        line, reason = min(failures)
        value = frame.filter(pl.col("line") == line).row(0, named=True)
        raise OrderFileError(f"{reason} ({_describe(value)})", line=line)

    frame = frame.with_columns(
        pl.col("item_count_text").cast(pl.Int64).alias("item_count"),
        pl.col("placed_at")
        .dt.replace_time_zone(time_zone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None),
    )
    if (gap := _first_line_failing(frame, pl.col("placed_at").is_null())) is not None:
        raise OrderFileError(f"order time does not exist in {time_zone} (a DST gap)", line=gap)
    if wanted["order_id"] is None:
        # Same customer, time and amount twice is two orders: number the repeats.
        repeat = pl.int_range(pl.len()).over("customer_external_id", "placed_at", "amount")
        frame = frame.with_columns(
            pl.format(
                "{}-{}-{}-{}",
                pl.col("customer_external_id"),
                pl.col("placed_at").dt.strftime("%Y%m%d%H%M%S"),
                pl.col("amount"),
                repeat,
            ).alias("order_external_id")
        )
    else:
        duplicate = frame.with_columns(
            pl.col("line").first().over("order_external_id").alias("first_line")
        ).filter(pl.col("line") != pl.col("first_line"))
        if duplicate.height:
            row = duplicate.row(0, named=True)
            raise OrderFileError(
                f"order id {row['order_external_id']!r} already used on line {row['first_line']}",
                line=row["line"],
            )
    too_long = _first_line_failing(
        frame,
        (pl.col("order_external_id").str.len_chars() > 100)
        | (pl.col("customer_external_id").str.len_chars() > 100),
    )
    if too_long is not None:
        raise OrderFileError("customer or order id is longer than 100 characters", line=too_long)
    return frame.drop("placed_at_text", "item_count_text")


def _describe(row: dict[str, object]) -> str:
    shown = {k: v for k, v in row.items() if v is not None and k not in {"line", "placed_at"}}
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
