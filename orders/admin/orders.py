"""The order console: lists, filters, search, the order page and its actions.

Thin by design: querysets come from selectors, every change goes through a
service, and actions report each success or refusal.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from rangefilter.filters import DateRangeFilterBuilder

from inventory.admin import offer_finding_steps
from inventory.exceptions import InventoryError
from inventory.models import Allocation, InventoryFinding
from notifications.admin import OrderMessagesInline
from oms_core.console import (
    FormAction,
    FormActionsMixin,
    ReadOnlyAdmin,
    ReadOnlyTabularInline,
    badge,
    int_or_none,
    person_name,
    rows_table,
)
from shipping import documents as shipping_documents  # shipping: pick lists
from shipping.models import Shipment, ShipmentStatus  # shipping

from .. import selectors, services
from ..exceptions import OrderError
from ..models import PRE_SHIPMENT_STATUSES, Address, Order, OrderEvent, OrderLine, OrderStatus
from ..payments.admin import PaymentTransactionInline
from ..returns.admin import order_page_actions as returns_actions  # returns: open a return / order error
from ..services.fulfilment import ALLOCATABLE

MAX_BULK_ORDERS = 500
# Changing a ship-to address is its own permission (the order form itself stays read-only).
CHANGE_ADDRESS_PERMISSION = "orders.change_order_address"

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


class OrderLineInline(ReadOnlyTabularInline):
    model = OrderLine
    fields = (
        "sku",
        "name",
        "quantity",
        "unit_price",
        "line_total",
        "quantity_allocated",
        "quantity_shipped",
        "quantity_returned",
    )
    readonly_fields = fields

    @admin.display(description="line total")
    def line_total(self, line: OrderLine):
        return line.line_total


class AllocationInline(ReadOnlyTabularInline):
    model = Allocation
    verbose_name = "reserved stock"
    verbose_name_plural = "reserved stock"
    fields = ("order_line", "warehouse", "quantity", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line", "warehouse")


class OrderEventInline(ReadOnlyTabularInline):
    model = OrderEvent
    verbose_name = "timeline event"
    verbose_name_plural = "timeline"
    fields = ("created_at", "kind", "message", "actor_name")
    readonly_fields = fields
    ordering = ("created_at", "id")


# --- the actions that need input or a confirmation: each calls the order workflow and says what it did ---


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Recorded on each order's timeline with your name.",
    )


class NoteForm(forms.Form):
    """Releasing from hold: a note is welcome, not required (the field keeps the reason's name)."""

    reason = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Recorded on each order's timeline with your name.",
    )


ADDRESS_FIELDS = ("name", "company", "line1", "line2", "city", "state", "postal_code", "country", "phone")


class ChangeAddressForm(forms.ModelForm):
    """A new ship-to address for an order, and why. Validated as an address; the service saves it."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        max_length=1000,
        help_text="Recorded on the order's timeline with your name, with the old and the new address.",
    )

    class Meta:
        model = Address
        fields = ADDRESS_FIELDS

    @classmethod
    def initial_from(cls, address: Address) -> dict:
        return {name: getattr(address, name) for name in ADDRESS_FIELDS}

    def clean_country(self) -> str:
        return self.cleaned_data["country"].strip().upper()


def shipments_made(order: Order, shipments: list) -> str:
    """ "Made 2 shipments for SO-…: SO-…-1 (EWR, Ground), …", each shipment a link to its page."""
    links = format_html_join(
        ", ",
        '<a href="{}">{}</a> ({}, {})',
        (
            (
                reverse("admin:shipping_shipment_change", args=[s.pk]),
                s.number,
                s.warehouse.code,
                s.service or "no service",
            )
            for s in shipments
        ),
    )
    return format_html(
        "Made {} shipment{} for {}: {}.", len(shipments), "s" if len(shipments) != 1 else "", order, links
    )


def hold(order: Order, data: dict, actor) -> str:
    services.hold_order(order_id=order.pk, reason=data["reason"], actor=actor)
    return f"{order} put on hold."


def release(order: Order, data: dict, actor) -> str:
    services.release_order(order_id=order.pk, note=data.get("reason", ""), actor=actor)
    return f"{order} released from hold."


def cancel(order: Order, data: dict, actor) -> str:
    services.cancel_order(order_id=order.pk, reason=data["reason"], actor=actor)
    return f"{order} cancelled."


def add_note(order: Order, data: dict, actor) -> str:
    services.add_order_note(order_id=order.pk, message=data["reason"], actor=actor)
    return f"Note added to {order}."


def allocate(order: Order, data: dict, actor) -> str:
    order = services.allocate_order(order_id=order.pk, actor=actor)
    return f"{order} routed: {order.get_status_display().lower()}."


def create_shipments(order: Order, data: dict, actor) -> str:
    return shipments_made(order, services.create_shipments(order_id=order.pk, actor=actor))


def change_address(order: Order, data: dict, actor) -> str:
    """The address's own rules come back as a ValidationError: each error lands on its field."""
    address = services.AddressData(**{name: data[name] for name in ADDRESS_FIELDS})
    services.change_shipping_address(order_id=order.pk, address=address, reason=data["reason"], actor=actor)
    return f"{order}: ship-to address changed."


ORDER_ACTIONS = {
    "hold": FormAction(title="Put on hold {rows}", permission="orders.hold_order", form=ReasonForm, apply=hold),
    "release": FormAction(
        title="Release from hold {rows}", permission="orders.hold_order", form=NoteForm, apply=release
    ),
    "cancel": FormAction(title="Cancel {rows}", permission="orders.cancel_order", form=ReasonForm, apply=cancel),
    "note": FormAction(title="Add a note to {rows}", permission="orders.view_order", form=ReasonForm, apply=add_note),
    "allocate": FormAction(title="Route and allocate {rows}", permission="orders.hold_order", apply=allocate),
    "ship": FormAction(  # shipping
        title="Create shipments for {rows}", permission="shipping.print_labels", apply=create_shipments
    ),
    "change-address": FormAction(
        title="Change the ship-to address of {row}",
        crumb="Change address",
        button="Change address",
        permission=CHANGE_ADDRESS_PERMISSION,
        form=ChangeAddressForm,
        form_kwargs=lambda orders: {"initial": ChangeAddressForm.initial_from(orders[0].shipping_address)},
        single=True,
        url_name="orders_order_change_address",
        template="admin/orders/order/change_address.html",
        apply=change_address,
    ),
}


@admin.register(Order)
class OrderAdmin(FormActionsMixin, ReadOnlyAdmin):
    """Orders change only through services: the page is read-only for everyone; its buttons are actions."""

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
    )
    list_select_related = ("channel", "customer")
    search_fields = ("number",)  # shows the box; get_search_results does the matching
    search_help_text = "Order number, channel order id, customer email, or part of a customer name."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts would scan millions of rows
    paginator = EstimatedCountPaginator
    list_per_page = 50
    ordering = ("-placed_at", "-id")
    # the lines, their stock, the timeline, the emails sent, and every payment gateway call
    inlines = (OrderLineInline, AllocationInline, OrderEventInline, OrderMessagesInline, PaymentTransactionInline)
    actions = (
        "allocate_selected",
        "hold_selected",
        "release_selected",
        "cancel_selected",
        "create_shipments_selected",  # shipping
        "pick_list_selected",  # shipping
    )
    change_form_template = "admin/orders/order/change_form.html"
    change_list_template = "admin/imports/order_change_list.html"  # CSV imports: the "Import orders" button
    fieldsets = (
        (
            "Order",
            {
                "fields": (
                    ("number", "status_display"),
                    ("channel", "external_id"),
                    ("placed_at", "promised_date"),
                )
            },
        ),
        ("Customer", {"fields": ("customer_link", ("shipping_address", "billing_address"))}),
        (
            "Totals",
            {"fields": (("currency", "subtotal", "shipping_total"), ("tax_total", "discount_total", "grand_total"))},
        ),
    )
    readonly_fields = (
        "number",
        "status_display",
        "channel",
        "external_id",
        "placed_at",
        "promised_date",
        "customer_link",
        "shipping_address",
        "billing_address",
        "currency",
        "subtotal",
        "shipping_total",
        "tax_total",
        "discount_total",
        "grand_total",
    )

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

    @admin.display(description="customer")
    def customer_link(self, order: Order):
        url = reverse("admin:orders_customer_change", args=[order.customer_id])
        return format_html('<a href="{}">{}</a> · {}', url, order.customer.name, order.customer.email)

    # --- querysets ----------------------------------------------------------
    def get_queryset(self, request):
        return selectors.order_list()

    def get_changelist(self, request, **kwargs):
        return OrderChangeList

    def get_object(self, request, object_id, from_field=None):
        try:
            return selectors.order_detail(int(object_id))
        except (ValueError, Order.DoesNotExist):
            return None

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django's admin bounces a missing object to the index with a message; a link to an order that is
        # not there (a typo, an old bookmark) gets the console's "not found" page instead.
        raise Http404(f"There is no order with id {object_id}.")

    def get_ordering(self, request):
        # The promise queues read best most-overdue first (and use their index).
        if request.GET.get(PromiseFilter.parameter_name) in {"late", "at_risk"}:
            return ("promised_date", "id")
        return super().get_ordering(request)

    def get_search_results(self, request, queryset, search_term):
        return selectors.search_orders(queryset, search_term), False

    # --- permissions --------------------------------------------------------
    def has_hold_permission(self, request) -> bool:
        return request.user.has_perm("orders.hold_order")

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("orders.cancel_order")

    def has_change_address_permission(self, request) -> bool:
        return request.user.has_perm(CHANGE_ADDRESS_PERMISSION)

    # --- actions ------------------------------------------------------------
    form_actions = ORDER_ACTIONS
    refusals = (OrderError, InventoryError)

    def selection_limit(self) -> int:
        return MAX_BULK_ORDERS

    def form_action_table(self, spec: FormAction, orders: list[Order]) -> dict | None:
        if spec.single:
            return None  # a one-order page (change address) names the order in its title
        return rows_table(
            orders,
            headers=("Order", "Status", "Customer", "Total"),
            cells=lambda o: (o.number, o.get_status_display(), o.customer.name, f"{o.grand_total} {o.currency}"),
            key="order",
        )

    @admin.action(description="Route and allocate selected orders…", permissions=["hold"])
    def allocate_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "allocate", queryset)

    @admin.action(description="Put selected orders on hold…", permissions=["hold"])
    def hold_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "hold", queryset)

    @admin.action(description="Release selected orders from hold", permissions=["hold"])
    def release_selected(self, request, queryset):
        if not self.too_many(request, queryset):
            self.apply_form_action(request, "release", list(queryset.order_by("pk")), {}, summary=False)

    @admin.action(description="Cancel selected orders…", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "cancel", queryset)

    # --- shipping: shipments from the order page, pick lists for a wave -------
    def has_create_shipments_permission(self, request) -> bool:
        return request.user.has_perm("shipping.print_labels")

    def has_pick_list_permission(self, request) -> bool:
        return request.user.has_perm("inventory.view_allocation")

    @admin.action(description="Create shipments for selected orders", permissions=["create_shipments"])
    def create_shipments_selected(self, request, queryset):
        if not self.too_many(request, queryset):
            self.apply_form_action(request, "ship", list(queryset.order_by("pk")), {})

    @admin.action(description="Pick list (PDF) for selected orders", permissions=["pick_list"])
    def pick_list_selected(self, request, queryset):
        """One pick list for the wave: reserved units by warehouse and bin. Orders on hold are left off."""
        if self.too_many(request, queryset):
            return None
        rows = list(queryset.order_by("pk").values_list("pk", "number", "status"))
        for _, number, status in rows:
            if status == OrderStatus.ON_HOLD:
                self.message_user(request, f"{number} is on hold: left off the pick list.", messages.WARNING)
        wanted = [pk for pk, _, status in rows if status != OrderStatus.ON_HOLD]
        pick_list = selectors.pick_list_for(wanted)
        if not pick_list.warehouses:
            self.message_user(request, "None of the selected orders has reserved units to pick.", messages.ERROR)
            return None
        picked = {number for warehouse in pick_list.warehouses for number in warehouse.order_numbers}
        idle = [number for pk, number, status in rows if pk in wanted and number not in picked]
        if idle:
            self.message_user(request, f"No reserved units to pick for {', '.join(idle[:20])}.", messages.WARNING)
        response = HttpResponse(shipping_documents.render_pick_list_pdf(pick_list), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="pick-list-{timezone.localtime():%Y%m%d-%H%M}.pdf"'
        return response

    def get_urls(self):
        address = path(
            "<path:object_id>/address/",
            self.admin_site.admin_view(self.form_action_view),
            {"action": "change-address"},
            name="orders_order_change_address",
        )
        return [*self.form_action_urls(), address, *super().get_urls()]

    # --- History: the order's timeline ----------------------------------------
    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        """The order's history is its timeline: every event, newest first, who did it and when."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, order):
            raise PermissionDenied
        events = [
            {"event": event, "who": person_name(event.actor) if event.actor else event.actor_name}
            for event in selectors.order_history(order.pk)
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "order": order,
            "order_url": reverse("admin:orders_order_change", args=[order.pk]),
            "title": f"History of {order}",
            "events": events,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/orders/order/history.html", context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["order_actions"] = self._available_actions(request, obj)
            context["order_actions"] += returns_actions(request, obj)  # returns
            context.update(self.admin_site.get_model_admin(Shipment).order_panel(request, obj))  # shipping
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _available_actions(self, request, order: Order) -> list[dict]:
        here = reverse("admin:orders_order_change", args=[order.pk])
        available = []
        if self.has_hold_permission(request):
            if order.can_transition_to(OrderStatus.ON_HOLD):
                available.append({"label": "Put on hold", "action": "hold"})
            if order.status == OrderStatus.ON_HOLD:
                available.append({"label": "Release", "action": "release"})
            if order.status in ALLOCATABLE and any(line.quantity_unallocated for line in order.lines.all()):
                available.append({"label": "Allocate stock", "action": "allocate"})
        if self.has_change_address_permission(request) and order.status in PRE_SHIPMENT_STATUSES:
            address_url = reverse("admin:orders_order_change_address", args=[order.pk])
            available.append({"label": "Change address", "action": "change-address", "url": address_url})
        if self.has_cancel_permission(request) and order.can_transition_to(OrderStatus.CANCELLED):
            available.append({"label": "Cancel order", "action": "cancel", "danger": True})
        available.append({"label": "Add note", "action": "note"})
        for item in available:
            if "url" not in item:
                item["url"] = self.form_action_url(item["action"], [order], here)
        return available


def _humanize_age(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"


# --- the inventory check's page: "Allocate now" beside a backorder another warehouse can fill -------------


def allocate_now_steps(request: HttpRequest, findings: list[InventoryFinding], back_url: str) -> dict[int, dict]:
    """Beside each fillable backorder: "Allocate now", which posts to this console's allocate action (routing the
    order through the order workflow, which reports back); or, once the order moved on, what it is now.

    The orders' statuses are read in one query (the check ran earlier). Who may not route orders gets no button.
    """
    order_ids = {finding.pk: int_or_none(finding.object_id) for finding in findings}
    statuses = dict(Order.objects.filter(pk__in=set(order_ids.values()) - {None}).values_list("pk", "status"))
    may_route = request.user.has_perm(ORDER_ACTIONS["allocate"].permission)
    steps = {}
    for finding_id, order_id in order_ids.items():
        status = statuses.get(order_id)
        if status is not None and status != OrderStatus.BACKORDERED:
            steps[finding_id] = {"note": f"now {status.replace('_', ' ')}"}
        elif status is not None and may_route:
            url = reverse("admin:orders_order_act", args=["allocate"])
            steps[finding_id] = {"label": "Allocate now", "url": url, "ids": order_id, "next": back_url}
    return steps


offer_finding_steps(InventoryFinding.Kind.BACKORDER_FILLABLE, allocate_now_steps)
