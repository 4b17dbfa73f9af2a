"""What the playbook does when other apps' events happen (see core/dispatch.py)."""

from __future__ import annotations

from collections.abc import Sequence

from nextorder.core.dispatch import on_event
from nextorder.core.models import Event, Verb


@on_event(Verb.SURVEY_ANSWERED)
def answer_enqueue_follow(events: Sequence[Event]) -> None:
    """An answer's recovery task or referral ask is a task of its own, minutes later."""
    from nextorder.followup.tasks import survey_answer_follow

    for event in events:
        if event.subject_id is not None:
            survey_answer_follow.enqueue(event.subject_id)


@on_event(Verb.ORDER_CREATED, Verb.ORDERS_IMPORTED)
def orders_attribute_referrals(events: Sequence[Event]) -> None:
    """A referred customer's order counts for the referrer as soon as it is recorded
    (crm knows nothing of referrals: it only records its events)."""
    from nextorder.followup.services import referrals_attribute

    referrals_attribute()
