"""NextOrder's kernels against the lifetimes library (0.11.3), on the same RFM inputs.

lifetimes is not a NextOrder dependency: it lives in its own venv (var/lifetimes-venv,
created here if absent) and runs in a subprocess, benchmarks/lifetimes_runner.py. Inputs:
the CDNOW sample (published calibration period) and 100,000 customers simulated from
BG/NBD and Gamma-Gamma with the CDNOW parameters. Every model is fitted on both,
Pareto/NBD too: on the simulation it is misspecified, which does not matter for
comparing two implementations of the same likelihood on the same rows.
Goal: ours at least 20x faster, with the same parameters. lifetimes' Pareto/NBD stops
Nelder-Mead at tol=1e-4, so it is also compared with lifetimes' own fit re-converged.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks.results_io import write_result
from nextorder.data import CDNOW_SAMPLE
from nextorder.insight import bgnbd, clv, gamma_gamma, pareto_nbd, rfm

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "var/lifetimes-venv"
VENV_PYTHON = VENV / "bin/python"
WORK_DIR = ROOT / "var/bench"
RUNNER = Path(__file__).resolve().parent / "lifetimes_runner.py"
PINNED = [
    "lifetimes==0.11.3",
    "numpy==1.26.4",
    "pandas==1.5.3",
    "scipy==1.11.4",
    "autograd==1.6.2",
    "setuptools<82",
]
SPEEDUP_GOAL = 20.0
PARAMETER_GOAL = 1e-5
"""Largest relative parameter difference that counts as the same fit."""
RUNS = 5


def ensure_lifetimes() -> str | None:
    """Create the reference venv once; returns an error message if that fails."""
    if VENV_PYTHON.exists():
        return None
    steps = [
        ["python3.11", "-m", "venv", str(VENV)],
        [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", *PINNED],
    ]
    for step in steps:
        completed = subprocess.run(step, capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            return f"{' '.join(step[:4])} failed: {completed.stderr.strip()[-2000:]}"
    return None


def median_seconds(run: Callable[[], Any]) -> tuple[float, Any]:
    timings, result = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def cdnow_summary() -> pl.DataFrame:
    return rfm.rfm_summary_from_file(path=CDNOW_SAMPLE, calibration_end=date(1997, 9, 30))


def simulated_summary() -> pl.DataFrame:
    customers = clv.simulate_customers(
        purchase_params=bgnbd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426),
        spend_params=gamma_gamma.GammaGammaParams(p=6.25, q=3.74, gamma=15.44),
        n_customers=100_000,
        rng=np.random.default_rng(100_000),
    )
    return pl.DataFrame(
        {
            "frequency": customers.frequency,
            "recency": customers.recency,
            "T": customers.T,
            "monetary_value": customers.monetary_value,
        }
    )


def run_ours(summary: pl.DataFrame) -> dict[str, Any]:
    data = {
        "frequency": summary["frequency"].to_numpy().astype(np.float64),
        "recency": summary["recency"].to_numpy(),
        "T": summary["T"].to_numpy(),
    }
    monetary_value = summary["monetary_value"].to_numpy()
    seconds, purchase = median_seconds(lambda: bgnbd.fit(**data))
    output: dict[str, Any] = {
        "bgnbd": {
            "params": {name: getattr(purchase, name) for name in bgnbd.PARAMETER_NAMES},
            "seconds": seconds,
        }
    }
    seconds, spend = median_seconds(
        lambda: gamma_gamma.fit(frequency=data["frequency"], monetary_value=monetary_value)
    )
    output["gamma_gamma"] = {
        "params": {name: getattr(spend, name) for name in gamma_gamma.PARAMETER_NAMES},
        "seconds": seconds,
    }
    seconds, value = median_seconds(
        lambda: clv.customer_lifetime_value(
            purchase_params=purchase, spend_params=spend, monetary_value=monetary_value, **data
        )
    )
    output["clv"] = {"mean": float(np.mean(value)), "seconds": seconds}
    seconds, fitted = median_seconds(lambda: pareto_nbd.fit(**data))
    output["pareto_nbd"] = {
        "params": {name: getattr(fitted, name) for name in pareto_nbd.PARAMETER_NAMES},
        "seconds": seconds,
    }
    return output


def run_lifetimes(summary: pl.DataFrame, *, name: str) -> dict[str, Any]:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = WORK_DIR / f"lifetimes_input_{name}.csv"
    summary.select("frequency", "recency", "T", "monetary_value").write_csv(path)
    command = [str(VENV_PYTHON), str(RUNNER), str(path), "--pareto"]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        return {"error": completed.stderr.strip()[-2000:]}
    return dict(json.loads(completed.stdout))


def _max_relative_difference(ours: dict[str, float], theirs: dict[str, float]) -> float:
    return max(abs(ours[name] - value) / abs(value) for name, value in theirs.items())


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    comparison: dict[str, Any] = {}
    for model in ("bgnbd", "gamma_gamma", "pareto_nbd", "clv"):
        if model not in ours or model not in theirs:
            continue
        row: dict[str, Any] = {
            "ours_s": ours[model]["seconds"],
            "lifetimes_s": theirs[model]["seconds"],
            "speedup": theirs[model]["seconds"] / ours[model]["seconds"],
        }
        if "params" in ours[model]:
            row["max_relative_param_difference"] = _max_relative_difference(
                ours[model]["params"], theirs[model]["params"]
            )
            row["ours_params"] = ours[model]["params"]
            row["lifetimes_params"] = theirs[model]["params"]
            if "converged_params" in theirs[model]:
                row["max_relative_param_difference_converged"] = _max_relative_difference(
                    ours[model]["params"], theirs[model]["converged_params"]
                )
                row["lifetimes_converged_params"] = theirs[model]["converged_params"]
            row["parameter_goal_met"] = (
                row.get(
                    "max_relative_param_difference_converged",
                    row["max_relative_param_difference"],
                )
                <= PARAMETER_GOAL
            )
        else:
            row["relative_mean_difference"] = (
                abs(ours[model]["mean"] - theirs[model]["mean"]) / theirs[model]["mean"]
            )
        row["speedup_goal_met"] = row["speedup"] >= SPEEDUP_GOAL
        comparison[model] = row
    return comparison


def main() -> None:
    figures: dict[str, Any] = {
        "lifetimes_versions": PINNED,
        "speedup_goal": SPEEDUP_GOAL,
        "parameter_goal": PARAMETER_GOAL,
    }
    install_error = ensure_lifetimes()
    figures["lifetimes_install_error"] = install_error
    datasets = {"cdnow": cdnow_summary(), "simulated_100k": simulated_summary()}
    for name, summary in datasets.items():
        ours = run_ours(summary)
        if install_error:
            figures[name] = {"customers": summary.height, "ours": ours}
            continue
        theirs = run_lifetimes(summary, name=name)
        if "error" in theirs:
            figures[name] = {"customers": summary.height, "ours": ours, "lifetimes_error": theirs}
            continue
        figures[name] = {"customers": summary.height, "comparison": compare(ours, theirs)}
    path = write_result(name="bench_lifetimes", figures=figures)

    if install_error:
        print(f"lifetimes could not be installed: {install_error}", file=sys.stderr)
    for name in datasets:
        comparison = figures[name].get("comparison")
        if comparison is None:
            print(f"{name}: no comparison ({figures[name].get('lifetimes_error', 'no lifetimes')})")
            continue
        print(f"{name} ({figures[name]['customers']:,} customers):")
        for model, row in comparison.items():
            agreement = row.get(
                "max_relative_param_difference", row.get("relative_mean_difference")
            )
            converged = row.get("max_relative_param_difference_converged")
            print(
                f"  {model:<12} ours {row['ours_s'] * 1000:8.1f} ms  lifetimes "
                f"{row['lifetimes_s'] * 1000:8.1f} ms  speedup {row['speedup']:6.1f}x "
                f"({'PASS' if row['speedup_goal_met'] else 'FAIL'})  "
                f"max rel. difference {agreement:.1e}"
                + (f" ({converged:.1e} to lifetimes re-converged)" if converged is not None else "")
            )
    print(f"-> {path}")


if __name__ == "__main__":
    main()
