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

from django.db.models import F
from django.utils import timezone

from .. import geo
from ..db import bulk_set
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


@dataclass(frozen=True)
class OrderRequest:
    order_id: int
    channel_id: int
    postal_code: str
    lines: list[LineRequest]
    country: str = "US"
    state: str = ""


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
    """Reserve stock for one order's lines; see ``allocate_batch``."""
    request = OrderRequest(order_id, channel_id, postal_code, lines, country, state)
    return allocate_batch([request], now=now)[order_id]


def allocate_batch(requests: list[OrderRequest], *, now=None) -> dict[int, AllocationResult]:
    """Reserve stock for many orders in one pass, in the order given; returns a result per order.

    For each order: the nearest complete warehouse, else the fewest-shipment
    split, the rest stays backordered (``routing.plan_allocation``), within
    exclusions, safety stock and daily capacity. Every stock level involved
    is locked once, in key order, and the writes are bulk. Call inside the
    caller's transaction, holding the orders' locks.
    """
    results: dict[int, AllocationResult] = {}
    pending = []
    for request in requests:
        lines = [line for line in request.lines if line.quantity > 0]
        if lines:
            pending.append((request, lines))
        else:
            results[request.order_id] = AllocationResult({}, {}, "nothing left to allocate", [], Plan())
    if not pending:
        return results

    warehouses = {w.pk: w for w in Warehouse.objects.filter(is_active=True).order_by("pk")}
    exclusions = list(RoutingExclusion.objects.filter(warehouse__in=list(warehouses)).select_related("warehouse"))
    rules = list(SafetyStockRule.objects.filter(channel_id__in={request.channel_id for request, _ in pending}))
    product_ids = {line.product_id for _, lines in pending for line in lines}
    today = timezone.localdate(now)
    # Capacity is read, not locked: two racing workers may each take the last slot.
    routed_today = dict(
        WarehouseDailyLoad.objects.filter(
            warehouse__in=[w for w in warehouses.values() if w.daily_order_capacity is not None], date=today
        ).values_list("warehouse_id", "orders")
    )
    existing = {
        (a.order_line_id, a.warehouse_id): a
        for a in Allocation.objects.filter(order_line_id__in=[line.line_id for _, lines in pending for line in lines])
    }
    # Everything that needs no stock is worked out before the stock locks are taken,
    # so that the time other workers wait on hot SKUs is as short as it can be.
    prepared = {request.order_id: _prepare(request, warehouses, exclusions) for request, _ in pending}
    levels = {
        (level.warehouse_id, level.product_id): level
        for level in StockLevel.objects.select_for_update(no_key=True)
        .filter(warehouse_id__in=list(warehouses), product_id__in=product_ids)
        .order_by("pk")
    }
    new_allocations: list[Allocation] = []
    grown: dict[int, Allocation] = {}  # existing allocations that gained units
    touched: dict[int, StockLevel] = {}
    routed_now: dict[int, int] = defaultdict(int)
    for request, lines in pending:
        plan, notes = _plan_one(request, lines, prepared[request.order_id], rules, levels, routed_today, routed_now)
        product_of = {line.line_id: line.product_id for line in lines}
        allocated: dict[int, int] = defaultdict(int)
        for line_id, warehouse_id, quantity in plan.picks:
            level = levels[(warehouse_id, product_of[line_id])]
            level.allocated += quantity
            touched[level.pk] = level
            allocated[line_id] += quantity
            allocation = existing.get((line_id, warehouse_id))
            if allocation is None:
                allocation = Allocation(
                    order_id=request.order_id,
                    order_line_id=line_id,
                    warehouse_id=warehouse_id,
                    product_id=product_of[line_id],
                    quantity=0,
                )
                existing[(line_id, warehouse_id)] = allocation
                new_allocations.append(allocation)
            elif allocation.pk is not None:
                grown[allocation.pk] = allocation
            allocation.quantity += quantity
        for candidate in plan.warehouses:
            routed_now[candidate.warehouse_id] += 1
        reason = plan.reason + (f" ({'; '.join(notes)})" if notes else "")
        results[request.order_id] = AllocationResult(
            dict(allocated), dict(plan.backordered), reason, [c.code for c in plan.warehouses], plan
        )
    _write(list(touched.values()), new_allocations, list(grown.values()), routed_now, warehouses, today)
    return results


def _prepare(request, warehouses, exclusions) -> tuple[list[tuple[Warehouse, float | None]], list[str]]:
    """The order's eligible warehouses with their distance to it, and notes for the timeline."""
    notes: list[str] = []
    destination = geo.coordinates_or_none(request.postal_code, request.country)
    if destination is None:
        notes.append(f"postal code {request.postal_code!r} not found: distance not used")
    excluded = set()
    for exclusion in exclusions:
        if exclusion.channel_id not in (None, request.channel_id):
            continue
        if exclusion.destination_state and exclusion.destination_state.lower() != (request.state or "").lower():
            continue
        if exclusion.warehouse_id not in excluded:
            excluded.add(exclusion.warehouse_id)
            notes.append(f"{exclusion.warehouse.code} excluded: {exclusion.reason}")
    eligible = [
        (
            warehouse,
            geo.distance_km(destination, warehouse.coordinates) if destination and warehouse.coordinates else None,
        )
        for warehouse in warehouses.values()
        if warehouse.pk not in excluded
    ]
    return eligible, notes


def _plan_one(request, lines, prepared, rules, levels, routed_today, routed_now) -> tuple[Plan, list[str]]:
    eligible, notes = prepared
    notes = list(notes)
    candidates = []
    for warehouse, distance in eligible:
        capacity = warehouse.daily_order_capacity
        if capacity is not None and routed_today.get(warehouse.pk, 0) + routed_now[warehouse.pk] >= capacity:
            notes.append(f"{warehouse.code} at daily capacity ({capacity} orders)")
            continue
        candidates.append(Candidate(warehouse.pk, warehouse.code, warehouse.priority, distance))
    channel_rules = [rule for rule in rules if rule.channel_id == request.channel_id]
    available = {}
    for line in lines:
        for warehouse, _ in eligible:
            level = levels.get((warehouse.pk, line.product_id))
            if level is None:
                continue
            held = max(
                (
                    rule.quantity
                    for rule in channel_rules
                    if rule.warehouse_id in (None, warehouse.pk) and rule.product_id in (None, line.product_id)
                ),
                default=0,
            )
            available[(warehouse.pk, line.product_id)] = max(0, level.on_hand - level.allocated - held)
    needs = [LineNeed(line.line_id, line.product_id, line.sku, line.quantity) for line in lines]
    return plan_allocation(needs, candidates, available), notes


def _write(touched, new_allocations, grown, routed_now, warehouses, today) -> None:
    now = timezone.now()
    for level in touched:
        level.updated_at = now
    bulk_set(StockLevel, touched, ["allocated", "updated_at"])
    Allocation.objects.bulk_create(new_allocations)
    bulk_set(Allocation, grown, ["quantity"])
    counted = sorted(w for w, n in routed_now.items() if n and warehouses[w].daily_order_capacity is not None)
    if counted:
        WarehouseDailyLoad.objects.bulk_create(
            [WarehouseDailyLoad(warehouse_id=w, date=today) for w in counted], ignore_conflicts=True
        )
        for warehouse_id in counted:  # warehouse order: the last locks taken
            WarehouseDailyLoad.objects.filter(warehouse_id=warehouse_id, date=today).update(
                orders=F("orders") + routed_now[warehouse_id]
            )


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
    now = timezone.now()
    for allocation in allocations:
        level = levels[(allocation.warehouse_id, allocation.product_id)]
        level.allocated -= allocation.quantity
        level.updated_at = now
        released[allocation.order_line_id] += allocation.quantity
    StockLevel.objects.bulk_update(list(levels.values()), ["allocated", "updated_at"])
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
