"""HTML that reaches an agent's browser: sanitised when it is written and again when
it is shown, so that a row written by any path (an old import, a future channel, a
database edit) still cannot run script in the console."""

from __future__ import annotations

import nh3
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe


def sanitise_html(html: str) -> str:
    """Keep formatting, drop scripts, event handlers, styles and javascript: links."""
    return nh3.clean(html)


def html_from_text(text: str) -> str:
    return linebreaks(escape(text))


def stored_html(*, html: str, text: str) -> str:
    """A message's HTML as stored: the sender's, sanitised, or else its text as HTML."""
    return sanitise_html(html) if html else html_from_text(text)


def safe_html(html: str) -> SafeString:
    return mark_safe(sanitise_html(html))
