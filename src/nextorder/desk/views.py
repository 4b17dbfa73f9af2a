"""The agent console: thin views that parse, call a selector or service, and render."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms.models import model_to_dict
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from nextorder.core import params
from nextorder.core.models import Team
from nextorder.crm.models import Customer
from nextorder.crm.selectors import (
    CustomerSort,
    customer_orders,
    customer_summary,
    customer_timeline,
    customers_list,
    order_lines,
)
from nextorder.desk.assignment import (
    agent_skill_add,
    agent_skill_remove,
    assignment_rule_set,
)
from nextorder.desk.forms import (
    AgentSkillForm,
    AssignmentRuleForm,
    BulkForm,
    ContactAddressForm,
    MacroApplyForm,
    MergeForm,
    ReplyForm,
    SavedViewForm,
    SlaPolicyForm,
    TagForm,
    TicketUpdateForm,
)
from nextorder.desk.macros import (
    macro_actions_text,
    macro_apply,
    macro_text,
    macros_for,
)
from nextorder.desk.mail.inbound import quarantined_mail_delete, quarantined_mail_release
from nextorder.desk.models import (
    AgentSkill,
    Attachment,
    InboundMail,
    Macro,
    OutboxMail,
    SlaPolicy,
    Ticket,
)
from nextorder.desk.panels import customer_panels
from nextorder.desk.search import Kind, SearchFilters, kinds_for, search
from nextorder.desk.selectors import (
    ASSIGNEE_ME,
    ASSIGNEE_NOBODY,
    DUE_SOON,
    BadCursor,
    QueueFilters,
    QueueSort,
    conversation_buying_intent,
    customer_tickets,
    follow_up_draft,
    outbox_mail,
    quarantined_mail,
    saved_views_of,
    tags_all,
    ticket_clocks,
    ticket_conversation,
    ticket_workers,
    tickets_for_queue,
    tickets_matching,
)
from nextorder.desk.services import (
    TicketConflict,
    ticket_contact_address_add,
    ticket_reply,
    ticket_reply_address,
    ticket_update,
)
from nextorder.desk.sla import POLICY_FIELDS, sla_policy_create, sla_policy_update
from nextorder.sales.models import Lead
from nextorder.sales.selectors import customer_sales
from nextorder.sales.services import lead_create


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
        tag_id=params.object_id(request.GET.get("tag")),
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
    user: User = request.user  # type: ignore[assignment]
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
    context.update(
        matching=tickets_matching(user=user, filters=filters),
        tags=tags_all(),
        saved_views=saved_views_of(user),
        view_form=SavedViewForm(initial={"query": request.GET.urlencode()}),
        bulk_form=BulkForm(),
        workers=ticket_workers() if user.has_perm("desk.assign_ticket") else [],
    )
    if request.htmx and request.htmx.target == "queue-table":  # type: ignore[attr-defined]
        return render(request, "desk/_queue_table.html", context)
    return render(request, "desk/queue.html", context)


def _ticket_context(request: HttpRequest, ticket: Ticket, **extra: object) -> dict[str, object]:
    user: User = request.user  # type: ignore[assignment]
    usable = macros_for(user) if user.has_perm("desk.change_ticket") else Macro.objects.none()
    chosen = _chosen_macro(request, usable)
    reply_initial: dict[str, object] = {
        "version": ticket.version,
        "status": Ticket.Status.PENDING,
        "body": follow_up_draft(ticket=ticket, agent=user),
    }
    if chosen is not None and chosen.body:
        reply_initial.update(
            body=macro_text(macro=chosen, ticket=ticket, agent=user),
            status=chosen.set_status or Ticket.Status.PENDING,
            macro=chosen.pk,
        )
    conversation = ticket_conversation(ticket=ticket)
    return {
        "ticket": ticket,
        "conversation": conversation,
        "buying_intent": conversation_buying_intent(conversation),
        "open_lead": Lead.objects.filter(ticket_id=ticket.pk, state=Lead.State.OPEN).first(),
        "sales": customer_sales(customer=ticket.customer),
        "order_lines": order_lines(order=ticket.order),
        "summary": customer_summary(customer=ticket.customer),
        "orders": customer_orders(customer=ticket.customer, limit=10),
        "other_tickets": customer_tickets(customer=ticket.customer, exclude=ticket, limit=10),
        "timeline": customer_timeline(customer=ticket.customer, limit=15),
        "panels": customer_panels(request=request, customer=ticket.customer),
        "clocks": ticket_clocks(ticket=ticket),
        "reply_address": ticket_reply_address(ticket),
        "ticket_tags": list(ticket.tags.all()),
        "all_tags": tags_all(),
        "macros": list(usable.order_by("name", "id")),
        "macro": chosen,
        "macro_actions": macro_actions_text(chosen) if chosen else [],
        "macro_form": MacroApplyForm(
            initial={"macro": chosen.pk if chosen else None, "version": ticket.version}
        ),
        "tag_form": TagForm(),
        "merge_form": extra.pop("merge_form", None)
        or MergeForm(initial={"version": ticket.version}),
        "address_form": extra.pop("address_form", None)
        or ContactAddressForm(initial={"version": ticket.version}),
        "reply_form": extra.pop("reply_form", None) or ReplyForm(initial=reply_initial),
        "update_form": extra.pop("update_form", None)
        or TicketUpdateForm(
            user=user,
            ticket=ticket,
            initial={
                "status": ticket.status,
                "priority": ticket.priority,
                "assignee": ticket.assignee_id,
                "team": ticket.team_id,
                "order": ticket.order_id,
                "version": ticket.version,
            },
        ),
        **extra,
    }


def _chosen_macro(request: HttpRequest, usable: QuerySet[Macro]) -> Macro | None:
    """The macro picked from the ticket page (?macro=), if the user may use it."""
    pk = params.object_id(request.GET.get("macro"))
    return usable.filter(pk=pk).prefetch_related("add_tags").first() if pk else None


def ticket_page(
    request: HttpRequest, ticket: Ticket, *, status: int = 200, **extra: object
) -> HttpResponse:
    """The ticket page, also as the answer to a form that failed (with the form, its
    errors or the conflict in `extra`)."""
    context = _ticket_context(request, ticket, **extra)
    return render(request, "desk/ticket.html", context, status=status)


def ticket_or_404(pk: int) -> Ticket:
    return get_object_or_404(
        Ticket.objects.select_related("customer", "contact", "assignee", "team", "order"),
        pk=pk,
    )


@login_required
@permission_required("desk.view_ticket", raise_exception=True)
def ticket_detail(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = ticket_or_404(pk)
    if ticket.merged_into_id is not None:
        messages.info(
            request, f"Ticket #{ticket.pk} was merged into this one; its messages are here."
        )
        return redirect("desk:ticket", pk=ticket.merged_into_id)
    return ticket_page(request, ticket)


@require_POST
@login_required
@permission_required("desk.add_message", raise_exception=True)
def ticket_reply_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = ticket_or_404(pk)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return ticket_page(request, ticket, reply_form=form, status=400)
    user: User = request.user  # type: ignore[assignment]
    macro_pk = form.cleaned_data["macro"]
    try:
        if macro_pk is None:
            ticket_reply(
                ticket=ticket,
                author=user,
                body=form.cleaned_data["body"],
                expected_version=form.cleaned_data["version"],
                status=form.cleaned_data["status"],
                internal=form.cleaned_data["internal"],
            )
        else:
            macro_apply(
                ticket=ticket,
                macro=get_object_or_404(macros_for(user), pk=macro_pk),
                actor=user,
                expected_version=form.cleaned_data["version"],
                reply=form.cleaned_data["body"],
                status=form.cleaned_data["status"],
                internal=form.cleaned_data["internal"],
            )
    except PermissionDenied as exc:
        return ticket_page(request, ticket, reply_form=form, error=str(exc), status=403)
    except TicketConflict as conflict:
        # Keep the draft: the agent reads what changed and sends it again if still right.
        form = ReplyForm(initial={**form.cleaned_data, "version": conflict.ticket.version})
        return ticket_page(
            request, conflict.ticket, reply_form=form, conflict=str(conflict), status=409
        )
    except ValidationError as exc:
        form.add_error("body", exc)
        return ticket_page(request, ticket, reply_form=form, status=400)
    messages.success(request, "Note added." if form.cleaned_data["internal"] else "Reply sent.")
    return redirect("desk:ticket", pk=pk)


@require_POST
@login_required
@permission_required("desk.change_ticket", raise_exception=True)
def ticket_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = ticket_or_404(pk)
    form = TicketUpdateForm(request.POST, user=request.user, ticket=ticket)  # type: ignore[arg-type]
    if not form.is_valid():
        return ticket_page(request, ticket, update_form=form, status=400)
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
            order=data["order"],
        )
    except TicketConflict as conflict:
        return ticket_page(request, conflict.ticket, conflict=str(conflict), status=409)
    except PermissionDenied as exc:
        return ticket_page(request, ticket, update_form=form, error=str(exc), status=403)
    except ValidationError as exc:
        return ticket_page(
            request, ticket, update_form=form, error=" ".join(exc.messages), status=400
        )
    messages.success(request, "Ticket saved.")
    return redirect("desk:ticket", pk=pk)


@require_POST
@login_required
@permission_required(["desk.change_ticket", "crm.add_contact"], raise_exception=True)
def ticket_contact_address(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = ticket_or_404(pk)
    form = ContactAddressForm(request.POST)
    if not form.is_valid():
        return ticket_page(request, ticket, address_form=form, status=400)
    try:
        ticket_contact_address_add(
            ticket=ticket,
            actor=request.user,  # type: ignore[arg-type]
            address=form.cleaned_data["address"],
            name=form.cleaned_data["name"],
            expected_version=form.cleaned_data["version"],
        )
    except TicketConflict as conflict:
        return ticket_page(request, conflict.ticket, conflict=str(conflict), status=409)
    except ValidationError as exc:
        form.add_error("address", exc)
        return ticket_page(request, ticket, address_form=form, status=400)
    messages.success(request, "Address added: replies on this ticket now reach the customer.")
    return redirect("desk:ticket", pk=pk)


@require_POST
@login_required
@permission_required(["desk.view_ticket", "sales.add_lead"], raise_exception=True)
def ticket_lead(request: HttpRequest, pk: int) -> HttpResponse:
    """Turn the conversation into a sales lead in one action, the ticket linked (once: a
    ticket with an open lead points to it)."""
    ticket = ticket_or_404(pk)
    existing = Lead.objects.filter(ticket_id=ticket.pk, state=Lead.State.OPEN).first()
    if existing is not None:
        messages.info(request, f"This ticket has an open lead already: {existing.title}.")
        return redirect("desk:ticket", pk=pk)
    intent = conversation_buying_intent(ticket_conversation(ticket=ticket))
    lead = lead_create(
        customer=ticket.customer,
        title=f"From ticket #{ticket.pk}: {ticket.subject}"[:200],
        source=Lead.Source.TICKET,
        ticket_id=ticket.pk,
        note=f"The customer wrote: {', '.join(intent)}." if intent else "",
        actor=request.user,  # type: ignore[arg-type]
    )
    messages.success(request, f"Lead opened for sales: {lead.title}.")
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
            "sales": customer_sales(customer=customer),
            "panels": customer_panels(request=request, customer=customer),
        },
    )


def _day(raw: str | None) -> date | None:
    """A date as the browser's date field sends it (YYYY-MM-DD); anything else is ignored."""
    try:
        day = date.fromisoformat(raw or "")
    except ValueError:
        return None
    return day if 1900 <= day.year <= 9000 else None


def _search_filters(request: HttpRequest) -> SearchFilters:
    """Unknown values are ignored, as on the queue."""
    kinds = tuple(k for k in Kind if k.value in request.GET.getlist("kind"))
    assignee = request.GET.get("assignee", "")
    return SearchFilters(
        kinds=kinds or tuple(Kind),
        statuses=tuple(s for s in request.GET.getlist("status") if s in Ticket.Status.values),
        team_id=params.object_id(request.GET.get("team")),
        assignee=(
            assignee if assignee in (ASSIGNEE_ME, ASSIGNEE_NOBODY) else params.object_id(assignee)
        ),
        opened_from=_day(request.GET.get("from")),
        opened_to=_day(request.GET.get("to")),
    )


@login_required
def search_view(request: HttpRequest) -> HttpResponse:
    """The search box's page: everything the user's role reads that matches, by kind."""
    user: User = request.user  # type: ignore[assignment]
    if not kinds_for(user):
        raise PermissionDenied
    query = request.GET.get("q", "")
    filters = _search_filters(request)
    page = params.integer(request.GET.get("page"), minimum=1, maximum=1000) or 1
    results = search(user=user, query=query, filters=filters, page=page)

    def page_link(number: int) -> str:
        link = request.GET.copy()
        link["page"] = str(number)
        return link.urlencode()

    return render(
        request,
        "desk/search.html",
        {
            "search_query": query,
            "results": results,
            "kinds": [(k.value, k.value.capitalize()) for k in kinds_for(user)],
            "statuses": Ticket.Status.choices,
            "teams": Team.objects.all(),
            "next_page": page_link(page + 1) if results.more_tickets else "",
            "previous_page": page_link(page - 1) if page > 1 else "",
        },
    )


@login_required
@permission_required("crm.view_customer", raise_exception=True)
def customer_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    sort = request.GET.get("sort", CustomerSort.NAME)
    page = customers_list(
        query=query,
        sort=sort,
        page=params.integer(request.GET.get("page"), minimum=1, maximum=10**6) or 1,
    )
    link = request.GET.copy()
    link.pop("page", None)
    return render(
        request,
        "desk/customers.html",
        {
            "page": page,
            "query": query,
            "sort": sort if sort in CustomerSort.ORDERINGS else CustomerSort.NAME,
            "sorts": CustomerSort.CHOICES,
            "page_query": link.urlencode(),
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


@login_required
@permission_required("desk.assign_ticket", raise_exception=True)
def assignment(request: HttpRequest) -> HttpResponse:
    """The teams' assignment rules and the agents' skills, for leads."""
    if request.method == "POST":
        return _assignment_change(request)
    return _assignment_page(request)


def _assignment_page(
    request: HttpRequest, *, status: int = 200, skill_form: AgentSkillForm | None = None
) -> HttpResponse:
    teams = Team.objects.select_related("assignment_rule").order_by("name")
    rows = [
        (
            team,
            AssignmentRuleForm(
                prefix=f"team{team.pk}",
                initial=model_to_dict(rule)
                if (rule := getattr(team, "assignment_rule", None))
                else {},
            ),
        )
        for team in teams
    ]
    skills = AgentSkill.objects.select_related("user").order_by("user__first_name", "kind", "value")
    context = {"rows": rows, "skills": skills, "skill_form": skill_form or AgentSkillForm()}
    return render(request, "desk/assignment.html", context, status=status)


def _assignment_change(request: HttpRequest) -> HttpResponse:
    actor: User = request.user  # type: ignore[assignment]
    action = request.POST.get("action", "")
    try:
        if action == "rule":
            team = get_object_or_404(Team, pk=_posted_id(request, "team"))
            form = AssignmentRuleForm(request.POST, prefix=f"team{team.pk}")
            if not form.is_valid():
                messages.error(request, "Choose one of the methods offered.")
                return _assignment_page(request, status=400)
            assignment_rule_set(team=team, actor=actor, **form.cleaned_data)
            messages.success(request, f"{team}: saved.")
        elif action == "add_skill":
            skill_form = AgentSkillForm(request.POST)
            if not skill_form.is_valid():
                return _assignment_page(request, status=400, skill_form=skill_form)
            agent_skill_add(actor=actor, **skill_form.cleaned_data)
            messages.success(request, "Skill added.")
        elif action == "remove_skill":
            skill = get_object_or_404(AgentSkill, pk=_posted_id(request, "skill"))
            agent_skill_remove(skill=skill, actor=actor)
            messages.success(request, "Skill removed.")
        else:
            return HttpResponseBadRequest("Unknown action.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _assignment_page(request, status=400)
    return redirect("desk:assignment")


def _posted_id(request: HttpRequest, name: str) -> int:
    pk = params.object_id(request.POST.get(name))
    if pk is None:
        raise Http404(f"No such {name}.")
    return pk


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
