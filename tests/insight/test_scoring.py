"""Scoring the database's customers, recorded fits, the `clv` command and the nightly task."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import numpy as np
import polars as pl
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from nextorder.core.models import Event
from nextorder.crm.models import Customer
from nextorder.crm.services import order_create, orders_import
from nextorder.data import CDNOW_SAMPLE
from nextorder.desk.models import Ticket
from nextorder.desk.services import ticket_open, ticket_update
from nextorder.insight import holdout, rfm
from nextorder.insight.models import ValueModelFit
from nextorder.insight.selectors import daily_purchase_counts_from_database
from nextorder.insight.services import customers_score, value_models_fit
from nextorder.insight.tasks import (
    next_scoring_time,
    nightly_scoring_schedule,
    score_customers_nightly,
    score_customers_now,
)
from nextorder.insight.valuation import (
    NotEnoughHistory,
    customer_scores,
    fit_value_models,
    unconverged_models,
    value_reasons,
)
from tests.crm.exports import generate, write_shopify

pytestmark = pytest.mark.django_db
CALIBRATION_END = date(1997, 9, 30)
HOLDOUT_END = date(1998, 6, 30)


@pytest.fixture
def cdnow():
    orders_import(path=CDNOW_SAMPLE, file_format="cdnow")


def published(report: dict) -> dict[str, float]:
    """The digits Fader, Hardie & Lee (2005) print."""
    return {
        "r": round(report["r"], 3),
        "alpha": round(report["alpha"], 3),
        "a": round(report["a"], 3),
        "b": round(report["b"], 3),
        "p": round(report["p"], 2),
        "q": round(report["q"], 2),
        "gamma": round(report["gamma"], 2),
    }


PUBLISHED = {
    "r": 0.243,
    "alpha": 4.414,
    "a": 0.793,
    "b": 2.426,
    "p": 6.25,
    "q": 3.74,
    "gamma": 15.44,
}


def test_scoring_writes_every_customer_and_matches_the_file_path(cdnow):
    run = customers_score(as_of=HOLDOUT_END)

    assert run.customers_scored == Customer.objects.count() == 2357
    assert not Customer.objects.filter(scored_at__isnull=True).exists()
    assert not Customer.objects.filter(value_reason="").exists()
    # The same scores as the kernels give on the file's summary.
    summary = rfm.rfm_summary_from_file(
        path=CDNOW_SAMPLE, file_format="cdnow", calibration_end=HOLDOUT_END
    ).sort("customer_id")
    expected = summary.select("customer_id").hstack(
        customer_scores(fits=fit_value_models(summary=summary, with_pareto=False), summary=summary)
    )
    stored = pl.DataFrame(
        list(
            Customer.objects.values_list(
                "external_id", "clv_12m", "p_alive", "expected_orders_90d", "value_at_risk"
            ).order_by("external_id")
        ),
        schema=["customer_id", "clv_12m", "p_alive", "expected_orders_90d", "value_at_risk"],
        orient="row",
    )
    assert stored["customer_id"].to_list() == expected["customer_id"].to_list()
    for column in ("clv_12m", "value_at_risk"):
        np.testing.assert_allclose(
            stored[column].cast(pl.Float64).to_numpy(), expected[column].to_numpy(), atol=0.006
        )
    for column in ("p_alive", "expected_orders_90d"):
        np.testing.assert_allclose(
            stored[column].to_numpy(), expected[column].to_numpy(), rtol=1e-6, atol=1e-9
        )
    assert run.fit.purpose == ValueModelFit.Purpose.SCORING and run.fit.customers == 2357
    event = Event.objects.get(verb="customers.scored")
    assert event.after["customers"] == 2357 and event.actor_display == "system"


def test_scores_read_as_the_model_means(cdnow):
    customers_score(as_of=HOLDOUT_END)

    first = Customer.objects.get(external_id="0001")
    # Bought on 1997-01-01, 01-18, 08-02 and 12-12: 345 days in 3 gaps; quiet for 200 days.
    assert first.value_reason == (
        "bought on 4 different days, last 7 months ago; usually buys every 4 months"
    )
    once = Customer.objects.filter(order_count=1).first()
    assert once is not None and once.value_reason.startswith("bought once, ")
    # BG/NBD: a customer without repeat purchases has not dropped out; nothing at risk.
    assert once.p_alive == pytest.approx(1.0) and once.value_at_risk == 0
    for customer in Customer.objects.all():
        assert 0.0 <= customer.p_alive <= 1.0
        assert customer.clv_12m >= 0 and customer.value_at_risk >= 0
    # A heavy buyer gone quiet carries more at risk than one still buying as usual.
    quiet = Customer.objects.filter(p_alive__lt=0.2, order_count__gte=5).order_by("-total_spend")[0]
    assert quiet.value_at_risk > quiet.clv_12m


def test_rescoring_keeps_the_previous_p_alive_and_refreshes_active_tickets(cdnow, agent):
    customers_score(as_of=date(1998, 3, 31))
    customer = Customer.objects.get(external_id="0001")
    active = ticket_open(customer=customer, subject="Hello", body_text="Any news?")
    solved = ticket_open(customer=customer, subject="Old", body_text="Thanks")
    ticket_update(ticket=solved, actor=agent, expected_version=solved.version, status="solved")
    before = Customer.objects.get(pk=customer.pk)

    customers_score(as_of=HOLDOUT_END)

    after = Customer.objects.get(pk=customer.pk)
    assert after.p_alive_previous == pytest.approx(before.p_alive)
    assert after.p_alive != before.p_alive
    assert Ticket.objects.get(pk=active.pk).value_at_risk == after.value_at_risk
    assert Ticket.objects.get(pk=solved.pk).value_at_risk == before.value_at_risk


def test_orders_without_repeat_purchases_cannot_be_scored(customer):
    Customer.objects.create(name="Nobody")
    only_once = Customer.objects.create(name="Once")
    order_create(
        customer=only_once, placed_at=datetime(2026, 1, 5, tzinfo=UTC), amount=Decimal("5")
    )
    with pytest.raises(NotEnoughHistory, match="two different days"):
        customers_score(as_of=date(2026, 1, 31))  # `customer` first buys in March
    assert not ValueModelFit.objects.exists()
    assert not Customer.objects.filter(scored_at__isnull=False).exists()


def test_recorded_fit_on_the_database_reproduces_the_published_parameters(cdnow):
    fit = value_models_fit(calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END)

    assert fit.purpose == ValueModelFit.Purpose.FIT and fit.customers == 2357
    assert published(fit.report) == PUBLISHED
    assert round(fit.report["log_likelihood"]["bgnbd"], 1) == -9582.4
    assert round(fit.report["pareto_nbd"]["beta"], 3) == 11.669
    assert fit.report["spend_model"] == {
        "customers": 946,
        "left_out": 1411,
        "left_out_why": "no repeat purchase, or repeat purchases averaging zero",
    }
    check = fit.report["holdout"]["bgnbd"]
    assert len(check["tracking"]) == 78 and abs(check["final_cumulative_error_pct"]) < 5
    # The database's daily counts are the file's.
    from_file = holdout.daily_purchase_counts(
        transactions=rfm.scan_cdnow(path=CDNOW_SAMPLE),
        calibration_end=CALIBRATION_END,
        holdout_end=HOLDOUT_END,
    )
    from_database = daily_purchase_counts_from_database(
        calibration_end=CALIBRATION_END, holdout_end=HOLDOUT_END
    )
    assert from_database.to_dicts() == from_file.cast(from_database.schema).to_dicts()


def clv_fit_on_cdnow(*extra: str) -> dict:
    """`nextorder clv fit --json` on the CDNOW file's published calibration period."""
    out = StringIO()
    call_command(
        "clv",
        "fit",
        "--from-file",
        str(CDNOW_SAMPLE),
        "--calibration-end",
        "1997-09-30",
        "--json",
        *extra,
        stdout=out,
    )
    return json.loads(out.getvalue())


def test_clv_fit_from_the_file_prints_the_published_parameters_as_json(tmp_path):
    report = clv_fit_on_cdnow("--holdout-end", "1998-06-30", "--charts", str(tmp_path / "charts"))

    assert published(report) == PUBLISHED
    assert round(report["log_likelihood"]["pareto_nbd"], 1) == -9595.0
    assert report["holdout"]["bgnbd"]["tracking_mape_pct"] < 5
    assert set(report["holdout"]) == {"bgnbd", "pareto_nbd"}
    assert not ValueModelFit.objects.exists()  # a file's fit is not the shop's model
    svgs = sorted(path.name for path in (tmp_path / "charts").iterdir())
    assert svgs == ["holdout-conditional.svg", "holdout-tracking.svg"]
    assert "hold-out starts" in (tmp_path / "charts/holdout-tracking.svg").read_text()


def test_clv_fit_on_the_database_is_recorded_and_printed(cdnow):
    out = StringIO()
    call_command("clv", "fit", "--calibration-end", "1997-09-30", "--no-pareto", stdout=out)

    text = out.getvalue()
    assert "BG/NBD       r = 0.2426" in text and "Pareto/NBD" not in text
    assert "946 customers, 1,411 left out" in text
    assert ValueModelFit.objects.get().holdout_end is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--calibration-end", "30/09/1997"], "is not a date"),
        (["--holdout-end", "1998-06-30"], "--holdout-end needs --calibration-end"),
        (
            ["--calibration-end", "1998-06-30", "--holdout-end", "1998-01-01"],
            "must be after",
        ),
        (["--from-file", "/nonexistent/orders.csv"], "cannot read"),
        (
            ["--from-file", str(CDNOW_SAMPLE), "--format", "cdnow", "--charts", "x"],
            "--charts needs",
        ),
        ([], "cannot fit the value models: no customer"),
    ],
)
def test_clv_fit_refuses_bad_input_with_a_message(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("clv", "fit", *arguments, stdout=StringIO())


def test_clv_fit_on_a_csv_with_its_own_columns(tmp_path):
    rows = [
        ("k1", "2024-01-01", "10.00"),
        ("k1", "2024-02-01", "20.00"),
        ("k1", "2024-03-05", "30.00"),
        ("k2", "2024-01-10", "15.00"),
        ("k2", "2024-01-31", "0.00"),
        ("k3", "2024-02-20", "8.00"),
    ]
    path = tmp_path / "sales.csv"
    path.write_text("who,day,value\n" + "\n".join(",".join(row) for row in rows) + "\n")
    out = StringIO()
    call_command(
        "clv",
        "fit",
        "--from-file",
        str(path),
        "--customer-column",
        "who",
        "--date-column",
        "day",
        "--amount-column",
        "value",
        "--no-pareto",
        "--json",
        stdout=out,
    )
    report = json.loads(out.getvalue())
    assert report["customers"] == 3 and report["calibration_end"] == "2024-03-05"
    # k2's only repeat purchase is worth nothing: left out of the spend model, counted.
    assert report["spend_model"]["customers"] == 1 and report["spend_model"]["left_out"] == 2


def test_clv_score_command_and_its_background_twin(cdnow):
    out = StringIO()
    call_command("clv", "score", "--as-of", "1998-06-30", "-v", "0", stdout=out)
    assert "Scored 2,357 customers as of 1998-06-30" in out.getvalue()

    call_command("clv", "score", "--enqueue", "--as-of", "1998-06-30", stdout=StringIO())
    queued = DBTaskResult.objects.get(task_path=score_customers_now.module_path)
    assert queued.status == TaskResultStatus.READY
    assert queued.task_result.args == [] and queued.task_result.kwargs == {"as_of": "1998-06-30"}
    assert score_customers_now.call(as_of="1998-06-30")["customers_scored"] == 2357


@override_settings(TIME_ZONE="Europe/Berlin", NEXTORDER_SCORING_TIME="02:30")
def test_next_scoring_time_is_the_next_local_half_past_two():
    before = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)  # 01:00 in Berlin
    after = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # 03:00 in Berlin
    assert next_scoring_time(after=before) == datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    assert next_scoring_time(after=after) == datetime(2026, 11, 26, 1, 30, tzinfo=UTC)


def test_booking_the_nightly_scoring_is_idempotent():
    first = nightly_scoring_schedule()
    second = nightly_scoring_schedule()

    assert first == second
    assert DBTaskResult.objects.filter(task_path=score_customers_nightly.module_path).count() == 1


def test_the_nightly_run_scores_checks_and_books_the_next_night(cdnow):
    outcome = score_customers_nightly.call()

    assert outcome["customers_scored"] == 2357
    check = ValueModelFit.objects.get(purpose=ValueModelFit.Purpose.FIT)
    assert check.holdout_end is not None and check.holdout_end > check.calibration_end
    booked = DBTaskResult.objects.get(
        task_path=score_customers_nightly.module_path, status=TaskResultStatus.READY
    )
    assert booked.run_after.isoformat() == outcome["next_run"]


def test_the_nightly_run_skips_a_shop_without_history_and_still_books():
    outcome = score_customers_nightly.call()

    assert "no customer" in outcome["skipped"]
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 1


def test_value_reasons_speak_in_the_unit_a_person_would_use():
    summary = pl.DataFrame(
        {
            "frequency": [0, 1, 6, 3],
            "recency": [0.0, 2.0, 36.0, 1.0],
            "T": [0.5, 30.0, 58.0, 110.0],
        }
    )
    assert value_reasons(summary=summary).to_list() == [
        "bought once, 4 days ago",
        "bought on 2 different days, last 6 months ago, 2 weeks after the first",
        "bought on 7 different days, last 5 months ago; usually buys every 6 weeks",
        "bought on 4 different days, last 2 years ago; usually buys every 2 days",
    ]


@override_settings(NEXTORDER_PURCHASE_MODEL="pareto_nbd")
def test_scoring_with_pareto_nbd_lets_one_time_buyers_fade(cdnow):
    run = customers_score(as_of=HOLDOUT_END)

    assert run.fit.report["scoring_model"] == "pareto_nbd"
    once = list(
        Customer.objects.filter(order_count=1)
        .order_by("last_order_at")
        .values_list("p_alive", "value_at_risk", "clv_12m")
    )
    p_alive = [row[0] for row in once]
    # Quiet for longer, less likely still a customer: no longer pinned at 1.
    assert max(p_alive) < 1.0 and p_alive[0] < p_alive[-1]
    assert any(value_at_risk > 0 for _, value_at_risk, _ in once)


@override_settings(NEXTORDER_PURCHASE_MODEL="bg/nbd")
def test_an_unknown_purchase_model_is_a_configuration_error(cdnow):
    with pytest.raises(ImproperlyConfigured, match="bgnbd, pareto_nbd"):
        customers_score(as_of=HOLDOUT_END)


def test_clv_fit_with_a_penalty_shrinks_the_parameters():
    plain = clv_fit_on_cdnow("--no-pareto")
    penalized = clv_fit_on_cdnow("--no-pareto", "--penalizer", "0.1")

    assert (plain["penalizer"], penalized["penalizer"]) == (0.0, 0.1)
    assert penalized["alpha"] < plain["alpha"]
    assert penalized["log_likelihood"]["bgnbd"] < plain["log_likelihood"]["bgnbd"]
    with pytest.raises(CommandError, match="--penalizer must be 0 or more"):
        clv_fit_on_cdnow("--penalizer", "-1")


def test_a_fit_that_does_not_converge_is_said_to_be_unreliable(tmp_path):
    # Three customers: too few for either model to settle.
    path = tmp_path / "tiny.csv"
    path.write_text(
        "customer_id,placed_at,amount\nk1,2024-01-01,10\nk1,2024-02-01,20\nk1,2024-03-05,30\n"
        "k2,2024-01-10,15\nk2,2024-01-31,0\nk3,2024-02-20,8\n"
    )
    out, err = StringIO(), StringIO()
    call_command("clv", "fit", "--from-file", str(path), "--no-pareto", stdout=out, stderr=err)

    assert "did not converge: BG/NBD, Gamma-Gamma" in err.getvalue()
    assert unconverged_models(report={"converged": {"bgnbd": True, "pareto_nbd": None}}) == []


def test_a_fit_on_a_platform_export_agrees_with_a_fit_after_importing_it(tmp_path, settings):
    settings.NEXTORDER_CURRENCY = "EUR"
    expected = generate(orders=400)
    for order in expected.orders:
        order.currency = "EUR"
    path = write_shopify(expected, tmp_path / "orders_export.csv")
    end = "2026-08-31"
    out = StringIO()
    call_command("clv", "fit", "--from-file", str(path), "--calibration-end", end,
                 "--no-pareto", "--json", stdout=out)  # fmt: skip
    from_file = json.loads(out.getvalue())

    orders_import(path=path, file_format="csv")
    out = StringIO()
    call_command("clv", "fit", "--calibration-end", end, "--no-pareto", "--json", stdout=out)
    from_database = json.loads(out.getvalue())

    # Guests keyed by email, cancellations and refunds left out: the same customers.
    assert from_file["customers"] == from_database["customers"]
    assert from_file["spend_model"]["customers"] == from_database["spend_model"]["customers"]
    assert from_file["customers"] == len(
        {o.person.email or o.number for o in expected.orders if o.status == "paid"}
    )
    # BG/NBD's; the spend model, on so few repeat buyers, does not settle either way.
    fitted = ("r", "alpha", "a", "b")
    assert {k: from_file[k] for k in fitted} == pytest.approx(
        {k: from_database[k] for k in fitted}, rel=1e-9
    )


def test_a_fit_on_a_file_of_several_currencies_asks_for_one(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer_id,placed_at,amount,currency\nk1,2024-01-01,10,EUR\nk2,2024-01-02,5,USD\n"
    )
    with pytest.raises(CommandError, match="in EUR, USD: fit one currency at a time"):
        call_command("clv", "fit", "--from-file", str(path), stdout=StringIO())
