"""The API at /api/v1/: one NinjaAPI, a router per app, token auth on every operation.

The routers call the services and selectors the console calls; here the errors they
raise become answers, so that bad input is a 4xx with a message and never a 500.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import DataError, IntegrityError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI

from nextorder.core.api import ApiTokenAuth
from nextorder.core.api import router as webhooks_router
from nextorder.crm.api import router as crm_router
from nextorder.desk.api import calls_router, search_router
from nextorder.desk.api import router as desk_router
from nextorder.desk.services import TicketConflict
from nextorder.sales.api import router as sales_router

api = NinjaAPI(
    title="NextOrder API",
    version="1",
    description="Tickets, customers, orders, promises, agreements, leads and webhooks. "
    "Authenticate with `Authorization: Bearer <token>` (`nextorder api_token create`).",
    urls_namespace="api",
    # Bearer tokens only: no session cookie is read, so no request can be forged (CSRF).
    auth=ApiTokenAuth(),
)
api.add_router("/tickets", desk_router)
api.add_router("/search", search_router)
api.add_router("/call-records", calls_router)
api.add_router("/", crm_router)
api.add_router("/webhooks", webhooks_router)
api.add_router("/sales", sales_router)


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return api.create_response(request, {"detail": message}, status=status)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _error(request, " ".join(exc.messages), 400)


@api.exception_handler(PermissionDenied)
def permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, str(exc) or "Your role may not do this.", 403)


@api.exception_handler(ObjectDoesNotExist)
def not_found(request: HttpRequest, exc: ObjectDoesNotExist) -> HttpResponse:
    return _error(request, "Not found.", 404)


@api.exception_handler(TicketConflict)
def conflict(request: HttpRequest, exc: TicketConflict) -> HttpResponse:
    return _error(request, str(exc), 409)


@api.exception_handler(ValueError)
def bad_value(request: HttpRequest, exc: ValueError) -> HttpResponse:
    """Services refuse some input with ValueError (a taken address, a bad cursor)."""
    return _error(request, str(exc), 400)


@api.exception_handler(DataError)
def data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
    """A value the database cannot store, which the bounds above should already refuse."""
    return _error(request, "A value is out of range for the database.", 400)


@api.exception_handler(IntegrityError)
def integrity_error(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
    """A concurrent write took the same unique value (an address, an id)."""
    return _error(request, "This conflicts with a record saved meanwhile; try again.", 409)
