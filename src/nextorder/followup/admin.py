from django.contrib import admin

from nextorder.core.admin_site import ReadOnlyAdmin
from nextorder.followup.models import CustomerFollowup, FollowupTask, Referral, ReferralAsk, Survey

# The playbook's rows change through its services (which record the timeline's events):
# the admin reads them.


@admin.register(Survey)
class SurveyAdmin(ReadOnlyAdmin):
    list_display = ["id", "ticket", "customer", "status", "csat", "nps", "answered_at"]
    list_filter = ["status"]
    list_select_related = ["ticket", "customer"]


@admin.register(ReferralAsk)
class ReferralAskAdmin(ReadOnlyAdmin):
    list_display = ["id", "customer", "status", "sent_at"]
    list_select_related = ["customer"]


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    list_display = ["id", "referrer", "email", "order", "attributed_at"]
    list_select_related = ["referrer", "order"]


@admin.register(FollowupTask)
class FollowupTaskAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "customer", "title", "due_at", "state"]
    list_filter = ["kind", "state"]
    list_select_related = ["customer"]


@admin.register(CustomerFollowup)
class CustomerFollowupAdmin(ReadOnlyAdmin):
    list_display = ["customer", "referral_code", "unsubscribed_at", "stopped_at"]
    list_select_related = ["customer"]
