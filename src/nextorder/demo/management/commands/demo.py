"""`nextorder demo`: a working desk on real customer data in one command."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from nextorder.crm.services import orders_import
from nextorder.data import CDNOW_SAMPLE, SHOPIFY_SAMPLE
from nextorder.demo.catalogue import generate_demo_order_lines
from nextorder.demo.data import (
    DEMO_PASSWORD,
    DEMO_USERS,
    SEED,
    cdnow_shift_days,
    ensure_demo_assignment,
    ensure_demo_calendars,
    ensure_demo_roster,
    ensure_demo_staff,
    generate_demo_calls,
    generate_demo_sales,
    generate_demo_tickets,
    score_demo_customers,
)
from nextorder.demo.followup import generate_demo_followup
from nextorder.desk.mail.smtpd import parse_address, smtp_server


class Command(BaseCommand):
    help = (
        "Create (or reuse) the demo database with the CDNOW customers, a shop's Shopify "
        "export and tickets, then serve it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="address:port to serve on")
        parser.add_argument("--no-serve", action="store_true", help="load the data and stop")
        parser.add_argument("--tickets", type=int, default=400, help="tickets to generate")
        parser.add_argument(
            "--smtp",
            default=settings.NEXTORDER_SMTPD_ADDR,
            help="HOST:PORT of the demo's SMTP receiver (default NEXTORDER_SMTPD_ADDR)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", verbosity=0, interactive=False)
        shift = cdnow_shift_days(today=timezone.localdate())
        result = orders_import(path=CDNOW_SAMPLE, file_format="cdnow", shift_days=shift)
        self.stdout.write(
            f"CDNOW sample: {result.orders_created} new orders, {result.orders_existing} already "
            f"loaded ({result.rows} rows; dates moved {shift // 7} weeks forward)."
        )
        # A shop's export as it comes: line items, products, statuses and refunds.
        shop = orders_import(path=SHOPIFY_SAMPLE, file_format="csv", layout="shopify")
        self.stdout.write(
            f"Shopify export: {shop.orders_created} new orders with {shop.lines_created} "
            f"lines, {shop.products_created} new products, {shop.customers_created} new "
            "customers."
        )
        lines = generate_demo_order_lines(seed=SEED)
        self.stdout.write(
            f"CD catalogue: {lines} order lines written."
            if lines
            else "CD catalogue: already there."
        )
        ensure_demo_staff()
        ensure_demo_calendars()
        self.stdout.write(score_demo_customers(shift_days=shift))
        made = generate_demo_tickets(count=options["tickets"])
        self.stdout.write(f"Tickets: {made} generated." if made else "Tickets: already there.")
        ensure_demo_assignment()
        ensure_demo_roster()
        calls = generate_demo_calls()
        self.stdout.write(f"Call records: {calls} new (three weeks and this one, for Staffing).")
        self.stdout.write(generate_demo_sales())
        surveyed = generate_demo_followup()
        self.stdout.write(
            f"Follow-up: {surveyed} surveys." if surveyed else "Follow-up: already there."
        )
        host = options["addr"]
        self.stdout.write(self.style.SUCCESS(f"\nNextOrder demo: http://{host}/"))
        self.stdout.write(f"Log in with password {DEMO_PASSWORD!r} as one of:")
        for user in DEMO_USERS:
            self.stdout.write(
                f"  {user.username:<8} {user.role}{' (admin)' if user.is_superuser else ''}"
            )
        if not options["no_serve"]:
            self._serve(host=host, smtp=options["smtp"])

    def _serve(self, *, host: str, smtp: str) -> None:
        """The console, with what makes email work end to end: an SMTP receiver on
        loopback and the task worker that sends replies (to the outbox, unless EMAIL_HOST
        names a real server)."""
        try:
            smtp_host, smtp_port = parse_address(smtp)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        receiver = smtp_server(host=smtp_host, port=smtp_port)
        try:
            receiver.start()
        except (OSError, RuntimeError) as exc:
            raise CommandError(f"the SMTP receiver cannot listen on {smtp}: {exc}") from exc
        worker = subprocess.Popen([sys.argv[0], "db_worker"])
        outbox = "the outbox (Outbox, as maria)" if not settings.EMAIL_HOST else settings.EMAIL_HOST
        self.stdout.write(
            f"Email: send to any address at smtp://{smtp_host}:{smtp_port} and it arrives as a "
            f"ticket; replies go to {outbox}. Task worker: pid {worker.pid}.\n"
        )
        try:
            call_command("runserver", host, use_reloader=False, insecure_serving=True)
        finally:
            worker.terminate()
            receiver.stop()
