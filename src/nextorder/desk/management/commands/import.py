"""`nextorder import orders FILE` and `nextorder import mailbox FILE`: bring a shop's
order history and its old support mailbox in.

It lives in `desk`, the highest app either kind belongs to (crm holds the order import),
so that no app imports one above it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nextorder.core.files import DATA_FORMATS, DataFormat, data_format_of
from nextorder.core.progress import phase_progress_bars
from nextorder.crm.importers import ColumnMapping, OrderFileError, mapping_from_options
from nextorder.crm.services import orders_import
from nextorder.desk.mail.mailbox import mailbox_import


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
        parser.add_argument("--format", choices=DATA_FORMATS, help="default: from the file name")
        parser.add_argument(
            "--column",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help="which file column holds a field, e.g. --column customer_id=CustNo "
            "(FIELD=- for a field the file lacks)",
        )
        parser.add_argument("--mapping", type=Path, help="JSON file of FIELD: COLUMN pairs")
        parser.add_argument("--currency", default="USD", help="currency of rows without one")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["kind"] == "mailbox":
            return self._mailbox(options["file"], verbosity=options["verbosity"])
        path: Path = options["file"]
        try:
            file_format: DataFormat = options["format"] or data_format_of(path)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        try:
            base = (
                ColumnMapping.from_file(options["mapping"])
                if options["mapping"]
                else ColumnMapping()
            )
            mapping = mapping_from_options(base=base, options=options["column"])
            with phase_progress_bars(enabled=options["verbosity"] > 0) as report:
                result = orders_import(
                    path=path,
                    file_format=file_format,
                    mapping=mapping,
                    default_currency=options["currency"].upper(),
                    progress=report,
                )
        except OrderFileError as exc:
            where = f"{path}:{exc.line}: " if exc.line is not None else f"{path}: "
            raise CommandError(
                f"{where}{exc.reason.rstrip('.')}. Nothing from this file was imported."
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"{path.name}: {result.rows} rows, {result.orders_created} new orders "
                f"({result.orders_existing} already known), {result.customers_created} new "
                f"customers, {result.contacts_created} new contacts."
            )
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
