"""Merging two tickets about one thing, and splitting one that is about two.

A merge moves the merged ticket's messages (with their attachments and deliveries), its
events and its tags to the survivor, closes it with a pointer there, and records an
event on each; both tickets' versions are checked and bumped, as every ticket write
does. The moved messages keep their Message-IDs, so the customer's next email threads
onto the survivor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from nextorder.core.models import Event, Verb
from nextorder.core.services import event_record
from nextorder.desk.models import InboundMail, Message, Ticket, TicketTag
from nextorder.desk.priority import PriorityDecision
from nextorder.desk.services import ticket_build, ticket_version_bump


class DifferentCustomers(ValidationError):
    """The two tickets are different customers': merged only when the agent confirms."""


def _conversation_times(ticket_ids: list[int]) -> tuple[datetime | None, datetime | None]:
    """(last message to or from the customer, first reply) over these tickets' messages."""
    spoken = Message.objects.filter(ticket_id__in=ticket_ids).exclude(
        direction=Message.Direction.NOTE
    )
    last = spoken.aggregate(at=Max("sent_at"))["at"]
    first_reply = spoken.filter(direction=Message.Direction.OUTBOUND).aggregate(at=Min("sent_at"))
    return last, first_reply["at"]


# Merges chain (a survivor can be merged again); a chain longer than this is not followed.
MERGES_FOLLOWED = 10


def merge_survivors(tickets: dict[int, Ticket]) -> dict[int, Ticket]:
    """Each ticket by id, or the ticket it was merged into (where its messages went): an
    answer to a merged ticket's mail or a portal link to it belongs to the survivor."""
    loaded = dict(tickets)
    for _merge in range(MERGES_FOLLOWED):
        missing = {
            t.merged_into_id
            for t in loaded.values()
            if t.merged_into_id is not None and t.merged_into_id not in loaded
        }
        if not missing:
            break
        loaded |= Ticket.objects.in_bulk(list(missing))
    survivors: dict[int, Ticket] = {}
    for ticket_id, ticket in tickets.items():
        for _merge in range(MERGES_FOLLOWED):
            if ticket.merged_into_id is None or ticket.merged_into_id not in loaded:
                break
            ticket = loaded[ticket.merged_into_id]
        survivors[ticket_id] = ticket
    return survivors


@transaction.atomic
def ticket_merge(
    *,
    source: Ticket,
    target: Ticket,
    actor: User,
    source_version: int,
    target_version: int,
    different_customers: bool = False,
) -> Ticket:
    """Merge `source` into `target` (the survivor, returned)."""
    if source.pk == target.pk:
        raise ValidationError("A ticket cannot be merged into itself.")
    for ticket in (source, target):
        if ticket.merged_into_id is not None:
            raise ValidationError(
                f"Ticket #{ticket.pk} was already merged into #{ticket.merged_into_id}."
            )
    if source.customer_id != target.customer_id and not different_customers:
        raise DifferentCustomers(
            f"Tickets #{source.pk} and #{target.pk} are different customers' "
            f"({source.customer.name}, {target.customer.name}): confirm to merge them."
        )
    now = timezone.now()
    kind = ContentType.objects.get_for_model(Ticket)
    moved_messages = Message.objects.filter(ticket=source).update(ticket=target)
    moved_events = Event.objects.filter(subject_type=kind, subject_id=source.pk).update(
        subject_id=target.pk
    )
    InboundMail.objects.filter(ticket=source).update(ticket=target)
    have = TicketTag.objects.filter(ticket=target).values("tag_id")
    TicketTag.objects.filter(ticket=source).exclude(tag_id__in=have).update(ticket=target)
    TicketTag.objects.filter(ticket=source).delete()
    last_message_at, first_response_at = _conversation_times([target.pk])
    target_changes: dict[str, Any] = {
        "last_message_at": last_message_at,
        "first_response_at": first_response_at,
    }
    if target.status in (Ticket.Status.SOLVED, Ticket.Status.CLOSED) and source.is_active:
        # The merged ticket still waited on someone: so does the survivor now.
        target_changes.update(status=Ticket.Status.OPEN, solved_at=None, closed_at=None)
    ticket_version_bump(ticket=target, expected_version=target_version, **target_changes)
    source_status = source.status
    ticket_version_bump(
        ticket=source,
        expected_version=source_version,
        status=Ticket.Status.CLOSED,
        closed_at=now,
        merged_into=target,
    )
    event_record(
        verb=Verb.TICKET_MERGED,
        subject=source,
        actor=actor,
        customer_id=source.customer_id,
        before={"status": source_status},
        after={"status": Ticket.Status.CLOSED, "merged_into": target.pk},
        occurred_at=now,
    )
    event_record(
        verb=Verb.TICKET_MERGED_IN,
        subject=target,
        actor=actor,
        customer_id=target.customer_id,
        after={"merged": source.pk, "messages": moved_messages, "events": moved_events},
        occurred_at=now,
    )
    return target


@transaction.atomic
def ticket_split(
    *,
    ticket: Ticket,
    message: Message,
    actor: User,
    expected_version: int,
    with_later: bool = False,
) -> Ticket:
    """A new ticket for the same customer from `message` (and, `with_later`, every
    message after it), which move there. The first message stays: it is what the ticket
    is about."""
    if message.ticket_id != ticket.pk:
        raise ValidationError("That message is not on this ticket.")
    first = ticket.messages.order_by("sent_at", "id").values_list("pk", flat=True).first()
    if message.pk == first:
        raise ValidationError("The ticket's first message stays with it; split a later one.")
    moving = Message.objects.filter(pk=message.pk)
    if with_later:
        moving = ticket.messages.filter(sent_at__gte=message.sent_at).exclude(
            sent_at=message.sent_at, id__lt=message.pk
        )
    ids = list(moving.values_list("pk", flat=True))
    new = ticket_build(
        customer=ticket.customer,
        contact=ticket.contact,
        subject=f"{ticket.subject} (split from #{ticket.pk})",
        channel=ticket.channel,
        decision=PriorityDecision(priority=ticket.priority, reason=""),
        team=ticket.team,
        sent_at=message.sent_at,
    )
    new.assignee = ticket.assignee
    new.status = Ticket.Status.OPEN
    new.save()
    Message.objects.filter(pk__in=ids).update(ticket=new)
    InboundMail.objects.filter(ticket_message_id__in=ids).update(ticket=new)
    for part in (ticket, new):
        last_message_at, first_response_at = _conversation_times([part.pk])
        Ticket.objects.filter(pk=part.pk).update(
            last_message_at=last_message_at, first_response_at=first_response_at
        )
    ticket_version_bump(ticket=ticket, expected_version=expected_version)
    new.refresh_from_db()
    event_record(
        verb=Verb.TICKET_SPLIT,
        subject=ticket,
        actor=actor,
        customer_id=ticket.customer_id,
        after={"ticket": new.pk, "messages": ids},
    )
    event_record(
        verb=Verb.TICKET_SPLIT_FROM,
        subject=new,
        actor=actor,
        customer_id=new.customer_id,
        after={"split_from": ticket.pk, "messages": ids, "subject": new.subject},
    )
    return new
