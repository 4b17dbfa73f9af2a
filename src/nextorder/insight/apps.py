from django.apps import AppConfig


class InsightConfig(AppConfig):
    name = "nextorder.insight"
    label = "insight"
    verbose_name = "Customer insight"
