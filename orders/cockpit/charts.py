"""The cockpit's chart series: plain labels and datasets a Chart.js page and a CSV export both take.

Each chart reads the populations the key figures read (``facts``), so its
bars add up to the figure beside it. Four queries for them all: orders per
day, the backlog, and the two summaries the key figures read too
(``summaries``: shared through the cache with them on the live clock); a
fifth, without a warehouse filter and when the shipped orders are read,
asks whether the day rollups can serve (``rollups.readable``).

- **orders per day by channel**: orders placed on each local day of the
  window, one dataset per channel.
- **time to ship**: the shipped orders by whole hours (rounded down) from
  placed to the last shipment leaving, in buckets (the lower bound included).
- **on-time rate by warehouse / by vendor**: per shipment, not per order:
  shipments handed to a carrier within the window that left on or before
  their planned pickup day (a shipment without one counts as on time), and
  shipments that arrived within the window on or before their order's
  promised date (none promised: on time), in percent, with the counts.
- **shipping cost per order by day**: the shipped orders by the local day
  their last shipment left: their shipments' cost over their number, one
  dataset per currency (None on a day without any).
- **backlog age**: the open orders now by age (now minus placed), one
  dataset per status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from ..models import OPEN_STATUSES, Order, OrderStatus
from .caching import cached
from .data import fields_as_data
from .facts import (
    CENT,
    age_between,
    in_window,
    order_scope,
    percent,
    without_jit,
)
from .periods import Period, Window, local_timezone
from .summaries import SHIP_HOUR_BUCKETS, ShipmentCounts, ShippedSummary, shipment_counts, shipped_summary

# Age of an open order in days: (key, label, from, to); the last has no end.
BACKLOG_BUCKETS = (
    ("0-1", "Under 1 day", 0, 1),
    ("1-2", "1–2 days", 1, 2),
    ("2-3", "2–3 days", 2, 3),
    ("3-5", "3–5 days", 3, 5),
    ("5-7", "5–7 days", 5, 7),
    ("7+", "7 days and more", 7, None),
)
# The open statuses in the order work moves through them.
OPEN_IN_ORDER = tuple(status for status in OrderStatus.values if status in OPEN_STATUSES)


@dataclass(frozen=True)
class Dataset:
    """One series: a value per label (None where there is nothing to show), in ``unit``."""

    key: str
    label: str
    unit: str
    data: tuple

    @property
    def heading(self) -> str:
        """The label with its unit, unless the label names it already: a CSV column's heading."""
        return self.label if f"({self.unit})" in self.label else f"{self.label} ({self.unit})"


@dataclass(frozen=True)
class Chart:
    """A chart as data: ``labels`` along the x axis, ``datasets`` the series over them."""

    key: str
    title: str
    kind: str  # Chart.js's type: "bar" or "line"
    labels: tuple[str, ...]
    datasets: tuple[Dataset, ...]

    def chartjs(self) -> dict:
        """Chart.js's ``{type, data: {labels, datasets}}``: numbers for drawing (money as floats, display only);
        a second unit goes on a second y axis (``y1``)."""
        units = list(dict.fromkeys(dataset.unit for dataset in self.datasets))
        return {
            "type": self.kind,
            "data": {
                "labels": list(self.labels),
                "datasets": [
                    {
                        "label": dataset.label,
                        "data": [None if value is None else float(value) for value in dataset.data],
                        "yAxisID": "y" if units.index(dataset.unit) == 0 else "y1",
                    }
                    for dataset in self.datasets
                ],
            },
        }

    def csv_rows(self) -> list[list[str]]:
        """A header (the chart's title, then each dataset's heading) and a row per label; blanks for None."""
        header = [self.title, *(dataset.heading for dataset in self.datasets)]
        rows = [header]
        for index, label in enumerate(self.labels):
            values = [dataset.data[index] for dataset in self.datasets]
            rows.append([label, *("" if value is None else str(value) for value in values)])
        return rows

    def as_data(self) -> dict:
        return fields_as_data(self)


def charts_for(period: Period, *, now: dt.datetime | None = None, fresh: bool = False) -> dict[str, Chart]:
    """Every cockpit chart for the period, by key, from the cache when recent (as ``kpis_for``)."""
    if now is not None:
        return _all(period, now, share=False, fresh=False)
    return cached("charts", period, lambda: _all(period, timezone.now(), share=True, fresh=fresh), fresh=fresh)


def _all(period: Period, now: dt.datetime, *, share: bool, fresh: bool) -> dict[str, Chart]:
    window, _ = period.windows(now)
    with without_jit():
        shipped = shipped_summary(period, window, share=share, fresh=fresh)
        shipments = shipment_counts(period, window, share=share, fresh=fresh)
        charts = (
            orders_per_day(period, window),
            time_to_ship(shipped),
            on_time_by(shipments, "warehouse"),
            on_time_by(shipments, "vendor"),
            shipping_cost_per_day(shipped, window),
            backlog_age(period, now),
        )
    return {chart.key: chart for chart in charts}


def orders_per_day(period: Period, window: Window) -> Chart:
    """Orders placed on each local day, a dataset per channel that placed any: one query."""
    rows = (
        Order.objects.filter(order_scope(period), in_window("placed_at", window))
        .order_by()
        .annotate(day=TruncDate("placed_at", tzinfo=local_timezone()))
        .values("day", "channel_id", "channel__name")
        .annotate(orders=Count("pk"))
    )
    days = window.days
    counts: dict[tuple[str, int], dict[dt.date, int]] = {}
    for row in rows:
        counts.setdefault((row["channel__name"], row["channel_id"]), {})[row["day"]] = row["orders"]
    datasets = tuple(
        Dataset(f"channel-{channel_id}", name, "orders", tuple(by_day.get(d, 0) for d in days))
        for (name, channel_id), by_day in sorted(counts.items())
    )
    return Chart("orders_per_day", "Orders per day by channel", "bar", _day_labels(days), datasets)


def time_to_ship(shipped: ShippedSummary) -> Chart:
    """The shipped orders by hours from placed to their last shipment leaving (from their summary)."""
    return Chart(
        "time_to_ship",
        "Time to ship",
        "bar",
        tuple(label for label, _, _ in SHIP_HOUR_BUCKETS),
        (Dataset("orders", "Shipped orders", "orders", shipped.overall.buckets),),
    )


ON_TIME_BY = {"warehouse": "On-time rate by warehouse", "vendor": "On-time rate by vendor"}


def on_time_by(shipments: tuple[ShipmentCounts, ...], grouping: str) -> Chart:
    """On-time ship and delivery rates per shipment, by warehouse or by vendor (from the shipments' counts)."""
    totals: dict[str, list[int]] = {}
    for counts in shipments:
        label = counts.warehouse if grouping == "warehouse" else counts.vendor or "No service"
        summed = totals.setdefault(label, [0, 0, 0, 0])
        for index, value in enumerate(
            (counts.shipped, counts.shipped_on_time, counts.delivered, counts.delivered_on_time)
        ):
            summed[index] += value
    labels = tuple(sorted(totals))
    rows = [totals[label] for label in labels]
    return Chart(
        f"on_time_by_{grouping}",
        ON_TIME_BY[grouping],
        "bar",
        labels,
        (
            Dataset("ship", "Left by the planned pickup day", "%", tuple(percent(r[1], r[0]) for r in rows)),
            Dataset("delivery", "Arrived by the promised date", "%", tuple(percent(r[3], r[2]) for r in rows)),
            Dataset("shipped", "Shipments shipped", "shipments", tuple(r[0] for r in rows)),
            Dataset("delivered", "Shipments delivered", "shipments", tuple(r[2] for r in rows)),
        ),
    )


def shipping_cost_per_day(shipped: ShippedSummary, window: Window) -> Chart:
    """Shipping cost per shipped order by the local day the orders' last shipment left, per currency (from the
    shipped orders' summary; None on a day without any)."""
    days = window.days
    per_order: dict[str, dict[dt.date, Decimal]] = {}
    for (shipped_on, currency), group in shipped.by_day.items():
        per_order.setdefault(currency, {})[shipped_on] = (group.cost / group.orders).quantize(
            CENT, rounding=ROUND_HALF_UP
        )
    datasets = tuple(
        Dataset(currency, f"Shipping cost per order ({currency})", currency, tuple(by_day.get(d) for d in days))
        for currency, by_day in sorted(per_order.items())
    )
    return Chart("shipping_cost_per_day", "Shipping cost per order", "line", _day_labels(days), datasets)


def backlog_age(period: Period, now: dt.datetime) -> Chart:
    """The open orders now by age, a dataset per status: one query."""
    rows = {
        row["status"]: row
        for row in Order.objects.filter(order_scope(period), status__in=OPEN_STATUSES)
        .order_by()
        .values("status")
        .annotate(
            **{
                f"age_{index}": Count("pk", filter=age_between(now, low, high))
                for index, (_, _, low, high) in enumerate(BACKLOG_BUCKETS)
            }
        )
    }
    datasets = tuple(
        Dataset(
            status,
            str(OrderStatus(status).label),
            "orders",
            tuple(rows.get(status, {}).get(f"age_{index}", 0) for index in range(len(BACKLOG_BUCKETS))),
        )
        for status in OPEN_IN_ORDER
    )
    return Chart("backlog_age", "Backlog age", "bar", tuple(label for _, label, _, _ in BACKLOG_BUCKETS), datasets)


def _day_labels(days: list[dt.date]) -> tuple[str, ...]:
    return tuple(d.isoformat() for d in days)
