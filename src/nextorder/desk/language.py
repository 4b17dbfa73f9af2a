"""Which language a customer wrote in, for routing to an agent who reads it.

Counts each language's commonest short words; a message too short or too mixed to tell
gets no language rather than a wrong one. No Django import.
"""

from __future__ import annotations

import re

# Function words that are frequent in one of these languages and rare in the others.
_COMMON_WORDS = {
    "en": "the and is are was with you your have not this that for of my it please thanks",
    "de": "der die das und ist nicht ich mit sie ein eine bitte danke habe meine wurde auf",
    "fr": "le la les et est pas je avec vous une des merci mon ma mes pour dans bonjour",
    "es": "el la los las y es no con usted una por favor gracias mi pedido para hola",
    "it": "il lo gli e non con una per grazie mio mia ho sono ordine della buongiorno",
    "nl": "de het een en is niet ik met u mijn bedankt graag van voor wel bestelling",
    "pt": "o os as e não com você uma obrigado meu minha para por favor pedido olá",
}
_WORDS = {code: frozenset(words.split()) for code, words in _COMMON_WORDS.items()}
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
# At least this many telling words, and this share more than the runner-up.
_MIN_HITS = 3
_MARGIN = 1.5


def guess_language(text: str) -> str:
    """The ISO 639-1 code of the text's language among those above, or "" if unsure."""
    tokens = [t.lower() for t in _TOKEN.findall(text[:5000])]
    scores = sorted(
        ((sum(t in words for t in tokens), code) for code, words in _WORDS.items()),
        reverse=True,
    )
    (best, code), (runner_up, _other) = scores[0], scores[1]
    if best < _MIN_HITS or best < runner_up * _MARGIN:
        return ""
    return code
