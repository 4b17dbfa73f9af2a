from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "nextorder.core"
    label = "core"
    verbose_name = "NextOrder core"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_login_failed

        from nextorder.core.roles import ensure_roles
        from nextorder.core.search import fts5_repair

        # Groups need the permissions that migrations create, so they follow every migrate.
        post_migrate.connect(ensure_roles, dispatch_uid="nextorder.core.ensure_roles")
        # A migration that rebuilds a table on SQLite drops its search triggers.
        post_migrate.connect(fts5_repair, dispatch_uid="nextorder.core.fts5_repair")
        # Log-in failures and lockouts are only announced by signals: record them.
        user_login_failed.connect(_login_failed, dispatch_uid="nextorder.core.login_failed")
        user_locked_out.connect(_locked_out, dispatch_uid="nextorder.core.locked_out")


def _client_address(request: Any) -> str | None:
    from axes.helpers import get_client_ip_address

    return get_client_ip_address(request) if request is not None else None


def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
    from nextorder.core.services import login_failure_record

    login_failure_record(
        username=str(credentials.get("username") or ""),
        ip_address=_client_address(request),
        locked_out=False,
    )


def _locked_out(sender: Any, request: Any, username: str, ip_address: str, **_: Any) -> None:
    from nextorder.core.services import login_failure_record

    login_failure_record(username=username or "", ip_address=ip_address, locked_out=True)
