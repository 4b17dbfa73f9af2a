"""Where benchmark figures go: one JSON file per benchmark under benchmarks/results/."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write_result(*, name: str, figures: dict[str, Any]) -> Path:
    """Write figures with the machine they were measured on, so runs can be compared."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "figures": figures,
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def print_goals(*, goals: dict[str, bool], path: Path) -> None:
    """The verdict a reader looks for first, and where the figures are."""
    for goal, met in goals.items():
        print(f"  {'PASS' if met else 'FAIL'} {goal}")
    print(f"-> {path}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
