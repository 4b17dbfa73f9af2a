"""`nextorder smtpd`: receive email for the desk over SMTP."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from nextorder.desk.mail.smtpd import parse_address, smtp_server


class Command(BaseCommand):
    help = "Receive customers' email over SMTP (a mail server relays into this)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--addr",
            default=settings.NEXTORDER_SMTPD_ADDR,
            help="HOST:PORT to listen on (default NEXTORDER_SMTPD_ADDR)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help=(
                "database threads, each committing whatever messages wait (one makes the "
                "biggest batches; more help only when the database is far away)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            host, port = parse_address(options["addr"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        server = smtp_server(host=host, port=port, workers=max(1, options["workers"]))
        try:
            server.start()
        except (OSError, RuntimeError) as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
        self.stdout.write(f"Receiving email on {host}:{port}; Ctrl-C stops.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
