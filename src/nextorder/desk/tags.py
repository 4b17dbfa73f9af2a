"""Tags on tickets: made by name where an agent first uses one, added and removed with an
event each, so the ticket's timeline says who labelled it and when."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connections, transaction
from django.db.models.functions import Lower

from nextorder.core.models import Verb
from nextorder.core.services import event_record
from nextorder.desk.models import Tag, Ticket, TicketTag

MAX_TAG_NAME = 50


def tag_name_checked(name: str) -> str:
    """One line, spaces folded, at most 50 characters, not empty."""
    cleaned = " ".join("".join(c if c.isprintable() else " " for c in name).split())
    if not cleaned:
        raise ValidationError("A tag needs a name.")
    if len(cleaned) > MAX_TAG_NAME:
        raise ValidationError(f"A tag's name is at most {MAX_TAG_NAME} characters.")
    return cleaned


@transaction.atomic
def tag_get_or_create(*, name: str, actor: User, colour: str = "") -> Tag:
    """The tag of this name (case apart), or a new one in the next colour of the palette."""
    name = tag_name_checked(name)
    found = Tag.objects.alias(key=Lower("name")).filter(key=name.lower()).first()
    if found is not None:
        return found
    if not actor.has_perm("desk.add_tag"):
        raise PermissionDenied("Your role cannot make new tags.")
    if colour not in Tag.Colour.values:
        palette = Tag.Colour.values
        colour = palette[Tag.objects.count() % len(palette)]
    tag = Tag.objects.create(name=name, colour=colour)
    event_record(verb=Verb.TAG_CREATED, subject=tag, actor=actor, after={"name": name})
    return tag


@transaction.atomic
def ticket_tags_add(*, ticket: Ticket, tags: Iterable[Tag], actor: User) -> list[Tag]:
    """Put tags on a ticket; those it has already are left alone. The tags added."""
    have = set(ticket.ticket_tags.values_list("tag_id", flat=True))
    new = [tag for tag in {t.pk: t for t in tags}.values() if tag.pk not in have]
    if not new:
        return []
    TicketTag.objects.bulk_create([TicketTag(ticket=ticket, tag=tag) for tag in new])
    event_record(
        verb=Verb.TICKET_TAGGED,
        subject=ticket,
        actor=actor,
        customer_id=ticket.customer_id,
        after={"tags": sorted(tag.name for tag in new)},
    )
    return new


@transaction.atomic
def ticket_tag_remove(*, ticket: Ticket, tag: Tag, actor: User) -> bool:
    """Take a tag off a ticket; False if it did not have it."""
    removed, _ = TicketTag.objects.filter(ticket=ticket, tag=tag).delete()
    if not removed:
        return False
    event_record(
        verb=Verb.TICKET_UNTAGGED,
        subject=ticket,
        actor=actor,
        customer_id=ticket.customer_id,
        before={"tags": [tag.name]},
    )
    return True


# ---------------------------------------------------------------- status beside the tag
# Each TicketTag row carries its ticket's status, written by the database itself on any
# write of a ticket's status (a service, a bulk update, the admin) and on any tag added
# or moved by a merge: no Python per row and nothing for a writer to forget.

_POSTGRES_TRIGGERS = [
    """
    CREATE OR REPLACE FUNCTION desk_tickettag_follow_status() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE desk_tickettag SET ticket_status = NEW.status
        WHERE ticket_id = NEW.id AND ticket_status <> NEW.status;
        RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER desk_ticket_tags_follow_status
    AFTER UPDATE OF status ON desk_ticket FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION desk_tickettag_follow_status()
    """,
    """
    CREATE OR REPLACE FUNCTION desk_tickettag_take_status() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        SELECT status INTO NEW.ticket_status FROM desk_ticket WHERE id = NEW.ticket_id;
        RETURN NEW;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER desk_tickettag_takes_status
    BEFORE INSERT OR UPDATE OF ticket_id ON desk_tickettag FOR EACH ROW
    EXECUTE FUNCTION desk_tickettag_take_status()
    """,
]
_POSTGRES_UNDO = [
    "DROP TRIGGER IF EXISTS desk_tickettag_takes_status ON desk_tickettag",
    "DROP FUNCTION IF EXISTS desk_tickettag_take_status()",
    "DROP TRIGGER IF EXISTS desk_ticket_tags_follow_status ON desk_ticket",
    "DROP FUNCTION IF EXISTS desk_tickettag_follow_status()",
]
_TAKE_STATUS = """
    BEGIN
        UPDATE desk_tickettag
        SET ticket_status = (SELECT status FROM desk_ticket WHERE id = NEW.ticket_id)
        WHERE id = NEW.id;
    END
"""
# A migration that rebuilds either table on SQLite drops these, so every migrate puts
# them back (`tag_status_repair`).
_SQLITE_TRIGGERS = {
    "desk_ticket_tags_follow_status": """
        AFTER UPDATE OF status ON desk_ticket FOR EACH ROW WHEN OLD.status IS NOT NEW.status
        BEGIN
            UPDATE desk_tickettag SET ticket_status = NEW.status WHERE ticket_id = NEW.id;
        END
    """,
    "desk_tickettag_takes_status": f"AFTER INSERT ON desk_tickettag FOR EACH ROW {_TAKE_STATUS}",
    "desk_tickettag_moved_takes_status": (
        f"AFTER UPDATE OF ticket_id ON desk_tickettag FOR EACH ROW {_TAKE_STATUS}"
    ),
}
_RESYNC = """
    UPDATE desk_tickettag
    SET ticket_status = (SELECT status FROM desk_ticket WHERE id = desk_tickettag.ticket_id)
"""


def tag_status_triggers_create(connection: Any) -> None:
    """The triggers, and every row's status set as it is now (for a migration)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for statement in _POSTGRES_TRIGGERS:
                cursor.execute(statement)
        else:
            for name, body in _SQLITE_TRIGGERS.items():
                cursor.execute(f"CREATE TRIGGER IF NOT EXISTS {name} {body}")
        cursor.execute(_RESYNC)


def tag_status_triggers_drop(connection: Any) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for statement in _POSTGRES_UNDO:
                cursor.execute(statement)
        else:
            for name in _SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


def tag_status_repair(using: str = "default", **_: Any) -> None:
    """After every migrate on SQLite: if a table rebuild dropped the triggers, them back
    and the statuses set again (a post_migrate receiver); else nothing."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    if not {"desk_ticket", "desk_tickettag"} <= set(connection.introspection.table_names()):
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        if set(_SQLITE_TRIGGERS) <= {row[0] for row in cursor.fetchall()}:
            return
        columns = {
            column.name
            for column in connection.introspection.get_table_description(cursor, "desk_tickettag")
        }
    if "ticket_status" in columns:  # else migration 0016, which makes them, is still to run
        tag_status_triggers_create(connection)
