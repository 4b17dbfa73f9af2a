"""Quantities as the console writes them for people."""

from __future__ import annotations


def duration_words(seconds: float) -> str:
    """'40 min', '2 h 5 min', '3 d 4 h': how long, in the words the queue uses."""
    minutes = int(abs(seconds)) // 60
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // (24 * 60)} d {minutes // 60 % 24} h"
