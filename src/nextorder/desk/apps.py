from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DeskConfig(AppConfig):
    name = "nextorder.desk"
    label = "desk"
    verbose_name = "Service desk"

    def ready(self) -> None:
        # Register the dispatch listeners: replies to deliver, events as webhooks.
        from nextorder.core.changes import read_field_with
        from nextorder.core.search import text_index_register
        from nextorder.desk import listeners, webhooks  # noqa: F401
        from nextorder.desk.models import Ticket
        from nextorder.desk.search import TEXT_INDEXES
        from nextorder.desk.tags import tag_status_repair

        # Timelines and conflicts show a ticket's changes by their labels.
        read_field_with("status", lambda value: str(Ticket.Status(value).label))
        read_field_with("priority", lambda value: str(Ticket.Priority(value).label))
        read_field_with("assignee", empty="nobody")
        read_field_with("team", empty="nobody")
        for index in TEXT_INDEXES:
            text_index_register(index)
        # A migration that rebuilds a table on SQLite drops the tags' status triggers.
        post_migrate.connect(tag_status_repair, dispatch_uid="nextorder.desk.tag_status")
