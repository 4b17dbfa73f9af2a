"""Closing the loop after service: surveys, referral asks and referrals, and the
follow-up tasks (recovery, next-order nudge) that people work.

Every row that the playbook creates carries a unique key per customer, step and period,
so a playbook run repeated (a retried task, two workers) creates and sends nothing twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from nextorder.core.roles import AGENT, LEAD, MANAGER
from nextorder.crm.models import Customer, Order
from nextorder.desk.models import Ticket


class CustomerFollowup(models.Model):
    """What the playbook may do with one customer: a row only for customers it touched.

    `unsubscribed_at`: the customer asked for no more follow-up email (honoured by every
    email this app sends). `stopped_at`: staff stopped the playbook for this customer (no
    email, no task). `referral_code` is the customer's personal referral link.
    """

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="followup"
    )
    referral_code = models.CharField(max_length=16, unique=True, null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"follow-up of customer {self.customer_id}"

    @property
    def emails_allowed(self) -> bool:
        return self.unsubscribed_at is None and self.stopped_at is None


class Sending(models.TextChoices):
    """Where an email of the playbook is: at least once, like the desk's replies."""

    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Not sent (unsubscribed or stopped)"
    FAILED = "failed", "Failed"


class Survey(models.Model):
    """One ticket's satisfaction survey: emailed after it was solved, answered once."""

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="survey")
    # Unindexed: survey_customer_idx starts with the customer.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="surveys", db_index=False
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="surveys",
    )
    to_address = models.EmailField(max_length=254)
    # Which NEXTORDER_SURVEY_PERIOD_DAYS-long period of the calendar it belongs to: the key
    # that makes "one survey per customer per period" a constraint, not a hope.
    period = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    send_after = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Sending.choices, default=Sending.QUEUED)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    csat = models.PositiveSmallIntegerField("CSAT (1-5)", null=True, blank=True)
    nps = models.PositiveSmallIntegerField("NPS (0-10)", null=True, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="survey_customer_idx")]
        constraints = [
            models.UniqueConstraint(fields=["customer", "period"], name="survey_customer_period"),
            models.CheckConstraint(
                condition=models.Q(csat__isnull=True) | models.Q(csat__gte=1, csat__lte=5),
                name="survey_csat_1_5",
            ),
            models.CheckConstraint(
                condition=models.Q(nps__isnull=True) | models.Q(nps__lte=10),
                name="survey_nps_0_10",
            ),
        ]

    def __str__(self) -> str:
        return f"survey of #{self.ticket_id}"

    @property
    def is_promoter(self) -> bool:
        return (self.nps is not None and self.nps >= 9) or self.csat == 5

    @property
    def is_detractor(self) -> bool:
        return (self.nps is not None and self.nps <= 6) or self.csat in (1, 2)

    @property
    def standing(self) -> str:
        if self.answered_at is None:
            return "not answered"
        if self.is_detractor:  # a low score outweighs a high one: someone calls them
            return "detractor"
        return "promoter" if self.is_promoter else "passive"


class ReferralAsk(models.Model):
    """A promoter asked, by email, to pass on their personal referral link."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="referral_asks", db_index=False
    )
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="referral_asks")
    to_address = models.EmailField(max_length=254)
    period = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Sending.choices, default=Sending.QUEUED)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "period"], name="referral_ask_period"),
        ]

    def __str__(self) -> str:
        return f"referral ask to {self.customer_id}"


class Referral(models.Model):
    """Someone a customer referred (the address they gave on the referral page), and
    the order that made the referral count, once a customer with that address ordered."""

    referrer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="referrals_made")
    # Lower-cased; a person is referred once: the first link they used counts.
    email = models.EmailField(max_length=254, unique=True)
    created_at = models.DateTimeField()
    referred_customer = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="referred_by",
    )
    order = models.OneToOneField(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="referral"
    )
    attributed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.email} referred by {self.referrer_id}"


class FollowupTask(models.Model):
    """Something a person does for one customer: win back a detractor, ask for the
    next order, thank a referrer, check a promise after delivery."""

    class Kind(models.TextChoices):
        RECOVERY = "recovery", "Win back a detractor"
        NUDGE = "nudge", "Ask for the next order"
        REFERRAL = "referral", "Thank a referrer"
        PROMISE_CHECK = "promise_check", "Check the promises after delivery"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        DISMISSED = "dismissed", "Dismissed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="followup_tasks", db_index=False
    )
    # What makes this task one of its kind for this customer (a survey, a purchase cycle).
    period = models.CharField(max_length=40)
    role = models.CharField(max_length=10)  # core.roles: who works it
    title = models.CharField(max_length=300)
    survey = models.ForeignKey(
        Survey, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    referral = models.ForeignKey(
        Referral, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    # Who took it: a task for a role is one person's once taken, so two leads do not both
    # call the same unhappy customer.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(
                fields=["due_at", "id"],
                name="followup_task_open_idx",
                condition=models.Q(state="open"),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "period"], name="followup_task_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.customer_id}"

    @property
    def role_people(self) -> str:
        """Who may take it, in words ("leads", "sales") for a task nobody has taken."""
        return {AGENT: "agents", LEAD: "leads", MANAGER: "managers"}.get(self.role, self.role)
