"""When the playbook may email: outside the quiet hours, in the desk's time zone.

Customers carry no time zone of their own yet, so the desk's (TIME_ZONE) stands for
theirs: a shop that sells abroad sets its quiet hours wide enough for both.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone


def quiet_hours() -> tuple[time, time]:
    """NEXTORDER_QUIET_HOURS as (start, end); the window may run past midnight."""
    raw = settings.NEXTORDER_QUIET_HOURS
    try:
        start, end = (time.fromisoformat(part.strip()) for part in raw.split("-"))
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"NEXTORDER_QUIET_HOURS={raw!r} is not HH:MM-HH:MM (say 21:00-08:00)"
        ) from exc
    return start, end


def outside_quiet_hours(when: datetime) -> datetime:
    """`when` itself if no quiet hour covers it, else the end of the quiet hours."""
    start, end = quiet_hours()
    if start == end:
        return when
    local = timezone.localtime(when)
    clock = local.time()
    overnight = start > end
    quiet = (clock >= start or clock < end) if overnight else (start <= clock < end)
    if not quiet:
        return when
    day = local.date()
    if overnight and clock >= start:
        day += timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, end), local.tzinfo)
