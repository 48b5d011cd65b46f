"""The customer record's reads: the list's figures as annotations, one customer's page, a merge's preview.

Money is summed per currency, never across currencies: a customer who ordered in USD and EUR has two
lifetime values. Cancelled orders count as orders but add nothing to the value. A figure of the list is a
column of one annotated query; a customer's page reads each of its sections once.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet, Sum

from notifications.models import Message

from .customer_models import CustomerEvent, CustomerNote, CustomerTag
from .models import Address, Customer, Order, OrderStatus
from .returns.models import OrderErrorCase, Refund, ReturnRequest

CENT = Decimal("0.01")
COUNTED = ~Q(orders__status=OrderStatus.CANCELLED)  # orders whose value counts


def customer_list() -> QuerySet[Customer]:
    """Customers with the list's figures as columns: orders, counted orders, first and last order, the value
    (when all counted orders share one currency), how many currencies, and whether any order was returned."""
    returned = ReturnRequest.objects.filter(order__customer=OuterRef("pk"))
    return Customer.objects.annotate(
        order_count=Count("orders", distinct=True),
        counted_orders=Count("orders", filter=COUNTED, distinct=True),
        first_order_at=Min("orders__placed_at"),
        last_order_at=Max("orders__placed_at"),
        currency_count=Count("orders__currency", filter=COUNTED, distinct=True),
        value_currency=Max("orders__currency", filter=COUNTED),
        lifetime_value=Sum("orders__grand_total", filter=COUNTED),
        has_returns=Exists(returned),
    )


def filter_lifetime_value(
    queryset: QuerySet[Customer], *, low: Decimal | None, high: Decimal | None
) -> QuerySet[Customer]:
    """Customers whose lifetime value in some currency lies in [low, high): each currency on its own."""
    totals = (
        Order.objects.filter(customer=OuterRef("pk"))
        .exclude(status=OrderStatus.CANCELLED)
        .values("currency")
        .annotate(total=Sum("grand_total"))
    )
    if low is not None:
        totals = totals.filter(total__gte=low)
    if high is not None:
        totals = totals.filter(total__lt=high)
    return queryset.filter(Exists(totals))


def values_by_currency(customer_ids: list[int]) -> dict[int, dict[str, Decimal]]:
    """Each customer's lifetime value per currency (one query for a page of the list)."""
    rows = (
        Order.objects.filter(customer_id__in=customer_ids)
        .exclude(status=OrderStatus.CANCELLED)
        .values_list("customer_id", "currency")
        .annotate(total=Sum("grand_total"))
        .order_by("customer_id", "currency")
    )
    values: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for customer_id, currency, total in rows:
        values[customer_id][currency] = total
    return dict(values)


def money(values: dict[str, Decimal]) -> str:
    """ "USD 120.00 · EUR 45.50", or "—"."""
    return " · ".join(f"{currency} {amount.quantize(CENT):,}" for currency, amount in sorted(values.items())) or "—"


@dataclass(frozen=True)
class CurrencyFigures:
    """A customer's money in one currency."""

    currency: str
    orders: int  # counted (not cancelled) orders in this currency
    lifetime_value: Decimal
    average_order_value: Decimal
    refunded: Decimal


@dataclass
class CustomerRecord:
    """Everything the customer's page shows, read once."""

    customer: Customer
    orders: list[Order]
    order_count: int
    cancelled_count: int
    first_order_at: dt.datetime | None
    last_order_at: dt.datetime | None
    by_currency: list[CurrencyFigures]
    returns: list[ReturnRequest]
    orders_returned: int
    returns_rate: Decimal | None  # share of counted orders with a return, 0..1
    return_reasons: list[tuple[str, int]]
    error_cases: list[OrderErrorCase]
    messages: list[Message]
    message_status: list[tuple[str, int]]
    notes: list[CustomerNote]
    tags: list[CustomerTag]
    events: list[CustomerEvent]
    addresses_used: list[tuple[str, list[str]]]  # the address as written, the orders that used it
    address_book: list[Address] = field(default_factory=list)

    @property
    def counted_orders(self) -> int:
        return self.order_count - self.cancelled_count

    @property
    def returns_rate_text(self) -> str:
        """The rate in words: "1 of 4 orders (25%)"; "—" with no counted orders."""
        if self.returns_rate is None:
            return "—"
        percent = (self.returns_rate * 100).quantize(Decimal("1"))
        return f"{self.orders_returned} of {self.counted_orders} orders ({percent}%)"


def customer_record(customer: Customer) -> CustomerRecord:
    """One customer's page: orders, figures per currency, returns, errors, messages, notes, tags, addresses."""
    orders = list(
        customer.orders.select_related("shipping_address", "billing_address", "channel").order_by("-placed_at", "-pk")
    )
    counted = [o for o in orders if o.status != OrderStatus.CANCELLED]
    refunds = defaultdict(Decimal)
    for currency, amount in (
        Refund.objects.filter(order__customer=customer)
        .exclude(status=Refund.Status.FAILED)
        .values_list("currency", "amount")
    ):
        refunds[currency] += amount
    by_currency = []
    for currency in sorted({o.currency for o in counted}):
        in_currency = [o for o in counted if o.currency == currency]
        total = sum((o.grand_total for o in in_currency), Decimal("0"))
        by_currency.append(
            CurrencyFigures(
                currency=currency,
                orders=len(in_currency),
                lifetime_value=total,
                average_order_value=(total / len(in_currency)).quantize(CENT),
                refunded=refunds.get(currency, Decimal("0")),
            )
        )
    returns = list(
        ReturnRequest.objects.filter(order__customer=customer).select_related("order").order_by("-created_at")
    )
    returned_orders = {r.order_id for r in returns if r.order.status != OrderStatus.CANCELLED}
    reasons: dict[str, int] = defaultdict(int)
    for rma in returns:
        reasons[rma.get_reason_display()] += 1
    messages = list(
        Message.objects.filter(order__customer=customer, audience=Message.Audience.CUSTOMER)
        .select_related("order")
        .order_by("-created_at", "-id")
    )
    statuses: dict[str, int] = defaultdict(int)
    for message in messages:
        statuses[message.get_status_display()] += 1
    used: dict[str, list[str]] = {}
    for order in orders:
        for address in {order.shipping_address, order.billing_address} - {None}:
            used.setdefault(_address_text(address), []).append(order.number or str(order.pk))
    return CustomerRecord(
        customer=customer,
        orders=orders,
        order_count=len(orders),
        cancelled_count=len(orders) - len(counted),
        first_order_at=min((o.placed_at for o in orders), default=None),
        last_order_at=max((o.placed_at for o in orders), default=None),
        by_currency=by_currency,
        returns=returns,
        orders_returned=len(returned_orders),
        returns_rate=(Decimal(len(returned_orders)) / len(counted)) if counted else None,
        return_reasons=sorted(reasons.items(), key=lambda item: (-item[1], item[0])),
        error_cases=list(
            OrderErrorCase.objects.filter(order__customer=customer).select_related("order").order_by("-pk")
        ),
        messages=messages,
        message_status=sorted(statuses.items()),
        notes=list(customer.notes.all()),
        tags=list(customer.tags.all()),
        events=list(customer.events.all()),
        addresses_used=sorted(used.items()),
        address_book=list(customer.addresses.all()),
    )


def _address_text(address: Address) -> str:
    parts = (
        address.name,
        address.company,
        address.line1,
        address.line2,
        address.city,
        address.state,
        address.postal_code,
        address.country,
    )
    return ", ".join(part for part in parts if part)


@dataclass(frozen=True)
class MergePreview:
    """What a merge moves from the duplicate to the kept customer."""

    keep: Customer
    duplicate: Customer
    orders: list[Order]
    returns: list[ReturnRequest]
    messages: int
    notes: int
    addresses: int
    tags: list[str]


def merge_preview(*, keep: Customer, duplicate: Customer) -> MergePreview:
    """The rows a merge of ``duplicate`` into ``keep`` would move, as they are now."""
    return MergePreview(
        keep=keep,
        duplicate=duplicate,
        orders=list(duplicate.orders.order_by("pk")),
        returns=list(ReturnRequest.objects.filter(order__customer=duplicate).select_related("order").order_by("pk")),
        messages=Message.objects.filter(order__customer=duplicate).count(),
        notes=duplicate.notes.count(),
        addresses=duplicate.addresses.count(),
        tags=[tag.name for tag in duplicate.tags.all()],
    )


def possible_duplicates(customer: Customer) -> QuerySet[Customer]:
    """Other customers who may be the same person: the same email in any case, or the same phone."""
    same = Q(email__iexact=customer.email)
    if customer.phone:
        same |= Q(phone=customer.phone)
    return Customer.objects.filter(same).exclude(pk=customer.pk).filter(erasure__isnull=True).order_by("pk")
