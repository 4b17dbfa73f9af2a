from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import Sum

from nextorder.core.models import Event
from nextorder.crm.importers import ColumnMapping, OrderFileError
from nextorder.crm.models import Contact, ContactEmail, Customer, Order, OrderImport
from nextorder.crm.services import customers_refresh_order_stats, orders_import
from nextorder.data import CDNOW_SAMPLE

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
        (f"K3,A-9,2026-01-01,5.00,{'a' * 250}@example.com,", "longer than 254 characters"),
        (f"K3,A-9,2026-01-01,5.00,,{'N' * 201}", "name is longer than 200 characters"),
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


def test_progress_reports_every_phase_in_order(tmp_path):
    phases: list[str] = []

    orders_import(
        path=write_csv(tmp_path, GOOD_CSV),
        file_format="csv",
        progress=lambda phase, done, total: phases.append(phase),
    )

    assert list(dict.fromkeys(phases)) == [
        "reading",
        "customers",
        "contacts",
        "orders",
        "statistics",
    ]


def test_new_customers_count_only_the_orders_this_file_added(tmp_path):
    orders_import(path=write_csv(tmp_path, GOOD_CSV), file_format="csv")
    # A-1 is already Kim's order: K5 gets only A-7, and K6, whose one row is A-2, none.
    second = write_csv(
        tmp_path,
        "customer_id,order_id,placed_at,amount\n"
        "K5,A-1,2026-03-01,99.00\nK5,A-7,2026-03-02,5.00\nK6,A-2,2026-03-03,8.00\n"
        "K1,A-8,2026-04-01,1.25\n",
        "second.csv",
    )

    result = orders_import(path=second, file_format="csv")

    assert (result.orders_created, result.orders_existing, result.customers_created) == (2, 2, 2)
    figures = dict(
        Customer.objects.values_list("external_id", "order_count").filter(
            external_id__in=["K1", "K5", "K6"]
        )
    )
    assert figures == {"K1": 3, "K5": 1, "K6": 0}
    k5 = Customer.objects.get(external_id="K5")
    assert k5.total_spend == Decimal("5.00")
    assert k5.first_order_at == k5.last_order_at == Order.objects.get(external_id="A-7").placed_at
    k6 = Customer.objects.get(external_id="K6")
    assert (k6.total_spend, k6.first_order_at, k6.last_order_at) == (Decimal("0"), None, None)
    assert Customer.objects.get(external_id="K1").total_spend == Decimal("23.75")


def test_an_address_stored_in_mixed_case_is_known(tmp_path, customer):
    contact = Contact.objects.create(customer=customer, name="Ada")
    ContactEmail.objects.create(contact=contact, address="Ada@Example.com", is_primary=True)
    mine = write_csv(
        tmp_path,
        "customer_id,order_id,placed_at,amount,email\nC-1,M-1,2026-05-01,3.00,ada@example.com\n",
    )
    theirs = write_csv(
        tmp_path,
        "customer_id,order_id,placed_at,amount,email\n"
        "Z-1,M-2,2026-05-01,3.00,\nZ-1,M-3,2026-05-02,3.00,ADA@example.com\n",
        "theirs.csv",
    )

    result = orders_import(path=mine, file_format="csv")
    with pytest.raises(OrderFileError) as caught:
        orders_import(path=theirs, file_format="csv")

    assert result.contacts_created == 0
    assert Order.objects.get(external_id="M-1").contact == contact
    assert caught.value.line == 3
    assert f"another customer (#{customer.pk})" in caught.value.reason


def test_an_email_shared_by_two_customers_is_reported_at_its_first_clash(tmp_path):
    rows = "".join(f"K{i},S-{i},2026-01-01,1.00,k{i}@example.com\n" for i in range(200))
    clash = "K7,S-900,2026-01-01,1.00,k3@example.com\nK8,S-901,2026-01-01,1.00,k3@example.com\n"
    path = write_csv(tmp_path, "customer_id,order_id,placed_at,amount,email\n" + rows + clash)

    with pytest.raises(OrderFileError) as caught:
        orders_import(path=path, file_format="csv")

    assert caught.value.line == 202
    assert "used for two customers" in caught.value.reason


def test_refreshing_a_customer_without_orders_gives_zeros(customer):
    Order.objects.filter(customer=customer).delete()

    changed = customers_refresh_order_stats(customer_ids_sql="%s", params=[customer.pk])

    customer.refresh_from_db()
    assert changed == 1
    assert (customer.order_count, customer.total_spend, customer.last_order_at) == (
        0,
        Decimal("0"),
        None,
    )
    assert customers_refresh_order_stats(customer_ids_sql="%s", params=[customer.pk]) == 0


@pytest.mark.django_db(transaction=True)
def test_an_order_id_committed_meanwhile_by_someone_else_is_skipped(tmp_path):
    """Real concurrency: another transaction holds order R-1 while the import inserts it."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the import cannot overlap another")
    owner = Customer.objects.create(name="First", external_id="F-1")
    inserted, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def other_writer():
        try:
            with transaction.atomic():
                Order.objects.create(
                    customer=owner,
                    external_id="R-1",
                    placed_at=datetime(2026, 1, 1, tzinfo=UTC),
                    amount=Decimal("1.00"),
                )
                inserted.set()
                release.wait(timeout=20)
        finally:
            connection.close()

    def importer():
        try:
            outcome["result"] = orders_import(path=path, file_format="csv")
        except Exception as exc:  # the test reports it below
            outcome["error"] = exc
        finally:
            connection.close()

    path = write_csv(
        tmp_path,
        "customer_id,order_id,placed_at,amount\nK7,R-1,2026-02-01,9.00\nK7,R-2,2026-02-02,4.00\n",
    )
    writer = threading.Thread(target=other_writer)
    writer.start()
    assert inserted.wait(timeout=10)
    worker = threading.Thread(target=importer)
    worker.start()
    # Let the import's INSERT reach R-1 and wait on the other transaction's row lock.
    for _ in range(200):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                break
        time.sleep(0.05)
    release.set()
    writer.join(timeout=30)
    worker.join(timeout=60)

    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    assert (result.orders_created, result.orders_existing) == (1, 1)
    assert Order.objects.get(external_id="R-1").customer == owner
    k7 = Customer.objects.get(external_id="K7")
    assert (k7.order_count, k7.total_spend) == (1, Decimal("4.00"))


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_csv_separated_otherwise_than_by_commas_is_read(tmp_path, separator):
    path = write_csv(tmp_path, GOOD_CSV.replace(",", separator))

    result = orders_import(path=path, file_format="csv")

    assert (result.orders_created, result.customers_created) == (3, 2)
    assert Customer.objects.get(external_id="K1").total_spend == Decimal("22.50")


def test_a_binary_file_is_refused_for_what_it_is(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(b"customer_id,placed_at,amount\n" + bytes(range(256)) * 40)

    with pytest.raises(OrderFileError, match=r"not text .*binary data"):
        orders_import(path=path, file_format="csv")


def test_an_error_shows_a_long_header_and_long_values_cut_short(tmp_path):
    header = ",".join(f"column_{i}_{'x' * 60}" for i in range(30))
    path = write_csv(tmp_path, header + "\n" + ",".join("1" * 30) + "\n")

    with pytest.raises(OrderFileError) as caught:
        orders_import(path=path, file_format="csv")

    assert "and 18 more" in caught.value.reason and len(caught.value.reason) < 1000


def test_columns_are_matched_without_regard_to_case_and_names_join_columns(tmp_path):
    path = write_csv(
        tmp_path,
        "Customer_ID,ORDER_ID,Placed_At,Amount,First Name,Last Name,EMAIL\n"
        'K1,A-1,2026-01-05,10.00,Zoë,"Müller, Jr.",Zoe@Example.com\n'
        "K1,A-2,2026-02-05,5.00,Zoë,Müller,ZOE@example.COM\n",
    )

    call_command(
        "import",
        "orders",
        str(path),
        "--column",
        "customer_name=first name+LAST NAME",
        "--column",
        "amount=AMOUNT",
        verbosity=0,
    )

    customer = Customer.objects.get()
    assert customer.name == "Zoë Müller, Jr."
    assert customer.order_count == 2 and customer.total_spend == Decimal("15.00")
    assert list(ContactEmail.objects.values_list("address", flat=True)) == ["zoe@example.com"]


def test_a_generic_file_reads_status_and_refunds(tmp_path, settings):
    settings.NEXTORDER_CURRENCY = "EUR"
    path = write_csv(
        tmp_path,
        "customer_id,order_id,placed_at,amount,currency,status,refunded\n"
        "K1,A-1,2026-01-05,10.00,EUR,completed,2.50\n"
        "K1,A-2,2026-01-06,20.00,EUR,cancelled,\n"
        "K1,A-3,2026-01-07,30.00,GBP,pending,\n"
        "K1,A-4,2026-01-08,40.00,EUR,refunded,\n",
    )

    result = orders_import(path=path, file_format="csv")

    assert result.not_counted == {"cancelled": 1, "pending": 1, "refunded": 1}
    assert result.net_sales_added == {"EUR": Decimal("7.50")}
    customer = Customer.objects.get()
    assert (customer.order_count, customer.total_spend) == (1, Decimal("7.50"))
    assert Order.objects.get(external_id="A-4").refunded_amount == Decimal("40.00")
