from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "nextorder.desk"
    label = "desk"
    verbose_name = "Service desk"

    def ready(self) -> None:
        # Register the dispatch listeners: replies to deliver, events as webhooks.
        from nextorder.desk import listeners, webhooks  # noqa: F401
