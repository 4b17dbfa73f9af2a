from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from nextorder.core.admin_site import ReadOnlyAdmin, ReadOnlyInline
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
from nextorder.core.services import api_token_revoke


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "calendar", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["members"]


class OpeningPeriodInline(ReadOnlyInline):
    model = OpeningPeriod


class CalendarExceptionInline(ReadOnlyInline):
    model = CalendarException


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(ReadOnlyAdmin):
    """Calendars change through their services, which check the hours and record it."""

    list_display = ["name", "time_zone", "holiday_country", "holiday_subdivision"]
    inlines = [OpeningPeriodInline, CalendarExceptionInline]


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
