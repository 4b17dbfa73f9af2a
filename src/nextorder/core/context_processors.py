from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from nextorder.core.roles import is_manager


def roles(request: HttpRequest) -> dict[str, object]:
    """`is_manager` for the header's admin link, asked only on pages that show it."""
    return {"is_manager": SimpleLazyObject(lambda: is_manager(request.user))}
