"""Staff roles as Django groups, each with the permissions its name suggests.

Kept as data here (not in a migration) because permissions are created after
migrations run; `ensure_roles` is idempotent and runs after every migrate.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

AGENT = "agent"
LEAD = "lead"
SALES = "sales"
MANAGER = "manager"
ROLES = (AGENT, LEAD, SALES, MANAGER)

_READ_RECORD = [
    "crm.view_customer",
    "crm.view_contact",
    "crm.view_contactemail",
    "crm.view_order",
    "crm.view_orderline",
    "crm.view_product",
    "core.view_event",
    "core.view_team",
    # Everyone may see when the desk and the sales line are open.
    "core.view_businesscalendar",
]
_WORK_TICKETS = [
    "desk.view_ticket",
    "desk.add_ticket",
    "desk.change_ticket",
    "desk.view_message",
    "desk.add_message",
    "desk.view_attachment",
    "desk.add_attachment",
    "crm.add_contact",
    "crm.change_contact",
    "crm.add_contactemail",
    # Tags on tickets, and macros of one's own (shared ones are the leads').
    "desk.view_tag",
    "desk.add_tag",
    "desk.view_macro",
    "desk.add_macro",
    "desk.change_macro",
    "desk.delete_macro",
]

# Agents see promises, agreements and leads, mark a promise kept and turn a conversation
# into a lead; sales makes and changes them.
_SERVE_SALES = [
    "sales.view_commitment",
    "sales.keep_commitment",
    "sales.view_serviceagreement",
    "sales.view_agreementitem",
    "sales.view_lead",
    "sales.add_lead",
]
_SELL = [
    *_SERVE_SALES,
    "sales.add_commitment",
    "sales.change_commitment",
    "sales.add_serviceagreement",
    "sales.change_serviceagreement",
    "sales.add_agreementitem",
    "sales.change_agreementitem",
    "sales.delete_agreementitem",
    "sales.change_lead",
]

# Leads win back detractors; sales asks for the next order and thanks referrers.
_FOLLOW_UP = [
    "followup.view_followuptask",
    "followup.change_followuptask",
    "followup.view_survey",
    "followup.change_customerfollowup",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    AGENT: _READ_RECORD + _WORK_TICKETS + _SERVE_SALES,
    # Leads run the queue: they also assign tickets to others and route between teams.
    LEAD: [
        *_READ_RECORD,
        *_WORK_TICKETS,
        "desk.assign_ticket",
        "desk.manage_shared_macros",
        "desk.view_inboundmail",
        "desk.manage_quarantine",
        "core.change_team",
        "core.add_businesscalendar",
        "core.change_businesscalendar",
        "crm.view_customer_value",
        # Leads plan the desk's hours: wait times, staffing, the roster.
        "desk.view_callrecord",
        "desk.add_callrecord",
        "insight.view_rostershift",
        *_SERVE_SALES,
        *_FOLLOW_UP,
        # Leads set the service levels their queue is held to.
        "desk.view_slapolicy",
        "desk.add_slapolicy",
        "desk.change_slapolicy",
    ],
    # Sales owns the record of what was sold; it reads tickets but does not work them.
    SALES: [
        *_READ_RECORD,
        "desk.view_ticket",
        "desk.view_message",
        "desk.view_attachment",
        # Sales opens follow-ups with customers at risk.
        "desk.add_ticket",
        "crm.view_customer_value",
        "crm.add_customer",
        "crm.change_customer",
        "crm.add_contact",
        "crm.change_contact",
        "crm.add_contactemail",
        "crm.add_order",
        "crm.change_order",
        "crm.add_orderline",
        "crm.change_orderline",
        "crm.add_product",
        "crm.change_product",
        *_SELL,
        *_FOLLOW_UP,
    ],
}
# Managers run the desk: every NextOrder model, and the log-in lockouts (axes) they release.
MANAGED_APPS = ("core", "crm", "sales", "desk", "followup", "insight", "axes")


def is_manager(user: Any) -> bool:
    """Managers (and superusers) are the only ones the admin site lets in."""
    if not (user.is_active and user.is_authenticated):
        return False
    return bool(user.is_superuser or user.groups.filter(name=MANAGER).exists())


def _permissions(codenames: list[str]) -> list[Permission]:
    found: list[Permission] = []
    for dotted in codenames:
        app_label, codename = dotted.split(".", 1)
        found.extend(
            Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        )
    return found


def ensure_roles(**_: Any) -> None:
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(codenames))
    manager, _created = Group.objects.get_or_create(name=MANAGER)
    manager.permissions.add(
        *Permission.objects.filter(content_type__app_label__in=MANAGED_APPS),
        *Permission.objects.filter(content_type__app_label="auth", codename="view_user"),
    )
