"""Platform exports (Shopify, WooCommerce) import as the generator says they must."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum

from nextorder.crm.importers import OrderFileError
from nextorder.crm.models import CurrencyRate, Customer, Order, OrderLine, Product
from nextorder.crm.services import contact_create, customer_create, orders_import

from .exports import (
    SHOPIFY_COLUMNS,
    Expected,
    generate,
    write_etsy,
    write_magento,
    write_shopify,
    write_woocommerce,
)

pytestmark = pytest.mark.django_db

WRITERS = {
    "shopify": write_shopify,
    "woocommerce": write_woocommerce,
    "magento": write_magento,
    "etsy": write_etsy,
}
# Magento's order grid and Etsy's Orders CSV carry no line items.
WITH_LINES = {"shopify", "woocommerce"}
LAYOUTS = sorted(WRITERS)


def generated(layout: str, orders: int = 60) -> Expected:
    expected = generate(orders=orders)
    return expected.as_etsy() if layout == "etsy" else expected


# The generated shops sell in EUR, USD and GBP; their own currency is EUR.
RATES = {"EUR": Decimal(1), "USD": Decimal(3), "GBP": Decimal(2)}  # no half cents


@pytest.fixture(autouse=True)
def shop_rates(settings):
    settings.NEXTORDER_CURRENCY = "EUR"
    for currency in ("USD", "GBP"):
        CurrencyRate.objects.create(currency=currency, rate=RATES[currency])


def export(tmp_path: Path, layout: str, expected: Expected, name: str = "") -> Path:
    return WRITERS[layout](expected, tmp_path / (name or f"{layout}.csv"))


def import_export(path: Path, **options: object):
    return orders_import(path=path, file_format="csv", time_zone="Europe/Berlin", **options)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_export_imports_as_the_generator_says(tmp_path, layout):
    expected = generated(layout)
    result = import_export(export(tmp_path, layout, expected))

    assert result.layout == layout  # read from the header
    assert result.orders_created == Order.objects.count() == len(expected.orders)
    lines, products = (expected.lines, expected.products) if layout in WITH_LINES else (0, 0)
    assert result.lines_created == OrderLine.objects.count() == lines
    assert result.products_created == Product.objects.count() == products
    assert result.customers_created == Customer.objects.count() == expected.customers(layout)
    assert result.not_counted == expected.not_counted
    assert result.net_sales_added == expected.net_sales
    assert not result.warnings
    by_number = {o.number: o for o in expected.orders}
    for order in Order.objects.annotate(line_count=Count("lines")):
        made = by_number[int(order.external_id.lstrip("#")) % 1_000_000]
        if layout == "etsy":  # a sale's day, midnight in the shop's zone
            day = made.placed_local.replace(hour=0, minute=0, second=0)
            assert order.placed_at == day
        else:
            assert order.placed_at == made.placed_utc.replace(tzinfo=UTC)
        assert (order.amount, order.currency, order.status) == (
            made.total,
            made.currency,
            made.status,
        )
        assert order.refunded_amount == made.refunded
        assert order.line_count == (len(made.items) if layout in WITH_LINES else 0)
        quantity = sum(qty for *_, qty in made.items)
        assert order.item_count == (None if layout == "magento" else quantity)
    # The customers' figures count sales only, net of refunds, in the shop's currency.
    spend = Customer.objects.aggregate(total=Sum("total_spend"))["total"]
    assert spend == sum(net * RATES[currency] for currency, net in expected.net_sales.items())
    assert Customer.objects.aggregate(n=Sum("order_count"))["n"] == sum(
        1 for o in expected.orders if o.status == "paid"
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_second_import_changes_nothing(tmp_path, layout):
    path = export(tmp_path, layout, generated(layout))
    import_export(path)
    before = list(Customer.objects.order_by("id").values_list("id", "order_count", "total_spend"))

    again = import_export(path)

    assert (again.orders_created, again.orders_updated, again.lines_created) == (0, 0, 0)
    assert (again.products_created, again.customers_created) == (0, 0)
    assert again.net_sales_added == {} and again.not_counted == {}
    assert (
        list(Customer.objects.order_by("id").values_list("id", "order_count", "total_spend"))
        == before
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_order_refunded_since_is_updated_not_added(tmp_path, layout):
    expected = generated(layout)
    import_export(export(tmp_path, layout, expected))
    changed = next(o for o in expected.orders if o.status == "paid" and not o.refunded)
    customer = Order.objects.get(external_id__endswith=str(changed.number)).customer
    spend_before = customer.total_spend
    changed.status, changed.refunded = "refunded", changed.total

    result = import_export(export(tmp_path, layout, expected, "later.csv"))

    assert result.orders_created == 0 and result.orders_updated == 1
    assert result.net_sales_added == {changed.currency: -changed.total}
    assert Order.objects.count() == len(expected.orders)
    order = Order.objects.get(external_id__endswith=str(changed.number))
    assert (order.status, order.refunded_amount) == ("refunded", changed.total)
    customer.refresh_from_db()
    assert customer.total_spend == spend_before - changed.total * RATES[changed.currency]


def test_a_guest_with_a_known_address_is_that_customer(tmp_path):
    expected = generate()
    guest = next(o for o in expected.orders if o.person.email and o.status == "paid")
    known = customer_create(name="Known before", external_id="CRM-1")
    contact_create(customer=known, emails=[guest.person.email.upper()])

    import_export(export(tmp_path, "shopify", expected))

    mine = Order.objects.filter(customer=known)
    assert mine.count() == sum(1 for o in expected.orders if o.person is guest.person)
    known.refresh_from_db()
    assert known.total_spend == sum(
        o.net * RATES[o.currency] for o in expected.orders if o.person is guest.person
    )


def test_command_prints_the_summary_as_json(tmp_path):
    expected = generate(orders=20)
    path = export(tmp_path, "woocommerce", expected)
    out = StringIO()

    call_command(
        "import", "orders", str(path), "--time-zone", "Europe/Berlin", "--json", stdout=out
    )

    summary = json.loads(out.getvalue())
    assert summary["layout"] == "woocommerce"
    assert summary["orders_new"] == 20 and summary["orders_known"] == 0
    assert summary["order_lines_new"] == expected.lines
    assert summary["not_counted_as_sales"] == expected.not_counted
    assert summary["net_sales_added"] == {k: str(v) for k, v in expected.net_sales.items()}


def test_local_times_read_as_utc_are_warned_of(tmp_path, settings):
    settings.TIME_ZONE = "UTC"
    path = export(tmp_path, "woocommerce", generate(orders=10))
    err = StringIO()

    call_command("import", "orders", str(path), "--format", "woocommerce", stderr=err, verbosity=0)

    assert "have no offset and were read as UTC" in err.getvalue()
    assert "--time-zone" in err.getvalue()


def test_offsets_are_read_as_given_and_local_times_in_the_zone(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer_id,order_id,placed_at,amount\n"
        "K1,A1,2026-11-15 15:16:58 +0100,1.00\n"
        "K1,A2,2026-07-01T12:00:00+02:00,1.00\n"
        "K1,A3,2026-07-01T12:00:00Z,1.00\n"
        "K1,A4,2026-07-01 12:00,1.00\n"  # summer time in Berlin: UTC+2
        "K1,A5,2026-01-10 12:00,1.00\n"  # winter: UTC+1
    )

    orders_import(path=path, file_format="csv", time_zone="Europe/Berlin")

    times = dict(Order.objects.values_list("external_id", "placed_at"))
    assert times == {
        "A1": datetime(2026, 11, 15, 14, 16, 58, tzinfo=UTC),
        "A2": datetime(2026, 7, 1, 10, tzinfo=UTC),
        "A3": datetime(2026, 7, 1, 12, tzinfo=UTC),
        "A4": datetime(2026, 7, 1, 10, tzinfo=UTC),
        "A5": datetime(2026, 1, 10, 11, tzinfo=UTC),
    }


def test_a_time_the_clocks_skip_is_refused(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,order_id,placed_at,amount\nK1,A1,2026-03-29 02:30,1.00\n")

    with pytest.raises(OrderFileError, match="does not exist in Europe/Berlin") as caught:
        orders_import(path=path, file_format="csv", time_zone="Europe/Berlin")
    assert caught.value.line == 2


def test_an_error_names_the_line_an_editor_shows(tmp_path):
    path = export(tmp_path, "shopify", generate(orders=12))
    text = path.read_text(encoding="utf-8")
    assert '"Leave at door, ""back"" entrance\nthanks!"' in text  # notes span lines
    with path.open("a", newline="", encoding="utf-8") as handle:
        csv.DictWriter(handle, fieldnames=SHOPIFY_COLUMNS).writerow(
            {
                "Name": "#1001",
                "Lineitem quantity": "three",
                "Lineitem name": "Mug",
                "Lineitem price": "1.00",
            }
        )
    editor_line = len(path.read_text(encoding="utf-8").splitlines())
    records = len(list(csv.reader(path.open(encoding="utf-8"))))
    assert editor_line > records

    with pytest.raises(CommandError, match=rf"shopify.csv:{editor_line}: line quantity"):
        call_command("import", "orders", str(path), verbosity=0)
    assert Order.objects.count() == 0


def test_an_order_id_with_two_totals_is_refused(tmp_path):
    path = tmp_path / "woo.csv"
    write_woocommerce(generate(orders=3), path)
    rows = path.read_text(encoding="utf-8").splitlines()
    assert rows[1].startswith("1001,")
    # A row of order 1001 under the number 1002: two orders under one id.
    path.write_text("\n".join([*rows, "1002" + rows[1][4:]]) + "\n", encoding="utf-8")

    with pytest.raises(OrderFileError, match="'1002' has two different totals"):
        import_export(path)
    assert Order.objects.count() == 0


def test_an_unknown_status_is_a_bad_row(tmp_path):
    path = tmp_path / "woo.csv"
    write_woocommerce(generate(orders=3), path)
    text = path.read_text(encoding="utf-8")
    for word in ("Completed", "Pending payment", "Cancelled", "Refunded"):
        text = text.replace(f",{word},", ",Lost in space,")
    path.write_text(text, encoding="utf-8")

    with pytest.raises(OrderFileError, match="status is not one of") as caught:
        import_export(path)
    assert caught.value.line == 2


def test_net_amounts_are_exact(tmp_path):
    expected = generate()
    import_export(export(tmp_path, "shopify", expected))

    for currency, net in expected.net_sales.items():
        orders = Order.objects.sales().filter(currency=currency)
        total = sum((o.amount - o.refunded_amount for o in orders), Decimal(0))
        assert total == net
