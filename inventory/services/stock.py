"""Receiving, adjusting, transferring, writing off and restocking: each one ledger movement (or two)."""

from __future__ import annotations

import uuid

from django.db import transaction

from ..exceptions import InsufficientStock, InventoryError
from ..models import StockLevel, StockMovement
from ._common import enqueue_backorder_fill, lock_levels, post_movement

Kind = StockMovement.Kind


def _positive(quantity: int, what: str) -> int:
    if not isinstance(quantity, int) or quantity <= 0:
        raise InventoryError(f"{what} must be a whole number above zero, not {quantity!r}.")
    return quantity


def _reason(reason: str, action: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InventoryError(f"A reason is required to {action}.")
    return reason


def _check_can_remove(level: StockLevel, quantity: int, action: str) -> None:
    if quantity > level.available:
        raise InsufficientStock(
            f"Cannot {action} {quantity} × {level.product.sku} at {level.warehouse.code}: "
            f"{level.on_hand} on hand, {level.allocated} allocated, {level.available} available."
        )


@transaction.atomic
def receive_stock(
    *, warehouse_id: int, product_id: int, quantity: int, actor, reference: str = "", reason: str = ""
) -> StockMovement:
    """Add received units to a warehouse; waiting backorders of the SKU are allocated after commit."""
    _positive(quantity, "Quantity received")
    level = lock_levels([(warehouse_id, product_id)])[(warehouse_id, product_id)]
    movement = post_movement(
        level, kind=Kind.RECEIPT, quantity=quantity, actor=actor, reference=reference, reason=reason
    )
    enqueue_backorder_fill([product_id])
    return movement


@transaction.atomic
def adjust_stock(*, warehouse_id: int, product_id: int, quantity: int, reason: str, actor) -> StockMovement:
    """Correct on hand by a signed quantity, with a reason; never below what is allocated."""
    reason = _reason(reason, "adjust stock")
    if not isinstance(quantity, int) or quantity == 0:
        raise InventoryError(f"An adjustment must be a whole number other than zero, not {quantity!r}.")
    level = lock_levels([(warehouse_id, product_id)])[(warehouse_id, product_id)]
    if quantity < 0:
        _check_can_remove(level, -quantity, "remove")
    movement = post_movement(level, kind=Kind.ADJUSTMENT, quantity=quantity, actor=actor, reason=reason)
    if quantity > 0:
        enqueue_backorder_fill([product_id])
    return movement


@transaction.atomic
def transfer_stock(
    *, from_warehouse_id: int, to_warehouse_id: int, product_id: int, quantity: int, actor, reason: str = ""
) -> tuple[StockMovement, StockMovement]:
    """Move available units between warehouses: a transfer-out and a transfer-in with one reference."""
    _positive(quantity, "Quantity transferred")
    if from_warehouse_id == to_warehouse_id:
        raise InventoryError("A transfer needs two different warehouses.")
    levels = lock_levels([(from_warehouse_id, product_id), (to_warehouse_id, product_id)])
    source, target = levels[(from_warehouse_id, product_id)], levels[(to_warehouse_id, product_id)]
    _check_can_remove(source, quantity, "transfer")
    reference = f"TRF-{uuid.uuid4().hex[:10].upper()}"
    out = post_movement(
        source, kind=Kind.TRANSFER_OUT, quantity=-quantity, actor=actor, reference=reference, reason=reason
    )
    into = post_movement(
        target, kind=Kind.TRANSFER_IN, quantity=quantity, actor=actor, reference=reference, reason=reason
    )
    enqueue_backorder_fill([product_id])
    return out, into


@transaction.atomic
def write_off_stock(
    *, warehouse_id: int, product_id: int, quantity: int, reason: str, actor, reference: str = "", order_id=None
) -> StockMovement:
    """Remove damaged or lost units from on hand, with a reason."""
    _positive(quantity, "Quantity written off")
    reason = _reason(reason, "write stock off")
    level = lock_levels([(warehouse_id, product_id)])[(warehouse_id, product_id)]
    _check_can_remove(level, quantity, "write off")
    return post_movement(
        level,
        kind=Kind.WRITE_OFF,
        quantity=-quantity,
        actor=actor,
        reason=reason,
        reference=reference,
        order_id=order_id,
    )


@transaction.atomic
def restock_return(
    *, warehouse_id: int, product_id: int, quantity: int, actor, reference: str = "", order_id=None
) -> StockMovement:
    """Put returned sellable units back on the shelf; backorders may take them after commit."""
    _positive(quantity, "Quantity restocked")
    level = lock_levels([(warehouse_id, product_id)])[(warehouse_id, product_id)]
    movement = post_movement(
        level, kind=Kind.RETURN_RESTOCK, quantity=quantity, actor=actor, reference=reference, order_id=order_id
    )
    enqueue_backorder_fill([product_id])
    return movement
