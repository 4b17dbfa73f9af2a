from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "nextorder.desk"
    label = "desk"
    verbose_name = "Service desk"

    def ready(self) -> None:
        from nextorder.desk import listeners  # noqa: F401 - registers them
