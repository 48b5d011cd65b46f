"""Filters the order list takes so that every number on the cockpit links to the list behind it.

``COCKPIT_ORDER_FILTERS`` joins the order list's ``list_filter`` (order_list.py).
Two are everyday filters, in the sidebar always: why an order on hold is held,
and how long open orders have been open. The others show only while a link
from the cockpit narrows the list (``orders.cockpit.filters.CockpitFilter``):
what they keep, and "All" to lift them. Each condition is the one the
cockpit's figure counts (``orders.cockpit.facts``).
"""

from __future__ import annotations

from datetime import datetime

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Q
from django.utils import timezone

from ..cockpit import facts
from ..cockpit.filters import ChoiceFilter, CockpitFilter, DaysFilter, WarehouseScopeFilter
from ..cockpit.kpis import AGE_BUCKETS
from ..cockpit.periods import Window
from ..models import OPEN_STATUSES, OrderStatus


class HoldReasonFilter(admin.SimpleListFilter):
    """Orders on hold by why their current hold was put on (``hold_reason``)."""

    title = "hold reason"
    parameter_name = "hold_reason"

    def lookups(self, request, model_admin):
        return list(facts.HOLD_REASONS)

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value not in dict(facts.HOLD_REASONS):
            raise IncorrectLookupParameters(
                f"hold reason: {value!r} is not one of {', '.join(dict(facts.HOLD_REASONS))}"
            )
        return (
            queryset.filter(status=OrderStatus.ON_HOLD)
            .alias(current_hold_reason=facts.current_hold_reason())
            .filter(current_hold_reason=value)
        )


class BacklogAgeFilter(admin.SimpleListFilter):
    """Open orders by how long ago they were placed (``backlog_age``: 0-1, 1-2, 2-3, 3+ days)."""

    title = "open for"
    parameter_name = "backlog_age"

    def lookups(self, request, model_admin):
        return [(key, label) for key, label, _, _ in AGE_BUCKETS]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        bounds = {key: (low, high) for key, _, low, high in AGE_BUCKETS}
        if value not in bounds:
            raise IncorrectLookupParameters(f"open for: {value!r} is not one of {', '.join(bounds)}")
        return queryset.filter(facts.age_between(timezone.now(), *bounds[value]), status__in=OPEN_STATUSES)


class StatusInFilter(CockpitFilter):
    """Orders in any of several statuses (``status__in``: statuses separated by commas)."""

    title = "status (any of)"
    parameters = ("status__in",)

    def read(self, values):
        statuses = [status.strip() for status in values["status__in"].split(",") if status.strip()]
        unknown = [status for status in statuses if status not in OrderStatus.values]
        if not statuses or unknown:
            raise ValueError(f"{', '.join(unknown) or 'nothing'}: not a status ({', '.join(OrderStatus.values)})")
        words = ", ".join(str(OrderStatus(status).label) for status in statuses)
        return Q(status__in=statuses), words


class CurrencyFilter(CockpitFilter):
    """Orders in one currency (``currency__exact``: its ISO code)."""

    title = "currency"
    parameters = ("currency__exact",)

    def read(self, values):
        currency = values["currency__exact"].upper()
        if len(currency) != 3 or not currency.isalpha():
            raise ValueError(f"{currency!r} is not a currency code")
        return Q(currency=currency), currency


class ShippedDaysFilter(DaysFilter):
    """Orders whose goods have all left and whose last shipment left on these local days
    (``shipped__range__gte``, ``shipped__range__lte``)."""

    title = "last shipment left"
    name = "shipped"

    def condition(self, window: Window) -> Q:
        return facts.last_shipment_left_within(window)


class DeliveredDaysFilter(DaysFilter):
    """Delivered orders whose last shipment arrived on these local days
    (``delivered__range__gte``, ``delivered__range__lte``)."""

    title = "last shipment arrived"
    name = "delivered"

    def condition(self, window: Window) -> Q:
        return facts.last_arrival_within(window)


class ShipByFilter(ChoiceFilter):
    """A shipment left after its planned pickup day (``ship_by=late``), or some left and none late (``on_time``)."""

    title = "left by the planned pickup day"
    parameters = ("ship_by",)
    options = {"late": "A shipment left late", "on_time": "Every shipment left on time"}

    def condition(self, value):
        return facts.left_late() if value == "late" else facts.left_on_time()


class DeliveryPromiseFilter(ChoiceFilter):
    """Delivered after the promised date (``delivery_promise=late``), or on or before it / none promised
    (``on_time``)."""

    title = "delivered by the promised date"
    parameters = ("delivery_promise",)
    options = {"late": "Arrived after the promised date", "on_time": "Arrived by the promised date"}

    def condition(self, value):
        return facts.arrived_late() if value == "late" else facts.arrived_on_time()


class PlacedBetweenFilter(CockpitFilter):
    """Orders placed from the instant ``placed__gte`` up to, not including, ``placed__lt`` (ISO 8601 with an
    offset): the previous period's orders, which for "today" end at this time of day yesterday, not at a day's
    end as the date range's days do."""

    title = "placed"
    parameters = ("placed__gte", "placed__lt")

    def read(self, values):
        start, end = (_instant(values[name], name) for name in self.parameters)
        if end <= start:
            raise ValueError(f"{values['placed__lt']} is not after {values['placed__gte']}")
        local = timezone.localtime
        return Q(
            placed_at__gte=start, placed_at__lt=end
        ), f"{local(start):%Y-%m-%d %H:%M} to {local(end):%Y-%m-%d %H:%M}"


def _instant(value: str, name: str):
    moment = datetime.fromisoformat(value)
    if timezone.is_naive(moment):
        raise ValueError(f"{name}: {value!r} names no offset")
    return moment


class ShipmentsFilter(ChoiceFilter):
    """Orders with more than one shipment that is not cancelled (``shipments=split``)."""

    title = "shipments"
    parameters = ("shipments",)
    options = {"split": "More than one shipment"}

    def condition(self, value):
        return facts.split_shipments()


COCKPIT_ORDER_FILTERS: tuple = (
    PlacedBetweenFilter,
    HoldReasonFilter,
    BacklogAgeFilter,
    StatusInFilter,
    CurrencyFilter,
    WarehouseScopeFilter,
    ShippedDaysFilter,
    DeliveredDaysFilter,
    ShipByFilter,
    DeliveryPromiseFilter,
    ShipmentsFilter,
)
