"""The console list behind each figure: a changelist's URL name and the query parameters that make its
count the figure's.

The parameters are the lists' own filters: their everyday ones (status,
channel, warehouse, reason, the date ranges) and those the cockpit's figures
need (``orders/admin/cockpit_filters.py`` for the order list,
``orders.cockpit.filters`` for the rest), each counting what ``facts`` counts.
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


@dataclass(frozen=True)
class ListLink:
    """A console list: ``reverse(url_name)`` with ``params``; its count is the figure it stands beside."""

    url_name: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        path = reverse(self.url_name)
        return f"{path}?{urlencode(self.params)}" if self.params else path

    def as_data(self) -> dict:
        return {"url_name": self.url_name, "params": dict(self.params), "url": self.url}


def days(prefix: str, window: Window) -> dict[str, str]:
    """A date-range filter's parameters (django-admin-rangefilter's names) for the window's local days."""
    return {f"{prefix}__range__gte": window.first_day.isoformat(), f"{prefix}__range__lte": window.last_day.isoformat()}


def instants(prefix: str, window: Window) -> dict[str, str]:
    """An instant range's parameters (``<prefix>__gte``, ``<prefix>__lt``, ISO 8601): a window that may end
    within a day (the previous period of "today" ends at this time of day yesterday)."""
    return {f"{prefix}__gte": window.start.isoformat(), f"{prefix}__lt": window.end.isoformat()}


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
