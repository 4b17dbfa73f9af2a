from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from nextorder.core.files import data_format_of


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("orders.csv", "csv"),
        ("ORDERS.CSV", "csv"),
        ("orders.parquet", "parquet"),
        ("orders.pq", "parquet"),
        ("CDNOW_sample.txt", "cdnow"),
    ],
)
def test_the_suffix_names_the_format(name, expected):
    assert data_format_of(Path(name)) == expected


def test_an_unknown_suffix_asks_for_the_format():
    with pytest.raises(ValueError, match="pass the format"):
        data_format_of(Path("orders.xlsx"))


def test_the_import_command_says_so_too(tmp_path):
    with pytest.raises(CommandError, match=r"orders\.xlsx: pass the format"):
        call_command("import", "orders", str(tmp_path / "orders.xlsx"))
