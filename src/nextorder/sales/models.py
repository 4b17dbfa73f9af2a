"""What was sold and promised: promises made at a sale, service agreements and what they
cover, and sales leads (many born in service)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from nextorder.core.models import TimeStampedModel
from nextorder.crm.models import Customer, Order, Product


class Commitment(TimeStampedModel):
    """A promise made at a sale, owned by a staff user until it is kept, broken or waived.

    Attached to a customer, and to one of their orders when it was made with it. The
    state's reason, who settled it and when stay on the row; the history is in events.
    """

    class Kind(models.TextChoices):
        DELIVER_BY = "deliver_by", "Deliver by"
        INSTALL_BY = "install_by", "Install by"
        CALL_BACK = "call_back", "Call back"
        DISCOUNT = "discount", "Discount on next order"
        REPLACEMENT_PART = "replacement_part", "Replacement part"
        TRAINING = "training", "Training"
        OTHER = "other", "Other"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        KEPT = "kept", "Kept"
        BROKEN = "broken", "Broken"
        WAIVED = "waived", "Waived"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="commitments")
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="commitments"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    description = models.CharField(max_length=500)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="commitments"
    )
    due_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    # Why it was kept, broken or waived; who settled it (None: the overdue check) and when.
    reason = models.CharField(max_length=500, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    settled_at = models.DateTimeField(null=True, blank=True)
    # When the owner was told it is coming due: once per promise, however often the check runs.
    due_soon_notified_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["due_at", "id"]
        permissions = [("keep_commitment", "Can mark a promise kept")]
        indexes = [
            # The check and the "due soon"/"overdue" lists read open promises by due time.
            models.Index(
                fields=["due_at"], name="commitment_open_due_idx", condition=models.Q(state="open")
            ),
            models.Index(fields=["customer", "state"], name="commitment_customer_idx"),
            models.Index(fields=["owner", "state", "due_at"], name="commitment_owner_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.description}"

    @property
    def is_overdue(self) -> bool:
        """Open past its time: the hourly check will break it."""
        return self.state == self.State.OPEN and self.due_at < timezone.now()


class ServiceKind(models.TextChoices):
    """Kinds of service an agreement covers or excludes."""

    REPAIR = "repair", "Repair"
    REPLACEMENT = "replacement", "Replacement"
    INSTALLATION = "installation", "Installation"
    MAINTENANCE = "maintenance", "Maintenance"
    TRAINING = "training", "Training"
    REMOTE_SUPPORT = "remote_support", "Remote support"
    ON_SITE = "on_site", "On-site visit"


class ServiceAgreement(TimeStampedModel):
    """What a customer is entitled to, from one day to another, and how fast.

    The response times are in business minutes (the shop's hours); the service-level
    rules of the desk read them for the customer's tickets.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="agreements")
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=100, blank=True)
    starts_on = models.DateField()
    ends_on = models.DateField()
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-ends_on", "id"]
        indexes = [
            models.Index(fields=["customer", "ends_on"], name="agreement_customer_idx"),
            models.Index(fields=["ends_on"], name="agreement_ends_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")),
                name="agreement_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.starts_on} to {self.ends_on})"


class AgreementItem(models.Model):
    """One line of an agreement: what it covers, or what it excludes.

    Each of product, part and kind narrows the line; an empty one means any. A part is
    free text ("battery", "hinge"), of the line's product when it has one.
    """

    class Effect(models.TextChoices):
        COVERS = "covers", "Covers"
        EXCLUDES = "excludes", "Excludes"

    agreement = models.ForeignKey(ServiceAgreement, on_delete=models.CASCADE, related_name="items")
    effect = models.CharField(max_length=10, choices=Effect.choices, default=Effect.COVERS)
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    part = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=20, choices=ServiceKind.choices, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["effect", "id"]

    def __str__(self) -> str:
        return f"{self.get_effect_display()} {self.scope}"

    @property
    def scope(self) -> str:
        """'repair of the battery of SKU-1 Widget', 'everything'."""
        what = []
        if self.kind:
            what.append(f"{self.get_kind_display().lower()} of")
        if self.part:
            what.append(f"the {self.part}" + (" of" if self.product_id else ""))
        if self.product_id:
            what.append(str(self.product))
        if not (self.part or self.product_id):
            what.append("anything" if self.kind else "everything")
        return " ".join(what)


class Lead(TimeStampedModel):
    """A chance of a sale, and where it came from, so that service-born revenue is counted.

    `ticket_id` is a plain integer, as desk sits above sales in the dependency order.
    """

    class Source(models.TextChoices):
        TICKET = "ticket", "Service ticket"
        RENEWAL = "renewal", "Agreement renewal"
        REFERRAL = "referral", "Referral"
        MANUAL = "manual", "Entered by sales"
        IMPORT = "import", "Import"

    # Leads born in service: what the service-to-sales report counts.
    SERVICE_SOURCES = (Source.TICKET, Source.RENEWAL)

    class State(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="leads")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    title = models.CharField(max_length=200)
    note = models.TextField(blank=True)
    ticket_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    agreement = models.ForeignKey(
        ServiceAgreement, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leads",
    )
    value_estimate = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    won_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "state"], name="lead_customer_idx"),
            models.Index(fields=["state", "source"], name="lead_state_source_idx"),
        ]
        constraints = [
            # One renewal lead per agreement: the expiry check may run any number of times.
            models.UniqueConstraint(
                fields=["agreement"],
                condition=models.Q(source="renewal"),
                name="lead_one_renewal_per_agreement",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ProductAffinity(models.Model):
    """How many orders had both products: the co-occurrence table the upsell suggestion
    reads, rebuilt in one statement from the order lines (`product_affinities_refresh`)
    so that a page never scans the order history."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    orders = models.PositiveIntegerField()

    class Meta:
        verbose_name_plural = "product affinities"
        constraints = [
            models.UniqueConstraint(fields=["product", "other"], name="affinity_pair_unique"),
        ]
        indexes = [models.Index(fields=["product", "-orders"], name="affinity_product_idx")]

    def __str__(self) -> str:
        return f"{self.product_id} with {self.other_id}: {self.orders} orders"
