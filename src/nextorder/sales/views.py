"""The sales console: promises, agreements, coverage and leads; thin views that parse,
call a selector or service, and render."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from nextorder.core import params
from nextorder.crm.models import Customer
from nextorder.crm.selectors import customer_value
from nextorder.sales.forms import (
    AgreementForm,
    AgreementItemFormSet,
    CommitmentForm,
    CommitmentStateForm,
    CoverageForm,
    LeadCloseForm,
    LeadForm,
    LeadNewForm,
)
from nextorder.sales.models import Commitment, Lead, ServiceAgreement
from nextorder.sales.selectors import (
    PROMISE_VIEWS,
    PromiseView,
    agreements_list,
    commitments_list,
    coverage_for,
    lead_revenue,
    leads_list,
    upsell_suggestions,
)
from nextorder.sales.services import (
    ItemSpec,
    agreement_create,
    agreement_update,
    commitment_break,
    commitment_create,
    commitment_keep,
    commitment_reassign,
    commitment_update,
    commitment_waive,
    lead_create,
    lead_lose,
    lead_update,
    lead_win,
)

_PAGE = 50


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _page_number(request: HttpRequest) -> int:
    return params.integer(request.GET.get("page"), minimum=1, maximum=100_000) or 1


@login_required
@permission_required("sales.view_commitment", raise_exception=True)
def commitments(request: HttpRequest) -> HttpResponse:
    chosen = request.GET.get("view", "")
    view = PromiseView(chosen) if chosen in PromiseView.__members__.values() else None
    view = view or PromiseView.MINE
    page = Paginator(commitments_list(user=_user(request), view=view), _PAGE).get_page(
        _page_number(request)
    )
    return render(
        request,
        "sales/commitments.html",
        {
            "page": page,
            "view": view,
            "views": PROMISE_VIEWS.items(),
        },
    )


def _commitment_form_page(
    request: HttpRequest,
    form: CommitmentForm,
    *,
    customer: Customer,
    commitment: Commitment | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "sales/commitment_form.html",
        {"form": form, "customer": customer, "commitment": commitment},
        status=status,
    )


@login_required
@permission_required("sales.add_commitment", raise_exception=True)
def commitment_new(request: HttpRequest, customer_pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=customer_pk)
    if request.method != "POST":
        form = CommitmentForm(customer=customer, initial={"owner": request.user.pk})
        return _commitment_form_page(request, form, customer=customer)
    form = CommitmentForm(request.POST, customer=customer)
    if not form.is_valid():
        return _commitment_form_page(request, form, customer=customer, status=400)
    try:
        commitment_create(actor=_user(request), customer=customer, **form.cleaned_data)
    except ValidationError as exc:
        form.add_error(None, exc)
        return _commitment_form_page(request, form, customer=customer, status=400)
    messages.success(request, f"Promise recorded for {customer.name}.")
    return redirect("desk:customer", pk=customer.pk)


@login_required
@permission_required("sales.change_commitment", raise_exception=True)
def commitment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    commitment = get_object_or_404(Commitment.objects.select_related("customer"), pk=pk)
    customer = commitment.customer
    if request.method != "POST":
        form = CommitmentForm(
            customer=customer,
            initial={
                "kind": commitment.kind,
                "description": commitment.description,
                "due_at": timezone.localtime(commitment.due_at).strftime("%Y-%m-%dT%H:%M"),
                "owner": commitment.owner_id,
                "order": commitment.order_id,
            },
        )
        return _commitment_form_page(request, form, customer=customer, commitment=commitment)
    form = CommitmentForm(request.POST, customer=customer)
    if not form.is_valid():
        return _commitment_form_page(
            request, form, customer=customer, commitment=commitment, status=400
        )
    data = form.cleaned_data
    try:
        commitment = commitment_update(
            commitment=commitment,
            actor=_user(request),
            description=data["description"],
            kind=data["kind"],
            due_at=data["due_at"],
            order=data["order"],
        )
        commitment_reassign(commitment=commitment, owner=data["owner"], actor=_user(request))
    except ValidationError as exc:
        form.add_error(None, exc)
        return _commitment_form_page(
            request, form, customer=customer, commitment=commitment, status=400
        )
    messages.success(request, "Promise saved.")
    return redirect("desk:customer", pk=customer.pk)


def _back(request: HttpRequest, fallback: str, **kwargs: Any) -> HttpResponse:
    """Back to the page the form was on (only a path of this site), else `fallback`."""
    target = request.POST.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return redirect(target)
    return redirect(fallback, **kwargs)


@require_POST
@login_required
def commitment_state(request: HttpRequest, pk: int) -> HttpResponse:
    """Kept (agents too), broken, waived or handed over (sales and managers)."""
    user = _user(request)
    if not user.has_perm("sales.view_commitment"):
        raise PermissionDenied
    commitment = get_object_or_404(Commitment, pk=pk)
    form = CommitmentStateForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(" ".join(str(m) for m in e) for e in form.errors.values())
        return render(
            request, "sales/refused.html", {"reason": errors or "Choose what happened."}, status=400
        )
    action, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
    may = "sales.keep_commitment" if action == "keep" else "sales.change_commitment"
    if not (user.has_perm(may) or user.has_perm("sales.change_commitment")):
        raise PermissionDenied
    try:
        if action == "keep":
            commitment_keep(commitment=commitment, actor=user, reason=reason)
        elif action == "break":
            commitment_break(commitment=commitment, actor=user, reason=reason)
        elif action == "waive":
            commitment_waive(commitment=commitment, actor=user, reason=reason)
        else:
            commitment_reassign(commitment=commitment, owner=form.cleaned_data["owner"], actor=user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Promise updated.")
    return _back(request, "desk:customer", pk=commitment.customer_id)


@login_required
@permission_required("sales.view_serviceagreement", raise_exception=True)
def agreements(request: HttpRequest) -> HttpResponse:
    ending = request.GET.get("ending") == "1"
    days = settings.NEXTORDER_RENEWAL_DAYS
    page = Paginator(agreements_list(ending_within_days=days if ending else None), _PAGE).get_page(
        _page_number(request)
    )
    return render(
        request, "sales/agreements.html", {"page": page, "ending": ending, "renewal_days": days}
    )


def _item_specs(formset: Any) -> list[ItemSpec]:
    return [
        ItemSpec(
            effect=f.cleaned_data["effect"],
            product=f.cleaned_data.get("product"),
            part=f.cleaned_data.get("part", ""),
            kind=f.cleaned_data.get("kind", ""),
            note=f.cleaned_data.get("note", ""),
        )
        for f in formset.forms
        if f.cleaned_data.get("effect") and not f.cleaned_data.get("DELETE")
    ]


def _agreement_page(request: HttpRequest, status: int = 200, **context: Any) -> HttpResponse:
    return render(request, "sales/agreement_form.html", context, status=status)


@login_required
@permission_required("sales.add_serviceagreement", raise_exception=True)
def agreement_new(request: HttpRequest, customer_pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=customer_pk)
    if request.method != "POST":
        today = timezone.localdate()
        form = AgreementForm(
            initial={"starts_on": today, "ends_on": today.replace(year=today.year + 1)}
            if not (today.month == 2 and today.day == 29)
            else {"starts_on": today}
        )
        return _agreement_page(
            request, form=form, items=AgreementItemFormSet(prefix="items"), customer=customer
        )
    form = AgreementForm(request.POST)
    items = AgreementItemFormSet(request.POST, prefix="items")
    if not (form.is_valid() and items.is_valid()):
        return _agreement_page(request, 400, form=form, items=items, customer=customer)
    try:
        agreement_create(
            customer=customer, actor=_user(request), items=_item_specs(items), **form.cleaned_data
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _agreement_page(request, 400, form=form, items=items, customer=customer)
    messages.success(request, f"Agreement recorded for {customer.name}.")
    return redirect("desk:customer", pk=customer.pk)


@login_required
@permission_required("sales.change_serviceagreement", raise_exception=True)
def agreement_edit(request: HttpRequest, pk: int) -> HttpResponse:
    agreement = get_object_or_404(ServiceAgreement.objects.select_related("customer"), pk=pk)
    context: dict[str, Any] = {"customer": agreement.customer, "agreement": agreement}
    if request.method != "POST":
        form = AgreementForm(
            initial={
                f: getattr(agreement, f)
                for f in (
                    "name",
                    "plan",
                    "starts_on",
                    "ends_on",
                    "first_response_minutes",
                    "resolution_minutes",
                    "notes",
                )
            }
        )
        items = AgreementItemFormSet(
            prefix="items",
            initial=[
                {
                    "effect": i.effect,
                    "product": i.product_id,
                    "part": i.part,
                    "kind": i.kind,
                    "note": i.note,
                }
                for i in agreement.items.all()
            ],
        )
        return _agreement_page(request, form=form, items=items, **context)
    form = AgreementForm(request.POST)
    items = AgreementItemFormSet(request.POST, prefix="items")
    if not (form.is_valid() and items.is_valid()):
        return _agreement_page(request, 400, form=form, items=items, **context)
    try:
        agreement_update(
            agreement=agreement,
            actor=_user(request),
            items=_item_specs(items),
            **form.cleaned_data,
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return _agreement_page(request, 400, form=form, items=items, **context)
    messages.success(request, "Agreement saved.")
    return redirect("desk:customer", pk=agreement.customer_id)


@login_required
@permission_required("sales.view_serviceagreement", raise_exception=True)
def coverage(request: HttpRequest) -> HttpResponse:
    """The answer to "is this covered?", in place on the ticket or customer page (htmx),
    or as a page of its own without script."""
    form = CoverageForm(request.GET)
    context: dict[str, Any] = {"form": form}
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        context["answer"] = coverage_for(
            customer=data["customer"],
            product=data["product"],
            part=data["part"] or None,
            kind=data["kind"] or None,
            on=data["on"],
        )
        context["customer"] = data["customer"]
    else:
        status = 400
    template = "sales/_coverage_answer.html" if request.htmx else "sales/coverage.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


@login_required
@permission_required("sales.view_lead", raise_exception=True)
def leads(request: HttpRequest) -> HttpResponse:
    state: str = request.GET.get("state", Lead.State.OPEN)
    state = state if state in Lead.State.values else ""
    source = request.GET.get("source", "")
    source = source if source in Lead.Source.values else ""
    page = Paginator(leads_list(state=state, source=source), _PAGE).get_page(_page_number(request))
    return render(
        request,
        "sales/leads.html",
        {
            "page": page,
            "state": state,
            "source": source,
            "states": Lead.State.choices,
            "sources": Lead.Source.choices,
            "revenue": lead_revenue(),
        },
    )


def _lead_new_page(
    request: HttpRequest, form: LeadNewForm, customer: Customer, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "sales/lead_new.html",
        {
            "form": form,
            "customer": customer,
            "value": customer_value(customer=customer),
            "suggestions": upsell_suggestions(customer=customer),
        },
        status=status,
    )


@login_required
@permission_required("sales.add_lead", raise_exception=True)
def lead_new(request: HttpRequest, customer_pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=customer_pk)
    if request.method != "POST":
        form = LeadNewForm(initial={"customer": customer.pk, "owner": request.user.pk})
        return _lead_new_page(request, form, customer)
    form = LeadNewForm(request.POST)
    if not form.is_valid():
        return _lead_new_page(request, form, customer, status=400)
    data = form.cleaned_data
    try:
        lead = lead_create(actor=_user(request), **{**data, "customer": customer})
    except ValidationError as exc:
        form.add_error(None, exc)
        return _lead_new_page(request, form, customer, status=400)
    messages.success(request, "Lead opened.")
    return redirect("sales:lead", pk=lead.pk)


def _lead_page(request: HttpRequest, lead: Lead, status: int = 200, **extra: Any) -> HttpResponse:
    context = {
        "lead": lead,
        "value": customer_value(customer=lead.customer),
        "suggestions": upsell_suggestions(customer=lead.customer),
        "form": extra.pop("form", None)
        or LeadForm(
            initial={
                "title": lead.title,
                "note": lead.note,
                "owner": lead.owner_id,
                "value_estimate": lead.value_estimate,
            }
        ),
        "close_form": extra.pop("close_form", None) or LeadCloseForm(lead=lead),
        **extra,
    }
    return render(request, "sales/lead.html", context, status=status)


@login_required
@permission_required("sales.view_lead", raise_exception=True)
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead.objects.select_related("customer", "owner", "order"), pk=pk)
    if request.method != "POST":
        return _lead_page(request, lead)
    if not request.user.has_perm("sales.change_lead"):
        raise PermissionDenied
    form = LeadForm(request.POST)
    if not form.is_valid():
        return _lead_page(request, lead, status=400, form=form)
    try:
        lead_update(lead=lead, actor=_user(request), **form.cleaned_data)
    except ValidationError as exc:
        form.add_error(None, exc)
        return _lead_page(request, lead, status=400, form=form)
    messages.success(request, "Lead saved.")
    return redirect("sales:lead", pk=lead.pk)


@require_POST
@login_required
@permission_required("sales.change_lead", raise_exception=True)
def lead_close(request: HttpRequest, pk: int) -> HttpResponse:
    lead = get_object_or_404(Lead.objects.select_related("customer", "owner"), pk=pk)
    form = LeadCloseForm(request.POST, lead=lead)
    if not form.is_valid():
        return _lead_page(request, lead, status=400, close_form=form)
    data = form.cleaned_data
    try:
        if data["outcome"] == "won":
            order = data["order"]
            amount = data["amount"] if data["amount"] is not None else order.amount
            lead_win(lead=lead, actor=_user(request), amount=amount, order=order)
        else:
            lead_lose(lead=lead, actor=_user(request), reason=data["reason"])
    except ValidationError as exc:
        form.add_error(None, exc)
        return _lead_page(request, lead, status=400, close_form=form)
    messages.success(request, f"Lead {data['outcome']}.")
    return redirect("sales:lead", pk=lead.pk)
