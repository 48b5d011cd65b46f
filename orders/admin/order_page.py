"""The order page: the order, its lines, stock, timeline, messages, payments, and what can be done to it.

``OrderPageMixin`` is the page half of ``OrderAdmin`` (orders.py); the list is order_list.py.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from inventory.models import Allocation
from notifications.admin import OrderMessagesInline
from oms_core.console import ReadOnlyTabularInline, person_name
from shipping.models import Shipment

from .. import selectors
from ..models import PRE_SHIPMENT_STATUSES, Order, OrderEvent, OrderLine, OrderStatus
from ..payments.admin import PaymentTransactionInline
from ..returns.admin import order_page_actions as returns_actions  # returns: open a return / order error
from ..services.fulfilment import ALLOCATABLE


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


class OrderPageMixin:
    """The order page: read-only for everyone; its buttons are actions."""

    # the lines, their stock, the timeline, the emails sent, and every payment gateway call
    inlines = (OrderLineInline, AllocationInline, OrderEventInline, OrderMessagesInline, PaymentTransactionInline)
    change_form_template = "admin/orders/order/change_form.html"
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

    @admin.display(description="customer")
    def customer_link(self, order: Order):
        url = reverse("admin:orders_customer_change", args=[order.customer_id])
        return format_html('<a href="{}">{}</a> · {}', url, order.customer.name, order.customer.email)

    def get_object(self, request, object_id, from_field=None):
        try:
            return selectors.order_detail(int(object_id))
        except (ValueError, Order.DoesNotExist):
            return None

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django's admin bounces a missing object to the index with a message; a link to an order that is
        # not there (a typo, an old bookmark) gets the console's "not found" page instead.
        raise Http404(f"There is no order with id {object_id}.")

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

    def page_urls(self) -> list:
        """The page's own URLs (none yet), before the admin's."""
        return []
