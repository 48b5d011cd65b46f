"""The console list behind each figure: a changelist's URL name and the query parameters that make its
count the figure's.

The parameters are the lists' own filters. Where a list has no filter for what
a figure counts yet, the link names the parameter it needs all the same, and
``ListLink.missing`` says which ones the list does not serve: ``NOT_YET_FILTERS``
is that table, one place to shrink as the lists gain filters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.urls import reverse

from .periods import Period, Window

ORDERS = "admin:orders_order_changelist"
SHIPMENTS = "admin:shipping_shipment_changelist"
RETURNS = "admin:returns_returnrequest_changelist"
ORDER_ERRORS = "admin:returns_ordererrorcase_changelist"
STOCK_LEVELS = "admin:inventory_stocklevel_changelist"

# Parameters (``name``, or ``name=value`` where the filter exists but lacks the value) that a list does not
# filter on yet, with what each must mean.
NOT_YET_FILTERS: dict[str, frozenset[str]] = {
    ORDERS: frozenset(
        {
            # Django's changelist takes a lookup on the order's own field, but no list filter offers it.
            "status__in",
            "currency__exact",
            # orders with a shipment (not cancelled) from the warehouse, or stock reserved there
            "warehouse",
            # open orders by age (now - placed): 0-1, 1-2, 2-3, 3+ days
            "backlog_age",
            # orders on hold by why their current hold was put on: credit_check, payment, operator, other
            "hold_reason",
            # shipped or delivered orders whose last shipment left on these local days
            "shipped__range__gte",
            "shipped__range__lte",
            # a shipment of the order left after its planned pickup day (late), or none did (on_time)
            "ship_by",
            # delivered orders whose last shipment arrived on these local days
            "delivered__range__gte",
            "delivered__range__lte",
            # delivered after the promised delivery date (late), or on or before it / none promised (on_time)
            "delivery_promise",
            # more than one shipment that is not cancelled
            "shipments",
        }
    ),
    SHIPMENTS: frozenset({"shipped_at__range__gte", "shipped_at__range__lte", "order__channel__id__exact"}),
    RETURNS: frozenset({"created_at__range__gte", "created_at__range__lte", "order_warehouse"}),
    ORDER_ERRORS: frozenset({"created_at__range__gte", "created_at__range__lte"}),
    STOCK_LEVELS: frozenset({"stock=below_reorder_point"}),
}


@dataclass(frozen=True)
class ListLink:
    """A console list: ``reverse(url_name)`` with ``params``; its count is the figure it stands beside."""

    url_name: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        path = reverse(self.url_name)
        return f"{path}?{urlencode(self.params)}" if self.params else path

    @property
    def missing(self) -> tuple[str, ...]:
        """The parameters the list does not filter on yet (until it does, its count is not the figure's)."""
        wanting = NOT_YET_FILTERS.get(self.url_name, frozenset())
        return tuple(
            sorted(name for name, value in self.params.items() if name in wanting or f"{name}={value}" in wanting)
        )

    @property
    def complete(self) -> bool:
        return not self.missing

    def as_data(self) -> dict:
        return {"url_name": self.url_name, "params": dict(self.params), "url": self.url, "missing": list(self.missing)}


def days(prefix: str, window: Window) -> dict[str, str]:
    """A date-range filter's parameters (django-admin-rangefilter's names) for the window's local days."""
    return {f"{prefix}__range__gte": window.first_day.isoformat(), f"{prefix}__range__lte": window.last_day.isoformat()}


def orders(period: Period, params: dict[str, str]) -> ListLink:
    scope = {}
    if period.channel_id is not None:
        scope["channel__id__exact"] = str(period.channel_id)
    if period.warehouse_id is not None:
        scope["warehouse"] = str(period.warehouse_id)
    return ListLink(ORDERS, {**params, **scope})


def shipments(period: Period, params: dict[str, str]) -> ListLink:
    scope = {}
    if period.channel_id is not None:
        scope["order__channel__id__exact"] = str(period.channel_id)
    if period.warehouse_id is not None:
        scope["warehouse__id__exact"] = str(period.warehouse_id)
    return ListLink(SHIPMENTS, {**params, **scope})


def returns(period: Period, params: dict[str, str]) -> ListLink:
    scope = {}
    if period.channel_id is not None:
        scope["order__channel__id__exact"] = str(period.channel_id)
    if period.warehouse_id is not None:
        scope["order_warehouse"] = str(period.warehouse_id)
    return ListLink(RETURNS, {**params, **scope})


def order_errors(period: Period, params: dict[str, str]) -> ListLink:
    scope = {}
    if period.channel_id is not None:
        scope["order__channel__id__exact"] = str(period.channel_id)
    if period.warehouse_id is not None:
        scope["warehouse__id__exact"] = str(period.warehouse_id)
    return ListLink(ORDER_ERRORS, {**params, **scope})


def stock_levels(period: Period, params: dict[str, str]) -> ListLink:
    """Stock is not a channel's: only the warehouse narrows it."""
    scope = {}
    if period.warehouse_id is not None:
        scope["warehouse__id__exact"] = str(period.warehouse_id)
    return ListLink(STOCK_LEVELS, {**params, **scope})
