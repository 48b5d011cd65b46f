"""The customers' console: who they are, their address book, where their recent orders went."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from ..models import Address, Customer, Order
from .order_list import EstimatedCountPaginator, status_badge


class AddressInline(admin.StackedInline):
    """The customer's address book. Orders keep their own copies: editing these never changes an order."""

    model = Address
    extra = 0
    verbose_name = "address book entry"
    verbose_name_plural = "address book (orders keep their own copy of the address they were placed with)"
    fields = (("name", "company"), ("line1", "line2"), ("city", "state", "postal_code", "country"), "phone")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "phone", "accepts_marketing", "created_at")
    search_fields = ("name", "email")
    list_filter = ("accepts_marketing",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    inlines = (AddressInline,)
    readonly_fields = ("created_at", "recent_orders", "order_addresses")

    @admin.display(description="shipped to (recent orders)")
    def order_addresses(self, customer: Customer):
        """Where the customer's recent orders go, each address once with the orders that use it."""
        orders = customer.orders.select_related("shipping_address").order_by("-placed_at")[:20]
        used: dict[str, list[Order]] = {}
        for order in orders:
            used.setdefault(str(order.shipping_address), []).append(order)
        if not used:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            "{} ({})",
            (
                (
                    address,
                    format_html_join(
                        ", ",
                        '<a href="{}">{}</a>',
                        ((reverse("admin:orders_order_change", args=[o.pk]), o.number) for o in used_by),
                    ),
                )
                for address, used_by in used.items()
            ),
        )

    @admin.display(description="recent orders")
    def recent_orders(self, customer: Customer):
        orders = customer.orders.order_by("-placed_at")[:10]
        if not orders:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{}</a> {} {}',
            (
                (
                    reverse("admin:orders_order_change", args=[o.pk]),
                    o.number,
                    status_badge(o.status),
                    f"{o.placed_at:%Y-%m-%d}",
                )
                for o in orders
            ),
        )
