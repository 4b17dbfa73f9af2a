from django.contrib import admin

from nextorder.core.admin_site import ReadOnlyAdmin
from nextorder.core.models import Event, Team


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["members"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The audit log is append-only."""

    list_display = ["occurred_at", "verb", "subject_type", "subject_id", "customer_id", "actor"]
    list_filter = ["verb", "subject_type"]
    search_fields = ["verb", "actor_label"]
    date_hierarchy = "occurred_at"
