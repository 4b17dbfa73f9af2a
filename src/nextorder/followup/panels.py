"""The playbook on the desk's pages: the customer's last survey answers, open follow-up
tasks, referrals, and whether the playbook is stopped or the customer unsubscribed."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from nextorder.crm.models import Customer
from nextorder.desk.panels import customer_panel
from nextorder.followup.selectors import customer_standing


@customer_panel("followup/_standing.html")
def standing_panel(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    return {
        "customer": customer,
        "standing": customer_standing(customer=customer),
        "can_stop": request.user.has_perm("followup.change_customerfollowup"),
    }
