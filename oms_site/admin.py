"""The operations console: Django's admin, branded, with a dashboard index."""

from django.conf import settings
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from orders import selectors as order_selectors
from orders.models import OrderStatus

DASHBOARD_LIST_SIZE = 10


class OpsAdminSite(admin.AdminSite):
    site_header = settings.OMS_BRAND_NAME
    site_title = settings.OMS_BRAND_NAME
    index_title = "Operations console"
    index_template = "admin/ops_index.html"
    site_url = None  # the console is the whole site: no "View site" link
    enable_nav_sidebar = False  # lists of orders and stock need the width

    def index(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), **self.dashboard_context(request)}
        return super().index(request, extra_context)

    def dashboard_context(self, request) -> dict:
        """The order queue, at-risk, late and on-hold orders, for users who may see orders."""
        if not request.user.has_perm("orders.view_order"):
            return {"dashboard": None}
        changelist = reverse("admin:orders_order_changelist")
        counts = order_selectors.status_counts()
        queue = [
            {
                "status": status,
                "label": label,
                "count": counts[status],
                "url": f"{changelist}?status__exact={status}",
            }
            for status, label in OrderStatus.choices
        ]
        now = timezone.now()
        late = order_selectors.late_orders(now)
        at_risk = order_selectors.at_risk_orders(now)
        on_hold = order_selectors.on_hold_orders()
        return {
            "dashboard": {
                "queue": queue,
                "total": sum(counts.values()),
                "panels": [
                    {
                        "key": "late",
                        "title": "Late",
                        "hint": "Promised date passed, not shipped",
                        "count": late.count(),
                        "orders": list(late.order_by("promised_date", "id")[:DASHBOARD_LIST_SIZE]),
                        "url": f"{changelist}?promise=late",
                    },
                    {
                        "key": "at_risk",
                        "title": "At risk",
                        "hint": f"Promised within {settings.ORDER_AT_RISK_HOURS} h, not shipped",
                        "count": at_risk.count(),
                        "orders": list(at_risk.order_by("promised_date", "id")[:DASHBOARD_LIST_SIZE]),
                        "url": f"{changelist}?promise=at_risk",
                    },
                    {
                        "key": "on_hold",
                        "title": "On hold",
                        "hint": "Waiting for an operator",
                        "count": counts[OrderStatus.ON_HOLD],
                        "orders": list(on_hold.order_by("placed_at", "id")[:DASHBOARD_LIST_SIZE]),
                        "url": f"{changelist}?status__exact={OrderStatus.ON_HOLD}",
                    },
                ],
            }
        }
