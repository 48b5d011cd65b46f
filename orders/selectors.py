"""Every non-trivial read of orders, with related rows loaded."""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import OPEN_STATUSES, Customer, Order, OrderEvent, OrderStatus

ORDER_NUMBER_RE = re.compile(rf"^(?:{re.escape(settings.ORDER_NUMBER_PREFIX)})?\d{{1,10}}$", re.IGNORECASE)


def order_list() -> QuerySet[Order]:
    """Orders with what a list row shows (channel, customer) joined in."""
    return Order.objects.select_related("channel", "customer")


def order_detail(order_id: int) -> Order:
    return Order.objects.select_related("channel", "customer", "shipping_address", "billing_address").get(pk=order_id)


def order_timeline(order: Order) -> QuerySet[OrderEvent]:
    return order.events.select_related("actor").order_by("created_at", "id")


def search_orders(queryset: QuerySet[Order], term: str) -> QuerySet[Order]:
    """Narrow ``queryset`` to orders matching one search term.

    An order number (with or without its prefix) matches exactly; an email
    matches the customer's email; anything else matches the channel's order
    id exactly or a customer name containing the term. Each branch is served
    by an index, so search stays fast on millions of orders.
    """
    term = term.strip()
    if not term:
        return queryset
    if ORDER_NUMBER_RE.match(term):
        digits = re.sub(r"\D", "", term)
        number = f"{settings.ORDER_NUMBER_PREFIX}{int(digits):07d}"
        return queryset.filter(Q(number=number) | Q(external_id=term))
    if "@" in term:
        customers = Customer.objects.filter(email=term.lower()).values("pk")
        return queryset.filter(customer__in=customers)
    customers = Customer.objects.filter(name__icontains=term).values("pk")
    return queryset.filter(Q(external_id=term) | Q(customer__in=customers))


def status_counts() -> dict[str, int]:
    """How many orders are in each status (every status present, zeros included)."""
    counts = dict.fromkeys(OrderStatus.values, 0)
    for row in Order.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def _promise_window(now: dt.datetime | None = None) -> tuple[dt.date, dt.date]:
    now = now or timezone.now()
    today = timezone.localdate(now)
    horizon = timezone.localdate(now + dt.timedelta(hours=settings.ORDER_AT_RISK_HOURS))
    return today, horizon


def late_orders(now: dt.datetime | None = None) -> QuerySet[Order]:
    """Open orders whose promised delivery date has passed."""
    today, _ = _promise_window(now)
    return order_list().filter(status__in=OPEN_STATUSES, promised_date__lt=today)


def at_risk_orders(now: dt.datetime | None = None) -> QuerySet[Order]:
    """Open orders promised within the at-risk window (24 h by default), not yet late."""
    today, horizon = _promise_window(now)
    return order_list().filter(status__in=OPEN_STATUSES, promised_date__gte=today, promised_date__lte=horizon)


def on_hold_orders() -> QuerySet[Order]:
    return order_list().filter(status=OrderStatus.ON_HOLD)


def estimated_row_count(model) -> int | None:
    """PostgreSQL's planner estimate of a table's rows, or None elsewhere.

    Used instead of COUNT(*) for unfiltered lists of big tables.
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    if not row or row[0] is None or row[0] < 0:
        return None
    return int(row[0])
