"""The agent's quick tools: bulk actions and saved views on the queue; tags, macros,
merge and split on a ticket; the macro page. Thin views over desk/bulk.py, tags.py,
macros.py and merge.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from nextorder.core import params
from nextorder.core.models import Team
from nextorder.desk.bulk import (
    BulkAction,
    saved_view_delete,
    saved_view_save,
    tickets_bulk_change,
)
from nextorder.desk.forms import (
    BulkForm,
    MacroApplyForm,
    MacroForm,
    MergeForm,
    SavedViewForm,
    SplitForm,
    TagForm,
)
from nextorder.desk.macros import (
    PLACEHOLDERS,
    macro_actions_text,
    macro_apply,
    macro_delete,
    macro_may_change,
    macro_save,
    macros_for,
)
from nextorder.desk.merge import DifferentCustomers, ticket_merge, ticket_split
from nextorder.desk.models import Macro, Message, SavedView, Tag, Ticket
from nextorder.desk.selectors import ticket_workers
from nextorder.desk.services import TicketConflict
from nextorder.desk.tags import tag_get_or_create, ticket_tag_remove, ticket_tags_add
from nextorder.desk.views import ticket_or_404, ticket_page


def _refusal(exc: Exception) -> str:
    return " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


@require_POST
@login_required
@permission_required("desk.change_ticket", raise_exception=True)
def queue_bulk(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    form = BulkForm(request.POST)
    back = reverse("desk:queue") + _back_query(request)
    if not form.is_valid():
        messages.error(request, "Choose an action for the selected tickets.")
        return redirect(back)
    ids = [pk for pk in map(params.object_id, request.POST.getlist("ticket")) if pk]
    data = form.cleaned_data
    assignee: User | None = None
    tag: Tag | None = None
    try:
        if data["action"] == BulkAction.ASSIGN:
            assignee = _bulk_assignee(user, data["assignee"])
        elif data["action"] == BulkAction.TAG:
            tag = tag_get_or_create(name=data["tag"], actor=user)
        outcome = tickets_bulk_change(
            ticket_ids=ids,
            actor=user,
            action=BulkAction(data["action"]),
            status=data["status"],
            assignee=assignee,
            tag=tag,
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _refusal(exc))
        return redirect(back)
    (messages.success if outcome.changed else messages.warning)(request, outcome.summary())
    return redirect(back)


def _back_query(request: HttpRequest) -> str:
    """The queue's filters the bulk form was posted from, to go back to."""
    query = request.POST.get("query", "")
    return f"?{query}" if query and len(query) < 2000 and "\n" not in query else ""


def _bulk_assignee(user: User, raw: str) -> User | None:
    """ "me", "none" (unassign) or a worker's id; anything else is refused."""
    if raw == "me":
        return user
    if raw == "none":
        return None
    pk = params.object_id(raw)
    found = ticket_workers().filter(pk=pk).first() if pk else None
    if found is None:
        raise ValidationError("Choose whom to assign the tickets to.")
    return found


@require_POST
@login_required
@permission_required("desk.view_ticket", raise_exception=True)
def saved_view_create(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the view a name (at most 60 characters).")
        return redirect("desk:queue")
    view = saved_view_save(
        owner=request.user,  # type: ignore[arg-type]
        name=form.cleaned_data["name"],
        query=form.cleaned_data["query"],
    )
    messages.success(request, f"Saved the view “{view.name}”.")
    return redirect(reverse("desk:queue") + (f"?{view.query}" if view.query else ""))


@require_POST
@login_required
@permission_required("desk.view_ticket", raise_exception=True)
def saved_view_remove(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk, owner=request.user)
    saved_view_delete(view=view, actor=request.user)  # type: ignore[arg-type]
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect("desk:queue")


@require_POST
@login_required
@permission_required("desk.change_ticket", raise_exception=True)
def ticket_tag_add(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = ticket_or_404(pk)
    form = TagForm(request.POST)
    if not form.is_valid():
        return ticket_page(
            request, ticket, error="Name the tag (at most 50 characters).", status=400
        )
    user: User = request.user  # type: ignore[assignment]
    try:
        tag = tag_get_or_create(name=form.cleaned_data["name"], actor=user)
    except (ValidationError, PermissionDenied) as exc:
        return ticket_page(request, ticket, error=_refusal(exc), status=400)
    ticket_tags_add(ticket=ticket, tags=[tag], actor=user)
    return redirect("desk:ticket", pk=pk)


@require_POST
@login_required
@permission_required("desk.change_ticket", raise_exception=True)
def ticket_tag_delete(request: HttpRequest, pk: int, tag: int) -> HttpResponse:
    ticket = ticket_or_404(pk)
    ticket_tag_remove(ticket=ticket, tag=get_object_or_404(Tag, pk=tag), actor=request.user)  # type: ignore[arg-type]
    return redirect("desk:ticket", pk=pk)


@require_POST
@login_required
@permission_required("desk.change_ticket", raise_exception=True)
def ticket_macro(request: HttpRequest, pk: int) -> HttpResponse:
    """A macro without a reply, applied at once."""
    ticket = ticket_or_404(pk)
    form = MacroApplyForm(request.POST)
    if not form.is_valid():
        return ticket_page(request, ticket, error="Choose a macro to apply.", status=400)
    user: User = request.user  # type: ignore[assignment]
    macro = get_object_or_404(macros_for(user), pk=form.cleaned_data["macro"])
    try:
        macro_apply(
            ticket=ticket, macro=macro, actor=user, expected_version=form.cleaned_data["version"]
        )
    except TicketConflict as conflict:
        return ticket_page(request, conflict.ticket, conflict=str(conflict), status=409)
    except PermissionDenied as exc:
        return ticket_page(request, ticket, error=str(exc), status=403)
    except ValidationError as exc:
        return ticket_page(request, ticket, error=_refusal(exc), status=400)
    messages.success(request, f"Applied the macro “{macro.name}”.")
    return redirect("desk:ticket", pk=pk)


@require_POST
@login_required
@permission_required("desk.change_ticket", raise_exception=True)
def ticket_merge_view(request: HttpRequest, pk: int) -> HttpResponse:
    source = ticket_or_404(pk)
    form = MergeForm(request.POST)
    if not form.is_valid():
        return ticket_page(request, source, merge_form=form, status=400)
    target = Ticket.objects.filter(pk=form.cleaned_data["target"]).first()
    if target is None:
        form.add_error("target", "There is no ticket of that number.")
        return ticket_page(request, source, merge_form=form, status=400)
    try:
        ticket_merge(
            source=source,
            target=target,
            actor=request.user,  # type: ignore[arg-type]
            source_version=form.cleaned_data["version"],
            target_version=target.version,
            different_customers=form.cleaned_data["different_customers"],
        )
    except TicketConflict as conflict:
        return ticket_page(request, conflict.ticket, conflict=str(conflict), status=409)
    except DifferentCustomers as exc:
        form.add_error("different_customers", _refusal(exc))
        return ticket_page(request, source, merge_form=form, status=400)
    except ValidationError as exc:
        form.add_error("target", exc)
        return ticket_page(request, source, merge_form=form, status=400)
    messages.success(request, f"Merged #{source.pk} into this ticket.")
    return redirect("desk:ticket", pk=target.pk)


@require_POST
@login_required
@permission_required("desk.change_ticket", raise_exception=True)
def ticket_split_view(request: HttpRequest, pk: int) -> HttpResponse:
    ticket = ticket_or_404(pk)
    form = SplitForm(request.POST)
    if not form.is_valid():
        return ticket_page(request, ticket, error="Choose a message to split off.", status=400)
    message = get_object_or_404(Message, pk=form.cleaned_data["message"], ticket=ticket)
    try:
        new = ticket_split(
            ticket=ticket,
            message=message,
            actor=request.user,  # type: ignore[arg-type]
            expected_version=form.cleaned_data["version"],
            with_later=form.cleaned_data["with_later"],
        )
    except TicketConflict as conflict:
        return ticket_page(request, conflict.ticket, conflict=str(conflict), status=409)
    except ValidationError as exc:
        return ticket_page(request, ticket, error=_refusal(exc), status=400)
    messages.success(request, f"Split into a new ticket #{new.pk}.")
    return redirect("desk:ticket", pk=new.pk)


def _macro_from_form(request: HttpRequest, form: MacroForm, macro: Macro | None) -> Macro | None:
    """Save the form's macro, or put the service's refusal on the form (None)."""
    user: User = request.user  # type: ignore[assignment]
    data = form.cleaned_data
    shared = data["shared_with"]
    team = None
    team_pk = params.object_id(shared.removeprefix("team:"))
    if shared.startswith("team:") and team_pk:
        team = Team.objects.filter(pk=team_pk).first()
    try:
        tags = [tag_get_or_create(name=name, actor=user) for name in data["add_tags"]]
        return macro_save(
            actor=user,
            macro=macro,
            name=data["name"],
            body=data["body"],
            personal=shared == "personal",
            team=team,
            set_status=data["set_status"],
            set_priority=data["set_priority"],
            set_assignee=data["set_assignee"],
            add_tags=tags,
        )
    except (ValidationError, PermissionDenied) as exc:
        form.add_error(None, _refusal(exc))
        return None


def _macro_initial(macro: Macro) -> dict[str, object]:
    return {
        "name": macro.name,
        "body": macro.body,
        "shared_with": (
            "personal" if macro.owner_id else f"team:{macro.team_id}" if macro.team_id else "all"
        ),
        "set_status": macro.set_status,
        "set_priority": macro.set_priority,
        "set_assignee": macro.set_assignee_id,
        "add_tags": ", ".join(tag.name for tag in macro.add_tags.all()),
    }


def _macros_page(
    request: HttpRequest, form: MacroForm, editing: Macro | None = None, status: int = 200
) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    usable = list(
        macros_for(user)
        .select_related("owner", "team", "set_assignee")
        .prefetch_related("add_tags")
    )
    return render(
        request,
        "desk/macros.html",
        {
            "macros": [
                (m, macro_may_change(macro=m, user=user), macro_actions_text(m)) for m in usable
            ],
            "form": form,
            "editing": editing,
            "placeholders": PLACEHOLDERS,
        },
        status=status,
    )


@login_required
@permission_required("desk.view_macro", raise_exception=True)
def macros(request: HttpRequest) -> HttpResponse:
    """Every macro the user may use, and a form for a new one."""
    user: User = request.user  # type: ignore[assignment]
    if request.method != "POST":
        return _macros_page(request, MacroForm(user=user))
    if not user.has_perm("desk.add_macro"):
        raise PermissionDenied("Your role cannot write macros.")
    form = MacroForm(request.POST, user=user)
    if form.is_valid() and (macro := _macro_from_form(request, form, None)):
        messages.success(request, f"Saved the macro “{macro.name}”.")
        return redirect("desk:macros")
    return _macros_page(request, form, status=400)


@login_required
@permission_required("desk.change_macro", raise_exception=True)
def macro_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    macro = get_object_or_404(macros_for(user), pk=pk)
    if not macro_may_change(macro=macro, user=user):
        raise PermissionDenied("Only leads change shared macros; a personal one, its owner.")
    if request.method != "POST":
        return _macros_page(request, MacroForm(user=user, initial=_macro_initial(macro)), macro)
    form = MacroForm(request.POST, user=user)
    if form.is_valid() and _macro_from_form(request, form, macro):
        messages.success(request, f"Saved the macro “{macro.name}”.")
        return redirect("desk:macros")
    return _macros_page(request, form, macro, status=400)


@require_POST
@login_required
@permission_required("desk.delete_macro", raise_exception=True)
def macro_remove(request: HttpRequest, pk: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    macro = get_object_or_404(macros_for(user), pk=pk)
    macro_delete(macro=macro, actor=user)
    messages.success(request, f"Deleted the macro “{macro.name}”.")
    return redirect("desk:macros")
