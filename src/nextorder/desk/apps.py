from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "nextorder.desk"
    label = "desk"
    verbose_name = "Service desk"
