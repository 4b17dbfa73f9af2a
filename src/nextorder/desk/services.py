"""Every change to a ticket goes through here, and each writes its event row.

Writes use optimistic locking: the caller passes the version it saw, the UPDATE only
matches that version, and a mismatch raises TicketConflict naming who changed what,
so two agents saving at once never overwrite each other silently.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from nextorder.core.bulk import rows_update
from nextorder.core.changes import changes_text
from nextorder.core.html import html_from_text, stored_html
from nextorder.core.models import Event, Team, Verb
from nextorder.core.services import event_build, event_record, events_record
from nextorder.crm.models import Contact, ContactEmail, Customer, Order
from nextorder.crm.selectors import orders_mentioned
from nextorder.crm.services import contact_create, contact_email_add
from nextorder.desk.assignment import NewTicket, tickets_assign
from nextorder.desk.mail.parse import MAX_BODY_CHARS
from nextorder.desk.models import CallRecord, Delivery, Message, PriorityCalibration, Ticket
from nextorder.desk.priority import PriorityDecision, PriorityRule, decide_priority
from nextorder.desk.sla import SlaContext, sla_follow_changes, sla_rows_open


class TicketConflict(Exception):
    """Someone saved the ticket after the caller loaded it; nothing was written."""

    def __init__(self, *, ticket: Ticket, last_change: Event | None) -> None:
        self.ticket = ticket
        self.last_change = last_change
        if last_change is not None:
            who = last_change.actor_display
            when = timezone.localtime(last_change.occurred_at).strftime("%H:%M:%S")
            what = _describe_change(last_change)
            message = (
                f"Ticket #{ticket.pk} was changed by {who} at {when} ({what}) after you opened "
                "it. Your change was not saved: check the ticket and save again."
            )
        else:
            message = f"Ticket #{ticket.pk} changed after you opened it; your change was not saved."
        super().__init__(message)


def _describe_change(event: Event) -> str:
    if event.verb == Verb.TICKET_REPLIED:
        return "replied"
    if event.verb == Verb.TICKET_MESSAGE_RECEIVED:
        return "the customer wrote"
    return changes_text(event) or event.get_verb_display()


def new_message_id() -> str:
    return f"<{uuid.uuid4().hex}@{settings.NEXTORDER_MESSAGE_ID_DOMAIN}>"


def checked_body(text: str) -> str:
    """A message's text as stored: NUL characters (which PostgreSQL cannot store) dropped,
    surrounding space trimmed, and refused when empty or longer than MAX_BODY_CHARS."""
    body = text.replace("\x00", "").strip()
    if not body:
        raise ValidationError("The message is empty.")
    if len(body) > MAX_BODY_CHARS:
        raise ValidationError(
            f"The message is {len(body):,} characters long; the limit is {MAX_BODY_CHARS:,}."
        )
    return body


def checked_subject(text: str) -> str:
    """One line of at most 250 characters, without control characters."""
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line[:250] or "(no subject)"


def ticket_version_bump(*, ticket: Ticket, expected_version: int | None, **changes: Any) -> None:
    """The optimistic lock: write only if nobody wrote since `expected_version`.

    `expected_version=None` writes whatever the version is (a customer's message must
    never be refused) and still bumps it, so a stale agent form hears of the change.
    """
    matching = Ticket.objects.filter(pk=ticket.pk)
    if expected_version is not None:
        matching = matching.filter(version=expected_version)
    updated = matching.update(version=F("version") + 1, updated_at=timezone.now(), **changes)
    if updated == 0:
        current = Ticket.objects.get(pk=ticket.pk)
        last_change = (
            Event.objects.filter(
                subject_type__app_label="desk", subject_type__model="ticket", subject_id=ticket.pk
            )
            # A clock met or missed is recorded with the change that stopped it: name that.
            .exclude(verb__in=(Verb.SLA_MET, Verb.SLA_BREACHED, Verb.SLA_WARNED))
            .select_related("actor")
            .first()
        )
        raise TicketConflict(ticket=current, last_change=last_change)
    ticket.refresh_from_db()


@transaction.atomic
def ticket_open(
    *,
    customer: Customer,
    subject: str,
    body_text: str,
    contact: Contact | None = None,
    body_html: str = "",
    channel: str = Ticket.Channel.EMAIL,
    priority: int = Ticket.Priority.NORMAL,
    team: Team | None = None,
    actor: User | None = None,
    sent_at: datetime | None = None,
    message_id: str | None = None,
    internal: bool = False,
    order: Order | None = None,
) -> Ticket:
    """Open a ticket with its first message: from the customer, or from an agent.

    A customer's ticket gets the priority rule's say (desk/priority.py) at once. An agent
    may open one with an internal note instead of a message to the customer (`internal`),
    say to record why a customer needs a call: nothing of it is ever sent.
    """
    if internal and channel != Ticket.Channel.AGENT:
        raise ValidationError("Only a ticket an agent opens can start with an internal note.")
    _check_own_order(customer=customer, order=order)
    body_text = checked_body(body_text)
    sent_at = sent_at or timezone.now()
    from_agent = channel == Ticket.Channel.AGENT
    rule = PriorityRule.current()
    decision = (
        PriorityDecision(priority=priority, reason="")
        if from_agent
        else decide_priority(
            current=priority,
            value_at_risk=customer.value_at_risk,
            text=f"{subject}\n{body_text}",
            rule=rule,
        )
    )
    ticket = ticket_build(
        customer=customer,
        contact=contact,
        subject=subject,
        channel=channel,
        decision=decision,
        team=team,
        sent_at=sent_at,
    )
    ticket.order = (
        order
        if order is not None or from_agent
        else orders_mentioned(texts={customer.pk: f"{subject}\n{body_text}"}).get(customer.pk)
    )
    if not from_agent:
        tickets_assign([NewTicket(ticket=ticket, text=f"{subject}\n{body_text}")])
    # The related rows are the caller's instances: checking that they exist costs a query
    # each and proves nothing the foreign keys do not.
    ticket.full_clean(exclude=["customer", "contact", "team", "order"])
    ticket.save()
    sla_rows_open(tickets=[ticket], context=SlaContext.for_tickets([ticket], rule=rule))
    Message.objects.create(
        ticket=ticket,
        direction=(
            Message.Direction.NOTE
            if internal
            else Message.Direction.OUTBOUND
            if from_agent
            else Message.Direction.INBOUND
        ),
        author_contact=None if from_agent else contact,
        author_user=actor if from_agent else None,
        body_text=body_text,
        body_html=stored_html(html=body_html, text=body_text),
        sent_at=sent_at,
        message_id=message_id or new_message_id(),
    )
    event_record(
        verb=Verb.TICKET_OPENED,
        subject=ticket,
        actor=actor,
        actor_label="" if actor else (f"customer:{contact.pk}" if contact else "customer"),
        customer_id=customer.pk,
        after=_opened_after(ticket),
        occurred_at=sent_at,
    )
    return ticket


@transaction.atomic
def ticket_reply(
    *,
    ticket: Ticket,
    author: User,
    body: str,
    expected_version: int,
    status: str | None = None,
    internal: bool = False,
    sent_at: datetime | None = None,
) -> Message:
    """An agent answers (or leaves an internal note); the ticket moves to `status`.

    A reply on a new ticket opens it; the first public reply stamps first_response_at.
    Whoever answers an unassigned ticket takes it, so the customer's next message comes
    back to the same person. A live public reply is emailed to the ticket's contact (a
    Delivery row, sent by the worker); a ticket without a contact address takes internal
    notes only. `sent_at` is for conversations brought in from another desk: those
    replies were delivered there, and nothing is sent.
    """
    body = checked_body(body)
    to_address = ""
    if not internal and sent_at is None:
        to_address = ticket_reply_address(ticket)
        if not to_address:
            raise ValidationError(
                "This ticket has no contact with an email address, so a reply would reach "
                "nobody: add the customer's address to a contact, or leave an internal note."
            )
    if status is not None and status not in Ticket.Status.values:
        raise ValidationError(f"Unknown status {status!r}.")
    now = sent_at or timezone.now()
    new_status = status or (
        Ticket.Status.OPEN if ticket.status == Ticket.Status.NEW else ticket.status
    )
    # An internal note is no message: the customer (who sees the time in the portal) and
    # the queue's "last message" see only what went between them and us.
    changes: dict[str, Any] = {} if internal else {"last_message_at": now}
    if new_status != ticket.status:
        changes.update(_status_stamps(new_status=new_status, now=now))
    if not internal and ticket.first_response_at is None:
        changes["first_response_at"] = now
    taking = not internal and ticket.assignee_id is None
    if taking:
        changes["assignee"] = author
    before_status = ticket.status
    ticket_version_bump(ticket=ticket, expected_version=expected_version, **changes)
    clock_events = (
        sla_follow_changes(changes=[(ticket, now)], agent_replied=not internal)
        if not internal or new_status != before_status
        else []
    )

    last = (
        ticket.messages.exclude(direction=Message.Direction.NOTE)
        .order_by("-sent_at", "-id")
        .first()
    )
    message = Message.objects.create(
        ticket=ticket,
        direction=Message.Direction.NOTE if internal else Message.Direction.OUTBOUND,
        author_user=author,
        body_text=body,
        body_html=html_from_text(body),
        sent_at=now,
        message_id=new_message_id(),
        in_reply_to=last.message_id if last else "",
        references=f"{last.references} {last.message_id}".strip() if last else "",
    )
    after: dict[str, Any] = {"message": message.pk, "internal": internal}
    if to_address:
        delivery = Delivery.objects.create(message=message, to_address=to_address)
        after.update(delivery=delivery.pk, to=to_address)
    before: dict[str, Any] = {}
    if new_status != before_status:
        before["status"], after["status"] = before_status, new_status
    if taking:
        before["assignee"], after["assignee"] = None, _loggable(author)
    events_record(
        events=[
            event_build(
                verb=Verb.TICKET_NOTED if internal else Verb.TICKET_REPLIED,
                subject=ticket,
                actor=author,
                customer_id=ticket.customer_id,
                before=before,
                after=after,
                occurred_at=now,
            ),
            *clock_events,
        ]
    )
    return message


def ticket_reply_address(ticket: Ticket) -> str:
    """The ticket contact's primary address (or any of theirs)."""
    if ticket.contact_id is None:
        return ""
    emails = ContactEmail.objects.filter(contact_id=ticket.contact_id)
    first = emails.order_by("-is_primary", "id").values_list("address", flat=True).first()
    return first or ""


def _status_stamps(*, new_status: str, now: datetime) -> dict[str, Any]:
    stamps: dict[str, Any] = {"status": new_status}
    if new_status == Ticket.Status.SOLVED:
        stamps["solved_at"] = now
    elif new_status == Ticket.Status.CLOSED:
        stamps["closed_at"] = now
    else:
        stamps["solved_at"] = None
        stamps["closed_at"] = None
    return stamps


_UNSET: Any = object()


@transaction.atomic
def ticket_contact_address_add(
    *, ticket: Ticket, actor: User, address: str, name: str = "", expected_version: int
) -> Ticket:
    """Give a ticket that nobody can be emailed on (a follow-up opened for a customer
    without an address) the customer's address, so that a reply can reach them: added to
    the ticket's contact, or to a new contact of the ticket's customer."""
    address = address.strip().lower()
    owner = (
        ContactEmail.objects.alias(key=Lower("address"))
        .filter(key=address)
        .select_related("contact")
        .first()
    )
    if owner is not None and owner.contact.customer_id != ticket.customer_id:
        raise ValidationError(f"{address} belongs to another customer's contact.")
    if owner is not None:
        contact = owner.contact
    elif ticket.contact is not None:
        contact = ticket.contact
        contact_email_add(contact=contact, address=address)
    else:
        contact = contact_create(customer=ticket.customer, name=name.strip(), emails=[address])
    before_contact = ticket.contact_id
    ticket_version_bump(ticket=ticket, expected_version=expected_version, contact=contact)
    event_record(
        verb=Verb.TICKET_UPDATED,
        subject=ticket,
        actor=actor,
        customer_id=ticket.customer_id,
        before={"contact": before_contact},
        after={"contact": contact.pk, "address": address},
    )
    return ticket


@transaction.atomic
def ticket_update(
    *,
    ticket: Ticket,
    actor: User,
    expected_version: int,
    status: str = _UNSET,
    priority: int = _UNSET,
    assignee: User | None = _UNSET,
    team: Team | None = _UNSET,
    order: Order | None = _UNSET,
    occurred_at: datetime | None = None,
) -> Ticket:
    """Change status, priority, assignee, team or the order the ticket is about; one event
    row lists every field changed.

    `occurred_at` is for history brought in from another desk; live changes use now.
    """
    requested: dict[str, Any] = {
        name: value
        for name, value in {
            "status": status,
            "priority": priority,
            "assignee": assignee,
            "team": team,
            "order": order,
        }.items()
        if value is not _UNSET
    }
    if requested.get("order") is not None:
        _check_own_order(customer=ticket.customer, order=requested["order"])
    if "status" in requested and requested["status"] not in Ticket.Status.values:
        raise ValidationError(f"Unknown status {requested['status']!r}.")
    if "priority" in requested and requested["priority"] not in Ticket.Priority.values:
        raise ValidationError(f"Unknown priority {requested['priority']!r}.")
    reassigning_others = "assignee" in requested and requested["assignee"] not in (
        None,
        actor,
        ticket.assignee,
    )
    rerouting = "team" in requested and requested["team"] != ticket.team
    if (reassigning_others or rerouting) and not actor.has_perm("desk.assign_ticket"):
        raise PermissionDenied(
            "Only leads can assign tickets to others or move them between teams."
        )
    new_assignee = requested.get("assignee")
    if new_assignee is not None and not new_assignee.has_perm("desk.change_ticket"):
        raise ValidationError(
            f"{new_assignee.get_full_name() or new_assignee.get_username()} cannot work "
            "tickets (their role only reads them); assign it to an agent or a lead."
        )

    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    changes: dict[str, Any] = {}
    now = occurred_at or timezone.now()
    for name, value in requested.items():
        old = getattr(ticket, name)
        if old == value:
            continue
        before[name], after[name] = _loggable(old), _loggable(value)
        if name == "status":
            changes.update(_status_stamps(new_status=value, now=now))
        elif name == "priority":
            # The agent's choice replaces the rule's reason: the page says who decided.
            who = actor.get_full_name() or actor.get_username()
            changes.update(priority=value, priority_reason=f"Set by {who}"[:200])
        else:
            changes[name] = value
    if changes.get("team") is not None and "assignee" not in requested and not ticket.assignee_id:
        # Routed to a team without an agent: the team's rule picks one.
        routed = Ticket(team=changes["team"], order_id=ticket.order_id)
        first = ticket.messages.order_by("sent_at", "id").values_list("body_text", flat=True)
        tickets_assign([NewTicket(ticket=routed, text=f"{ticket.subject}\n{first.first() or ''}")])
        if routed.assignee is not None:
            changes["assignee"] = routed.assignee
            before["assignee"], after["assignee"] = None, _loggable(routed.assignee)
    if not changes:
        return ticket
    ticket_version_bump(ticket=ticket, expected_version=expected_version, **changes)
    # Status, priority and team decide the clocks (pauses, the policy, the calendar).
    clock_events = (
        sla_follow_changes(changes=[(ticket, now)])
        if {"status", "priority", "team"} & after.keys()
        else []
    )
    events_record(
        events=[
            event_build(
                verb=Verb.TICKET_UPDATED,
                subject=ticket,
                actor=actor,
                customer_id=ticket.customer_id,
                before=before,
                after=after,
                occurred_at=now,
            ),
            *clock_events,
        ]
    )
    return ticket


def _loggable(value: Any) -> Any:
    """Event rows hold JSON: models are written as their display text."""
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, User):
        return value.get_username()
    if isinstance(value, Order):
        return value.reference
    return str(value)


def _check_own_order(*, customer: Customer, order: Order | None) -> None:
    if order is not None and order.customer_id != customer.pk:
        raise ValidationError(f"Order {order.reference} is another customer's order.")


@dataclass(frozen=True)
class ReceivedMessage:
    ticket: Ticket
    message: Message
    reopened: bool
    opened: bool = False


@dataclass(frozen=True)
class CustomerMessage:
    """A customer's message for `customer_messages_receive`: it continues `ticket`, or the
    ticket of the batch's earlier message at index `continues`, or else opens a ticket
    (with `subject`) for its contact's customer."""

    contact: Contact | None
    body_text: str
    sent_at: datetime
    message_id: str
    subject: str = ""
    body_html: str = ""
    in_reply_to: str = ""
    references: str = ""
    channel: str = Ticket.Channel.EMAIL
    ticket: Ticket | None = None
    continues: int | None = None


def ticket_receive_message(
    *,
    ticket: Ticket,
    contact: Contact | None,
    body_text: str,
    body_html: str = "",
    sent_at: datetime | None = None,
    message_id: str | None = None,
    in_reply_to: str = "",
    references: str = "",
) -> ReceivedMessage:
    """The customer writes again on a ticket (see `customer_messages_receive`)."""
    message = CustomerMessage(
        contact=contact,
        body_text=body_text,
        body_html=body_html,
        sent_at=sent_at or timezone.now(),
        message_id=message_id or new_message_id(),
        in_reply_to=in_reply_to,
        references=references,
        ticket=ticket,
    )
    return customer_messages_receive(messages=[message])[0]


_WRITTEN_WHEN_THE_CUSTOMER_WRITES = (
    "status",
    "solved_at",
    "closed_at",
    "priority",
    "priority_reason",
    "last_message_at",
    "version",
    "updated_at",
)


@transaction.atomic(savepoint=False)  # as crm.contacts_for_emails: nothing to catch inside
def customer_messages_receive(*, messages: Sequence[CustomerMessage]) -> list[ReceivedMessage]:
    """Customers' messages into their tickets, in order: the one way in for every channel
    a customer writes through, from one portal reply to a batch of a mailbox import.

    A message on a pending or solved ticket reopens it, and the priority rule may raise
    the priority (an angry follow-up). Customer messages never conflict, however stale
    the caller's copy of a ticket: the tickets are read again under a row lock, the
    version bumped unconditionally (so an agent's stale form is told the customer wrote
    meanwhile) and the callers' copies brought up to date. A batch costs a fixed number
    of queries: one INSERT per table and one UPDATE for the tickets continued.
    """
    rule = PriorityRule.current()
    now = timezone.now()
    callers = [m.ticket for m in messages if m.ticket is not None]
    locked = Ticket.objects.select_for_update(of=("self",)).select_related("customer", "team")
    known = {t.pk: t for t in locked.filter(pk__in={t.pk for t in callers}).order_by("pk")}
    tickets: list[Ticket] = []
    continued: dict[int, Ticket] = {}
    rows: list[Message] = []
    # Per message: (whether it opened its ticket, the event's before, its after).
    outcomes: list[tuple[bool, dict[str, Any], dict[str, Any]]] = []
    for item in messages:
        body_text = checked_body(item.body_text)
        if item.ticket is None and item.continues is None:
            if item.contact is None:
                raise ValidationError("A ticket is opened by a contact of a customer.")
            ticket = _customer_ticket(item=item, body_text=body_text, rule=rule)
            outcomes.append((True, {}, _opened_after(ticket)))
        else:
            ticket = (
                known[item.ticket.pk] if item.ticket is not None else tickets[item.continues or 0]
            )
            outcomes.append(
                (False, *_customer_wrote(ticket=ticket, text=body_text, at=item.sent_at, rule=rule))
            )
            ticket.updated_at = now
            if ticket.pk is not None:
                continued[ticket.pk] = ticket
        tickets.append(ticket)
        rows.append(
            Message(
                ticket=ticket,
                direction=Message.Direction.INBOUND,
                author_contact=item.contact,
                body_text=body_text,
                body_html=stored_html(html=item.body_html, text=body_text),
                sent_at=item.sent_at,
                message_id=item.message_id,
                in_reply_to=item.in_reply_to,
                references=item.references,
            )
        )
    opening = [(item, t) for item, t in zip(messages, tickets, strict=True) if t.pk is None]
    _link_mentioned_orders(opening)
    tickets_assign(
        [NewTicket(ticket=t, text=f"{item.subject}\n{item.body_text}") for item, t in opening]
    )
    for ticket, (opened, _before, after) in zip(tickets, outcomes, strict=True):
        if opened:  # as assigned now
            after.update(_opened_after(ticket))
    new_tickets = list({id(t): t for _item, t in opening}.values())
    Ticket.objects.bulk_create(new_tickets)
    sla = SlaContext.for_tickets([*new_tickets, *continued.values()], rule=rule)
    sla_rows_open(tickets=new_tickets, context=sla)
    rows_update(list(continued.values()), fields=_WRITTEN_WHEN_THE_CUSTOMER_WRITES)
    clock_events = sla_follow_changes(
        changes=[
            (ticket, item.sent_at)
            for item, ticket in zip(messages, tickets, strict=True)
            if ticket.pk in continued
        ],
        customer_wrote=True,
        context=sla,
    )
    Message.objects.bulk_create(rows)
    events_record(
        events=[
            event_build(
                verb=Verb.TICKET_OPENED if opened else Verb.TICKET_MESSAGE_RECEIVED,
                subject=ticket,
                actor_label=f"customer:{item.contact.pk}" if item.contact else "customer",
                customer_id=ticket.customer_id,
                before=before,
                after=after if opened else {"message": message.pk, **after},
                occurred_at=item.sent_at,
            )
            for item, ticket, message, (opened, before, after) in zip(
                messages, tickets, rows, outcomes, strict=True
            )
        ]
        + clock_events
    )
    for caller in callers:  # the caller's copy as it now is, as a refresh would leave it
        caller.__dict__.update(
            {f.attname: getattr(known[caller.pk], f.attname) for f in Ticket._meta.concrete_fields}
        )
    return [
        ReceivedMessage(
            ticket=ticket,
            message=message,
            reopened=not opened and after.get("status") == Ticket.Status.OPEN,
            opened=opened,
        )
        for ticket, message, (opened, _before, after) in zip(tickets, rows, outcomes, strict=True)
    ]


def _link_mentioned_orders(opening: list[tuple[CustomerMessage, Ticket]]) -> None:
    """A new ticket is about the order its first message names by number, if the
    customer has one by that number: one query for the batch."""
    texts: dict[int, str] = {}
    for item, ticket in opening:
        texts[ticket.customer_id] = (
            f"{texts.get(ticket.customer_id, '')}\n{item.subject}\n{item.body_text}"
        )
    found = orders_mentioned(texts=texts)
    for _item, ticket in opening:
        ticket.order = found.get(ticket.customer_id)


def _customer_ticket(*, item: CustomerMessage, body_text: str, rule: PriorityRule) -> Ticket:
    assert item.contact is not None
    customer = item.contact.customer
    decision = decide_priority(
        current=Ticket.Priority.NORMAL,
        value_at_risk=customer.value_at_risk,
        text=f"{item.subject}\n{body_text}",
        rule=rule,
    )
    return ticket_build(
        customer=customer,
        contact=item.contact,
        subject=item.subject,
        channel=item.channel,
        decision=decision,
        team=None,
        sent_at=item.sent_at,
    )


def ticket_build(
    *,
    customer: Customer,
    contact: Contact | None,
    subject: str,
    channel: str,
    decision: PriorityDecision,
    team: Team | None,
    sent_at: datetime,
) -> Ticket:
    return Ticket(
        customer=customer,
        contact=contact,
        subject=checked_subject(subject),
        channel=channel,
        priority=decision.priority,
        priority_reason=decision.reason,
        value_at_risk=customer.value_at_risk or 0,
        team=team,
        last_message_at=sent_at,
        created_at=sent_at,
    )


def _opened_after(ticket: Ticket) -> dict[str, Any]:
    """What a TICKET_OPENED event says of the new ticket (and whom a rule gave it to)."""
    return {
        "subject": ticket.subject,
        "channel": ticket.channel,
        "priority": ticket.priority,
        **({"priority_reason": ticket.priority_reason} if ticket.priority_reason else {}),
        **({"team": _loggable(ticket.team)} if ticket.team_id else {}),
        **({"assignee": _loggable(ticket.assignee)} if ticket.assignee_id else {}),
    }


def _customer_wrote(
    *, ticket: Ticket, text: str, at: datetime, rule: PriorityRule
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply a customer's new message to the ticket in memory: the event's before, after."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if ticket.status in (Ticket.Status.PENDING, Ticket.Status.SOLVED):
        before["status"], after["status"] = ticket.status, Ticket.Status.OPEN
        for name, value in _status_stamps(new_status=Ticket.Status.OPEN, now=at).items():
            setattr(ticket, name, value)
    decision = decide_priority(
        current=ticket.priority, value_at_risk=ticket.customer.value_at_risk, text=text, rule=rule
    )
    if decision.priority != ticket.priority:
        before["priority"], after["priority"] = ticket.priority, decision.priority
        ticket.priority, ticket.priority_reason = decision.priority, decision.reason
    ticket.last_message_at = at
    ticket.version += 1
    return before, after


def priority_calibrate(*, share: float | None = None) -> PriorityCalibration | None:
    """Where the top `share` of scored customers by value at risk begins, for the priority
    rule; called at each scoring. None (and the rule unchanged) when nobody has value at
    risk: a threshold of zero would raise every ticket."""
    share = settings.NEXTORDER_PRIORITY_TOP_SHARE if share is None else share
    scored = Customer.objects.filter(value_at_risk__isnull=False)
    count = scored.count()
    rank = max(int(count * share) - 1, 0)
    threshold = (
        scored.order_by("-value_at_risk", "id").values_list("value_at_risk", flat=True)[rank]
        if count
        else None
    )
    if not threshold:
        return None
    calibration = PriorityCalibration.objects.create(
        computed_at=timezone.now(),
        top_share=share,
        top_value_at_risk=threshold,
        customers_scored=count,
    )
    event_record(
        verb=Verb.PRIORITY_CALIBRATED,
        subject=calibration,
        actor_label="system:scoring",
        after={"top_share": share, "top_value_at_risk": str(threshold), "customers": count},
    )
    return calibration


def tickets_refresh_value_at_risk(*, customer_ids_sql: str) -> int:
    """Copy customers' new value at risk onto their active tickets (for the value sort).

    `customer_ids_sql` selects the customers whose scores changed; one UPDATE for all.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE desk_ticket SET value_at_risk = COALESCE((
                SELECT value_at_risk FROM crm_customer
                WHERE crm_customer.id = desk_ticket.customer_id
            ), 0)
            WHERE status IN ('new', 'open', 'pending') AND customer_id IN ({customer_ids_sql})
            """
        )
        return cursor.rowcount


@dataclass(frozen=True)
class CallRecordData:
    """One call or chat as another system reports it (see `CallRecord`)."""

    external_id: str
    channel: str
    offered_at: datetime
    outcome: str
    wait_seconds: float
    handle_seconds: float = 0.0
    queue: str = ""
    team_id: int | None = None


@dataclass(frozen=True)
class CallRecordsReported:
    created: int
    duplicates: int


MAX_CALL_RECORDS_PER_BATCH = 10_000


def _call_record_problem(record: CallRecordData) -> str | None:
    if record.channel not in CallRecord.Channel.values:
        return f"channel must be one of {', '.join(CallRecord.Channel.values)}"
    if record.outcome not in CallRecord.Outcome.values:
        return f"outcome must be one of {', '.join(CallRecord.Outcome.values)}"
    for name in ("wait_seconds", "handle_seconds"):
        value = getattr(record, name)
        if not (math.isfinite(value) and 0 <= value <= 86_400):
            return f"{name} must be between 0 and 86400"
    if record.outcome == CallRecord.Outcome.ABANDONED and record.handle_seconds:
        return "an abandoned call has no handle time"
    if timezone.is_naive(record.offered_at):
        return "offered_at needs a time zone"
    if not record.external_id:
        return "external_id must not be empty"
    return None


@transaction.atomic
def call_records_report(
    *, records: Sequence[CallRecordData], actor: User | None
) -> CallRecordsReported:
    """Store reported calls and chats; one already held (by external id) is not counted
    again, so a system may send a batch twice. A bad row refuses the whole batch, named."""
    if len(records) > MAX_CALL_RECORDS_PER_BATCH:
        raise ValidationError(f"At most {MAX_CALL_RECORDS_PER_BATCH} records a batch.")
    problems = [
        f"row {index}: {problem}"
        for index, record in enumerate(records)
        if (problem := _call_record_problem(record))
    ]
    if problems:
        raise ValidationError("; ".join(problems[:20]))
    team_ids = {r.team_id for r in records if r.team_id is not None}
    known_teams = set(Team.objects.filter(pk__in=team_ids).values_list("pk", flat=True))
    if unknown := sorted(team_ids - known_teams):
        raise ValidationError(f"No team with id {', '.join(map(str, unknown))}.")
    by_id = {record.external_id: record for record in records}
    held = set(
        CallRecord.objects.filter(external_id__in=list(by_id)).values_list("external_id", flat=True)
    )
    new = [
        CallRecord(
            external_id=record.external_id,
            channel=record.channel,
            queue=record.queue,
            team_id=record.team_id,
            offered_at=record.offered_at,
            outcome=record.outcome,
            wait_seconds=record.wait_seconds,
            handle_seconds=record.handle_seconds,
        )
        for external_id, record in by_id.items()
        if external_id not in held
    ]
    # A concurrent batch with the same ids loses nothing: the database keeps one of each.
    CallRecord.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
    result = CallRecordsReported(created=len(new), duplicates=len(records) - len(new))
    if new:
        event_record(
            verb=Verb.CALLS_RECORDED,
            subject=CallRecord.objects.get(external_id=new[0].external_id),
            actor=actor,
            after={"created": result.created, "duplicates": result.duplicates},
        )
    return result
