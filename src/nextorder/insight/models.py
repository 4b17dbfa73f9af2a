"""What the customer-value models were fitted on and what they found.

Kept so that a score on a customer can be traced to the fit that produced it, and so
the console can show the current model and its hold-out check without fitting again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ValueModelFit(models.Model):
    class Purpose(models.TextChoices):
        # Fitted on all orders up to a day; its scores were written to the customers.
        SCORING = "scoring", "Scoring"
        # Fitted to look at: on a calibration period, and checked against the hold-out
        # after it when one is given. Customers' scores are left alone.
        FIT = "fit", "Fit"

    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    fitted_at = models.DateTimeField(db_index=True)
    fitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=255, help_text="'database' or the file fitted on")
    calibration_end = models.DateField()
    holdout_end = models.DateField(null=True, blank=True)
    customers = models.PositiveIntegerField()
    customers_scored = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(help_text="wall time of the whole run")
    # The report of `insight.valuation.fit_report`: parameters under their published
    # names, standard errors, log-likelihoods and, for a check, the hold-out figures.
    report = models.JSONField()

    class Meta:
        ordering = ["-fitted_at", "-id"]
        indexes = [models.Index(fields=["purpose", "-fitted_at"], name="valuefit_purpose_idx")]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} fit of {self.fitted_at:%Y-%m-%d %H:%M}"


class RosterShift(models.Model):
    """Agents on the phones by weekday and hours: the simple roster the staffing page
    compares with the agents required. Edited through `insight.services`."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    team = models.ForeignKey(
        "core.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="roster_shifts"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    starts_at = models.TimeField()
    ends_at = models.TimeField()
    agents = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["weekday", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="insight_rostershift_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_weekday_display()} {self.starts_at:%H:%M}-{self.ends_at:%H:%M}: "
            f"{self.agents} agents"
        )
