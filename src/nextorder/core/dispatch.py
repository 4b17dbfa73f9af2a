"""What follows an event (an email to send, a webhook to deliver, later a survey or an
SLA clock) hangs off the event's verb here.

Services change state and record an event (`core.services.event_record`), which calls
the verb's listeners at once, inside the service's transaction. A listener only writes
rows: the work itself (a delivery row) and a task for the worker. With the database task
backend the task row commits together with the change (a transactional outbox): a change
that is rolled back announces nothing, and a committed one is never left without its
task, whatever crashes after the commit. The worker does the slow part (SMTP, HTTP) once
the transaction is visible, so the request never waits for the outside world.

Apps register their listeners in `AppConfig.ready`, so a lower app (core, crm) never
imports a higher one (desk) to notify it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from nextorder.core.models import Event, Verb

Listener = Callable[[Event], None]
_listeners: dict[str, list[Listener]] = defaultdict(list)


def on_event(*verbs: Verb) -> Callable[[Listener], Listener]:
    """Register the decorated function for events of these verbs (idempotent)."""

    def register(listener: Listener) -> Listener:
        for verb in verbs:
            if listener not in _listeners[verb]:
                _listeners[verb].append(listener)
        return listener

    return register


def dispatch(event: Event) -> None:
    """Run the verb's listeners in the caller's transaction: one that fails, fails the
    change, so that nothing happens without what must follow it."""
    for listener in _listeners.get(event.verb, ()):
        listener(event)
