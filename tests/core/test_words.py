"""Quantities in people's words."""

from __future__ import annotations

from nextorder.core.templatetags.nextorder import duration


def test_a_duration_reads_in_the_queues_words():
    assert duration(25_515) == "7 h 5 min"
    assert duration(40 * 60) == "40 min"
    assert duration(3 * 86_400 + 4 * 3_600) == "3 d 4 h"
    assert duration(None) == ""
