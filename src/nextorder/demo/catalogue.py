"""What the demo's CDNOW customers bought: made-up CD titles as order lines.

CDNOW publishes only how many CDs each order held and what it cost. The demo gives each
order that many CDs from a catalogue of invented artists and albums, mostly from the
customer's favourite genre (so that "bought together" means something), priced so that
the lines add up to the published amount to the cent.
"""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

from django.db import transaction

from nextorder.crm.models import Customer, Order, Product
from nextorder.crm.services import OrderLineSpec, order_lines_add, products_add

GENRES = ("Rock", "Jazz", "Classical", "Pop", "Folk", "Soul")
_BAND_WORDS = (
    ("Velvet", "Paper", "Silver", "Northern", "Hollow", "Amber", "Quiet", "Electric"),
    ("Harbour", "Lanterns", "Orchard", "Static", "Foxes", "Tides", "Engines", "Signals"),
)
_TITLE_WORDS = (
    ("Night", "Summer", "Glass", "Distant", "Golden", "Broken", "Slow", "Winter"),
    ("Trains", "Letters", "Rivers", "Radio", "Gardens", "Harbours", "Echoes", "Avenue"),
)
_PRICES = (Decimal("9.99"), Decimal("11.99"), Decimal("12.99"), Decimal("14.99"))
# Albums per band, and how often a customer strays from their favourite genre.
_ALBUMS = 4
_STRAY = 0.2


def _catalogue(rng: random.Random) -> list[Product]:
    adjectives, nouns = _BAND_WORDS
    bands = [f"The {a} {n}" for a in adjectives for n in nouns]
    rng.shuffle(bands)
    firsts, seconds = _TITLE_WORDS
    products = []
    for number, band in enumerate(bands[:36]):
        titles = rng.sample([f"{f} {s}" for f in firsts for s in seconds], _ALBUMS)
        for album, title in enumerate(titles):
            products.append(
                Product(
                    sku=f"CD-{GENRES[number % len(GENRES)][:3].upper()}-{number:02d}{album}",
                    name=f"{title} ({band})",
                    price=rng.choice(_PRICES),
                )
            )
    return products


def _lines(order: Order, picks: list[Product]) -> list[OrderLineSpec]:
    """The picked CDs as lines whose amounts add up to the order's amount: the same
    price each, the odd cents on one CD bought once."""
    count = len(picks)
    each = (order.amount * 100 // count) / Decimal(100)
    odd_cents = order.amount - each * count
    quantities = Counter(picks)
    lines = []
    if odd_cents:
        odd = picks[0]
        quantities[odd] -= 1
        lines.append(OrderLineSpec(product=odd, quantity=1, unit_price=each + odd_cents))
    lines += [
        OrderLineSpec(product=product, quantity=quantity, unit_price=each)
        for product, quantity in quantities.items()
        if quantity
    ]
    return lines


@transaction.atomic
def generate_demo_order_lines(*, seed: int) -> int:
    """Lines for the demo's orders that have a CD count but no lines, once: a catalogue
    that exists is left alone. Returns the lines written."""
    if Product.objects.filter(sku__startswith="CD-").exists():
        return 0
    rng = random.Random(seed)
    catalogue = products_add(products=_catalogue(rng))
    by_genre = {
        genre: [p for p in catalogue if p.sku[3:6] == genre[:3].upper()] for genre in GENRES
    }
    favourite = {
        customer_id: rng.choice(GENRES)
        for customer_id in Customer.objects.values_list("pk", flat=True)
    }
    orders = Order.objects.filter(item_count__gt=0, lines__isnull=True, amount__gte=0).order_by(
        "pk"
    )
    lines = {}
    for order in orders:
        count = order.item_count or 0
        picks = [
            rng.choice(
                catalogue if rng.random() < _STRAY else by_genre[favourite[order.customer_id]]
            )
            for _ in range(count)
        ]
        lines[order] = _lines(order, picks)
    return order_lines_add(lines=lines)
