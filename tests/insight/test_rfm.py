"""RFM summary definitions, readers, and the hashed fast path against the exact one."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from nextorder.insight import rfm

CALIBRATION_END = date(2024, 3, 31)
HOLDOUT_END = date(2024, 6, 30)


def frame(rows: list[tuple[str, date, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=rfm.TRANSACTION_SCHEMA, orient="row")


def by_customer(summary: pl.DataFrame) -> dict[str, dict[str, float]]:
    return {row["customer_id"]: row for row in summary.iter_rows(named=True)}


def test_same_day_rows_are_one_transaction_and_first_day_is_not_a_repeat():
    summary = rfm.rfm_summary(
        transactions=frame(
            [
                ("a", date(2024, 1, 1), 10.0),
                ("a", date(2024, 1, 1), 5.0),  # same day: one transaction of 15
                ("a", date(2024, 1, 15), 20.0),
                ("a", date(2024, 1, 15), 4.0),  # same day: 24
                ("a", date(2024, 1, 29), 30.0),
            ]
        ),
        calibration_end=CALIBRATION_END,
    )
    row = by_customer(summary)["a"]
    assert row["frequency"] == 2
    assert row["recency"] == pytest.approx(4.0)  # 28 days
    assert row["T"] == pytest.approx(90 / 7)  # 2024-01-01 .. 2024-03-31
    assert row["monetary_value"] == pytest.approx((24.0 + 30.0) / 2)


def test_one_time_buyer_has_zero_frequency_recency_and_value():
    row = by_customer(
        rfm.rfm_summary(
            transactions=frame([("b", date(2024, 3, 1), 99.0)]), calibration_end=CALIBRATION_END
        )
    )["b"]
    assert (row["frequency"], row["recency"], row["monetary_value"]) == (0, 0.0, 0.0)
    assert row["T"] == pytest.approx(30 / 7)


def test_customers_first_seen_after_calibration_are_left_out_and_holdout_counted():
    summary = rfm.rfm_summary(
        transactions=frame(
            [
                ("a", date(2024, 1, 1), 10.0),
                ("a", date(2024, 3, 31), 12.0),  # calibration end is inclusive
                ("a", date(2024, 4, 2), 7.0),
                ("a", date(2024, 4, 2), 3.0),  # hold-out day of 10
                ("a", date(2024, 5, 1), 20.0),
                ("a", date(2024, 7, 1), 500.0),  # after hold-out: ignored
                ("late", date(2024, 4, 5), 1.0),
            ]
        ),
        calibration_end=CALIBRATION_END,
        holdout_end=HOLDOUT_END,
    )
    assert summary["customer_id"].to_list() == ["a"]
    row = by_customer(summary)["a"]
    assert row["frequency"] == 1
    assert row["monetary_value"] == pytest.approx(12.0)
    assert row["frequency_holdout"] == 2
    assert row["monetary_value_holdout"] == pytest.approx(15.0)
    assert row["duration_holdout"] == pytest.approx(91 / 7)


def test_period_days_sets_the_unit():
    summary = rfm.rfm_summary(
        transactions=frame([("a", date(2024, 1, 1), 1.0), ("a", date(2024, 1, 11), 1.0)]),
        calibration_end=date(2024, 1, 31),
        period_days=1.0,
    )
    assert by_customer(summary)["a"]["recency"] == 10.0
    assert by_customer(summary)["a"]["T"] == 30.0


def test_rejects_holdout_before_calibration_end():
    with pytest.raises(ValueError, match="holdout_end"):
        rfm.rfm_summary(
            transactions=frame([("a", date(2024, 1, 1), 1.0)]),
            calibration_end=CALIBRATION_END,
            holdout_end=CALIBRATION_END,
        )


def random_transactions(seed: int, n_rows: int = 20_000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 120, n_rows)
    return pl.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 1_500, n_rows)],
            "date": [date(2024, 1, 1) + np.timedelta64(int(d), "D").item() for d in days],
            "amount": np.round(rng.gamma(2.0, 10.0, n_rows), 2) * (rng.random(n_rows) > 0.05),
        },
        schema=rfm.TRANSACTION_SCHEMA,
    )


@pytest.mark.parametrize("has_holdout", [False, True])
def test_hashed_path_matches_exact_string_grouping(has_holdout):
    transactions = random_transactions(seed=3).lazy()
    calibration_day = (date(2024, 2, 20) - date(1970, 1, 1)).days
    fast = rfm._customer_aggregates_hashed(
        transactions, calibration_day=calibration_day, has_holdout=has_holdout
    )
    exact = rfm._customer_aggregates_exact(
        transactions, calibration_day=calibration_day, has_holdout=has_holdout
    ).collect()
    assert fast is not None
    assert_frame_equal(
        fast.sort("customer_id"),
        exact.sort("customer_id").select(fast.columns),
        check_dtypes=False,
        rel_tol=1e-12,
    )


def test_summary_matches_a_plain_python_reading_of_the_definitions():
    transactions = random_transactions(seed=5, n_rows=3_000)
    calibration_end, holdout_end = date(2024, 2, 20), date(2024, 4, 10)
    summary = by_customer(
        rfm.rfm_summary(
            transactions=transactions,
            calibration_end=calibration_end,
            holdout_end=holdout_end,
        )
    )
    day_totals: dict[str, dict[date, float]] = {}
    for customer, day, amount in transactions.iter_rows():
        if day <= holdout_end:
            day_totals.setdefault(customer, {}).setdefault(day, 0.0)
            day_totals[customer][day] += amount
    expected = {}
    for customer, totals in day_totals.items():
        first = min(totals)
        if first > calibration_end:
            continue
        calibration = sorted(d for d in totals if d <= calibration_end)
        holdout = [totals[d] for d in totals if d > calibration_end]
        repeats = [totals[d] for d in calibration[1:]]
        expected[customer] = {
            "frequency": len(repeats),
            "recency": (calibration[-1] - first).days / 7,
            "T": (calibration_end - first).days / 7,
            "monetary_value": sum(repeats) / len(repeats) if repeats else 0.0,
            "frequency_holdout": len(holdout),
            "monetary_value_holdout": sum(holdout) / len(holdout) if holdout else 0.0,
        }
    assert summary.keys() == expected.keys()
    for customer, values in expected.items():
        for column, value in values.items():
            assert summary[customer][column] == pytest.approx(value, rel=1e-12, abs=1e-9)


def test_readers_accept_csv_iso_and_yyyymmdd_and_parquet(tmp_path: Path):
    transactions = frame(
        [("7", date(2024, 1, 1), 1.5), ("7", date(2024, 2, 1), 2.5), ("8", date(2024, 1, 9), 3.0)]
    )
    expected = rfm.rfm_summary(transactions=transactions, calibration_end=CALIBRATION_END)
    iso_csv = tmp_path / "iso.csv"
    transactions.rename({"customer_id": "cust", "date": "day", "amount": "value"}).write_csv(
        iso_csv
    )
    compact_csv = tmp_path / "compact.csv"
    transactions.with_columns(pl.col("date").dt.strftime("%Y%m%d")).write_csv(compact_csv)
    parquet = tmp_path / "t.parquet"
    transactions.with_columns(pl.col("customer_id").cast(pl.Int64)).write_parquet(parquet)
    for summary in (
        rfm.rfm_summary_from_file(
            path=iso_csv,
            calibration_end=CALIBRATION_END,
            customer_column="cust",
            date_column="day",
            amount_column="value",
        ),
        rfm.rfm_summary_from_file(path=compact_csv, calibration_end=CALIBRATION_END),
        rfm.rfm_summary_from_file(path=parquet, calibration_end=CALIBRATION_END),
    ):
        assert_frame_equal(summary.sort("customer_id"), expected.sort("customer_id"))


def test_unknown_suffix_needs_an_explicit_format(tmp_path: Path):
    with pytest.raises(ValueError, match=r"cannot tell the format of data\.bin"):
        rfm.scan_transactions(path=tmp_path / "data.bin")


@pytest.mark.parametrize("has_holdout", [False, True])
def test_hash_collisions_are_detected_and_the_summary_stays_exact(monkeypatch, has_holdout):
    transactions = random_transactions(seed=7, n_rows=3_000)
    calibration_end, holdout_end = date(2024, 2, 20), date(2024, 4, 10)
    arguments = {
        "transactions": transactions,
        "calibration_end": calibration_end,
        "holdout_end": holdout_end if has_holdout else None,
    }
    expected = rfm.rfm_summary(**arguments)
    # One bit of customer hash above the day: every customer shares it with half the others.
    monkeypatch.setattr(rfm, "_CUSTOMER_BITS", pl.lit(1 << rfm._DAY_BITS, dtype=pl.UInt64))
    calibration_day = (calibration_end - date(1970, 1, 1)).days
    hashed = rfm._customer_aggregates_hashed(
        transactions.lazy(), calibration_day=calibration_day, has_holdout=has_holdout
    )
    assert hashed is None
    assert_frame_equal(
        rfm.rfm_summary(**arguments).sort("customer_id"), expected.sort("customer_id")
    )


def test_days_outside_the_hashed_window_take_the_exact_path():
    transactions = frame(
        [
            ("a", date(1900, 1, 1), 5.0),  # 124 years before: outside the 16-bit day window
            ("a", date(2024, 1, 10), 7.0),
            ("b", date(2024, 1, 3), 1.0),
        ]
    )
    calibration_day = (CALIBRATION_END - date(1970, 1, 1)).days
    assert (
        rfm._customer_aggregates_hashed(
            transactions.lazy(), calibration_day=calibration_day, has_holdout=False
        )
        is None
    )
    row = by_customer(rfm.rfm_summary(transactions=transactions, calibration_end=CALIBRATION_END))[
        "a"
    ]
    assert row["T"] == pytest.approx((CALIBRATION_END - date(1900, 1, 1)).days / 7)
    assert row["recency"] == pytest.approx((date(2024, 1, 10) - date(1900, 1, 1)).days / 7)
    assert row["monetary_value"] == pytest.approx(7.0)
