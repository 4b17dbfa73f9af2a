"""The published CDNOW results, reproduced from the raw transaction file.

Fader, Hardie & Lee (2005a, 2005b): calibration 1997-01-01 .. 1997-09-30 (39 weeks),
hold-out the next 39 weeks; figures compared to the digits published.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from nextorder.data import CDNOW_SAMPLE
from nextorder.insight import bgnbd, clv, gamma_gamma, holdout, pareto_nbd, rfm
from nextorder.insight.fitting import compress_rows

CALIBRATION_END = date(1997, 9, 30)
HOLDOUT_END = date(1998, 6, 30)


@pytest.fixture(scope="module")
def transactions() -> pl.DataFrame:
    return rfm.scan_cdnow(path=CDNOW_SAMPLE).collect()


@pytest.fixture(scope="module")
def summary(transactions: pl.DataFrame) -> pl.DataFrame:
    return rfm.rfm_summary(
        transactions=transactions, calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END
    ).sort("customer_id")


def columns(summary: pl.DataFrame) -> dict[str, np.ndarray]:
    return {
        "frequency": summary["frequency"].to_numpy().astype(float),
        "recency": summary["recency"].to_numpy(),
        "T": summary["T"].to_numpy(),
    }


@pytest.fixture(scope="module")
def bgnbd_fit(summary: pl.DataFrame) -> bgnbd.BgNbdFit:
    return bgnbd.fit(**columns(summary))


@pytest.fixture(scope="module")
def gamma_gamma_fit(summary: pl.DataFrame) -> gamma_gamma.GammaGammaFit:
    return gamma_gamma.fit(
        frequency=summary["frequency"].to_numpy().astype(float),
        monetary_value=summary["monetary_value"].to_numpy(),
    )


def test_file_reads_as_published(transactions: pl.DataFrame, summary: pl.DataFrame):
    assert transactions.height == 6_919
    assert transactions.schema == pl.Schema(rfm.TRANSACTION_SCHEMA)
    assert summary.height == 2_357
    first_day_buyer = summary.filter(pl.col("customer_id") == "0001")
    assert first_day_buyer["T"].item() == pytest.approx(272 / 7)  # 38.857 weeks
    assert (summary["frequency"] > 0).sum() == 946


def test_bgnbd_matches_published_parameters(bgnbd_fit: bgnbd.BgNbdFit):
    assert bgnbd_fit.converged
    assert round(bgnbd_fit.r, 3) == 0.243
    assert round(bgnbd_fit.alpha, 3) == 4.414
    assert round(bgnbd_fit.a, 3) == 0.793
    assert round(bgnbd_fit.b, 3) == 2.426
    assert round(bgnbd_fit.log_likelihood, 1) == -9582.4
    assert bgnbd_fit.n_customers == 2_357
    assert all(0 < error < np.inf for error in bgnbd_fit.standard_errors.values())


def test_gamma_gamma_matches_published_parameters(gamma_gamma_fit: gamma_gamma.GammaGammaFit):
    assert gamma_gamma_fit.converged
    assert round(gamma_gamma_fit.p, 2) == 6.25
    assert round(gamma_gamma_fit.q, 2) == 3.74
    assert round(gamma_gamma_fit.gamma, 2) == 15.44
    assert (gamma_gamma_fit.n_customers, gamma_gamma_fit.n_left_out) == (946, 1_411)


def test_pareto_nbd_matches_published_parameters(summary: pl.DataFrame):
    fit = pareto_nbd.fit(**columns(summary))
    assert fit.converged
    assert round(fit.r, 3) == 0.553
    assert round(fit.alpha, 3) == 10.578
    assert round(fit.s, 3) == 0.606
    assert round(fit.beta, 3) == 11.669
    assert round(fit.log_likelihood, 1) == -9595.0


def test_weighted_fit_on_distinct_rows_equals_fit_on_all_rows(
    summary: pl.DataFrame, bgnbd_fit: bgnbd.BgNbdFit
):
    data = columns(summary)
    distinct = compress_rows(columns=(data["frequency"], data["recency"], data["T"]))
    assert len(distinct.counts) < len(data["frequency"])
    frequency, recency, age = distinct.columns
    weighted = bgnbd.fit(frequency=frequency, recency=recency, T=age, weights=distinct.counts)
    for name in bgnbd.PARAMETER_NAMES:
        assert getattr(weighted, name) == pytest.approx(getattr(bgnbd_fit, name), rel=1e-6)
    assert weighted.log_likelihood == pytest.approx(bgnbd_fit.log_likelihood, rel=1e-10)
    # The optimum of the weighted fit is a stationary point of the row-by-row likelihood.
    per_row = bgnbd.log_likelihood_gradient(params=weighted, **data).sum(axis=0)
    assert np.abs(per_row).max() < 1e-3
    assert bgnbd.log_likelihood(params=weighted, **data).sum() == pytest.approx(
        weighted.log_likelihood, rel=1e-12
    )


def test_penalizer_shrinks_parameters(summary: pl.DataFrame, bgnbd_fit: bgnbd.BgNbdFit):
    penalized = bgnbd.fit(**columns(summary), penalizer=0.1)
    assert penalized.alpha < bgnbd_fit.alpha
    assert penalized.log_likelihood < bgnbd_fit.log_likelihood


def test_holdout_report_tracks_the_hold_out_period(
    transactions: pl.DataFrame, summary: pl.DataFrame, bgnbd_fit: bgnbd.BgNbdFit
):
    daily_counts = holdout.daily_purchase_counts(
        transactions=transactions, calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END
    )
    assert daily_counts["first_purchases"].sum() == 2_357
    report = holdout.holdout_report(
        summary=summary,
        daily_counts=daily_counts,
        params=bgnbd_fit,
        calibration_end=CALIBRATION_END,
        holdout_end=HOLDOUT_END,
    )
    assert [point.period for point in report.tracking] == list(range(1, 79))
    assert sum(point.in_holdout for point in report.tracking) == 39
    actual = [point.actual for point in report.tracking]
    assert actual == sorted(actual)
    repeat_days = int(summary["frequency"].sum() + summary["frequency_holdout"].sum())
    assert actual[-1] == repeat_days
    assert abs(report.final_cumulative_error_pct) < 5
    assert report.tracking_mape_pct < 5
    assert [row.label for row in report.conditional] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert sum(row.n_customers for row in report.conditional) == 2_357
    assert report.conditional_mape_pct < 20
    zero = report.conditional[0]
    assert (round(zero.actual, 2), round(zero.predicted, 2)) == (0.24, 0.23)


def test_customer_lifetime_value_follows_the_lifetimes_recipe(
    summary: pl.DataFrame, bgnbd_fit: bgnbd.BgNbdFit, gamma_gamma_fit: gamma_gamma.GammaGammaFit
):
    data = columns(summary)
    monetary_value = summary["monetary_value"].to_numpy()
    value = clv.customer_lifetime_value(
        purchase_params=bgnbd_fit,
        spend_params=gamma_gamma_fit,
        monetary_value=monetary_value,
        months=12,
        monthly_discount_rate=0.01,
        **data,
    )
    spend = gamma_gamma.expected_average_value(
        params=gamma_gamma_fit, frequency=data["frequency"], monetary_value=monetary_value
    )
    expected = np.zeros(len(spend))
    for month in range(1, 13):
        in_month = bgnbd.expected_transactions(
            params=bgnbd_fit, t=month * clv.LIFETIMES_WEEKS_PER_MONTH, **data
        ) - bgnbd.expected_transactions(
            params=bgnbd_fit, t=(month - 1) * clv.LIFETIMES_WEEKS_PER_MONTH, **data
        )
        expected += spend * in_month / 1.01**month
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    assert np.all(np.isfinite(value)) and np.all(value >= 0)
