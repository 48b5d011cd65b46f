"""The order list: its columns, filters, queue tabs, saved views, search and paging on millions of orders.

``OrderListMixin`` is the list half of ``OrderAdmin`` (orders.py); the order page is order_page.py.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR, SEARCH_VAR, ChangeList
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.paginator import Paginator
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from rangefilter.filters import DateRangeFilterBuilder

from oms_core.console import badge
from shipping.models import ShipmentStatus

from .. import selectors
from ..models import Order, OrderStatus, SavedOrderView
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
    status = order.status_beneath_hold
    open_step = FULFILMENT_BY_OPEN_SHIPMENT.get(order.open_shipment_status)
    if open_step and status == OrderStatus.PARTIALLY_SHIPPED:
        return open_step[0], f"Partly shipped · {open_step[1].lower()}"
    if open_step and status not in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.CANCELLED):
        return open_step
    return FULFILMENT_BY_STATUS[status]


def status_badge(status: str) -> str:
    return badge(status, STATUS_COLOURS.get(status, "#475569"), OrderStatus(status).label)


class OrderChangeList(ChangeList):
    """The order list: the page's rows learn where their shipments stand (one query) and their units (one more)."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = selectors.with_line_units(selectors.with_open_shipment_status(self.result_list))


class QueueChangeList(OrderChangeList):
    """The list's filters and search applied, its page never fetched: what a saved view's tab counts."""

    def get_results(self, request):
        self.result_list = []


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


class QueueFilter(admin.SimpleListFilter):
    """The tabs' queues (selectors.ORDER_QUEUES) that no sidebar filter gives. The tabs are its only links."""

    title = "queue"
    parameter_name = "queue"
    template = "admin/orders/order/list/queue_filter.html"  # renders nothing: the tabs show the queue
    # Late and on hold are the promise and status filters' own.
    queues = {key: narrow for key, narrow in selectors.ORDER_QUEUES.items() if key not in {"late", "on_hold"}}

    def lookups(self, request, model_admin):
        # Listed so that Django applies the filter (a filter without lookups is dropped, its parameter ignored).
        return [(key, key) for key in self.queues]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        if self.value() not in self.queues:
            raise IncorrectLookupParameters(f"No order queue {self.value()!r}.")
        return self.queues[self.value()](queryset)


@dataclass(frozen=True)
class ListTab:
    """A tab above the order list: a link to the list with ``params``, and how many orders it lists."""

    label: str
    params: tuple[tuple[str, str], ...]
    queue: str = ""  # its count in selectors.queue_counts()
    view_id: int | None = None  # a saved view: the owner may delete it


# The queues ops work from, as tabs; each link is exactly the set its count counts (selectors.ORDER_QUEUES).
ORDER_TABS = (
    ListTab("To route", (("queue", "to_route"),), queue="to_route"),
    ListTab("To pick", (("queue", "to_pick"),), queue="to_pick"),
    ListTab("To ship", (("queue", "to_ship"),), queue="to_ship"),
    ListTab("Late", (("promise", "late"),), queue="late"),
    ListTab("On hold", (("status__exact", OrderStatus.ON_HOLD.value),), queue="on_hold"),
    ListTab("Awaiting payment", (("queue", "awaiting_payment"),), queue="awaiting_payment"),
    ListTab("Returns open", (("queue", "returns_open"),), queue="returns_open"),
)
TAB_COUNTS_CACHE_SECONDS = selectors.CAPPED_COUNTS_CACHE_SECONDS
QUEUE_COUNTS_CACHE_KEY = "orders:list:queue-counts"
# What does not make a list another list: its page, its sort, the error flag, "show all".
NOT_A_FILTER = frozenset({PAGE_VAR, ERROR_FLAG, "o", "all", "_changelist_filters"})
SAVED_VIEW_NAME_MAX = SavedOrderView._meta.get_field("name").max_length
SAVED_VIEW_QUERY_MAX = SavedOrderView._meta.get_field("query").max_length


def list_filters(query: QueryDict) -> tuple[tuple[str, str], ...]:
    """What a list shows, from its query string: its filters and search, sorted, without page and sort."""
    return tuple(
        sorted((key, value) for key, values in query.lists() if key not in NOT_A_FILTER for value in values if value)
    )


def saved_query(query: str) -> str:
    """The query string a saved view keeps: the list's filters, search and sort, without page or error flag."""
    params = QueryDict(query.strip().removeprefix("?"))
    dropped = {PAGE_VAR, ERROR_FLAG, "all", "_changelist_filters"}
    kept = [(key, value) for key, values in params.lists() if key not in dropped for value in values]
    return urlencode(kept)


class SavedViewForm(forms.Form):
    """A view's name and the list's query string it keeps; each refusal says what to change."""

    name = forms.CharField(
        max_length=SAVED_VIEW_NAME_MAX,
        error_messages={
            "required": "Give the view a name.",
            "max_length": f"A view's name is at most {SAVED_VIEW_NAME_MAX} characters (this one has %(show_value)d).",
        },
    )
    query = forms.CharField(required=False, strip=True)

    def clean_query(self) -> str:
        query = saved_query(self.cleaned_data["query"])
        if not list_filters(QueryDict(query)):
            raise forms.ValidationError(
                "This list has no filter or search to save: pick a tab or a filter, or search, then save it."
            )
        if len(query) > SAVED_VIEW_QUERY_MAX:
            raise forms.ValidationError(
                f"These filters are too long to save as a view ({len(query):,} characters; "
                f"at most {SAVED_VIEW_QUERY_MAX:,})."
            )
        return query


class OrderListMixin:
    """The order list: newest first, paged by estimate, searched by number, customer and channel id.

    Above it, tabs: the queues ops work from and the user's own saved views, each with a capped count.
    A search for a whole order number opens that order.
    """

    list_display = (
        "number",
        "customer_name",
        "status_display",
        "placed",
        "items",
        "fulfilment",
        "promised",
        "channel",
        "total_display",
    )
    list_display_links = ("number",)
    list_filter = (
        "status",
        PromiseFilter,
        QueueFilter,
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

    @admin.display(description="placed", ordering="placed_at")
    def placed(self, order: Order):
        local = timezone.localtime(order.placed_at)
        short = f"{local.day} {local:%b %H:%M}" if local.year == timezone.localdate().year else f"{local:%d %b %Y}"
        return format_html('<time datetime="{}">{}</time>', local.isoformat(timespec="minutes"), short)

    @admin.display(description="items")
    def items(self, order: Order):
        return order.units

    @admin.display(description="fulfilment")
    def fulfilment(self, order: Order):
        """Where the goods stand in words, and how many units have shipped of how many (a bar)."""
        key, words = fulfilment_stage(order)
        stage = format_html('<span class="oms-fulfilment" data-stage="{}">{}</span>', key, words)
        if order.status == OrderStatus.CANCELLED or not order.units:
            return stage
        return format_html(
            '{}<span class="oms-shipped"><progress value="{}" max="{}"></progress> {} of {} shipped</span>',
            stage,
            order.units_shipped,
            order.units,
            order.units_shipped,
            order.units,
        )

    @admin.display(description="promised", ordering="promised_date")
    def promised(self, order: Order):
        if order.promised_date is None:
            return "—"
        state = selectors.promise_state(order)
        date = f"{order.promised_date.day} {order.promised_date:%b}"
        if order.promised_date.year != timezone.localdate().year:
            date = f"{date} {order.promised_date.year}"
        if not state:
            return format_html('<span class="oms-promise">{}</span>', date)
        mark = "Late" if state == "late" else "At risk"
        return format_html(
            '<span class="oms-promise" data-promise="{}" title="{}">{} <span class="oms-promise-mark">{}</span></span>',
            state,
            mark,
            date,
            mark,
        )

    @admin.display(description="customer", ordering="customer__name")
    def customer_name(self, order: Order):
        return order.customer.name

    @admin.display(description="total", ordering="grand_total")
    def total_display(self, order: Order):
        return f"{order.grand_total:,.2f} {order.currency}"

    # --- querysets ----------------------------------------------------------
    def get_queryset(self, request):
        return selectors.order_list()

    def get_changelist(self, request, **kwargs):
        return QueueChangeList if getattr(request, "counting_only", False) else OrderChangeList

    def get_ordering(self, request):
        # The promise queues read best most-overdue first (and use their index).
        if request.GET.get(PromiseFilter.parameter_name) in {"late", "at_risk"}:
            return ("promised_date", "id")
        return super().get_ordering(request)

    def get_search_results(self, request, queryset, search_term):
        return selectors.search_orders(queryset, search_term), False

    # --- the page: a search for one order's number opens it; tabs above the list ---------
    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and self.has_view_or_change_permission(request):
            order_id = selectors.order_with_number(request.GET.get(SEARCH_VAR, ""))
            if order_id is not None:
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order_id]))
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context and not context.get("is_popup"):
            context.update(self.list_tabs(request))
        return response

    def list_tabs(self, request: HttpRequest) -> dict:
        """The tabs above the list, each with its link, its count and whether it is the list shown.

        The queues' counts are one query, shared by everyone for 30 s; the user's own views' counts are one
        more (with each view's filters built), kept 30 s per user and set of views.
        """
        changelist_url = reverse("admin:orders_order_changelist")
        shown = list_filters(request.GET)
        queue_counts = cache.get(QUEUE_COUNTS_CACHE_KEY)
        if queue_counts is None:
            queue_counts = selectors.queue_counts()
            cache.set(QUEUE_COUNTS_CACHE_KEY, queue_counts, TAB_COUNTS_CACHE_SECONDS)
        views = list(SavedOrderView.objects.filter(user=request.user).order_by("created_at", "id"))
        view_counts = self._saved_view_counts(request, views)
        tabs = [*ORDER_TABS, *(self._saved_view_tab(view) for view in views)]
        return {
            "order_tabs": [
                {
                    "label": tab.label,
                    "url": f"{changelist_url}?{urlencode(tab.params)}",
                    "count": selectors.count_label(
                        view_counts.get(tab.view_id) if tab.view_id else queue_counts.get(tab.queue)
                    ),
                    "active": bool(shown) and list_filters(QueryDict(urlencode(tab.params))) == shown,
                    "view_id": tab.view_id,
                }
                for tab in tabs
            ],
            "all_orders_url": changelist_url,
            "all_orders_active": not shown,
            "save_view_url": reverse("admin:orders_order_save_view"),
            "save_view_query": saved_query(request.GET.urlencode()) if shown else "",
            "saved_view_name_max": SAVED_VIEW_NAME_MAX,
        }

    @staticmethod
    def _saved_view_tab(view: SavedOrderView) -> ListTab:
        return ListTab(view.name, tuple(QueryDict(view.query).items()), view_id=view.pk)

    def _saved_view_counts(self, request: HttpRequest, views: list[SavedOrderView]) -> dict[int, int]:
        """Each of the user's views' count, capped like the queues', in one query; cached 30 s."""
        if not views:
            return {}
        fingerprint = hashlib.sha256(repr([(v.pk, v.query) for v in views]).encode()).hexdigest()[:16]
        key = f"orders:list:saved-view-counts:{request.user.pk}:{fingerprint}"
        counts = cache.get(key)
        if counts is None:
            querysets = {}
            for view in views:
                queryset = self.filtered_queryset(request, view.query)
                if queryset is not None:
                    querysets[view.pk] = queryset
            counts = selectors.capped_counts(querysets)
            cache.set(key, counts, TAB_COUNTS_CACHE_SECONDS)
        return counts

    def filtered_queryset(self, request: HttpRequest, query: str) -> QuerySet[Order] | None:
        """The orders the list shows for ``query`` (its filters and search), or None when the list refuses it."""
        listing = copy.copy(request)
        listing.GET = QueryDict(query)
        listing.counting_only = True
        try:
            return self.get_changelist_instance(listing).queryset
        except (IncorrectLookupParameters, SuspiciousOperation):
            return None

    # --- saved views: a user's own tabs ----------------------------------------------
    def list_urls(self) -> list:
        """The list's own pages: saving the list shown as a view, deleting one."""
        return [
            path("views/", self.admin_site.admin_view(self.save_view), name="orders_order_save_view"),
            path(
                "views/<int:view_id>/delete/",
                self.admin_site.admin_view(self.delete_view_of_list),
                name="orders_order_delete_saved_view",
            ),
        ]

    def _back_to_list(self, query: str = "") -> HttpResponseRedirect:
        url = reverse("admin:orders_order_changelist")
        return HttpResponseRedirect(f"{url}?{query}" if query else url)

    @method_decorator(require_POST)
    def save_view(self, request: HttpRequest):
        """Save the list's filters under a name, as the user's own tab; each refusal is said on the list."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        form = SavedViewForm(request.POST)
        back = saved_query(request.POST.get("query", ""))[:SAVED_VIEW_QUERY_MAX]
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, f"The view was not saved. {error}")
            return self._back_to_list(back)
        name, query = form.cleaned_data["name"], form.cleaned_data["query"]
        if self.filtered_queryset(request, query) is None:
            messages.error(request, "The view was not saved. The list cannot apply these filters; pick them again.")
            return self._back_to_list()
        try:
            with transaction.atomic():
                SavedOrderView.objects.create(user=request.user, name=name, query=query)
        except IntegrityError:
            messages.error(
                request, f"The view was not saved. You already have a view named “{name}”: pick another name."
            )
            return self._back_to_list(query)
        messages.success(request, f"Saved the view “{name}”: it is a tab above the list.")
        return self._back_to_list(query)

    @method_decorator(require_POST)
    def delete_view_of_list(self, request: HttpRequest, view_id: int):
        """Delete one of the user's own views (another user's is not found)."""
        view = get_object_or_404(SavedOrderView, pk=view_id, user=request.user)
        view.delete()
        messages.success(request, f"Deleted the view “{view.name}”.")
        return self._back_to_list()
