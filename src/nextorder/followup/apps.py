from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "nextorder.followup"
    label = "followup"
    verbose_name = "Follow-up"

    def ready(self) -> None:
        # Dispatch listeners (answers to act on, orders to attribute) and the panels
        # this app adds to the desk's ticket and customer pages.
        from nextorder.followup import listeners, panels  # noqa: F401
