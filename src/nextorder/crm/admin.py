from django.contrib import admin

from nextorder.crm.models import (
    Contact,
    ContactEmail,
    Customer,
    Order,
    OrderImport,
    OrderLine,
    Product,
    ProductComponent,
)


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0
    fields = ["name", "phone"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "external_id", "order_count", "total_spend", "last_order_at"]
    list_filter = ["kind"]
    search_fields = ["name", "external_id", "contacts__emails__address"]
    readonly_fields = ["order_count", "total_spend", "first_order_at", "last_order_at"]
    inlines = [ContactInline]


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


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["external_id", "customer", "placed_at", "amount", "currency", "channel"]
    list_filter = ["channel", "currency"]
    search_fields = ["external_id", "customer__name"]
    date_hierarchy = "placed_at"
    raw_id_fields = ["customer", "contact", "sales_rep"]
    inlines = [OrderLineInline]


@admin.register(OrderImport)
class OrderImportAdmin(admin.ModelAdmin):
    list_display = ["file_name", "rows", "orders_created", "customers_created", "created_at"]
    search_fields = ["file_name", "file_sha256"]
    date_hierarchy = "created_at"

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # a record of what happened; imports are made with `nextorder import`

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(ProductComponent)
class ProductComponentAdmin(admin.ModelAdmin):
    list_display = ["product", "component", "quantity"]
    search_fields = ["product__sku", "component__sku"]
    raw_id_fields = ["product", "component"]


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["order", "product", "description", "quantity", "unit_price", "amount"]
    search_fields = ["order__external_id", "product__sku", "description"]
    raw_id_fields = ["order", "product"]
