"""Tickets over the API: the console's services and selectors, the console's role rules."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator, model_validator

from nextorder.core.api import ERRORS, Moment, ObjectId, api_user, inline, require_perm, text
from nextorder.core.models import Team
from nextorder.crm.api import ContactOut, CustomerOut, OrderOut
from nextorder.crm.models import Customer, Order
from nextorder.crm.services import contact_for_email
from nextorder.desk.mail.parse import MAX_BODY_CHARS
from nextorder.desk.models import CLOCKS, CallRecord, ClockState, Message, Ticket, TicketSla
from nextorder.desk.search import PER_PAGE, Kind, SearchFilters, kinds_for, search
from nextorder.desk.selectors import (
    ASSIGNEE_ME,
    ASSIGNEE_NOBODY,
    QueueFilters,
    QueueSort,
    tickets_for_queue,
)
from nextorder.desk.services import (
    MAX_CALL_RECORDS_PER_BATCH,
    CallRecordData,
    call_records_report,
    ticket_open,
    ticket_reply,
    ticket_update,
)

TicketStatus = Annotated[Ticket.Status, inline(Ticket.Status)]
TicketPriority = Annotated[Ticket.Priority, inline(Ticket.Priority)]
TicketChannel = Annotated[Ticket.Channel, inline(Ticket.Channel)]
MessageDirection = Annotated[Message.Direction, inline(Message.Direction)]
Sort = Annotated[QueueSort, inline(QueueSort)]
ClockStateValue = Annotated[ClockState, inline(ClockState)]

router = Router(tags=["tickets"])
search_router = Router(tags=["search"])
SearchKind = Annotated[Kind, inline(Kind)]

Version = Field(ge=1, le=2**31 - 1, description="The version you read; a stale one is a 409.")
Body = text(MAX_BODY_CHARS, min_length=1)


class ClockOut(Schema):
    state: ClockStateValue = Field(description="'' when the clock never ran.")
    started_at: datetime | None
    due_at: datetime | None


class SlaOut(Schema):
    policy: str | None
    due_at: datetime | None = Field(description="The earliest due time of a running clock.")
    first_response: ClockOut
    next_response: ClockOut
    resolution: ClockOut


def _sla_out(ticket: Ticket) -> dict[str, Any] | None:
    try:
        row = ticket.sla
    except TicketSla.DoesNotExist:  # a ticket from before service levels, or bulk-loaded
        return None
    return {
        "policy": row.policy.name if row.policy else None,
        "due_at": row.due_at,
        **{
            clock: {
                "state": getattr(row, f"{clock}_state"),
                "started_at": getattr(row, f"{clock}_started_at"),
                "due_at": getattr(row, f"{clock}_due_at"),
            }
            for clock in CLOCKS
        },
    }


class TicketOut(Schema):
    id: int
    subject: str
    status: TicketStatus
    priority: TicketPriority
    priority_reason: str
    channel: TicketChannel
    customer_id: int
    contact_id: int | None
    order_id: int | None
    assignee_id: int | None
    team_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    solved_at: datetime | None
    sla: SlaOut | None = Field(description="The service-level clocks (see the README).")

    @staticmethod
    def resolve_sla(ticket: Ticket | dict[str, Any]) -> dict[str, Any] | None:
        if isinstance(ticket, dict):  # `_detail` hands this schema's dump to TicketDetailOut
            return ticket.get("sla")
        return _sla_out(ticket)


class MessageOut(Schema):
    id: int
    direction: MessageDirection
    author: str = Field(alias="author_display")
    author_user_id: int | None
    author_contact_id: int | None
    body_text: str
    sent_at: datetime


class TicketDetailOut(TicketOut):
    messages: list[MessageOut]


class TicketPage(Schema):
    items: list[TicketOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class TicketFilters(Schema):
    status: list[TicketStatus] = Field(
        default_factory=lambda: list(Ticket.ACTIVE_STATUSES), max_length=len(Ticket.Status)
    )
    team: ObjectId | None = None
    assignee: ObjectId | Literal["me", "none"] | None = None
    customer: ObjectId | None = None
    sort: Sort = QueueSort.PRIORITY
    cursor: text(500) | None = None  # type: ignore[valid-type]
    limit: int = Field(50, ge=1, le=100)


class TicketIn(Schema):
    """For a known customer (`customer_id`), or from an address (`contact_email`): its
    contact's customer, or a new customer and contact."""

    customer_id: ObjectId | None = None
    contact_email: text(254, min_length=3) | None = None  # type: ignore[valid-type]
    contact_name: text(200) = ""  # type: ignore[valid-type]
    subject: text(250, min_length=1)  # type: ignore[valid-type]
    body: Body  # type: ignore[valid-type]
    priority: TicketPriority = Ticket.Priority.NORMAL
    order_id: ObjectId | None = Field(
        None, description="The customer's order it is about; else one the body names by number."
    )

    @model_validator(mode="after")
    def one_customer(self) -> TicketIn:
        if (self.customer_id is None) == (self.contact_email is None):
            raise ValueError("give either customer_id or contact_email")
        return self


class ReplyIn(Schema):
    body: Body  # type: ignore[valid-type]
    internal: bool = False
    status: TicketStatus | None = None
    version: int = Version


class ReplyOut(Schema):
    message: MessageOut
    ticket: TicketOut


class TicketPatch(Schema):
    """Only the fields given change; `assignee_id` or `team_id` null clears it."""

    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    assignee_id: ObjectId | None = None
    team_id: ObjectId | None = None
    order_id: ObjectId | None = None
    version: int = Version


def _ticket(ticket_id: int) -> Ticket:
    return get_object_or_404(
        Ticket.objects.select_related("customer", "contact", "assignee", "team", "sla__policy"),
        pk=ticket_id,
    )


@router.get("", response={200: TicketPage, **ERRORS})
def tickets(request: HttpRequest, filters: Query[TicketFilters]) -> Any:
    """The queue, a page at a time (keyset pagination: a deep page costs what the first does)."""
    user = require_perm(request, "desk.view_ticket")
    assignee = filters.assignee
    page = tickets_for_queue(
        with_clocks=True,
        user=user,
        filters=QueueFilters(
            statuses=tuple(filters.status) or tuple(Ticket.ACTIVE_STATUSES),
            team_id=filters.team,
            assignee=ASSIGNEE_ME
            if assignee == "me"
            else ASSIGNEE_NOBODY
            if assignee == "none"
            else assignee,
            customer_id=filters.customer,
        ),
        sort=filters.sort,
        cursor=filters.cursor or None,
        limit=filters.limit,
    )
    return {"items": page.tickets, "next_cursor": page.next_cursor}


@router.post("", response={201: TicketDetailOut, **ERRORS})
def ticket_create(request: HttpRequest, data: TicketIn) -> Any:
    user = require_perm(request, "desk.add_ticket")
    if data.customer_id is not None:
        customer, contact = get_object_or_404(Customer, pk=data.customer_id), None
    else:
        contact = contact_for_email(
            address=data.contact_email or "", name=data.contact_name, actor=user
        )
        customer = contact.customer
    ticket = ticket_open(
        customer=customer,
        contact=contact,
        subject=data.subject,
        body_text=data.body,
        channel=Ticket.Channel.API,
        priority=data.priority,
        actor=user,
        order=_referenced(Order, data.order_id, "order"),
    )
    return Status(201, _detail(ticket))


def _detail(ticket: Ticket) -> dict[str, Any]:
    messages = ticket.messages.select_related("author_user", "author_contact").prefetch_related(
        "author_contact__emails"
    )
    return {**TicketOut.model_validate(ticket).model_dump(), "messages": list(messages)}


@router.get("/{ticket_id}", response={200: TicketDetailOut, **ERRORS})
def ticket(request: HttpRequest, ticket_id: ObjectId) -> Any:
    """With its messages, internal notes included (every token is a staff user's)."""
    require_perm(request, "desk.view_ticket")
    return _detail(_ticket(ticket_id))


@router.post("/{ticket_id}/reply", response={201: ReplyOut, **ERRORS})
def reply(request: HttpRequest, ticket_id: ObjectId, data: ReplyIn) -> Any:
    user = require_perm(request, "desk.view_ticket", "desk.add_message")
    ticket = _ticket(ticket_id)
    message = ticket_reply(
        ticket=ticket,
        author=user,
        body=data.body,
        expected_version=data.version,
        status=data.status,
        internal=data.internal,
    )
    return Status(201, {"message": message, "ticket": ticket})


@router.patch("/{ticket_id}", response={200: TicketOut, **ERRORS})
def ticket_change(request: HttpRequest, ticket_id: ObjectId, data: TicketPatch) -> Any:
    """Status, priority, assignee, team, the order it is about: assigning others or
    re-routing needs a lead."""
    user = require_perm(request, "desk.view_ticket", "desk.change_ticket")
    ticket = _ticket(ticket_id)
    given = data.model_fields_set - {"version"}
    changes: dict[str, Any] = {name: getattr(data, name) for name in given & {"status", "priority"}}
    if changes.get("status", "") is None or changes.get("priority", "") is None:
        raise ValidationError("status and priority cannot be null.")
    if "assignee_id" in given:
        changes["assignee"] = _referenced(get_user_model(), data.assignee_id, "user")
    if "team_id" in given:
        changes["team"] = _referenced(Team, data.team_id, "team")
    if "order_id" in given:
        changes["order"] = _referenced(Order, data.order_id, "order")
    return ticket_update(ticket=ticket, actor=user, expected_version=data.version, **changes)


def _referenced(model: Any, pk: int | None, what: str) -> Any:
    """The object a body refers to (None clears); an unknown id is a bad request, not 404."""
    if pk is None:
        return None
    found = model.objects.filter(pk=pk).first()
    if found is None:
        raise ValidationError(f"There is no {what} #{pk}.")
    return found


def _day(value: date | None) -> date | None:
    if value is not None and not 1900 <= value.year <= 9000:
        raise ValueError("the year must be between 1900 and 9000")
    return value


Day = Annotated[date, AfterValidator(_day)]


class SearchQuery(Schema):
    q: text(1000) = Field(  # type: ignore[valid-type]
        description='Words, "a phrase", -left-out, "or"; an email address or order number '
        "is found whole. Over 200 characters or 12 terms, the rest is ignored (`cut`)."
    )
    kind: list[SearchKind] = Field(default_factory=lambda: list(Kind), max_length=len(Kind))
    status: list[TicketStatus] = Field(default_factory=list, max_length=len(Ticket.Status))
    team: ObjectId | None = None
    assignee: ObjectId | Literal["me", "none"] | None = None
    opened_from: Day | None = None
    opened_to: Day | None = None
    page: int = Field(1, ge=1, le=1000, description=f"Of tickets, {PER_PAGE} a page.")


class TicketHitOut(Schema):
    ticket: TicketOut
    rank: float
    excerpt: str


class SearchOut(Schema):
    tickets: list[TicketHitOut]
    more_tickets: bool
    capped: bool = Field(description="More tickets matched than were ranked: the newest were.")
    cut: bool
    customers: list[CustomerOut]
    contacts: list[ContactOut]
    orders: list[OrderOut]


@search_router.get("", response={200: SearchOut, **ERRORS})
def search_all(request: HttpRequest, query: Query[SearchQuery]) -> Any:
    """Tickets (subject and messages, ranked), customers, contacts and orders that match,
    of the kinds the token's role reads."""
    user = api_user(request)
    if not kinds_for(user):
        raise PermissionDenied("Your role may not read anything searchable.")
    results = search(
        user=user,
        query=query.q,
        filters=SearchFilters(
            kinds=tuple(query.kind) or tuple(Kind),
            statuses=tuple(query.status),
            team_id=query.team,
            assignee=query.assignee,
            opened_from=query.opened_from,
            opened_to=query.opened_to,
        ),
        page=query.page,
    )
    return {
        "tickets": results.tickets,
        "more_tickets": results.more_tickets,
        "capped": results.capped,
        "cut": results.text.cut,
        "customers": results.customers,
        "contacts": results.contacts,
        "orders": results.orders,
    }


calls_router = Router(tags=["call records"])

CallChannel = Annotated[CallRecord.Channel, inline(CallRecord.Channel)]
CallOutcome = Annotated[CallRecord.Outcome, inline(CallRecord.Outcome)]
Seconds = Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)]


class CallRecordIn(Schema):
    external_id: text(200, min_length=1)  # type: ignore[valid-type]
    channel: CallChannel
    queue: text(100) = ""  # type: ignore[valid-type]
    team_id: ObjectId | None = None
    offered_at: Moment
    outcome: CallOutcome
    wait_seconds: Seconds
    handle_seconds: Seconds = 0.0


class CallRecordsIn(Schema):
    records: list[CallRecordIn] = Field(min_length=1, max_length=MAX_CALL_RECORDS_PER_BATCH)


class CallRecordsOut(Schema):
    created: int
    duplicates: int = Field(description="Records already held (by external_id), not counted again.")


@calls_router.post("", response={201: CallRecordsOut, **ERRORS})
def call_records(request: HttpRequest, data: CallRecordsIn) -> Any:
    """Calls and chats reported by a telephony or chat system, for wait times and staffing.
    Sending a batch again is safe: a record is known by its `external_id`."""
    user = require_perm(request, "desk.add_callrecord")
    result = call_records_report(
        records=[CallRecordData(**record.model_dump()) for record in data.records], actor=user
    )
    return Status(201, {"created": result.created, "duplicates": result.duplicates})
