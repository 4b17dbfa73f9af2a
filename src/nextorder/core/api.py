"""What every API router shares (token auth, bounded input types, the error body, the
role check) and the webhook subscriptions' router, for managers."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from ninja.security import HttpBearer
from pydantic import AfterValidator, AwareDatetime, WithJsonSchema

from nextorder.core import params
from nextorder.core.models import ApiToken, WebhookDelivery, WebhookEvent, WebhookSubscription
from nextorder.core.roles import is_manager
from nextorder.core.services import (
    api_token_authenticate,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_update,
)


class ApiTokenAuth(HttpBearer):
    """`Authorization: Bearer nxo_…`; the request then acts as the token's user."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        return api_token_authenticate(secret=token)


def api_user(request: HttpRequest) -> User:
    auth: ApiToken = request.auth  # type: ignore[attr-defined]
    return auth.user


def require_perm(request: HttpRequest, *perms: str) -> User:
    """The token's user, if their role has every permission; else 403, as the console."""
    user = api_user(request)
    if not user.has_perms(perms):
        raise PermissionDenied(f"Your role may not do this (needs {', '.join(perms)}).")
    return user


# Input bounds: keys as the database's, text as the models' columns, no NUL (which
# PostgreSQL cannot store); the pattern is in the schema, so clients see it too.
ObjectId = Annotated[int, Field(ge=1, le=params.MAX_ID)]
Limit = Annotated[int, Field(ge=1, le=100)]
Offset = Annotated[int, Field(ge=0, le=10_000)]
NO_NUL = r"^[^\x00]*$"


def text(max_length: int, *, min_length: int = 0) -> Any:
    """A string type of these bounds (a function, so that each field states its column)."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length, pattern=NO_NUL)]


def inline(enum: type[Enum]) -> WithJsonSchema:
    """The schema of a model's choices, listed in place (`Annotated[Enum, inline(Enum)]`):
    as components, two enums of one name (Ticket.Status, WebhookDelivery.Status) would
    overwrite each other in the OpenAPI document."""
    values = [member.value for member in enum]
    kind = "integer" if all(isinstance(v, int) for v in values) else "string"
    return WithJsonSchema({"type": kind, "enum": values})


def _storable(value: datetime) -> datetime:
    """A time in the range the databases store (year 1 at +05:00 is before year 1 in UTC)."""
    if not 1900 <= value.year <= 9000:
        raise ValueError("the year must be between 1900 and 9000")
    return value.astimezone(UTC)


Moment = Annotated[AwareDatetime, AfterValidator(_storable)]


WebhookEventName = Annotated[WebhookEvent, inline(WebhookEvent)]
DeliveryStatus = Annotated[WebhookDelivery.Status, inline(WebhookDelivery.Status)]


class ErrorOut(Schema):
    """Every 4xx: a message, or (422) the list of invalid fields."""

    detail: str | list[dict[str, Any]]


# The answers any operation may give besides its own: bad input (400, 422 for the
# schema's bounds), no or a dead token (401), a role that may not (403), no such object
# (404), a stale version or a concurrent write (409).
ERRORS: dict[Any, Any] = {frozenset({400, 401, 403, 404, 409, 422}): ErrorOut}

router = Router(tags=["webhooks"])


def _manager(request: HttpRequest) -> User:
    user = api_user(request)
    if not is_manager(user):
        raise PermissionDenied("Only managers manage webhook subscriptions.")
    return user


class SubscriptionOut(Schema):
    id: int
    url: str
    events: list[WebhookEventName]
    active: bool
    created_at: datetime


class SubscriptionCreatedOut(SubscriptionOut):
    secret: str = Field(description="The signing key; shown only in this answer.")


class SubscriptionIn(Schema):
    url: text(2000, min_length=1)  # type: ignore[valid-type]
    events: list[WebhookEventName] = Field(min_length=1, max_length=len(WebhookEvent))
    active: bool = True


class SubscriptionPatch(Schema):
    url: text(2000, min_length=1) | None = None  # type: ignore[valid-type]
    events: list[WebhookEventName] | None = Field(None, min_length=1, max_length=len(WebhookEvent))
    active: bool | None = None


class DeliveryOut(Schema):
    id: int
    event: WebhookEventName
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


class Page(Schema):
    limit: Limit = 50
    offset: Offset = 0


@router.get("", response={200: list[SubscriptionOut], **ERRORS})
def subscriptions(request: HttpRequest) -> Any:
    _manager(request)
    return WebhookSubscription.objects.all()


@router.post("", response={201: SubscriptionCreatedOut, **ERRORS})
def subscription_create(request: HttpRequest, data: SubscriptionIn) -> Any:
    subscription = webhook_subscription_create(
        url=data.url, events=data.events, active=data.active, actor=_manager(request)
    )
    return Status(201, subscription)


@router.get("/{subscription_id}", response={200: SubscriptionOut, **ERRORS})
def subscription(request: HttpRequest, subscription_id: ObjectId) -> Any:
    _manager(request)
    return get_object_or_404(WebhookSubscription, pk=subscription_id)


@router.patch("/{subscription_id}", response={200: SubscriptionOut, **ERRORS})
def subscription_update(
    request: HttpRequest, subscription_id: ObjectId, data: SubscriptionPatch
) -> Any:
    actor = _manager(request)
    return webhook_subscription_update(
        subscription=get_object_or_404(WebhookSubscription, pk=subscription_id),
        actor=actor,
        url=data.url,
        events=data.events,
        active=data.active,
    )


@router.delete("/{subscription_id}", response={204: None, **ERRORS})
def subscription_delete(request: HttpRequest, subscription_id: ObjectId) -> Any:
    actor = _manager(request)
    webhook_subscription_delete(
        subscription=get_object_or_404(WebhookSubscription, pk=subscription_id), actor=actor
    )
    return Status(204, None)


@router.get("/{subscription_id}/deliveries", response={200: list[DeliveryOut], **ERRORS})
def deliveries(request: HttpRequest, subscription_id: ObjectId, page: Query[Page]) -> Any:
    """The delivery log, newest first."""
    _manager(request)
    subscription = get_object_or_404(WebhookSubscription, pk=subscription_id)
    return subscription.deliveries.all()[page.offset : page.offset + page.limit]
