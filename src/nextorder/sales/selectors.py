"""Reads of promises, coverage and leads for the console, the API and the desk's panels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from nextorder.crm.models import Customer, OrderLine, Product
from nextorder.sales.models import (
    AgreementItem,
    Commitment,
    Lead,
    ProductAffinity,
    ServiceAgreement,
    ServiceKind,
)
from nextorder.sales.services import suggestion_checked


class PromiseView(StrEnum):
    """The lists of the promises page."""

    MINE = "mine"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    BROKEN = "broken"
    OPEN = "open"
    ALL = "all"


PROMISE_VIEWS = {
    PromiseView.MINE: "Mine (open)",
    PromiseView.DUE_SOON: "Due soon",
    PromiseView.OVERDUE: "Overdue",
    PromiseView.BROKEN: "Broken",
    PromiseView.OPEN: "All open",
    PromiseView.ALL: "All",
}


def commitments_list(
    *, user: User, view: PromiseView, customer: Customer | None = None
) -> QuerySet[Commitment]:
    """The promises of one list, soonest due first (broken and settled: latest first)."""
    now = timezone.now()
    promises = Commitment.objects.select_related("customer", "owner", "order")
    if customer is not None:
        promises = promises.filter(customer=customer)
    open_ = promises.filter(state=Commitment.State.OPEN)
    if view == PromiseView.MINE:
        return open_.filter(owner=user).order_by("due_at", "id")
    if view == PromiseView.DUE_SOON:
        soon = now + timedelta(hours=settings.NEXTORDER_PROMISE_DUE_SOON_HOURS)
        return open_.filter(due_at__gte=now, due_at__lte=soon).order_by("due_at", "id")
    if view == PromiseView.OVERDUE:
        return open_.filter(due_at__lt=now).order_by("due_at", "id")
    if view == PromiseView.BROKEN:
        return promises.filter(state=Commitment.State.BROKEN).order_by("-settled_at", "-id")
    if view == PromiseView.OPEN:
        return open_.order_by("due_at", "id")
    return promises.order_by("-due_at", "-id")


def unkept_promise_customers() -> QuerySet[Commitment, int]:
    """The customers (as ids, for `pk__in`) owed a promise that was broken or is
    overdue: the at-risk list's "promises not kept" filter."""
    unkept = Q(state=Commitment.State.BROKEN) | Q(
        state=Commitment.State.OPEN, due_at__lt=timezone.now()
    )
    return Commitment.objects.filter(unkept).values_list("customer_id", flat=True)


@dataclass(frozen=True)
class CustomerPromises:
    open: list[Commitment]
    broken: list[Commitment]
    kept: int
    waived: int


def customer_promises(*, customer: Customer, limit: int = 20) -> CustomerPromises:
    """What a customer was promised and is still owed, and what was broken."""
    promises = Commitment.objects.filter(customer=customer).select_related("owner", "order")
    counts = dict(
        promises.values("state").annotate(n=Count("id")).values_list("state", "n").order_by()
    )
    return CustomerPromises(
        open=list(promises.filter(state=Commitment.State.OPEN).order_by("due_at", "id")[:limit]),
        broken=list(
            promises.filter(state=Commitment.State.BROKEN).order_by("-settled_at", "-id")[:limit]
        ),
        kept=counts.get(Commitment.State.KEPT, 0),
        waived=counts.get(Commitment.State.WAIVED, 0),
    )


def customer_agreements(*, customer: Customer, on: date | None = None) -> list[ServiceAgreement]:
    """The customer's agreements in force on `on` (today) and those ending later, with
    their lines."""
    on = on or timezone.localdate()
    return list(
        ServiceAgreement.objects.filter(customer=customer, ends_on__gte=on)
        .prefetch_related("items__product")
        .order_by("ends_on", "id")
    )


@dataclass(frozen=True)
class Coverage:
    """Whether a question about service is covered, why, and until when."""

    covered: bool
    reason: str
    agreement: ServiceAgreement | None = None
    item: AgreementItem | None = None
    until: date | None = None


def _same_part(item_part: str, part: str | None) -> bool:
    return bool(part) and item_part.casefold() == (part or "").strip().casefold()


def _covers(
    item: AgreementItem, product: Product | None, part: str | None, kind: str | None
) -> bool:
    """A covering line answers a question within its product and part; a kind of service
    the question leaves open is not held against it (the answer names the line's kind)."""
    if item.product_id is not None and (product is None or item.product_id != product.pk):
        return False
    if item.part and not _same_part(item.part, part):
        return False
    return not (item.kind and kind and item.kind != kind)


def _excludes(
    item: AgreementItem, product: Product | None, part: str | None, kind: str | None
) -> bool:
    """An exclusion applies only when the question names everything it is about."""
    if item.product_id is not None and (product is None or item.product_id != product.pk):
        return False
    if item.part and not _same_part(item.part, part):
        return False
    return not (item.kind and item.kind != kind)


def coverage_for(
    *,
    customer: Customer,
    product: Product | None = None,
    part: str | None = None,
    kind: str | None = None,
    on: date | None = None,
) -> Coverage:
    """Is this (product, part, kind of service) covered for the customer on `on` (today)?

    Exclusions win over covering lines of the same agreement; of several agreements that
    cover it, the one lasting longest answers.
    """
    on = on or timezone.localdate()
    if kind and kind not in ServiceKind.values:
        raise ValidationError(f"Unknown kind of service {kind!r}.")
    agreements = list(
        ServiceAgreement.objects.filter(customer=customer, starts_on__lte=on, ends_on__gte=on)
        .prefetch_related("items__product")
        .order_by("-ends_on", "id")
    )
    if not agreements:
        return Coverage(covered=False, reason=f"No service agreement in force on {on:%d %b %Y}.")
    excluded: Coverage | None = None
    for agreement in agreements:
        items = list(agreement.items.all())
        exclusion = next(
            (
                i
                for i in items
                if i.effect == i.Effect.EXCLUDES and _excludes(i, product, part, kind)
            ),
            None,
        )
        if exclusion is not None:
            excluded = excluded or Coverage(
                covered=False,
                reason=f"{agreement.name} excludes {exclusion.scope}"
                + (f" ({exclusion.note})" if exclusion.note else "")
                + ".",
                agreement=agreement,
                item=exclusion,
                until=agreement.ends_on,
            )
            continue
        cover = next(
            (i for i in items if i.effect == i.Effect.COVERS and _covers(i, product, part, kind)),
            None,
        )
        if cover is not None:
            return Coverage(
                covered=True,
                reason=f"{agreement.name} covers {cover.scope}"
                + (f" ({cover.note})" if cover.note else "")
                + f", until {agreement.ends_on:%d %b %Y}.",
                agreement=agreement,
                item=cover,
                until=agreement.ends_on,
            )
    if excluded is not None:
        return excluded
    names = ", ".join(a.name for a in agreements)
    return Coverage(covered=False, reason=f"Not among what {names} covers.")


def agreements_list(*, ending_within_days: int | None = None) -> QuerySet[ServiceAgreement]:
    today = timezone.localdate()
    agreements = ServiceAgreement.objects.select_related("customer").filter(ends_on__gte=today)
    if ending_within_days is not None:
        agreements = agreements.filter(ends_on__lte=today + timedelta(days=ending_within_days))
    return agreements.order_by("ends_on", "id")


def leads_list(*, state: str | None = None, source: str | None = None) -> QuerySet[Lead]:
    leads = Lead.objects.select_related("customer", "owner")
    if state:
        leads = leads.filter(state=state)
    if source:
        leads = leads.filter(source=source)
    return leads.order_by("-created_at", "-id")


def customer_leads(*, customer: Customer, limit: int = 20) -> list[Lead]:
    return list(Lead.objects.filter(customer=customer).select_related("owner")[:limit])


@dataclass(frozen=True)
class SourceRevenue:
    source: str
    label: str
    born_in_service: bool
    leads: int
    open: int
    won: int
    lost: int
    won_amount: Decimal

    @property
    def win_rate(self) -> float | None:
        closed = self.won + self.lost
        return self.won / closed if closed else None


@dataclass(frozen=True)
class LeadRevenue:
    by_source: list[SourceRevenue]
    service_won_amount: Decimal
    service_won: int
    currency: str


def lead_revenue(*, since: date | None = None) -> LeadRevenue:
    """Leads and won revenue by source, and what leads born in service (tickets,
    renewals) brought in: one GROUP BY."""
    leads = Lead.objects.all()
    if since is not None:
        leads = leads.filter(created_at__date__gte=since)
    rows = {
        row["source"]: row
        for row in leads.values("source")
        .annotate(
            leads=Count("id"),
            open=Count("id", filter=Q(state=Lead.State.OPEN)),
            won=Count("id", filter=Q(state=Lead.State.WON)),
            lost=Count("id", filter=Q(state=Lead.State.LOST)),
            won_amount=Sum("won_amount", filter=Q(state=Lead.State.WON)),
        )
        .order_by()
    }
    by_source = [
        SourceRevenue(
            source=source,
            label=str(label),
            born_in_service=source in Lead.SERVICE_SOURCES,
            leads=rows.get(source, {}).get("leads", 0),
            open=rows.get(source, {}).get("open", 0),
            won=rows.get(source, {}).get("won", 0),
            lost=rows.get(source, {}).get("lost", 0),
            won_amount=rows.get(source, {}).get("won_amount") or Decimal(0),
        )
        for source, label in Lead.Source.choices
    ]
    service = [s for s in by_source if s.born_in_service]
    return LeadRevenue(
        by_source=by_source,
        service_won_amount=sum((s.won_amount for s in service), Decimal(0)),
        service_won=sum(s.won for s in service),
        currency=settings.NEXTORDER_CURRENCY,
    )


@dataclass(frozen=True)
class Suggestion:
    """A product the customer has not bought that is often bought with one they have."""

    product: Product
    with_product: Product
    orders: int  # orders that had both
    text: str  # what an agent might say, checked to point nowhere but the shop


def upsell_suggestions(*, customer: Customer, limit: int = 3) -> list[Suggestion]:
    """The products most often bought together with the customer's own, read from the
    co-occurrence table (refreshed by the daily check), never from the order history
    itself: two index range scans whatever the history's size."""
    owned = set(
        OrderLine.objects.filter(order__customer=customer, product__isnull=False)
        .values_list("product_id", flat=True)
        .distinct()
    )
    if not owned:
        return []
    pairs = (
        ProductAffinity.objects.filter(product_id__in=owned)
        .exclude(other_id__in=owned)
        .select_related("product", "other")
        .order_by("-orders", "other_id")
    )
    suggestions: list[Suggestion] = []
    seen: set[int] = set()
    for pair in pairs[: limit * 10]:
        if pair.other_id in seen:
            continue
        seen.add(pair.other_id)
        text = (
            f"Customers who bought {pair.product.name} often add {pair.other.name} "
            f"({pair.other.currency} {pair.other.price:,.2f}); shall I send you an offer?"
        )
        try:
            suggestion_checked(text)
        except ValidationError:
            continue  # a catalogue name that names another seller is never suggested
        suggestions.append(
            Suggestion(product=pair.other, with_product=pair.product, orders=pair.orders, text=text)
        )
        if len(suggestions) == limit:
            break
    return suggestions


def coverage_products(*, customer: Customer, limit: int = 200) -> list[Product]:
    """The products a coverage question is likely about: those the customer bought and
    those their agreements name (not the whole catalogue)."""
    bought = OrderLine.objects.filter(order__customer=customer, product__isnull=False).values(
        "product_id"
    )
    named = AgreementItem.objects.filter(
        agreement__customer=customer, product__isnull=False
    ).values("product_id")
    return list(Product.objects.filter(Q(pk__in=bought) | Q(pk__in=named)).order_by("sku")[:limit])


@dataclass(frozen=True)
class CustomerSales:
    """Everything sales knows of a customer, for the ticket's panel and the customer page."""

    customer: Customer
    promises: CustomerPromises
    agreements: list[ServiceAgreement]
    leads: list[Lead]
    suggestions: list[Suggestion]
    coverage_products: list[Product]
    service_kinds: list[tuple[str, str]]


def customer_sales(*, customer: Customer) -> CustomerSales:
    return CustomerSales(
        customer=customer,
        promises=customer_promises(customer=customer),
        agreements=customer_agreements(customer=customer),
        leads=customer_leads(customer=customer, limit=10),
        suggestions=upsell_suggestions(customer=customer),
        coverage_products=coverage_products(customer=customer),
        service_kinds=list(ServiceKind.choices),
    )
