"""The order list: its columns, filters, search and paging on millions of orders.

``OrderListMixin`` is the list half of ``OrderAdmin`` (orders.py); the order page is order_page.py.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from rangefilter.filters import DateRangeFilterBuilder

from oms_core.console import badge
from shipping.models import ShipmentStatus

from .. import selectors
from ..models import Order, OrderStatus
from .cockpit_filters import COCKPIT_ORDER_FILTERS

STATUS_COLOURS = {
    OrderStatus.RECEIVED: "#475569",
    OrderStatus.ALLOCATED: "#1d4ed8",
    OrderStatus.BACKORDERED: "#b45309",
    OrderStatus.ON_HOLD: "#b91c1c",
    OrderStatus.PARTIALLY_SHIPPED: "#7c3aed",
    OrderStatus.SHIPPED: "#0f766e",
    OrderStatus.DELIVERED: "#15803d",
    OrderStatus.CANCELLED: "#6b7280",
}


# Where an order's goods stand, for the list's fulfilment column: (key, words).
FULFILMENT_BY_STATUS = {
    OrderStatus.RECEIVED: ("not-reserved", "Not reserved yet"),
    OrderStatus.ALLOCATED: ("reserved", "Reserved"),
    OrderStatus.BACKORDERED: ("waiting-for-stock", "Waiting for stock"),
    OrderStatus.PARTIALLY_SHIPPED: ("partly-shipped", "Partly shipped"),
    OrderStatus.SHIPPED: ("shipped", "Shipped"),
    OrderStatus.DELIVERED: ("delivered", "Delivered"),
    OrderStatus.CANCELLED: ("cancelled", "—"),
}
FULFILMENT_BY_OPEN_SHIPMENT = {
    ShipmentStatus.AWAITING_LABEL: ("shipment-created", "Shipment created"),
    ShipmentStatus.LABEL_CREATED: ("label-bought", "Label bought"),
}


def fulfilment_stage(order: Order) -> tuple[str, str]:
    """Where the order's goods stand: its open shipment's step, else what its status says of the goods.

    Reads ``open_shipment_status`` (selectors.with_open_shipment_status). On hold: where it was held.
    """
    status = order.status
    if status == OrderStatus.ON_HOLD:
        status = order.held_from_status or OrderStatus.RECEIVED
    open_step = FULFILMENT_BY_OPEN_SHIPMENT.get(order.open_shipment_status)
    if open_step and status == OrderStatus.PARTIALLY_SHIPPED:
        return open_step[0], f"Partly shipped · {open_step[1].lower()}"
    if open_step and status not in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED):
        return open_step
    return FULFILMENT_BY_STATUS[status]


def status_badge(status: str) -> str:
    return badge(status, STATUS_COLOURS.get(status, "#475569"), OrderStatus(status).label)


class OrderChangeList(ChangeList):
    """The order list: the page's rows learn where their shipments stand in one more query (fulfilment)."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = selectors.with_open_shipment_status(self.result_list)


class EstimatedCountPaginator(Paginator):
    """A paginator that never counts a big table row by row on PostgreSQL.

    The unfiltered list uses the table's statistics (pg_class.reltuples). A
    filtered list is counted exactly up to ``exact_count_limit`` rows (a
    capped count, cheap); past that, the planner's estimate stands in, never
    less than the limit. ``is_estimate`` tells the template to say "about".
    """

    exact_count_limit = 20_000
    is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connection.vendor != "postgresql" or not isinstance(queryset, QuerySet):
            return super().count
        if not queryset.query.where:
            estimate = selectors.estimated_row_count(queryset.model)
            if estimate is not None and estimate > self.exact_count_limit:
                self.is_estimate = True
                return estimate
            return super().count
        capped = queryset.order_by().values("pk")[: self.exact_count_limit + 1].count()
        if capped <= self.exact_count_limit:
            return capped
        self.is_estimate = True
        return max(_planner_row_estimate(queryset), capped)


def _planner_row_estimate(queryset: QuerySet) -> int | None:
    """The planner's row estimate for a queryset (EXPLAIN, nothing is run)."""
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):  # drivers that do not decode json
        import json

        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class PromiseFilter(admin.SimpleListFilter):
    title = "delivery promise"
    parameter_name = "promise"

    def lookups(self, request, model_admin):
        return [("late", "Late"), ("at_risk", "At risk (next 24 h)")]

    def queryset(self, request, queryset):
        if self.value() == "late":
            return selectors.filter_late(queryset)
        if self.value() == "at_risk":
            return selectors.filter_at_risk(queryset)
        return queryset


class OrderListMixin:
    """The order list: newest first, paged by estimate, searched by number, customer and channel id."""

    list_display = (
        "number",
        "status_display",
        "fulfilment",
        "channel",
        "customer_name",
        "total_display",
        "promised_date",
        "age",
    )
    list_display_links = ("number",)
    list_filter = (
        "status",
        PromiseFilter,
        "channel",
        ("placed_at", DateRangeFilterBuilder(title="placed")),
        ("promised_date", DateRangeFilterBuilder(title="promised delivery")),
        *COCKPIT_ORDER_FILTERS,
    )
    list_select_related = ("channel", "customer")
    search_fields = ("number",)  # shows the box; get_search_results does the matching
    search_help_text = "Order number, channel order id, customer email, or part of a customer name."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts would scan millions of rows
    paginator = EstimatedCountPaginator
    list_per_page = 50
    ordering = ("-placed_at", "-id")
    change_list_template = "admin/imports/order_change_list.html"  # CSV imports: the "Import orders" button

    # --- list columns -------------------------------------------------------
    @admin.display(description="status", ordering="status")
    def status_display(self, order: Order):
        return status_badge(order.status)

    @admin.display(description="fulfilment")
    def fulfilment(self, order: Order):
        key, words = fulfilment_stage(order)
        return format_html('<span class="oms-fulfilment" data-stage="{}">{}</span>', key, words)

    @admin.display(description="customer", ordering="customer__name")
    def customer_name(self, order: Order):
        return order.customer.name

    @admin.display(description="total", ordering="grand_total")
    def total_display(self, order: Order):
        return f"{order.grand_total:,.2f} {order.currency}"

    @admin.display(description="age", ordering="placed_at")
    def age(self, order: Order):
        return _humanize_age(timezone.now() - order.placed_at)

    # --- querysets ----------------------------------------------------------
    def get_queryset(self, request):
        return selectors.order_list()

    def get_changelist(self, request, **kwargs):
        return OrderChangeList

    def get_ordering(self, request):
        # The promise queues read best most-overdue first (and use their index).
        if request.GET.get(PromiseFilter.parameter_name) in {"late", "at_risk"}:
            return ("promised_date", "id")
        return super().get_ordering(request)

    def get_search_results(self, request, queryset, search_term):
        return selectors.search_orders(queryset, search_term), False

    def list_urls(self) -> list:
        """The list's own pages (none yet), before the admin's."""
        return []


def _humanize_age(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"
