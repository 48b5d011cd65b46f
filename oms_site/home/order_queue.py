"""The order queue on the console's home: orders by status; the late, at-risk and on-hold panels; and the work
waiting outside the queue (shipping costs at risk, open returns, refunds to settle, payment problems, failed
exports and messages).

Everyone who may see orders (``orders.view_order``) gets it, whatever else their home holds;
``templates/admin/cockpit/queue.html`` draws it.
"""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from notifications import selectors as message_selectors
from orders import selectors as order_selectors
from orders.models import Order, OrderStatus
from shipping import selectors as shipping_selectors

DASHBOARD_LIST_SIZE = 10
DELAY_NOTICE_DAYS = 7  # the home counts the delay notices sent this many days back
COUNTS_CACHE_KEY = "oms:home:order-queue-counts"


def queue_counts(now) -> dict[str, int]:
    """Orders in each status, late and at risk: exact up to the order list's cap (more: cap + 1), in one
    statement, kept as long as the list's tab counts. No count reads the whole orders table."""
    counts = cache.get(COUNTS_CACHE_KEY)
    if counts is None:
        counts = order_selectors.capped_counts(
            {
                **{status: Order.objects.filter(status=status) for status in OrderStatus.values},
                "late": order_selectors.late_orders(now),
                "at_risk": order_selectors.at_risk_orders(now),
            }
        )
        cache.set(COUNTS_CACHE_KEY, counts, order_selectors.CAPPED_COUNTS_CACHE_SECONDS)
    return counts


def dashboard_context(request) -> dict:
    """The order queue, at-risk, late and on-hold orders, for users who may see orders."""
    if not request.user.has_perm("orders.view_order"):
        return {"dashboard": None}
    changelist = reverse("admin:orders_order_changelist")
    now = timezone.now()
    counts = queue_counts(now)
    queue = [
        {
            "status": status,
            "label": label,
            "count": counts[status],
            "count_label": order_selectors.count_label(counts[status]),
            "url": f"{changelist}?status__exact={status}",
        }
        for status, label in OrderStatus.choices
    ]
    capped = any(counts[status] > order_selectors.QUEUE_COUNT_CAP for status in OrderStatus.values)
    total = sum(min(counts[status], order_selectors.QUEUE_COUNT_CAP) for status in OrderStatus.values)
    late = order_selectors.late_orders(now)
    at_risk = order_selectors.at_risk_orders(now)
    on_hold = order_selectors.on_hold_orders()
    # notifications: messages that failed for good wait for an operator's resend
    failed_messages = None
    if request.user.has_perm("notifications.view_message"):
        failed_messages = {
            "count": message_selectors.failed_messages().count(),
            "url": f"{reverse('admin:notifications_message_changelist')}?status__exact=failed",
        }
    return {
        "dashboard": {
            "failed_messages": failed_messages,
            "attention": _attention(request),
            "queue": queue,
            "total": total,
            "total_label": f"{total:,}+" if capped else f"{total:,}",
            "panels": [
                {
                    "key": "late",
                    "title": "Late",
                    "hint": "Promised date passed, not shipped",
                    "count": counts["late"],
                    "count_label": order_selectors.count_label(counts["late"]),
                    "orders": list(late.order_by("promised_date", "id")[:DASHBOARD_LIST_SIZE]),
                    "url": f"{changelist}?promise=late",
                },
                {
                    "key": "at_risk",
                    "title": "At risk",
                    "hint": f"Promised within {settings.ORDER_AT_RISK_HOURS} h, not shipped",
                    "count": counts["at_risk"],
                    "count_label": order_selectors.count_label(counts["at_risk"]),
                    "orders": list(at_risk.order_by("promised_date", "id")[:DASHBOARD_LIST_SIZE]),
                    "url": f"{changelist}?promise=at_risk",
                },
                {
                    "key": "on_hold",
                    "title": "On hold",
                    "hint": "Held: by a rule, a payment, an operator, a channel, or an exchange waiting for its return",
                    "count": counts[OrderStatus.ON_HOLD],
                    "count_label": order_selectors.count_label(counts[OrderStatus.ON_HOLD]),
                    "orders": list(on_hold.order_by("placed_at", "id")[:DASHBOARD_LIST_SIZE]),
                    "url": f"{changelist}?status__exact={OrderStatus.ON_HOLD}",
                },
            ],
        }
    }


def _delay_notices() -> list[dict]:
    """Delay notices emailed to customers in the last 7 days, and those waiting for review: one query."""
    from django.db.models import Count, Q

    from orders.models import OrderDelayNotice

    State = OrderDelayNotice.State
    since = timezone.make_aware(
        datetime.combine(timezone.localdate() - timedelta(days=DELAY_NOTICE_DAYS), time.min)
    )  # from midnight, as the list's filter reads it
    counts = OrderDelayNotice.objects.aggregate(
        sent=Count("pk", filter=Q(state=State.SENT, created_at__gte=since)),
        review=Count("pk", filter=Q(state=State.REVIEW)),
    )
    changelist = reverse("admin:orders_orderdelaynotice_changelist")
    return [
        {
            "key": "delay-notices-sent",
            "label": "Delay notices sent",
            "count": counts["sent"],
            "url": f"{changelist}?{urlencode({'state__exact': State.SENT, 'created_at__gte': since.isoformat()})}",
            "hint": f"customers told of a late order, last {DELAY_NOTICE_DAYS} days",
        },
        {
            "key": "delay-notices-to-review",
            "label": "Delay notices to review",
            "count": counts["review"],
            "url": f"{changelist}?state__exact={State.REVIEW}",
            "hint": "late, but no new date could be worked out: nobody was emailed",
        },
    ]


def _attention(request) -> list[dict]:
    """Work waiting outside the order queue: open returns, refunds and payments to look at, failed exports."""
    from orders.payments.models import ExportBatch, PaymentTransaction
    from orders.returns.models import OPEN_RETURN_STATUSES, Refund, ReturnRequest

    user = request.user
    items = []
    if user.has_perm("orders.view_orderdelaynotice"):
        items += _delay_notices()
    if user.has_perm("shipping.view_shipment"):
        items.append(
            {
                "key": "shipping-cost-at-risk",
                "label": "Shipping cost at risk",
                "count": shipping_selectors.shipments_awaiting_cost_approval().count(),
                "url": f"{reverse('admin:shipping_shipment_changelist')}?cost_risk=awaiting_approval",
                "hint": "shipments dearer than the margin guard allows, awaiting a manager's approval",
            }
        )
    if user.has_perm("returns.view_returnrequest"):
        items.append(
            {
                "key": "open-returns",
                "label": "Open returns",
                "count": ReturnRequest.objects.filter(status__in=OPEN_RETURN_STATUSES).count(),
                "url": f"{reverse('admin:returns_returnrequest_changelist')}?queue=open",
                "hint": "not closed or rejected yet",
            }
        )
    if user.has_perm("returns.view_refund"):
        items.append(
            {
                "key": "refunds-to-settle",
                "label": "Refunds to settle",
                "count": Refund.objects.filter(status=Refund.Status.PENDING).count(),
                "url": f"{reverse('admin:returns_refund_changelist')}?status__exact={Refund.Status.PENDING}",
                "hint": "recorded, not yet paid back",
            }
        )
    if user.has_perm("payments.view_paymenttransaction"):
        T = PaymentTransaction
        items.append(
            {
                "key": "payment-problems",
                "label": "Payment problems",
                "count": T.objects.filter(kind=T.Kind.CAPTURE, status__in=[T.Status.ERROR, T.Status.DECLINED]).count(),
                "url": f"{reverse('admin:payments_paymenttransaction_changelist')}"
                f"?kind__exact={T.Kind.CAPTURE}&status__in={T.Status.ERROR},{T.Status.DECLINED}",
                "hint": "captures declined or failing",
            }
        )
    if user.has_perm("payments.view_exportbatch"):
        items.append(
            {
                "key": "failed-exports",
                "label": "Failed accounting exports",
                "count": ExportBatch.objects.filter(status=ExportBatch.Status.FAILED).count(),
                "url": f"{reverse('admin:payments_exportbatch_changelist')}?status__exact=failed",
                "hint": "re-send them from the list",
            }
        )
    return items
