"""The contact form and the customer portal: pages for people without a staff account.

A portal session is the contact's id in the Django session under a key of its own:
contacts are not users, so a portal log-in neither makes nor touches a staff log-in
in the same browser, and no staff page accepts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from nextorder.core.ratelimit import Rate, client_address, rate_exceeded
from nextorder.crm.models import Contact
from nextorder.crm.selectors import customer_orders
from nextorder.desk.merge import merge_survivors
from nextorder.desk.models import Ticket
from nextorder.desk.portal.forms import (
    HONEYPOT_FIELD,
    ContactForm,
    PortalLinkForm,
    PortalReplyForm,
)
from nextorder.desk.portal.services import (
    PortalLinkRefused,
    portal_link_check,
    portal_link_request,
    portal_link_use,
    portal_ticket_reply,
    web_form_submit,
)
from nextorder.desk.selectors import (
    customer_visible_tickets,
    public_conversation,
    public_messages,
)

logger = logging.getLogger(__name__)

PORTAL_SESSION_KEY = "nextorder_portal_contact"
P = ParamSpec("P")


def _render(
    request: HttpRequest,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    contact: Contact | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        template,
        {
            "support_name": settings.NEXTORDER_SUPPORT_NAME,
            "portal_contact": contact,
            **(context or {}),
        },
        status=status,
    )


def _too_many(request: HttpRequest, rate: Rate) -> HttpResponse:
    return _render(
        request,
        "portal/too_many.html",
        {"minutes": rate.minutes, "count": rate.count},
        status=429,
    )


def _over_rate(request: HttpRequest, *, scope: str, rate: Rate, email: str = "") -> bool:
    """Count this post against the client's address, or (with `email`) that address."""
    key = email.lower() if email else client_address(request)
    return rate_exceeded(scope=f"{scope}:email" if email else scope, key=key, rate=rate)


@require_http_methods(["GET", "POST"])
def contact_form(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render(request, "portal/contact.html", {"form": ContactForm()})
    rate = Rate.parse(settings.NEXTORDER_CONTACT_RATE)
    if _over_rate(request, scope="contact", rate=rate):
        return _too_many(request, rate)
    if request.POST.get(HONEYPOT_FIELD):
        # A script filled the field people never see: it is told what people are told.
        logger.info(
            "Contact form: honeypot filled from %s; nothing created", client_address(request)
        )
        return redirect("contact:thanks")
    form = ContactForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        if _over_rate(request, scope="contact", rate=rate, email=data["email"]):
            return _too_many(request, rate)
        try:
            web_form_submit(
                name=data["name"],
                email=data["email"],
                subject=data["subject"],
                message=data["message"],
                order_number=data["order_number"],
                portal_url=request.build_absolute_uri(reverse("portal:start")),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("contact:thanks")
    return _render(request, "portal/contact.html", {"form": form}, status=400)


def contact_thanks(request: HttpRequest) -> HttpResponse:
    return _render(request, "portal/contact_thanks.html")


def _portal_contact(request: HttpRequest) -> Contact | None:
    contact_id = request.session.get(PORTAL_SESSION_KEY)
    if not isinstance(contact_id, int):
        return None
    contact = Contact.objects.select_related("customer").filter(pk=contact_id).first()
    if contact is None:  # deleted since it logged in
        request.session.pop(PORTAL_SESSION_KEY, None)
    return contact


def portal_login_required(
    view: Callable[Concatenate[HttpRequest, Contact, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """Hand the view the logged-in contact; without one, go to the portal's log-in page."""

    @wraps(view)
    @never_cache
    def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        contact = _portal_contact(request)
        if contact is None:
            return redirect("portal:start")
        return view(request, contact, *args, **kwargs)

    return wrapper


@never_cache
@require_http_methods(["GET", "POST"])
def portal_start(request: HttpRequest) -> HttpResponse:
    """Ask for an address; mail a link if a contact has it. The page says the same
    whether or not it does, so the form tells nobody which addresses we know."""
    if request.method != "POST":
        if _portal_contact(request) is not None:
            return redirect("portal:tickets")
        return _render(request, "portal/start.html", {"form": PortalLinkForm()})
    rate = Rate.parse(settings.NEXTORDER_PORTAL_LINK_RATE)
    if _over_rate(request, scope="portal-link", rate=rate):
        return _too_many(request, rate)
    form = PortalLinkForm(request.POST)
    if not form.is_valid():
        return _render(request, "portal/start.html", {"form": form}, status=400)
    email = form.cleaned_data["email"]
    if _over_rate(request, scope="portal-link", rate=rate, email=email):
        return _too_many(request, rate)
    portal_link_request(address=email, site_url=request.build_absolute_uri("/"))
    return _render(
        request,
        "portal/link_sent.html",
        {"email": email, "minutes": settings.NEXTORDER_PORTAL_LINK_MINUTES},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def portal_login(request: HttpRequest, token: str) -> HttpResponse:
    """GET only shows a button: mail scanners that fetch every link must not spend it."""
    try:
        if request.method != "POST":
            portal_link_check(secret=token)
            return _render(request, "portal/login.html")
        contact = portal_link_use(secret=token)
    except PortalLinkRefused as refused:
        return _render(
            request, "portal/link_refused.html", {"reason": refused.reason}, status=refused.status
        )
    request.session.cycle_key()  # a session id planted before the log-in is worth nothing
    request.session[PORTAL_SESSION_KEY] = contact.pk
    return redirect("portal:tickets")


@require_POST
def portal_logout(request: HttpRequest) -> HttpResponse:
    """Ends the portal session only; a staff log-in in the same browser stays."""
    if request.session.pop(PORTAL_SESSION_KEY, None) is not None:
        request.session.cycle_key()
        messages.success(request, "You are logged out of the portal.")
    return redirect("portal:start")


# The portal lists a customer's latest tickets; a company with more sees these first.
PORTAL_TICKETS_SHOWN = 100


@portal_login_required
def portal_tickets(request: HttpRequest, contact: Contact) -> HttpResponse:
    tickets = customer_visible_tickets(customer=contact.customer, limit=PORTAL_TICKETS_SHOWN)
    return _render(
        request,
        "portal/tickets.html",
        {"tickets": tickets, "limit": PORTAL_TICKETS_SHOWN},
        contact=contact,
    )


def _ticket_page(
    request: HttpRequest, contact: Contact, ticket: Ticket, form: PortalReplyForm, status: int = 200
) -> HttpResponse:
    return _render(
        request,
        "portal/ticket.html",
        {
            "ticket": ticket,
            "conversation": public_conversation(ticket=ticket),
            "orders": customer_orders(customer=contact.customer, limit=10),
            "form": form,
        },
        contact=contact,
        status=status,
    )


def _own_ticket(contact: Contact, pk: int) -> Ticket:
    """The customer's ticket, or the one it was merged into, where its messages went.

    Another customer's ticket is a 404 (the portal does not say that it exists), and so is
    one with nothing said to the customer yet (a follow-up holding only internal notes).
    """
    asked = get_object_or_404(Ticket, pk=pk, customer_id=contact.customer_id)
    ticket = merge_survivors({asked.pk: asked})[asked.pk]
    if (
        ticket.customer_id != contact.customer_id
        or ticket.merged_into_id is not None
        or not public_messages().filter(ticket=ticket).exists()
    ):
        raise Http404("No such ticket.")
    return ticket


@portal_login_required
def portal_ticket(request: HttpRequest, contact: Contact, pk: int) -> HttpResponse:
    ticket = _own_ticket(contact, pk)
    if ticket.pk != pk:
        return redirect("portal:ticket", pk=ticket.pk)
    return _ticket_page(request, contact, ticket, PortalReplyForm())


@require_POST
@portal_login_required
def portal_reply(request: HttpRequest, contact: Contact, pk: int) -> HttpResponse:
    ticket = _own_ticket(contact, pk)
    form = PortalReplyForm(request.POST)
    if form.is_valid():
        try:
            portal_ticket_reply(contact=contact, ticket=ticket, body=form.cleaned_data["body"])
        except ValidationError as exc:
            form.add_error("body", exc)
        else:
            messages.success(request, "Thank you: your answer is on the ticket.")
            return redirect("portal:ticket", pk=ticket.pk)
    return _ticket_page(request, contact, ticket, form, status=400)
