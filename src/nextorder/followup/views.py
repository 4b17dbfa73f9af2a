"""Pages of the playbook: the survey, unsubscribe and referral pages customers reach from
an email (no log-in: the signed link is the key), and the staff's follow-up tasks and
report. Thin: parse, call a service or selector, render."""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from nextorder.crm.models import Customer
from nextorder.followup.forms import PlaybookForm, ReferralForm, SurveyForm, TaskCloseForm
from nextorder.followup.links import LinkRefused, customer_id_from_unsubscribe_token
from nextorder.followup.models import CustomerFollowup, FollowupTask
from nextorder.followup.report import loop_report
from nextorder.followup.selectors import TaskFilters, followup_tasks
from nextorder.followup.services import (
    REFERRAL_CODE,
    emails_unsubscribe,
    followup_task_close,
    followup_task_take,
    playbook_resume,
    playbook_stop,
    referral_register,
    survey_answer,
    survey_for_link,
)


def _public(
    request: HttpRequest, template: str, context: dict[str, object] | None = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        template,
        {"support_name": settings.NEXTORDER_SUPPORT_NAME, **(context or {})},
        status=status,
    )


def _refused(request: HttpRequest, refused: LinkRefused) -> HttpResponse:
    return _public(
        request, "followup/link_refused.html", {"reason": refused.reason}, refused.status
    )


def _rating_from_query(raw: str | None, choices: range) -> int | None:
    return (
        int(raw)
        if raw is not None and raw.isascii() and raw.isdigit() and int(raw) in choices
        else None
    )


@never_cache
@require_http_methods(["GET", "POST"])
def survey(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the survey with the rating clicked in the email chosen and records
    nothing (mail scanners fetch every link); the answer is saved by the POST."""
    try:
        if request.method != "POST":
            found = survey_for_link(token=token)
            initial = {
                "csat": _rating_from_query(request.GET.get("csat"), range(1, 6)),
                "nps": _rating_from_query(request.GET.get("nps"), range(11)),
            }
            form = SurveyForm(initial={k: v for k, v in initial.items() if v is not None})
            return _public(request, "followup/survey.html", {"form": form, "survey": found})
        form = SurveyForm(request.POST)
        if form.is_valid():
            try:
                survey_answer(token=token, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                return _public(request, "followup/survey_thanks.html")
        found = survey_for_link(token=token)
        return _public(request, "followup/survey.html", {"form": form, "survey": found}, 400)
    except LinkRefused as refused:
        return _refused(request, refused)


@csrf_exempt  # RFC 8058: mail clients POST one-click unsubscribes without a CSRF token
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks (scanners fetch links); POST, from the page or a mail client's one-click
    button, unsubscribes. The signature is what makes the POST the customer's."""
    try:
        if request.method != "POST":
            customer_id_from_unsubscribe_token(token)
            return _public(request, "followup/unsubscribe.html")
        emails_unsubscribe(token=token)
    except LinkRefused as refused:
        return _refused(request, refused)
    return _public(request, "followup/unsubscribed.html")


@never_cache
@require_http_methods(["GET", "POST"])
def referral(request: HttpRequest, code: str) -> HttpResponse:
    """A customer's personal referral link: the person it was passed to leaves their
    address, so that their first order counts for the one who referred them."""
    referrer = (
        CustomerFollowup.objects.filter(referral_code=code).select_related("customer").first()
        if REFERRAL_CODE.fullmatch(code)
        else None
    )
    if referrer is None:
        return _refused(
            request, LinkRefused("This referral link is not valid: copy the whole link.", 404)
        )
    form = ReferralForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            referral_register(code=code, email=form.cleaned_data["email"])
        except LinkRefused as refused:
            return _refused(request, refused)
        return _public(request, "followup/referral_thanks.html")
    status = 400 if request.method == "POST" else 200
    return _public(request, "followup/referral.html", {"form": form}, status)


@login_required
@permission_required("followup.view_followuptask", raise_exception=True)
def tasks(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    state = request.GET.get("state", "")
    owner = request.GET.get("owner", "")
    filters = TaskFilters(
        kind=kind if kind in FollowupTask.Kind.values else "",
        state=state if state in FollowupTask.State.values else FollowupTask.State.OPEN,
        owner=owner if owner in ("me", "nobody") else "",
    )
    user: User = request.user  # type: ignore[assignment]
    return render(
        request,
        "followup/tasks.html",
        {
            "tasks": followup_tasks(filters=filters, user=user),
            "filters": filters,
            "kinds": FollowupTask.Kind.choices,
            "states": FollowupTask.State.choices,
            "owners": (("", "Anyone's"), ("me", "Mine"), ("nobody", "Not taken")),
        },
    )


@require_POST
@login_required
@permission_required("followup.change_followuptask", raise_exception=True)
def task_close(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(FollowupTask, pk=pk)
    form = TaskCloseForm(request.POST)
    if not form.is_valid():
        return HttpResponse(
            "Choose done or dismiss; a note is at most 1,000 characters.", status=400
        )
    user: User = request.user  # type: ignore[assignment]
    try:
        followup_task_close(task=task, actor=user, **form.cleaned_data)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{task.title}: {form.cleaned_data['state']}.")
    return redirect("followup:tasks")


@require_POST
@login_required
@permission_required("followup.change_followuptask", raise_exception=True)
def task_take(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_object_or_404(FollowupTask, pk=pk)
    user: User = request.user  # type: ignore[assignment]
    try:
        followup_task_take(task=task, actor=user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{task.title}: yours.")
    return redirect(f"{reverse('followup:tasks')}?owner=me")


@require_POST
@login_required
@permission_required("followup.change_customerfollowup", raise_exception=True)
def playbook(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    form = PlaybookForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Say stop or resume.", status=400)
    user: User = request.user  # type: ignore[assignment]
    if form.cleaned_data["action"] == "stop":
        playbook_stop(customer=customer, actor=user)
        messages.success(request, "The follow-up playbook is stopped for this customer.")
    else:
        playbook_resume(customer=customer, actor=user)
        messages.success(request, "The follow-up playbook runs again for this customer.")
    return redirect("desk:customer", pk=pk)


@login_required
@permission_required("crm.view_customer_value", raise_exception=True)
def report(request: HttpRequest) -> HttpResponse:
    return render(request, "followup/report.html", {"report": loop_report()})


@login_required
@permission_required("crm.view_customer_value", raise_exception=True)
def report_csv(request: HttpRequest, table: str) -> HttpResponse:
    found = loop_report()
    rows = found.csv_tables().get(table)
    if rows is None:
        return HttpResponse("Unknown table: use reorders or time-to-next-order.", status=404)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="nextorder-{table}.csv"'
    csv.writer(response).writerows(rows)
    return response
