"""Choosing warehouses for an order: pure functions over a snapshot of stock.

The rules, in order:
1. One warehouse that can ship every line complete: the first by
   (priority, distance to the customer, code).
2. Otherwise the split with the fewest shipments that covers the most
   units, then the shortest total distance.
3. What no warehouse has is backordered.
The allocation service takes the snapshot under row locks and applies the plan.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

# Above this many candidate warehouses the split search is greedy, not exhaustive.
EXHAUSTIVE_LIMIT = 12


@dataclass(frozen=True)
class Candidate:
    warehouse_id: int
    code: str
    priority: int
    distance_km: float | None

    @property
    def sort_key(self) -> tuple:
        return (self.priority, self.distance_km if self.distance_km is not None else float("inf"), self.code)


@dataclass(frozen=True)
class LineNeed:
    line_id: int
    product_id: int
    sku: str
    quantity: int


@dataclass
class Plan:
    picks: list[tuple[int, int, int]] = field(default_factory=list)  # (line_id, warehouse_id, quantity)
    backordered: dict[int, int] = field(default_factory=dict)  # line_id -> quantity
    warehouses: list[Candidate] = field(default_factory=list)
    reason: str = ""

    @property
    def allocated_units(self) -> int:
        return sum(quantity for _, _, quantity in self.picks)


def plan_allocation(
    needs: list[LineNeed],
    candidates: list[Candidate],
    available: dict[tuple[int, int], int],
) -> Plan:
    """Plan which warehouse ships which units. ``available`` maps (warehouse, product) to units."""
    needs = [need for need in needs if need.quantity > 0]
    ordered = sorted(candidates, key=lambda c: c.sort_key)
    if not needs:
        return Plan(reason="nothing left to allocate")
    demand = _demand(needs)  # two lines of one SKU draw on the same shelf
    for candidate in ordered:
        if all(available.get((candidate.warehouse_id, product), 0) >= units for product, units in demand.items()):
            plan = Plan(
                picks=[(n.line_id, candidate.warehouse_id, n.quantity) for n in needs],
                warehouses=[candidate],
            )
            plan.reason = f"shipped from {candidate.code}: {_why_single(candidate, ordered)}"
            return plan
    subset = _best_split(needs, ordered, available)
    plan = _assign(needs, subset, available)
    plan.reason = _why_split(plan, needs)
    return plan


def _why_single(chosen: Candidate, ordered: list[Candidate]) -> str:
    distance = f", {chosen.distance_km:,.0f} km" if chosen.distance_km is not None else ""
    nearer = ordered[: ordered.index(chosen)]  # ordered is sorted: everything before it was preferred
    if not nearer:
        return f"nearest with full stock{distance}"
    return f"nearest with full stock{distance} ({', '.join(c.code for c in nearer)} short)"


def _demand(needs: list[LineNeed]) -> dict[int, int]:
    """Units wanted per product, over every line."""
    demand: dict[int, int] = {}
    for need in needs:
        demand[need.product_id] = demand.get(need.product_id, 0) + need.quantity
    return demand


def _coverage(needs: list[LineNeed], subset: tuple[Candidate, ...], available: dict) -> int:
    units = 0
    for product, wanted in _demand(needs).items():
        stock = sum(available.get((c.warehouse_id, product), 0) for c in subset)
        units += min(wanted, stock)
    return units


def _best_split(needs: list[LineNeed], ordered: list[Candidate], available: dict) -> tuple[Candidate, ...]:
    """The smallest set of warehouses that covers the most units, then the nearest."""
    useful = [c for c in ordered if any(available.get((c.warehouse_id, n.product_id), 0) > 0 for n in needs)]
    if not useful:
        return ()
    if len(useful) > EXHAUSTIVE_LIMIT:
        return _greedy_split(needs, useful, available)
    best_units = _coverage(needs, tuple(useful), available)
    for size in range(1, len(useful) + 1):
        covering = [
            subset
            for subset in itertools.combinations(useful, size)
            if _coverage(needs, subset, available) == best_units
        ]
        if covering:
            return min(covering, key=lambda s: (sum(c.priority for c in s), _total_distance(s), [c.code for c in s]))
    return tuple(useful)


def _greedy_split(needs: list[LineNeed], useful: list[Candidate], available: dict) -> tuple[Candidate, ...]:
    chosen: list[Candidate] = []
    remaining = {n.line_id: n.quantity for n in needs}
    while any(remaining.values()):
        best = max(
            (c for c in useful if c not in chosen),
            key=lambda c: (
                sum(min(remaining[n.line_id], available.get((c.warehouse_id, n.product_id), 0)) for n in needs),
                [-x for x in c.sort_key[:2]],
            ),
            default=None,
        )
        if best is None:
            break
        gained = 0
        for need in needs:
            take = min(remaining[need.line_id], available.get((best.warehouse_id, need.product_id), 0))
            remaining[need.line_id] -= take
            gained += take
        if gained == 0:
            break
        chosen.append(best)
    return tuple(chosen)


def _total_distance(subset: tuple[Candidate, ...]) -> float:
    return sum(c.distance_km if c.distance_km is not None else 1e9 for c in subset)


def _assign(needs: list[LineNeed], subset: tuple[Candidate, ...], available: dict) -> Plan:
    """Take each line from the chosen warehouses, nearest first; the rest is backordered."""
    plan = Plan(warehouses=sorted(subset, key=lambda c: c.sort_key))
    left = dict(available)
    for need in needs:
        wanted = need.quantity
        for candidate in plan.warehouses:
            key = (candidate.warehouse_id, need.product_id)
            take = min(wanted, left.get(key, 0))
            if take > 0:
                plan.picks.append((need.line_id, candidate.warehouse_id, take))
                left[key] -= take
                wanted -= take
            if wanted == 0:
                break
        if wanted:
            plan.backordered[need.line_id] = wanted
    used = {warehouse_id for _, warehouse_id, _ in plan.picks}
    plan.warehouses = [c for c in plan.warehouses if c.warehouse_id in used]
    return plan


def _why_split(plan: Plan, needs: list[LineNeed]) -> str:
    skus = {n.line_id: n.sku for n in needs}
    parts = []
    if plan.warehouses:
        where = ", ".join(
            f"{c.code} ({c.distance_km:,.0f} km)" if c.distance_km is not None else c.code for c in plan.warehouses
        )
        if len(plan.warehouses) == 1:
            parts.append(f"shipped from {where}: no warehouse had every line, nearest with the most stock")
        else:
            parts.append(f"split across {where}: no single warehouse had every line; fewest shipments")
    if plan.backordered:
        waiting = ", ".join(f"{quantity} × {skus[line_id]}" for line_id, quantity in plan.backordered.items())
        parts.append(f"backordered {waiting}: not in stock in any eligible warehouse")
    return "; ".join(parts)
