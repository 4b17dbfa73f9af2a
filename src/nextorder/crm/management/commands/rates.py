"""`nextorder rates import FILE`: the shop's exchange rates into its own currency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nextorder.crm.importers import OrderFileError
from nextorder.crm.services import currency_rates_import


class Command(BaseCommand):
    help = (
        "Import exchange rates: a CSV with the columns currency and rate, what one unit of "
        "the currency is worth in the shop's currency (NEXTORDER_CURRENCY)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # A positional action, as `import` and `clv` take theirs.
        parser.add_argument("action", choices=["import"])
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            result = currency_rates_import(path=path)
        except OrderFileError as exc:
            where = f"{path}:{exc.line}: " if exc.line is not None else f"{path}: "
            raise CommandError(f"{where}{exc.reason}. No rate was changed.") from exc
        changed = ", ".join(result.changed) or "none"
        self.stdout.write(
            self.style.SUCCESS(
                f"{path.name}: {result.rates} rates to {settings.NEXTORDER_CURRENCY}, changed: "
                f"{changed}; {result.customers_updated} customers' spend recomputed."
            )
        )
