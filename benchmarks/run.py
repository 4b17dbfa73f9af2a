"""`make bench`: run every benchmarks/bench_*.py in its own process, in name order.

Each benchmark writes its JSON under benchmarks/results/ and prints a summary; a
separate process per benchmark keeps one's memory and Django set-up out of another's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    names = sys.argv[1:] or sorted(p.stem for p in HERE.glob("bench_*.py"))
    failed = []
    for name in names:
        print(f"== {name}", flush=True)
        completed = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}"], cwd=HERE.parent, check=False
        )
        if completed.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
