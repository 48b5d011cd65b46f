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


# Up to this many customers matching a name are looked up first and passed as
# a list, which the planner estimates well; more, and the name is joined.
NAME_SEARCH_CUSTOMER_LIMIT = 500


def search_orders(queryset: QuerySet[Order], term: str) -> QuerySet[Order]:
    """Narrow ``queryset`` to orders matching one search term.

    An order number (with or without its prefix) matches exactly; an email
    matches the customer's email; a channel order id matches exactly;
    anything else matches customer names containing the term. Each branch is
    served by an index, so search stays fast on millions of orders.
    """
    term = term.strip()
    if not term:
        return queryset
    if ORDER_NUMBER_RE.match(term):
        digits = re.sub(r"\D", "", term)
        number = f"{settings.ORDER_NUMBER_PREFIX}{int(digits):07d}"
        return queryset.filter(Q(number=number) | Q(external_id=term))
    if "@" in term:
        return queryset.filter(customer__email=term.lower())
    if Order.objects.filter(external_id=term).exists():
        return queryset.filter(external_id=term)
    matching = Customer.objects.filter(name__icontains=term).order_by()
    customer_ids = list(matching.values_list("pk", flat=True)[: NAME_SEARCH_CUSTOMER_LIMIT + 1])
    if len(customer_ids) <= NAME_SEARCH_CUSTOMER_LIMIT:
        return queryset.filter(customer_id__in=customer_ids)
    # A common name: newest-first through the date index, checking membership.
    return queryset.filter(customer__in=matching.values("pk"))


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


def filter_late(queryset: QuerySet[Order], now: dt.datetime | None = None) -> QuerySet[Order]:
    """Open orders whose promised delivery date has passed."""
    today, _ = _promise_window(now)
    return queryset.filter(status__in=OPEN_STATUSES, promised_date__lt=today)


def filter_at_risk(queryset: QuerySet[Order], now: dt.datetime | None = None) -> QuerySet[Order]:
    """Open orders promised within the at-risk window (24 h by default), not yet late."""
    today, horizon = _promise_window(now)
    return queryset.filter(status__in=OPEN_STATUSES, promised_date__gte=today, promised_date__lte=horizon)


def late_orders(now: dt.datetime | None = None) -> QuerySet[Order]:
    return filter_late(order_list(), now)


def at_risk_orders(now: dt.datetime | None = None) -> QuerySet[Order]:
    return filter_at_risk(order_list(), now)


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
