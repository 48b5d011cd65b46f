"""The shipped and delivered orders of a window, read from the day rollups where they can be.

A window's whole local days come from ``ShippedOrdersDay`` / ``DeliveredOrdersDay``
(``orders.services.cockpit_rollups``: a row per day, channel, currency and whole hour); the part of a day
at either end that the window holds only in part (a running period ends *now*; the previous period at the
same clock time) comes from the facts of those hours, summed the same way, in the same statement. So the
figures equal the facts' own, whatever the window.

The rollups serve every period without a warehouse filter, while their days are in ``settings.TIME_ZONE``
(``rollups_zone_is_current``). An order belongs to each warehouse it ships from or has stock reserved in,
which no per-day sum can say: a warehouse's figures are summed from the facts (``facts``).
"""

from __future__ import annotations

import datetime as dt
import math

from django.db import connection
from django.db.models import Q

from ..models import DeliveredOrdersDay, OrderShippingFacts, ShippedOrdersDay
from ..services.cockpit_rollups import delivered_day_rows, rollups_zone_is_current, shipped_day_rows
from .facts import channel_scope, in_window
from .periods import Period, Window, local_date, local_midnight

SHIPPED_COLUMNS = ("day", "currency", "hours", "orders", "on_time", "split", "shipping_cost", "revenue")
DELIVERED_COLUMNS = ("hours", "orders", "on_time")


def readable(period: Period) -> bool:
    """Whether this period's shipped and delivered orders can be read from the rollups."""
    return period.warehouse_id is None and rollups_zone_is_current()


def whole_days(window: Window) -> tuple[dt.date | None, dt.date | None, list[Window]]:
    """The first and last local day the window holds whole (None, None when it holds none), and the parts of
    days at its ends that it holds only in part."""
    first = local_date(window.start)
    if local_midnight(first) != window.start:
        first += dt.timedelta(days=1)
    last = local_date(window.end) - dt.timedelta(days=1)  # the day ``end`` falls in is never held whole
    if first > last:
        return None, None, [window]
    parts = [
        part
        for part in (
            Window(window.start, local_midnight(first)),
            Window(local_midnight(last + dt.timedelta(days=1)), window.end),
        )
        if part.start < part.end
    ]
    return first, last, parts


def shipped_rows(period: Period, window: Window) -> tuple[str, tuple]:
    """SQL of the window's shipped orders summed by local day, currency and whole hour (``SHIPPED_COLUMNS``)."""
    return _rows(period, window, ShippedOrdersDay, "last_shipped_at", shipped_day_rows, SHIPPED_COLUMNS)


def delivered_rows(period: Period, window: Window) -> tuple[str, tuple]:
    """SQL of the window's delivered orders summed by whole hour (``DELIVERED_COLUMNS``)."""
    return _rows(period, window, DeliveredOrdersDay, "last_delivered_at", delivered_day_rows, DELIVERED_COLUMNS)


def _rows(period: Period, window: Window, rollup, instant: str, summed, columns) -> tuple[str, tuple]:
    first, last, parts = whole_days(window)
    keys = [name for name in columns if name in ("day", "currency", "hours")]
    quote = connection.ops.quote_name
    selected = ", ".join(f"r.{quote(name)}" for name in columns)
    branches, params = [], []
    if first is not None:
        days = rollup.objects.filter(channel_scope(period), day__gte=first, day__lte=last).values(*columns)
        sql, found = days.query.sql_with_params()
        branches.append(f"SELECT {selected} FROM ({sql}) r")
        params.extend(found)
    if parts:
        during = Q()
        for part in parts:
            during |= in_window(instant, part)
        facts = OrderShippingFacts.objects.filter(channel_scope(period), during)
        sql, found = summed(facts, keys).query.sql_with_params()
        branches.append(f"SELECT {selected} FROM ({sql}) r")
        params.extend(found)
    return " UNION ALL ".join(branches), tuple(params)


def percentile_of(counts: dict[int, int], fraction: float) -> float | None:
    """The continuous percentile (``percentile_cont``: linear between the two nearest) of values counted
    ``{value: how many}``; None when there are none."""
    total = sum(counts.values())
    if not total:
        return None
    position = (total - 1) * fraction
    lower = math.floor(position)
    low_value = high_value = None
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if low_value is None and seen > lower:
            low_value = value
        if seen > lower + 1 or (seen == total):
            high_value = value
            break
    return low_value + (high_value - low_value) * (position - lower)
