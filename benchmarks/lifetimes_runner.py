"""Fit the lifetimes reference models on an RFM CSV and print parameters and timings as JSON.

Runs inside var/lifetimes-venv (lifetimes 0.11.3 and its pinned numpy/scipy/pandas),
so it must not import nextorder. Usage:
    python lifetimes_runner.py SUMMARY.csv [--pareto]
where SUMMARY.csv has columns frequency, recency, T, monetary_value (weeks).
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter


def timed(run):
    started = time.perf_counter()
    result = run()
    return result, time.perf_counter() - started


def main() -> None:
    warnings.simplefilter("ignore")
    summary = pd.read_csv(sys.argv[1])
    with_pareto = "--pareto" in sys.argv[2:]
    frequency, recency, age = summary["frequency"], summary["recency"], summary["T"]
    output = {"customers": len(summary)}

    bgf, seconds = timed(lambda: BetaGeoFitter().fit(frequency, recency, age))
    output["bgnbd"] = {
        "params": {name: float(bgf.params_[name]) for name in ("r", "alpha", "a", "b")},
        "seconds": seconds,
    }

    spenders = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    ggf, seconds = timed(
        lambda: GammaGammaFitter().fit(spenders["frequency"], spenders["monetary_value"])
    )
    output["gamma_gamma"] = {
        "params": {
            "p": float(ggf.params_["p"]),
            "q": float(ggf.params_["q"]),
            "gamma": float(ggf.params_["v"]),
        },
        "customers": len(spenders),
        "seconds": seconds,
    }

    clv, seconds = timed(
        lambda: ggf.customer_lifetime_value(
            bgf,
            frequency,
            recency,
            age,
            summary["monetary_value"],
            time=12,
            discount_rate=0.01,
            freq="W",
        )
    )
    output["clv"] = {"mean": float(clv.mean()), "seconds": seconds}

    if with_pareto:
        pnbd, seconds = timed(lambda: ParetoNBDFitter().fit(frequency, recency, age))
        output["pareto_nbd"] = {
            "params": {name: float(pnbd.params_[name]) for name in ("r", "alpha", "s", "beta")},
            "seconds": seconds,
        }
    print(json.dumps(output))


if __name__ == "__main__":
    main()
