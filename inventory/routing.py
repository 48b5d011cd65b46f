"""Choosing warehouses for an order: pure functions over a snapshot of stock.

The rules, in order:
1. One warehouse that can ship every line complete: the first by
   (priority, distance to the customer, code).
2. Otherwise the split with the fewest shipments that covers the most
   units, then the shortest total distance.
3. What no warehouse has is backordered.
The allocation service takes the snapshot under row locks and applies the plan.

With a landed-cost pricing (``Pricing``, given by the shipping layer: this
module knows no carrier), the warehouse(s) and the service are chosen
together: among the plans that arrive by the target date (the order's
promised date), the least landed cost (label price + the warehouses'
handling cost + a cost per extra shipment); the order above is the
tie-break. When no plan arrives by the target, the target becomes the
earliest date any plan makes, and the least landed cost among those wins.
The plans searched are every warehouse that can ship the order complete,
else every smallest set of warehouses that covers the most units.

The plan's reason is the sentence the order's timeline shows. It says what
was done (units reserved, not shipped) and names the safety stock or
exclusion rule that moved the order away from a nearer warehouse.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

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


@dataclass(frozen=True)
class Hold:
    """Units of one SKU a safety stock rule kept from the order at one warehouse, and the rule's name."""

    units: int
    rule: str


@dataclass(frozen=True)
class Exclusion:
    """A warehouse an exclusion rule kept out of the order's routing, and the rule's name."""

    candidate: Candidate
    rule: str


@dataclass(frozen=True)
class Offer:
    """One way to carry one shipment: a carrier service, its label price and its delivery date."""

    price: Decimal
    eta: dt.date
    label: str
    tiebreak: tuple[str, ...] = ()  # between equal prices and dates, as carrier choice breaks them (vendor, service)


class Pricing(Protocol):
    """What a plan would cost and when it would arrive, for one order (implemented by the shipping layer).

    ``target_date``: the date the order must arrive by (None: no date, the least cost wins).
    """

    target_date: dt.date | None
    extra_shipment_cost: Decimal
    # When set, the target is the store's own (no date was promised): a plan that makes it may cost at most this
    # much more than the cheapest plan; dearer, the cheapest plan wins with its own date. (Optional attribute.)
    max_premium: Decimal | None

    def offers(self, candidate: Candidate, units: dict[int, int]) -> list[Offer]:
        """Every service's offer for these units (product id -> units) from this warehouse; [] when none can."""
        ...

    def handling_cost(self, candidate: Candidate) -> Decimal: ...

    # Optional: the least any service charges for these units from this warehouse, whatever the date (None:
    # unknown); a warehouse whose floor and handling cost reach the best plan found so far is not priced.
    def floor(self, candidate: Candidate, units: dict[int, int]) -> Decimal | None: ...


@dataclass(frozen=True)
class ShipmentCost:
    """One shipment of a priced plan: the service carrier choice would buy and the warehouse's handling cost."""

    candidate: Candidate
    offer: Offer
    handling: Decimal


@dataclass
class Plan:
    picks: list[tuple[int, int, int]] = field(default_factory=list)  # (line_id, warehouse_id, quantity)
    backordered: dict[int, int] = field(default_factory=dict)  # line_id -> quantity
    warehouses: list[Candidate] = field(default_factory=list)
    reason: str = ""
    # Set when the plan was chosen on landed cost: the total, each shipment's service, and the date it aimed at.
    cost: Decimal | None = None
    shipments: list[ShipmentCost] = field(default_factory=list)
    target_date: dt.date | None = None

    @property
    def eta(self) -> dt.date | None:
        return max((s.offer.eta for s in self.shipments), default=None)


def plan_allocation(
    needs: list[LineNeed],
    candidates: list[Candidate],
    available: dict[tuple[int, int], int],
    *,
    held: dict[tuple[int, int], Hold] | None = None,
    excluded: list[Exclusion] | None = None,
    notes: list[str] | None = None,
    pricing: Pricing | None = None,
    preferred: tuple[int, ...] = (),
    preference: str = "",
) -> Plan:
    """Plan which warehouse ships which units. ``available`` maps (warehouse, product) to units.

    ``preferred``: a customer's default warehouses (``preference`` names its rule): the plan among them alone
    wins when it ships every unit and, priced, arrives by the target date; else every candidate is planned
    as usual, and the reason says the defaults could not.

    ``held`` maps (warehouse, product) to what safety stock kept out of
    ``available`` there; ``excluded`` lists the warehouses exclusion rules
    kept out; both are named in the reason where they moved the order.
    ``notes`` go into the reason as given (a warehouse at its daily
    capacity, an unknown postal code). With ``pricing``, the plan of least
    landed cost that arrives by its target date (module docstring); when no
    plan can be priced (no carrier serves any), the rules above.
    """
    needs = [need for need in needs if need.quantity > 0]
    ordered = sorted(candidates, key=lambda c: c.sort_key)
    if not needs:
        return Plan(reason="nothing left to allocate")
    usable = {c.warehouse_id for c in ordered}
    held = {key: hold for key, hold in (held or {}).items() if hold.units > 0 and key[0] in usable}
    demand = _demand(needs)  # two lines of one SKU draw on the same shelf
    if preferred:
        chosen = _plan_preferred(needs, candidates, available, held, excluded, notes, pricing, preferred, preference)
        if chosen is not None:
            return chosen
        count = len(preferred)
        notes = [
            *(notes or []),
            f"default warehouse{'s' if count != 1 else ''} of {preference} could not ship it complete by its date",
        ]
    if pricing is not None:
        landed = _plan_on_landed_cost(needs, ordered, available, demand, pricing, held, excluded or [], notes or [])
        if landed is not None:
            return landed
    for candidate in ordered:
        if all(available.get((candidate.warehouse_id, product), 0) >= units for product, units in demand.items()):
            plan = Plan(
                picks=[(n.line_id, candidate.warehouse_id, n.quantity) for n in needs],
                warehouses=[candidate],
            )
            nearer = ordered[: ordered.index(candidate)]  # ordered is sorted: everything before it was preferred
            asides = [
                *_excluded_ahead(excluded or [], plan),
                *_why_not_nearer(nearer, demand, available, held),
                *(notes or []),
            ]
            plan.reason = f"reserved at {candidate.code}: {_why_single(candidate)}{_aside(asides)}"
            return plan
    subset = _best_split(needs, ordered, available)
    plan = _assign(needs, subset, available)
    asides = [*_excluded_ahead(excluded or [], plan), *_held_from_split(plan, needs, ordered, held), *(notes or [])]
    plan.reason = _why_split(plan, needs, ordered, held) + _aside(asides)
    return plan


def _plan_preferred(needs, candidates, available, held, excluded, notes, pricing, preferred, preference) -> Plan | None:
    """The plan among a customer's default warehouses alone, when it ships every unit by the date; else None."""
    own = [c for c in candidates if c.warehouse_id in preferred]
    if not own:
        return None
    plan = plan_allocation(needs, own, available, held=held, excluded=excluded, notes=notes, pricing=pricing)
    if plan.backordered or not plan.picks:
        return None
    target = getattr(pricing, "target_date", None)
    if plan.cost is not None and target is not None and plan.eta is not None and plan.eta > target:
        return None
    codes = " + ".join(c.code for c in plan.warehouses)
    opening = f"reserved at {codes}: "
    if plan.reason.startswith(opening):
        plan.reason = f"{opening}default warehouse of {preference}; {plan.reason[len(opening) :]}"
    else:
        plan.reason = f"default warehouses of {preference}: {plan.reason}"
    return plan


def _why_single(chosen: Candidate) -> str:
    distance = f", {chosen.distance_km:,.0f} km" if chosen.distance_km is not None else ""
    return f"nearest with full stock{distance}"


def _aside(notes: list[str]) -> str:
    return f" ({'; '.join(notes)})" if notes else ""


def _rules(holds: list[Hold]) -> str:
    names = list(dict.fromkeys(hold.rule for hold in holds))
    return f"safety stock rule{'s' if len(names) != 1 else ''} " + ", ".join(f"'{name}'" for name in names)


def _excluded_ahead(excluded: list[Exclusion], plan: Plan) -> list[str]:
    """The exclusion rules that kept out a warehouse ranked before the first one reserved at.

    When something is backordered, every exclusion is named: that warehouse
    might have had it.
    """
    first = min((c.sort_key for c in plan.warehouses), default=None)
    return [
        f"{exclusion.candidate.code} excluded by rule '{exclusion.rule}'"
        for exclusion in sorted(excluded, key=lambda e: e.candidate.sort_key)
        if first is None or plan.backordered or exclusion.candidate.sort_key < first
    ]


def _why_not_nearer(nearer: list[Candidate], demand: dict[int, int], available: dict, held: dict) -> list[str]:
    """Why each preferred warehouse was passed over: a safety stock rule, else too little stock."""
    notes, short = [], []
    for candidate in nearer:
        holds = [held[(candidate.warehouse_id, p)] for p in demand if (candidate.warehouse_id, p) in held]
        complete_but_for_rules = all(
            available.get((candidate.warehouse_id, product), 0)
            + (held[(candidate.warehouse_id, product)].units if (candidate.warehouse_id, product) in held else 0)
            >= units
            for product, units in demand.items()
        )
        if holds and complete_but_for_rules:
            notes.append(f"{candidate.code} skipped: {_rules(holds)}")
        else:
            short.append(candidate.code)
    if short:
        notes.append(f"{', '.join(short)} short")
    return notes


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
    splits = _smallest_splits(needs, ordered, available)
    return splits[0] if splits else ()


def _smallest_splits(needs: list[LineNeed], ordered: list[Candidate], available: dict) -> list[tuple[Candidate, ...]]:
    """Every smallest set of warehouses that covers the most units, the preferred (nearest) first.

    Above ``EXHAUSTIVE_LIMIT`` useful warehouses, only the greedy one.
    """
    useful = [c for c in ordered if any(available.get((c.warehouse_id, n.product_id), 0) > 0 for n in needs)]
    if not useful:
        return []
    if len(useful) > EXHAUSTIVE_LIMIT:
        return [_greedy_split(needs, useful, available)]
    best_units = _coverage(needs, tuple(useful), available)
    for size in range(1, len(useful) + 1):
        covering = [
            subset
            for subset in itertools.combinations(useful, size)
            if _coverage(needs, subset, available) == best_units
        ]
        if covering:
            return sorted(covering, key=lambda s: (sum(c.priority for c in s), _total_distance(s), [c.code for c in s]))
    return [tuple(useful)]


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


def _held_from_split(plan: Plan, needs: list[LineNeed], ordered: list[Candidate], held: dict) -> list[str]:
    """Warehouses a safety stock rule passed over for a SKU that then came from a farther one.

    A SKU backordered instead is named with its backorder (``_why_split``).
    """
    rank = {c.warehouse_id: i for i, c in enumerate(ordered)}
    product_of = {n.line_id: n.product_id for n in needs}
    sku_of = {n.product_id: n.sku for n in needs}
    farthest: dict[int, int] = {}  # product -> rank of the farthest warehouse it was reserved at
    for line_id, warehouse_id, _ in plan.picks:
        product = product_of[line_id]
        farthest[product] = max(farthest.get(product, -1), rank[warehouse_id])
    notes = []
    for candidate in ordered:
        passed_over = [
            product
            for product in sku_of
            if (candidate.warehouse_id, product) in held and farthest.get(product, -1) > rank[candidate.warehouse_id]
        ]
        if passed_over:
            skus = ", ".join(sku_of[product] for product in passed_over)
            holds = [held[(candidate.warehouse_id, product)] for product in passed_over]
            notes.append(f"{candidate.code} skipped for {skus}: {_rules(holds)}")
    return notes


def _why_split(plan: Plan, needs: list[LineNeed], ordered: list[Candidate], held: dict) -> str:
    skus = {n.line_id: n.sku for n in needs}
    product_of = {n.line_id: n.product_id for n in needs}
    parts = []
    if plan.warehouses:
        lines_at: dict[int, set[int]] = {}
        for line_id, warehouse_id, _ in plan.picks:
            lines_at.setdefault(warehouse_id, set()).add(line_id)
        places = []
        for c in plan.warehouses:
            lines = len(lines_at[c.warehouse_id])
            distance = f", {c.distance_km:,.0f} km" if c.distance_km is not None else ""
            places.append(f"{c.code} ({lines} line{'s' if lines != 1 else ''}{distance})")
        where = places[0] if len(places) == 1 else f"{', '.join(places[:-1])} and {places[-1]}"
        if len(places) == 1:
            parts.append(f"reserved at {where}: no warehouse had every line, nearest with the most stock")
        else:
            parts.append(f"reserved at {where}: no single warehouse had every line; fewest shipments")
    if plan.backordered:
        missing, held_back = [], []
        for line_id, quantity in plan.backordered.items():
            # Every unit a rule held back of this SKU would have gone to this line: the plan took all the rest.
            product = product_of[line_id]
            holds = [(c, held[(c.warehouse_id, product)]) for c in ordered if (c.warehouse_id, product) in held]
            if holds:
                where = ", ".join(f"at {c.code} by {_rules([hold])}" for c, hold in holds)
                held_back.append(f"backordered {quantity} × {skus[line_id]}: held back {where}")
            else:
                missing.append(f"{quantity} × {skus[line_id]}")
        if missing:
            parts.append(f"backordered {', '.join(missing)}: not in stock in any eligible warehouse")
        parts.extend(held_back)
    return "; ".join(parts)


# --- landed cost ------------------------------------------------------------------------------------------
def _plan_on_landed_cost(
    needs: list[LineNeed],
    ordered: list[Candidate],
    available: dict,
    demand: dict[int, int],
    pricing: Pricing,
    held: dict,
    excluded: list[Exclusion],
    notes: list[str],
) -> Plan | None:
    """The plan of least landed cost that arrives by the target; None when no plan can be priced."""
    complete = [c for c in ordered if all(available.get((c.warehouse_id, p), 0) >= u for p, u in demand.items())]
    if complete:
        plans = [Plan(picks=[(n.line_id, c.warehouse_id, n.quantity) for n in needs], warehouses=[c]) for c in complete]
    else:
        plans = [_assign(needs, subset, available) for subset in _smallest_splits(needs, ordered, available)]
        plans = [plan for plan in plans if plan.warehouses]
    product_of = {n.line_id: n.product_id for n in needs}
    asked = pricing.target_date
    floor = getattr(pricing, "floor", None)
    best: Decimal | None = None  # the least cost so far of a single warehouse arriving by the date asked
    priced: list[tuple[Plan, list[tuple[Candidate, list[Offer]]]]] = []
    for plan in plans:
        shipments = []
        for candidate in plan.warehouses:
            units: dict[int, int] = {}
            for line_id, warehouse_id, quantity in plan.picks:
                if warehouse_id == candidate.warehouse_id:
                    units[product_of[line_id]] = units.get(product_of[line_id], 0) + quantity
            if complete and best is not None and floor is not None:
                # Pruned: its cheapest label (whatever the date) cannot beat a nearer plan that arrives in time.
                least = floor(candidate, units)
                if least is not None and least + pricing.handling_cost(candidate) >= best:
                    break
            offers = pricing.offers(candidate, units)
            if not offers:
                break  # no service can carry this shipment (or it was pruned): the plan is not priced
            shipments.append((candidate, offers))
        else:
            priced.append((plan, shipments))
            if complete and (asked is None or _earliest(shipments) <= asked):
                cost = _landed(shipments, asked, pricing)
                best = cost if best is None else min(best, cost)
    if not priced:
        return None
    target = asked
    if target is not None and not any(_earliest(shipments) <= target for _, shipments in priced):
        target = min(_earliest(shipments) for _, shipments in priced)  # nobody makes it: the earliest anyone can
    for plan, shipments in priced:
        _cost(plan, shipments, target, pricing)
    arriving = [plan for plan, _ in priced if target is None or plan.eta <= target]
    chosen = min(arriving, key=lambda plan: plan.cost)  # the first of equals: the nearest-first order
    premium = getattr(pricing, "max_premium", None)
    waived = None
    if premium is not None and target is not None:
        # A date of the store's own choosing (no date promised yet) is not worth more than the premium.
        lowest = min(_landed(shipments, None, pricing) for _, shipments in priced)
        if chosen.cost - lowest > premium:
            waived = (target, chosen.cost - lowest, premium)
            asked = target = None
            for plan, shipments in priced:
                _cost(plan, shipments, None, pricing)
            arriving = [plan for plan, _ in priced]
            chosen = min(arriving, key=lambda plan: plan.cost)
    if complete:
        candidate = chosen.warehouses[0]
        nearer = [c for c in ordered[: ordered.index(candidate)] if c not in complete]
        asides = [*_excluded_ahead(excluded, chosen), *_why_not_nearer(nearer, demand, available, held), *notes]
        why = _why_single(candidate) if candidate == complete[0] else _why_cheaper(candidate)
        chosen.reason = f"reserved at {candidate.code}: {why}{_aside(asides)}"
    else:
        asides = [*_excluded_ahead(excluded, chosen), *_held_from_split(chosen, needs, ordered, held), *notes]
        chosen.reason = _why_split(chosen, needs, ordered, held) + _aside(asides)
    others = [plan for plan, _ in priced if plan is not chosen]
    chosen.reason += "; " + _why_landed(chosen, others, asked, target, len(arriving), len(priced), waived)
    return chosen


def _landed(shipments: list[tuple[Candidate, list[Offer]]], target: dt.date | None, pricing) -> Decimal:
    """A plan's landed cost for a target, without recording it on the plan."""
    labels = sum((_pick_offer(offers, target).price + pricing.handling_cost(c) for c, offers in shipments), Decimal(0))
    return labels + pricing.extra_shipment_cost * (len(shipments) - 1)


def _earliest(shipments: list[tuple[Candidate, list[Offer]]]) -> dt.date:
    """The earliest a plan can arrive: its slowest shipment by that shipment's fastest service."""
    return max(min(offer.eta for offer in offers) for _, offers in shipments)


def _offer_key(offer: Offer) -> tuple:
    return (offer.price, offer.eta, offer.tiebreak)


def _pick_offer(offers: list[Offer], target: dt.date | None) -> Offer:
    """What carrier choice buys: the cheapest arriving by the target, else the fastest (``shipping.rating.choose``)."""
    if target is None:
        return min(offers, key=_offer_key)
    arriving = [offer for offer in offers if offer.eta <= target]
    if arriving:
        return min(arriving, key=_offer_key)
    return min(offers, key=lambda offer: (offer.eta, offer.price, offer.tiebreak))


def _cost(plan: Plan, shipments: list[tuple[Candidate, list[Offer]]], target: dt.date | None, pricing) -> None:
    plan.shipments = [
        ShipmentCost(candidate, _pick_offer(offers, target), pricing.handling_cost(candidate))
        for candidate, offers in shipments
    ]
    extra = pricing.extra_shipment_cost * (len(plan.shipments) - 1)
    plan.cost = sum((s.offer.price + s.handling for s in plan.shipments), Decimal("0")) + extra
    plan.target_date = target


def _why_cheaper(chosen: Candidate) -> str:
    distance = f", {chosen.distance_km:,.0f} km" if chosen.distance_km is not None else ""
    return f"least landed cost with full stock{distance}"


def _plan_name(plan: Plan) -> str:
    return " + ".join(c.code for c in plan.warehouses)


def _breakdown(plan: Plan, extra: Decimal) -> str:
    parts = []
    for shipment in plan.shipments:
        handling = f" + handling {shipment.handling}" if shipment.handling else ""
        parts.append(f"{shipment.candidate.code}: {shipment.offer.label} {shipment.offer.price}{handling}")
    if extra:
        parts.append(f"{extra} for {len(plan.shipments) - 1} extra shipment{'s' if len(plan.shipments) > 2 else ''}")
    return "; ".join(parts)


def _why_landed(
    chosen: Plan,
    others: list[Plan],
    asked: dt.date | None,
    target: dt.date | None,
    arriving: int,
    priced: int,
    waived: tuple | None = None,
) -> str:
    """The landed-cost sentence: the plan chosen, its cost and date, and the cheapest plan rejected and why."""
    extra = chosen.cost - sum((s.offer.price + s.handling for s in chosen.shipments), Decimal("0"))
    said = f"landed cost {chosen.cost} ({_breakdown(chosen, extra)}), arrives {chosen.eta:%a %d %b}"
    if waived is not None:
        day, more, limit = waived
        said += (
            f", cheapest of {priced} plan{'s' if priced != 1 else ''}: arriving by the target {day:%a %d %b} "
            f"would cost {more} more (the limit is {limit})"
        )
    elif asked is None:
        said += f", cheapest of {priced} plan{'s' if priced != 1 else ''}"
    elif target == asked:
        said += f", cheapest of {arriving} of {priced} plan{'s' if priced != 1 else ''} arriving by {asked:%a %d %b}"
    else:
        said += (
            f": no plan arrives by {asked:%a %d %b}; cheapest of {arriving} arriving by the earliest, {target:%a %d %b}"
        )
    if not others:
        return said
    rejected = min(others, key=lambda plan: plan.cost)
    if target is not None and rejected.eta > target:
        why = f"arrives {rejected.eta:%a %d %b}, after {target:%a %d %b}"
    elif rejected.cost > chosen.cost:
        why = "costs more"
    else:
        why = "same cost, farther"
    return f"{said}; cheapest rejected: {_plan_name(rejected)} at {rejected.cost}, {why}"
