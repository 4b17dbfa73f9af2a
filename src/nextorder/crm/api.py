"""Customers, contacts and orders over the API: a shop pushes each sale as it happens."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from pydantic import field_validator

from nextorder.core.api import ERRORS, Limit, Moment, ObjectId, Offset, inline, require_perm, text
from nextorder.crm.models import Contact, Customer, Order
from nextorder.crm.selectors import customer_orders, customers_search
from nextorder.crm.services import contact_create, customer_create, order_create_once

CustomerKind = Annotated[Customer.Kind, inline(Customer.Kind)]
OrderChannel = Annotated[Order.Channel, inline(Order.Channel)]

router = Router(tags=["customers and orders"])

Amount = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class CustomerOut(Schema):
    id: int
    kind: CustomerKind
    name: str
    external_id: str | None
    notes: str
    order_count: int
    total_spend: Decimal
    first_order_at: datetime | None
    last_order_at: datetime | None
    created_at: datetime


class CustomerIn(Schema):
    name: text(200, min_length=1)  # type: ignore[valid-type]
    kind: CustomerKind = Customer.Kind.PERSON
    external_id: text(100, min_length=1) | None = None  # type: ignore[valid-type]
    notes: text(10_000) = ""  # type: ignore[valid-type]


class CustomerSearch(Schema):
    q: text(200) = Field("", description="a prefix of the name or of a contact's address")  # type: ignore[valid-type]
    limit: Limit = 50
    offset: Offset = 0


class ContactOut(Schema):
    id: int
    customer_id: int
    name: str
    phone: str
    emails: list[str]

    @staticmethod
    def resolve_emails(contact: Contact) -> list[str]:
        return [e.address for e in contact.emails.all()]


class ContactIn(Schema):
    name: text(200) = ""  # type: ignore[valid-type]
    phone: text(50) = ""  # type: ignore[valid-type]
    emails: list[text(254, min_length=3)] = Field(default_factory=list, max_length=20)  # type: ignore[valid-type]


class OrderOut(Schema):
    id: int
    external_id: str | None
    customer_id: int
    contact_id: int | None
    placed_at: datetime
    amount: Decimal
    currency: str
    channel: OrderChannel
    item_count: int | None


class OrderIn(Schema):
    external_id: text(100, min_length=1) = Field(  # type: ignore[valid-type]
        description="The shop's order id: pushing it again returns the recorded order (200)."
    )
    customer_id: ObjectId
    contact_id: ObjectId | None = None
    placed_at: Moment
    amount: Amount
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    channel: OrderChannel = Order.Channel.WEB
    item_count: int | None = Field(None, ge=0, le=2**31 - 1)

    @field_validator("amount")
    @classmethod
    def below_a_trillion(cls, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise ValueError("the amount must be a finite number")
        return value


class OrderFilters(Schema):
    customer: ObjectId
    limit: Limit = 50
    offset: Offset = 0


@router.get("/customers", response={200: list[CustomerOut], **ERRORS})
def customers(request: HttpRequest, search: Query[CustomerSearch]) -> Any:
    require_perm(request, "crm.view_customer")
    return customers_search(query=search.q)[search.offset : search.offset + search.limit]


@router.post("/customers", response={201: CustomerOut, **ERRORS})
def customer_add(request: HttpRequest, data: CustomerIn) -> Any:
    user = require_perm(request, "crm.add_customer")
    return Status(201, customer_create(actor=user, **data.model_dump()))


@router.get("/customers/{customer_id}", response={200: CustomerOut, **ERRORS})
def customer(request: HttpRequest, customer_id: ObjectId) -> Any:
    require_perm(request, "crm.view_customer")
    return get_object_or_404(Customer, pk=customer_id)


@router.get("/customers/{customer_id}/contacts", response={200: list[ContactOut], **ERRORS})
def contacts(request: HttpRequest, customer_id: ObjectId) -> Any:
    require_perm(request, "crm.view_customer", "crm.view_contact")
    return get_object_or_404(Customer, pk=customer_id).contacts.prefetch_related("emails")


@router.post("/customers/{customer_id}/contacts", response={201: ContactOut, **ERRORS})
def contact_add(request: HttpRequest, customer_id: ObjectId, data: ContactIn) -> Any:
    require_perm(request, "crm.add_contact")
    customer = get_object_or_404(Customer, pk=customer_id)
    return Status(201, contact_create(customer=customer, **data.model_dump()))


@router.get("/orders", response={200: list[OrderOut], **ERRORS})
def orders(request: HttpRequest, filters: Query[OrderFilters]) -> Any:
    """A customer's orders, newest first."""
    require_perm(request, "crm.view_order")
    customer = get_object_or_404(Customer, pk=filters.customer)
    return customer_orders(customer=customer, limit=filters.limit, offset=filters.offset)


@router.post("/orders", response={200: OrderOut, 201: OrderOut, **ERRORS})
def order_add(request: HttpRequest, data: OrderIn) -> Any:
    """Record a sale; the same `external_id` again answers 200 with the recorded order."""
    user = require_perm(request, "crm.add_order")
    customer = get_object_or_404(Customer, pk=data.customer_id)
    contact = (
        get_object_or_404(Contact, pk=data.contact_id, customer=customer)
        if data.contact_id is not None
        else None
    )
    order, created = order_create_once(
        external_id=data.external_id,
        customer=customer,
        contact=contact,
        placed_at=data.placed_at,
        amount=data.amount,
        currency=data.currency,
        channel=data.channel,
        item_count=data.item_count,
        actor=user,
    )
    return Status(201 if created else 200, order)
