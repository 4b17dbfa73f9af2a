"""Counting posts to pages anyone may use (the contact form, portal log-in links) in
Django's cache, so that a script cannot open tickets or mail links by the thousand.

Windows are fixed (the count restarts every `seconds`): a burst across a boundary gets
at most twice the rate, which is enough to stop abuse and needs one counter per key.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

from axes.helpers import get_client_ip_address
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

_RATE = re.compile(r"\s*([0-9]{1,6})\s*/\s*([0-9]{1,6})\s*([smh])\s*")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """ "5/10m": five in ten minutes (units s, m, h)."""
        match = _RATE.fullmatch(text)
        if match is None or int(match.group(2)) == 0:
            raise ImproperlyConfigured(f"A rate is COUNT/WINDOW such as 5/10m, not {text!r}.")
        count, window, unit = match.groups()
        return cls(count=int(count), seconds=int(window) * _UNIT_SECONDS[unit])

    @property
    def minutes(self) -> int:
        return max(1, -(-self.seconds // 60))


def rate_exceeded(*, scope: str, key: str, rate: Rate) -> bool:
    """Count one more post for `key` (an address) in `scope`; True once over the rate.

    The key is hashed: cache keys stay short and safe for any backend, and no address
    sits in the cache in clear.
    """
    window = int(time.time()) // rate.seconds
    digest = hashlib.sha256(key.encode()).hexdigest()
    cache_key = f"nextorder:rate:{scope}:{digest}:{window}"
    cache.add(cache_key, 0, timeout=rate.seconds)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=rate.seconds)
        count = 1
    return count > rate.count


def client_address(request: HttpRequest) -> str:
    """The client's address as log-in throttling (django-axes) sees it."""
    return get_client_ip_address(request) or "unknown"
