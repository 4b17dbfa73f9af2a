"""The demo's follow-up: surveys sent after the solved tickets and answered (promoters,
passives, detractors), the recovery tasks and referral asks that follow, a referral that
brought an order, and next-order nudges, all written through the followup services."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from nextorder.crm.services import contact_for_email, order_create
from nextorder.desk.models import Ticket
from nextorder.followup.links import survey_token
from nextorder.followup.models import CustomerFollowup, ReferralAsk, Survey
from nextorder.followup.services import (
    nudges_open,
    referral_ask_send,
    referral_register,
    survey_answer,
    survey_answers_follow,
    survey_send,
    surveys_schedule,
)

SEED = 14
# (CSAT, NPS, comment): what the demo's customers answer, promoters first.
_ANSWERS = [
    (5, 10, "Sorted in one email, thank you. I will order again."),
    (5, 9, "Friendly and quick."),
    (4, 9, ""),
    (4, 8, "Good, but it took two days to hear back."),
    (3, 7, "Fine in the end."),
    (2, 5, "I had to explain the problem three times."),
    (1, 2, "Still waiting for the replacement. Very disappointed."),
]


def generate_demo_followup(*, now: datetime | None = None) -> int:
    """Once: a desk with surveys is left alone. Returns the surveys written."""
    if Survey.objects.exists():
        return 0
    now = now or timezone.now()
    rng = random.Random(SEED)
    delay = timedelta(hours=settings.NEXTORDER_SURVEY_DELAY_HOURS, minutes=5)
    solved = Ticket.objects.filter(solved_at__isnull=False).order_by("solved_at")
    for solved_at in solved.values_list("solved_at", flat=True):
        if solved_at is not None and solved_at + delay <= now:
            surveys_schedule(now=solved_at + delay)
    surveys = list(Survey.objects.order_by("created_at", "id"))
    for survey in surveys:
        survey_send(survey_id=survey.pk)  # into the outbox until an SMTP server is set
        if rng.random() < 0.75:
            csat, nps, comment = rng.choice(_ANSWERS)
            survey_answer(token=survey_token(survey.pk), csat=csat, nps=nps, comment=comment)
    survey_answers_follow(now=now)
    for ask in ReferralAsk.objects.all():
        referral_ask_send(ask_id=ask.pk)
    _referral_that_ordered(now=now)
    nudges_open(now=now)
    return len(surveys)


def _referral_that_ordered(*, now: datetime) -> None:
    """A promoter's friend follows the link, and orders a week later."""
    referrer = CustomerFollowup.objects.filter(referral_code__isnull=False).first()
    if referrer is None or referrer.referral_code is None:
        return
    referral_register(code=referrer.referral_code, email="sam.referred@example.org")
    contact = contact_for_email(address="sam.referred@example.org", name="Sam Referred")
    order_create(
        customer=contact.customer,
        contact=contact,
        placed_at=timezone.now(),
        amount=Decimal("48.90"),
        external_id="DEMO-REFERRED-1",
    )
