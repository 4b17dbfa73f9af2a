from django import template
from django.utils.safestring import SafeString

from nextorder.core.html import safe_html

register = template.Library()


@register.filter
def sanitised(html: str) -> SafeString:
    """Render stored HTML only through nh3, whatever path wrote it."""
    return safe_html(html or "")
