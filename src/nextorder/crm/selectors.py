"""Reads of the customer record for the console's customer panel and page."""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Case, DecimalField, F, Q, QuerySet, Value, When
from django.db.models.expressions import RawSQL
from django.template.defaultfilters import pluralize
from django.utils import timezone

from nextorder.core.bulk import ids_subquery
from nextorder.core.changes import changes_text
from nextorder.core.models import Event
from nextorder.core.search import (
    SearchText,
    TextIndex,
    fts5_prefixes,
    search_text,
    tsquery_prefixes,
)
from nextorder.crm.models import (
    NET_AMOUNT,
    Contact,
    ContactEmail,
    CurrencyRate,
    Customer,
    Order,
    OrderLine,
)

# Names in SQLite's FTS5 (crm migration 0009 makes them; PostgreSQL has GIN indexes).
TEXT_INDEXES = (
    TextIndex(table="crm_customer", columns=("name",)),
    TextIndex(table="crm_contact", columns=("name",)),
)


def rates_to_shop_currency() -> dict[str, Decimal]:
    """What one unit of each currency we can convert is worth in the shop's currency
    (NEXTORDER_CURRENCY, worth 1). An order in a currency missing here adds nothing to
    any total: amounts are never added across currencies unconverted."""
    rates = dict(CurrencyRate.objects.values_list("currency", "rate"))
    rates[settings.NEXTORDER_CURRENCY] = Decimal(1)
    return rates


def net_in_shop_currency(rates: dict[str, Decimal]) -> Case:
    """An order's net amount in the shop's currency; NULL when its currency has no rate,
    so that sums leave it out (filter on `currency__in=rates` to leave it out of counts)."""
    return Case(
        *(
            When(currency=currency, then=NET_AMOUNT * Value(rate))
            for currency, rate in rates.items()
        ),
        default=None,
        output_field=DecimalField(max_digits=20, decimal_places=2),
    )


def customer_orders(*, customer: Customer, limit: int = 20, offset: int = 0) -> list[Order]:
    orders = customer.orders.select_related("sales_rep").order_by("-placed_at", "-id")
    return list(orders[offset : offset + limit])


def order_lines(*, order: Order | None) -> list[OrderLine]:
    """What was bought in an order, with the products named."""
    if order is None:
        return []
    return list(order.lines.select_related("product").order_by("id"))


# "order #1001", "Order No. 5521", "order number: W-88", "#1001": a number with a digit in
# it, after the word order (and its no./number/id) or after a hash sign.
_ORDER_NUMBER = re.compile(
    r"(?:\border\s*(?:no\.?|number|nr\.?|id)?\s*[:#]?\s*|#)"
    r"((?=[A-Za-z-]*\d)[A-Za-z0-9][A-Za-z0-9-]{0,40})\b",
    re.IGNORECASE,
)


def order_numbers_in(text: str) -> list[str]:
    """The order numbers a customer wrote, without their hash, lower-cased, in order."""
    return list(dict.fromkeys(m.lower() for m in _ORDER_NUMBER.findall(text)))


def _order_number(order: Order) -> str:
    """What a customer may call this order: its `reference` as `order_numbers_in` reads
    one (no hash, no "No.", lower-cased)."""
    return order.reference.removeprefix("No. ").lower().lstrip("#")


def orders_mentioned(*, texts: Mapping[int, str]) -> dict[int, Order]:
    """For each customer id, the customer's own order that `texts[customer id]` names by
    number (the first named wins); one query for all. Another customer's order number
    never matches: a ticket is only ever linked to the writer's own order."""
    wanted = {customer_id: order_numbers_in(text) for customer_id, text in texts.items()}
    numbers = {number for found in wanted.values() for number in found}
    if not numbers:
        return {}
    ids = [int(n) for n in numbers if n.isdigit() and len(n) < 10]
    candidates = Order.objects.filter(customer_id__in=[c for c, n in wanted.items() if n]).filter(
        Q(external_id__in=[f"{h}{c}" for n in numbers for h in ("", "#") for c in (n, n.upper())])
        | Q(pk__in=ids)
    )
    by_customer: dict[int, dict[str, Order]] = {}
    for order in candidates:
        by_customer.setdefault(order.customer_id, {})[_order_number(order)] = order
    found: dict[int, Order] = {}
    for customer_id, mentioned in wanted.items():
        known = by_customer.get(customer_id, {})
        first = next((known[n] for n in mentioned if n in known), None)
        if first is not None:
            found[customer_id] = first
    return found


def _names_matching(table: str, words: list[str]) -> RawSQL:
    """Ids of `table`'s rows whose name has every word (the longer ones as prefixes)."""
    if connection.vendor == "postgresql":
        return RawSQL(
            f"SELECT id FROM {table} WHERE to_tsvector('simple'::regconfig, name) "
            "@@ to_tsquery('simple', %s)",
            [tsquery_prefixes(words)],
        )
    return RawSQL(
        f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH %s", [fts5_prefixes(words)]
    )


def _address_of(text: SearchText) -> str | None:
    """What was typed, as (the start of) an email address: one term with an @ or a dot."""
    terms = [t for group in text.groups for t in group]
    if len(terms) != 1 or terms[0].phrase or not any(c in terms[0].typed for c in "@."):
        return None
    return terms[0].typed.lower()


def _contacts_by_address(address: str) -> QuerySet[ContactEmail]:
    # Stored lower-cased: a LIKE prefix served by crm_contactemail_address_prefix.
    return ContactEmail.objects.filter(address__startswith=address)


# Up to this many customers matching a query are read by id (off the name and address
# indexes) and sorted; a query matching more is common enough that walking the sort's
# own index meets a page of matches soon.
FEW_MATCHES = 5_000


def _ids_of(sql: RawSQL, limit: int) -> set[int]:
    query, params = sql.sql, list(sql.params)
    with connection.cursor() as cursor:
        cursor.execute(f"{query} LIMIT %s", [*params, limit])
        return {row[0] for row in cursor.fetchall()}


def _match_condition(names: RawSQL, by_address: QuerySet[Any] | None) -> Q:
    """`pk IN` the rows a query matches (by name, or by address): their ids when few.

    As subqueries on a table read in a sort's order, the planner walked the sort's index
    testing every row for a word no name has (207 ms of every search at 100,000
    customers, benchmarks/bench_search.py); FEW_MATCHES ids are sorted in no time.
    """
    ids = _ids_of(names, FEW_MATCHES + 1)
    matches = Q(pk__in=names)
    if by_address is not None:
        ids |= set(by_address[: FEW_MATCHES + 1])
        matches |= Q(pk__in=by_address)
    return Q(pk__in=ids_subquery(sorted(ids))) if len(ids) <= FEW_MATCHES else matches


def customers_search(*, query: str = "") -> QuerySet[Customer]:
    """Customers with every word of `query` in their name (as typed: "jan do" finds Jane
    Doe), or with a contact whose address starts with it; by name."""
    customers = Customer.objects.order_by("name", "id")
    text = search_text(query)
    if text.empty:
        return customers
    address = _address_of(text)
    return customers.filter(
        _match_condition(
            _names_matching("crm_customer", list(text.words)),
            _contacts_by_address(address).order_by().values_list("contact__customer_id", flat=True)
            if address
            else None,
        )
    )


class CustomerSort:
    """The customer list's orders, each ending in the key (a total order, one index each
    where the table has one)."""

    NAME = "name"
    SPEND = "spend"
    LAST_ORDER = "last_order"
    RISK = "risk"
    CHOICES = (
        (NAME, "Name"),
        (SPEND, "Total spend"),
        (LAST_ORDER, "Last order"),
        (RISK, "Value at risk"),
    )
    ORDERINGS = {
        NAME: [F("name").asc(), F("id").asc()],
        SPEND: [F("total_spend").desc(), F("id").asc()],
        LAST_ORDER: [F("last_order_at").desc(nulls_last=True), F("id").asc()],
        RISK: [F("value_at_risk").desc(nulls_last=True), F("id").asc()],
    }


def customers_list(
    *, query: str = "", sort: str = CustomerSort.NAME, page: int = 1, per_page: int = 50
) -> Page:
    """A page of the customer list, with the count of customers that match; a page past
    the last is the last."""
    ordering = CustomerSort.ORDERINGS.get(sort, CustomerSort.ORDERINGS[CustomerSort.NAME])
    customers = customers_search(query=query).order_by(*ordering)
    return Paginator(customers, per_page).get_page(page)


def _ranked_ids(ids: list[int], limit: int) -> list[int]:
    return list(dict.fromkeys(ids))[:limit]


def customers_find(*, text: SearchText, limit: int = 10) -> list[Customer]:
    """Customers for the search page: those with the typed address first, then by name
    match, the biggest spenders first among equals."""
    if text.empty:
        return []
    address = _address_of(text)
    exact: list[int] = []
    if address:
        exact = list(
            ContactEmail.objects.filter(address=address).values_list(
                "contact__customer_id", flat=True
            )
        )
    by_name = customers_search(query=text.typed).order_by("-total_spend", "id")
    ids = _ranked_ids(exact + list(by_name.values_list("id", flat=True)[:limit]), limit)
    found = Customer.objects.in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def contacts_find(*, text: SearchText, limit: int = 10) -> list[Contact]:
    """Contacts by name (as typed) or address (whole first, then by its start)."""
    if text.empty:
        return []
    address = _address_of(text)
    ids: list[int] = []
    if address:
        ids += list(
            ContactEmail.objects.filter(address=address).values_list("contact_id", flat=True)
        )
    matches = _match_condition(
        _names_matching("crm_contact", list(text.words)),
        _contacts_by_address(address).order_by().values_list("contact_id", flat=True)
        if address
        else None,
    )
    ids += list(
        Contact.objects.filter(matches).order_by("name", "id").values_list("id", flat=True)[:limit]
    )
    ids = _ranked_ids(ids, limit)
    found = Contact.objects.select_related("customer").prefetch_related("emails").in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def orders_find(*, text: SearchText, limit: int = 10) -> list[Order]:
    """Orders by their reference (`Order.reference`), whole: an order number is never
    split into words. The shop's id as typed, with or without its #, or the number an
    order without one is shown by, with or without the "No." it is shown with."""
    terms = [t for group in text.groups for t in group if not t.negated]
    if len(terms) == 2 and terms[0].typed.lower() in ("no", "no."):
        terms = terms[1:]
    if len(terms) != 1:
        return []
    typed = terms[0].typed.lstrip("#")
    found = list(
        Order.objects.filter(external_id__in=[typed, f"#{typed}"]).select_related("customer")[
            :limit
        ]
    )
    if typed.isascii() and typed.isdigit() and len(typed) <= 18 and len(found) < limit:
        numbered = Order.objects.select_related("customer").filter(pk=int(typed)).first()
        if numbered is not None and numbered.reference == f"No. {numbered.pk}":
            found.append(numbered)
    return found


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # "order" or an event verb such as "ticket.replied"
    title: str
    actor: str
    event: Event | None = None
    order: Order | None = None
    # An order known only by its day (a file of dates) shows no time of day.
    date_format: str = "j M Y H:i"


def _order_entry(order: Order) -> TimelineEntry:
    items = f", {order.item_count} item{pluralize(order.item_count)}" if order.item_count else ""
    channel = order.get_channel_display()
    return TimelineEntry(
        at=order.placed_at,
        kind="order",
        title=f"Ordered {order.currency} {order.amount:,.2f}{items} ({channel})",
        actor="customer",
        order=order,
        date_format="j M Y"
        if timezone.localtime(order.placed_at).time() == time(0)
        else "j M Y H:i",
    )


def _event_entry(event: Event) -> TimelineEntry:
    changes = changes_text(event)
    title = event.get_verb_display()
    subject = f" #{event.subject_id}" if event.verb.startswith("ticket.") else ""
    return TimelineEntry(
        at=event.occurred_at,
        kind=event.verb,
        title=f"{title}{subject}" + (f" ({changes})" if changes else ""),
        actor=event.actor_display,
        event=event,
    )


def customer_timeline(*, customer: Customer, limit: int = 30) -> list[TimelineEntry]:
    """Orders and events of one customer, newest first, as one list."""
    events = Event.objects.filter(customer_id=customer.pk).select_related("actor")[:limit]
    orders = customer.orders.order_by("-placed_at", "-id")[:limit]
    merged = heapq.merge(
        (_event_entry(e) for e in events),
        (_order_entry(o) for o in orders),
        key=lambda entry: entry.at,
        reverse=True,
    )
    return list(merged)[:limit]


@dataclass(frozen=True)
class CustomerValue:
    """A scored customer's value in the words an agent acts on (one presentation for the
    ticket panel, the customer page and the at-risk list)."""

    currency: str
    if_buying: Decimal  # the next 12 months' value if they are still a customer
    chance: float  # that they still are (P(alive))
    now: Decimal  # if_buying x chance: what they are worth today
    at_risk: Decimal  # if_buying x (1 - chance): what leaving would cost
    step: str  # "Keep", "Win back", "Win a second order" or "Nothing to do"
    advice: str

    @property
    def explanation(self) -> str:
        return (
            f"Worth {self.currency} {self.if_buying:,.2f} over the next 12 months if still "
            f"buying, and {self.chance:.0%} likely to be: {self.currency} {self.now:,.2f} "
            f"now, {self.currency} {self.at_risk:,.2f} at risk."
        )


def customer_value(*, customer: Customer) -> CustomerValue | None:
    """None until the customer is scored (`nextorder clv score`)."""
    if customer.p_alive is None:
        return None
    now, at_risk = customer.clv_12m or Decimal(0), customer.value_at_risk or Decimal(0)
    if_buying, chance = now + at_risk, float(customer.p_alive)
    one_order = (customer.total_spend / customer.order_count) if customer.order_count else 0
    if customer.order_count <= 1 and chance >= 0.99:
        # BG/NBD cannot lose a customer who bought once: their chance is an assumption.
        step, advice = (
            "Win a second order",
            "Bought once: one order says little about whether they will come back, so the "
            "chance above is the model's assumption. A good answer is the best reason for a "
            "second order.",
        )
    elif chance >= 0.5:
        step, advice = "Keep", "Probably still buying: a good answer keeps them."
    elif if_buying >= one_order > 0:
        step, advice = (
            "Win back",
            "Probably no longer buying, and worth at least another order if they came "
            "back: worth a personal follow-up.",
        )
    else:
        step, advice = (
            "Nothing to do",
            "Probably no longer buying, and worth less than one of their orders if they came back.",
        )
    return CustomerValue(
        currency=settings.NEXTORDER_CURRENCY,
        if_buying=if_buying,
        chance=chance,
        now=now,
        at_risk=at_risk,
        step=step,
        advice=advice,
    )


@dataclass(frozen=True)
class CustomerSummary:
    customer: Customer
    order_count: int
    total_spend: Decimal
    average_order: Decimal | None
    first_order_at: datetime | None
    last_order_at: datetime | None
    value: CustomerValue | None
    currency: str  # of the totals: the shop's (orders in others are converted)


def customer_summary(*, customer: Customer) -> CustomerSummary:
    average = (
        (customer.total_spend / customer.order_count).quantize(Decimal("0.01"))
        if customer.order_count
        else None
    )
    return CustomerSummary(
        customer=customer,
        order_count=customer.order_count,
        total_spend=customer.total_spend,
        average_order=average,
        first_order_at=customer.first_order_at,
        last_order_at=customer.last_order_at,
        value=customer_value(customer=customer),
        currency=settings.NEXTORDER_CURRENCY,
    )
