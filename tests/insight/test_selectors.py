from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from polars.testing import assert_frame_equal

from nextorder.crm.models import Customer
from nextorder.crm.services import orders_import
from nextorder.data import CDNOW_SAMPLE
from nextorder.desk.models import Message, Ticket
from nextorder.desk.services import ticket_reply
from nextorder.insight import rfm
from nextorder.insight.selectors import (
    AtRiskFilters,
    acquisition_cohorts,
    customer_aggregates_from_database,
    customers_at_risk,
    daily_purchase_counts_from_database,
    leaky_bucket,
    rfm_summary_from_database,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def cdnow():
    orders_import(path=CDNOW_SAMPLE, file_format="cdnow")


def test_customer_aggregates_on_cdnow(cdnow):
    rows = customer_aggregates_from_database(
        calibration_end=date(1997, 9, 30), holdout_end=date(1998, 6, 30)
    )

    assert rows.height == 2357
    # Repeat transaction days in the 39 calibration weeks, as in Fader, Hardie & Lee (2005).
    assert rows["frequency"].sum() == 2457
    first = rows.filter(rows["external_id"] == "0001").row(0, named=True)
    assert first["first"] == date(1997, 1, 1) and first["last"] == date(1997, 8, 2)
    assert first["frequency"] == 2 and first["repeat_amount"] == pytest.approx(29.73 + 14.96)
    assert first["frequency_holdout"] == 1 and first["amount_holdout"] == pytest.approx(26.48)


@pytest.mark.parametrize("holdout_end", [None, date(1998, 6, 30)])
def test_database_and_file_summaries_are_identical(cdnow, holdout_end):
    calibration_end = date(1997, 9, 30)
    from_database = rfm_summary_from_database(
        calibration_end=calibration_end, holdout_end=holdout_end
    )
    from_file = rfm.rfm_summary_from_file(
        path=CDNOW_SAMPLE,
        file_format="cdnow",
        calibration_end=calibration_end,
        holdout_end=holdout_end,
    )

    assert from_database["customer_id"].n_unique() == from_database.height == 2357
    assert_frame_equal(
        from_database.drop("customer_id")
        .rename({"external_id": "customer_id"})
        .sort("customer_id"),
        from_file.sort("customer_id"),
        check_column_order=False,
        rel_tol=1e-12,
        abs_tol=1e-9,
    )


def test_same_day_orders_are_one_transaction(customer):
    from nextorder.crm.services import order_create

    order_create(customer=customer, placed_at=customer.last_order_at, amount=Decimal("4.50"))

    row = rfm_summary_from_database(calibration_end=date(2026, 12, 31)).row(0, named=True)
    assert row["frequency"] == 1  # 1 March and 15 March: one repeat day
    assert row["monetary_value"] == pytest.approx(35.50 + 4.50)
    assert row["recency"] == pytest.approx(2.0)


def test_cohorts_and_leaky_bucket_on_cdnow(cdnow):
    cohorts = acquisition_cohorts()
    assert [c.start for c in cohorts] == [date(1997, 1, 1), date(1997, 2, 1), date(1997, 3, 1)]
    assert sum(c.size for c in cohorts) == 2357
    assert all(c.retention(0) == 1.0 for c in cohorts)
    assert 0 < cohorts[0].retention(1) < 0.5

    bucket = leaky_bucket(inactive_months=6, until=date(1998, 6, 30))
    assert bucket[0].month == date(1997, 1, 1) and len(bucket) == 18
    assert sum(m.gained for m in bucket) == 2357
    total = sum(m.first_order_revenue + m.repeat_revenue for m in bucket)
    assert total == pytest.approx(sum(float(line.split()[4]) for line in CDNOW_SAMPLE.open()))
    # Nobody can be lost before they have been quiet for six months.
    assert all(m.lost == 0 for m in bucket[:6]) and bucket[6].lost > 0


def test_customers_at_risk_filters(customer, ticket):
    quiet = Customer.objects.create(
        name="Quiet", value_at_risk=Decimal("90"), p_alive=0.2, p_alive_previous=0.6
    )
    Customer.objects.filter(pk=customer.pk).update(
        value_at_risk=Decimal("40"), p_alive=0.9, p_alive_previous=0.8
    )

    assert [c.name for c in customers_at_risk(filters=AtRiskFilters())] == ["Quiet", "Ada Buyer"]
    assert [c.name for c in customers_at_risk(filters=AtRiskFilters(falling_only=True))] == [
        "Quiet"
    ]
    with_tickets = customers_at_risk(filters=AtRiskFilters(with_open_tickets_only=True))
    assert [(c.name, c.open_tickets) for c in with_tickets] == [("Ada Buyer", 1)]
    assert customers_at_risk(filters=AtRiskFilters(min_value_at_risk=50))[0] == quiet


def test_at_risk_page_and_follow_up(client, lead, customer, contact):
    Customer.objects.filter(pk=customer.pk).update(
        value_at_risk=Decimal("120.00"),
        p_alive=0.3,
        value_reason="bought 2 times, last 8 months ago",
    )
    client.force_login(lead)
    page = client.get(reverse("insight:at_risk"))
    assert page.status_code == 200 and "Bought 2 times" in page.content.decode()
    # In words: what they would be worth, how likely, what to do (120.00 a year if still
    # buying is more than one of their orders, 27.75: worth a follow-up).
    assert "Win back" in page.content.decode()

    response = client.post(reverse("insight:follow_up", args=[customer.pk]))

    ticket = Ticket.objects.get(customer=customer, channel=Ticket.Channel.AGENT)
    assert response.status_code == 302 and response["Location"].endswith(f"/tickets/{ticket.pk}/")
    assert ticket.assignee == lead and ticket.priority == Ticket.Priority.HIGH
    note = ticket.messages.get()
    assert "Value at risk: 120.00" in note.body_text
    assert note.direction == Message.Direction.NOTE  # never sent to the customer
    # The reply box starts with a message in the customer's words, no figures in it.
    page = client.get(response["Location"]).content.decode()
    draft = page[page.index("<textarea") : page.index("</textarea>")]
    assert "Hello Ada," in draft and "15 March 2026" in draft
    assert "120" not in draft and "risk" not in draft

    # A second click finds the open follow-up instead of opening another.
    again = client.post(reverse("insight:follow_up", args=[customer.pk]), follow=True)
    assert Ticket.objects.filter(customer=customer, channel=Ticket.Channel.AGENT).count() == 1
    assert f"has a follow-up open already: #{ticket.pk}" in again.content.decode()
    ticket_reply(ticket=ticket, author=lead, body="Hello Ada, ...", expected_version=ticket.version)
    answered = client.get(response["Location"]).content.decode()
    assert "Hello Ada," not in answered[answered.index("<textarea") :]


def test_agents_do_not_see_value_pages(client, agent):
    client.force_login(agent)
    assert client.get(reverse("insight:at_risk")).status_code == 403
    assert client.get(reverse("insight:retention")).status_code == 403


def test_retention_page_and_csv(client, lead, cdnow):
    client.force_login(lead)
    page = client.get(reverse("insight:retention"))
    assert page.status_code == 200 and "Jan 1997" in page.content.decode()

    cohorts = client.get(reverse("insight:retention_csv", args=["cohorts"]))
    lines = cohorts.content.decode().splitlines()
    assert lines[0].startswith("cohort,cohort_size,month")
    assert lines[1].startswith("1997-01-01,781,1997-01-01,0,781,1.0000")
    bucket = client.get(reverse("insight:retention_csv", args=["leaky-bucket"]))
    assert bucket.content.decode().splitlines()[1].startswith("1997-01-01,781,0,781,")
    assert client.get(reverse("insight:retention_csv", args=["nope"])).status_code == 404


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL planner setting")
def test_the_aggregate_puts_the_planner_setting_back(customer):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_hashagg = on")
        customer_aggregates_from_database(calibration_end=date(2026, 12, 31))
        daily_purchase_counts_from_database(
            calibration_end=date(2026, 3, 31), holdout_end=date(2026, 12, 31)
        )
        cursor.execute("SHOW enable_hashagg")
        assert cursor.fetchone() == ("on",)
