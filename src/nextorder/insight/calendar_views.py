"""Business hours in the console: every team's calendar, and the forms leads and managers
change them with (through `core.services`, as the admin and the CLI do)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from nextorder.core.business_time import WEEKDAYS, DayPeriods, periods_parse, periods_text
from nextorder.core.models import BusinessCalendar, CalendarException, Team
from nextorder.core.selectors import calendar_hours_text, calendar_weekly
from nextorder.core.services import (
    calendar_create,
    calendar_exception_delete,
    calendar_exception_set,
    calendar_import_ical,
    calendar_update,
    team_calendar_set,
)
from nextorder.insight.coverage import coverage_gap_warning, coverage_summary

DAY_FIELDS = tuple(day.lower() for day in WEEKDAYS)
MAX_ICAL_BYTES = 2 * 1024 * 1024
HOURS_HELP = "Such as 09:00-12:00, 13:00-17:00; 24:00 is midnight; empty or “closed” for none."


def _hours_field(label: str) -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=200, help_text=HOURS_HELP)


def _parsed_hours(text: str) -> DayPeriods:
    try:
        return periods_parse(text)
    except ValueError as error:
        raise ValidationError(str(error)) from error


class CalendarForm(forms.Form):
    """A calendar's settings and its week, one line of periods per day."""

    name = forms.CharField(max_length=100)
    time_zone = forms.CharField(max_length=64, help_text="An IANA zone, such as Europe/Berlin.")
    holiday_country = forms.CharField(
        max_length=3, required=False, help_text="ISO code (DE, US, GB…): its public holidays close."
    )
    holiday_subdivision = forms.CharField(
        max_length=10, required=False, help_text="A state or region code, such as BY."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field, label in zip(DAY_FIELDS, WEEKDAYS, strict=True):
            self.fields[field] = _hours_field(label)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for field in DAY_FIELDS:
            if field in cleaned:
                try:
                    cleaned[field] = _parsed_hours(cleaned[field])
                except ValidationError as error:
                    self.add_error(field, error)
        return cleaned

    def weekly(self) -> tuple[DayPeriods, ...]:
        return tuple(self.cleaned_data[field] for field in DAY_FIELDS)

    @classmethod
    def of(cls, calendar: BusinessCalendar) -> CalendarForm:
        weekly = calendar_weekly(calendar=calendar)
        return cls(
            initial={
                "name": calendar.name,
                "time_zone": calendar.time_zone,
                "holiday_country": calendar.holiday_country,
                "holiday_subdivision": calendar.holiday_subdivision,
                **{field: periods_text(day) for field, day in zip(DAY_FIELDS, weekly, strict=True)},
            }
        )


class ExceptionForm(forms.Form):
    day = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(max_length=200, required=False)
    hours = _hours_field("Hours that day")

    def clean_hours(self) -> DayPeriods:
        return _parsed_hours(self.cleaned_data["hours"])


class IcalForm(forms.Form):
    file = forms.FileField(label="iCalendar file (.ics)")

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_ICAL_BYTES:
            raise ValidationError(f"The file is over {MAX_ICAL_BYTES // 1024 // 1024} MB.")
        return bytes(upload.read())


class TeamCalendarForm(forms.Form):
    calendar = forms.ModelChoiceField(BusinessCalendar.objects.all(), required=False)
    kind = forms.ChoiceField(choices=Team.Kind.choices)


def _actor(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


@login_required
@permission_required("core.view_businesscalendar", raise_exception=True)
def calendars(request: HttpRequest) -> HttpResponse:
    return _calendars_page(request)


def _calendars_page(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    today = timezone.localdate()
    listed = BusinessCalendar.objects.prefetch_related("periods", "teams")
    return render(
        request,
        "insight/calendars.html",
        {
            "calendars": [
                (
                    calendar,
                    calendar_hours_text(calendar=calendar),
                    calendar.exceptions.filter(date__gte=today)[:8],
                )
                for calendar in listed
            ],
            "teams": [
                (team, TeamCalendarForm(initial={"calendar": team.calendar, "kind": team.kind}))
                for team in Team.objects.select_related("calendar")
            ],
            "coverage": coverage_summary(),
        },
        status=status,
    )


def _edit_page(
    request: HttpRequest,
    calendar: BusinessCalendar | None,
    *,
    form: CalendarForm | None = None,
    exception_form: ExceptionForm | None = None,
    ical_form: IcalForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {
        "calendar": calendar,
        "form": form or (CalendarForm.of(calendar) if calendar else CalendarForm()),
        "day_fields": DAY_FIELDS,
    }
    if calendar is not None:
        context |= {
            "exceptions": calendar.exceptions.filter(date__gte=date.today().replace(day=1)),
            "exception_form": exception_form or ExceptionForm(),
            "ical_form": ical_form or IcalForm(),
            "periods_text": periods_text,
        }
    return render(request, "insight/calendar_edit.html", context, status=status)


@login_required
@permission_required("core.add_businesscalendar", raise_exception=True)
def calendar_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _edit_page(request, None)
    form = CalendarForm(request.POST)
    if form.is_valid():
        try:
            calendar = calendar_create(
                name=form.cleaned_data["name"],
                time_zone=form.cleaned_data["time_zone"].strip(),
                weekly=form.weekly(),
                holiday_country=form.cleaned_data["holiday_country"].strip().upper(),
                holiday_subdivision=form.cleaned_data["holiday_subdivision"].strip().upper(),
                actor=_actor(request),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Calendar “{calendar.name}” created.")
            return redirect("insight:calendar_edit", pk=calendar.pk)
    return _edit_page(request, None, form=form, status=400)


@login_required
@permission_required("core.change_businesscalendar", raise_exception=True)
def calendar_edit(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = get_object_or_404(BusinessCalendar, pk=pk)
    if request.method != "POST":
        return _edit_page(request, calendar)
    form = CalendarForm(request.POST)
    if form.is_valid():
        before = calendar_weekly(calendar=calendar)
        try:
            calendar_update(
                calendar=calendar,
                name=form.cleaned_data["name"],
                time_zone=form.cleaned_data["time_zone"].strip(),
                weekly=form.weekly(),
                holiday_country=form.cleaned_data["holiday_country"].strip().upper(),
                holiday_subdivision=form.cleaned_data["holiday_subdivision"].strip().upper(),
                actor=_actor(request),
            )
        except ValidationError as error:
            calendar.refresh_from_db()
            form.add_error(None, error)
        else:
            messages.success(request, "Hours saved.")
            warning = coverage_gap_warning(calendar=calendar, weekly_before=before)
            if warning:
                messages.warning(request, warning)
            return redirect("insight:calendar_edit", pk=calendar.pk)
    return _edit_page(request, calendar, form=form, status=400)


@require_POST
@login_required
@permission_required("core.change_businesscalendar", raise_exception=True)
def calendar_exception_add(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = get_object_or_404(BusinessCalendar, pk=pk)
    form = ExceptionForm(request.POST)
    if form.is_valid():
        calendar_exception_set(
            calendar=calendar,
            day=form.cleaned_data["day"],
            name=form.cleaned_data["name"],
            periods=form.cleaned_data["hours"],
            actor=_actor(request),
        )
        messages.success(request, f"{form.cleaned_data['day']:%d %b %Y} set.")
        return redirect("insight:calendar_edit", pk=calendar.pk)
    return _edit_page(request, calendar, exception_form=form, status=400)


class ExceptionRemoveForm(forms.Form):
    day = forms.DateField()


@require_POST
@login_required
@permission_required("core.change_businesscalendar", raise_exception=True)
def calendar_exception_remove(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = get_object_or_404(BusinessCalendar, pk=pk)
    form = ExceptionRemoveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Which date? The form did not say.")
        return _edit_page(request, calendar, status=400)
    exception = get_object_or_404(
        CalendarException, calendar=calendar, date=form.cleaned_data["day"]
    )
    calendar_exception_delete(exception=exception, actor=_actor(request))
    messages.success(request, f"{exception.date:%d %b %Y} has the week's hours again.")
    return redirect("insight:calendar_edit", pk=calendar.pk)


@require_POST
@login_required
@permission_required("core.change_businesscalendar", raise_exception=True)
def calendar_import(request: HttpRequest, pk: int) -> HttpResponse:
    calendar = get_object_or_404(BusinessCalendar, pk=pk)
    form = IcalForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            result = calendar_import_ical(
                calendar=calendar, file=form.cleaned_data["file"], actor=_actor(request)
            )
        except ValidationError as error:
            form.add_error("file", error)
        else:
            messages.success(
                request,
                f"Imported: {result.closed} date(s) closed, {result.special} with their own hours.",
            )
            for reason in result.skipped[:5]:
                messages.warning(request, f"Skipped {reason}.")
            return redirect("insight:calendar_edit", pk=calendar.pk)
    return _edit_page(request, calendar, ical_form=form, status=400)


@require_POST
@login_required
@permission_required("core.change_team", raise_exception=True)
def team_calendar(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_object_or_404(Team, pk=pk)
    form = TeamCalendarForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(error) for errors in form.errors.values() for error in errors)
        messages.error(request, f"{team.name}: {errors}")
        return _calendars_page(request, status=400)
    team_calendar_set(
        team=team,
        calendar=form.cleaned_data["calendar"],
        kind=form.cleaned_data["kind"],
        actor=_actor(request),
    )
    messages.success(request, f"{team.name} saved.")
    return redirect("insight:calendars")


@login_required
@permission_required("core.view_businesscalendar", raise_exception=True)
def coverage_panel(request: HttpRequest) -> HttpResponse:
    """The home page's short list of uncovered hours, loaded after the queue."""
    return render(request, "insight/_coverage_panel.html", {"coverage": coverage_summary()})
