"""The playbook's background work, run by `nextorder db_worker`: the nightly run (which
books its successor, as the nightly scoring does), and each email and answer's follow-up
as a task of its own, so a retried or repeated task does its work once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from nextorder.core.tasks import book_once, next_local_time
from nextorder.followup.models import Sending
from nextorder.followup.services import (
    playbook_run,
    referral_ask_send,
    survey_answers_follow,
    survey_send,
)


def _retry_after(attempts: int) -> datetime:
    """1, 2, 4, 8... minutes after a failed try, as the desk's replies."""
    return timezone.now() + timedelta(minutes=2 ** (attempts - 1))


@task()
def survey_deliver(survey_id: int) -> str:
    survey = survey_send(survey_id=survey_id)
    if survey.status == Sending.QUEUED and survey.attempts:
        survey_deliver.using(run_after=_retry_after(survey.attempts)).enqueue(survey_id)
    return survey.status


@task()
def referral_ask_deliver(ask_id: int) -> str:
    ask = referral_ask_send(ask_id=ask_id)
    if ask.status == Sending.QUEUED and ask.attempts:
        referral_ask_deliver.using(run_after=_retry_after(ask.attempts)).enqueue(ask_id)
    return ask.status


@task()
def survey_answer_follow(survey_id: int) -> dict[str, int]:
    """A detractor's recovery task, or a promoter's referral ask, minutes after the answer."""
    done = survey_answers_follow(survey_ids=[survey_id])
    return {"recovery_tasks": len(done.recovery_tasks), "referral_asks": len(done.referral_asks)}


def next_playbook_time(*, after: datetime) -> datetime:
    """The first NEXTORDER_PLAYBOOK_TIME, in the shop's time zone, strictly after `after`."""
    return next_local_time(
        at=settings.NEXTORDER_PLAYBOOK_TIME, setting="NEXTORDER_PLAYBOOK_TIME", after=after
    )


@task()
def playbook_nightly() -> dict[str, Any]:
    """Run the playbook; book the next night whatever happened."""
    try:
        return playbook_run().as_dict()
    finally:
        playbook_schedule()


def playbook_schedule() -> datetime:
    """Book the next nightly run unless one is booked; return when it will run."""
    return book_once(playbook_nightly, run_after=next_playbook_time(after=timezone.now()))
