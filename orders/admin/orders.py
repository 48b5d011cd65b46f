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
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from rangefilter.filters import DateRangeFilterBuilder

from inventory.exceptions import InventoryError
from inventory.models import Allocation
from notifications.admin import OrderMessagesInline
from oms_core.console import person_name
from shipping import documents as shipping_documents  # shipping: pick lists
from shipping.models import ShipmentStatus  # shipping

from .. import selectors, services
from ..exceptions import OrderError
from ..models import PRE_SHIPMENT_STATUSES, Address, Order, OrderEvent, OrderLine, OrderStatus
from ..payments.admin import PaymentTransactionInline  # payments
from ..returns.admin import order_page_actions as returns_actions  # returns: open a return / order error
from ..services.fulfilment import ALLOCATABLE
from ..services.shipping import SHIPPABLE  # shipping
from .shipments import shipment_action_url, shipment_badge, tracking_links

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
    return format_html(
        '<span class="oms-badge oms-badge-{}" style="background:{}">{}</span>',
        status,
        STATUS_COLOURS.get(status, "#475569"),
        OrderStatus(status).label,
    )


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


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
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

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class AllocationInline(admin.TabularInline):
    model = Allocation
    verbose_name = "reserved stock"
    verbose_name_plural = "reserved stock"
    extra = 0
    can_delete = False
    fields = ("order_line", "warehouse", "quantity", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line", "warehouse")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    verbose_name = "timeline event"
    verbose_name_plural = "timeline"
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "message", "actor_name")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
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
    inlines = (OrderLineInline, AllocationInline, OrderEventInline, OrderMessagesInline)  # messages: notifications
    inlines += (PaymentTransactionInline,)  # payments: every gateway call, on the order page
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
    # Orders change only through services: the form is read-only for everyone.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_hold_permission(self, request) -> bool:
        return request.user.has_perm("orders.hold_order")

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("orders.cancel_order")

    def has_change_address_permission(self, request) -> bool:
        return request.user.has_perm(CHANGE_ADDRESS_PERMISSION)

    # --- actions ------------------------------------------------------------
    @admin.action(description="Route and allocate selected orders…", permissions=["hold"])
    def allocate_selected(self, request, queryset):
        return self._redirect_to_reason_form(request, "allocate", queryset)

    @admin.action(description="Put selected orders on hold…", permissions=["hold"])
    def hold_selected(self, request, queryset):
        return self._redirect_to_reason_form(request, "hold", queryset)

    @admin.action(description="Release selected orders from hold", permissions=["hold"])
    def release_selected(self, request, queryset):
        if self._too_many(request, queryset):
            return None
        for order in queryset.order_by("pk"):
            self._apply(request, "release", order, reason="")
        return None

    @admin.action(description="Cancel selected orders…", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        return self._redirect_to_reason_form(request, "cancel", queryset)

    def _too_many(self, request, queryset) -> bool:
        """Bulk actions work one order at a time; "select all" on millions is refused."""
        if queryset.order_by()[: MAX_BULK_ORDERS + 1].count() > MAX_BULK_ORDERS:
            self.message_user(
                request,
                f"Select at most {MAX_BULK_ORDERS} orders at a time; narrow the list with filters first.",
                messages.ERROR,
            )
            return True
        return False

    def _redirect_to_reason_form(self, request, action: str, queryset) -> HttpResponseRedirect | None:
        if self._too_many(request, queryset):
            return None
        ids = ",".join(str(pk) for pk in queryset.order_by("pk").values_list("pk", flat=True))
        url = reverse("admin:orders_order_act", args=[action])
        return HttpResponseRedirect(f"{url}?ids={ids}")

    def _apply(self, request, action: str, order: Order, *, reason: str) -> bool:
        """Call the service for one order and tell the operator what happened."""
        try:
            if action == "hold":
                services.hold_order(order_id=order.pk, reason=reason, actor=request.user)
                self.message_user(request, f"{order} put on hold.", messages.SUCCESS)
            elif action == "release":
                services.release_order(order_id=order.pk, note=reason, actor=request.user)
                self.message_user(request, f"{order} released from hold.", messages.SUCCESS)
            elif action == "cancel":
                services.cancel_order(order_id=order.pk, reason=reason, actor=request.user)
                self.message_user(request, f"{order} cancelled.", messages.SUCCESS)
            elif action == "note":
                services.add_order_note(order_id=order.pk, message=reason, actor=request.user)
                self.message_user(request, f"Note added to {order}.", messages.SUCCESS)
            elif action == "allocate":
                order = services.allocate_order(order_id=order.pk, actor=request.user)
                self.message_user(request, f"{order} routed: {order.get_status_display().lower()}.", messages.SUCCESS)
            elif action == "ship":  # shipping
                shipments = services.create_shipments(order_id=order.pk, actor=request.user)
                self.message_user(request, _shipments_made(order, shipments), messages.SUCCESS)
        except (OrderError, InventoryError) as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return False
        return True

    # --- shipping: shipments from the order page, pick lists for a wave -------
    def has_create_shipments_permission(self, request) -> bool:
        return request.user.has_perm("shipping.print_labels")

    def has_pick_list_permission(self, request) -> bool:
        return request.user.has_perm("inventory.view_allocation")

    @admin.action(description="Create shipments for selected orders", permissions=["create_shipments"])
    def create_shipments_selected(self, request, queryset):
        if self._too_many(request, queryset):
            return None
        orders = list(queryset.order_by("pk"))
        done = sum(self._apply(request, "ship", order, reason="") for order in orders)
        if len(orders) > 1:
            self.message_user(request, f"{done} of {len(orders)} orders done.", messages.INFO)
        return None

    @admin.action(description="Pick list (PDF) for selected orders", permissions=["pick_list"])
    def pick_list_selected(self, request, queryset):
        """One pick list for the wave: reserved units by warehouse and bin. Orders on hold are left off."""
        if self._too_many(request, queryset):
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

    def _shipping_context(self, request, order: Order) -> dict:
        """The order's shipments, and the warehouse path's buttons: create, buy, print, ship."""
        if not request.user.has_perm("shipping.view_shipment"):
            return {}
        user = request.user
        here = reverse("admin:orders_order_change", args=[order.pk])
        shipments = selectors.order_shipments(order.pk)
        tools = []

        def tool(action: str, label: str, url: str, ids) -> None:
            tools.append({"action": action, "label": label, "url": url, "ids": ",".join(str(i) for i in ids)})

        if (
            self.has_create_shipments_permission(request)
            and order.status in SHIPPABLE
            and selectors.units_waiting_for_shipment(order.pk)
        ):
            tool("create-shipments", "Create shipments", reverse("admin:orders_order_act", args=["ship"]), [order.pk])
        by_status: dict[str, list[int]] = {}
        for shipment in shipments:
            by_status.setdefault(shipment.status, []).append(shipment.pk)
        awaiting = [s.pk for s in shipments if s.status == ShipmentStatus.AWAITING_LABEL and s.service_id]
        labelled = by_status.get(ShipmentStatus.LABEL_CREATED, [])
        act = "admin:shipping_shipment_act"
        if awaiting and user.has_perm("shipping.print_labels"):
            tool("buy-labels", f"Buy labels ({len(awaiting)})", reverse(act, args=["buy"]), awaiting)
        if labelled and user.has_perm("shipping.print_labels"):
            tool("print-labels", f"Print labels ({len(labelled)})", reverse(act, args=["print"]), labelled)
        if labelled and user.has_perm("shipping.ship_shipment"):
            tool("mark-shipped", f"Mark shipped ({len(labelled)})", reverse(act, args=["ship"]), labelled)
        open_ids = [s.pk for s in shipments if s.status != ShipmentStatus.CANCELLED]
        if open_ids:
            tool("packing-slips", "Packing slips", reverse(act, args=["slips"]), open_ids)
        return {
            "shipping_panel": {
                "shipments": [
                    {
                        "shipment": s,
                        "url": reverse("admin:shipping_shipment_change", args=[s.pk]),
                        "badge": shipment_badge(s.status),
                        "tracking": tracking_links(s),
                        "void_url": shipment_action_url("void", [s], here)
                        if s.status == ShipmentStatus.LABEL_CREATED and user.has_perm("shipping.print_labels")
                        else "",
                    }
                    for s in shipments
                ],
                "tools": tools,
                "next": here,
            }
        }

    # --- end shipping -------------------------------------------------------

    # --- the reason form ----------------------------------------------------
    ACTIONS = {
        "hold": {"title": "Put on hold", "permission": "orders.hold_order", "reason": True},
        "release": {"title": "Release from hold", "permission": "orders.hold_order", "reason": False},
        "cancel": {"title": "Cancel", "permission": "orders.cancel_order", "reason": True},
        "note": {"title": "Add a note to", "permission": "orders.view_order", "reason": True},
        "allocate": {"title": "Route and allocate", "permission": "orders.hold_order", "reason": None},
        "ship": {"title": "Create shipments for", "permission": "shipping.print_labels", "reason": None},  # shipping
    }

    def get_urls(self):
        urls = super().get_urls()
        custom = [
            path(
                "act/<str:action>/",
                self.admin_site.admin_view(self.act_view),
                name="orders_order_act",
            ),
            path(
                "<path:object_id>/address/",
                self.admin_site.admin_view(self.change_address_view),
                name="orders_order_change_address",
            ),
        ]
        return custom + urls

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

    # --- Change address: a form, then the service --------------------------------
    def change_address_view(self, request: HttpRequest, object_id: str):
        """Ask for the new ship-to address (the current one filled in) and a reason, then change it."""
        if not self.has_change_address_permission(request):
            raise PermissionDenied
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        order_url = reverse("admin:orders_order_change", args=[order.pk])
        form = ChangeAddressForm(request.POST or None, initial=ChangeAddressForm.initial_from(order.shipping_address))
        if request.method == "POST" and form.is_valid():
            try:
                services.change_shipping_address(
                    order_id=order.pk, address=form.address(), reason=form.cleaned_data["reason"], actor=request.user
                )
            except ValidationError as invalid:
                form.add_error(None, invalid)  # the address's own rules: each error lands on its field
            except OrderError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
                return HttpResponseRedirect(order_url)
            else:
                self.message_user(request, f"{order}: ship-to address changed.", messages.SUCCESS)
                return HttpResponseRedirect(order_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "order": order,
            "order_url": order_url,
            "title": f"Change the ship-to address of {order}",
            "form": form,
        }
        return TemplateResponse(request, "admin/orders/order/change_address.html", context)

    def act_view(self, request: HttpRequest, action: str):
        """Ask for a reason, then apply hold / release / cancel / note to the listed orders."""
        spec = self.ACTIONS.get(action)
        if spec is None:
            raise PermissionDenied
        if not request.user.has_perm(spec["permission"]):
            raise PermissionDenied
        raw_ids = request.POST.get("ids") or request.GET.get("ids") or ""
        try:
            ids = [int(pk) for pk in raw_ids.split(",") if pk.strip()]
        except ValueError:
            ids = []
        orders = list(selectors.order_list().filter(pk__in=ids[:MAX_BULK_ORDERS]).order_by("pk"))
        changelist_url = reverse("admin:orders_order_changelist")
        next_url = request.POST.get("next") or request.GET.get("next") or changelist_url
        if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
            next_url = changelist_url
        if not orders:
            self.message_user(request, "No orders were selected.", messages.WARNING)
            return HttpResponseRedirect(next_url)
        form = ReasonForm(request.POST or None, reason_required=spec["reason"])
        if spec["reason"] is None:
            del form.fields["reason"]
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data.get("reason", "")
            done = sum(self._apply(request, action, order, reason=reason) for order in orders)
            if len(orders) > 1:
                self.message_user(request, f"{done} of {len(orders)} orders done.", messages.INFO)
            return HttpResponseRedirect(next_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{spec['title']} {len(orders)} order{'s' if len(orders) != 1 else ''}",
            "action": action,
            "orders": orders,
            "form": form,
            "ids": ",".join(str(o.pk) for o in orders),
            "next_url": next_url,
        }
        return TemplateResponse(request, "admin/orders/order/act.html", context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["order_actions"] = self._available_actions(request, obj)
            context["order_actions"] += returns_actions(request, obj)  # returns
            context.update(self._shipping_context(request, obj))  # shipping
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _available_actions(self, request, order: Order) -> list[dict]:
        base = reverse("admin:orders_order_act", args=["x"])[: -len("x/")]
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
            item.setdefault("url", f"{base}{item['action']}/?ids={order.pk}&next={here}")
        return available


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Recorded on each order's timeline with your name.",
    )

    def __init__(self, *args, reason_required: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = reason_required
        if not reason_required:
            self.fields["reason"].label = "Note (optional)"


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

    def address(self) -> services.AddressData:
        return services.AddressData(**{name: self.cleaned_data[name] for name in ADDRESS_FIELDS})


def _shipments_made(order: Order, shipments: list) -> str:
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


def _humanize_age(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"
