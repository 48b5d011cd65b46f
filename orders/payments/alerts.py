"""Ops alerts for payments and the accounting export (the ``payment_problem`` ops message)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from notifications import services as notifications

from ..models import Order


def payment_problem(*, order: Order | None, problem: str, detail: str, occurrence: str, link: str = "") -> list[int]:
    """Queue an alert to ops (OPS_EMAILS and the event's list): what went wrong, and where to look."""
    from ..services.notify import admin_url, order_snapshot

    context: dict = {"problem": problem, "detail": detail}
    if order is not None:
        context.update(order_snapshot(order, for_ops=True))
        context["link"] = admin_url(order)
    else:
        context["link"] = f"{settings.OMS_BASE_URL.rstrip('/')}{link or reverse('admin:index')}"
    return notifications.queue_ops_alert(
        event="payment_problem", context=context, order_id=order.pk if order else None, occurrence=occurrence
    )
