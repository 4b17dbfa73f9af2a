from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "nextorder.crm"
    label = "crm"
    verbose_name = "Customers and orders"
