"""Tickets and their messages.

A ticket is one conversation with a customer; its messages carry RFC 5322 ids so that
email threading (In-Reply-To, References) can attach replies to the right ticket.
Every change of a ticket is written to `core.Event` by the services, never here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from nextorder.core.models import BusinessCalendar, Team, TimeStampedModel
from nextorder.crm.models import Contact, Customer, Order


class Ticket(TimeStampedModel):
    class Status(models.TextChoices):
        NEW = "new", "New"
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        SOLVED = "solved", "Solved"
        CLOSED = "closed", "Closed"

    class Priority(models.IntegerChoices):
        LOW = 0, "Low"
        NORMAL = 1, "Normal"
        HIGH = 2, "High"
        URGENT = 3, "Urgent"

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEB_FORM = "web_form", "Web form"
        PORTAL = "portal", "Portal"
        API = "api", "API"
        PHONE = "phone", "Phone"
        AGENT = "agent", "Opened by an agent"

    # Statuses an agent still has to act on; solved/closed drop out of the default queue.
    ACTIVE_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING)

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="tickets")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    # The order the ticket is about: picked by the agent, or found by its number in the
    # customer's first message.
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    subject = models.CharField(max_length=250)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    first_response_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # The customer's value at risk, copied here when the ticket opens and whenever the
    # customer is scored again, so the queue can sort by it off an index.
    value_at_risk = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # Why the priority rule raised the priority, in words; empty if it did not.
    priority_reason = models.CharField(max_length=200, blank=True)
    # Optimistic lock: every write checks and bumps it, so a stale form cannot overwrite.
    version = models.PositiveIntegerField(default=1)
    # A reply to the customer finally failed or bounced, and none got through since:
    # flagged in the queue so that someone calls or fixes the address.
    delivery_failed = models.BooleanField(default=False)
    # The ticket this one was merged into: its messages and events moved there, and its
    # page sends the agent on (desk/merge.py).
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    tags: models.ManyToManyField[Tag, TicketTag] = models.ManyToManyField(
        "Tag", through="TicketTag", related_name="tickets", blank=True
    )

    class Meta:
        ordering = ["-priority", "created_at", "id"]
        permissions = [("assign_ticket", "Can assign tickets to other agents and teams")]
        # The default queue shows active tickets only: partial indexes in the queue's sort
        # orders let the database read the first page, or a page deep in it, straight off
        # the index (keyset pagination) instead of sorting every active ticket.
        indexes = [
            models.Index(
                fields=["-priority", "created_at", "id"],
                name="ticket_active_prio",
                condition=models.Q(status__in=["new", "open", "pending"]),
            ),
            models.Index(
                fields=["-value_at_risk", "-priority", "created_at", "id"],
                name="ticket_active_value",
                condition=models.Q(status__in=["new", "open", "pending"]),
            ),
            models.Index(
                fields=["created_at", "id"],
                name="ticket_active_age",
                condition=models.Q(status__in=["new", "open", "pending"]),
            ),
            models.Index(
                fields=["assignee", "-priority", "created_at", "id"],
                name="ticket_assignee_active",
                condition=models.Q(status__in=["new", "open", "pending"]),
            ),
            models.Index(
                fields=["team", "-priority", "created_at", "id"],
                name="ticket_team_active",
                condition=models.Q(status__in=["new", "open", "pending"]),
            ),
            # Any other choice of statuses is read status by status (selectors.py), each
            # off one of these, in every sort order of the queue.
            models.Index(
                fields=["status", "-priority", "created_at", "id"], name="ticket_status_prio"
            ),
            models.Index(
                fields=["status", "-value_at_risk", "-priority", "created_at", "id"],
                name="ticket_status_value",
            ),
            models.Index(fields=["status", "created_at", "id"], name="ticket_status_age"),
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_idx"),
            # The follow-up playbook reads each night the tickets solved in a few days.
            models.Index(
                fields=["solved_at"],
                name="ticket_solved_idx",
                condition=models.Q(solved_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class AssignmentRule(models.Model):
    """How a team's new tickets find their agent (desk/assignment.py). An agent's or a
    lead's own choice of assignee always wins: the rule only fills an empty one."""

    class Method(models.TextChoices):
        MANUAL = "manual", "By hand (a lead assigns)"
        ROUND_ROBIN = "round_robin", "Round robin"
        LEAST_OPEN = "least_open", "Fewest open tickets"

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="assignment_rule")
    method = models.CharField(max_length=12, choices=Method.choices, default=Method.MANUAL)
    # Prefer the members skilled in the ticket's products or language, when any are.
    use_skills = models.BooleanField(default=True)
    # The one team that takes tickets arriving without a team (email, web form, portal).
    takes_unrouted = models.BooleanField(default=False)
    # Where the round robin stands: the member who got the team's last ticket.
    last_assigned = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["takes_unrouted"],
                condition=models.Q(takes_unrouted=True),
                name="assignment_one_unrouted_team",
            )
        ]

    def __str__(self) -> str:
        return f"{self.team}: {self.get_method_display()}"


class AgentSkill(models.Model):
    """What an agent knows: a product (by name or SKU) or a language (ISO 639-1 code)."""

    class Kind(models.TextChoices):
        PRODUCT = "product", "Product"
        LANGUAGE = "language", "Language"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="skills"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Lower-cased, so that matching is by equality.
    value = models.CharField(max_length=200)

    class Meta:
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "value"], name="agent_skill_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class Tag(models.Model):
    """A label agents put on tickets; its colour is one of a fixed palette, shown through a
    CSS class (`tag-<colour>`), so the Content-Security-Policy needs no inline style."""

    class Colour(models.TextChoices):
        GREY = "grey", "Grey"
        BLUE = "blue", "Blue"
        GREEN = "green", "Green"
        AMBER = "amber", "Amber"
        RED = "red", "Red"
        PURPLE = "purple", "Purple"
        TEAL = "teal", "Teal"

    name = models.CharField(max_length=50, unique=True)
    colour = models.CharField(max_length=8, choices=Colour.choices, default=Colour.GREY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TicketTag(models.Model):
    """A tag on a ticket. Keyed (tag, ticket) so that the queue's tag filter is an index
    range of the tag's tickets.

    `ticket_status` is the ticket's status, kept in step by the database's own triggers
    (desk/tags.py, whatever writes the ticket), so that the queue counts a tag's tickets
    in a status, or reads a rare tag's, off (tag, status) alone.
    """

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="ticket_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="ticket_tags")
    created_at = models.DateTimeField(auto_now_add=True)
    ticket_status = models.CharField(
        max_length=10, choices=Ticket.Status.choices, default=Ticket.Status.NEW, editable=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tag", "ticket"], name="ticket_tag_unique"),
        ]
        indexes = [
            models.Index(fields=["ticket"], name="ticket_tag_ticket_idx"),
            models.Index(fields=["tag", "ticket_status", "ticket"], name="ticket_tag_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tag_id} on #{self.ticket_id}"


class Macro(TimeStampedModel):
    """A canned reply with placeholders (desk/macros.py) and actions run with it.

    Personal when it has an `owner`; otherwise shared, with `team` or with everyone.
    """

    name = models.CharField(max_length=100)
    body = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="macros",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="macros"
    )
    set_status = models.CharField(max_length=10, choices=Ticket.Status.choices, blank=True)
    set_priority = models.SmallIntegerField(choices=Ticket.Priority.choices, null=True, blank=True)
    set_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    add_tags = models.ManyToManyField(Tag, related_name="macros", blank=True)

    class Meta:
        ordering = ["name", "id"]
        permissions = [("manage_shared_macros", "Can write macros shared with a team or all")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_personal(self) -> bool:
        return self.owner_id is not None


class SavedView(models.Model):
    """An agent's named queue filters, kept as the query string the queue reads."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=60)
    query = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_owner_name")
        ]

    def __str__(self) -> str:
        return self.name


class PriorityCalibration(models.Model):
    """Where the priority rule's "most valuable customers" begin, taken at each scoring:
    the value at risk of the customer at the top `top_share` of those scored."""

    computed_at = models.DateTimeField()
    top_share = models.FloatField()
    top_value_at_risk = models.DecimalField(max_digits=14, decimal_places=2)
    customers_scored = models.PositiveIntegerField()

    def __str__(self) -> str:
        share, value = f"{self.top_share:.0%}", self.top_value_at_risk
        return f"top {share} from {value} ({self.computed_at:%Y-%m-%d})"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", "From the customer"
        OUTBOUND = "out", "To the customer"
        NOTE = "note", "Internal note"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=4, choices=Direction.choices)
    author_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="messages",
    )
    body_text = models.TextField()
    # Sanitised on the way in (nh3); safe to render as-is.
    body_html = models.TextField(blank=True)
    sent_at = models.DateTimeField()
    message_id = models.CharField(max_length=250, unique=True)
    in_reply_to = models.CharField(max_length=250, blank=True)
    references = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sent_at", "id"]
        indexes = [models.Index(fields=["ticket", "sent_at"], name="message_ticket_idx")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} on #{self.ticket_id} at {self.sent_at}"

    @property
    def author_display(self) -> str:
        if self.author_user is not None:
            return self.author_user.get_full_name() or self.author_user.get_username()
        if self.author_contact is not None:
            return str(self.author_contact)
        return "unknown sender"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    file = models.FileField(upload_to="attachments/%Y/%m/")
    # An image shown inside the message (its Content-ID), not a file attached to it.
    content_id = models.CharField(max_length=250, blank=True)
    inline = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.filename


class Delivery(models.Model):
    """One reply on its way to one address: queued until the worker sends it, retried
    with back-off, and failed or bounced in the end if it never gets through."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        BOUNCED = "bounced", "Bounced"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    to_address = models.EmailField(max_length=254)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.get_status_display()} to {self.to_address}"


class InboundMail(models.Model):
    """Every email that reached the desk and what became of it: counted in, counted out.

    The raw message is kept only while it is quarantined (it broke a limit or could not
    be read), so that a lead can release it into a ticket or delete it: nothing that
    arrives is dropped silently.
    """

    class Source(models.TextChoices):
        SMTP = "smtp", "SMTP"
        IMAP = "imap", "IMAP"
        MAILBOX = "mailbox", "Mailbox import"

    class Outcome(models.TextChoices):
        OPENED = "opened", "Opened a ticket"
        ADDED = "added", "Added to a ticket"
        AUTO_REPLY = "auto_reply", "Automatic reply (no ticket, no answer)"
        BOUNCE = "bounce", "Bounce"
        QUARANTINED = "quarantined", "Quarantined"
        RELEASED = "released", "Released from quarantine"
        DELETED = "deleted", "Deleted from quarantine"

    received_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    message_id = models.CharField(max_length=250, db_index=True)
    from_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=250, blank=True)
    size = models.PositiveIntegerField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    reason = models.CharField(max_length=500, blank=True)
    ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_mail"
    )
    ticket_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_mail"
    )
    raw = models.FileField(upload_to="quarantine/%Y/%m/", blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "inbound mail"
        ordering = ["-received_at", "-id"]
        permissions = [("manage_quarantine", "Can release or delete quarantined mail")]
        indexes = [
            models.Index(
                fields=["-received_at", "-id"],
                name="inbound_quarantine_idx",
                condition=models.Q(outcome="quarantined"),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()}: {self.subject or self.message_id}"


class OutboxMail(models.Model):
    """Mail the desk would have sent, kept here instead (the demo's and a new install's
    email backend), so that nothing leaves the machine until an SMTP server is set."""

    sent_at = models.DateTimeField(auto_now_add=True, db_index=True)
    from_address = models.CharField(max_length=254)
    to_addresses = models.TextField()
    subject = models.CharField(max_length=500)
    message_id = models.CharField(max_length=250, blank=True)
    raw = models.BinaryField()

    class Meta:
        verbose_name_plural = "outbox"
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"{self.subject} to {self.to_addresses}"


class MailboxCursor(models.Model):
    """How far `nextorder fetchmail` has read an IMAP mailbox (UIDs are only valid
    within one UIDVALIDITY), written in the same transaction as the messages it took."""

    mailbox = models.CharField(max_length=500, unique=True)  # user@host:port/folder
    uid_validity = models.BigIntegerField()
    last_uid = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.mailbox} up to UID {self.last_uid}"


class PortalLoginToken(models.Model):
    """A one-time link that logs a contact in to the customer portal.

    Only the SHA-256 of the link's secret is kept: a copy of the database opens no
    portal session. The secret carries 256 random bits, so equality on the hash finds
    it. `used_at` is set by a conditional UPDATE, so two posts of one link log in once.
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="portal_tokens")
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"portal link for contact {self.contact_id}, expires {self.expires_at}"


class CallRecord(models.Model):
    """A phone call or chat that a telephony or chat system reports: the live channels'
    queue, measured. `external_id` is the reporting system's id, so a record sent again
    is recognised and counted once."""

    class Channel(models.TextChoices):
        PHONE = "phone", "Phone"
        CHAT = "chat", "Chat"

    class Outcome(models.TextChoices):
        ANSWERED = "answered", "Answered"
        ABANDONED = "abandoned", "Abandoned"

    external_id = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    queue = models.CharField(max_length=100, blank=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="call_records"
    )
    offered_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    wait_seconds = models.FloatField()
    handle_seconds = models.FloatField(default=0)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["channel", "offered_at"], name="desk_callrecord_offered")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(wait_seconds__gte=0) & models.Q(handle_seconds__gte=0),
                name="desk_callrecord_seconds_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.external_id}"


def _pending_only() -> list[str]:
    return [Ticket.Status.PENDING]


class SlaPolicy(TimeStampedModel):
    """Targets a ticket is answered and solved within, in business minutes.

    The first active policy (by `position`) whose conditions a ticket meets is its
    policy; an empty condition matches anything. A customer's service agreement, when
    it promises times, overrides the policy's targets (see `desk.sla.ticket_targets`).
    """

    name = models.CharField(max_length=100, unique=True)
    position = models.PositiveIntegerField(default=100, help_text="Lower comes first.")
    active = models.BooleanField(default=True)
    # Conditions on the ticket and its customer.
    customer_kind = models.CharField(
        max_length=10,
        choices=Customer.Kind.choices,
        blank=True,
        help_text="Empty: any kind of customer.",
    )
    top_value_only = models.BooleanField(
        default=False,
        help_text="Only customers in the priority rule's top value segment.",
    )
    priorities = models.JSONField(default=list, blank=True)  # Ticket.Priority values; [] = any
    channels = models.JSONField(default=list, blank=True)  # Ticket.Channel values; [] = any
    # Targets in business minutes; empty means no target for that clock.
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    pause_statuses = models.JSONField(default=_pending_only, blank=True)
    # The hours the clocks run in; empty: the ticket's team's calendar, else round the clock.
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sla_policies",
        help_text="Empty: the ticket's team's calendar, else round the clock.",
    )
    # At the breach the worker raises the priority one level and tells the team's leads;
    # with this it also hands the ticket to a lead of its team.
    reassign_on_breach = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return self.name

    @property
    def applies_to(self) -> str:
        """Its conditions as a lead reads them: "Urgent, High; Email; companies"."""
        parts = [
            ", ".join(Ticket.Priority(p).label for p in sorted(self.priorities, reverse=True))
            or "any priority",
        ]
        if self.channels:
            parts.append(", ".join(Ticket.Channel(c).label for c in self.channels))
        if self.customer_kind:
            parts.append(_KIND_PLURALS.get(self.customer_kind, self.customer_kind))
        if self.top_value_only:
            parts.append("top value")
        return "; ".join(parts)


_KIND_PLURALS: dict[str, str] = {Customer.Kind.PERSON: "people", Customer.Kind.COMPANY: "companies"}


class ClockState(models.TextChoices):
    OFF = "", "Not running"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    MET = "met", "Met"
    BREACHED = "breached", "Breached"


class ClockStep(models.IntegerChoices):
    """How far the worker has gone with a clock: stamped with the step's event, in one
    transaction, so a restarted worker neither repeats nor skips a step."""

    NONE = 0, "Nothing yet"
    WARNED = 1, "Assignee warned"
    ESCALATED = 2, "Escalated"


CLOCKS = ("first_response", "next_response", "resolution")
CLOCK_LABELS = {
    "first_response": "First response",
    "next_response": "Next response",
    "resolution": "Resolution",
}


class TicketSla(models.Model):
    """A ticket's service-level clocks, in a narrow table of their own.

    A policy change rewrites every open ticket's due times: here that is a narrow row
    with few indexes, never the ticket itself (wide, indexed for the queue's sorts), so
    a batch locks only these rows. `status` follows the ticket's, written by the same
    services, so the queue's "due" sort reads one index per status off this table.
    """

    ticket = models.OneToOneField(
        Ticket, primary_key=True, on_delete=models.CASCADE, related_name="sla"
    )
    # Not indexed: every index is written again by each recompute's row updates, and a
    # policy's clocks are looked for only when it is deleted.
    policy = models.ForeignKey(
        SlaPolicy,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    status = models.CharField(max_length=10, choices=Ticket.Status.choices)
    # The earliest due time of the clocks running or breached (none while paused): the
    # queue's "due" column and sort.
    due_at = models.DateTimeField(null=True, blank=True)
    # When the worker next has something to do (a warning, an escalation); null: nothing.
    next_check_at = models.DateTimeField(null=True, blank=True)
    paused_since = models.DateTimeField(null=True, blank=True)
    # Each clock (CLOCKS): its state; when it started; when it falls due (while paused:
    # when it would, were the pause to end now); when the assignee is warned; business
    # seconds spent paused since it started; and the worker's last step on it.
    first_response_state = models.CharField(
        max_length=8, choices=ClockState.choices, blank=True, default=ClockState.OFF
    )
    first_response_started_at = models.DateTimeField(null=True, blank=True)
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    first_response_warn_at = models.DateTimeField(null=True, blank=True)
    first_response_paused_seconds = models.PositiveIntegerField(default=0)
    first_response_step = models.PositiveSmallIntegerField(
        choices=ClockStep.choices, default=ClockStep.NONE
    )

    next_response_state = models.CharField(
        max_length=8, choices=ClockState.choices, blank=True, default=ClockState.OFF
    )
    next_response_started_at = models.DateTimeField(null=True, blank=True)
    next_response_due_at = models.DateTimeField(null=True, blank=True)
    next_response_warn_at = models.DateTimeField(null=True, blank=True)
    next_response_paused_seconds = models.PositiveIntegerField(default=0)
    next_response_step = models.PositiveSmallIntegerField(
        choices=ClockStep.choices, default=ClockStep.NONE
    )

    resolution_state = models.CharField(
        max_length=8, choices=ClockState.choices, blank=True, default=ClockState.OFF
    )
    resolution_started_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    resolution_warn_at = models.DateTimeField(null=True, blank=True)
    resolution_paused_seconds = models.PositiveIntegerField(default=0)
    resolution_step = models.PositiveSmallIntegerField(
        choices=ClockStep.choices, default=ClockStep.NONE
    )

    class Meta:
        verbose_name = "ticket SLA"
        indexes = [
            models.Index(fields=["status", "due_at", "ticket"], name="sla_status_due"),
            models.Index(
                fields=["next_check_at"],
                name="sla_next_check",
                condition=models.Q(next_check_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"SLA of ticket {self.ticket_id}"
