"""The ``payment_problem`` ops message: a payment or the accounting export needs someone to look at it.

The order workflow decides when a payment's problem is ops' (a capture
declined, a refund that failed every try); the export alerts when a batch
failed for good.
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from notifications import services as notifications

from ..models import Order
from ..selectors import admin_url, order_snapshot


def payment_problem(*, order: Order | None, problem: str, detail: str, occurrence: str, link: str = "") -> list[int]:
    """Queue an alert to ops (OPS_EMAILS and the event's list): what went wrong, and where to look."""
    context: dict = {"problem": problem, "detail": detail}
    if order is not None:
        context.update(order_snapshot(order, for_ops=True))
        context["link"] = admin_url(order)
    else:
        context["link"] = f"{settings.OMS_BASE_URL.rstrip('/')}{link or reverse('admin:index')}"
    return notifications.queue_ops_alert(
        event="payment_problem", context=context, order_id=order.pk if order else None, occurrence=occurrence
    )
