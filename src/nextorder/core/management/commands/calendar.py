"""`nextorder calendar import-ical|list`: business calendars from the command line.

calendar import-ical --calendar NAME FILE   exceptions from an iCalendar file's events
calendar list                               every calendar with its zone and weekly hours
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nextorder.core.models import BusinessCalendar
from nextorder.core.selectors import calendar_hours_text
from nextorder.core.services import calendar_import_ical


class Command(BaseCommand):
    help = "Business calendars: import exceptions from an iCalendar file, list calendars."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        importing = actions.add_parser("import-ical", help="exceptions from an .ics file")
        importing.add_argument("--calendar", required=True, help="the calendar's name")
        importing.add_argument("file", type=Path, help="the iCalendar (.ics) file")
        actions.add_parser("list", help="every calendar with its zone and weekly hours")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for each in BusinessCalendar.objects.prefetch_related("periods"):
                hours = "; ".join(
                    f"{day} {text}" for day, text in calendar_hours_text(calendar=each)
                )
                self.stdout.write(f"{each.name}\t{each.time_zone}\t{hours}")
            return
        name, path = options["calendar"], options["file"]
        calendar = BusinessCalendar.objects.filter(name=name).first()
        if calendar is None:
            known = ", ".join(BusinessCalendar.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no calendar {name!r} (calendars: {known})")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        try:
            result = calendar_import_ical(calendar=calendar, file=data, actor=None)
        except ValidationError as exc:
            raise CommandError(f"{path}: {' '.join(exc.messages)}") from exc
        self.stdout.write(
            f"{calendar.name}: {result.closed} date(s) closed, "
            f"{result.special} with hours of their own"
        )
        for reason in result.skipped:
            self.stderr.write(f"skipped {reason}")
