"""The kinds of data file NextOrder reads, shared by the order import and the value models.

Plain Python (no Django), so the insight kernels may use it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

DataFormat = Literal["csv", "parquet", "cdnow"]
DATA_FORMATS: tuple[DataFormat, ...] = ("csv", "parquet", "cdnow")
_SUFFIXES: dict[str, DataFormat] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "cdnow",  # the CDNOW sample's fixed-width text
}


def data_format_of(path: Path) -> DataFormat:
    """The format a file's suffix names; ValueError when it names none."""
    try:
        return _SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"cannot tell the format of {path.name}: pass the format ({', '.join(DATA_FORMATS)})"
        ) from None
