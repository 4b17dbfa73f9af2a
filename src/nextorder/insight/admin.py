from django.contrib import admin

from nextorder.insight.models import ValueModelFit


@admin.register(ValueModelFit)
class ValueModelFitAdmin(admin.ModelAdmin):
    list_display = ["fitted_at", "purpose", "source", "calibration_end", "holdout_end", "customers"]
    list_filter = ["purpose"]
    date_hierarchy = "fitted_at"
    raw_id_fields = ["fitted_by"]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # fits are made by `nextorder clv`; the record stays as it was

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False
