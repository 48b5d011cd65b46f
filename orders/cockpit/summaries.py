"""What the key figures and the charts both read, each in one query: the shipped orders and the shipments.

Both are the heavy reads (every order or shipment of the window, with its
shipments). Computed for the live clock, each is kept in the cache like the
figures, so a page asking for the key figures and then the charts reads them
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, F, Q
from django.db.models.functions import TruncDate
from django.db.models.lookups import LessThanOrEqual

from shipping.models import Shipment

from ..returns.selectors import SHIPPED as SHIPPED_SHIPMENT_STATUSES
from .caching import cached
from .facts import (
    between,
    day,
    hours,
    in_window,
    money,
    percentile,
    rows_counted,
    shipment_scope,
    shipped_orders,
    summarise,
    total,
)
from .periods import Period, Window, local_timezone

# Hours from placed to the last shipment leaving: (label, from, to); the last has no end.
SHIP_HOUR_BUCKETS = (
    ("Under 12 h", 0, 12),
    ("12–24 h", 12, 24),
    ("1–2 days", 24, 48),
    ("2–3 days", 48, 72),
    ("3–5 days", 72, 120),
    ("5 days and more", 120, None),
)


@dataclass(frozen=True)
class ShippedGroup:
    """Shipped orders of one grouping: how many, on time, split, their shipping cost and grand totals (in one
    currency, except for the overall group); for the overall group only, percentiles of hours to ship and how many
    in each hour bucket (None and zeros in the others: nothing shows them)."""

    orders: int
    on_time: int
    split: int
    cost: Decimal | None
    revenue: Decimal | None
    median_hours: float | None
    p90_hours: float | None
    buckets: tuple[int, ...]


@dataclass(frozen=True)
class ShippedSummary:
    """The shipped orders of a window (``facts.shipped_orders``): overall, by currency, by day and currency."""

    overall: ShippedGroup
    by_currency: dict[str, ShippedGroup]
    by_day: dict[tuple, ShippedGroup]  # (local day, currency) -> group


@dataclass(frozen=True)
class ShipmentCounts:
    """Shipments of one warehouse and vendor: handed to a carrier within the window and how many of those left by
    their planned pickup day (none planned: on time); arrived within it and how many by their order's promised date
    (none promised: on time)."""

    warehouse: str
    vendor: str | None
    shipped: int
    shipped_on_time: int
    delivered: int
    delivered_on_time: int


def shipped_summary(period: Period, window: Window, *, share: bool = False, fresh: bool = False) -> ShippedSummary:
    """The shipped orders summed three ways in one query; kept in the cache when ``share``."""
    if share:
        return cached("shipped", period, lambda: _shipped_summary(period, window), fresh=fresh)
    return _shipped_summary(period, window)


def shipment_counts(
    period: Period, window: Window, *, share: bool = False, fresh: bool = False
) -> tuple[ShipmentCounts, ...]:
    """Shipments shipped and delivered within the window by warehouse and vendor, in one query; kept when ``share``."""
    if share:
        return cached("shipments", period, lambda: _shipment_counts(period, window), fresh=fresh)
    return _shipment_counts(period, window)


def _shipped_summary(period: Period, window: Window) -> ShippedSummary:
    measures = {
        "orders": rows_counted(),
        "on_time": total("on_time"),
        "split": total("split"),
        "cost": total("shipments_cost"),
        "revenue": total("grand_total"),
        "median": percentile("ship_hours", 0.5),
        "p90": percentile("ship_hours", 0.9),
    }
    measures.update(
        {f"bucket_{index}": between("ship_hours", low, high) for index, (_, low, high) in enumerate(SHIP_HOUR_BUCKETS)}
    )
    rows = shipped_orders(period, window).values(
        "currency", "grand_total", "shipments_cost", "ship_hours", "ship_day", "on_time", "split"
    )
    found = summarise(
        rows,
        measures,
        groupings=(("all", ()), ("currency", ("currency",)), ("day", ("ship_day", "currency"))),
        overall_only=[name for name in measures if name in ("median", "p90") or name.startswith("bucket_")],
    )
    return ShippedSummary(
        overall=_shipped_group(found["all"][0], money_too=False),
        by_currency={row["currency"]: _shipped_group(row) for row in found["currency"]},
        by_day={(day(row["ship_day"]), row["currency"]): _shipped_group(row) for row in found["day"]},
    )


def _shipped_group(row: dict, *, money_too: bool = True) -> ShippedGroup:
    return ShippedGroup(
        orders=int(row["orders"]),
        on_time=int(row["on_time"] or 0),
        split=int(row["split"] or 0),
        cost=money(row["cost"]) if money_too else None,
        revenue=money(row["revenue"]) if money_too else None,
        median_hours=hours(row["median"]),
        p90_hours=hours(row["p90"]),
        buckets=tuple(int(row[f"bucket_{index}"] or 0) for index in range(len(SHIP_HOUR_BUCKETS))),
    )


def _shipment_counts(period: Period, window: Window) -> tuple[ShipmentCounts, ...]:
    tz = local_timezone()
    shipped = in_window("shipped_at", window) & Q(status__in=SHIPPED_SHIPMENT_STATUSES)
    delivered = in_window("delivered_at", window)
    left_in_time = Q(ship_date__isnull=True) | Q(LessThanOrEqual(TruncDate("shipped_at", tzinfo=tz), F("ship_date")))
    arrived_in_time = Q(order__promised_date__isnull=True) | Q(
        LessThanOrEqual(TruncDate("delivered_at", tzinfo=tz), F("order__promised_date"))
    )
    rows = (
        Shipment.objects.filter(shipment_scope(period))
        .filter(shipped | delivered)
        .order_by()
        .values("warehouse_id", "warehouse__code", "service__vendor_id", "service__vendor__name")
        .annotate(
            shipped=Count("pk", filter=shipped),
            shipped_on_time=Count("pk", filter=shipped & left_in_time),
            delivered=Count("pk", filter=delivered),
            delivered_on_time=Count("pk", filter=delivered & arrived_in_time),
        )
    )
    return tuple(
        ShipmentCounts(
            warehouse=row["warehouse__code"],
            vendor=row["service__vendor__name"],
            shipped=row["shipped"],
            shipped_on_time=row["shipped_on_time"],
            delivered=row["delivered"],
            delivered_on_time=row["delivered_on_time"],
        )
        for row in sorted(rows, key=lambda row: (row["warehouse__code"], row["service__vendor__name"] or ""))
    )
