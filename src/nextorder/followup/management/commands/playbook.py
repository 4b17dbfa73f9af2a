"""`nextorder playbook run|schedule`: the follow-up playbook from the command line.

playbook run        run every step now (surveys, recovery tasks, referral asks, nudges,
                    referrals); idempotent, so running it twice does nothing more
playbook schedule   book the nightly run (NEXTORDER_PLAYBOOK_TIME), which books its successor
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from nextorder.followup.services import playbook_run
from nextorder.followup.tasks import playbook_schedule


class Command(BaseCommand):
    help = "The follow-up playbook: run it now, or book the nightly run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["run", "schedule"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "schedule":
            when = playbook_schedule()
            self.stdout.write(f"The playbook runs next at {when:%Y-%m-%d %H:%M %Z}.")
            return
        done = playbook_run()
        self.stdout.write(
            ", ".join(f"{name.replace('_', ' ')}: {n}" for name, n in done.as_dict().items())
        )
