"""Macros: canned replies with placeholders, and the actions that go with them.

A macro's text is filled by plain substitution of `{name}` placeholders from a fixed
list (never Django's template engine or `str.format`, which would let a macro's author
reach attributes of whatever is passed in); an unknown placeholder is refused when the
macro is saved. Applying a macro runs its actions through the ticket services, so the
version check, the lead-only rules and the events are theirs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from nextorder.core.models import Team, Verb
from nextorder.core.services import event_record
from nextorder.crm.models import Order
from nextorder.desk.models import Macro, Message, Tag, Ticket
from nextorder.desk.services import checked_body, ticket_reply, ticket_update
from nextorder.desk.tags import ticket_tags_add
from nextorder.sales.intent import text_points_elsewhere

PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")

# Each placeholder with what it becomes, for the management page's help.
PLACEHOLDERS: dict[str, str] = {
    "customer_name": "the customer's name",
    "contact_name": "the name of the person who wrote (else the customer's)",
    "agent_name": "your name",
    "ticket_id": "the ticket's number",
    "last_order": "the customer's last order: its reference and date",
    "last_order_products": "what was in the last order",
}


def placeholders_unknown(text: str) -> list[str]:
    return sorted({name for name in PLACEHOLDER.findall(text) if name not in PLACEHOLDERS})


def _person(user: User) -> str:
    return user.get_full_name() or user.get_username()


def _order_products(order: Order) -> str:
    names = [
        line.product.name if line.product else line.description
        for line in order.lines.select_related("product").order_by("id")
    ]
    return ", ".join(name for name in names if name) or "(no items recorded)"


def placeholder_values(*, ticket: Ticket, agent: User) -> dict[str, str]:
    customer = ticket.customer
    order = customer.orders.order_by("-placed_at", "-id").first()
    return {
        "customer_name": customer.name,
        "contact_name": (ticket.contact.name if ticket.contact else "") or customer.name,
        "agent_name": _person(agent),
        "ticket_id": str(ticket.pk),
        "last_order": (
            f"{order.reference} of {order.placed_at:%-d %B %Y}" if order else "(no order yet)"
        ),
        "last_order_products": _order_products(order) if order else "(no order yet)",
    }


def macro_text(*, macro: Macro, ticket: Ticket, agent: User) -> str:
    """The macro's body with its placeholders filled in for this ticket."""
    values = placeholder_values(ticket=ticket, agent=agent)
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), macro.body)


def macros_for(user: User) -> QuerySet[Macro]:
    """The macros a user may use: their own, those shared with all, with their teams."""
    return Macro.objects.filter(
        Q(owner=user)
        | Q(owner__isnull=True, team__isnull=True)
        | Q(owner__isnull=True, team__members=user)
    ).distinct()


def macro_may_change(*, macro: Macro, user: User) -> bool:
    if macro.owner_id is not None:
        return macro.owner_id == user.pk and user.has_perm("desk.change_macro")
    return user.has_perm("desk.manage_shared_macros")


def macro_actions_text(macro: Macro) -> list[str]:
    """What applying the macro will do besides the reply, in words."""
    said = []
    if macro.set_status:
        said.append(f"set the status to {Ticket.Status(macro.set_status).label}")
    if macro.set_priority is not None:
        said.append(f"set the priority to {Ticket.Priority(macro.set_priority).label}")
    if macro.set_assignee is not None:
        said.append(f"assign to {_person(macro.set_assignee)}")
    tags = [tag.name for tag in macro.add_tags.all()]
    if tags:
        said.append("add the tag" + ("s " if len(tags) > 1 else " ") + ", ".join(tags))
    return said


@transaction.atomic
def macro_save(
    *,
    actor: User,
    name: str,
    body: str,
    personal: bool,
    team: Team | None = None,
    set_status: str = "",
    set_priority: int | None = None,
    set_assignee: User | None = None,
    add_tags: Iterable[Tag] = (),
    macro: Macro | None = None,
) -> Macro:
    """Create a macro, or change `macro`. Personal macros are their owner's; shared ones
    (with a team, or with all when `team` is None) are written by leads only."""
    if macro is not None and not macro_may_change(macro=macro, user=actor):
        raise PermissionDenied("Only leads change shared macros; a personal one, its owner.")
    if not personal and not actor.has_perm("desk.manage_shared_macros"):
        raise PermissionDenied("Only leads write macros shared with a team or with everyone.")
    name = " ".join(name.split())[:100]
    if not name:
        raise ValidationError("A macro needs a name.")
    body = body.replace("\x00", "").strip()
    if body:
        body = checked_body(body)
    unknown = placeholders_unknown(body)
    if unknown:
        known = ", ".join(f"{{{n}}}" for n in PLACEHOLDERS)
        raise ValidationError(
            f"Unknown placeholder{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(f'{{{n}}}' for n in unknown)}; the placeholders are {known}."
        )
    elsewhere = text_points_elsewhere(body, settings.NEXTORDER_OWN_DOMAINS)
    if elsewhere:
        # A canned reply sent a hundred times must never send customers to another seller.
        raise ValidationError(
            f"The reply points to {', '.join(elsewhere)}, which is not the shop's own "
            "(NEXTORDER_OWN_DOMAINS): a macro never sends a customer to another seller."
        )
    if set_status and set_status not in Ticket.Status.values:
        raise ValidationError(f"Unknown status {set_status!r}.")
    if set_priority is not None and set_priority not in Ticket.Priority.values:
        raise ValidationError(f"Unknown priority {set_priority!r}.")
    tags = list(add_tags)
    if not body and not (set_status or set_priority is not None or set_assignee or tags):
        raise ValidationError("A macro needs a reply, an action, or both.")
    created = macro is None
    macro = macro or Macro()
    before = _macro_fields(macro) if not created else {}
    macro.name, macro.body = name, body
    macro.owner = actor if personal else None
    macro.team = None if personal else team
    macro.set_status, macro.set_priority, macro.set_assignee = (
        set_status,
        set_priority,
        set_assignee,
    )
    macro.save()
    macro.add_tags.set(tags)
    after = _macro_fields(macro)
    event_record(
        verb=Verb.MACRO_SAVED,
        subject=macro,
        actor=actor,
        before={k: v for k, v in before.items() if after.get(k) != v},
        after=after if created else {k: v for k, v in after.items() if before.get(k) != v},
    )
    return macro


def _macro_fields(macro: Macro) -> dict[str, Any]:
    return {
        "name": macro.name,
        "body": macro.body,
        "owner": macro.owner_id,
        "team": macro.team_id,
        "status": macro.set_status,
        "priority": macro.set_priority,
        "assignee": macro.set_assignee_id,
        "tags": sorted(macro.add_tags.values_list("name", flat=True)) if macro.pk else [],
    }


@transaction.atomic
def macro_delete(*, macro: Macro, actor: User) -> None:
    if not macro_may_change(macro=macro, user=actor):
        raise PermissionDenied("Only leads delete shared macros; a personal one, its owner.")
    event_record(verb=Verb.MACRO_DELETED, subject=macro, actor=actor, before=_macro_fields(macro))
    macro.delete()


@dataclass(frozen=True)
class MacroApplied:
    ticket: Ticket
    message: Message | None
    tags_added: list[Tag]


@transaction.atomic
def macro_apply(
    *,
    ticket: Ticket,
    macro: Macro,
    actor: User,
    expected_version: int,
    reply: str = "",
    status: str = "",
    internal: bool = False,
) -> MacroApplied:
    """Run a macro on a ticket: send `reply` (the macro's text as the agent left it) if
    the macro has one, then its actions. A macro with a reply is applied only with one.

    `status` is what the agent chose on the reply form (which the macro's status fills
    in); without a reply, the macro's own. Every change goes through the ticket services,
    one version check first: a stale page changes nothing.
    """
    if not macros_for(actor).filter(pk=macro.pk).exists():
        raise PermissionDenied("This macro is not shared with you.")
    if macro.body and not reply.strip():
        raise ValidationError("This macro writes a reply: send it from the reply box.")
    message = None
    new_status = status or macro.set_status
    if reply.strip():
        message = ticket_reply(
            ticket=ticket,
            author=actor,
            body=reply,
            expected_version=expected_version,
            status=new_status or None,
            internal=internal,
        )
        expected_version, new_status = ticket.version, ""
    changes: dict[str, Any] = {}
    if new_status:
        changes["status"] = new_status
    if macro.set_priority is not None:
        changes["priority"] = macro.set_priority
    if macro.set_assignee is not None:
        changes["assignee"] = macro.set_assignee
    ticket_update(ticket=ticket, actor=actor, expected_version=expected_version, **changes)
    added = ticket_tags_add(ticket=ticket, tags=macro.add_tags.all(), actor=actor)
    event_record(
        verb=Verb.MACRO_APPLIED,
        subject=ticket,
        actor=actor,
        customer_id=ticket.customer_id,
        after={
            "macro": macro.name,
            "macro_id": macro.pk,
            **({"message": message.pk} if message else {}),
        },
    )
    return MacroApplied(ticket=ticket, message=message, tags_added=added)
