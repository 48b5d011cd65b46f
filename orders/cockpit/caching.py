"""The cockpit's figures kept briefly in Django's cache, per period and filter.

A page reloaded by several people at once costs one computation a minute
(``COCKPIT_CACHE_SECONDS``, 60 by default; 0 turns the cache off). Callers
that need the database's answer now pass ``fresh=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache

from .periods import Period

T = TypeVar("T")
DEFAULT_SECONDS = 60
KEY_VERSION = 1


def cache_seconds() -> int:
    return int(getattr(settings, "COCKPIT_CACHE_SECONDS", DEFAULT_SECONDS))


def cache_key(name: str, period: Period) -> str:
    return f"oms:cockpit:{KEY_VERSION}:{name}:{period.cache_key}"


# What is kept per period: the key figures, the charts, and the two heavy reads both take (``summaries``).
NAMES = ("kpis", "charts", "shipped", "shipments")


def forget(period: Period) -> None:
    """Drop what is kept for this period and filter: the next page computes it all again, each read once."""
    cache.delete_many([cache_key(name, period) for name in NAMES])


def cached(name: str, period: Period, compute: Callable[[], T], *, fresh: bool = False) -> T:
    """``compute()``'s answer for this period and filter, from the cache while it is recent.

    Computes and stores it when it is not there, or always with ``fresh`` (the
    fresh answer replaces the stored one).
    """
    seconds = cache_seconds()
    if seconds <= 0:
        return compute()
    key = cache_key(name, period)
    if not fresh:
        found = cache.get(key)
        if found is not None:
            return found
    answer = compute()
    cache.set(key, answer, seconds)
    return answer
