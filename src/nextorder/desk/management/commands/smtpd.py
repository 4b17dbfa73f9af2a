"""`nextorder smtpd`: receive email for the desk over SMTP."""

from __future__ import annotations

import os
import socket
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from nextorder.desk.mail.smtpd import parse_address, smtp_serve, stop_on_signals


def _default_processes() -> int:
    """One per core on PostgreSQL; one on SQLite, which lets one writer in at a time."""
    return (os.cpu_count() or 1) if connection.vendor == "postgresql" else 1


class Command(BaseCommand):
    help = "Receive customers' email over SMTP (a mail server relays into this)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--addr",
            default=settings.NEXTORDER_SMTPD_ADDR,
            help="HOST:PORT to listen on (default NEXTORDER_SMTPD_ADDR)",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=None,
            help="processes that share the port (default: one per core on PostgreSQL, "
            "one on SQLite)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help=(
                "database threads per process, each committing whatever messages wait (one "
                "makes the biggest batches; more help only when the database is far away)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            host, port = parse_address(options["addr"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        processes = options["processes"]
        if processes is None:
            processes = _default_processes()
        elif processes < 1:
            raise CommandError("--processes must be at least 1")
        try:
            listener = socket.create_server((host, port), backlog=128)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        self.stdout.write(
            f"Receiving email on {host}:{port} in {processes} process"
            f"{'es' if processes > 1 else ''}; Ctrl-C stops."
        )
        self.stdout.flush()
        with listener:
            smtp_serve(
                listener=listener,
                processes=processes,
                workers=max(1, options["workers"]),
                stop=stop_on_signals(),
            )
