"""Every write to orders: placing them and moving them through their statuses.

Each service is one transaction, locks the order row it changes, and writes
the timeline event through ``Order.transition_to`` or ``OrderEvent.record``.
The admin, the API and tasks call these; these never call them back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from inventory.models import Product

from .exceptions import OrderError, ReasonRequired
from .models import (
    OPEN_STATUSES,
    Address,
    Channel,
    Customer,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    normalize_email,
)

CENT = Decimal("0.01")


@dataclass(frozen=True)
class CustomerData:
    name: str
    email: str
    phone: str = ""
    accepts_marketing: bool = False


@dataclass(frozen=True)
class AddressData:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str = "US"
    state: str = ""
    line2: str = ""
    company: str = ""
    phone: str = ""


@dataclass(frozen=True)
class LineData:
    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class OrderData:
    external_id: str
    customer: CustomerData
    shipping_address: AddressData
    lines: list[LineData]
    currency: str = "USD"
    billing_address: AddressData | None = None
    shipping_total: Decimal = Decimal("0.00")
    tax_total: Decimal = Decimal("0.00")
    discount_total: Decimal = Decimal("0.00")
    promised_date: dt.date | None = None
    placed_at: dt.datetime | None = None
    extra: dict = field(default_factory=dict)


def format_order_number(pk: int) -> str:
    """The human-friendly order number for a primary key, e.g. SO-0001042."""
    return f"{settings.ORDER_NUMBER_PREFIX}{pk:07d}"


def _require_reason(reason: str, action: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(f"A reason is required to {action} an order.")
    return reason


def _lock_order(order_id: int) -> Order:
    """Lock one order row for the rest of the transaction."""
    return Order.objects.select_for_update().get(pk=order_id)


def _upsert_customer(data: CustomerData) -> Customer:
    email = normalize_email(data.email)
    customer, _ = Customer.objects.get_or_create(
        email=email,
        defaults={
            "name": data.name.strip(),
            "phone": data.phone,
            "accepts_marketing": data.accepts_marketing,
        },
    )
    return customer


def _create_address(customer: Customer, data: AddressData) -> Address:
    return Address.objects.create(
        customer=customer,
        name=data.name.strip(),
        company=data.company,
        line1=data.line1.strip(),
        line2=data.line2.strip(),
        city=data.city.strip(),
        state=data.state.strip(),
        postal_code=data.postal_code.strip(),
        country=data.country.strip().upper(),
        phone=data.phone,
    )


def place_order(*, channel: Channel, data: OrderData, actor) -> tuple[Order, bool]:
    """Record an order from a channel; idempotent on (channel, external id).

    Returns ``(order, created)``. A second call with an external id the
    channel already used returns the existing order untouched. Writes the
    ``placed`` timeline event. Raises OrderError for an unknown SKU or an
    order with no lines.
    """
    existing = Order.objects.filter(channel=channel, external_id=data.external_id).first()
    if existing is not None:
        return existing, False
    if not data.lines:
        raise OrderError("An order needs at least one line.")
    skus = {line.sku for line in data.lines}
    products = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    unknown = sorted(skus - products.keys())
    if unknown:
        raise OrderError(f"Unknown SKU: {', '.join(unknown)}.")
    try:
        with transaction.atomic():
            order = _create_order(channel=channel, data=data, products=products, actor=actor)
    except IntegrityError:
        # A concurrent request placed the same external id first: theirs stands.
        existing = Order.objects.filter(channel=channel, external_id=data.external_id).first()
        if existing is None:
            raise
        return existing, False
    return order, True


def _create_order(*, channel: Channel, data: OrderData, products: dict[str, Product], actor) -> Order:
    customer = _upsert_customer(data.customer)
    shipping_address = _create_address(customer, data.shipping_address)
    billing_address = _create_address(customer, data.billing_address) if data.billing_address else shipping_address
    subtotal = sum((Decimal(line.unit_price) * line.quantity for line in data.lines), Decimal("0"))
    grand_total = subtotal + data.shipping_total + data.tax_total - data.discount_total
    order = Order.objects.create(
        channel=channel,
        external_id=data.external_id,
        customer=customer,
        shipping_address=shipping_address,
        billing_address=billing_address,
        currency=data.currency.upper(),
        subtotal=subtotal.quantize(CENT),
        shipping_total=Decimal(data.shipping_total).quantize(CENT),
        tax_total=Decimal(data.tax_total).quantize(CENT),
        discount_total=Decimal(data.discount_total).quantize(CENT),
        grand_total=max(grand_total, Decimal("0")).quantize(CENT),
        promised_date=data.promised_date,
        placed_at=data.placed_at or timezone.now(),
    )
    order.number = format_order_number(order.pk)
    order.save(update_fields=["number"])
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product=products[line.sku],
            sku=line.sku,
            name=products[line.sku].name,
            quantity=line.quantity,
            unit_price=Decimal(line.unit_price).quantize(CENT),
        )
        for line in data.lines
    )
    OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.PLACED,
        actor=actor,
        message=f"Order placed on {channel.name} as {data.external_id}.",
        data={"channel": channel.code, "external_id": data.external_id, "grand_total": order.grand_total},
    )
    return order


@transaction.atomic
def hold_order(*, order_id: int, reason: str, actor) -> Order:
    """Put an order on hold, stopping fulfilment until it is released."""
    reason = _require_reason(reason, "hold")
    order = _lock_order(order_id)
    order.transition_to(OrderStatus.ON_HOLD, actor=actor, message=f"Put on hold: {reason}", data={"reason": reason})
    return order


@transaction.atomic
def release_order(*, order_id: int, actor, note: str = "") -> Order:
    """Release a held order back to the status it was held from."""
    order = _lock_order(order_id)
    if order.status != OrderStatus.ON_HOLD:
        raise OrderError(f"Order {order} is not on hold (it is {order.get_status_display().lower()}).")
    target = order.held_from_status or OrderStatus.RECEIVED
    message = f"Released from hold to {OrderStatus(target).label.lower()}"
    order.transition_to(target, actor=actor, message=f"{message}: {note}" if note else message, data={"note": note})
    return order


@transaction.atomic
def cancel_order(*, order_id: int, reason: str, actor) -> Order:
    """Cancel an order before anything has shipped and drop its allocations."""
    reason = _require_reason(reason, "cancel")
    order = _lock_order(order_id)
    order.transition_to(OrderStatus.CANCELLED, actor=actor, message=f"Cancelled: {reason}", data={"reason": reason})
    OrderLine.objects.filter(order=order, quantity_allocated__gt=0).update(quantity_allocated=0)
    return order


@transaction.atomic
def record_allocation(*, order_id: int, allocated: dict[int, int], actor, message: str = "") -> Order:
    """Record how much of each line is reserved and move the order accordingly.

    ``allocated`` maps line id to the quantity now allocated. Fully covered
    orders become allocated, others backordered. The inventory app decides
    the quantities; this records them on the order.
    """
    order = _lock_order(order_id)
    lines = list(order.lines.select_for_update().order_by("pk"))
    for line in lines:
        quantity = allocated.get(line.pk, line.quantity_allocated)
        if quantity < 0 or quantity > line.quantity - line.quantity_shipped:
            raise OrderError(f"Line {line.sku}: cannot allocate {quantity} of {line.quantity - line.quantity_shipped}.")
        line.quantity_allocated = quantity
    OrderLine.objects.bulk_update(lines, ["quantity_allocated"])
    complete = all(line.quantity_unallocated == 0 for line in lines)
    target = OrderStatus.ALLOCATED if complete else OrderStatus.BACKORDERED
    if order.status != target:
        order.transition_to(target, actor=actor, message=message, data={"allocated": allocated})
    return order


@transaction.atomic
def record_shipment(*, order_id: int, shipped: dict[int, int], actor, reference: str = "") -> Order:
    """Record units that left a warehouse; the order becomes partially shipped or shipped.

    ``shipped`` maps line id to units shipped now; they must be allocated.
    """
    order = _lock_order(order_id)
    if order.status not in {OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_SHIPPED}:
        raise OrderError(f"Order {order} cannot ship while {order.get_status_display().lower()}.")
    lines = {line.pk: line for line in order.lines.select_for_update().order_by("pk")}
    for line_id, quantity in shipped.items():
        line = lines.get(line_id)
        if line is None:
            raise OrderError(f"Line {line_id} is not on order {order}.")
        if quantity <= 0 or quantity > line.quantity_allocated:
            raise OrderError(f"Line {line.sku}: cannot ship {quantity}, {line.quantity_allocated} allocated.")
        line.quantity_allocated -= quantity
        line.quantity_shipped += quantity
    OrderLine.objects.bulk_update(lines.values(), ["quantity_allocated", "quantity_shipped"])
    everything_shipped = all(line.quantity_shipped == line.quantity for line in lines.values())
    target = OrderStatus.SHIPPED if everything_shipped else OrderStatus.PARTIALLY_SHIPPED
    units = sum(shipped.values())
    message = f"Shipped {units} unit{'s' if units != 1 else ''}" + (f" ({reference})" if reference else "")
    if order.status != target:
        order.transition_to(target, actor=actor, message=message, data={"shipped": shipped, "reference": reference})
    else:
        OrderEvent.record(
            order=order,
            kind=OrderEvent.Kind.NOTE,
            actor=actor,
            message=message,
            data={"shipped": shipped, "reference": reference},
        )
    return order


@transaction.atomic
def mark_delivered(*, order_id: int, actor) -> Order:
    """Mark a shipped order delivered."""
    order = _lock_order(order_id)
    order.transition_to(OrderStatus.DELIVERED, actor=actor)
    return order


@transaction.atomic
def add_order_note(*, order_id: int, message: str, actor) -> OrderEvent:
    """Add an operator's note to the order's timeline."""
    message = (message or "").strip()
    if not message:
        raise OrderError("A note cannot be empty.")
    order = Order.objects.get(pk=order_id)
    return OrderEvent.record(order=order, kind=OrderEvent.Kind.NOTE, actor=actor, message=message)


@transaction.atomic
def flag_late_orders(*, today: dt.date | None = None) -> int:
    """Write a 'promise missed' event on each open order whose promised date has passed.

    Each order is flagged once. Returns how many orders were flagged.
    """
    today = today or timezone.localdate()
    already_flagged = OrderEvent.objects.filter(order=OuterRef("pk"), kind=OrderEvent.Kind.PROMISE_MISSED)
    late = (
        Order.objects.filter(status__in=OPEN_STATUSES, promised_date__lt=today)
        .filter(~Exists(already_flagged))
        .only("pk", "number", "promised_date")
    )
    now = timezone.now()
    events = [
        OrderEvent(
            order=order,
            kind=OrderEvent.Kind.PROMISE_MISSED,
            message=f"Promised delivery date {order.promised_date:%Y-%m-%d} has passed and the order has not shipped.",
            actor_name="system: promise sweep",
            data={"promised_date": order.promised_date.isoformat()},
            created_at=now,
        )
        for order in late.iterator(chunk_size=2000)
    ]
    OrderEvent.objects.bulk_create(events, batch_size=2000)
    return len(events)
