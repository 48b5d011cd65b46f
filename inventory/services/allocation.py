"""Reserving stock for order lines: routing under row locks, releasing, consuming on shipment.

These run inside the order workflow's transaction, which already holds the
order's row lock. Locks are taken in one global order: the order row, then
stock levels by primary key, then daily-load rows by warehouse. That order
is what keeps concurrent allocations, cancellations and receipts from
deadlocking.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .. import geo
from ..exceptions import InsufficientStock
from ..models import (
    Allocation,
    RoutingExclusion,
    SafetyStockRule,
    StockLevel,
    StockMovement,
    Warehouse,
    WarehouseDailyLoad,
)
from ..routing import Candidate, LineNeed, Plan, plan_allocation
from ._common import enqueue_backorder_fill, lock_levels, post_movement


@dataclass(frozen=True)
class LineRequest:
    line_id: int
    product_id: int
    sku: str
    quantity: int


@dataclass
class AllocationResult:
    allocated: dict[int, int]  # line id -> units reserved now
    backordered: dict[int, int]  # line id -> units still waiting
    reason: str
    warehouses: list[str]
    plan: Plan


def allocate_lines(
    *,
    order_id: int,
    channel_id: int,
    lines: list[LineRequest],
    postal_code: str,
    country: str = "US",
    state: str = "",
    now=None,
) -> AllocationResult:
    """Reserve stock for the lines, nearest complete warehouse first; the rest stays backordered.

    Writes Allocation rows and raises the levels' allocated counts. Call
    inside the caller's transaction, holding the order's lock.
    """
    lines = [line for line in lines if line.quantity > 0]
    if not lines:
        return AllocationResult({}, {}, "nothing left to allocate", [], Plan())
    destination = geo.coordinates_or_none(postal_code, country)
    notes: list[str] = []
    if destination is None:
        notes.append(f"postal code {postal_code!r} not found: distance not used")

    warehouses = {w.pk: w for w in Warehouse.objects.filter(is_active=True).order_by("pk")}
    exclusions = RoutingExclusion.objects.filter(
        Q(channel_id=channel_id) | Q(channel__isnull=True),
        Q(destination_state="") | Q(destination_state__iexact=state or ""),
    ).select_related("warehouse")
    for exclusion in exclusions:
        if warehouses.pop(exclusion.warehouse_id, None) is not None:
            notes.append(f"{exclusion.warehouse.code} excluded: {exclusion.reason}")

    product_ids = {line.product_id for line in lines}
    levels = {
        (level.warehouse_id, level.product_id): level
        for level in StockLevel.objects.select_for_update(no_key=True)
        .filter(warehouse_id__in=list(warehouses), product_id__in=product_ids)
        .order_by("pk")
    }
    held_back = _safety_stock(channel_id, levels)
    available = {key: max(0, level.on_hand - level.allocated - held_back.get(key, 0)) for key, level in levels.items()}

    loads = _lock_daily_loads([w for w in warehouses.values() if w.daily_order_capacity is not None], now)
    candidates = []
    for warehouse in warehouses.values():
        load = loads.get(warehouse.pk)
        if load is not None and load.orders >= warehouse.daily_order_capacity:
            notes.append(f"{warehouse.code} at daily capacity ({warehouse.daily_order_capacity} orders)")
            continue
        distance = (
            geo.distance_km(destination, warehouse.coordinates) if destination and warehouse.coordinates else None
        )
        candidates.append(Candidate(warehouse.pk, warehouse.code, warehouse.priority, distance))

    plan = plan_allocation(
        [LineNeed(line.line_id, line.product_id, line.sku, line.quantity) for line in lines], candidates, available
    )
    _apply(order_id, plan, lines, levels)
    for candidate in plan.warehouses:
        if candidate.warehouse_id in loads:
            load = loads[candidate.warehouse_id]
            load.orders += 1
            load.save(update_fields=["orders"])

    allocated: dict[int, int] = defaultdict(int)
    for line_id, _, quantity in plan.picks:
        allocated[line_id] += quantity
    reason = plan.reason + (f" ({'; '.join(notes)})" if notes else "")
    return AllocationResult(dict(allocated), dict(plan.backordered), reason, [c.code for c in plan.warehouses], plan)


def _safety_stock(channel_id: int, levels: dict[tuple[int, int], StockLevel]) -> dict[tuple[int, int], int]:
    """Units held back from this channel per (warehouse, product): the largest matching rule."""
    rules = list(SafetyStockRule.objects.filter(channel_id=channel_id))
    held: dict[tuple[int, int], int] = {}
    for key in levels:
        warehouse_id, product_id = key
        matching = [
            rule.quantity
            for rule in rules
            if rule.warehouse_id in (None, warehouse_id) and rule.product_id in (None, product_id)
        ]
        if matching:
            held[key] = max(matching)
    return held


def _lock_daily_loads(warehouses: list[Warehouse], now) -> dict[int, WarehouseDailyLoad]:
    if not warehouses:
        return {}
    today = timezone.localdate(now)
    with transaction.atomic():
        WarehouseDailyLoad.objects.bulk_create(
            [WarehouseDailyLoad(warehouse=w, date=today) for w in warehouses], ignore_conflicts=True
        )
    rows = (
        WarehouseDailyLoad.objects.select_for_update(no_key=True)
        .filter(warehouse__in=warehouses, date=today)
        .order_by("warehouse_id")
    )
    return {row.warehouse_id: row for row in rows}


def _apply(order_id: int, plan: Plan, lines: list[LineRequest], levels: dict) -> None:
    product_of = {line.line_id: line.product_id for line in lines}
    existing = {
        (a.order_line_id, a.warehouse_id): a
        for a in Allocation.objects.filter(order_line_id__in=[line.line_id for line in lines])
    }
    touched = {}
    for line_id, warehouse_id, quantity in plan.picks:
        product_id = product_of[line_id]
        level = levels[(warehouse_id, product_id)]
        level.allocated += quantity
        touched[level.pk] = level
        allocation = existing.get((line_id, warehouse_id))
        if allocation is None:
            existing[(line_id, warehouse_id)] = Allocation.objects.create(
                order_id=order_id,
                order_line_id=line_id,
                warehouse_id=warehouse_id,
                product_id=product_id,
                quantity=quantity,
            )
        else:
            allocation.quantity += quantity
            allocation.save(update_fields=["quantity"])
    StockLevel.objects.bulk_update(list(touched.values()), ["allocated"])


def release_allocations(*, order_id: int, line_ids: list[int] | None = None) -> dict[int, int]:
    """Give an order's reserved units back to stock; returns units released per line.

    Call inside the caller's transaction, holding the order's lock. Freed
    stock is offered to waiting backorders after commit.
    """
    allocations = Allocation.objects.filter(order_id=order_id)
    if line_ids is not None:
        allocations = allocations.filter(order_line_id__in=line_ids)
    allocations = list(allocations.order_by("pk"))
    if not allocations:
        return {}
    levels = lock_levels({(a.warehouse_id, a.product_id) for a in allocations})
    released: dict[int, int] = defaultdict(int)
    for allocation in allocations:
        levels[(allocation.warehouse_id, allocation.product_id)].allocated -= allocation.quantity
        released[allocation.order_line_id] += allocation.quantity
    StockLevel.objects.bulk_update(list(levels.values()), ["allocated"])
    Allocation.objects.filter(pk__in=[a.pk for a in allocations]).delete()
    enqueue_backorder_fill({a.product_id for a in allocations})
    return dict(released)


def consume_allocations(
    *, order_id: int, quantities: dict[int, int], actor, reference: str = "", warehouse_id: int | None = None
) -> list[StockMovement]:
    """Ship reserved units: allocated and on hand both drop, one shipment movement per warehouse and SKU.

    Raises InsufficientStock when a line has fewer units reserved than asked.
    """
    allocations = Allocation.objects.filter(order_id=order_id, order_line_id__in=list(quantities))
    if warehouse_id is not None:
        allocations = allocations.filter(warehouse_id=warehouse_id)
    by_line: dict[int, list[Allocation]] = defaultdict(list)
    for allocation in allocations.order_by("pk"):
        by_line[allocation.order_line_id].append(allocation)
    for line_id, quantity in quantities.items():
        reserved = sum(a.quantity for a in by_line[line_id])
        if quantity > reserved:
            raise InsufficientStock(f"Line {line_id}: cannot ship {quantity}, {reserved} reserved.")
    levels = lock_levels({(a.warehouse_id, a.product_id) for group in by_line.values() for a in group})
    shipped: dict[tuple[int, int], int] = defaultdict(int)
    for line_id, quantity in quantities.items():
        for allocation in by_line[line_id]:
            take = min(quantity, allocation.quantity)
            if take == 0:
                continue
            allocation.quantity -= take
            quantity -= take
            shipped[(allocation.warehouse_id, allocation.product_id)] += take
            if allocation.quantity:
                allocation.save(update_fields=["quantity"])
            else:
                allocation.delete()
    movements = []
    for key, units in sorted(shipped.items()):
        level = levels[key]
        level.allocated -= units
        movements.append(
            post_movement(
                level,
                kind=StockMovement.Kind.SHIPMENT,
                quantity=-units,
                actor=actor,
                reference=reference,
                order_id=order_id,
            )
        )
    return movements
