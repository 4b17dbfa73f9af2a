from django.contrib import admin

from nextorder.core.admin_site import ReadOnlyAdmin
from nextorder.insight.models import ValueModelFit


@admin.register(ValueModelFit)
class ValueModelFitAdmin(ReadOnlyAdmin):
    """Fits are made by `nextorder clv`; the record stays as it was."""

    list_display = ["fitted_at", "purpose", "source", "calibration_end", "holdout_end", "customers"]
    list_filter = ["purpose"]
    date_hierarchy = "fitted_at"
