"""The admin site, for managers only.

Django lets any staff user into the admin; NextOrder's roles decide instead, so that an
agent or a sales user cannot reach models the console guards (and whose admin forms
would skip the services' rules and events).
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from nextorder.core.roles import is_manager


class ManagerAdminSite(admin.AdminSite):
    site_header = "NextOrder administration"
    site_title = "NextOrder admin"

    def has_permission(self, request: HttpRequest) -> bool:
        return is_manager(request.user)


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records with history (tickets, messages, events, orders, scores): they change
    only through their services, which write the event and apply the rules."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """The rows of a read-only record, shown beside it and changed nowhere here."""

    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
