"""Requests counted per client address and minute in Django's default cache: enough for public, keyless pages."""

from __future__ import annotations

from axes.helpers import get_client_ip_address
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone

WINDOW_SECONDS = 60


def over_limit(request: HttpRequest, *, scope: str, limit: int) -> bool:
    """Count this request against its client address in ``scope``; True when over ``limit`` this minute.

    The client address is read as the console's sign-in throttling reads it
    (django-axes, behind the proxies AXES_IPWARE_PROXY_COUNT says).
    """
    address = get_client_ip_address(request) or "unknown"
    window = int(timezone.now().timestamp()) // WINDOW_SECONDS
    key = f"{scope}:{address}:{window}"
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
        count = 1
    return count > limit
