"""How an event's changed fields read to people: "priority: Normal → High", not "2 → 3".

Events keep machine values (a priority's number, a status's key, a username), which
webhooks and audits want; timelines and conflict messages show them through the
readers the owning app registers here in its `AppConfig.ready` (core knows no app's
choices, as it knows no app's listeners).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nextorder.core.models import Event

Reader = Callable[[Any], str]
_readers: dict[str, tuple[Reader, str]] = {}


def read_field_with(name: str, reader: Reader = str, *, empty: str = "none") -> None:
    """Show the values of the field `name` (in any event's before/after) through `reader`,
    and an empty one (None, "") as `empty`."""
    _readers[name] = (reader, empty)


def _shown(name: str, value: Any) -> str:
    reader, empty = _readers.get(name, (str, "none"))
    if value is None or value == "":
        return empty
    try:
        return reader(value)
    except (ValueError, KeyError):  # a value written before its choices changed
        return str(value)


def changes_text(event: Event) -> str:
    """'priority: Normal → High; assignee: nobody → jordan' for the fields that changed."""
    return "; ".join(
        f"{name.replace('_', ' ')}: {_shown(name, event.before.get(name))} → {_shown(name, value)}"
        for name, value in event.after.items()
        if name in event.before
    )
