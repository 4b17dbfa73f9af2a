"""The rule that sets a ticket's priority when the customer writes.

Two signals, each worth one level above Normal:
- the customer is among the most valuable to keep: their value at risk (what the
  business stands to lose if they leave, see `insight.scoring`) is in the top
  NEXTORDER_PRIORITY_TOP_SHARE of scored customers (10 % by default). The threshold is
  recalibrated at each scoring (`PriorityCalibration`), so it follows the customer base
  rather than a fixed amount; before the first scoring it is NEXTORDER_PRIORITY_TOP_VALUE;
- the message reads angry: a word of real anger, with a second sign of it (another
  such word, a word of friction such as "again" or "refund", or shouting). One word of
  friction alone ("I'd like a refund") is not anger.

High is one signal, Urgent both: a valuable customer who is angry is answered first.
The rule only ever raises a priority, and says why; an agent's choice is not undone
when the customer writes again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from nextorder.desk.models import PriorityCalibration, Ticket

# Anger itself, and words that only add to it (a customer may ask for a refund calmly).
_ANGER = re.compile(
    r"\b(angry|furious|livid|unacceptable|disgust\w*|terrible|awful|worst|appalling|"
    r"horrible|pathetic|ridiculous|outrageous|fed up|never again|lawyer|chargeback|scam|"
    r"rip[- ]?off|useless|incompetent|bad review)\b",
    re.IGNORECASE,
)
_FRICTION = re.compile(
    r"\b(disappoint\w*|frustrat\w*|cancel\w*|refund|complain\w*|elsewhere|"
    r"still (?:not|hasn't|haven't)|second time|third time|again)\b",
    re.IGNORECASE,
)
_SHOUTING = re.compile(r"!!|\b[A-Z]{4,}\b")


def reads_angry(text: str) -> bool:
    anger = len(_ANGER.findall(text))
    return anger >= 2 or (
        anger == 1 and (bool(_FRICTION.search(text)) or bool(_SHOUTING.search(text)))
    )


@dataclass(frozen=True)
class PriorityRule:
    top_value_at_risk: Decimal
    # How the threshold reads in a reason: "top 10% of customers" or "at least 200.00".
    described: str

    @classmethod
    def current(cls) -> PriorityRule:
        """The latest calibration (one small query), else the configured amount."""
        calibration = PriorityCalibration.objects.order_by("-id").first()
        if calibration is not None:
            return cls(
                top_value_at_risk=calibration.top_value_at_risk,
                described=f"top {calibration.top_share:.0%} of customers",
            )
        amount = Decimal(settings.NEXTORDER_PRIORITY_TOP_VALUE)
        return cls(top_value_at_risk=amount, described=f"at least {amount:,.2f}")


@dataclass(frozen=True)
class PriorityDecision:
    priority: int
    reason: str


def decide_priority(
    *, current: int, value_at_risk: Decimal | None, text: str, rule: PriorityRule
) -> PriorityDecision:
    """The priority the rule asks for, never below `current`, with its reasons in words."""
    reasons = []
    if value_at_risk and value_at_risk >= rule.top_value_at_risk:
        reasons.append(f"value at risk {value_at_risk:,.2f} ({rule.described})")
    if reads_angry(text):
        reasons.append("angry tone")
    level = int(Ticket.Priority.NORMAL) + len(reasons)
    if not reasons or level <= current:
        return PriorityDecision(priority=current, reason="")
    label = Ticket.Priority(level).label
    return PriorityDecision(priority=level, reason=f"{label}: {', '.join(reasons)}")
