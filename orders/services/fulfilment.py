"""Routing orders to warehouses, filling backorders, shipping and delivery.

The order workflow strings the inventory services together here: the order
row is locked first, then inventory locks stock levels in key order.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Exists, F, OuterRef

from inventory import services as inventory
from inventory.exceptions import InventoryError

from ..exceptions import OrderError
from ..models import Order, OrderEvent, OrderLine, OrderStatus
from ._common import lock_order

logger = logging.getLogger(__name__)
ALLOCATABLE = (OrderStatus.RECEIVED, OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_SHIPPED)


@transaction.atomic
def allocate_order(*, order_id: int, actor) -> Order:
    """Reserve stock for everything not yet reserved, from the nearest warehouse(s).

    The order becomes allocated when every unit is reserved, backordered
    otherwise; the routing decision and its reason go on the timeline.
    """
    order = lock_order(order_id)
    if order.status not in ALLOCATABLE:
        raise OrderError(
            f"Order {order} is {order.get_status_display().lower()}; "
            "only received, backordered or partially shipped orders are allocated."
        )
    lines = list(order.lines.order_by("pk"))
    requests = [
        inventory.LineRequest(line.pk, line.product_id, line.sku, line.quantity_unallocated)
        for line in lines
        if line.quantity_unallocated > 0
    ]
    if not requests:
        if order.status == OrderStatus.RECEIVED:
            order.transition_to(OrderStatus.ALLOCATED, actor=actor, message="Every line already reserved")
        return order
    address = order.shipping_address
    result = inventory.allocate_lines(
        order_id=order.pk,
        channel_id=order.channel_id,
        lines=requests,
        postal_code=address.postal_code,
        country=address.country,
        state=address.state,
    )
    for line in lines:
        line.quantity_allocated += result.allocated.get(line.pk, 0)
    OrderLine.objects.bulk_update(lines, ["quantity_allocated"])
    complete = all(line.quantity_unallocated == 0 for line in lines)
    skus = {line.pk: line.sku for line in lines}
    data = {
        "warehouses": result.warehouses,
        "allocated": {skus[pk]: qty for pk, qty in result.allocated.items()},
        "backordered": {skus[pk]: qty for pk, qty in result.backordered.items()},
    }
    message = result.reason[:1].upper() + result.reason[1:]
    if order.status == OrderStatus.PARTIALLY_SHIPPED:
        target = order.status
    else:
        target = OrderStatus.ALLOCATED if complete else OrderStatus.BACKORDERED
    if target != order.status:
        order.transition_to(target, actor=actor, message=message, data=data)
    elif result.allocated:
        OrderEvent.record(order=order, kind=OrderEvent.Kind.ALLOCATION, actor=actor, message=message, data=data)
    return order


def fill_backorders(*, product_ids: list[int], limit: int = 500) -> int:
    """Allocate waiting orders that need these SKUs, oldest first; returns how many got stock.

    Each order is its own transaction, so one refusal does not stop the rest.
    """
    waiting_lines = OrderLine.objects.filter(
        order=OuterRef("pk"),
        product_id__in=product_ids,
        quantity__gt=F("quantity_shipped") + F("quantity_allocated"),
    )
    order_ids = list(
        Order.objects.filter(status__in=[OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_SHIPPED])
        .filter(Exists(waiting_lines))
        .order_by("placed_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    filled = 0
    for order_id in order_ids:
        before = _allocated_units(order_id)
        try:
            allocate_order(order_id=order_id, actor="system: backorder fill")
        except (OrderError, InventoryError) as refusal:
            logger.info("Backorder fill skipped order %s: %s", order_id, refusal)
            continue
        filled += _allocated_units(order_id) > before
    return filled


def _allocated_units(order_id: int) -> int:
    return sum(OrderLine.objects.filter(order_id=order_id).values_list("quantity_allocated", flat=True))


@transaction.atomic
def record_shipment(
    *, order_id: int, shipped: dict[int, int], actor, reference: str = "", warehouse_id: int | None = None
) -> Order:
    """Record units that left a warehouse: stock and reservations drop, the order moves on.

    ``shipped`` maps line id to units shipped now; they must be reserved.
    """
    order = lock_order(order_id)
    if order.status not in {OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_SHIPPED}:
        raise OrderError(f"Order {order} cannot ship while {order.get_status_display().lower()}.")
    lines = {line.pk: line for line in order.lines.select_for_update(no_key=True).order_by("pk")}
    for line_id, quantity in shipped.items():
        line = lines.get(line_id)
        if line is None:
            raise OrderError(f"Line {line_id} is not on order {order}.")
        if quantity <= 0 or quantity > line.quantity_allocated:
            raise OrderError(f"Line {line.sku}: cannot ship {quantity}, {line.quantity_allocated} allocated.")
        line.quantity_allocated -= quantity
        line.quantity_shipped += quantity
    try:
        inventory.consume_allocations(
            order_id=order.pk, quantities=shipped, actor=actor, reference=reference, warehouse_id=warehouse_id
        )
    except InventoryError as refusal:
        raise OrderError(str(refusal)) from refusal
    OrderLine.objects.bulk_update(lines.values(), ["quantity_allocated", "quantity_shipped"])
    everything_shipped = all(line.quantity_shipped == line.quantity for line in lines.values())
    target = OrderStatus.SHIPPED if everything_shipped else OrderStatus.PARTIALLY_SHIPPED
    units = sum(shipped.values())
    message = f"Shipped {units} unit{'s' if units != 1 else ''}" + (f" ({reference})" if reference else "")
    data = {"shipped": {lines[pk].sku: qty for pk, qty in shipped.items()}, "reference": reference}
    if order.status != target:
        order.transition_to(target, actor=actor, message=message, data=data)
    else:
        OrderEvent.record(order=order, kind=OrderEvent.Kind.NOTE, actor=actor, message=message, data=data)
    return order


@transaction.atomic
def mark_delivered(*, order_id: int, actor) -> Order:
    """Mark a shipped order delivered."""
    order = lock_order(order_id)
    order.transition_to(OrderStatus.DELIVERED, actor=actor)
    return order
