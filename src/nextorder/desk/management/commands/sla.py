"""`nextorder sla schedule|check|recompute`: the service-level worker from the command line.

sla schedule    book the periodic check (warnings, escalations); idempotent
sla check       warn and escalate what is due now, in this process
sla recompute   recompute every open ticket's policy and due times, in this process
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from nextorder.desk.sla import sla_clocks_check, sla_recompute_open
from nextorder.desk.tasks import sla_check_schedule


class Command(BaseCommand):
    help = "Service levels: book the periodic check, check now, or recompute due times."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["schedule", "check", "recompute"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "schedule":
            when = sla_check_schedule()
            self.stdout.write(f"SLA check booked for {when:%Y-%m-%d %H:%M:%S %Z}.")
        elif action == "check":
            report = sla_clocks_check()
            self.stdout.write(f"{report.warned} warned, {report.escalated} escalated.")
        else:
            done = sla_recompute_open()
            self.stdout.write(
                f"{done.tickets:,} open tickets in {done.batches} batches, {done.seconds:.1f} s "
                f"(longest batch {done.longest_batch_seconds * 1000:.0f} ms)."
            )
