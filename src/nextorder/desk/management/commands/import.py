"""`nextorder import orders FILE` and `nextorder import mailbox FILE`: bring a shop's
order history and its old support mailbox in.

It lives in `desk`, the highest app either kind belongs to (crm holds the order import,
sales the promises read from the same rows), so that no app imports one above it.
"""

from __future__ import annotations

import json
import zoneinfo
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nextorder.core.files import DATA_FORMATS, DataFormat, data_format_of
from nextorder.core.progress import phase_progress_bars
from nextorder.crm.importers import LAYOUTS, ColumnMapping, OrderFileError, mapping_from_options
from nextorder.desk.mail.mailbox import mailbox_import
from nextorder.sales.importers import OrdersAndPromises, orders_import_with_promises


class Command(BaseCommand):
    help = (
        "Import data files: `import orders FILE` reads orders from CSV, Parquet or CDNOW "
        "text; `import mailbox FILE` reads an mbox file or a Maildir folder of email."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # A positional kind rather than sub-parsers, so Django's own options (-v 0)
        # may stand anywhere on the line.
        parser.add_argument("kind", choices=["orders", "mailbox"], help="what the file holds")
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--format",
            choices=[*DATA_FORMATS, *LAYOUTS],
            help="a file format, or a platform's order export (a CSV); default: from the "
            "file name, and a platform's export from its header",
        )
        parser.add_argument(
            "--time-zone",
            help="orders: the zone of times without an offset (default: TIME_ZONE)",
        )
        parser.add_argument(
            "--json", action="store_true", help="orders: print the summary as one JSON object"
        )
        parser.add_argument(
            "--column",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help="which file column holds a field, e.g. --column customer_id=CustNo "
            "(FIELD=- for a field the file lacks)",
        )
        parser.add_argument("--mapping", type=Path, help="JSON file of FIELD: COLUMN pairs")
        parser.add_argument(
            "--currency", help="currency of rows without one (default: NEXTORDER_CURRENCY)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["kind"] == "mailbox":
            return self._mailbox(options["file"], verbosity=options["verbosity"])
        path: Path = options["file"]
        layout = options["format"] if options["format"] in LAYOUTS else None
        try:
            file_format: DataFormat = "csv" if layout else options["format"] or data_format_of(path)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["time_zone"]:
            try:
                zoneinfo.ZoneInfo(options["time_zone"])
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise CommandError(f"unknown time zone {options['time_zone']!r}") from exc
        try:
            base = (
                ColumnMapping.from_file(options["mapping"])
                if options["mapping"]
                else ColumnMapping()
            )
            mapping = mapping_from_options(base=base, options=options["column"])
            quiet = options["json"] or options["verbosity"] == 0
            with phase_progress_bars(enabled=not quiet) as report:
                result = orders_import_with_promises(
                    path=path,
                    file_format=file_format,
                    mapping=mapping,
                    layout=layout,
                    default_currency=(options["currency"] or "").upper() or None,
                    time_zone=options["time_zone"],
                    progress=report,
                )
        except OrderFileError as exc:
            where = f"{path}:{exc.line}: " if exc.line is not None else f"{path}: "
            raise CommandError(
                f"{where}{exc.reason.rstrip('.')}. Nothing from this file was imported."
            ) from exc
        if options["json"]:
            self.stdout.write(json.dumps(result.summary()))
            return
        for warning in result.orders.warnings:
            self.stderr.write(self.style.WARNING(f"{path.name}: {warning}"))
        self._print_summary(path, result)

    def _print_summary(self, path: Path, both: OrdersAndPromises) -> None:
        result = both.orders
        not_counted = ", ".join(f"{n} {status}" for status, n in result.not_counted.items())
        net = ", ".join(
            f"{amount} {currency}" for currency, amount in result.net_sales_added.items()
        )
        layout = "" if result.layout == "generic" else f" ({result.layout} export)"
        self.stdout.write(
            self.style.SUCCESS(
                f"{path.name}{layout}: {result.rows} orders, {result.orders_created} new "
                f"({result.orders_existing} already known, {result.orders_updated} of them "
                f"changed status or refunds); {result.lines_created} new order lines, "
                f"{result.products_created} new products, {result.customers_created} new "
                f"customers, {result.contacts_created} new contacts."
            )
        )
        self.stdout.write(
            f"Kept but not counted as sales: {not_counted or 'none'}. "
            f"Net sales added: {net or 'none'}."
        )
        if both.promises_created or both.promises_known:
            self.stdout.write(
                f"Promises: {both.promises_created} new, {both.promises_known} already recorded."
            )

    def _mailbox(self, path: Path, *, verbosity: int) -> None:
        with phase_progress_bars(enabled=verbosity > 0) as report:
            try:
                result = mailbox_import(
                    path=path, progress=lambda done, total: report("messages", done, total)
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(result.outcomes.items()))
        self.stdout.write(
            self.style.SUCCESS(f"{path.name}: {result.messages} messages ({counts or 'none'}).")
        )
