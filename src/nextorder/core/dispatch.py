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
from collections.abc import Callable, Sequence

from nextorder.core.models import Event, Verb

# A listener takes the events of one change that it listens to: usually one, a batch when
# a bulk service (a mailbox import, a burst of SMTP) records many at once, so that what
# it checks once per change (is anybody subscribed?) it checks once per batch.
Listener = Callable[[Sequence[Event]], None]
_listeners: dict[str, list[Listener]] = defaultdict(list)


def on_event(*verbs: Verb) -> Callable[[Listener], Listener]:
    """Register the decorated function for events of these verbs (idempotent)."""

    def register(listener: Listener) -> Listener:
        for verb in verbs:
            if listener not in _listeners[verb]:
                _listeners[verb].append(listener)
        return listener

    return register


def dispatch(events: Sequence[Event]) -> None:
    """Run the listeners of the events' verbs in the caller's transaction, each once with
    all its events: one that fails, fails the change, so that nothing happens without
    what must follow it."""
    by_listener: dict[Listener, list[Event]] = {}
    for event in events:
        for listener in _listeners.get(event.verb, ()):
            by_listener.setdefault(listener, []).append(event)
    for listener, of_listener in by_listener.items():
        listener(of_listener)
