"""The record of who bought what: customers, their contacts, products and orders."""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from nextorder.core.models import TimeStampedModel


class Customer(TimeStampedModel):
    """A buyer: a person or a company. Tickets, orders and promises hang off it.

    The order figures (count, spend, first and last order) are kept on the row by the
    services that write orders, so the queue can show and sort by them without an
    aggregate per ticket. The value figures (CLV, P(alive), value at risk) are written by
    `insight` when customers are scored; None until then.
    """

    class Kind(models.TextChoices):
        PERSON = "person", "Person"
        COMPANY = "company", "Company"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(max_length=200)
    # Unique through Meta.constraints, not unique=True: that adds a second (LIKE-prefix)
    # index on PostgreSQL that nothing queries and every imported customer has to update.
    external_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    notes = models.TextField(blank=True)
    order_count = models.PositiveIntegerField(default=0)
    total_spend = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    first_order_at = models.DateTimeField(null=True, blank=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    clv_12m = models.DecimalField(
        "expected 12-month value", max_digits=14, decimal_places=2, null=True, blank=True
    )
    p_alive = models.FloatField("probability still a customer", null=True, blank=True)
    p_alive_previous = models.FloatField(null=True, blank=True)
    expected_orders_90d = models.FloatField(null=True, blank=True)
    value_at_risk = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    value_reason = models.CharField(max_length=300, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    # Customers are read by name, spend and value, never by when the row was written;
    # an import creates them by the hundred thousand, so no index here.
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        permissions = [
            ("view_customer_value", "Can see customers at risk, retention and value dashboards")
        ]
        indexes = [
            models.Index(fields=["-value_at_risk", "id"], name="customer_risk_idx"),
            models.Index(fields=["-total_spend", "id"], name="customer_spend_idx"),
            models.Index(fields=["name"], name="customer_name_idx"),
            # Company customers alone, for matching a stranger's email domain to the company
            # whose people write from it without reading every contact (crm.services).
            models.Index(
                fields=["id"],
                name="customer_company_idx",
                condition=models.Q(kind="company"),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="customer_external_id_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(TimeStampedModel):
    """A person who writes to us on behalf of a customer."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=50, blank=True)
    # Unindexed, as on Customer: imports create contacts in bulk and nothing sorts by it.
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        if self.name:
            return self.name
        # .all(), not a filter: a list of messages that prefetched the emails asks nothing.
        emails = list(self.emails.all())
        primary = next((e for e in emails if e.is_primary), emails[0] if emails else None)
        return primary.address if primary else f"contact #{self.pk}"


class ContactEmail(models.Model):
    """An address belongs to exactly one contact: the key incoming mail is matched on.

    Stored lower-cased (the service normalises) and unique case-insensitively.
    """

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    address = models.EmailField(max_length=254)
    is_primary = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("address"), name="contactemail_address_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.address


class Product(TimeStampedModel):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    components: models.ManyToManyField[Product, ProductComponent] = models.ManyToManyField(
        "self",
        through="ProductComponent",
        symmetrical=False,
        related_name="used_in",
        blank=True,
    )

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class ProductComponent(models.Model):
    """A part of a product (a bundle's items, a machine's spare parts)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="component_links")
    component = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "component"], name="product_component_uniq"),
            models.CheckConstraint(
                condition=~models.Q(product=models.F("component")), name="product_not_own_part"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.component_id} in {self.product_id}"


class OrderQuerySet(models.QuerySet["Order"]):
    def sales(self) -> OrderQuerySet:
        """The orders that count as sales: paid ones (refunded in part or not at all).

        Cancelled, refunded and pending orders stay visible to agents but add nothing to
        a customer's spend or value; sum `NET_AMOUNT` over these for what was sold.
        """
        return self.filter(status=Order.Status.PAID)


class Order(TimeStampedModel):
    """One purchase. Imports write orders by the million, so the table carries only the
    indexes something reads: the order id, the customer's history, and the foreign keys
    rows are deleted through.

    `amount` is what the customer was charged; `refunded_amount` what was paid back of it.
    """

    class Status(models.TextChoices):
        PAID = "paid", "Paid"
        PENDING = "pending", "Pending payment"
        CANCELLED = "cancelled", "Cancelled"
        REFUNDED = "refunded", "Refunded"

    class Channel(models.TextChoices):
        WEB = "web", "Web shop"
        STORE = "store", "Store"
        PHONE = "phone", "Phone"
        MARKETPLACE = "marketplace", "Marketplace"
        SALES_REP = "sales_rep", "Sales rep"
        OTHER = "other", "Other"

    # Unindexed: order_customer_placed_idx starts with the customer and serves its lookups.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    # Unique through Meta.constraints rather than unique=True, which on PostgreSQL adds a
    # second (LIKE-prefix) index nobody queries. NULL, not "", for orders without an id,
    # so that they do not collide under the constraint.
    external_id = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    placed_at = models.DateTimeField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PAID)
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.WEB)
    item_count = models.PositiveIntegerField(null=True, blank=True)
    # Few orders have a sales rep: a partial index (below) finds them when a user goes.
    sales_rep = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders_sold",
        db_index=False,
    )
    # Orders are read by when they were placed, never by when the row was written.
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-placed_at"], name="order_customer_placed_idx"),
            models.Index(
                fields=["sales_rep"],
                name="order_sales_rep_idx",
                condition=models.Q(sales_rep__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["external_id"], name="order_external_id_unique"),
        ]

    def __str__(self) -> str:
        return f"order {self.reference} ({self.amount} {self.currency})"

    @property
    def reference(self) -> str:
        """The order's number as the customer read it on their receipt: the shop's own
        (#1001), or, for an order whose file had none and got a made-up key, its row id."""
        if self.external_id and not SYNTHESIZED_ORDER_ID.fullmatch(self.external_id):
            return self.external_id
        return f"No. {self.pk}"


# The key `crm.importers` makes for an order whose file has no order id (customer, time
# placed, amount and a repeat count): unique, but no customer ever saw it.
SYNTHESIZED_ORDER_ID = re.compile(r".+-\d{14}-\d+(?:\.\d+)?-\d+")


# What an order adds to sales, for `Order.objects.sales()`.
NET_AMOUNT = models.F("amount") - models.F("refunded_amount")


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="order_lines"
    )
    description = models.CharField(max_length=200, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.description or self.product}"


class CurrencyRate(models.Model):
    """What one unit of `currency` is worth in the shop's currency (NEXTORDER_CURRENCY),
    as the shop states it (`nextorder rates import`): customers' spend and value add
    orders of several currencies only through these."""

    currency = models.CharField(max_length=3, unique=True)
    rate = models.DecimalField(max_digits=18, decimal_places=8)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["currency"]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate}"


class OrderImport(models.Model):
    """One successful import of an order file: what was read, what it added, by whom."""

    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64)
    file_format = models.CharField(max_length=10)
    rows = models.PositiveIntegerField()
    orders_created = models.PositiveIntegerField()
    orders_updated = models.PositiveIntegerField(default=0)
    lines_created = models.PositiveIntegerField(default=0)
    products_created = models.PositiveIntegerField(default=0)
    customers_created = models.PositiveIntegerField()
    contacts_created = models.PositiveIntegerField()
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.rows} rows) at {self.created_at}"
