"""Data shipped with NextOrder, found where the package is installed (no Django here,
so benchmarks and kernels' tests can use it too)."""

from __future__ import annotations

from pathlib import Path

CDNOW_SAMPLE = Path(__file__).resolve().parent / "CDNOW_sample.txt"
"""The CDNOW transactions of Fader, Hardie & Lee; see CDNOW_README.md beside it."""

SHOPIFY_SAMPLE = Path(__file__).resolve().parent / "shopify_orders_sample.csv"
"""A small shop's orders in Shopify's "Export orders" layout (120 orders, line items,
refunds, cancellations, pending orders, guests), written by tests/crm/exports.py
(`generate(orders=120, seed=1997)`, every order in USD)."""
