from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "nextorder.core"
    label = "core"
    verbose_name = "NextOrder core"

    def ready(self) -> None:
        from nextorder.core.roles import ensure_roles

        # Groups need the permissions that migrations create, so they follow every migrate.
        post_migrate.connect(ensure_roles, dispatch_uid="nextorder.core.ensure_roles")
