from django.contrib import admin

from nextorder.core.admin_site import ReadOnlyAdmin, ReadOnlyInline
from nextorder.desk.models import Attachment, Message, Ticket


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
