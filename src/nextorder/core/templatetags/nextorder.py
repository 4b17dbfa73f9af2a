from django import template
from django.utils.safestring import SafeString

from nextorder.core.html import safe_html
from nextorder.core.words import duration_words

register = template.Library()


@register.filter
def sanitised(html: str) -> SafeString:
    """Render stored HTML only through nh3, whatever path wrote it."""
    return safe_html(html or "")


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as '2 h 5 min' (empty for none)."""
    return "" if seconds is None else duration_words(seconds)
