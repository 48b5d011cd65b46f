"""Moving an order's reserved units from one warehouse to another: released here, reserved there.

Runs inside the order workflow's transaction, which holds the order's row lock (a shipment split, merged or moved
before its label is bought). Every stock level involved, at both ends, is locked in one go in primary-key order,
the global lock order, so a move racing routing or another move queues instead of deadlocking.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.utils import timezone

from ..exceptions import InsufficientStock
from ..models import Allocation, Product, StockLevel, Warehouse
from ._common import enqueue_backorder_fill, lock_levels


@dataclass(frozen=True)
class UnitMove:
    """``quantity`` reserved units of an order line leave ``from_warehouse_id`` for ``to_warehouse_id``."""

    line_id: int
    product_id: int
    from_warehouse_id: int
    to_warehouse_id: int
    quantity: int


def available_units(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """Units on hand and not reserved per (warehouse id, product id), read without locks (for a preview)."""
    if not pairs:
        return {}
    levels = StockLevel.objects.filter(
        warehouse_id__in={w for w, _ in pairs}, product_id__in={p for _, p in pairs}
    ).values_list("warehouse_id", "product_id", "on_hand", "allocated")
    found = {(w, p): on_hand - allocated for w, p, on_hand, allocated in levels}
    return {pair: found.get(pair, 0) for pair in pairs}


def move_allocations(*, order_id: int, moves: list[UnitMove]) -> None:
    """Release the units at their warehouse and reserve them at the other, for one order, all or nothing.

    Locks every level of both ends in key order, then checks each destination has the units free (on hand less
    reserved; safety stock is a routing rule and does not bind an operator's move). Raises InsufficientStock
    naming the SKU and the warehouse when one does not, or when the order has fewer units reserved at the source
    than asked; nothing is changed then. Freed units are offered to waiting backorders after commit.
    Call inside the caller's transaction, holding the order's lock.
    """
    moves = [move for move in moves if move.quantity > 0 and move.from_warehouse_id != move.to_warehouse_id]
    if not moves:
        return
    allocations = {
        (a.order_line_id, a.warehouse_id): a
        for a in Allocation.objects.filter(order_id=order_id, order_line_id__in={m.line_id for m in moves}).order_by(
            "pk"
        )
    }
    leaving: dict[tuple[int, int], int] = defaultdict(int)  # (line, warehouse) -> units
    arriving: dict[tuple[int, int], int] = defaultdict(int)  # (warehouse, product) -> units
    for move in moves:
        leaving[(move.line_id, move.from_warehouse_id)] += move.quantity
        arriving[(move.to_warehouse_id, move.product_id)] += move.quantity
    names = _names({m.product_id for m in moves}, {w for m in moves for w in (m.from_warehouse_id, m.to_warehouse_id)})
    product_of = {m.line_id: m.product_id for m in moves}
    for (line_id, warehouse_id), units in sorted(leaving.items()):
        allocation = allocations.get((line_id, warehouse_id))
        reserved = allocation.quantity if allocation else 0
        if units > reserved:
            sku, code = names[0][product_of[line_id]], names[1][warehouse_id]
            raise InsufficientStock(f"{sku} at {code}: {units} to move, only {reserved} reserved for the order there.")
    pairs = {(m.from_warehouse_id, m.product_id) for m in moves} | set(arriving)
    levels = lock_levels(pairs)
    for (warehouse_id, product_id), units in sorted(arriving.items()):
        level = levels[(warehouse_id, product_id)]
        free = level.on_hand - level.allocated
        if units > free:
            sku, code = names[0][product_id], names[1][warehouse_id]
            raise InsufficientStock(f"{sku} at {code}: {units} wanted, {max(free, 0)} free (on hand less reserved).")
    now = timezone.now()
    for move in sorted(moves, key=lambda m: (m.line_id, m.from_warehouse_id, m.to_warehouse_id)):
        source = allocations[(move.line_id, move.from_warehouse_id)]
        source.quantity -= move.quantity
        if source.quantity:
            source.save(update_fields=["quantity"])
        else:
            source.delete()
        target = allocations.get((move.line_id, move.to_warehouse_id))
        if target is None or target.pk is None:
            target = Allocation.objects.create(
                order_id=order_id,
                order_line_id=move.line_id,
                warehouse_id=move.to_warehouse_id,
                product_id=move.product_id,
                quantity=move.quantity,
            )
            allocations[(move.line_id, move.to_warehouse_id)] = target
        else:
            target.quantity += move.quantity
            target.save(update_fields=["quantity"])
        levels[(move.from_warehouse_id, move.product_id)].allocated -= move.quantity
        levels[(move.to_warehouse_id, move.product_id)].allocated += move.quantity
    for level in levels.values():
        level.updated_at = now
    # The database checks 0 ≤ allocated ≤ on_hand on every row as it is written.
    StockLevel.objects.bulk_update(sorted(levels.values(), key=lambda level: level.pk), ["allocated", "updated_at"])
    enqueue_backorder_fill({m.product_id for m in moves})


def _names(product_ids: set[int], warehouse_ids: set[int]) -> tuple[dict[int, str], dict[int, str]]:
    skus = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "sku"))
    codes = dict(Warehouse.objects.filter(pk__in=warehouse_ids).values_list("pk", "code"))
    return skus, codes
