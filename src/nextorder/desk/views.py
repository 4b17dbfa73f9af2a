"""The agent console: thin views that parse, call a selector or service, and render."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from nextorder.core import params
from nextorder.core.models import Team
from nextorder.crm.models import Customer
from nextorder.crm.selectors import customer_orders, customer_summary, customer_timeline
from nextorder.desk.forms import ContactAddressForm, ReplyForm, SlaPolicyForm, TicketUpdateForm
from nextorder.desk.mail.inbound import quarantined_mail_delete, quarantined_mail_release
from nextorder.desk.models import Attachment, InboundMail, OutboxMail, SlaPolicy, Ticket
from nextorder.desk.selectors import (
    ASSIGNEE_ME,
    ASSIGNEE_NOBODY,
    DUE_SOON,
    BadCursor,
    QueueFilters,
    QueueSort,
    customer_tickets,
    outbox_mail,
    quarantined_mail,
    ticket_clocks,
    ticket_conversation,
    tickets_for_queue,
)
from nextorder.desk.services import (
    TicketConflict,
    ticket_contact_address_add,
    ticket_reply,
    ticket_reply_address,
    ticket_update,
)
from nextorder.desk.sla import POLICY_FIELDS, sla_policy_create, sla_policy_update


def _queue_filters(request: HttpRequest) -> QueueFilters:
    """Unknown values are ignored, as a hand-edited URL should not break the queue."""
    statuses = tuple(s for s in request.GET.getlist("status") if s in Ticket.Status.values)
    assignee = request.GET.get("assignee", "")
    return QueueFilters(
        statuses=statuses or tuple(Ticket.ACTIVE_STATUSES),
        due_within=DUE_SOON if request.GET.get("due") == "soon" else None,
        team_id=params.object_id(request.GET.get("team")),
        assignee=(
            assignee if assignee in (ASSIGNEE_ME, ASSIGNEE_NOBODY) else params.object_id(assignee)
        ),
    )


@login_required
@permission_required("desk.view_ticket", raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    filters = _queue_filters(request)
    sort = next((s for s in QueueSort if s.value == request.GET.get("sort")), QueueSort.PRIORITY)
    try:
        page = tickets_for_queue(
            user=request.user,  # type: ignore[arg-type]
            filters=filters,
            sort=sort,
            cursor=request.GET.get("after") or None,
            limit=settings.NEXTORDER_QUEUE_PAGE_SIZE,
        )
    except BadCursor as exc:
        return render(request, "desk/queue.html", {"error": str(exc)}, status=400)
    more_query = request.GET.copy()
    if page.next_cursor:
        more_query["after"] = page.next_cursor
    context = {
        "page": page,
        "more_query": more_query.urlencode(),
        "statuses": Ticket.Status.choices,
        "selected_statuses": filters.statuses,
        "teams": Team.objects.all(),
        "sorts": [
            (QueueSort.PRIORITY, "Priority"),
            (QueueSort.VALUE_AT_RISK, "Value at risk"),
            (QueueSort.AGE, "Age"),
            (QueueSort.DUE, "Due"),
        ],
    }
    if request.htmx and request.GET.get("after"):  # type: ignore[attr-defined]
        return render(request, "desk/_queue_rows.html", context)
    if request.htmx and request.htmx.target == "queue-table":  # type: ignore[attr-defined]
        return render(request, "desk/_queue_table.html", context)
    return render(request, "desk/queue.html", context)


def _ticket_context(request: HttpRequest, ticket: Ticket, **extra: object) -> dict[str, object]:
    user: User = request.user  # type: ignore[assignment]
    return {
        "ticket": ticket,
        "conversation": ticket_conversation(ticket=ticket),
        "summary": customer_summary(customer=ticket.customer),
        "orders": customer_orders(customer=ticket.customer, limit=10),
        "other_tickets": customer_tickets(customer=ticket.customer, exclude=ticket, limit=10),
        "timeline": customer_timeline(customer=ticket.customer, limit=15),
        "clocks": ticket_clocks(ticket=ticket),
        "reply_address": ticket_reply_address(ticket),
        "address_form": extra.pop("address_form", None)
        or ContactAddressForm(initial={"version": ticket.version}),
        "reply_form": extra.pop("reply_form", None)
        or ReplyForm(initial={"version": ticket.version, "status": Ticket.Status.PENDING}),
        "update_form": extra.pop("update_form", None)
        or TicketUpdateForm(
            user=user,
            ticket=ticket,
            initial={
                "status": ticket.status,
                "priority": ticket.priority,
                "assignee": ticket.assignee_id,
                "team": ticket.team_id,
                "version": ticket.version,
            },
        ),
        **extra,
    }


def _ticket_page(
    request: HttpRequest, ticket: Ticket, *, status: int = 200, **extra: object
) -> HttpResponse:
    """The ticket page, also as the answer to a form that failed (with the form, its
    errors or the conflict in `extra`)."""
    context = _ticket_context(request, ticket, **extra)
    return render(request, "desk/ticket.html", context, status=status)


def _load_ticket(pk: int) -> Ticket:
    return get_object_or_404(
        Ticket.objects.select_related("customer", "contact", "assignee", "team"), pk=pk
    )


@login_required
@permission_required("desk.view_ticket", raise_exception=True)
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _ticket_page(request, _load_ticket(pk))


@require_POST
@login_required
@permission_required("desk.add_message", raise_exception=True)
def ticket_reply_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _load_ticket(pk)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return _ticket_page(request, ticket, reply_form=form, status=400)
    try:
        ticket_reply(
            ticket=ticket,
            author=request.user,  # type: ignore[arg-type]
            body=form.cleaned_data["body"],
            expected_version=form.cleaned_data["version"],
            status=form.cleaned_data["status"],
            internal=form.cleaned_data["internal"],
        )
    except TicketConflict as conflict:
        # Keep the draft: the agent reads what changed and sends it again if still right.
        form = ReplyForm(initial={**form.cleaned_data, "version": conflict.ticket.version})
        return _ticket_page(
            request, conflict.ticket, reply_form=form, conflict=str(conflict), status=409
        )
    except ValidationError as exc:
        form.add_error("body", exc)
        return _ticket_page(request, ticket, reply_form=form, status=400)
    messages.success(request, "Note added." if form.cleaned_data["internal"] else "Reply sent.")
    return redirect("desk:ticket", pk=pk)


@require_POST
@login_required
@permission_required("desk.change_ticket", raise_exception=True)
def ticket_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _load_ticket(pk)
    form = TicketUpdateForm(request.POST, user=request.user, ticket=ticket)  # type: ignore[arg-type]
    if not form.is_valid():
        return _ticket_page(request, ticket, update_form=form, status=400)
    data = form.cleaned_data
    try:
        ticket_update(
            ticket=ticket,
            actor=request.user,  # type: ignore[arg-type]
            expected_version=data["version"],
            status=data["status"],
            priority=data["priority"],
            assignee=data["assignee"],
            team=data["team"],
        )
    except TicketConflict as conflict:
        return _ticket_page(request, conflict.ticket, conflict=str(conflict), status=409)
    except PermissionDenied as exc:
        return _ticket_page(request, ticket, update_form=form, error=str(exc), status=403)
    except ValidationError as exc:
        return _ticket_page(
            request, ticket, update_form=form, error=" ".join(exc.messages), status=400
        )
    messages.success(request, "Ticket saved.")
    return redirect("desk:ticket", pk=pk)


@require_POST
@login_required
@permission_required(["desk.change_ticket", "crm.add_contact"], raise_exception=True)
def ticket_contact_address(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = _load_ticket(pk)
    form = ContactAddressForm(request.POST)
    if not form.is_valid():
        return _ticket_page(request, ticket, address_form=form, status=400)
    try:
        ticket_contact_address_add(
            ticket=ticket,
            actor=request.user,  # type: ignore[arg-type]
            address=form.cleaned_data["address"],
            name=form.cleaned_data["name"],
            expected_version=form.cleaned_data["version"],
        )
    except TicketConflict as conflict:
        return _ticket_page(request, conflict.ticket, conflict=str(conflict), status=409)
    except ValidationError as exc:
        form.add_error("address", exc)
        return _ticket_page(request, ticket, address_form=form, status=400)
    messages.success(request, "Address added: replies on this ticket now reach the customer.")
    return redirect("desk:ticket", pk=pk)


@login_required
@permission_required("crm.view_customer", raise_exception=True)
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    return render(
        request,
        "desk/customer.html",
        {
            "customer": customer,
            "summary": customer_summary(customer=customer),
            "contacts": customer.contacts.prefetch_related("emails"),
            "orders": customer_orders(customer=customer, limit=100),
            "tickets": customer_tickets(customer=customer, limit=50),
            "timeline": customer_timeline(customer=customer, limit=50),
        },
    )


# Shown in the browser (inline images in messages); anything else is downloaded.
_INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


@login_required
@permission_required("desk.view_attachment", raise_exception=True)
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """A customer's file, served so that it cannot run as a page of the console: images
    inline, everything else as a download, never sniffed into HTML."""
    attachment = get_object_or_404(Attachment, pk=pk)
    inline = attachment.content_type in _INLINE_TYPES
    return _untrusted_file(
        attachment.file,
        filename=attachment.filename,
        inline_as=attachment.content_type if inline else "",
    )


def _untrusted_file(file: Any, *, filename: str, inline_as: str = "") -> FileResponse:
    """A file a customer sent, as a download (or shown inline as `inline_as`, an image
    type), never sniffed into HTML and sandboxed should a browser render it anyway."""
    response = FileResponse(
        file.open("rb"),
        as_attachment=not inline_as,
        filename=filename,
        content_type=inline_as or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@permission_required("desk.view_inboundmail", raise_exception=True)
def quarantine(request: HttpRequest) -> HttpResponse:
    count, held = quarantined_mail()
    return render(request, "desk/quarantine.html", {"count": count, "held": held})


@require_POST
@login_required
@permission_required("desk.manage_quarantine", raise_exception=True)
def quarantine_release(request: HttpRequest, pk: int) -> HttpResponse:
    inbound = get_object_or_404(InboundMail, pk=pk)
    try:
        ticket = quarantined_mail_release(inbound=inbound, actor=request.user)  # type: ignore[arg-type]
    except ValueError as exc:
        messages.error(request, str(exc))
        return redirect("desk:quarantine")
    messages.success(request, f"Released into ticket #{ticket.pk}.")
    return redirect("desk:ticket", pk=ticket.pk)


@require_POST
@login_required
@permission_required("desk.manage_quarantine", raise_exception=True)
def quarantine_delete(request: HttpRequest, pk: int) -> HttpResponse:
    inbound = get_object_or_404(InboundMail, pk=pk)
    try:
        quarantined_mail_delete(inbound=inbound, actor=request.user)  # type: ignore[arg-type]
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Deleted; the record of its arrival stays.")
    return redirect("desk:quarantine")


@login_required
@permission_required("desk.view_inboundmail", raise_exception=True)
def quarantine_raw(request: HttpRequest, pk: int) -> FileResponse:
    """The message exactly as it arrived, to open in a mail client (never in the page)."""
    inbound = get_object_or_404(InboundMail, pk=pk, outcome=InboundMail.Outcome.QUARANTINED)
    return _untrusted_file(inbound.raw, filename=f"quarantined-{inbound.pk}.eml")


@login_required
@permission_required("desk.view_outboxmail", raise_exception=True)
def outbox(request: HttpRequest) -> HttpResponse:
    count, kept = outbox_mail()
    return render(request, "desk/outbox.html", {"count": count, "kept": kept})


@login_required
@permission_required("desk.view_outboxmail", raise_exception=True)
def outbox_message(request: HttpRequest, pk: int) -> HttpResponse:
    """One kept message as its recipient's mail client would get it, shown as text."""
    mail = get_object_or_404(OutboxMail, pk=pk)
    response = HttpResponse(bytes(mail.raw), content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _policy_fields(form: SlaPolicyForm) -> dict[str, Any]:
    return {name: value for name, value in form.cleaned_data.items() if name != "version"}


@login_required
@permission_required("desk.view_slapolicy", raise_exception=True)
def sla_policies(request: HttpRequest) -> HttpResponse:
    """The policies in the order they are matched; leads and managers add one here."""
    form = SlaPolicyForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not request.user.has_perm("desk.add_slapolicy"):
            raise PermissionDenied
        if form.is_valid():
            try:
                policy = sla_policy_create(actor=request.user, **_policy_fields(form))  # type: ignore[arg-type]
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request, f"Policy {policy.name!r} added; open tickets are being matched again."
                )
                return redirect("desk:sla_policies")
    context = {"policies": SlaPolicy.objects.select_related("calendar"), "form": form}
    return render(request, "desk/sla_policies.html", context, status=400 if form.errors else 200)


@login_required
@permission_required("desk.view_slapolicy", raise_exception=True)
def sla_policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy = get_object_or_404(SlaPolicy, pk=pk)
    initial = {name: getattr(policy, name) for name in POLICY_FIELDS} | {"version": policy.version}
    form = SlaPolicyForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST":
        if not request.user.has_perm("desk.change_slapolicy"):
            raise PermissionDenied
        if form.is_valid():
            try:
                sla_policy_update(
                    policy=policy,
                    actor=request.user,  # type: ignore[arg-type]
                    expected_version=form.cleaned_data["version"] or 0,
                    **_policy_fields(form),
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request, f"Policy {policy.name!r} saved; open tickets' due times follow."
                )
                return redirect("desk:sla_policies")
    return render(
        request,
        "desk/sla_policy.html",
        {"policy": policy, "form": form},
        status=400 if form.errors else 200,
    )
