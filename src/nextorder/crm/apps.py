from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "nextorder.crm"
    label = "crm"
    verbose_name = "Customers and orders"

    def ready(self) -> None:
        # Registers the dispatch listeners that turn this app's events into webhooks.
        from nextorder.crm import webhooks  # noqa: F401
