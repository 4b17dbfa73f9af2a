"""`nextorder sales check|affinities|schedule`: the background work of sales, by hand.

sales check        flag promises coming due, break those overdue, open renewal leads
sales affinities   rebuild the table of products bought together (upsell suggestions)
sales schedule     book the hourly check and the nightly rebuild (idempotent)
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from nextorder.sales.services import (
    commitments_check,
    product_affinities_refresh,
    renewal_leads_create,
)
from nextorder.sales.tasks import sales_schedule


class Command(BaseCommand):
    help = "Promises and renewals checked now, the co-occurrence table rebuilt, or both booked."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["check", "affinities", "schedule"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "check":
            promises = commitments_check()
            renewals = renewal_leads_create()
            self.stdout.write(
                f"Promises: {promises.flagged_due_soon} coming due (owners told), "
                f"{promises.broken_overdue} broken; {len(renewals)} renewal leads opened."
            )
        elif options["action"] == "affinities":
            self.stdout.write(f"{product_affinities_refresh()} product pairs bought together.")
        else:
            booked = sales_schedule()
            self.stdout.write(
                f"Promise check booked for {booked['promises']:%Y-%m-%d %H:%M}, "
                f"co-occurrence rebuild for {booked['affinities']:%Y-%m-%d %H:%M}."
            )
