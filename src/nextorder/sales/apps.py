from django.apps import AppConfig


class SalesConfig(AppConfig):
    name = "nextorder.sales"
    label = "sales"
    verbose_name = "Sales: promises, agreements and leads"

    def ready(self) -> None:
        # Register the dispatch listeners: owners hear of their promises coming due or broken.
        from nextorder.core.changes import read_field_with
        from nextorder.sales import listeners  # noqa: F401
        from nextorder.sales.models import Commitment, Lead

        # Timelines show a promise's or a lead's changes by their labels.
        states = {**dict(Commitment.State.choices), **dict(Lead.State.choices)}
        read_field_with("state", lambda value: str(states[value]))
