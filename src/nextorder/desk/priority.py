"""The rule that sets a ticket's priority when the customer writes.

An angry message from a valuable customer who has gone quiet is answered first:
priority rises with the customer's value at risk (what the business stands to lose if
this customer leaves: see `insight.scoring`) and with an angry tone. The rule only ever
raises a priority: an agent's choice is not undone when the customer writes again.

    Normal, +1 if value at risk >= NEXTORDER_PRIORITY_MEDIUM_VALUE (default 50)
            +2 if value at risk >= NEXTORDER_PRIORITY_HIGH_VALUE   (default 200)
            +1 if the message reads angry
    capped at Urgent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from nextorder.desk.models import Ticket

# Words and phrases of an unhappy customer; a message with two or more, or one and
# shouting (!!, or a run of capitals), reads angry.
_ANGRY = re.compile(
    r"\b(angry|furious|unacceptable|disappointed|disappointing|terrible|awful|worst|"
    r"ridiculous|outrageous|frustrat\w*|fed up|never again|cancel\w*|refund|complain\w*|"
    r"lawyer|chargeback|scam|rip[- ]?off|elsewhere|useless|still (?:not|hasn't|haven't)|"
    r"second time|third time|again)\b",
    re.IGNORECASE,
)
_SHOUTING = re.compile(r"!!|\b[A-Z]{4,}\b")


def reads_angry(text: str) -> bool:
    hits = len(_ANGRY.findall(text))
    return hits >= 2 or (hits == 1 and bool(_SHOUTING.search(text)))


@dataclass(frozen=True)
class PriorityRule:
    medium_value_at_risk: Decimal
    high_value_at_risk: Decimal

    @classmethod
    def from_settings(cls) -> PriorityRule:
        return cls(
            medium_value_at_risk=Decimal(settings.NEXTORDER_PRIORITY_MEDIUM_VALUE),
            high_value_at_risk=Decimal(settings.NEXTORDER_PRIORITY_HIGH_VALUE),
        )


@dataclass(frozen=True)
class PriorityDecision:
    priority: int
    reason: str


def decide_priority(
    *, current: int, value_at_risk: Decimal | None, text: str, rule: PriorityRule
) -> PriorityDecision:
    """The priority the rule asks for, never below `current`, with its reasons in words."""
    level = int(Ticket.Priority.NORMAL)
    reasons = []
    if value_at_risk is not None and value_at_risk >= rule.high_value_at_risk:
        level += 2
        reasons.append(f"value at risk {value_at_risk:,.2f} (high)")
    elif value_at_risk is not None and value_at_risk >= rule.medium_value_at_risk:
        level += 1
        reasons.append(f"value at risk {value_at_risk:,.2f}")
    if reads_angry(text):
        level += 1
        reasons.append("angry tone")
    level = min(level, int(Ticket.Priority.URGENT))
    if not reasons or level <= current:
        return PriorityDecision(priority=current, reason="")
    label = Ticket.Priority(level).label
    return PriorityDecision(priority=level, reason=f"{label}: {', '.join(reasons)}")
