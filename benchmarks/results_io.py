"""Where benchmark figures go: one JSON file per benchmark under benchmarks/results/."""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def child_pids(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS, sum(values[:8]) / CLOCK_TICKS


def _backend_pids() -> list[int]:
    """The bench database's PostgreSQL backends (the workers'), not this process's own."""
    from django.db import connection

    from benchmarks.postgres_db import BENCH_DATABASE

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [BENCH_DATABASE],
        )
        return [row[0] for row in cursor.fetchall()]


def cpu_snapshot(server_pid: int) -> dict[str, Any]:
    """CPU seconds so far of a server and its children, of the bench database's backends
    and of the whole machine: `cpu_used` of two snapshots says where a timed window went."""
    workers = [server_pid, *child_pids(server_pid)]
    backends = _backend_pids()
    busy, total = _machine_busy()
    return {
        "client": time.process_time(),
        "server": {pid: cpu_seconds(pid) for pid in workers},
        "postgres": {pid: cpu_seconds(pid) for pid in backends},
        "machine_busy": busy,
        "machine_total": total,
    }


def cpu_used(before: dict[str, Any], after: dict[str, Any], *, server: str) -> dict[str, float]:
    def summed(kind: str) -> float:
        # A process that appears in the window counts from 0; one that left counts to its end.
        pids = set(before[kind]) | set(after[kind])
        return sum(
            after[kind].get(p, before[kind].get(p, 0.0)) - before[kind].get(p, 0.0) for p in pids
        )

    used = {
        "client_cpu_s": after["client"] - before["client"],
        f"{server}_cpu_s": summed("server"),
        "postgres_bench_backends_cpu_s": summed("postgres"),
        "machine_busy_cpu_s": after["machine_busy"] - before["machine_busy"],
        "machine_capacity_cpu_s": after["machine_total"] - before["machine_total"],
    }
    ours = used["client_cpu_s"] + used[f"{server}_cpu_s"] + used["postgres_bench_backends_cpu_s"]
    used["other_work_cpu_s"] = max(0.0, used["machine_busy_cpu_s"] - ours)
    return {name: round(value, 2) for name, value in used.items()}
