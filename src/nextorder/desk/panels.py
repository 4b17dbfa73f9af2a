"""Sections that apps above the desk add to the ticket's customer panel and the customer
page (the last survey answers, where the customer stands in the playbook), registered in
their `AppConfig.ready`, so the desk never imports them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from nextorder.crm.models import Customer


@dataclass(frozen=True)
class Panel:
    template: str
    context: dict[str, Any]


PanelBuilder = Callable[[HttpRequest, Customer], dict[str, Any]]
_panels: dict[str, PanelBuilder] = {}


def customer_panel(template: str) -> Callable[[PanelBuilder], PanelBuilder]:
    """Register the decorated function as the context of `template` (idempotent)."""

    def register(builder: PanelBuilder) -> PanelBuilder:
        _panels[template] = builder
        return builder

    return register


def customer_panels(*, request: HttpRequest, customer: Customer) -> list[Panel]:
    return [Panel(template, build(request, customer)) for template, build in _panels.items()]
