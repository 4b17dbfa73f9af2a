"""The value pages as leads and managers see them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from nextorder.crm.models import Customer
from nextorder.crm.services import orders_import
from nextorder.data import CDNOW_SAMPLE
from nextorder.insight.selectors import AtRiskFilters, AtRiskStage, customers_at_risk
from nextorder.insight.services import customers_score, value_models_fit

pytestmark = pytest.mark.django_db


@pytest.fixture
def cdnow():
    orders_import(path=CDNOW_SAMPLE, file_format="cdnow")


def test_value_model_page_before_any_scoring_says_how_to_score(client, lead):
    client.force_login(lead)
    page = client.get(reverse("insight:value_model")).content.decode()
    assert "No customer is scored yet" in page and "nextorder clv score" in page
    assert "No hold-out check yet" in page


def test_value_model_page_shows_totals_parameters_and_the_check(client, lead, cdnow):
    customers_score(as_of=date(1998, 6, 30))
    value_models_fit(calibration_end=date(1997, 9, 30), holdout_end=date(1998, 6, 30))
    client.force_login(lead)

    page = client.get(reverse("insight:value_model")).content.decode()

    assert "2,357" in page  # customers scored
    assert "r = 0.243" in page and "gamma = 15.444" in page and "beta = 11.669" in page
    assert page.count("<svg") == 2 and "hold-out starts" in page
    assert 'id="holdout-conditional"' in page and "7+" in page


def test_value_model_page_warns_when_the_scoring_fit_did_not_converge(client, lead, cdnow):
    fit = customers_score(as_of=date(1998, 6, 30)).fit
    fit.report["converged"]["bgnbd"] = False
    fit.save()
    client.force_login(lead)

    page = client.get(reverse("insight:value_model")).content.decode()

    assert "Did not converge: BG/NBD." in page


def test_value_pages_are_for_leads_sales_and_managers(client, agent, sales_user):
    client.force_login(agent)
    assert client.get(reverse("insight:value_model")).status_code == 403
    client.force_login(sales_user)
    assert client.get(reverse("insight:value_model")).status_code == 200


def test_at_risk_shows_who_can_still_be_kept_apart_from_who_has_gone(client, lead):
    slipping = Customer.objects.create(name="Slipping", value_at_risk=Decimal("80"), p_alive=0.3)
    gone = Customer.objects.create(name="Gone", value_at_risk=Decimal("900"), p_alive=0.001)

    assert customers_at_risk(filters=AtRiskFilters()) == [slipping]
    assert customers_at_risk(filters=AtRiskFilters(stage=AtRiskStage.GONE)) == [gone]
    assert customers_at_risk(filters=AtRiskFilters(stage=AtRiskStage.ALL)) == [gone, slipping]
    client.force_login(lead)
    page = client.get(reverse("insight:at_risk"), {"stage": "gone"}).content.decode()
    assert "Gone" in page and "Slipping" not in page
    # An unknown stage is the default, not an error.
    page = client.get(reverse("insight:at_risk"), {"stage": "nope"}).content.decode()
    assert "Slipping" in page and "Gone</a>" not in page


def test_retention_page_draws_its_charts(client, lead, cdnow):
    client.force_login(lead)
    page = client.get(reverse("insight:retention")).content.decode()
    assert page.count("<svg") == 3
    assert "All cohorts" in page and "Customers won and lost each month" in page


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("insight:at_risk", {"min_value": "NaN"}),
        ("insight:at_risk", {"min_value": "sNaN", "falling": "x", "open_tickets": "1"}),
        ("insight:at_risk", {"min_value": "1e999999"}),
        ("insight:at_risk", {"min_value": "-Infinity", "stage": "all"}),
        ("insight:retention", {"inactive_months": "99999999999999999999"}),
        ("insight:retention", {"inactive_months": "-3"}),
    ],
)
def test_odd_queries_never_500(client, lead, customer, name, query):
    Customer.objects.filter(pk=customer.pk).update(value_at_risk=Decimal("5"), p_alive=0.5)
    client.force_login(lead)
    assert client.get(reverse(name), query).status_code == 200


def test_the_at_risk_list_is_counted_paged_and_downloadable(client, lead):
    """All 230 customers are reachable: 100 a page, counted, and the download has every
    one of them (not only the page), with the filters of the page."""
    Customer.objects.bulk_create(
        Customer(name=f"C{n:03}", value_at_risk=Decimal(1000 - n), p_alive=0.4) for n in range(230)
    )
    client.force_login(lead)
    first = client.get(reverse("insight:at_risk")).content.decode()
    assert "1 to 100 of 230 customers" in first and "C000" in first and "C100" not in first
    last = client.get(reverse("insight:at_risk"), {"page": "3"}).content.decode()
    assert "201 to 230 of 230 customers" in last and "C229" in last and "Next 100" not in last
    # A page beyond the last is the last; a page that is not a number is the first.
    assert "201 to 230" in client.get(reverse("insight:at_risk"), {"page": "99"}).content.decode()
    assert "1 to 100" in client.get(reverse("insight:at_risk"), {"page": "x"}).content.decode()

    download = client.get(reverse("insight:at_risk_csv"), {"min_value": "900"})
    rows = download.content.decode().splitlines()
    assert rows[0].startswith("customer_id,name,value_at_risk_USD,chance_still_buying")
    assert len(rows) == 1 + 101  # values 1000 down to 900


def test_a_minimum_that_is_not_an_amount_is_said_not_ignored(client, lead):
    Customer.objects.create(name="Slipping", value_at_risk=Decimal("80"), p_alive=0.3)
    client.force_login(lead)
    page = client.get(reverse("insight:at_risk"), {"min_value": "abc"}).content.decode()
    assert "&#x27;abc&#x27; is not an amount" in page and "Slipping" in page
