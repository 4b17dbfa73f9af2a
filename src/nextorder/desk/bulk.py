"""Actions on many tickets of the queue at once, and the agents' saved queue views.

A bulk action calls the one-ticket service for each selected ticket, in a savepoint of
its own: a ticket the actor may not change (an agent assigning someone else's ticket),
one that is already so, or one merged away is skipped with its reason and the others go
ahead. The answer says how many changed and which were skipped and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from nextorder.core.models import Verb
from nextorder.core.services import event_record
from nextorder.desk.merge import ticket_merge
from nextorder.desk.models import SavedView, Tag, Ticket
from nextorder.desk.services import TicketConflict, ticket_update
from nextorder.desk.tags import ticket_tags_add

# A page of the queue is 50 rows; "select all" selects a page.
MAX_BULK = 200


class BulkAction(StrEnum):
    ASSIGN = "assign"
    STATUS = "status"
    TAG = "tag"
    MERGE = "merge"


@dataclass
class BulkOutcome:
    changed: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    # For a merge: the survivor.
    target: int | None = None

    def summary(self) -> str:
        said = f"{len(self.changed)} ticket{'s' if len(self.changed) != 1 else ''} changed"
        if self.target is not None and self.changed:
            said += f" (merged into #{self.target})"
        if self.skipped:
            said += "; skipped: " + "; ".join(f"#{pk}: {why}" for pk, why in self.skipped)
        return said + "."


def _one(outcome: BulkOutcome, ticket: Ticket, change: Any) -> None:
    """Run `change(ticket)` in a savepoint: changed, or skipped with the reason."""
    try:
        with transaction.atomic():
            changed = change(ticket)
    except (PermissionDenied, ValidationError, TicketConflict) as refused:
        reason = " ".join(refused.messages) if isinstance(refused, ValidationError) else refused
        outcome.skipped.append((ticket.pk, str(reason)))
        return
    if changed:
        outcome.changed.append(ticket.pk)
    else:
        outcome.skipped.append((ticket.pk, "already so"))


@transaction.atomic
def tickets_bulk_change(
    *,
    ticket_ids: list[int],
    actor: User,
    action: BulkAction,
    status: str = "",
    assignee: User | None = None,
    tag: Tag | None = None,
) -> BulkOutcome:
    """Assign, set the status of, tag, or merge (into the oldest) the selected tickets."""
    if not ticket_ids:
        raise ValidationError("Select at least one ticket.")
    if len(ticket_ids) > MAX_BULK:
        raise ValidationError(f"At most {MAX_BULK} tickets at once.")
    if not actor.has_perm("desk.change_ticket"):
        raise PermissionDenied("Your role reads tickets but does not change them.")
    tickets = list(
        Ticket.objects.filter(pk__in=set(ticket_ids))
        .select_related("customer", "assignee", "team")
        .order_by("created_at", "id")
    )
    outcome = BulkOutcome()
    outcome.skipped += [
        (pk, "no such ticket")
        for pk in sorted(set(ticket_ids))
        if pk not in {t.pk for t in tickets}
    ]
    live = []
    for ticket in tickets:
        if ticket.merged_into_id is not None:
            outcome.skipped.append((ticket.pk, f"merged into #{ticket.merged_into_id}"))
        else:
            live.append(ticket)
    if action == BulkAction.MERGE:
        if len(live) < 2:
            raise ValidationError("Select two tickets or more to merge.")
        target, live = live[0], live[1:]
        outcome.target = target.pk

        def merge(ticket: Ticket) -> bool:
            target.refresh_from_db()
            ticket_merge(
                source=ticket,
                target=target,
                actor=actor,
                source_version=ticket.version,
                target_version=target.version,
            )
            return True

        for ticket in live:
            _one(outcome, ticket, merge)
        return outcome

    def update(ticket: Ticket) -> bool:
        version = ticket.version
        changes: dict[str, Any] = (
            {"status": status} if action == BulkAction.STATUS else {"assignee": assignee}
        )
        ticket_update(ticket=ticket, actor=actor, expected_version=version, **changes)
        return ticket.version != version

    def add_tag(ticket: Ticket) -> bool:
        assert tag is not None
        return bool(ticket_tags_add(ticket=ticket, tags=[tag], actor=actor))

    if action == BulkAction.STATUS and status not in Ticket.Status.values:
        raise ValidationError(f"Unknown status {status!r}.")
    if action == BulkAction.TAG and tag is None:
        raise ValidationError("Name the tag to add.")
    for ticket in live:
        _one(outcome, ticket, add_tag if action == BulkAction.TAG else update)
    return outcome


# The queue's parameters a saved view keeps (never a page cursor).
VIEW_PARAMETERS = ("status", "team", "assignee", "tag", "sort")


def view_query(query: str) -> str:
    """The queue filters of a query string, in a stable order; everything else dropped."""
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=False) if k in VIEW_PARAMETERS]
    return urlencode(sorted(pairs, key=lambda pair: VIEW_PARAMETERS.index(pair[0])))[:500]


@transaction.atomic
def saved_view_save(*, owner: User, name: str, query: str) -> SavedView:
    """Keep the queue's current filters under a name (the same name is replaced)."""
    name = " ".join(name.split())[:60]
    if not name:
        raise ValidationError("Give the view a name.")
    kept = view_query(query)
    view, created = SavedView.objects.update_or_create(
        owner=owner, name=name, defaults={"query": kept}
    )
    event_record(
        verb=Verb.SAVED_VIEW_SAVED,
        subject=view,
        actor=owner,
        after={"name": name, "query": kept, "replaced": not created},
    )
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, actor: User) -> None:
    if view.owner_id != actor.pk:
        raise PermissionDenied("A saved view is deleted by its owner.")
    event_record(
        verb=Verb.SAVED_VIEW_DELETED,
        subject=view,
        actor=actor,
        before={"name": view.name, "query": view.query},
    )
    view.delete()
