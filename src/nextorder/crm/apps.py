from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "nextorder.crm"
    label = "crm"
    verbose_name = "Customers and orders"

    def ready(self) -> None:
        # Registers the dispatch listeners that turn this app's events into webhooks.
        from nextorder.core.search import text_index_register
        from nextorder.crm import webhooks  # noqa: F401
        from nextorder.crm.selectors import TEXT_INDEXES

        for index in TEXT_INDEXES:
            text_index_register(index)
