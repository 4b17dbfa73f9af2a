"""Rich progress bars for long management commands: one bar per phase of the work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from nextorder.core.bulk import PhaseProgress


@contextmanager
def phase_progress_bars(*, enabled: bool) -> Iterator[PhaseProgress]:
    """A `PhaseProgress` callback that draws each new phase as its own bar."""
    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
    ) as progress:
        bars: dict[str, TaskID] = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in bars:
                bars[phase] = progress.add_task(phase, total=total)
            progress.update(bars[phase], completed=done, total=total)

        yield report
