from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum

from nextorder.core.models import Event
from nextorder.crm.importers import ColumnMapping, OrderFileError
from nextorder.crm.models import ContactEmail, Customer, Order, OrderImport
from nextorder.crm.services import orders_import
from tests.conftest import CDNOW_SAMPLE

pytestmark = pytest.mark.django_db


def cdnow_file_total() -> Decimal:
    return sum(
        (
            Decimal(line.split()[4])
            for line in CDNOW_SAMPLE.read_text().splitlines()
            if line.strip()
        ),
        Decimal(0),
    )


def test_cdnow_import_matches_the_file():
    result = orders_import(path=CDNOW_SAMPLE, file_format="cdnow")

    assert result.rows == 6919
    assert Customer.objects.count() == 2357
    assert Order.objects.count() == 6919
    total = Order.objects.aggregate(total=Sum("amount"))["total"]
    assert Decimal(total).quantize(Decimal("0.01")) == cdnow_file_total()
    # The per-customer figures the console shows agree with the orders.
    first = Customer.objects.get(external_id="0001")
    assert first.order_count == 4
    assert first.total_spend == Decimal("100.50")
    assert first.first_order_at.date().isoformat() == "1997-01-01"
    assert first.last_order_at.date().isoformat() == "1997-12-12"
    assert Event.objects.filter(verb="orders.imported").count() == 1


def test_cdnow_import_twice_changes_nothing():
    orders_import(path=CDNOW_SAMPLE, file_format="cdnow")
    before = list(Customer.objects.order_by("id").values_list("id", "order_count", "total_spend"))

    again = orders_import(path=CDNOW_SAMPLE, file_format="cdnow")

    assert again.orders_created == 0
    assert again.orders_existing == 6919
    assert again.customers_created == 0
    assert Order.objects.count() == 6919
    assert (
        list(Customer.objects.order_by("id").values_list("id", "order_count", "total_spend"))
        == before
    )


def write_csv(tmp_path: Path, text: str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD_CSV = """customer_id,order_id,placed_at,amount,email,customer_name
K1,A-1,2026-01-05,10.00,kim@example.com,Kim
K1,A-2,2026-02-05 14:30:00,12.50,kim@example.com,Kim
K2,A-3,20260301,7.25,,Lee
"""


def test_csv_import_creates_customers_contacts_and_orders(tmp_path):
    result = orders_import(path=write_csv(tmp_path, GOOD_CSV), file_format="csv")

    assert (result.orders_created, result.customers_created, result.contacts_created) == (3, 2, 1)
    kim = Customer.objects.get(external_id="K1")
    assert kim.name == "Kim"
    assert kim.order_count == 2 and kim.total_spend == Decimal("22.50")
    assert ContactEmail.objects.get(address="kim@example.com").contact.customer == kim
    assert Order.objects.get(external_id="A-2").placed_at.hour == 14


@pytest.mark.parametrize(
    ("bad_line", "needle"),
    [
        ("K3,A-9,2026-13-01,5.00,,", "not a date"),
        ("K3,A-9,2026-01-01,five,,", "not a number"),
        ("K3,A-9,2026-01-01,-5.00,,", "negative"),
        (",A-9,2026-01-01,5.00,,", "customer id is empty"),
        ("K3,A-1,2026-01-01,5.00,,", "already used on line 2"),
        ("K3,A-9,2026-01-01,5.00,not-an-email,", "email address is not valid"),
    ],
)
def test_a_bad_row_stops_the_import_with_its_line_and_commits_nothing(tmp_path, bad_line, needle):
    path = write_csv(tmp_path, GOOD_CSV + bad_line + "\n")

    with pytest.raises(OrderFileError) as caught:
        orders_import(path=path, file_format="csv")

    assert caught.value.line == 5
    assert needle in caught.value.reason
    assert Order.objects.count() == 0
    assert Customer.objects.count() == 0
    assert OrderImport.objects.count() == 0


def test_email_of_another_customer_is_a_bad_row_and_nothing_is_kept(tmp_path):
    orders_import(path=write_csv(tmp_path, GOOD_CSV), file_format="csv")
    second = write_csv(
        tmp_path,
        "customer_id,order_id,placed_at,amount,email\nK9,B-1,2026-01-01,1.00,x@example.com\n"
        "K9,B-2,2026-01-02,1.00,kim@example.com\n",
        "second.csv",
    )

    with pytest.raises(OrderFileError) as caught:
        orders_import(path=second, file_format="csv")

    assert caught.value.line == 3
    assert not Customer.objects.filter(external_id="K9").exists()
    assert not ContactEmail.objects.filter(address="x@example.com").exists()


def test_missing_column_names_what_the_file_has(tmp_path):
    path = write_csv(tmp_path, "cust,when,value\nK1,2026-01-01,3.00\n")

    with pytest.raises(OrderFileError) as caught:
        orders_import(path=path, file_format="csv")

    assert caught.value.line is None
    assert "['amount', 'customer_id', 'placed_at']" in caught.value.reason
    assert "cust" in caught.value.reason


def test_parquet_with_a_mapping_file(tmp_path):
    pl.DataFrame(
        {
            "Kunde": ["P1", "P1"],
            "Nr": ["X1", "X2"],
            "Datum": ["2026-01-01", "2026-01-09"],
            "Betrag": ["3.50", "4.00"],
            "Stueck": ["1", "2"],
        }
    ).write_parquet(tmp_path / "orders.parquet")
    mapping_file = tmp_path / "mapping.json"
    mapping_file.write_text(
        json.dumps(
            {
                "customer_id": "Kunde",
                "order_id": "Nr",
                "placed_at": "Datum",
                "amount": "Betrag",
                "item_count": "Stueck",
            }
        )
    )

    result = orders_import(
        path=tmp_path / "orders.parquet",
        file_format="parquet",
        mapping=ColumnMapping.from_file(mapping_file),
    )

    assert result.orders_created == 2
    assert Order.objects.get(external_id="X2").item_count == 2


def test_command_reports_the_line_and_keeps_nothing(tmp_path):
    path = write_csv(tmp_path, GOOD_CSV + "K3,A-9,yesterday,5.00,,\n")

    with pytest.raises(CommandError, match=r"orders.csv:5: order date is not a date"):
        call_command("import", "orders", str(path), verbosity=0)
    assert Order.objects.count() == 0


def test_command_maps_columns_from_options(tmp_path):
    path = write_csv(tmp_path, "cust,when,value\nK1,2026-01-01,3.00\nK1,2026-01-01,3.00\n")

    call_command(
        "import",
        "orders",
        str(path),
        "--column",
        "customer_id=cust",
        "--column",
        "placed_at=when",
        "--column",
        "amount=value",
        "--column",
        "order_id=-",
        verbosity=0,
    )
    call_command(
        "import",
        "orders",
        str(path),
        "--column",
        "customer_id=cust",
        "--column",
        "placed_at=when",
        "--column",
        "amount=value",
        "--column",
        "order_id=-",
        verbosity=0,
    )

    # Without order ids, two identical rows are two orders, and a re-run adds none.
    assert Order.objects.count() == 2


def test_cdnow_row_with_missing_field_is_reported(tmp_path):
    path = tmp_path / "cdnow.txt"
    path.write_text(" 00004 0001 19970101  2   29.33\n 00004 0001 19970118  2\n")

    with pytest.raises(OrderFileError) as caught:
        orders_import(path=path, file_format="cdnow")

    assert caught.value.line == 2
