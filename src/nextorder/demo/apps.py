from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo desk: real CDNOW customers, staff and conversations across every app.

    Last in the dependency order because it writes through every app's services.
    """

    name = "nextorder.demo"
    label = "demo"
    verbose_name = "NextOrder demo"
