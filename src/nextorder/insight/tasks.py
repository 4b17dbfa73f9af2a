"""The nightly scoring of every customer, as a background task that books its next run.

Run a worker (`nextorder db_worker`) and book the first night once (`nextorder clv
schedule`, which the demo does too); each run then books the following night, also when
it fails, so the chain never breaks. Booking is idempotent: one pending run at most.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from nextorder.core.tasks import book_once, next_local_time
from nextorder.insight.services import customers_score, value_models_fit
from nextorder.insight.valuation import NotEnoughHistory


def next_scoring_time(*, after: datetime) -> datetime:
    """The first NEXTORDER_SCORING_TIME, in the shop's time zone, strictly after `after`."""
    return next_local_time(
        at=settings.NEXTORDER_SCORING_TIME, setting="NEXTORDER_SCORING_TIME", after=after
    )


@task()
def score_customers_nightly() -> dict[str, Any]:
    """Score everyone as of today and check the model on the last
    NEXTORDER_HOLDOUT_WEEKS of orders; a shop without enough history is skipped, not
    failed, and the next night is booked whatever happened."""
    outcome: dict[str, Any] = {}
    try:
        run = customers_score()
        outcome.update(
            customers_scored=run.customers_scored,
            tickets_refreshed=run.tickets_refreshed,
            scoring_fit=run.fit.pk,
        )
        today = timezone.localdate()
        check = value_models_fit(
            calibration_end=today - timedelta(weeks=settings.NEXTORDER_HOLDOUT_WEEKS),
            holdout_end=today,
        )
        outcome["check_fit"] = check.pk
    except NotEnoughHistory as exc:
        outcome["skipped"] = str(exc)
    finally:
        outcome["next_run"] = nightly_scoring_schedule().isoformat()
    return outcome


@task()
def score_customers_now(as_of: str | None = None) -> dict[str, Any]:
    """`nextorder clv score --enqueue`: one scoring in the background (dates travel as
    ISO text, as task arguments are JSON)."""
    run = customers_score(as_of=date.fromisoformat(as_of) if as_of else None)
    return {"customers_scored": run.customers_scored, "tickets_refreshed": run.tickets_refreshed}


def nightly_scoring_schedule() -> datetime:
    """Book the next nightly scoring unless one is booked; return when it will run."""
    return book_once(score_customers_nightly, run_after=next_scoring_time(after=timezone.now()))
