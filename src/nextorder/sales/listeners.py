"""What sales does when its events happen (see core/dispatch.py): a promise's owner is
told by email when it comes due and when it is broken."""

from __future__ import annotations

from collections.abc import Sequence

from nextorder.core.dispatch import on_event
from nextorder.core.models import Event, Verb

_SUBJECTS = {
    Verb.COMMITMENT_DUE_SOON: "Promise coming due",
    Verb.COMMITMENT_BROKEN: "Promise broken",
}


@on_event(Verb.COMMITMENT_DUE_SOON, Verb.COMMITMENT_BROKEN)
def owner_notify_enqueue(events: Sequence[Event]) -> None:
    """Book the owner's email with the event (it commits with it: one event, one email)."""
    from nextorder.sales.tasks import owner_notify

    for event in events:
        owner_notify.enqueue(event.pk)
