"""What the key figures and the charts both read, each in one query: the shipped orders and the shipments.

Both are the heavy reads (every order or shipment of the window, with its
shipments). Computed for the live clock, each is kept in the cache like the
figures, so a page asking for the key figures and then the charts reads them
once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import TruncDate
from django.db.models.lookups import LessThanOrEqual

from inventory.models import Warehouse
from shipping.models import CarrierService, Shipment, Vendor

from ..returns.selectors import SHIPPED as SHIPPED_SHIPMENT_STATUSES
from . import rollups
from .caching import cached
from .facts import (
    between,
    day,
    flag,
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


def shipped_summary(
    period: Period, window: Window, *, from_rollups: bool | None = None, share: bool = False, fresh: bool = False
) -> ShippedSummary:
    """The shipped orders summed in one query, from the day rollups when ``from_rollups`` (None: when
    ``rollups.readable``, asked only if computed), else from the facts; kept in the cache when ``share``."""

    def compute() -> ShippedSummary:
        readable = rollups.readable(period) if from_rollups is None else from_rollups
        return _shipped_summary(period, window, readable)

    if share:
        return cached("shipped", period, compute, fresh=fresh)
    return compute()


def shipment_counts(
    period: Period, window: Window, *, share: bool = False, fresh: bool = False
) -> tuple[ShipmentCounts, ...]:
    """Shipments shipped and delivered within the window by warehouse and vendor, in one query; kept when ``share``."""
    if share:
        return cached("shipments", period, lambda: _shipment_counts(period, window), fresh=fresh)
    return _shipment_counts(period, window)


def _shipped_summary(period: Period, window: Window, from_rollups: bool) -> ShippedSummary:
    if from_rollups:
        return _shipped_from_rollups(period, window)
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
    # Two groupings of the rows: all (with the percentiles), and by day and currency. The currencies' groups are
    # the days' summed: every figure of theirs adds up, and a third grouping cost a pass over the rows (90 ms of a
    # quarter of a million).
    found = summarise(
        rows,
        measures,
        groupings=(("all", ()), ("day", ("ship_day", "currency"))),
        overall_only=[name for name in measures if name in ("median", "p90") or name.startswith("bucket_")],
    )
    by_day = {(day(row["ship_day"]), row["currency"]): _shipped_group(row) for row in found["day"]}
    return ShippedSummary(
        overall=_shipped_group(found["all"][0], money_too=False),
        by_currency=_summed_by_currency(by_day),
        by_day=by_day,
    )


def _shipped_from_rollups(period: Period, window: Window) -> ShippedSummary:
    """The same summary from the day rollups (``rollups``): the rows by day and currency, and by whole hour,
    in one statement; the percentiles and hour buckets from the hours' counts."""
    found = summarise(
        rollups.shipped_rows(period, window),
        {
            "orders": total("orders"),
            "on_time": total("on_time"),
            "split": total("split"),
            "cost": total("shipping_cost"),
            "revenue": total("revenue"),
        },
        groupings=(("day", ("day", "currency")), ("hours", ("hours",))),
    )
    by_day = {
        (day(row["day"]), row["currency"]): _shipped_group(row | {"median": None, "p90": None}, buckets=False)
        for row in found["day"]
        if row["orders"]
    }
    counts = {int(row["hours"]): int(row["orders"]) for row in found["hours"] if row["orders"]}
    overall = ShippedGroup(
        orders=sum(counts.values()),
        on_time=sum(group.on_time for group in by_day.values()),
        split=sum(group.split for group in by_day.values()),
        cost=None,
        revenue=None,
        median_hours=hours(rollups.percentile_of(counts, 0.5)),
        p90_hours=hours(rollups.percentile_of(counts, 0.9)),
        buckets=tuple(
            sum(n for value, n in counts.items() if value >= low and (high is None or value < high))
            for _, low, high in SHIP_HOUR_BUCKETS
        ),
    )
    return ShippedSummary(overall=overall, by_currency=_summed_by_currency(by_day), by_day=by_day)


def _summed_by_currency(by_day: dict[tuple, ShippedGroup]) -> dict[str, ShippedGroup]:
    """Each currency's group: its days' counts and amounts added up (no percentiles: nothing shows them)."""
    sums: dict[str, list] = {}
    for (_, currency), group in sorted(by_day.items(), key=lambda item: (item[0][1], item[0][0])):
        summed = sums.setdefault(currency, [0, 0, 0, Decimal("0.00"), Decimal("0.00")])
        for index, value in enumerate((group.orders, group.on_time, group.split, group.cost, group.revenue)):
            summed[index] += value
    return {
        currency: ShippedGroup(orders, on_time, split, cost, revenue, None, None, (0,) * len(SHIP_HOUR_BUCKETS))
        for currency, (orders, on_time, split, cost, revenue) in sums.items()
    }


def _shipped_group(row: dict, *, money_too: bool = True, buckets: bool = True) -> ShippedGroup:
    if not buckets:
        row = row | {f"bucket_{index}": 0 for index in range(len(SHIP_HOUR_BUCKETS))}
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
    scope = Shipment.objects.filter(shipment_scope(period)).order_by()
    # Two populations, each counted from its own index alone on PostgreSQL (shipping's covering indexes on
    # shipped_at and delivered_at): one statement over both (an OR of the two ranges) read every shipment row and
    # its order, 0.7 s for a busy week of a million orders. Rows counted (COUNT(*), a SUM of flags), not
    # ids: the id is not in the indexes.
    # A delivery is on time by the shipment's copy of its order's promised date, written with the shipment
    # (bench/README.md, the cockpit).
    shipped = (
        scope.filter(in_window("shipped_at", window), status__in=SHIPPED_SHIPMENT_STATUSES)
        .values("warehouse_id", "service_id")
        .annotate(
            count=Count("*"),
            on_time=Sum(
                flag(Q(ship_date__isnull=True) | Q(LessThanOrEqual(TruncDate("shipped_at", tzinfo=tz), F("ship_date"))))
            ),
        )
    )
    delivered = (
        scope.filter(in_window("delivered_at", window))
        .values("warehouse_id", "service_id")
        .annotate(
            count=Count("*"),
            on_time=Sum(
                flag(
                    Q(promised_date__isnull=True)
                    | Q(LessThanOrEqual(TruncDate("delivered_at", tzinfo=tz), F("promised_date")))
                )
            ),
        )
    )
    # One statement: the two counts side by side, then named (grouping the shipments by the codes and names
    # themselves would sort each with its text).
    both = shipped.annotate(delivery=Value(0)).union(delivered.annotate(delivery=Value(1)), all=True)
    inner, params = both.query.sql_with_params()
    quote = connection.ops.quote_name
    warehouses, services, vendors = (quote(model._meta.db_table) for model in (Warehouse, CarrierService, Vendor))
    sql = (
        f"SELECT w.{quote('code')}, v.{quote('name')}, c.{quote('delivery')}, c.{quote('count')}, "
        f"c.{quote('on_time')} FROM ({inner}) c "
        f"JOIN {warehouses} w ON w.{quote('id')} = c.{quote('warehouse_id')} "
        f"LEFT JOIN {services} s ON s.{quote('id')} = c.{quote('service_id')} "
        f"LEFT JOIN {vendors} v ON v.{quote('id')} = s.{quote('vendor_id')}"
    )
    totals: dict[tuple[str, str | None], list[int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for warehouse, vendor, delivery, count, on_time in cursor.fetchall():
            summed = totals.setdefault((warehouse, vendor), [0, 0, 0, 0])
            summed[2 * delivery] += count
            summed[2 * delivery + 1] += on_time
    return tuple(
        ShipmentCounts(warehouse, vendor, *counts)
        for (warehouse, vendor), counts in sorted(totals.items(), key=lambda item: (item[0][0], item[0][1] or ""))
    )
