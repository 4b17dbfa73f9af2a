"""Amounts in several currencies are added only through the shop's rates."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from nextorder.crm.models import CurrencyRate, Customer
from nextorder.crm.services import orders_import
from nextorder.insight.selectors import acquisition_cohorts

pytestmark = pytest.mark.django_db

ORDERS = (
    "customer_id,order_id,placed_at,amount,currency,refunded\n"
    "K1,A-1,2026-01-05,100.00,EUR,10.00\n"
    "K1,A-2,2026-01-06,50.00,GBP,\n"
    "K2,A-3,2026-01-07,20.00,EUR,\n"
)


@pytest.fixture
def shop_in_euro(settings):
    settings.NEXTORDER_CURRENCY = "EUR"


def test_sales_without_a_rate_are_kept_but_not_added(tmp_path, shop_in_euro):
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)

    result = orders_import(path=path, file_format="csv")

    assert any("sales in GBP have no rate to EUR" in w for w in result.warnings)
    assert result.net_sales_added == {"EUR": Decimal("110.00"), "GBP": Decimal("50.00")}
    kim = Customer.objects.get(external_id="K1")
    assert (kim.order_count, kim.total_spend) == (2, Decimal("90.00"))
    assert sum(cell.revenue for c in acquisition_cohorts() for cell in c.cells) == 110.0


def test_rates_convert_the_spend_of_the_customers_who_bought_in_them(tmp_path, shop_in_euro):
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS)
    orders_import(path=path, file_format="csv")
    rates = tmp_path / "rates.csv"
    rates.write_text("Currency,Rate\ngbp,1.17\nUSD,0.92\n")
    out = StringIO()

    call_command("rates", "import", str(rates), stdout=out)

    assert "2 rates to EUR, changed: GBP, USD; 1 customers' spend recomputed" in out.getvalue()
    assert Customer.objects.get(external_id="K1").total_spend == Decimal("148.50")
    assert Customer.objects.get(external_id="K2").total_spend == Decimal("20.00")
    assert sum(cell.revenue for c in acquisition_cohorts() for cell in c.cells) == 168.5
    # The same rates again change nothing.
    call_command("rates", "import", str(rates), stdout=out)
    assert "changed: none; 0 customers" in out.getvalue()
    # A later import creates its customers with converted figures.
    later = tmp_path / "later.csv"
    later.write_text("customer_id,order_id,placed_at,amount,currency\nK3,A-9,2026-02-01,10,GBP\n")
    assert not orders_import(path=later, file_format="csv").warnings
    assert Customer.objects.get(external_id="K3").total_spend == Decimal("11.70")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("currency,rate\nGBP,1.17\nEURO,1\n", "rates.csv:3: currency is not a 3-letter code"),
        ("currency,rate\nGBP,-1\n", "rates.csv:2: rate is not a number above 0"),
        ("currency,rate\nGBP,1\nGBP,2\n", "rates.csv:3: GBP is given twice"),
        ("code,value\nGBP,1\n", "needs the columns currency and rate"),
        ("currency,rate\nEUR,2\n", "EUR is the shop's currency"),
    ],
)
def test_a_bad_rates_file_changes_nothing(tmp_path, shop_in_euro, text, message):
    path = tmp_path / "rates.csv"
    path.write_text(text)

    with pytest.raises(CommandError, match=message):
        call_command("rates", "import", str(path), stdout=StringIO())
    assert not CurrencyRate.objects.exists()


def test_rows_without_a_currency_are_in_the_shops(tmp_path, shop_in_euro):
    path = tmp_path / "orders.csv"
    path.write_text("customer_id,order_id,placed_at,amount\nK1,A-1,2026-01-05,10.00\n")

    result = orders_import(path=path, file_format="csv")

    assert result.net_sales_added == {"EUR": Decimal("10.00")} and not result.warnings
    assert Customer.objects.get().total_spend == Decimal("10.00")
