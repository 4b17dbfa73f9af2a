"""From an RFM summary to fitted models, a report and per-customer scores.

The same steps serve `nextorder clv fit` on a file, the console's value model page and
the nightly scoring of the database, so they live here, free of Django: callers bring
the summary (from `insight.rfm` or `insight.selectors`) and store what comes back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
import polars as pl

from nextorder.core import charts
from nextorder.insight import bgnbd, clv, gamma_gamma, holdout, pareto_nbd
from nextorder.insight.clv import PurchaseParams
from nextorder.insight.fitting import FloatArray
from nextorder.insight.rfm import DAYS_PER_WEEK

EXPECTED_ORDERS_DAYS = 90
CLV_MONTHS = 12
DAYS_PER_MONTH = clv.LIFETIMES_WEEKS_PER_MONTH * DAYS_PER_WEEK


class NotEnoughHistory(ValueError):
    """The orders cannot support a fit: nobody has bought, or nobody has bought twice."""


# The purchase models a shop can score with (NEXTORDER_PURCHASE_MODEL). BG/NBD lets a
# customer drop out only after a repeat purchase, so a one-time buyer keeps P(alive) = 1;
# Pareto/NBD lets P(alive) fall for them too, the longer they stay away.
PurchaseModel = Literal["bgnbd", "pareto_nbd"]
PURCHASE_MODELS: tuple[PurchaseModel, ...] = ("bgnbd", "pareto_nbd")


@dataclass(frozen=True)
class ValueFits:
    bgnbd: bgnbd.BgNbdFit
    spend: gamma_gamma.GammaGammaFit
    # Pareto/NBD, the second purchase model: for comparison, or to score with.
    pareto_nbd: pareto_nbd.ParetoNbdFit | None
    penalizer: float = 0.0

    def purchase(self, model: PurchaseModel) -> PurchaseParams:
        if model == "bgnbd":
            return self.bgnbd
        if self.pareto_nbd is None:
            raise ValueError("Pareto/NBD was not fitted; fit with with_pareto=True")
        return self.pareto_nbd


def _column(summary: pl.DataFrame, name: str) -> FloatArray:
    return summary[name].to_numpy().astype(np.float64)


def fit_value_models(
    *, summary: pl.DataFrame, with_pareto: bool = True, penalizer: float = 0.0
) -> ValueFits:
    """BG/NBD and Gamma-Gamma (and Pareto/NBD) on a summary's calibration columns."""
    if summary.height == 0:
        raise NotEnoughHistory("no customer has an order in the calibration period")
    frequency = _column(summary, "frequency")
    if not np.any(frequency > 0):
        raise NotEnoughHistory(
            "no customer has bought on two different days yet: the models learn from repeat "
            "purchases"
        )
    if not np.any(
        gamma_gamma.usable(frequency=frequency, monetary_value=_column(summary, "monetary_value"))
    ):
        raise NotEnoughHistory("no repeat purchase has a value above zero")
    history = {
        "frequency": frequency,
        "recency": _column(summary, "recency"),
        "T": _column(summary, "T"),
    }
    return ValueFits(
        bgnbd=bgnbd.fit(**history, penalizer=penalizer),
        spend=gamma_gamma.fit(
            frequency=frequency,
            monetary_value=_column(summary, "monetary_value"),
            penalizer=penalizer,
        ),
        pareto_nbd=pareto_nbd.fit(**history, penalizer=penalizer) if with_pareto else None,
        penalizer=penalizer,
    )


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity; an undefined figure is null."""
    return value if math.isfinite(value) else None


def _named(fit: object, names: tuple[str, ...]) -> dict[str, float | None]:
    return {name: _finite(float(getattr(fit, name))) for name in names}


def _holdout_json(report: holdout.HoldoutReport) -> dict[str, Any]:
    return {
        "final_cumulative_error_pct": _finite(report.final_cumulative_error_pct),
        "tracking_mape_pct": _finite(report.tracking_mape_pct),
        "conditional_mape_pct": _finite(report.conditional_mape_pct),
        "tracking": [
            {
                "period": point.period,
                "actual": point.actual,
                "predicted": point.predicted,
                "in_holdout": point.in_holdout,
            }
            for point in report.tracking
        ],
        "conditional": [
            {
                "frequency": row.label,
                "customers": row.n_customers,
                "actual": row.actual,
                "predicted": row.predicted,
            }
            for row in report.conditional
        ],
    }


def fit_report(
    *,
    fits: ValueFits,
    summary: pl.DataFrame,
    calibration_end: date,
    holdout_end: date | None = None,
    daily_counts: pl.DataFrame | None = None,
    period_days: float = DAYS_PER_WEEK,
    source: str,
) -> dict[str, Any]:
    """One JSON-ready object: the parameters under their published names (r, alpha, a, b
    for BG/NBD; p, q, gamma for Gamma-Gamma; Pareto/NBD's r, alpha, s, beta under
    "pareto_nbd"), log-likelihoods, and with a hold-out its check for each model."""
    purchase, spend, alternative = fits.bgnbd, fits.spend, fits.pareto_nbd
    report: dict[str, Any] = {
        "source": source,
        "calibration_end": calibration_end.isoformat(),
        "holdout_end": holdout_end.isoformat() if holdout_end else None,
        "period_days": period_days,
        "penalizer": fits.penalizer,
        "customers": summary.height,
        "repeat_customers": int((summary["frequency"] > 0).sum()),
        **_named(purchase, bgnbd.PARAMETER_NAMES),
        **_named(spend, gamma_gamma.PARAMETER_NAMES),
        "standard_errors": {
            name: _finite(error)
            for name, error in {**purchase.standard_errors, **spend.standard_errors}.items()
        },
        "log_likelihood": {
            "bgnbd": purchase.log_likelihood,
            "gamma_gamma": spend.log_likelihood,
            "pareto_nbd": alternative.log_likelihood if alternative else None,
        },
        "converged": {
            "bgnbd": purchase.converged,
            "gamma_gamma": spend.converged,
            "pareto_nbd": alternative.converged if alternative else None,
        },
        "spend_model": {
            "customers": spend.n_customers,
            "left_out": spend.n_left_out,
            "left_out_why": "no repeat purchase, or repeat purchases averaging zero",
        },
        "pareto_nbd": (
            {
                **_named(alternative, pareto_nbd.PARAMETER_NAMES),
                "standard_errors": {
                    name: _finite(error) for name, error in alternative.standard_errors.items()
                },
            }
            if alternative
            else None
        ),
        "holdout": None,
    }
    if holdout_end is not None and daily_counts is not None:
        models: dict[str, PurchaseParams] = {"bgnbd": purchase}
        if alternative:
            models["pareto_nbd"] = alternative
        report["holdout"] = {
            name: _holdout_json(
                holdout.holdout_report(
                    summary=summary,
                    daily_counts=daily_counts,
                    params=params,
                    calibration_end=calibration_end,
                    holdout_end=holdout_end,
                    period_days=period_days,
                )
            )
            for name, params in models.items()
        }
    return report


MODEL_LABELS = {"bgnbd": "BG/NBD", "gamma_gamma": "Gamma-Gamma", "pareto_nbd": "Pareto/NBD"}


def unconverged_models(*, report: dict[str, Any]) -> list[str]:
    """The models of a report whose fit stopped short of the optimum: their figures are a
    guess, and whoever reads them should be told."""
    return [
        MODEL_LABELS[name] for name, converged in report["converged"].items() if converged is False
    ]


def holdout_charts(*, report: dict[str, Any]) -> dict[str, str]:
    """The paper's two figures as SVG: cumulative repeat purchases over time, and
    hold-out purchases by calibration frequency; empty without a hold-out."""
    checks: dict[str, Any] | None = report.get("holdout")
    if not checks:
        return {}
    unit = "week" if report.get("period_days") == DAYS_PER_WEEK else "period"
    first = next(iter(checks.values()))
    tracking = {"Actual": [(p["period"], p["actual"]) for p in first["tracking"]]}
    conditional = {"Actual": [row["actual"] for row in first["conditional"]]}
    for name, check in checks.items():
        label = MODEL_LABELS.get(name, name)
        tracking[label] = [(p["period"], p["predicted"]) for p in check["tracking"]]
        conditional[label] = [row["predicted"] for row in check["conditional"]]
    return {
        "tracking": charts.line_chart_svg(
            series=tracking,
            title="Cumulative repeat purchases: actual and predicted",
            x_label=f"{unit}s since the first customer's first purchase",
            y_label="repeat purchases",
            marker=(
                float(sum(not point["in_holdout"] for point in first["tracking"])),
                "hold-out starts",
            ),
        ),
        "conditional": charts.bar_chart_svg(
            categories=[row["frequency"] for row in first["conditional"]],
            series=conditional,
            title="Hold-out purchases by calibration-period repeat purchases",
            x_label="repeat purchases in the calibration period",
            y_label="mean purchases in the hold-out",
        ),
    }


def _count(number: pl.Expr, unit: str) -> pl.Expr:
    return pl.format(
        "{} {}", number, pl.when(number == 1).then(pl.lit(unit)).otherwise(pl.lit(f"{unit}s"))
    )


def _spoken_span(days: pl.Expr) -> pl.Expr:
    """A span of days in the unit a person would use: 4 days, 6 weeks, 5 months, 2 years."""
    rounded = days.round(0).cast(pl.Int64)
    return (
        pl.when(rounded < 1)
        .then(pl.lit("less than a day"))
        .when(rounded < 14)
        .then(_count(rounded, "day"))
        .when(rounded < 63)
        .then(_count((days / 7).round(0).cast(pl.Int64), "week"))
        .when(rounded < 730)
        .then(_count((days / DAYS_PER_MONTH).round(0).cast(pl.Int64), "month"))
        .otherwise(_count((days / 365.25).round(0).cast(pl.Int64), "year"))
    )


def value_reasons(*, summary: pl.DataFrame, period_days: float = DAYS_PER_WEEK) -> pl.Series:
    """Why a customer is valued as they are, in words an agent reads at a glance:
    "bought on 7 different days, last 5 months ago; usually buys every 6 weeks".

    Days, not orders: the models count one purchase a day, and several orders of one
    day would make "times" disagree with the order count beside it.
    """
    frequency = pl.col("frequency")
    quiet_days = (pl.col("T") - pl.col("recency")) * period_days
    gap_days = pl.col("recency") * period_days / frequency
    return summary.select(
        pl.when(frequency == 0)
        .then(pl.format("bought once, {} ago", _spoken_span(quiet_days)))
        .when(frequency == 1)
        .then(
            pl.format(
                "bought on 2 different days, last {} ago, {} after the first",
                _spoken_span(quiet_days),
                _spoken_span(gap_days),
            )
        )
        .otherwise(
            pl.format(
                "bought on {} different days, last {} ago; usually buys every {}",
                frequency + 1,
                _spoken_span(quiet_days),
                _spoken_span(gap_days),
            )
        )
        .alias("value_reason")
    ).to_series()


def customer_scores(
    *,
    fits: ValueFits,
    summary: pl.DataFrame,
    purchase_model: PurchaseModel = "bgnbd",
    period_days: float = DAYS_PER_WEEK,
    monthly_discount_rate: float = 0.01,
) -> pl.DataFrame:
    """Per customer of the summary, in its row order: 12-month CLV, P(alive), expected
    orders in the next 90 days, value at risk and the reason in words.

    Value at risk is what the business stands to lose: the 12-month value the customer
    would bring if still active, times the probability that they have already gone.
    High for a valuable customer who has gone quiet; low for one who is buying as
    usual, and for one who was never worth much.
    """
    frequency = _column(summary, "frequency")
    scores = clv.score_customers(
        purchase_params=fits.purchase(purchase_model),
        spend_params=fits.spend,
        frequency=frequency,
        recency=_column(summary, "recency"),
        T=_column(summary, "T"),
        monetary_value=_column(summary, "monetary_value"),
        horizon=EXPECTED_ORDERS_DAYS / period_days,
        months=CLV_MONTHS,
        monthly_discount_rate=monthly_discount_rate,
        periods_per_month=DAYS_PER_MONTH / period_days,
    )
    alive = scores.probability_alive
    value = scores.customer_lifetime_value
    # A spend model without a finite mean (q <= 1) values nobody: null, not infinity.
    return (
        pl.DataFrame(
            {
                "clv_12m": np.round(value, 2),
                "p_alive": alive,
                "expected_orders_90d": scores.expected_transactions,
                "value_at_risk": np.round(scores.value_if_alive * (1.0 - alive), 2),
            }
        )
        .with_columns(
            pl.when(pl.col(name).is_finite()).then(pl.col(name)).alias(name)
            for name in ("clv_12m", "p_alive", "expected_orders_90d", "value_at_risk")
        )
        .with_columns(value_reasons(summary=summary, period_days=period_days))
    )
