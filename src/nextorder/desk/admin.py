from django.contrib import admin

from nextorder.desk.models import Attachment, Message, Ticket


class MessageInline(admin.StackedInline):
    model = Message
    extra = 0
    fields = ["direction", "author_user", "author_contact", "sent_at", "body_text", "message_id"]
    readonly_fields = ["message_id"]
    raw_id_fields = ["author_user", "author_contact"]


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["id", "subject", "customer", "status", "priority", "assignee", "created_at"]
    list_filter = ["status", "priority", "channel", "team"]
    search_fields = ["subject", "customer__name"]
    raw_id_fields = ["customer", "contact", "assignee"]
    readonly_fields = ["version", "first_response_at", "solved_at", "closed_at"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["ticket", "direction", "sent_at", "message_id"]
    list_filter = ["direction"]
    search_fields = ["message_id", "body_text"]
    raw_id_fields = ["ticket", "author_user", "author_contact"]


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["filename", "content_type", "size", "message"]
    raw_id_fields = ["message"]
