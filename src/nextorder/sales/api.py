"""Promises, coverage, agreements and leads over the API: the console's services and
selectors, the console's role rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator

from nextorder.core.api import (
    ERRORS,
    Limit,
    Moment,
    ObjectId,
    Offset,
    api_user,
    inline,
    require_perm,
    text,
)
from nextorder.crm.models import Customer, Order, Product
from nextorder.sales.models import AgreementItem, Commitment, Lead, ServiceAgreement, ServiceKind
from nextorder.sales.selectors import coverage_for
from nextorder.sales.services import (
    ItemSpec,
    agreement_create,
    commitment_break,
    commitment_create,
    commitment_keep,
    commitment_reassign,
    commitment_waive,
    lead_create,
    lead_lose,
    lead_win,
)

CommitmentKind = Annotated[Commitment.Kind, inline(Commitment.Kind)]
CommitmentState = Annotated[Commitment.State, inline(Commitment.State)]
LeadSource = Annotated[Lead.Source, inline(Lead.Source)]
LeadState = Annotated[Lead.State, inline(Lead.State)]
Kind = Annotated[ServiceKind, inline(ServiceKind)]
Effect = Annotated[AgreementItem.Effect, inline(AgreementItem.Effect)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Minutes = Annotated[int, Field(ge=1, le=2**31 - 1)]


def _storable_day(value: date) -> date:
    if not 1900 <= value.year <= 9000:
        raise ValueError("the year must be between 1900 and 9000")
    return value


Day = Annotated[date, AfterValidator(_storable_day)]

router = Router(tags=["promises, agreements and leads"])


def _staff(user_id: int) -> User:
    return get_object_or_404(get_user_model(), pk=user_id, is_active=True)


class CommitmentOut(Schema):
    id: int
    customer_id: int
    order_id: int | None
    kind: CommitmentKind
    description: str
    owner_id: int
    due_at: datetime
    state: CommitmentState
    reason: str
    settled_at: datetime | None
    created_at: datetime


class CommitmentIn(Schema):
    customer_id: ObjectId
    order_id: ObjectId | None = None
    kind: CommitmentKind = Commitment.Kind.OTHER
    description: text(500, min_length=1)  # type: ignore[valid-type]
    owner_id: ObjectId | None = Field(None, description="Default: the token's user.")
    due_at: Moment


class CommitmentFilters(Schema):
    customer: ObjectId | None = None
    owner: ObjectId | None = None
    state: CommitmentState | None = None
    limit: Limit = 50
    offset: Offset = 0


class Reason(Schema):
    reason: text(500) = ""  # type: ignore[valid-type]


class Reassign(Schema):
    owner_id: ObjectId


@router.get("/commitments", response={200: list[CommitmentOut], **ERRORS})
def commitments(request: HttpRequest, filters: Query[CommitmentFilters]) -> Any:
    """Promises, soonest due first."""
    require_perm(request, "sales.view_commitment")
    promises = Commitment.objects.order_by("due_at", "id")
    if filters.customer is not None:
        promises = promises.filter(customer_id=filters.customer)
    if filters.owner is not None:
        promises = promises.filter(owner_id=filters.owner)
    if filters.state is not None:
        promises = promises.filter(state=filters.state)
    return promises[filters.offset : filters.offset + filters.limit]


@router.post("/commitments", response={201: CommitmentOut, **ERRORS})
def commitment_add(request: HttpRequest, data: CommitmentIn) -> Any:
    user = require_perm(request, "sales.add_commitment")
    customer = get_object_or_404(Customer, pk=data.customer_id)
    order = (
        get_object_or_404(Order, pk=data.order_id, customer=customer)
        if data.order_id is not None
        else None
    )
    owner = _staff(data.owner_id) if data.owner_id is not None else user
    commitment = commitment_create(
        actor=user,
        customer=customer,
        order=order,
        kind=data.kind,
        description=data.description,
        owner=owner,
        due_at=data.due_at,
    )
    return Status(201, commitment)


@router.get("/commitments/{commitment_id}", response={200: CommitmentOut, **ERRORS})
def commitment(request: HttpRequest, commitment_id: ObjectId) -> Any:
    require_perm(request, "sales.view_commitment")
    return get_object_or_404(Commitment, pk=commitment_id)


@router.post("/commitments/{commitment_id}/keep", response={200: CommitmentOut, **ERRORS})
def commitment_kept(request: HttpRequest, commitment_id: ObjectId, data: Reason) -> Any:
    """Agents may mark a promise kept; the other changes are sales'."""
    user = api_user(request)
    if not (user.has_perm("sales.keep_commitment") or user.has_perm("sales.change_commitment")):
        raise PermissionDenied("Your role may not do this (needs sales.keep_commitment).")
    promise = get_object_or_404(Commitment, pk=commitment_id)
    return commitment_keep(commitment=promise, actor=user, reason=data.reason)


@router.post("/commitments/{commitment_id}/break", response={200: CommitmentOut, **ERRORS})
def commitment_broken(request: HttpRequest, commitment_id: ObjectId, data: Reason) -> Any:
    user = require_perm(request, "sales.change_commitment")
    promise = get_object_or_404(Commitment, pk=commitment_id)
    return commitment_break(commitment=promise, actor=user, reason=data.reason)


@router.post("/commitments/{commitment_id}/waive", response={200: CommitmentOut, **ERRORS})
def commitment_waived(request: HttpRequest, commitment_id: ObjectId, data: Reason) -> Any:
    user = require_perm(request, "sales.change_commitment")
    promise = get_object_or_404(Commitment, pk=commitment_id)
    return commitment_waive(commitment=promise, actor=user, reason=data.reason)


@router.post("/commitments/{commitment_id}/reassign", response={200: CommitmentOut, **ERRORS})
def commitment_handed(request: HttpRequest, commitment_id: ObjectId, data: Reassign) -> Any:
    user = require_perm(request, "sales.change_commitment")
    promise = get_object_or_404(Commitment, pk=commitment_id)
    return commitment_reassign(commitment=promise, owner=_staff(data.owner_id), actor=user)


class CoverageQuestion(Schema):
    customer: ObjectId
    product: ObjectId | None = None
    part: text(200) | None = None  # type: ignore[valid-type]
    kind: Kind | None = None
    on: Day | None = Field(None, description="Default: today.")


class CoverageOut(Schema):
    covered: bool
    reason: str
    agreement_id: int | None
    item_id: int | None
    until: date | None


@router.get("/coverage", response={200: CoverageOut, **ERRORS})
def coverage(request: HttpRequest, question: Query[CoverageQuestion]) -> Any:
    """Is this product, part or kind of service covered for the customer, why, and until when?"""
    require_perm(request, "sales.view_serviceagreement")
    customer = get_object_or_404(Customer, pk=question.customer)
    product = get_object_or_404(Product, pk=question.product) if question.product else None
    answer = coverage_for(
        customer=customer,
        product=product,
        part=question.part or None,
        kind=question.kind,
        on=question.on,
    )
    return {
        "covered": answer.covered,
        "reason": answer.reason,
        "agreement_id": answer.agreement.pk if answer.agreement else None,
        "item_id": answer.item.pk if answer.item else None,
        "until": answer.until,
    }


class ItemIO(Schema):
    effect: Effect = AgreementItem.Effect.COVERS
    product_id: ObjectId | None = None
    part: text(200) = ""  # type: ignore[valid-type]
    kind: Kind | None = None
    note: text(300) = ""  # type: ignore[valid-type]


class AgreementOut(Schema):
    id: int
    customer_id: int
    name: str
    plan: str
    starts_on: date
    ends_on: date
    first_response_minutes: int | None
    resolution_minutes: int | None
    items: list[ItemIO]

    @staticmethod
    def resolve_items(agreement: ServiceAgreement) -> list[dict[str, Any]]:
        return [
            {
                "effect": i.effect,
                "product_id": i.product_id,
                "part": i.part,
                "kind": i.kind or None,
                "note": i.note,
            }
            for i in agreement.items.all()
        ]


class AgreementIn(Schema):
    customer_id: ObjectId
    name: text(200, min_length=1)  # type: ignore[valid-type]
    plan: text(100) = ""  # type: ignore[valid-type]
    starts_on: Day
    ends_on: Day
    first_response_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None
    items: list[ItemIO] = Field(default_factory=list, max_length=50)


class AgreementFilters(Schema):
    customer: ObjectId


@router.get("/agreements", response={200: list[AgreementOut], **ERRORS})
def agreements(request: HttpRequest, filters: Query[AgreementFilters]) -> Any:
    """A customer's agreements, the latest ending first."""
    require_perm(request, "sales.view_serviceagreement")
    found = ServiceAgreement.objects.filter(customer_id=filters.customer)
    return found.prefetch_related("items")[:100]


@router.post("/agreements", response={201: AgreementOut, **ERRORS})
def agreement_add(request: HttpRequest, data: AgreementIn) -> Any:
    user = require_perm(request, "sales.add_serviceagreement")
    customer = get_object_or_404(Customer, pk=data.customer_id)
    items = [
        ItemSpec(
            effect=item.effect,
            product=get_object_or_404(Product, pk=item.product_id) if item.product_id else None,
            part=item.part,
            kind=item.kind or "",
            note=item.note,
        )
        for item in data.items
    ]
    agreement = agreement_create(
        customer=customer,
        actor=user,
        items=items,
        **data.model_dump(exclude={"customer_id", "items"}),
    )
    return Status(201, agreement)


class LeadOut(Schema):
    id: int
    customer_id: int
    source: LeadSource
    title: str
    note: str
    ticket_id: int | None
    owner_id: int | None
    value_estimate: Decimal | None
    state: LeadState
    won_amount: Decimal | None
    order_id: int | None
    created_at: datetime
    closed_at: datetime | None


class LeadIn(Schema):
    customer_id: ObjectId
    title: text(200, min_length=1)  # type: ignore[valid-type]
    source: LeadSource = Lead.Source.MANUAL
    note: text(10_000) = ""  # type: ignore[valid-type]
    ticket_id: ObjectId | None = None
    owner_id: ObjectId | None = None
    value_estimate: Amount | None = None


class LeadFilters(Schema):
    customer: ObjectId | None = None
    state: LeadState | None = None
    source: LeadSource | None = None
    limit: Limit = 50
    offset: Offset = 0


class Won(Schema):
    amount: Amount | None = Field(None, description="Default: the order's amount.")
    order_id: ObjectId | None = None


@router.get("/leads", response={200: list[LeadOut], **ERRORS})
def leads(request: HttpRequest, filters: Query[LeadFilters]) -> Any:
    require_perm(request, "sales.view_lead")
    found = Lead.objects.order_by("-created_at", "-id")
    if filters.customer is not None:
        found = found.filter(customer_id=filters.customer)
    if filters.state is not None:
        found = found.filter(state=filters.state)
    if filters.source is not None:
        found = found.filter(source=filters.source)
    return found[filters.offset : filters.offset + filters.limit]


@router.post("/leads", response={201: LeadOut, **ERRORS})
def lead_add(request: HttpRequest, data: LeadIn) -> Any:
    user = require_perm(request, "sales.add_lead")
    customer = get_object_or_404(Customer, pk=data.customer_id)
    lead = lead_create(
        customer=customer,
        title=data.title,
        source=data.source,
        note=data.note,
        ticket_id=data.ticket_id,
        owner=_staff(data.owner_id) if data.owner_id is not None else None,
        value_estimate=data.value_estimate,
        actor=user,
    )
    return Status(201, lead)


@router.post("/leads/{lead_id}/win", response={200: LeadOut, **ERRORS})
def lead_won(request: HttpRequest, lead_id: ObjectId, data: Won) -> Any:
    user = require_perm(request, "sales.change_lead")
    lead = get_object_or_404(Lead, pk=lead_id)
    order = (
        get_object_or_404(Order, pk=data.order_id, customer_id=lead.customer_id)
        if data.order_id is not None
        else None
    )
    if data.amount is None and order is None:
        raise ValueError("Give the amount won, or the order.")
    amount = data.amount if data.amount is not None else order.amount  # type: ignore[union-attr]
    return lead_win(lead=lead, actor=user, amount=amount, order=order)


@router.post("/leads/{lead_id}/lose", response={200: LeadOut, **ERRORS})
def lead_lost(request: HttpRequest, lead_id: ObjectId, data: Reason) -> Any:
    user = require_perm(request, "sales.change_lead")
    return lead_lose(lead=get_object_or_404(Lead, pk=lead_id), actor=user, reason=data.reason)
