"""Base mixins, teams and the event log.

The event log is both the audit trail and the customer timeline: one row per state
change of anything a customer or agent cares about (ticket, promise, survey, import).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

# The prefix of every API token's secret, so that a leaked one is recognisable (secret
# scanners, logs) as NextOrder's.
API_TOKEN_PREFIX = "nxo_"


class TimeStampedModel(models.Model):
    # A default rather than auto_now_add, so that history brought in from elsewhere (an
    # email's date, another desk's ticket) is written with its own time in one INSERT.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(
            f"{value!r} is not an IANA time zone (such as Europe/Berlin)."
        ) from error


class BusinessCalendar(TimeStampedModel):
    """When a team is open: weekly hours in a time zone, the public holidays of a country
    (from the `holidays` package) and one-off exceptions. `core.selectors.calendar_schedule`
    turns it into the `business_time.Schedule` that clocks and reports compute with."""

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    # ISO 3166 codes as the `holidays` package names them ("DE", and "BY" for Bavaria).
    holiday_country = models.CharField(max_length=3, blank=True)
    holiday_subdivision = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OpeningPeriod(models.Model):
    """One period of a weekday's hours; several make split shifts. `closes` at 00:00 is
    midnight at the end of the day, so a night shift is two periods."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="periods")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["calendar", "weekday", "opens"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class CalendarException(models.Model):
    """A date whose hours differ from the week's: closed (no periods), or open for its own
    periods, a list of ["HH:MM", "HH:MM"] pairs."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="exceptions"
    )
    date = models.DateField()
    name = models.CharField(max_length=200, blank=True)
    periods = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="calendar_exception_date")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name or ('closed' if self.closed else 'special hours')}"

    @property
    def closed(self) -> bool:
        return not self.periods


class Team(TimeStampedModel):
    """A group of agents that tickets are routed to, or a sales line whose hours the
    service hours are compared with."""

    class Kind(models.TextChoices):
        SERVICE = "service", "Service"
        SALES = "sales", "Sales"

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SERVICE)
    calendar = models.ForeignKey(
        BusinessCalendar, null=True, blank=True, on_delete=models.SET_NULL, related_name="teams"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Verb(models.TextChoices):
    """Every kind of event, with the words the timeline and the audit log show for it.

    One list, so that a new kind is named once and a typo is a type error, not a
    timeline entry nobody can read.
    """

    TICKET_OPENED = "ticket.opened", "Ticket opened"
    TICKET_REPLIED = "ticket.replied", "Agent replied"
    TICKET_NOTED = "ticket.noted", "Internal note"
    TICKET_UPDATED = "ticket.updated", "Ticket changed"
    TICKET_MESSAGE_RECEIVED = "ticket.message_received", "Customer wrote"
    TICKET_TAGGED = "ticket.tagged", "Tag added"
    TICKET_UNTAGGED = "ticket.untagged", "Tag removed"
    TICKET_MERGED = "ticket.merged", "Ticket merged into another"
    TICKET_MERGED_IN = "ticket.merged_in", "Another ticket merged into this one"
    TICKET_SPLIT = "ticket.split", "Messages split into a new ticket"
    TICKET_SPLIT_FROM = "ticket.split_from", "Ticket split from another"
    MACRO_APPLIED = "macro.applied", "Macro applied"
    MACRO_SAVED = "macro.saved", "Macro saved"
    MACRO_DELETED = "macro.deleted", "Macro deleted"
    TAG_CREATED = "tag.created", "Tag created"
    SAVED_VIEW_SAVED = "saved_view.saved", "Queue view saved"
    SAVED_VIEW_DELETED = "saved_view.deleted", "Queue view deleted"
    REPLY_SENT = "reply.sent", "Reply delivered to the mail server"
    REPLY_FAILED = "reply.failed", "Reply could not be sent"
    REPLY_BOUNCED = "reply.bounced", "Reply bounced"
    MAIL_QUARANTINED = "mail.quarantined", "Email quarantined"
    MAIL_RELEASED = "mail.released", "Email released from quarantine"
    MAIL_DELETED = "mail.deleted", "Email deleted from quarantine"
    CUSTOMER_CREATED = "customer.created", "Customer created"
    CUSTOMER_UPDATED = "customer.updated", "Customer changed"
    ORDER_CREATED = "order.created", "Order recorded"
    ORDER_LINES_ADDED = "order.lines_added", "Order lines recorded"
    ORDERS_IMPORTED = "orders.imported", "Orders imported"
    CUSTOMERS_SCORED = "customers.scored", "Customers scored"
    PRIORITY_CALIBRATED = "priority.calibrated", "Priority rule calibrated"
    VALUE_MODEL_FITTED = "value_model.fitted", "Value model fitted"
    USER_CREATED = "user.created", "Staff user created"
    USER_ROLE_SET = "user.role_set", "Staff role changed"
    LOGIN_FAILED = "auth.login_failed", "Log-in failed"
    LOGIN_LOCKED_OUT = "auth.locked_out", "Log-in locked out"
    API_TOKEN_CREATED = "api_token.created", "API token created"
    API_TOKEN_REVOKED = "api_token.revoked", "API token revoked"
    WEBHOOK_SUBSCRIBED = "webhook.subscribed", "Webhook subscription created"
    WEBHOOK_CHANGED = "webhook.changed", "Webhook subscription changed"
    WEBHOOK_DELETED = "webhook.deleted", "Webhook subscription deleted"
    ASSIGNMENT_RULE_SET = "assignment.rule_set", "Assignment rule changed"
    AGENT_SKILL_ADDED = "assignment.skill_added", "Agent skill added"
    AGENT_SKILL_REMOVED = "assignment.skill_removed", "Agent skill removed"
    PORTAL_LINK_SENT = "portal.link_sent", "Portal log-in link sent"
    PORTAL_LINK_USED = "portal.link_used", "Logged in to the portal"
    CALENDAR_CREATED = "calendar.created", "Business calendar created"
    CALENDAR_CHANGED = "calendar.changed", "Business hours changed"
    CALENDAR_EXCEPTION_SET = "calendar.exception_set", "Calendar exception set"
    CALENDAR_IMPORTED = "calendar.imported", "Calendar exceptions imported"
    TEAM_CALENDAR_SET = "team.calendar_set", "Team calendar set"
    CALLS_RECORDED = "calls.recorded", "Call records reported"
    ROSTER_CHANGED = "roster.changed", "Roster changed"
    COMMITMENT_CREATED = "commitment.created", "Promise made"
    COMMITMENT_CHANGED = "commitment.changed", "Promise changed"
    COMMITMENT_REASSIGNED = "commitment.reassigned", "Promise handed to another owner"
    COMMITMENT_DUE_SOON = "commitment.due_soon", "Promise coming due"
    COMMITMENT_KEPT = "commitment.kept", "Promise kept"
    COMMITMENT_BROKEN = "commitment.broken", "Promise broken"
    COMMITMENT_WAIVED = "commitment.waived", "Promise waived"
    AGREEMENT_CREATED = "agreement.created", "Service agreement made"
    AGREEMENT_CHANGED = "agreement.changed", "Service agreement changed"
    LEAD_CREATED = "lead.created", "Sales lead opened"
    LEAD_CHANGED = "lead.changed", "Sales lead changed"
    LEAD_WON = "lead.won", "Sales lead won"
    LEAD_LOST = "lead.lost", "Sales lead lost"
    SURVEY_SCHEDULED = "survey.scheduled", "Survey scheduled"
    SURVEY_SENT = "survey.sent", "Survey emailed"
    SURVEY_ANSWERED = "survey.answered", "Survey answered"
    REFERRAL_ASK_SENT = "referral.ask_sent", "Referral ask emailed"
    REFERRAL_REGISTERED = "referral.registered", "Referral link used"
    REFERRAL_ATTRIBUTED = "referral.attributed", "Referred customer ordered"
    FOLLOWUP_TASK_OPENED = "followup_task.opened", "Follow-up task opened"
    FOLLOWUP_TASK_CLOSED = "followup_task.closed", "Follow-up task closed"
    FOLLOWUP_TASK_TAKEN = "followup_task.taken", "Follow-up task taken"
    PLAYBOOK_STOPPED = "playbook.stopped", "Follow-up playbook stopped"
    PLAYBOOK_RESUMED = "playbook.resumed", "Follow-up playbook resumed"
    EMAILS_UNSUBSCRIBED = "emails.unsubscribed", "Unsubscribed from follow-up emails"
    SLA_MET = "sla.met", "Service-level target met"
    SLA_WARNED = "sla.warned", "Service-level target about to be missed"
    SLA_BREACHED = "sla.breached", "Service-level target missed"
    SLA_POLICY_CREATED = "sla_policy.created", "SLA policy created"
    SLA_POLICY_CHANGED = "sla_policy.changed", "SLA policy changed"
    SLA_RECOMPUTED = "sla.recomputed", "Open tickets' due times recomputed"


class Event(models.Model):
    """Who did what to which object, when, with the fields before and after.

    `customer_id` is a plain indexed integer rather than a foreign key so that `core`
    stays below `crm` in the dependency order; every event about a customer's ticket,
    order or promise carries it, which makes the timeline one indexed range scan.
    """

    occurred_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
    )
    # Set when the actor is not a staff user: "customer:<contact id>", "system:import", ...
    actor_label = models.CharField(max_length=200, blank=True)
    verb = models.CharField(max_length=64, choices=Verb.choices)
    # What the event is about; empty for a failed log-in under a name that is nobody's.
    subject_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT)
    subject_id = models.BigIntegerField(null=True, blank=True)
    customer_id = models.BigIntegerField(null=True, blank=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(
                fields=["subject_type", "subject_id", "-occurred_at"], name="event_subject_idx"
            ),
            models.Index(fields=["customer_id", "-occurred_at"], name="event_customer_idx"),
        ]

    def __str__(self) -> str:
        about = f" {self.subject_type.model}#{self.subject_id}" if self.subject_type else ""
        return f"{self.get_verb_display()}{about} at {self.occurred_at}"

    @property
    def actor_display(self) -> str:
        """A person's name, or the kind of actor: "customer:12" reads as "customer"."""
        if self.actor_id is not None and self.actor is not None:
            return self.actor.get_full_name() or self.actor.get_username()
        return self.actor_label.partition(":")[0] or "system"


class ApiToken(models.Model):
    """A secret that lets a program act through the API as `user`, with the user's role.

    Only the SHA-256 of the secret is stored: a copy of the database grants nothing. The
    secret carries 256 random bits, so an unsalted hash is as strong as a slow one and
    can be looked up by equality.
    """

    name = models.CharField(max_length=100)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    secret_sha256 = models.CharField(max_length=64, unique=True)
    # The secret's first characters, shown so that a person can tell tokens apart.
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class WebhookEvent(models.TextChoices):
    """What a webhook subscriber may hear of: names of the public contract, not verbs."""

    TICKET_CREATED = "ticket.created", "Ticket created"
    TICKET_UPDATED = "ticket.updated", "Ticket updated"
    TICKET_SOLVED = "ticket.solved", "Ticket solved"
    ORDER_CREATED = "order.created", "Order created"


class WebhookSubscription(TimeStampedModel):
    """A URL that is POSTed a signed JSON body when one of `events` happens."""

    # HTTP(S) only: URLField alone also takes ftp://, which urllib would try to POST to.
    url = models.URLField(max_length=2000, validators=[URLValidator(schemes=["http", "https"])])
    # The key of the HMAC signature, shown to the manager who subscribes.
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event for one subscriber, and how sending it went (the delivery log)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["subscription", "-created_at"], name="webhook_delivery_sub_idx")
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.subscription_id}: {self.status}"
