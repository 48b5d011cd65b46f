"""The delay notices' list: which customers were told their order will be late, which notices operators
suppressed and which wait for review (no new date could be worked out). Read-only: the sweep writes them, and
an operator suppresses one from the order's page."""

from __future__ import annotations

from django.contrib import admin

from oms_core.console import ReadOnlyAdmin, admin_link, person_name

from ..models import OrderDelayNotice


@admin.register(OrderDelayNotice)
class OrderDelayNoticeAdmin(ReadOnlyAdmin):
    list_display = ("order_link", "state", "cause", "promised_date", "new_estimate", "created_at", "who")
    list_filter = ("state", "cause")
    search_fields = ("order__number",)
    list_select_related = ("order", "suppressed_by")
    date_hierarchy = "created_at"
    show_facets = admin.ShowFacets.NEVER
    fields = (
        "order_link",
        "state",
        "cause",
        "detail",
        "promised_date",
        "new_estimate",
        "created_at",
        "sent_at",
        "suppressed_at",
        "who",
        "suppressed_reason",
    )
    readonly_fields = fields

    @admin.display(description="order", ordering="order__number")
    def order_link(self, notice: OrderDelayNotice):
        return admin_link(notice.order)

    @admin.display(description="suppressed by")
    def who(self, notice: OrderDelayNotice) -> str:
        return person_name(notice.suppressed_by) if notice.suppressed_by else ""
