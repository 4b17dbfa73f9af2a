"""Order exports in the platforms' own layouts, generated with the figures they must import as.

Columns as each platform documents its export:
- Shopify, "Export orders" CSV (help.shopify.com/en/manual/orders/export-orders; the
  columns listed by Matrixify/Excelify's order docs agree): one row per line item, the
  order's columns only on its first row; Financial Status paid, pending, authorized,
  partially_paid, partially_refunded, refunded, voided; "Cancelled at" on cancelled
  orders; times as "2026-11-15 15:16:58 +0100".
- Magento 2, the order grid's CSV export (Sales > Orders > Export; Adobe's "Orders
  workspace" lists its columns): one row per order, Purchase Date as the admin shows it
  in the store's zone, amounts with their currency's symbol, Status labels (Complete,
  Pending, Canceled, Closed for a full refund), Total Refunded.
- Etsy, the "Orders" CSV of Shop Manager > Download Data (EtsySoldOrders): one row per
  order, Sale Date as MM/DD/YY, Buyer User ID (no email), Order Total and Adjusted Order
  Total (after refunds); an Etsy sale is paid, a cancelled one refunded in full.
- WooCommerce, "Advanced Order Export For WooCommerce" (AlgolPlus, woo-order-export-lite)
  default labels, one row per product with the order's columns repeated; statuses as
  WooCommerce names them (Completed, Processing, On hold, Pending payment, Cancelled,
  Refunded, Failed); Customer User ID 0 for a guest; Order Date in the shop's local time.

Every file carries what real ones do: multi-item orders, partial and full refunds,
cancellations, pending orders, guests, accented names, quotes and commas, notes spanning
lines, several currencies and dates on both sides of the change to summer time.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

SHOP_ZONE = ZoneInfo("Europe/Berlin")
CENT = Decimal("0.01")

SHOPIFY_COLUMNS = (
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total",
    "Discount Code", "Discount Amount", "Shipping Method", "Created at",
    "Lineitem quantity", "Lineitem name", "Lineitem price", "Lineitem compare at price",
    "Lineitem sku", "Lineitem requires shipping", "Lineitem taxable",
    "Lineitem fulfillment status", "Billing Name", "Billing Street", "Billing Address1",
    "Billing Address2", "Billing Company", "Billing City", "Billing Zip",
    "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Notes",
    "Note Attributes", "Cancelled at", "Payment Method", "Payment Reference",
    "Refunded Amount", "Vendor", "Outstanding Balance", "Employee", "Location",
    "Device ID", "Id", "Tags", "Risk Level", "Source", "Lineitem discount",
)  # fmt: skip
WOOCOMMERCE_COLUMNS = (
    "Order Number", "Order Status", "Order Date", "Customer Note", "Customer User ID",
    "First Name (Billing)", "Last Name (Billing)", "Company (Billing)",
    "Address 1&2 (Billing)", "City (Billing)", "Postcode (Billing)",
    "Country Code (Billing)", "Email (Billing)", "Phone (Billing)",
    "Payment Method Title", "Cart Discount Amount", "Order Subtotal Amount",
    "Shipping Method Title", "Order Shipping Amount", "Order Refund Amount",
    "Order Total Amount", "Order Total Tax Amount", "Order Currency", "SKU", "Item #",
    "Item Name", "Quantity", "Item Cost", "Coupon Code", "Discount Amount",
)  # fmt: skip

_FIRST = ("Zoë", "José", "Ånne", "Łukasz", "Çağla", "Mike", "Renée", "Søren", "Anna", "O'Brien")
_LAST = ("Müller", "García", "Dvořák", "Nguyễn", "Smith, Jr.", "Ólafsdóttir", "Lee", "Øster")
_PRODUCTS = (
    ("MUG-01", 'Mug "Classic", 300 ml', Decimal("12.50")),
    ("TEE-RED-M", "T-shirt, red (M)", Decimal("19.99")),
    ("CAFÉ-250", "Café crème, 250 g", Decimal("8.40")),
    ("BAG-TOTE", "Tote bag", Decimal("15.00")),
    ("SOCK-3", "Socks, 3 pairs", Decimal("9.95")),
    ("", "Gift wrapping", Decimal("2.00")),  # no SKU: a line without a product
)
_CURRENCIES = ("EUR", "EUR", "USD", "GBP")


@dataclass
class Person:
    first: str
    last: str
    email: str | None
    account: int | None  # WooCommerce customer id; None for someone who never registered
    etsy_id: int  # every Etsy buyer has an account


@dataclass
class GeneratedOrder:
    number: int
    person: Person
    guest_checkout: bool
    placed_local: datetime
    currency: str
    items: list[tuple[str, str, Decimal, int]]
    shipping: Decimal
    status: str  # our word: paid, pending, cancelled, refunded
    refunded: Decimal
    note: str
    email_as_typed: str | None

    @property
    def total(self) -> Decimal:
        return sum((price * qty for _, _, price, qty in self.items), Decimal(0)) + self.shipping

    @property
    def net(self) -> Decimal:
        return self.total - self.refunded if self.status == "paid" else Decimal(0)

    @property
    def placed_utc(self) -> datetime:
        return self.placed_local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


@dataclass
class Expected:
    """What the file must import as."""

    orders: list[GeneratedOrder] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(len(order.items) for order in self.orders)

    @property
    def products(self) -> int:
        return len({sku for order in self.orders for sku, *_ in order.items if sku})

    @property
    def not_counted(self) -> dict[str, int]:
        return dict(sorted(Counter(o.status for o in self.orders if o.status != "paid").items()))

    @property
    def net_sales(self) -> dict[str, Decimal]:
        net: dict[str, Decimal] = {}
        for order in self.orders:
            if order.status == "paid":
                net[order.currency] = net.get(order.currency, Decimal(0)) + order.net
        return dict(sorted(net.items()))

    def as_etsy(self) -> Expected:
        """The same sales as an Etsy shop has them: no pending orders, and a cancelled
        order refunded in full."""
        orders = []
        for order in self.orders:
            if order.status == "pending":
                continue
            if order.status == "cancelled":
                order = replace(order, status="refunded", refunded=order.total)
            orders.append(order)
        return Expected(orders=orders)

    def customers(self, layout: str) -> int:
        return len({customer_key(order, layout, self.orders) for order in self.orders})


def customer_key(order: GeneratedOrder, layout: str, orders: list[GeneratedOrder]) -> str:
    """Who the import must take an order's customer to be: the WooCommerce account when
    the file shows it (a guest checkout with the account's email is that customer too),
    else the email, else a customer of the order's own."""
    person = order.person
    if layout == "etsy":
        return f"etsy:{person.etsy_id}"
    if layout == "woocommerce" and person.account is not None:
        shown = any(o.person is person and not o.guest_checkout for o in orders)
        if shown and (not order.guest_checkout or person.email):
            return f"account:{person.account}"
    if person.email:
        return person.email.lower()
    return f"guest:{order.number}"


def generate(*, orders: int = 60, seed: int = 15) -> Expected:
    rng = random.Random(seed)
    people = []
    for i in range(max(orders // 3, 4)):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = None if i % 7 == 6 else f"buyer.{i}@example.com"
        people.append(Person(first, last, email, 100 + i if i % 3 else None, 9000 + i))
    statuses = ["paid"] * 6 + ["partial", "refunded", "cancelled", "pending"]
    # Around the change to summer time in 2026 (29 March) and through the summer.
    start = datetime(2026, 3, 20, 9, 0, tzinfo=SHOP_ZONE)
    expected = Expected()
    for number in range(1001, 1001 + orders):
        person = rng.choice(people)
        local = start + timedelta(hours=rng.randint(0, 24 * 150), minutes=rng.randint(0, 59))
        local = local.astimezone(SHOP_ZONE)
        items = []
        for sku, name, price in rng.sample(_PRODUCTS, rng.randint(1, 3)):
            items.append((sku, name, price, rng.randint(1, 3)))
        kind = rng.choice(statuses)
        order = GeneratedOrder(
            number=number,
            person=person,
            guest_checkout=person.account is not None and rng.random() < 0.25,
            placed_local=local,
            currency=rng.choice(_CURRENCIES),
            items=items,
            shipping=rng.choice((Decimal("0.00"), Decimal("4.90"))),
            status="paid" if kind == "partial" else kind,
            refunded=Decimal(0),
            note=rng.choice(("", "Please ring twice", 'Leave at door, "back" entrance\nthanks!')),
            email_as_typed=(
                person.email.upper() if person.email and rng.random() < 0.2 else person.email
            ),
        )
        if kind == "partial":
            order.refunded = (order.total / 3).quantize(CENT)
        elif kind == "refunded":
            order.refunded = order.total
        expected.orders.append(order)
    return expected


_SHOPIFY_STATUS = {
    "paid": "paid",
    "pending": "pending",
    "cancelled": "voided",
    "refunded": "refunded",
}


def write_shopify(expected: Expected, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SHOPIFY_COLUMNS)
        writer.writeheader()
        for order in expected.orders:
            status = _SHOPIFY_STATUS[order.status]
            if order.status == "paid" and order.refunded:
                status = "partially_refunded"
            created = order.placed_local.strftime("%Y-%m-%d %H:%M:%S %z")
            for index, (sku, name, price, qty) in enumerate(order.items):
                row = {
                    "Name": f"#{order.number}",
                    "Email": order.email_as_typed or "",
                    "Lineitem quantity": str(qty),
                    "Lineitem name": name,
                    "Lineitem price": str(price),
                    "Lineitem sku": sku,
                    "Lineitem requires shipping": "true",
                    "Lineitem taxable": "true",
                    "Lineitem fulfillment status": "pending",
                }
                if index == 0:
                    subtotal = order.total - order.shipping
                    row |= {
                        "Financial Status": status,
                        "Paid at": created if order.status != "pending" else "",
                        "Fulfillment Status": "unfulfilled",
                        "Accepts Marketing": "no",
                        "Currency": order.currency,
                        "Subtotal": str(subtotal),
                        "Shipping": str(order.shipping),
                        "Taxes": "0.00",
                        "Total": str(order.total),
                        "Discount Amount": "0.00",
                        "Created at": created,
                        "Billing Name": f"{order.person.first} {order.person.last}",
                        "Billing Street": "Hauptstraße 1, Hinterhaus",
                        "Billing City": "Köln",
                        "Billing Country": "DE",
                        "Notes": order.note,
                        "Cancelled at": created if order.status == "cancelled" else "",
                        "Refunded Amount": str(order.refunded) if order.refunded else "",
                        "Id": str(5_000_000_000 + order.number),
                        "Source": "web",
                    }
                writer.writerow(row)
    return path


_WOO_STATUS = {
    "paid": "Completed",
    "pending": "Pending payment",
    "cancelled": "Cancelled",
    "refunded": "Refunded",
}


def write_woocommerce(expected: Expected, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=WOOCOMMERCE_COLUMNS)
        writer.writeheader()
        for order in expected.orders:
            person = order.person
            account = person.account if person.account and not order.guest_checkout else 0
            for index, (sku, name, price, qty) in enumerate(order.items, start=1):
                writer.writerow(
                    {
                        "Order Number": str(order.number),
                        "Order Status": _WOO_STATUS[order.status],
                        "Order Date": order.placed_local.strftime("%Y-%m-%d %H:%M"),
                        "Customer Note": order.note,
                        "Customer User ID": str(account),
                        "First Name (Billing)": person.first,
                        "Last Name (Billing)": person.last,
                        "City (Billing)": "Zürich",
                        "Country Code (Billing)": "CH",
                        "Email (Billing)": order.email_as_typed or "",
                        "Payment Method Title": "Credit card",
                        "Order Subtotal Amount": str(order.total - order.shipping),
                        "Order Shipping Amount": str(order.shipping),
                        "Order Refund Amount": str(order.refunded),
                        "Order Total Amount": str(order.total),
                        "Order Total Tax Amount": "0.00",
                        "Order Currency": order.currency,
                        "SKU": sku,
                        "Item #": str(index),
                        "Item Name": name,
                        "Quantity": str(qty),
                        "Item Cost": str(price),
                    }
                )
    return path


MAGENTO_COLUMNS = (
    "ID", "Purchase Point", "Purchase Date", "Bill-to Name", "Ship-to Name",
    "Grand Total (Base)", "Grand Total (Purchased)", "Status", "Billing Address",
    "Shipping Address", "Shipping Information", "Customer Email", "Customer Group",
    "Subtotal", "Shipping and Handling", "Customer Name", "Payment Method", "Total Refunded",
)  # fmt: skip
_MAGENTO_STATUS = {
    "paid": "Complete",
    "pending": "Pending",
    "cancelled": "Canceled",
    "refunded": "Closed",
}
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}


def _shown_money(amount: Decimal, currency: str) -> str:
    return f"{_SYMBOLS[currency]}{amount:,.2f}"


def write_magento(expected: Expected, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=MAGENTO_COLUMNS)
        writer.writeheader()
        for order in expected.orders:
            name = f"{order.person.first} {order.person.last}"
            total = _shown_money(order.total, order.currency)
            writer.writerow(
                {
                    "ID": f"{order.number:09d}",
                    "Purchase Point": "Main Website\nMain Website Store\nDefault Store View",
                    "Purchase Date": order.placed_local.strftime("%b %-d, %Y %-I:%M:%S %p"),
                    "Bill-to Name": name,
                    "Ship-to Name": name,
                    "Grand Total (Base)": total,
                    "Grand Total (Purchased)": total,
                    "Status": _MAGENTO_STATUS[order.status],
                    "Billing Address": "Hauptstraße 1, Köln, 50667",
                    "Customer Email": order.email_as_typed or "",
                    "Customer Group": "NOT LOGGED IN" if not order.person.email else "General",
                    "Subtotal": _shown_money(order.total - order.shipping, order.currency),
                    "Shipping and Handling": _shown_money(order.shipping, order.currency),
                    "Customer Name": name,
                    "Payment Method": "Check / Money order",
                    "Total Refunded": _shown_money(order.refunded, order.currency)
                    if order.refunded
                    else "",
                }
            )
    return path


ETSY_COLUMNS = (
    "Sale Date", "Order ID", "Buyer User ID", "Full Name", "First Name", "Last Name",
    "Number of Items", "Payment Method", "Date Shipped", "Street 1", "Street 2",
    "Ship City", "Ship State", "Ship Zipcode", "Ship Country", "Currency", "Order Value",
    "Coupon Code", "Coupon Details", "Discount Amount", "Shipping Discount", "Shipping",
    "Sales Tax", "Order Total", "Status", "Card Processing Fees", "Order Net",
    "Adjusted Order Total", "Adjusted Card Processing Fees", "Adjusted Net Order Amount",
    "Buyer", "Order Type", "Payment Type", "InPerson Discount", "InPerson Location", "SKU",
)  # fmt: skip


def write_etsy(expected: Expected, path: Path) -> Path:
    """`expected` as `Expected.as_etsy` gives it: Etsy has no pending or cancelled sales."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=ETSY_COLUMNS)
        writer.writeheader()
        for order in expected.orders:
            assert order.status in ("paid", "refunded")
            person = order.person
            writer.writerow(
                {
                    "Sale Date": order.placed_local.strftime("%m/%d/%y"),
                    "Order ID": str(3_100_000_000 + order.number),
                    "Buyer User ID": str(person.etsy_id),
                    "Full Name": f"{person.first} {person.last}",
                    "First Name": person.first,
                    "Last Name": person.last,
                    "Number of Items": str(sum(qty for *_, qty in order.items)),
                    "Payment Method": "Etsy Payments",
                    "Ship City": "Lyon",
                    "Ship Country": "France",
                    "Currency": order.currency,
                    "Order Value": str(order.total - order.shipping),
                    "Shipping": str(order.shipping),
                    "Sales Tax": "0.00",
                    "Order Total": str(order.total),
                    "Order Net": str(order.total),
                    "Adjusted Order Total": str(order.total - order.refunded)
                    if order.refunded
                    else "",
                    "Buyer": f"buyer{person.etsy_id}",
                    "Order Type": "online",
                    "Payment Type": "online_cc",
                    "SKU": ",".join(sku for sku, *_ in order.items if sku),
                }
            )
    return path
