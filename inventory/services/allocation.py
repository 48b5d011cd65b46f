"""Reserving stock for order lines: routing under row locks, releasing, consuming on shipment.

These run inside the order workflow's transaction, which already holds the
order's row lock. Locks are taken in one global order: the order row, then
stock levels by primary key, then daily-load rows by warehouse. That order
is what keeps concurrent allocations, cancellations and receipts from
deadlocking.

A few stock levels (the best sellers) are wanted by every allocation, so
whoever holds them holds up every other worker: a reservation takes them
last, in the one statement that checks and raises them, right before the
COMMIT, with no Python in between.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, fields
from typing import Protocol

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import F
from django.utils import timezone

from oms_core.sql import any_of, columns, from_row

from .. import geo
from ..db import bulk_insert, bulk_set
from ..exceptions import InsufficientStock, StockChanged
from ..models import (
    Allocation,
    RoutingExclusion,
    SafetyStockRule,
    StockLevel,
    StockMovement,
    Warehouse,
    WarehouseDailyLoad,
)
from ..routing import Candidate, Exclusion, Hold, LineNeed, Plan, Pricing, plan_allocation
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
    promised_date: dt.date | None = None  # the date promised: landed-cost routing must meet it if any plan can
    aim_date: dt.date | None = None  # nothing promised: the store's own target, worth a limited premium
    # A business customer's own rules, named in the reason as ``customer_rule``: warehouses never shipped from,
    # and warehouses preferred whenever they can ship the order complete by its date.
    excluded_warehouses: tuple[int, ...] = ()
    preferred_warehouses: tuple[int, ...] = ()
    customer_rule: str = ""


class LandedCost(Protocol):
    """Prices plans for routing (the shipping layer's ``shipping.landed_cost.LandedCostRouting``)."""

    def pricings(self, requests: list[OrderRequest], warehouses: dict[int, Warehouse]) -> dict[int, Pricing]:
        """Each order's pricing, by order id; an order left out is routed nearest first."""
        ...


@dataclass
class AllocationResult:
    allocated: dict[int, int]  # line id -> units reserved now
    backordered: dict[int, int]  # line id -> units still waiting
    reason: str
    warehouses: list[str]
    plan: Plan


@dataclass
class Reservation:
    """A planned allocation, not yet written: ``reserve`` applies it."""

    results: dict[int, AllocationResult]
    locked: bool
    increments: dict[int, int] = field(default_factory=dict)  # stock level id -> units to allocate
    keep_free: dict[int, int] = field(default_factory=dict)  # stock level id -> safety stock to leave
    new_allocations: list[Allocation] = field(default_factory=list)
    grown: list[Allocation] = field(default_factory=list)
    routed_now: dict[int, int] = field(default_factory=dict)
    capacity_warehouses: set[int] = field(default_factory=set)
    today: object = None


def plan_batch(
    requests: list[OrderRequest], *, lock: bool, now=None, landed_cost: LandedCost | None = None
) -> Reservation:
    """Route many orders in one pass, in the order given, and return the plan unwritten.

    For each order: the nearest complete warehouse, else the fewest-shipment
    split, the rest stays backordered (``routing.plan_allocation``), within
    exclusions, safety stock and daily capacity; each order sees what the
    previous ones took. With ``lock`` the stock levels are locked (in key
    order) as they are read; without, they are read as they stand and
    ``reserve`` checks them under lock at the end, raising StockChanged when
    another transaction took the units meanwhile (the caller retries).
    With ``landed_cost``, each order's warehouse(s) and service are chosen
    together, on landed cost by its promised date (``routing`` module).
    Call inside the caller's transaction, holding the orders' locks.
    """
    results: dict[int, AllocationResult] = {}
    pending = []
    for request in requests:
        lines = [line for line in request.lines if line.quantity > 0]
        if lines:
            pending.append((request, lines))
        else:
            results[request.order_id] = AllocationResult({}, {}, "nothing left to allocate", [], Plan())
    reservation = Reservation(results=results, locked=lock)
    if not pending:
        return reservation

    warehouses = {w.pk: w for w in Warehouse.objects.filter(is_active=True).order_by("pk")}
    exclusions = list(RoutingExclusion.objects.filter(warehouse__in=list(warehouses)).select_related("warehouse"))
    rules = list(
        SafetyStockRule.objects.filter(channel_id__in={request.channel_id for request, _ in pending}).select_related(
            "warehouse", "product"
        )
    )
    product_ids = {line.product_id for _, lines in pending for line in lines}
    today = timezone.localdate(now)
    capacity_warehouses = {w.pk for w in warehouses.values() if w.daily_order_capacity is not None}
    # Capacity is read, not locked: two racing workers may each take the last slot.
    routed_today = dict(
        WarehouseDailyLoad.objects.filter(warehouse__in=capacity_warehouses, date=today).values_list(
            "warehouse_id", "orders"
        )
    )
    existing = {
        (a.order_line_id, a.warehouse_id): a
        for a in _read_rows(Allocation, "order_line_id", [line.line_id for _, lines in pending for line in lines])
    }
    # orders to the same place through the same channel share their warehouses' distances and exclusions
    places: dict[tuple, _Prepared] = {}
    prepared = {}
    for request, _ in pending:
        place = _place_of(request)
        if place not in places:
            places[place] = _prepare(request, warehouses, exclusions)
        prepared[request.order_id] = places[place]
    pricings = landed_cost.pricings([request for request, _ in pending], warehouses) if landed_cost else {}
    levels = {
        (level.warehouse_id, level.product_id): level
        for level in _read_rows(StockLevel, "product_id", product_ids, warehouse_id=list(warehouses), lock=lock)
    }
    grown: dict[int, Allocation] = {}
    routed_now: dict[int, int] = defaultdict(int)
    for request, lines in pending:
        plan, holdback = _plan_one(
            request,
            lines,
            prepared[request.order_id],
            rules,
            levels,
            routed_today,
            routed_now,
            pricing=pricings.get(request.order_id),
        )
        product_of = {line.line_id: line.product_id for line in lines}
        allocated: dict[int, int] = defaultdict(int)
        for line_id, warehouse_id, quantity in plan.picks:
            level = levels[(warehouse_id, product_of[line_id])]
            level.allocated += quantity
            reservation.increments[level.pk] = reservation.increments.get(level.pk, 0) + quantity
            reservation.keep_free[level.pk] = max(
                reservation.keep_free.get(level.pk, 0), holdback.get((warehouse_id, product_of[line_id]), 0)
            )
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
                reservation.new_allocations.append(allocation)
            elif allocation.pk is not None:
                grown[allocation.pk] = allocation
            allocation.quantity += quantity
        for candidate in plan.warehouses:
            routed_now[candidate.warehouse_id] += 1
        results[request.order_id] = AllocationResult(
            dict(allocated), dict(plan.backordered), plan.reason, [c.code for c in plan.warehouses], plan
        )
    reservation.grown = list(grown.values())
    reservation.routed_now = dict(routed_now)
    reservation.capacity_warehouses = capacity_warehouses
    reservation.today = today
    return reservation


def _read_rows(model, column: str, values, *, lock: bool = False, **also) -> list:
    """``model``'s rows whose ``column`` is one of ``values`` (and each column of ``also`` one of its values), in
    key order, locked (FOR NO KEY UPDATE) with ``lock``.

    A hand-written read (``oms_core.sql``): the ORM built these queries anew for every batch, its cost growing
    with the number of values, and on PostgreSQL the values go as arrays, so the statement is prepared once per
    connection.
    """
    values = list(values)
    if not values or any(not list(other) for other in also.values()):
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    selected, names = columns(model, "t")
    conditions, params = [], []
    for name, wanted in [(column, values), *also.items()]:
        condition, condition_params = any_of(f"t.{connection.ops.quote_name(name)}", wanted)
        conditions.append(condition)
        params += condition_params
    lock_clause = " FOR NO KEY UPDATE" if lock and connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {selected} FROM {connection.ops.quote_name(model._meta.db_table)} AS t "
            f"WHERE {' AND '.join(conditions)} ORDER BY t.id{lock_clause}",
            params,
        )
        return [from_row(model, names, row) for row in cursor.fetchall()]


def reserve(reservation: Reservation) -> None:
    """Write a planned allocation: allocation rows, then stock levels, then daily loads.

    The allocation rows go first: they lock nothing another allocation
    waits for. The stock levels are locked in key order and raised by one
    statement, so that the hot rows are held from there to COMMIT only (the
    daily loads, with a warehouse capacity, come after them in the lock
    order). Unless the plan was made under lock, that statement re-checks
    each level: when another transaction took the units (or the safety
    stock) in the meantime, StockChanged is raised and nothing of the plan
    should be kept (the caller's transaction rolls back and retries).
    """
    bulk_insert(Allocation, reservation.new_allocations)
    bulk_set(Allocation, reservation.grown, ["quantity"])
    if reservation.increments:
        _raise_allocated(reservation)
    counted = sorted(w for w, n in reservation.routed_now.items() if n and w in reservation.capacity_warehouses)
    if counted:
        WarehouseDailyLoad.objects.bulk_create(
            [WarehouseDailyLoad(warehouse_id=w, date=reservation.today) for w in counted], ignore_conflicts=True
        )
        for warehouse_id in counted:  # warehouse order: the last locks taken
            WarehouseDailyLoad.objects.filter(warehouse_id=warehouse_id, date=reservation.today).update(
                orders=F("orders") + reservation.routed_now[warehouse_id]
            )


def _raise_allocated(reservation: Reservation) -> None:
    """Lock the planned levels in key order and add their units, re-checking them unless the plan was locked.

    Raises StockChanged when a level no longer has the units (and the safety stock) the plan counted on.
    """
    ids = sorted(reservation.increments)
    now = timezone.now()
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql":
        levels = list(StockLevel.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk"))
        if not reservation.locked:
            for level in levels:
                if level.on_hand - level.allocated - reservation.increments[level.pk] < reservation.keep_free[level.pk]:
                    raise StockChanged(f"Stock of {level.pk} changed while the batch was planned; plan again.")
        for level in levels:
            level.allocated += reservation.increments[level.pk]
            level.updated_at = now
        bulk_set(StockLevel, levels, ["allocated", "updated_at"])
        return
    # One round trip: the CTE locks the rows in key order (its sort comes before its row locks), the UPDATE
    # raises those that still have the units. A row updated by another transaction since this statement's
    # snapshot is re-read at its newest version before the check (READ COMMITTED's re-check). The levels come as
    # arrays, so the statement's text is the same for every batch (prepared once per connection).
    table = connection.ops.quote_name(StockLevel._meta.db_table)
    key_type = StockLevel._meta.pk.db_type(connection)
    sql = (
        f"WITH wanted (id, units, keep) AS (SELECT * FROM UNNEST(%s::{key_type}[], %s::integer[], %s::integer[])), "
        f"locked AS MATERIALIZED (SELECT level.id FROM {table} AS level WHERE level.id IN (SELECT id FROM wanted) "
        "ORDER BY level.id FOR NO KEY UPDATE OF level) "
        f"UPDATE {table} AS level SET allocated = level.allocated + wanted.units, updated_at = %s "
        "FROM wanted, locked WHERE level.id = wanted.id AND locked.id = level.id "
        "AND (%s OR level.on_hand - level.allocated - wanted.units >= wanted.keep)"
    )
    units = [reservation.increments[pk] for pk in ids]
    keep = [reservation.keep_free[pk] for pk in ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, units, keep, now, reservation.locked])
        raised = cursor.rowcount
    if raised != len(ids):
        raise StockChanged(f"Stock of {len(ids) - raised} level(s) changed while the batch was planned; plan again.")


@dataclass
class _Prepared:
    """An order's eligible warehouses with their distance to it, the excluded ones, and notes for the timeline."""

    eligible: list[tuple[Warehouse, float | None]]
    excluded: list[Exclusion]
    notes: list[str]


# What of a request is its order's own: the rest (where it goes, its channel, ...) decides its candidates.
_ORDER_OWN = frozenset({"order_id", "lines", "promised_date", "aim_date"})


def _place_of(request: OrderRequest) -> tuple:
    """The request without what is its order's own: two requests alike here get the same ``_prepare``."""
    return tuple(
        (f.name, tuple(value) if isinstance(value, list) else value)
        for f in fields(request)
        if f.name not in _ORDER_OWN
        for value in [getattr(request, f.name)]
    )


def _prepare(request, warehouses, exclusions) -> _Prepared:
    """An order's candidates (shared by the batch's orders to the same place: read it, do not change it)."""
    notes: list[str] = []
    destination = geo.coordinates_or_none(request.postal_code, request.country)
    if destination is None:
        notes.append(f"postal code {request.postal_code!r} not found: distance not used")
    excluded: dict[int, str] = {}
    for exclusion in exclusions:
        if exclusion.channel_id not in (None, request.channel_id):
            continue
        if exclusion.destination_state and exclusion.destination_state.lower() != (request.state or "").lower():
            continue
        excluded.setdefault(exclusion.warehouse_id, exclusion.reason)
    for warehouse_id in request.excluded_warehouses:
        excluded.setdefault(warehouse_id, request.customer_rule)
    located = [
        (
            warehouse,
            geo.distance_km(destination, warehouse.coordinates) if destination and warehouse.coordinates else None,
        )
        for warehouse in warehouses.values()
    ]
    return _Prepared(
        eligible=[(warehouse, distance) for warehouse, distance in located if warehouse.pk not in excluded],
        excluded=[
            Exclusion(_candidate(warehouse, distance), excluded[warehouse.pk])
            for warehouse, distance in located
            if warehouse.pk in excluded
        ],
        notes=notes,
    )


def _candidate(warehouse: Warehouse, distance: float | None) -> Candidate:
    return Candidate(warehouse.pk, warehouse.code, warehouse.priority, distance)


def _plan_one(request, lines, prepared: _Prepared, rules, levels, routed_today, routed_now, *, pricing=None):
    """Plan one order; returns the plan and, per (warehouse, product), the safety stock to leave there."""
    notes = list(prepared.notes)
    candidates = []
    for warehouse, distance in prepared.eligible:
        capacity = warehouse.daily_order_capacity
        if capacity is not None and routed_today.get(warehouse.pk, 0) + routed_now[warehouse.pk] >= capacity:
            notes.append(f"{warehouse.code} at daily capacity ({capacity} order{'s' if capacity != 1 else ''})")
            continue
        candidates.append(_candidate(warehouse, distance))
    channel_rules = [rule for rule in rules if rule.channel_id == request.channel_id]
    available = {}
    holdback = {}
    held = {}
    for line in lines:
        for warehouse, _ in prepared.eligible:
            level = levels.get((warehouse.pk, line.product_id))
            if level is None:
                continue
            rule = max(
                (
                    rule
                    for rule in channel_rules
                    if rule.warehouse_id in (None, warehouse.pk) and rule.product_id in (None, line.product_id)
                ),
                key=lambda rule: rule.quantity,
                default=None,
            )
            free = level.on_hand - level.allocated
            keep = rule.quantity if rule else 0
            available[(warehouse.pk, line.product_id)] = max(0, free - keep)
            holdback[(warehouse.pk, line.product_id)] = keep
            if rule and min(keep, free) > 0:
                held[(warehouse.pk, line.product_id)] = Hold(min(keep, free), rule.name)
    needs = [LineNeed(line.line_id, line.product_id, line.sku, line.quantity) for line in lines]
    plan = plan_allocation(
        needs,
        candidates,
        available,
        held=held,
        excluded=prepared.excluded,
        notes=notes,
        pricing=pricing,
        preferred=request.preferred_warehouses,
        preference=request.customer_rule,
    )
    return plan, holdback


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


def release_units(*, order_id: int, units: dict[tuple[int, int], int]) -> dict[int, int]:
    """Give some of an order's reserved units back to stock: ``units`` per (order line id, warehouse id).

    Call inside the caller's transaction, holding the order's lock. An
    allocation released in full is deleted. Raises InsufficientStock when a
    line has fewer units reserved at a warehouse than asked (nothing is
    changed then). Freed stock is offered to waiting backorders after commit.
    Returns the units released per line.
    """
    wanted = {key: quantity for key, quantity in units.items() if quantity > 0}
    if not wanted:
        return {}
    allocations = {
        (a.order_line_id, a.warehouse_id): a
        for a in Allocation.objects.filter(order_id=order_id, order_line_id__in={line for line, _ in wanted}).order_by(
            "pk"
        )
    }
    for (line_id, warehouse_id), quantity in sorted(wanted.items()):
        allocation = allocations.get((line_id, warehouse_id))
        reserved = allocation.quantity if allocation else 0
        if quantity > reserved:
            raise InsufficientStock(
                f"Line {line_id}: cannot release {quantity} at warehouse {warehouse_id}, {reserved} reserved."
            )
    taken = [allocations[key] for key in sorted(wanted)]
    levels = lock_levels({(a.warehouse_id, a.product_id) for a in taken})
    released: dict[int, int] = defaultdict(int)
    now = timezone.now()
    for key in sorted(wanted):
        allocation, quantity = allocations[key], wanted[key]
        level = levels[(allocation.warehouse_id, allocation.product_id)]
        level.allocated -= quantity
        level.updated_at = now
        released[allocation.order_line_id] += quantity
        allocation.quantity -= quantity
        if allocation.quantity:
            allocation.save(update_fields=["quantity"])
        else:
            allocation.delete()
    StockLevel.objects.bulk_update(list(levels.values()), ["allocated", "updated_at"])
    enqueue_backorder_fill({a.product_id for a in taken})
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
