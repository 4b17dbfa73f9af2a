from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "nextorder.desk"
    label = "desk"
    verbose_name = "Service desk"

    def ready(self) -> None:
        # Registers the dispatch listeners that turn this app's events into webhooks.
        from nextorder.desk import webhooks  # noqa: F401
