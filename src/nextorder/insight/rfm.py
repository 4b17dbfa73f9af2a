"""Transactions in, one RFM row per customer out: the input every customer-value model uses.

Definitions (the Django side reproduces them as one SQL GROUP BY; keep both in step):

* A *transaction* is a (customer, calendar day): all rows of one customer on one day
  are merged and their amounts summed. The models count at most one purchase a day.
* Only days on/before ``holdout_end`` (or ``calibration_end`` without a hold-out) count,
  and only customers whose first day is on/before ``calibration_end`` are returned.
* ``first`` = the customer's first day; ``last`` = their last day on/before
  ``calibration_end``; ``unit`` = ``period_days`` (7: weeks).
* ``frequency`` = number of calibration days - 1 (repeat purchase days).
* ``recency`` = (last - first).days / unit.
* ``T`` = (calibration_end - first).days / unit. With CDNOW and calibration_end
  1997-09-30, a customer first buying on 1997-01-01 has T = 272 / 7 = 38.857, as in
  the published data.
* ``monetary_value`` = (sum of calibration day amounts - first day amount) / frequency,
  the mean repeat-day amount; 0 when frequency is 0.
* With a hold-out (calibration_end < day <= holdout_end):
  ``frequency_holdout`` = number of hold-out days; ``monetary_value_holdout`` = mean
  hold-out day amount, 0 when there are none; ``duration_holdout`` =
  (holdout_end - calibration_end).days / unit, the same for everyone.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from nextorder.core.files import DataFormat, data_format_of

DAYS_PER_WEEK = 7.0
TRANSACTION_SCHEMA = {"customer_id": pl.Utf8, "date": pl.Date, "amount": pl.Float64}


def scan_transactions(
    *,
    path: Path | str,
    file_format: DataFormat | None = None,
    customer_column: str = "customer_id",
    date_column: str = "date",
    amount_column: str = "amount",
) -> pl.LazyFrame:
    """Lazily read transactions as (customer_id Utf8, date Date, amount Float64).

    Lazy so that the summary's projections and filters reach the Parquet reader. The
    format follows the file suffix unless given; dates may be ISO dates or YYYYMMDD.
    """
    path = Path(path)
    chosen = file_format or data_format_of(path)
    if chosen == "cdnow":
        return scan_cdnow(path=path)
    frame = pl.scan_parquet(path) if chosen == "parquet" else pl.scan_csv(path, infer_schema=False)
    date_type = frame.collect_schema()[date_column]
    return frame.select(
        pl.col(customer_column).cast(pl.Utf8).alias("customer_id"),
        _as_date(pl.col(date_column), date_type).alias("date"),
        pl.col(amount_column).cast(pl.Float64).alias("amount"),
    )


def scan_cdnow(*, path: Path | str) -> pl.LazyFrame:
    """The CDNOW fixed-width sample: the sample id (column 2) is the customer."""
    lines = pl.scan_csv(
        path, has_header=False, new_columns=["line"], separator="\x1f", infer_schema=False
    )
    parts = pl.col("line").str.extract_all(r"\S+")
    return lines.select(
        parts.list.get(1).alias("customer_id"),
        parts.list.get(2).str.to_date("%Y%m%d").alias("date"),
        parts.list.get(4).cast(pl.Float64).alias("amount"),
    )


def _as_date(column: pl.Expr, date_type: pl.DataType) -> pl.Expr:
    """Accept Date/Datetime columns, ISO date strings and YYYYMMDD (string or integer).

    Typed columns are used as they are: parsing 10 million dates as text costs seconds.
    """
    if date_type == pl.Date:
        return column
    if isinstance(date_type, pl.Datetime):
        return column.dt.date()
    text = column.cast(pl.Utf8).str.slice(0, 10)
    return (
        pl.when(text.str.contains("-"))
        .then(text.str.to_date("%Y-%m-%d", strict=False))
        .otherwise(text.str.to_date("%Y%m%d", strict=False))
    )


def daily_transactions(*, transactions: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """One row per (customer_id, date) with the day's amounts summed."""
    return transactions.lazy().group_by("customer_id", "date").agg(pl.col("amount").sum())


_EPOCH = date(1970, 1, 1)
_DAY_BITS = 16
_DAY_OFFSETS = (1 << _DAY_BITS) - 1
_CUSTOMER_BITS = pl.lit(((1 << 64) - 1) ^ _DAY_OFFSETS, dtype=pl.UInt64)
_HASH_SEEDS = (0, 2)
"""A second try with other seeds makes a 48-bit collision (~N^2 / 2^49 for N customers)
send the summary to the slow exact path only with that probability squared."""


def _per_customer(
    days: pl.LazyFrame,
    *,
    key: str,
    calibration_day: int,
    has_holdout: bool,
) -> pl.LazyFrame:
    """Aggregate day rows (key, day: Int32 days since 1970, amount) per customer.

    Every aggregation is a plain min/max/sum: conditional expressions inside a group_by
    context are several times slower. With a hold-out, calibration and hold-out days
    are grouped apart and joined: customers whose first day is in the hold-out drop out
    here, as the summary leaves them out anyway.
    """
    calibration = (
        pl.col("day").min().alias("first"),
        pl.col("amount").min_by("day").alias("first_amount"),
        pl.col("day").max().alias("last"),
        pl.len().alias("calibration_days"),
        pl.col("amount").sum().alias("calibration_amount"),
    )
    if not has_holdout:
        return days.group_by(key).agg(*calibration)
    in_calibration = pl.col("day") <= calibration_day
    holdout = (
        days.filter(~in_calibration)
        .group_by(key)
        .agg(pl.len().alias("holdout_days"), pl.col("amount").sum().alias("holdout_amount"))
    )
    return (
        days.filter(in_calibration)
        .group_by(key)
        .agg(*calibration)
        .join(holdout, on=key, how="left")
        .with_columns(
            (pl.col("calibration_days") + pl.col("holdout_days").fill_null(0)).alias("days"),
            (pl.col("calibration_amount") + pl.col("holdout_amount").fill_null(0.0)).alias(
                "total_amount"
            ),
        )
        .drop("holdout_days", "holdout_amount")
    )


def _customer_aggregates_exact(
    transactions: pl.LazyFrame, *, calibration_day: int, has_holdout: bool
) -> pl.LazyFrame:
    """Group on the customer_id strings themselves: the reference, and the fallback."""
    days = transactions.group_by("customer_id", pl.col("date").cast(pl.Int32).alias("day")).agg(
        pl.col("amount").sum()
    )
    return _per_customer(
        days, key="customer_id", calibration_day=calibration_day, has_holdout=has_holdout
    )


def _customer_aggregates_hashed(
    transactions: pl.LazyFrame, *, calibration_day: int, has_holdout: bool, seed: int = 0
) -> pl.DataFrame | None:
    """The same aggregates grouped on hashes, several times faster than on strings.

    A (customer, day) is one 64-bit key: the top 48 bits of the customer's hash and, in
    the low 16, the day counted back from calibration_day + 2^15 (so days within about
    89 years either side). Each key is one customer and one day by construction, and
    the day is read back from the key. Same-day rows are rare (about 1% in the
    benchmark), so instead of grouping every row by key (a hash table of ten million
    entries), a SIMD sort of the bare keys finds the repeated ones and only their rows
    are grouped.

    Collisions are detected, never silently merged: each customer's name comes from the
    first row of each distinct value of a second, independent hash of customer_id, so
    two customers sharing the 48 bits bring two names to one group and two sharing the
    second hash leave a group without a name; a day before the window shows as its
    first day. On any of these this returns None; another seed, or the exact path, is
    then taken. Callers keep days after the window (a hold-out of 89 years) away.
    """
    anchor = calibration_day + (1 << (_DAY_BITS - 1))
    offset = (anchor - pl.col("date").cast(pl.Int32)).clip(0, _DAY_OFFSETS).cast(pl.UInt64)
    rows = transactions.select(
        pl.col("customer_id"),
        ((pl.col("customer_id").hash(seed=seed) & _CUSTOMER_BITS) | offset).alias("k"),
        pl.col("amount"),
    ).collect()
    keys = np.sort(rows["k"].to_numpy())
    repeated = pl.Series(np.unique(keys[1:][keys[1:] == keys[:-1]]))
    is_repeated = pl.col("k").is_in(repeated.implode())
    day_rows = pl.concat(
        [
            rows.lazy().filter(~is_repeated).select("k", "amount"),
            rows.lazy().filter(is_repeated).group_by("k").agg(pl.col("amount").sum()),
        ]
    )
    days = day_rows.select(
        (pl.col("k") & _CUSTOMER_BITS).alias("h"),
        (anchor - (pl.col("k") & _DAY_OFFSETS).cast(pl.Int32)).alias("day"),
        pl.col("amount"),
    )
    per_customer = _per_customer(
        days, key="h", calibration_day=calibration_day, has_holdout=has_holdout
    )
    names = (
        rows.lazy()
        .select((pl.col("k") & _CUSTOMER_BITS).alias("h"), pl.col("customer_id"))
        .filter(pl.col("customer_id").hash(seed=seed + 1).is_first_distinct())
    )
    # h_right is null where no name matched (customer_id itself may be null).
    result = per_customer.join(names, on="h", how="left", coalesce=False).collect()
    if result.height and (
        result["h_right"].null_count() > 0
        or result["h"].n_unique() != result.height
        or result["first"].min() == anchor - _DAY_OFFSETS
    ):
        return None
    return result.drop("h", "h_right")


def rfm_summary(
    *,
    transactions: pl.LazyFrame | pl.DataFrame,
    calibration_end: date,
    holdout_end: date | None = None,
    period_days: float = DAYS_PER_WEEK,
) -> pl.DataFrame:
    """RFM summary per customer, in no particular order; see the module docstring.

    Not sorted: on a million customers sorting the ids costs a fifth of the budget, and
    callers join or sort on customer_id as they need.
    """
    if holdout_end is not None and holdout_end <= calibration_end:
        raise ValueError("holdout_end must be after calibration_end")
    last_counted = holdout_end or calibration_end
    counted = transactions.lazy().filter(pl.col("date") <= last_counted)
    calibration_day = (calibration_end - _EPOCH).days
    has_holdout = holdout_end is not None
    aggregates = None
    if (last_counted - calibration_end).days < 1 << (_DAY_BITS - 1):
        for seed in _HASH_SEEDS:
            aggregates = _customer_aggregates_hashed(
                counted, calibration_day=calibration_day, has_holdout=has_holdout, seed=seed
            )
            if aggregates is not None:
                break
    if aggregates is None:
        aggregates = _customer_aggregates_exact(
            counted, calibration_day=calibration_day, has_holdout=has_holdout
        ).collect()
    derived = aggregates.lazy().with_columns(
        (pl.col("calibration_days") - 1).alias("frequency"),
        (pl.col("calibration_amount") - pl.col("first_amount")).alias("repeat_amount"),
        *(
            [
                (pl.col("days") - pl.col("calibration_days")).alias("frequency_holdout"),
                (pl.col("total_amount") - pl.col("calibration_amount")).alias("amount_holdout"),
            ]
            if has_holdout
            else []
        ),
    )
    return summary_from_aggregates(
        aggregates=derived,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        period_days=period_days,
    )


def summary_from_aggregates(
    *,
    aggregates: pl.LazyFrame | pl.DataFrame,
    calibration_end: date,
    holdout_end: date | None = None,
    period_days: float = DAYS_PER_WEEK,
    keys: tuple[str, ...] = ("customer_id",),
) -> pl.DataFrame:
    """The summary from per-customer aggregates, however they were computed.

    Polars computes them here from a file, `insight.selectors` in one SQL GROUP BY; both
    end in this function so the definitions cannot drift apart. Columns in: customer_id,
    first and last (dates, or days since 1970), frequency (repeat calibration days),
    repeat_amount (their total) and, with a hold-out, frequency_holdout and
    amount_holdout. Customers whose first day is after `calibration_end` are dropped;
    `keys` are the identifying columns carried through.
    """
    calibration_day = (calibration_end - _EPOCH).days
    frame = aggregates.lazy().with_columns(pl.col("first", "last").cast(pl.Int32))
    frequency = pl.col("frequency")
    columns = [
        *(pl.col(key) for key in keys),
        frequency.cast(pl.Int64).alias("frequency"),
        ((pl.col("last") - pl.col("first")) / period_days).alias("recency"),
        ((calibration_day - pl.col("first")) / period_days).alias("T"),
        _mean_or_zero(pl.col("repeat_amount"), frequency).alias("monetary_value"),
    ]
    if holdout_end is not None:
        holdout_days = (holdout_end - calibration_end).days
        columns += [
            pl.col("frequency_holdout").cast(pl.Int64),
            _mean_or_zero(pl.col("amount_holdout"), pl.col("frequency_holdout")).alias(
                "monetary_value_holdout"
            ),
            pl.lit(holdout_days / period_days, dtype=pl.Float64).alias("duration_holdout"),
        ]
    return frame.filter(pl.col("first") <= calibration_day).select(columns).collect()


def rfm_summary_from_file(
    *,
    path: Path | str,
    calibration_end: date,
    holdout_end: date | None = None,
    period_days: float = DAYS_PER_WEEK,
    file_format: DataFormat | None = None,
    customer_column: str = "customer_id",
    date_column: str = "date",
    amount_column: str = "amount",
) -> pl.DataFrame:
    """``scan_transactions`` then ``rfm_summary``, keeping the scan lazy end to end."""
    transactions = scan_transactions(
        path=path,
        file_format=file_format,
        customer_column=customer_column,
        date_column=date_column,
        amount_column=amount_column,
    )
    return rfm_summary(
        transactions=transactions,
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        period_days=period_days,
    )


def _mean_or_zero(total: pl.Expr, count: pl.Expr) -> pl.Expr:
    return pl.when(count > 0).then(total / count).otherwise(0.0).cast(pl.Float64)
