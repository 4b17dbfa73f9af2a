from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from nextorder.core.admin_site import ReadOnlyAdmin
from nextorder.core.business_time import WEEKDAYS, DayPeriods, periods_parse, periods_text
from nextorder.core.models import (
    ApiToken,
    BusinessCalendar,
    CalendarException,
    Event,
    OpeningPeriod,
    Team,
    WebhookDelivery,
    WebhookSubscription,
)
from nextorder.core.selectors import calendar_weekly
from nextorder.core.services import (
    api_token_revoke,
    calendar_check,
    calendar_create,
    calendar_update,
)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "calendar", "created_at"]
    search_fields = ["name"]
    # Changed through `team_calendar_set` (the Business hours page), which records it.
    readonly_fields = ["kind", "calendar"]
    filter_horizontal = ["members"]


def _hours_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=200,
        help_text="Such as 09:00-12:00, 13:00-17:00; 24:00 is midnight.",
    )


class BusinessCalendarForm(forms.ModelForm):
    """The calendar's fields and its week as one line of periods per day, as the console
    edits it; saved through the calendar services."""

    monday = _hours_field()
    tuesday = _hours_field()
    wednesday = _hours_field()
    thursday = _hours_field()
    friday = _hours_field()
    saturday = _hours_field()
    sunday = _hours_field()

    class Meta:
        model = BusinessCalendar
        fields = ["name", "time_zone", "holiday_country", "holiday_subdivision"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            weekly = calendar_weekly(calendar=self.instance)
            for (field, _label), day in zip(_DAY_FIELDS, weekly, strict=True):
                self.fields[field].initial = periods_text(day)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for field, _label in _DAY_FIELDS:
            try:
                cleaned[field] = periods_parse(cleaned.get(field) or "")
            except ValueError as error:
                self.add_error(field, str(error))
        if not self.errors:
            try:
                calendar_check(
                    time_zone=cleaned["time_zone"],
                    weekly=self.weekly(),
                    holiday_country=cleaned["holiday_country"].upper(),
                    holiday_subdivision=cleaned["holiday_subdivision"].upper(),
                )
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned

    def weekly(self) -> tuple[DayPeriods, ...]:
        return tuple(self.cleaned_data[field] for field, _label in _DAY_FIELDS)


_DAY_FIELDS = [(day.lower(), day) for day in WEEKDAYS]


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    """Created and changed through `calendar_create` / `calendar_update`, which check the
    hours and record the change; exceptions are set in the console or imported."""

    form = BusinessCalendarForm
    list_display = ["name", "time_zone", "holiday_country", "holiday_subdivision"]

    def save_model(
        self, request: HttpRequest, obj: BusinessCalendar, form: Any, change: bool
    ) -> None:
        actor = request.user if isinstance(request.user, User) else None
        fields = {
            "name": obj.name,
            "time_zone": obj.time_zone,
            "holiday_country": obj.holiday_country.upper(),
            "holiday_subdivision": obj.holiday_subdivision.upper(),
            "weekly": form.weekly(),
            "actor": actor,
        }
        if change:
            calendar_update(calendar=BusinessCalendar.objects.get(pk=obj.pk), **fields)
        else:
            obj.pk = calendar_create(**fields).pk
        obj.refresh_from_db()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OpeningPeriod)
class OpeningPeriodAdmin(ReadOnlyAdmin):
    list_display = ["calendar", "weekday", "opens", "closes"]
    list_filter = ["calendar"]


@admin.register(CalendarException)
class CalendarExceptionAdmin(ReadOnlyAdmin):
    list_display = ["calendar", "date", "name", "periods"]
    list_filter = ["calendar"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The audit log is append-only."""

    list_display = ["occurred_at", "verb", "subject_type", "subject_id", "customer_id", "actor"]
    list_filter = ["verb", "subject_type"]
    search_fields = ["verb", "actor_label"]
    date_hierarchy = "occurred_at"


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are made with `nextorder api_token create` (the secret is shown there once);
    here managers see them and revoke them, through the service that records it."""

    list_display = ["name", "prefix", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    exclude = ["secret_sha256"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        actor = request.user if isinstance(request.user, User) else None
        for token in queryset:
            api_token_revoke(token=token, actor=actor)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(ReadOnlyAdmin):
    """Subscriptions change through the API (`/api/v1/webhooks`), which writes events."""

    list_display = ["url", "events", "active", "created_by", "created_at"]
    list_filter = ["active"]
    exclude = ["secret"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """The delivery log."""

    list_display = [
        "created_at",
        "event",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event"]
    list_select_related = ["subscription"]
