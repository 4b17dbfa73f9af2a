from django.contrib import admin

from nextorder.core.admin_site import ReadOnlyAdmin, ReadOnlyInline
from nextorder.desk.models import (
    AgentSkill,
    AssignmentRule,
    Attachment,
    CallRecord,
    Delivery,
    InboundMail,
    Macro,
    MailboxCursor,
    Message,
    OutboxMail,
    PortalLoginToken,
    PriorityCalibration,
    SavedView,
    SlaPolicy,
    Tag,
    Ticket,
    TicketSla,
    TicketTag,
)


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["direction", "author_user", "author_contact", "sent_at", "body_text", "message_id"]


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    """Tickets change in the console, whose services check roles, bump the version and
    write the event; here they are read."""

    list_display = ["id", "subject", "customer", "status", "priority", "assignee", "created_at"]
    list_filter = ["status", "priority", "channel", "team"]
    search_fields = ["subject", "customer__name"]
    list_select_related = ["customer", "assignee"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "direction", "sent_at", "message_id"]
    list_filter = ["direction"]
    search_fields = ["message_id", "body_text"]


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    list_display = ["filename", "content_type", "size", "message"]


@admin.register(PriorityCalibration)
class PriorityCalibrationAdmin(ReadOnlyAdmin):
    list_display = ["computed_at", "top_share", "top_value_at_risk", "customers_scored"]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(ReadOnlyAdmin):
    """Policies change on the console's Service levels page, whose services check them,
    record the change and book the recompute of open tickets."""

    list_display = ["position", "name", "active", "first_response_minutes", "resolution_minutes"]


@admin.register(TicketSla)
class TicketSlaAdmin(ReadOnlyAdmin):
    """Clocks move only through the desk services and the worker."""

    list_display = ["ticket", "policy", "status", "due_at", "next_check_at"]
    list_filter = ["status"]
    raw_id_fields = ["ticket"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["message", "to_address", "status", "attempts", "queued_at", "sent_at"]
    list_filter = ["status"]
    search_fields = ["to_address"]


@admin.register(InboundMail)
class InboundMailAdmin(ReadOnlyAdmin):
    """The ledger of received mail; quarantined messages are handled in the console."""

    list_display = ["received_at", "source", "outcome", "from_address", "subject", "reason"]
    list_filter = ["outcome", "source"]
    search_fields = ["message_id", "from_address", "subject"]
    exclude = ["raw"]


@admin.register(OutboxMail)
class OutboxMailAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "to_addresses", "subject"]
    search_fields = ["to_addresses", "subject", "message_id"]
    exclude = ["raw"]


@admin.register(MailboxCursor)
class MailboxCursorAdmin(ReadOnlyAdmin):
    list_display = ["mailbox", "uid_validity", "last_uid", "updated_at"]


@admin.register(PortalLoginToken)
class PortalLoginTokenAdmin(ReadOnlyAdmin):
    """Who was sent a portal link and whether it was used; the hash is no one's business."""

    list_display = ["contact", "created_at", "expires_at", "used_at"]
    exclude = ["token_sha256"]
    list_select_related = ["contact"]


# Tags, macros and saved views change through desk/tags.py, macros.py and bulk.py, which
# check who may and write the event; here they are read.
@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ["name", "colour", "created_at"]
    search_fields = ["name"]


@admin.register(TicketTag)
class TicketTagAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "tag", "created_at"]
    list_select_related = ["ticket", "tag"]


@admin.register(Macro)
class MacroAdmin(ReadOnlyAdmin):
    list_display = ["name", "owner", "team", "set_status", "set_priority", "updated_at"]
    search_fields = ["name", "body"]


@admin.register(SavedView)
class SavedViewAdmin(ReadOnlyAdmin):
    list_display = ["name", "owner", "query", "created_at"]


@admin.register(CallRecord)
class CallRecordAdmin(ReadOnlyAdmin):
    """Reported by telephony and chat systems through the API; kept as they were sent."""

    list_display = ["offered_at", "channel", "queue", "outcome", "wait_seconds", "handle_seconds"]
    list_filter = ["channel", "outcome", "queue"]
    date_hierarchy = "offered_at"


# Assignment rules and skills change on the console's Assignment page (desk/assignment.py),
# which checks the lead's role and writes the event; here they are read.
@admin.register(AssignmentRule)
class AssignmentRuleAdmin(ReadOnlyAdmin):
    list_display = ["team", "method", "use_skills", "takes_unrouted", "last_assigned"]


@admin.register(AgentSkill)
class AgentSkillAdmin(ReadOnlyAdmin):
    list_display = ["user", "kind", "value"]
    list_filter = ["kind"]
