"""Side effects of events, run after the transaction that recorded them commits.

Services change state and record an event (`core.services.event_record`); whatever must
follow (an email to send, a webhook to deliver, later a survey or an SLA clock) listens
for the event's verb here. A listener runs only once the change is committed, so it
never announces a change that was rolled back, and it should only enqueue work for the
task worker: the request or command that made the change does not wait for the world.

Apps register their listeners in `AppConfig.ready`, so a lower app (core, crm) never
imports a higher one (desk) to notify it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from django.db import transaction

from nextorder.core.models import Event, Verb

Listener = Callable[[Event], None]
_listeners: dict[str, list[Listener]] = defaultdict(list)
log = logging.getLogger(__name__)


def on_event(*verbs: Verb) -> Callable[[Listener], Listener]:
    """Register the decorated function for events of these verbs (idempotent)."""

    def register(listener: Listener) -> Listener:
        for verb in verbs:
            if listener not in _listeners[verb]:
                _listeners[verb].append(listener)
        return listener

    return register


def dispatch_after_commit(event: Event) -> None:
    if _listeners.get(event.verb):
        transaction.on_commit(lambda: _dispatch(event), robust=True)


def _dispatch(event: Event) -> None:
    for listener in _listeners.get(event.verb, ()):
        try:
            listener(event)
        except Exception:
            # One listener's failure (say, the task table is unreachable) must not stop
            # the others; the change itself is committed and stays.
            log.exception("listener %s failed on event %s", listener.__qualname__, event.pk)
