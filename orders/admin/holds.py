"""The holds' list: every typed hold on an order or a shipment, open or released, by type and age.

Read-only: holds are put on and released from the order and shipment pages (and by the payment and credit checks),
never edited here. The cockpit's "Holds by type and age" links into this list.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from oms_core.console import ReadOnlyAdmin

from ..cockpit.holds import AGE_BANDS, age_filter
from ..models import Hold


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Released")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(released_at__isnull=False)
        return queryset


class OnFilter(admin.SimpleListFilter):
    title = "held"
    parameter_name = "on"

    def lookups(self, request, model_admin):
        return [("order", "Whole order"), ("shipment", "One shipment")]

    def queryset(self, request, queryset):
        if self.value() == "order":
            return queryset.filter(shipment__isnull=True)
        if self.value() == "shipment":
            return queryset.filter(shipment__isnull=False)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    """Open holds by how long they have been open (the cockpit's age bands)."""

    title = "open for"
    parameter_name = "age"

    def lookups(self, request, model_admin):
        return [(key, label) for key, label, _, _ in AGE_BANDS]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(age_filter(self.value(), timezone.now()), released_at__isnull=True)
        except ValueError as refusal:
            raise IncorrectLookupParameters(str(refusal)) from refusal


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = (
        "hold_type",
        "order_link",
        "shipment_link",
        "reason",
        "placed_by_name",
        "placed_at",
        "age",
        "released",
    )
    list_filter = (OpenFilter, "hold_type", OnFilter, AgeFilter)
    list_select_related = ("order", "shipment")
    search_fields = ("order__number", "shipment__number", "reason")
    ordering = ("-placed_at", "-id")
    list_per_page = 100
    show_full_result_count = False

    @admin.display(description="order", ordering="order__number")
    def order_link(self, hold: Hold):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[hold.order_id]), hold.order
        )

    @admin.display(description="shipment")
    def shipment_link(self, hold: Hold):
        if hold.shipment_id is None:
            return "whole order"
        url = reverse("admin:shipping_shipment_change", args=[hold.shipment_id])
        return format_html('<a href="{}">{}</a>', url, hold.shipment)

    @admin.display(description="age")
    def age(self, hold: Hold) -> str:
        end = hold.released_at or timezone.now()
        hours = int((end - hold.placed_at).total_seconds() // 3600)
        return f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h"

    @admin.display(description="released")
    def released(self, hold: Hold) -> str:
        if hold.released_at is None:
            return "open"
        return f"{hold.released_at:%Y-%m-%d %H:%M} by {hold.released_by_name}"
