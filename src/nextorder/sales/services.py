"""Every change to promises, agreements and leads: one function per change of state, each
recording its event (the customer's timeline) in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from nextorder.core.models import Event, Verb
from nextorder.core.services import event_build, event_record, events_record, staff_actor
from nextorder.crm.models import Customer, Order, Product
from nextorder.sales.intent import text_points_elsewhere
from nextorder.sales.models import AgreementItem, Commitment, Lead, ServiceAgreement

# The overdue check settles promises as nobody in particular.
SYSTEM_CHECK = "system:promise_check"


def _label(user: User | None) -> str | None:
    return user.get_username() if user is not None else None


def _must_be_staff(user: User, role: str) -> None:
    if not user.is_active:
        raise ValidationError(f"{user.get_username()} is not active and cannot be the {role}.")


def _order_of_customer(order: Order | None, customer: Customer) -> None:
    if order is not None and order.customer_id != customer.pk:
        raise ValidationError(f"{order} is not an order of {customer}.")


# --- promises ----------------------------------------------------------------------------


def commitment_build(
    *,
    customer: Customer,
    description: str,
    owner: User,
    due_at: datetime,
    kind: str = Commitment.Kind.OTHER,
    order: Order | None = None,
    actor: User | None = None,
) -> Commitment:
    """A promise checked but not saved (for `commitment_create` and bulk imports)."""
    _must_be_staff(owner, "owner")
    _order_of_customer(order, customer)
    commitment = Commitment(
        customer=customer,
        order=order,
        kind=kind,
        description=description.strip(),
        owner=owner,
        due_at=due_at,
        created_by=staff_actor(actor),
    )
    commitment.full_clean()
    return commitment


def _created_event(commitment: Commitment, *, actor: User | None, label: str = "") -> Event:
    return event_build(
        verb=Verb.COMMITMENT_CREATED,
        subject=commitment,
        actor=actor,
        actor_label=label,
        customer_id=commitment.customer_id,
        after={
            "kind": commitment.kind,
            "description": commitment.description,
            "owner": commitment.owner.get_username(),
            "due_at": commitment.due_at.isoformat(),
            "order": commitment.order_id,
        },
    )


@transaction.atomic
def commitment_create(*, actor: User | None, **fields: Any) -> Commitment:
    """Record a promise: the fields of `commitment_build`."""
    commitment = commitment_build(actor=actor, **fields)
    commitment.save()
    events_record(events=[_created_event(commitment, actor=actor)])
    return commitment


def commitments_create_many(
    *, commitments: list[Commitment], actor: User | None, label: str
) -> list[Commitment]:
    """Save built promises in one INSERT, with their events (an import's)."""
    Commitment.objects.bulk_create(commitments)
    events_record(events=[_created_event(c, actor=actor, label=label) for c in commitments])
    return commitments


def _open(commitment: Commitment) -> None:
    if commitment.state != Commitment.State.OPEN:
        raise ValidationError(
            f"This promise is already {commitment.get_state_display().lower()}; "
            "only open promises change."
        )


def _locked(commitment: Commitment) -> Commitment:
    """The row as it is now, locked: two people settling one promise settle it once."""
    locked = Commitment.objects.select_for_update(of=("self",))
    return locked.select_related("owner").get(pk=commitment.pk)


@transaction.atomic
def commitment_update(
    *,
    commitment: Commitment,
    actor: User | None,
    description: str | None = None,
    kind: str | None = None,
    due_at: datetime | None = None,
    order: Order | None = None,
) -> Commitment:
    """Change what an open promise says or when it is due (None leaves a field)."""
    commitment = _locked(commitment)
    _open(commitment)
    _order_of_customer(order, commitment.customer)
    requested: dict[str, Any] = {}
    if description is not None:
        requested["description"] = description.strip()
    if kind is not None:
        requested["kind"] = kind
    if due_at is not None:
        requested["due_at"] = due_at
    if order is not None:
        requested["order_id"] = order.pk
    changed = {k: v for k, v in requested.items() if getattr(commitment, k) != v}
    if not changed:
        return commitment
    before = {k.removesuffix("_id"): getattr(commitment, k) for k in changed}
    for name, value in changed.items():
        setattr(commitment, name, value)
    if "due_at" in changed:
        # A new date is a new promise to remind its owner of.
        commitment.due_soon_notified_at = None
    commitment.full_clean()
    commitment.save()
    event_record(
        verb=Verb.COMMITMENT_CHANGED,
        subject=commitment,
        actor=actor,
        customer_id=commitment.customer_id,
        before={k: v.isoformat() if isinstance(v, datetime) else v for k, v in before.items()},
        after={
            k.removesuffix("_id"): v.isoformat() if isinstance(v, datetime) else v
            for k, v in changed.items()
        },
    )
    return commitment


def _settle(
    commitment: Commitment,
    *,
    state: Commitment.State,
    verb: Verb,
    reason: str,
    actor: User | None,
    actor_label: str = "",
) -> Commitment:
    commitment = _locked(commitment)
    _open(commitment)
    commitment.state = state
    commitment.reason = reason.strip()[:500]
    commitment.settled_by = staff_actor(actor)
    commitment.settled_at = timezone.now()
    commitment.save(update_fields=["state", "reason", "settled_by", "settled_at", "updated_at"])
    event_record(
        verb=verb,
        subject=commitment,
        actor=actor,
        actor_label=actor_label,
        customer_id=commitment.customer_id,
        before={"state": Commitment.State.OPEN},
        after={
            "state": state,
            "reason": commitment.reason,
            "owner": commitment.owner.get_username(),
            "owner_id": commitment.owner_id,
            "description": commitment.description,
        },
    )
    return commitment


@transaction.atomic
def commitment_keep(*, commitment: Commitment, actor: User, reason: str = "") -> Commitment:
    """The promise happened."""
    return _settle(
        commitment,
        state=Commitment.State.KEPT,
        verb=Verb.COMMITMENT_KEPT,
        reason=reason,
        actor=actor,
    )


@transaction.atomic
def commitment_break(
    *, commitment: Commitment, actor: User | None, reason: str, actor_label: str = ""
) -> Commitment:
    """The promise did not happen, and will not: say why. The owner is told (listeners)."""
    if not reason.strip():
        raise ValidationError("Say why the promise was broken.")
    return _settle(
        commitment,
        state=Commitment.State.BROKEN,
        verb=Verb.COMMITMENT_BROKEN,
        reason=reason,
        actor=actor,
        actor_label=actor_label,
    )


@transaction.atomic
def commitment_waive(*, commitment: Commitment, actor: User, reason: str) -> Commitment:
    """The customer no longer wants it, or it no longer applies: say why."""
    if not reason.strip():
        raise ValidationError("Say why the promise is waived.")
    return _settle(
        commitment,
        state=Commitment.State.WAIVED,
        verb=Verb.COMMITMENT_WAIVED,
        reason=reason,
        actor=actor,
    )


@transaction.atomic
def commitment_reassign(*, commitment: Commitment, owner: User, actor: User | None) -> Commitment:
    """Hand an open promise to another owner, who is then the one reminded."""
    commitment = _locked(commitment)
    _open(commitment)
    _must_be_staff(owner, "owner")
    if commitment.owner_id == owner.pk:
        return commitment
    before = commitment.owner.get_username()
    commitment.owner = owner
    commitment.due_soon_notified_at = None
    commitment.save(update_fields=["owner", "due_soon_notified_at", "updated_at"])
    event_record(
        verb=Verb.COMMITMENT_REASSIGNED,
        subject=commitment,
        actor=actor,
        customer_id=commitment.customer_id,
        before={"owner": before},
        after={"owner": owner.get_username()},
    )
    return commitment


@dataclass(frozen=True)
class PromiseCheck:
    """What one run of the promise check did."""

    flagged_due_soon: int
    broken_overdue: int


@transaction.atomic
def commitments_check(*, now: datetime | None = None) -> PromiseCheck:
    """Tell owners of the open promises coming due (once each), and break those overdue.

    Idempotent: a promise is flagged once (`due_soon_notified_at`) and broken once (it is
    no longer open), so a second run, or two at once (the rows are locked, and a run
    skips those another holds), notifies nobody twice.
    """
    now = now or timezone.now()
    soon = now + timedelta(hours=settings.NEXTORDER_PROMISE_DUE_SOON_HOURS)
    open_promises = Commitment.objects.select_for_update(skip_locked=True, of=("self",)).filter(
        state=Commitment.State.OPEN
    )
    overdue = list(open_promises.filter(due_at__lt=now).select_related("owner"))
    for commitment in overdue:
        _settle(
            commitment,
            state=Commitment.State.BROKEN,
            verb=Verb.COMMITMENT_BROKEN,
            reason=f"Not kept by {timezone.localtime(commitment.due_at):%d %b %Y %H:%M}.",
            actor=None,
            actor_label=SYSTEM_CHECK,
        )
    due_soon = list(
        open_promises.filter(
            due_at__gte=now, due_at__lte=soon, due_soon_notified_at__isnull=True
        ).select_related("owner")
    )
    Commitment.objects.filter(pk__in=[c.pk for c in due_soon]).update(due_soon_notified_at=now)
    events_record(
        events=[
            event_build(
                verb=Verb.COMMITMENT_DUE_SOON,
                subject=c,
                actor_label=SYSTEM_CHECK,
                customer_id=c.customer_id,
                after={
                    "due_at": c.due_at.isoformat(),
                    "owner": c.owner.get_username(),
                    "owner_id": c.owner_id,
                    "description": c.description,
                },
            )
            for c in due_soon
        ]
    )
    return PromiseCheck(flagged_due_soon=len(due_soon), broken_overdue=len(overdue))


# --- agreements ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemSpec:
    """One line of an agreement as given by a form or the API."""

    effect: str = AgreementItem.Effect.COVERS
    product: Product | None = None
    part: str = ""
    kind: str = ""
    note: str = ""


def _agreement_fields(agreement: ServiceAgreement) -> dict[str, Any]:
    return {
        "name": agreement.name,
        "plan": agreement.plan,
        "starts_on": agreement.starts_on.isoformat(),
        "ends_on": agreement.ends_on.isoformat(),
        "first_response_minutes": agreement.first_response_minutes,
        "resolution_minutes": agreement.resolution_minutes,
    }


def _items_build(agreement: ServiceAgreement, items: list[ItemSpec]) -> list[AgreementItem]:
    built = []
    for spec in items:
        item = AgreementItem(
            agreement=agreement,
            effect=spec.effect,
            product=spec.product,
            part=spec.part.strip(),
            kind=spec.kind,
            note=spec.note.strip(),
        )
        item.full_clean(exclude=["agreement"])
        built.append(item)
    return built


def _item_text(item: AgreementItem) -> str:
    return f"{item.get_effect_display().lower()} {item.scope}"


@transaction.atomic
def agreement_create(
    *,
    customer: Customer,
    name: str,
    starts_on: date,
    ends_on: date,
    actor: User | None,
    plan: str = "",
    first_response_minutes: int | None = None,
    resolution_minutes: int | None = None,
    notes: str = "",
    items: list[ItemSpec] | None = None,
) -> ServiceAgreement:
    """A service agreement with what it covers and excludes."""
    agreement = ServiceAgreement(
        customer=customer,
        name=name.strip(),
        plan=plan.strip(),
        starts_on=starts_on,
        ends_on=ends_on,
        first_response_minutes=first_response_minutes,
        resolution_minutes=resolution_minutes,
        notes=notes,
        created_by=staff_actor(actor),
    )
    if starts_on > ends_on:
        raise ValidationError("The agreement must end on or after the day it starts.")
    agreement.full_clean()
    built = _items_build(agreement, items or [])
    agreement.save()
    AgreementItem.objects.bulk_create(built)
    event_record(
        verb=Verb.AGREEMENT_CREATED,
        subject=agreement,
        actor=actor,
        customer_id=customer.pk,
        after={**_agreement_fields(agreement), "items": [_item_text(i) for i in built]},
    )
    return agreement


@transaction.atomic
def agreement_update(
    *,
    agreement: ServiceAgreement,
    actor: User | None,
    items: list[ItemSpec] | None = None,
    **fields: Any,
) -> ServiceAgreement:
    """Change an agreement's terms; `items`, when given, replace its lines."""
    agreement = ServiceAgreement.objects.select_for_update().get(pk=agreement.pk)
    before = _agreement_fields(agreement)
    old_items = [_item_text(i) for i in agreement.items.select_related("product")]
    for name, value in fields.items():
        setattr(agreement, name, value.strip() if isinstance(value, str) else value)
    if agreement.starts_on > agreement.ends_on:
        raise ValidationError("The agreement must end on or after the day it starts.")
    agreement.full_clean()
    after = _agreement_fields(agreement)
    changed = {k for k in after if after[k] != before[k]}
    if items is not None:
        built = _items_build(agreement, items)
        new_items = [_item_text(i) for i in built]
        if new_items != old_items:
            agreement.items.all().delete()
            AgreementItem.objects.bulk_create(built)
            changed.add("items")
            before["items"], after["items"] = old_items, new_items
    if not changed:
        return agreement
    agreement.save()
    event_record(
        verb=Verb.AGREEMENT_CHANGED,
        subject=agreement,
        actor=actor,
        customer_id=agreement.customer_id,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return agreement


# --- leads ----------------------------------------------------------------------------


def suggestion_checked(text: str) -> str:
    """A text we suggest an agent send, refused when it points the customer to a web or
    mail domain that is not the shop's own (NEXTORDER_OWN_DOMAINS)."""
    elsewhere = text_points_elsewhere(text, settings.NEXTORDER_OWN_DOMAINS)
    if elsewhere:
        raise ValidationError(
            f"The text points the customer to {', '.join(elsewhere)}, not to this shop."
        )
    return text


def _lead_fields(lead: Lead) -> dict[str, Any]:
    return {
        "title": lead.title,
        "source": lead.source,
        "owner": _label(lead.owner),
        "value_estimate": str(lead.value_estimate) if lead.value_estimate is not None else None,
        "ticket": lead.ticket_id,
        "state": lead.state,
    }


@transaction.atomic
def lead_create(
    *,
    customer: Customer,
    title: str,
    actor: User | None,
    source: str = Lead.Source.MANUAL,
    note: str = "",
    owner: User | None = None,
    value_estimate: Decimal | None = None,
    ticket_id: int | None = None,
    agreement: ServiceAgreement | None = None,
    actor_label: str = "",
) -> Lead:
    """Open a lead; one from a ticket carries the ticket, so the sale is traced to service."""
    if owner is not None:
        _must_be_staff(owner, "owner")
    if source == Lead.Source.TICKET and ticket_id is None:
        raise ValidationError("A lead from a service ticket names the ticket.")
    if agreement is not None and agreement.customer_id != customer.pk:
        raise ValidationError(f"{agreement} is not an agreement of {customer}.")
    lead = Lead(
        customer=customer,
        title=title.strip(),
        source=source,
        note=note,
        owner=owner,
        value_estimate=value_estimate,
        ticket_id=ticket_id,
        agreement=agreement,
        created_by=staff_actor(actor),
    )
    lead.full_clean()
    lead.save()
    event_record(
        verb=Verb.LEAD_CREATED,
        subject=lead,
        actor=actor,
        actor_label=actor_label,
        customer_id=customer.pk,
        after=_lead_fields(lead),
    )
    return lead


def _open_lead(lead: Lead) -> Lead:
    lead = Lead.objects.select_for_update(of=("self",)).select_related("owner").get(pk=lead.pk)
    if lead.state != Lead.State.OPEN:
        raise ValidationError(f"This lead is already {lead.get_state_display().lower()}.")
    return lead


@transaction.atomic
def lead_update(
    *,
    lead: Lead,
    actor: User | None,
    title: str | None = None,
    note: str | None = None,
    owner: User | None = None,
    value_estimate: Decimal | None = None,
) -> Lead:
    """Change an open lead (None leaves a field)."""
    lead = _open_lead(lead)
    if owner is not None:
        _must_be_staff(owner, "owner")
    before = _lead_fields(lead)
    before_note = lead.note
    for name, value in (
        ("title", title.strip() if title is not None else None),
        ("note", note),
        ("owner", owner),
        ("value_estimate", value_estimate),
    ):
        if value is not None:
            setattr(lead, name, value)
    lead.full_clean()
    after = _lead_fields(lead)
    changed = {k for k in after if after[k] != before[k]}
    if not changed and lead.note == before_note:
        return lead
    lead.save()
    event_record(
        verb=Verb.LEAD_CHANGED,
        subject=lead,
        actor=actor,
        customer_id=lead.customer_id,
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed} or {"note": "changed"},
    )
    return lead


@transaction.atomic
def lead_win(
    *, lead: Lead, actor: User | None, amount: Decimal, order: Order | None = None
) -> Lead:
    """The lead became a sale of `amount` (the order's, when it names one)."""
    lead = _open_lead(lead)
    _order_of_customer(order, lead.customer)
    if amount < 0:
        raise ValidationError("A won amount is not negative.")
    lead.state, lead.won_amount, lead.order = Lead.State.WON, amount, order
    lead.closed_at = timezone.now()
    lead.full_clean()
    lead.save(update_fields=["state", "won_amount", "order", "closed_at", "updated_at"])
    event_record(
        verb=Verb.LEAD_WON,
        subject=lead,
        actor=actor,
        customer_id=lead.customer_id,
        before={"state": Lead.State.OPEN},
        after={"state": lead.state, "won_amount": str(amount), "order": lead.order_id},
    )
    return lead


@transaction.atomic
def lead_lose(*, lead: Lead, actor: User | None, reason: str = "") -> Lead:
    lead = _open_lead(lead)
    lead.state, lead.closed_at = Lead.State.LOST, timezone.now()
    lead.save(update_fields=["state", "closed_at", "updated_at"])
    event_record(
        verb=Verb.LEAD_LOST,
        subject=lead,
        actor=actor,
        customer_id=lead.customer_id,
        before={"state": Lead.State.OPEN},
        after={"state": lead.state, "reason": reason.strip()[:500]},
    )
    return lead


@transaction.atomic
def renewal_leads_create(*, today: date | None = None) -> list[Lead]:
    """A renewal lead for each agreement ending within NEXTORDER_RENEWAL_DAYS that has
    none yet (one per agreement, by a unique constraint: running again adds nothing)."""
    today = today or timezone.localdate()
    ending = (
        ServiceAgreement.objects.filter(
            ends_on__gte=today, ends_on__lte=today + timedelta(days=settings.NEXTORDER_RENEWAL_DAYS)
        )
        .exclude(leads__source=Lead.Source.RENEWAL)
        .select_related("customer", "created_by")
        .select_for_update(skip_locked=True, of=("self",))
    )
    return [
        lead_create(
            customer=agreement.customer,
            title=f"Renew {agreement.name} (ends {agreement.ends_on:%d %b %Y})",
            source=Lead.Source.RENEWAL,
            agreement=agreement,
            owner=agreement.created_by
            if agreement.created_by and agreement.created_by.is_active
            else None,
            actor=None,
            actor_label="system:renewals",
        )
        for agreement in ending
    ]


# --- upsell ----------------------------------------------------------------------------


def _sql_of(sql: str) -> str:
    return sql.format(line="crm_orderline", affinity="sales_productaffinity")


# How many of the products most often bought with a product the table keeps for it: a
# suggestion needs the first few a customer does not own yet.
AFFINITIES_PER_PRODUCT = 25


@transaction.atomic
def product_affinities_refresh(
    *, minimum_orders: int = 2, per_product: int = AFFINITIES_PER_PRODUCT
) -> int:
    """Rebuild the co-occurrence table from every order's lines in one statement: for each
    pair of products, the number of orders that had both, keeping for each product the
    `per_product` others bought with it most often (pairs seen in fewer than
    `minimum_orders` orders are noise, and left out)."""
    with connection.cursor() as cursor:
        cursor.execute(_sql_of("DELETE FROM {affinity}"))
        cursor.execute(
            _sql_of(
                """
                INSERT INTO {affinity} (product_id, other_id, orders)
                SELECT product_id, other_id, orders FROM (
                    SELECT a.product_id AS product_id, b.product_id AS other_id,
                           COUNT(DISTINCT a.order_id) AS orders,
                           ROW_NUMBER() OVER (
                               PARTITION BY a.product_id
                               ORDER BY COUNT(DISTINCT a.order_id) DESC, b.product_id
                           ) AS rank
                    FROM {line} a JOIN {line} b
                      ON b.order_id = a.order_id AND b.product_id <> a.product_id
                    WHERE a.product_id IS NOT NULL AND b.product_id IS NOT NULL
                    GROUP BY a.product_id, b.product_id
                    HAVING COUNT(DISTINCT a.order_id) >= %s
                ) pairs
                WHERE rank <= %s
                """
            ),
            [minimum_orders, per_product],
        )
        return max(cursor.rowcount, 0)
