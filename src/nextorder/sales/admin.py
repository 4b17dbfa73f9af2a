"""Promises, agreements and leads change on the console's pages and through the API,
whose services record the customer's timeline: here managers read them."""

from django.contrib import admin

from nextorder.core.admin_site import ReadOnlyAdmin, ReadOnlyInline
from nextorder.sales.models import (
    AgreementItem,
    Commitment,
    Lead,
    ProductAffinity,
    ServiceAgreement,
)


@admin.register(Commitment)
class CommitmentAdmin(ReadOnlyAdmin):
    list_display = ["customer", "kind", "description", "owner", "due_at", "state"]
    list_filter = ["state", "kind"]
    list_select_related = ["customer", "owner"]
    search_fields = ["description", "customer__name"]
    date_hierarchy = "due_at"


class AgreementItemInline(ReadOnlyInline):
    model = AgreementItem


@admin.register(ServiceAgreement)
class ServiceAgreementAdmin(ReadOnlyAdmin):
    list_display = ["customer", "name", "plan", "starts_on", "ends_on"]
    list_select_related = ["customer"]
    search_fields = ["name", "customer__name"]
    inlines = [AgreementItemInline]


@admin.register(Lead)
class LeadAdmin(ReadOnlyAdmin):
    list_display = ["title", "customer", "source", "state", "owner", "won_amount", "created_at"]
    list_filter = ["state", "source"]
    list_select_related = ["customer", "owner"]
    search_fields = ["title", "customer__name"]


@admin.register(ProductAffinity)
class ProductAffinityAdmin(ReadOnlyAdmin):
    """The co-occurrence table, rebuilt every night from the order lines."""

    list_display = ["product", "other", "orders"]
    list_select_related = ["product", "other"]
