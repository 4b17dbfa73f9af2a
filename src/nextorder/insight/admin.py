from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from nextorder.core.admin_site import ReadOnlyAdmin
from nextorder.insight.models import RosterShift, ValueModelFit
from nextorder.insight.services import roster_shift_delete, roster_shift_save


@admin.register(ValueModelFit)
class ValueModelFitAdmin(ReadOnlyAdmin):
    """Fits are made by `nextorder clv`; the record stays as it was."""

    list_display = ["fitted_at", "purpose", "source", "calibration_end", "holdout_end", "customers"]
    list_filter = ["purpose"]
    date_hierarchy = "fitted_at"


@admin.register(RosterShift)
class RosterShiftAdmin(admin.ModelAdmin):
    """Saved and deleted through the services, so every roster change is in the audit log."""

    list_display = ["weekday", "starts_at", "ends_at", "agents", "team"]
    list_filter = ["weekday", "team"]

    def save_model(self, request: HttpRequest, obj: RosterShift, form: Any, change: bool) -> None:
        roster_shift_save(shift=obj, actor=_staff(request))

    def delete_model(self, request: HttpRequest, obj: RosterShift) -> None:
        roster_shift_delete(shift=obj, actor=_staff(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RosterShift]) -> None:
        for shift in queryset:
            roster_shift_delete(shift=shift, actor=_staff(request))


def _staff(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None
