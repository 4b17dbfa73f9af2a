"""Reading sales in service text: buying intent in a customer's message, and links in a
suggested text that would send the customer to another seller.

Plain Python (no Django), so that the phrase lists can be tested and changed on their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Phrases that say a customer may want to buy (more). Word boundaries on both sides, so
# that "supgrade" or "priceless" do not count; whitespace between words may be any.
_INTENT_PHRASES = (
    r"do you (?:also )?(?:sell|stock|carry|have)",
    r"price (?:for|of)",
    r"how much (?:is|are|does|do|would|for)",
    r"(?:a |an )?quote (?:for|on)",
    r"upgrade",
    r"upgrading",
    r"another one",
    r"a second one",
    r"one more",
    r"buy (?:another|more|a second|again)",
    r"order (?:another|more|again)",
    r"(?:re-?order|reorder)",
    r"bulk (?:order|price|pricing|discount)",
    r"in stock",
    r"interested in (?:buying|ordering|purchasing|the|your)",
    r"looking to (?:buy|order|purchase)",
    r"want(?:s|ed)? to (?:buy|order|purchase)",
    r"would like to (?:buy|order|purchase)",
    r"extend (?:my|our|the) (?:warranty|contract|agreement|plan)",
    r"renew(?:al)?",
)
_INTENT = re.compile(
    r"\b(?:" + "|".join(p.replace(" ", r"\s+") for p in _INTENT_PHRASES) + r")\b",
    re.IGNORECASE,
)
# Quoted earlier mail ("> ...", "On ... wrote:") is not what the customer says now.
_QUOTED_LINE = re.compile(r"^\s*>.*$", re.MULTILINE)


def buying_intent(text: str) -> list[str]:
    """The phrases of `text` that suggest a sale, as written, first occurrence each."""
    unquoted = _QUOTED_LINE.sub("", text)
    found: dict[str, str] = {}
    for match in _INTENT.finditer(unquoted):
        phrase = " ".join(match.group(0).split())
        found.setdefault(phrase.lower(), phrase)
    return list(found.values())


# Host names in a text. After a scheme or "www." any name counts; a bare name
# ("shop.example.com") only with a common top-level domain, so that "broke.Please" in a
# hurried sentence is not a seller. Labels follow RFC 1035 (letters, digits, inner hyphens).
_LABELS = r"((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24})"
_LINKED_HOST = re.compile(r"(?:\b(?:https?|ftp)://(?:www\.)?|\bwww\.)" + _LABELS, re.IGNORECASE)
_COMMON_TLDS = (
    "com|net|org|info|biz|io|co|shop|store|online|site|app|eu|uk|de|fr|nl|be|at|ch|it|es|"
    "pl|se|dk|no|fi|ie|pt|cz|us|ca|au|nz|jp|cn|in|br|mx"
)
_BARE_HOST = re.compile(
    r"(?<![@\w.-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _COMMON_TLDS + r"))\b(?![@-])",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@((?:[a-z0-9-]+\.)+[a-z]{2,24})\b", re.IGNORECASE)


def _is_own(host: str, own_domains: Iterable[str]) -> bool:
    return any(host == own or host.endswith("." + own) for own in own_domains)


def text_points_elsewhere(text: str, own_domains: Iterable[str]) -> list[str]:
    """The web or mail domains in `text` that are not the shop's own (nor under them):
    a suggested text naming one would send the customer to another seller."""
    own = [d.lower().strip(".") for d in own_domains if d.strip(".")]
    hosts = [m.group(1).lower() for m in _EMAIL.finditer(text)]
    rest = _EMAIL.sub(" ", text)
    hosts += [m.group(1).lower() for m in _LINKED_HOST.finditer(rest)]
    hosts += [m.group(1).lower() for m in _BARE_HOST.finditer(_LINKED_HOST.sub(" ", rest))]
    return list(dict.fromkeys(h for h in hosts if not _is_own(h, own)))
