from typing import Any

from django.contrib import admin
from django.contrib.auth.models import User
from django.http import HttpRequest

from nextorder.core.admin_site import ReadOnlyAdmin, ReadOnlyInline
from nextorder.crm.models import (
    Contact,
    ContactEmail,
    CurrencyRate,
    Customer,
    Order,
    OrderImport,
    OrderLine,
    Product,
    ProductComponent,
)
from nextorder.crm.services import CUSTOMER_EDITABLE_FIELDS, customer_create, customer_update


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ["name", "phone"]


# Derived from orders and scoring; shown, never edited.
_CUSTOMER_FIGURES = [
    "order_count",
    "total_spend",
    "first_order_at",
    "last_order_at",
    "clv_12m",
    "p_alive",
    "value_at_risk",
    "value_reason",
    "scored_at",
]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "external_id", "order_count", "total_spend", "last_order_at"]
    list_filter = ["kind"]
    search_fields = ["name", "external_id", "contacts__emails__address"]
    fields = [*CUSTOMER_EDITABLE_FIELDS, *_CUSTOMER_FIGURES]
    readonly_fields = _CUSTOMER_FIGURES
    inlines = [ContactInline]

    def save_model(self, request: HttpRequest, obj: Customer, form: Any, change: bool) -> None:
        """Through the services, so that the change is in the customer's timeline."""
        fields = {name: form.cleaned_data[name] for name in CUSTOMER_EDITABLE_FIELDS}
        actor = request.user if isinstance(request.user, User) else None
        if change:
            customer_update(customer=Customer.objects.get(pk=obj.pk), actor=actor, **fields)
        else:
            obj.pk = customer_create(actor=actor, **fields).pk
            obj.refresh_from_db()


class ContactEmailInline(admin.TabularInline):
    model = ContactEmail
    extra = 1


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["__str__", "customer", "phone"]
    search_fields = ["name", "emails__address", "customer__name"]
    raw_id_fields = ["customer"]
    inlines = [ContactEmailInline]


@admin.register(ContactEmail)
class ContactEmailAdmin(admin.ModelAdmin):
    list_display = ["address", "contact", "is_primary"]
    search_fields = ["address"]
    raw_id_fields = ["contact"]


class ProductComponentInline(admin.TabularInline):
    model = ProductComponent
    fk_name = "product"
    extra = 0
    raw_id_fields = ["component"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "price", "currency"]
    search_fields = ["sku", "name"]
    inlines = [ProductComponentInline]


class OrderLineInline(ReadOnlyInline):
    model = OrderLine


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    """Orders come from the shop (import, and later the API), which keeps the customer's
    figures and events right; here they are read."""

    list_display = [
        "external_id",
        "customer",
        "placed_at",
        "amount",
        "refunded_amount",
        "currency",
        "status",
        "channel",
    ]
    list_filter = ["status", "channel", "currency"]
    search_fields = ["external_id", "customer__name"]
    date_hierarchy = "placed_at"
    list_select_related = ["customer"]
    inlines = [OrderLineInline]


@admin.register(OrderImport)
class OrderImportAdmin(ReadOnlyAdmin):
    """A record of what happened; imports are made with `nextorder import`."""

    list_display = [
        "file_name",
        "rows",
        "orders_created",
        "orders_updated",
        "lines_created",
        "customers_created",
        "created_at",
    ]
    search_fields = ["file_name", "file_sha256"]
    date_hierarchy = "created_at"


@admin.register(ProductComponent)
class ProductComponentAdmin(admin.ModelAdmin):
    list_display = ["product", "component", "quantity"]
    search_fields = ["product__sku", "component__sku"]
    raw_id_fields = ["product", "component"]


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    list_display = ["order", "product", "description", "quantity", "unit_price", "amount"]
    search_fields = ["order__external_id", "product__sku", "description"]


@admin.register(CurrencyRate)
class CurrencyRateAdmin(ReadOnlyAdmin):
    """Rates are set with `nextorder rates import`, which also recomputes the spend of
    the customers who bought in a changed currency; here they are read."""

    list_display = ["currency", "rate", "updated_at"]
