"""Typed readers of query parameters, with bounds.

A URL is typed by people and by tools: these readers accept exactly what they mean
(ASCII digits, finite amounts within range) and return None for anything else, so a
hand-edited link is ignored or refused with a message, never turned into a 500.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The largest value of a 64-bit database key.
MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: "²".isdigit() is True, int("²") fails


def integer(raw: str | None, *, minimum: int = 0, maximum: int = MAX_ID) -> int | None:
    """The integer `raw` spells in ASCII digits, if it lies within [minimum, maximum]."""
    if raw is None or not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if minimum <= value <= maximum else None


def object_id(raw: str | None) -> int | None:
    """A database key: a positive integer that fits in 64 bits."""
    return integer(raw, minimum=1)


def amount(raw: str | None, *, maximum: Decimal = Decimal(10**12)) -> Decimal | None:
    """A finite, non-negative amount of money below `maximum` (NaN and Infinity are not)."""
    if raw is None or len(raw) > 40:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    return value if value.is_finite() and 0 <= value < maximum else None
