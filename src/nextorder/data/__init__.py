"""Data shipped with NextOrder, found where the package is installed (no Django here,
so benchmarks and kernels' tests can use it too)."""

from __future__ import annotations

from pathlib import Path

CDNOW_SAMPLE = Path(__file__).resolve().parent / "CDNOW_sample.txt"
"""The CDNOW transactions of Fader, Hardie & Lee; see CDNOW_README.md beside it."""
