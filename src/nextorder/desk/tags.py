"""Tags on tickets: made by name where an agent first uses one, added and removed with an
event each, so the ticket's timeline says who labelled it and when."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
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
