"""The cockpit's key figures for a period and filter, in a constant number of queries (ten; nine for a warehouse).

What each figure counts (populations in ``facts``; "the window" is the period's
instants, ``Period.windows``):

- **orders placed**: orders placed within the window, whatever became of
  them; beside it the previous period's.
- **revenue**: the grand totals (as placed: goods, shipping and tax charged,
  less discounts) of the orders placed within the window and not cancelled,
  per currency; beside it the previous period's.
- **awaiting fulfilment**: open orders now (received, allocated,
  backordered, on hold, partially shipped) by age, now minus placed: under 1
  day, 1 to 2, 2 to 3, 3 days and more.
- **late** and **at risk**: ``orders.selectors.filter_late`` and
  ``filter_at_risk`` now: open orders whose promised delivery date has passed;
  open orders promised from today to ``ORDER_AT_RISK_HOURS`` ahead.
- **backorders**, **on hold**: orders in that status now; holds by why the
  current hold was put on (its timeline entry): a credit rule, the payment
  (declined, the gateway failing, or not tried), an operator, or other.
- **on-time ship rate**: of the shipped orders (goods all left, last
  shipment left within the window), those none of whose shipments left on a
  later local day than its planned pickup day (``Shipment.ship_date``, the
  ship-by date the carrier choice planned); a shipment with no planned day
  cannot be late.
- **on-time delivery rate**: of the delivered orders (last shipment arrived
  within the window), those whose last arrival's local day is on or before
  the promised delivery date (``Order.promised_date``); an order with no
  promised date cannot be late.
- **time to ship / to delivery**: median and 90th percentile
  (``percentile_cont``: linear between the nearest orders) of the whole hours
  (rounded down) from placed to the last shipment leaving, over the shipped
  orders; to the last arrival, over the delivered orders. Whole hours because
  the day rollups count orders by them (``orders.services.cockpit_rollups``):
  each figure is at most an hour under the percentile of the exact times, and
  exact when the times are whole hours.
- **split-shipment rate**: of the shipped orders, those with more than one
  shipment that is not cancelled.
- **returns rate**: returns (RMAs) opened within the window, whatever became
  of them, over the delivered orders; the reasons they were opened for, most
  frequent first.
- **order-error rate**: order errors opened within the window over the
  shipments handed to a carrier within it, overall and by root cause (as the
  error-rate report counts them, ``orders.returns.selectors.error_report``).
- **low stock**: stock levels (a SKU at a warehouse) with a reorder point
  set and on hand at or below it, in active warehouses (as the daily
  inventory check finds them); the channel filter does not apply to stock.
- **shipping cost**: per currency, what the shipped orders' shipments (not
  cancelled) cost, per shipped order, and as a share of those orders' grand
  totals.

"Now" figures (awaiting, late, at risk, backorders, holds, low stock) are the
queue as it stands; the others belong to the window. The channel and
warehouse filters apply to every figure (see ``facts`` for what a warehouse
keeps).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from inventory.models import StockLevel

from .. import selectors
from ..models import OPEN_STATUSES, Order, OrderStatus
from ..returns.models import OrderErrorCase, ReturnReason, ReturnRequest
from . import links, rollups
from .caching import cached
from .data import fields_as_data, plain
from .facts import (
    CENT,
    HOLD_REASONS,
    age_between,
    current_hold_reason,
    delivered_orders,
    hours,
    in_window,
    money,
    order_scope,
    percent,
    percentile,
    rows_counted,
    summarise,
    total,
    without_jit,
)
from .links import ListLink
from .periods import Period, Window
from .summaries import ShippedGroup, ShippedSummary, shipment_counts, shipped_summary

# Age of an open order, now minus placed: (key, label, from days, to days); the last has no end.
AGE_BUCKETS = (
    ("0-1", "Under 1 day", 0, 1),
    ("1-2", "1–2 days", 1, 2),
    ("2-3", "2–3 days", 2, 3),
    ("3+", "3 days and more", 3, None),
)
NOT_CANCELLED = tuple(status for status in OrderStatus.values if status != OrderStatus.CANCELLED)


@dataclass(frozen=True)
class Figure:
    """A count, the console list whose count it is, and where compared the previous period's count."""

    value: int
    link: ListLink | None = None
    previous: int | None = None
    previous_link: ListLink | None = None  # the previous period's orders, where there is a previous count


@dataclass(frozen=True)
class Amount:
    """Money in one currency, the period's and the previous period's; the list of the orders summed."""

    currency: str
    value: Decimal
    previous: Decimal
    link: ListLink | None = None
    previous_link: ListLink | None = None


@dataclass(frozen=True)
class Rate:
    """``numerator`` of ``denominator``, each with its list; ``misses`` (denominator - numerator) where they
    are what ops look for (the late ones of an on-time rate)."""

    numerator: int
    denominator: int
    numerator_link: ListLink | None = None
    denominator_link: ListLink | None = None
    misses: Figure | None = None

    @property
    def percent(self) -> Decimal | None:
        """In percent to one decimal (half up); None when there is nothing to divide by."""
        return percent(self.numerator, self.denominator)

    def as_data(self) -> dict:
        return fields_as_data(self, "percent")


@dataclass(frozen=True)
class Part:
    """One slice of a breakdown (an age bucket, a hold reason, a return reason, an error cause)."""

    key: str
    label: str
    value: Figure | Rate


@dataclass(frozen=True)
class Percentiles:
    """Median and 90th percentile of hours over ``orders`` orders (None when there are none)."""

    orders: int
    median_hours: float | None
    p90_hours: float | None
    link: ListLink | None = None


@dataclass(frozen=True)
class ShippingCost:
    """What the shipped orders of one currency cost to ship, against what they were sold for."""

    currency: str
    orders: int
    cost: Decimal
    revenue: Decimal
    link: ListLink | None = None

    @property
    def per_order(self) -> Decimal | None:
        if not self.orders:
            return None
        return (self.cost / self.orders).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def share_of_revenue_percent(self) -> Decimal | None:
        return percent(self.cost, self.revenue)

    def as_data(self) -> dict:
        return fields_as_data(self, "per_order", "share_of_revenue_percent")


@dataclass(frozen=True)
class Kpis:
    """Every key figure of one period and filter (definitions: this module's docstring)."""

    period: Period
    window: Window
    previous_window: Window
    computed_at: dt.datetime
    orders_placed: Figure
    revenue: tuple[Amount, ...]
    awaiting_fulfilment: Figure
    awaiting_by_age: tuple[Part, ...]
    late: Figure
    at_risk: Figure
    backorders: Figure
    on_hold: Figure
    holds_by_reason: tuple[Part, ...]
    on_time_ship: Rate
    on_time_delivery: Rate
    time_to_ship: Percentiles
    time_to_delivery: Percentiles
    split_shipments: Rate
    returns_rate: Rate
    return_reasons: tuple[Part, ...]
    order_errors: Rate
    order_errors_by_cause: tuple[Part, ...]
    low_stock: Figure
    shipping_cost: tuple[ShippingCost, ...]

    def as_data(self) -> dict:
        """Everything as JSON-ready data: Decimals as strings, instants and days in ISO form, links with URLs."""
        return {name: plain(value) for name, value in vars(self).items()}


def kpis_for(period: Period, *, now: dt.datetime | None = None, fresh: bool = False) -> Kpis:
    """The period's key figures, from the cache when computed in the last ``COCKPIT_CACHE_SECONDS``.

    ``fresh`` computes them again; a given ``now`` (a clock other than the
    real one) always computes and never touches the cache. The two heavy reads
    (``summaries``) are kept too, for ``charts_for`` to find.
    """
    if now is not None:
        return _compute(period, now, share=False, fresh=False)
    return cached("kpis", period, lambda: _compute(period, timezone.now(), share=True, fresh=fresh), fresh=fresh)


def _compute(period: Period, now: dt.datetime, *, share: bool, fresh: bool) -> Kpis:
    with without_jit():
        return _figures(period, now, share=share, fresh=fresh)


def _figures(period: Period, now: dt.datetime, *, share: bool, fresh: bool) -> Kpis:
    window, previous = period.windows(now)
    placed, revenue = _placed(period, window, previous)
    awaiting, by_age, late, at_risk, backorders, on_hold = _open_orders(period, now)
    shipped_link = links.orders(period, links.days("shipped", window))
    delivered_link = links.orders(period, links.days("delivered", window))
    from_rollups = rollups.readable(period)
    shipped = shipped_summary(period, window, from_rollups=from_rollups, share=share, fresh=fresh)
    delivered = _delivered(period, window, delivered_link, from_rollups=from_rollups)
    shipments_shipped = sum(counts.shipped for counts in shipment_counts(period, window, share=share, fresh=fresh))
    return_reasons, returns_opened = _returns(period, window)
    errors_by_cause, errors = _order_errors(period, window, shipments_shipped)
    return Kpis(
        period=period,
        window=window,
        previous_window=previous,
        computed_at=now,
        orders_placed=placed,
        revenue=revenue,
        awaiting_fulfilment=awaiting,
        awaiting_by_age=by_age,
        late=late,
        at_risk=at_risk,
        backorders=backorders,
        on_hold=on_hold,
        holds_by_reason=_holds(period),
        on_time_ship=_on_time_ship(shipped.overall, shipped_link),
        on_time_delivery=delivered["on_time"],
        time_to_ship=Percentiles(
            shipped.overall.orders, shipped.overall.median_hours, shipped.overall.p90_hours, shipped_link
        ),
        time_to_delivery=delivered["hours"],
        split_shipments=Rate(
            numerator=shipped.overall.split,
            denominator=shipped.overall.orders,
            numerator_link=_with(shipped_link, shipments="split"),
            denominator_link=shipped_link,
        ),
        returns_rate=Rate(
            numerator=returns_opened,
            denominator=delivered["count"],
            numerator_link=links.returns(period, links.days("created_at", window)),
            denominator_link=delivered_link,
        ),
        return_reasons=return_reasons,
        order_errors=errors,
        order_errors_by_cause=errors_by_cause,
        low_stock=_low_stock(period),
        shipping_cost=_shipping_cost(period, window, shipped),
    )


def _placed(period: Period, window: Window, previous: Window) -> tuple[Figure, tuple[Amount, ...]]:
    """Orders placed and revenue, this period and the previous one, by currency: one query."""
    now_q, before_q = in_window("placed_at", window), in_window("placed_at", previous)
    kept = ~Q(status=OrderStatus.CANCELLED)
    rows = (
        Order.objects.filter(order_scope(period), placed_at__gte=previous.start, placed_at__lt=window.end)
        .order_by()
        .values("currency")
        .annotate(
            placed=Count("pk", filter=now_q),
            placed_before=Count("pk", filter=before_q),
            revenue=Sum("grand_total", filter=now_q & kept),
            revenue_before=Sum("grand_total", filter=before_q & kept),
        )
    )
    rows = sorted(rows, key=lambda row: row["currency"])
    placed_days = links.days("placed_at", window)
    placed_before = links.instants("placed", previous)
    figure = Figure(
        value=sum(row["placed"] for row in rows),
        previous=sum(row["placed_before"] for row in rows),
        link=links.orders(period, placed_days),
        previous_link=links.orders(period, placed_before),
    )
    revenue = tuple(
        Amount(
            currency=row["currency"],
            value=money(row["revenue"]),
            previous=money(row["revenue_before"]),
            link=links.orders(
                period,
                {**placed_days, "status__in": ",".join(NOT_CANCELLED), "currency__exact": row["currency"]},
            ),
            previous_link=links.orders(
                period,
                {**placed_before, "status__in": ",".join(NOT_CANCELLED), "currency__exact": row["currency"]},
            ),
        )
        for row in rows
        if row["revenue"] is not None or row["revenue_before"] is not None
    )
    return figure, revenue


def _open_orders(period: Period, now: dt.datetime):
    """The open orders now: how many, by age, late, at risk, backordered, on hold: one query."""
    late = selectors.filter_late(Order.objects.all(), now).values("pk")
    at_risk = selectors.filter_at_risk(Order.objects.all(), now).values("pk")
    counts = Order.objects.filter(order_scope(period), status__in=OPEN_STATUSES).aggregate(
        total=Count("pk"),
        late=Count("pk", filter=Q(pk__in=late)),
        at_risk=Count("pk", filter=Q(pk__in=at_risk)),
        backordered=Count("pk", filter=Q(status=OrderStatus.BACKORDERED)),
        on_hold=Count("pk", filter=Q(status=OrderStatus.ON_HOLD)),
        **{f"age_{key}": Count("pk", filter=age_between(now, low, high)) for key, _, low, high in AGE_BUCKETS},
    )
    awaiting = Figure(counts["total"], links.orders(period, {"status__in": ",".join(sorted(OPEN_STATUSES))}))
    by_age = tuple(
        Part(key, label, Figure(counts[f"age_{key}"], links.orders(period, {"backlog_age": key})))
        for key, label, _, _ in AGE_BUCKETS
    )
    return (
        awaiting,
        by_age,
        Figure(counts["late"], links.orders(period, {"promise": "late"})),
        Figure(counts["at_risk"], links.orders(period, {"promise": "at_risk"})),
        Figure(counts["backordered"], links.orders(period, {"status__exact": OrderStatus.BACKORDERED})),
        Figure(counts["on_hold"], links.orders(period, {"status__exact": OrderStatus.ON_HOLD})),
    )


def _holds(period: Period) -> tuple[Part, ...]:
    """Orders on hold now by why their current hold (the latest entry putting them on hold) was put on."""
    counts = dict(
        Order.objects.filter(order_scope(period), status=OrderStatus.ON_HOLD)
        .order_by()
        .annotate(hold_reason=current_hold_reason())
        .values("hold_reason")
        .annotate(orders=Count("pk"))
        .values_list("hold_reason", "orders")
    )
    return tuple(
        Part(
            key,
            label,
            Figure(
                counts.get(key, 0),
                links.orders(period, {"status__exact": OrderStatus.ON_HOLD, "hold_reason": key}),
            ),
        )
        for key, label in HOLD_REASONS
    )


def _on_time_ship(shipped: ShippedGroup, link: ListLink) -> Rate:
    return Rate(
        numerator=shipped.on_time,
        denominator=shipped.orders,
        numerator_link=_with(link, ship_by="on_time"),
        denominator_link=link,
        misses=Figure(shipped.orders - shipped.on_time, _with(link, ship_by="late")),
    )


def _delivered(period: Period, window: Window, link: ListLink, *, from_rollups: bool) -> dict:
    """On-time delivery rate and time to delivery over the delivered orders: one query."""
    if from_rollups:
        found = summarise(
            rollups.delivered_rows(period, window),
            {"orders": total("orders"), "on_time": total("on_time")},
            groupings=(("hours", ("hours",)),),
        )["hours"]
        counts = {int(row["hours"]): int(row["orders"]) for row in found if row["orders"]}
        row = {
            "orders": sum(counts.values()),
            "on_time": sum(int(row["on_time"] or 0) for row in found),
            "median": rollups.percentile_of(counts, 0.5),
            "p90": rollups.percentile_of(counts, 0.9),
        }
    else:
        rows = delivered_orders(period, window).values("delivery_hours", "on_time")
        row = summarise(
            rows,
            {
                "orders": rows_counted(),
                "on_time": total("on_time"),
                "median": percentile("delivery_hours", 0.5),
                "p90": percentile("delivery_hours", 0.9),
            },
        )["all"][0]
    count, on_time = row["orders"], int(row["on_time"] or 0)
    return {
        "count": count,
        "on_time": Rate(
            numerator=on_time,
            denominator=count,
            numerator_link=_with(link, delivery_promise="on_time"),
            denominator_link=link,
            misses=Figure(count - on_time, _with(link, delivery_promise="late")),
        ),
        "hours": Percentiles(count, hours(row["median"]), hours(row["p90"]), link),
    }


def _returns(period: Period, window: Window) -> tuple[tuple[Part, ...], int]:
    """Returns opened within the window by reason, most first: one query."""
    counts = dict(
        ReturnRequest.objects.filter(
            order_scope(period, order_ref="order_id", channel_field="order__channel_id"),
            in_window("created_at", window),
        )
        .order_by()
        .values("reason")
        .annotate(returns=Count("pk"))
        .values_list("reason", "returns")
    )
    opened = links.days("created_at", window)
    labels = dict(ReturnReason.choices)
    parts = tuple(
        Part(
            reason,
            str(labels.get(reason, reason)),
            Figure(count, links.returns(period, {**opened, "reason__exact": reason})),
        )
        for reason, count in sorted(counts.items(), key=lambda item: (-item[1], str(labels.get(item[0], item[0]))))
    )
    return parts, sum(counts.values())


def _order_errors(period: Period, window: Window, shipments: int) -> tuple[tuple[Part, ...], Rate]:
    """Order errors opened within the window by root cause, over the shipments shipped: one query."""
    scope = Q(in_window("created_at", window))
    if period.channel_id is not None:
        scope &= Q(order__channel_id=period.channel_id)
    if period.warehouse_id is not None:
        scope &= Q(warehouse_id=period.warehouse_id)
    counts = dict(
        OrderErrorCase.objects.filter(scope)
        .order_by()
        .values("root_cause")
        .annotate(errors=Count("pk"))
        .values_list("root_cause", "errors")
    )
    opened = links.days("created_at", window)
    shipped_link = links.shipments(period, links.days("shipped_at", window))
    by_cause = tuple(
        Part(
            cause,
            str(label),
            Rate(
                numerator=counts.get(cause, 0),
                denominator=shipments,
                numerator_link=links.order_errors(period, {**opened, "root_cause__exact": cause}),
                denominator_link=shipped_link,
            ),
        )
        for cause, label in OrderErrorCase.RootCause.choices
    )
    overall = Rate(
        numerator=sum(counts.values()),
        denominator=shipments,
        numerator_link=links.order_errors(period, opened),
        denominator_link=shipped_link,
    )
    return by_cause, overall


def _low_stock(period: Period) -> Figure:
    levels = StockLevel.objects.filter(reorder_point__gt=0, on_hand__lte=F("reorder_point"), warehouse__is_active=True)
    if period.warehouse_id is not None:
        levels = levels.filter(warehouse_id=period.warehouse_id)
    # The stock list's "low" is at or under the reorder point, set or not: the figure's are those with one set.
    return Figure(
        levels.count(),
        links.stock_levels(period, {"stock": "low", "reorder_point__gt": "0", "warehouse__is_active__exact": "1"}),
    )


def _shipping_cost(period: Period, window: Window, shipped: ShippedSummary) -> tuple[ShippingCost, ...]:
    """The shipped orders' shipping cost and grand totals by currency (from the shipped orders' summary)."""
    days = links.days("shipped", window)
    return tuple(
        ShippingCost(
            currency=currency,
            orders=group.orders,
            cost=group.cost,
            revenue=group.revenue,
            link=links.orders(period, {**days, "currency__exact": currency}),
        )
        for currency, group in sorted(shipped.by_currency.items())
    )


def _with(link: ListLink, **params: str) -> ListLink:
    return ListLink(link.url_name, {**link.params, **params})
