"""The delivery promise: when and for how much an order of these SKUs would arrive at a postal code.

It runs the same routing as allocation (``inventory.services.plan_batch``,
without locks and without writing, on landed cost: ``shipping.landed_cost``)
and the same carrier pricing as the shipment's carrier choice, so what a
store shows at checkout is what the order then gets, as long as the stock
has not moved in between. Each shipment's ``chosen`` service is the one
carrier choice buys for the date routing aimed at (``default_target``):
the cheapest arriving by it, the cheapest of all when there is no target.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from inventory import geo
from inventory import services as inventory
from inventory.models import Product, Warehouse

from . import landed_cost, rating, selectors
from .exceptions import ShippingError
from .models import TransitTime
from .services.shipments import quote_for, split_into_parcels, zone_between


class PromiseError(ValueError):
    """Bad promise input; ``field`` names the parameter (and index) at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PromiseShipment:
    warehouse_code: str
    warehouse_name: str
    items: dict[str, int]
    parcel_weights: list[Decimal]
    fastest: rating.Option | None
    cheapest: rating.Option | None
    options: list[rating.Option]
    # The cut-off of each: order before it and the parcel leaves (and arrives) as that option says.
    fastest_order_by: dt.datetime | None = None
    cheapest_order_by: dt.datetime | None = None
    # What carrier choice buys for the date routing aimed at, and its cut-off.
    chosen: rating.Option | None = None
    chosen_order_by: dt.datetime | None = None


@dataclass
class Promise:
    postal_code: str
    items: dict[str, int]
    shipments: list[PromiseShipment] = field(default_factory=list)
    unavailable: dict[str, int] = field(default_factory=dict)
    routing: str = ""

    @property
    def deliverable(self) -> bool:
        return bool(self.shipments) and not self.unavailable and all(s.fastest for s in self.shipments)

    @property
    def earliest_date(self) -> dt.date | None:
        if not self.deliverable:
            return None
        return max(s.fastest.eta for s in self.shipments)

    @property
    def earliest_cost(self) -> Decimal | None:
        if not self.deliverable:
            return None
        return sum((s.fastest.price for s in self.shipments), Decimal("0"))

    @property
    def cheapest_date(self) -> dt.date | None:
        if not self.deliverable:
            return None
        return max(s.cheapest.eta for s in self.shipments)

    @property
    def earliest_order_by(self) -> dt.datetime | None:
        """Order before this instant to get ``earliest_date`` (the first cut-off of the shipments)."""
        if not self.deliverable:
            return None
        return min(s.fastest_order_by for s in self.shipments)

    @property
    def cheapest_order_by(self) -> dt.datetime | None:
        """Order before this instant to get ``cheapest_date``."""
        if not self.deliverable:
            return None
        return min(s.cheapest_order_by for s in self.shipments)

    @property
    def cheapest_cost(self) -> Decimal | None:
        if not self.deliverable:
            return None
        return sum((s.cheapest.price for s in self.shipments), Decimal("0"))

    @property
    def chosen_date(self) -> dt.date | None:
        """When the order arrives by the services it would get (the storefront's date)."""
        if not self.deliverable:
            return None
        return max(s.chosen.eta for s in self.shipments)

    @property
    def chosen_cost(self) -> Decimal | None:
        if not self.deliverable:
            return None
        return sum((s.chosen.price for s in self.shipments), Decimal("0"))

    @property
    def chosen_order_by(self) -> dt.datetime | None:
        if not self.deliverable:
            return None
        return min(s.chosen_order_by for s in self.shipments)

    def as_dict(self) -> dict:
        def option(o: rating.Option | None) -> dict | None:
            return o.as_dict() if o else None

        return {
            "postal_code": self.postal_code,
            "items": self.items,
            "deliverable": self.deliverable,
            "earliest": {
                "date": _iso(self.earliest_date),
                "cost": _money(self.earliest_cost),
                "order_by": _instant(self.earliest_order_by),
            },
            "cheapest": {
                "date": _iso(self.cheapest_date),
                "cost": _money(self.cheapest_cost),
                "order_by": _instant(self.cheapest_order_by),
            },
            "chosen": {
                "date": _iso(self.chosen_date),
                "cost": _money(self.chosen_cost),
                "order_by": _instant(self.chosen_order_by),
            },
            "shipments": [
                {
                    "warehouse": s.warehouse_code,
                    "warehouse_name": s.warehouse_name,
                    "items": s.items,
                    "parcels": [str(w) for w in s.parcel_weights],
                    "fastest": option(s.fastest),
                    "cheapest": option(s.cheapest),
                    "chosen": option(s.chosen),
                }
                for s in self.shipments
            ],
            "unavailable": self.unavailable,
            "routing": self.routing,
        }


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _instant(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _money(amount: Decimal | None) -> str | None:
    return str(amount) if amount is not None else None


def quote_promise(
    *,
    postal_code: str,
    items: list[tuple[str, int]],
    country: str = "US",
    state: str = "",
    channel_id: int | None = None,
    now: dt.datetime | None = None,
) -> Promise:
    """The earliest delivery date and its cost, and the cheapest, from the warehouse(s) routing would use.

    Raises PromiseError naming the field for an unknown postal code or SKU,
    or a quantity below one.
    """
    postal_code = (postal_code or "").strip()
    if not postal_code:
        raise PromiseError("postal_code", "postal_code is required.")
    try:
        geo.coordinates(postal_code, country)
    except geo.UnknownPostalCode as error:
        raise PromiseError("postal_code", str(error)) from None
    if not items:
        raise PromiseError("sku", "Give at least one sku (with its qty).")
    wanted: dict[str, int] = defaultdict(int)
    for index, (sku, quantity) in enumerate(items):
        if quantity < 1:
            raise PromiseError(f"qty[{index}]", f"qty[{index}] for {sku!r} must be at least 1, not {quantity}.")
        wanted[sku.strip()] += quantity
    products = {p.sku: p for p in Product.objects.filter(sku__in=list(wanted), is_active=True)}
    for index, (sku, _) in enumerate(items):
        if sku.strip() not in products:
            raise PromiseError(f"sku[{index}]", f"sku[{index}]: unknown or inactive SKU {sku!r}.")

    lines = [
        inventory.LineRequest(line_id=-(i + 1), product_id=products[sku].pk, sku=sku, quantity=quantity)
        for i, (sku, quantity) in enumerate(wanted.items())
    ]
    target = landed_cost.default_target(now)
    request = inventory.OrderRequest(
        order_id=0,
        channel_id=channel_id,
        postal_code=postal_code,
        lines=lines,
        country=country,
        state=state,
        aim_date=target,
    )
    terms = selectors.active_service_terms()
    pricing = landed_cost.LandedCostRouting(now=now, terms=terms)
    result = inventory.plan_batch([request], lock=False, now=now, landed_cost=pricing).results[0]
    aim = result.plan.target_date if result.plan.cost is not None else target
    promise = Promise(postal_code=geo.normalize_postal_code(postal_code, country), items=dict(wanted))
    promise.routing = result.reason
    sku_of = {line.line_id: line.sku for line in lines}
    promise.unavailable = {sku_of[line_id]: qty for line_id, qty in result.backordered.items() if qty}
    picks: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line_id, warehouse_id, quantity in result.plan.picks:
        picks[warehouse_id][sku_of[line_id]] += quantity
    if not picks:
        return promise
    warehouses = Warehouse.objects.in_bulk(list(picks))
    pickup_cutoffs = {service.service_id: service.pickup_cutoff for service in terms}
    max_parcel = Decimal(str(settings.SHIPPING_MAX_PARCEL_KG))
    for warehouse in sorted(warehouses.values(), key=lambda w: w.code):
        skus = dict(picks[warehouse.pk])
        weight = sum((products[sku].weight_kg * qty for sku, qty in skus.items()), Decimal("0"))
        parcels = split_into_parcels(weight, max_parcel)
        zone = zone_between(warehouse, postal_code, country)
        options, _ = quote_for(
            warehouse=warehouse,
            zone=zone,
            parcel_weights=parcels,
            now=now,
            terms=terms,
            postal_code=postal_code,
            country=country,
        )
        fastest, cheapest = rating.fastest(options), rating.cheapest(options)
        chosen = rating.choose(options, aim)[0]
        promise.shipments.append(
            PromiseShipment(
                warehouse_code=warehouse.code,
                warehouse_name=warehouse.name,
                items=skus,
                parcel_weights=parcels,
                fastest=fastest,
                cheapest=cheapest,
                options=options,
                fastest_order_by=_order_by(fastest, warehouse, now, pickup_cutoffs),
                cheapest_order_by=_order_by(cheapest, warehouse, now, pickup_cutoffs),
                chosen=chosen,
                chosen_order_by=_order_by(chosen, warehouse, now, pickup_cutoffs),
            )
        )
    return promise


def _order_by(
    option: rating.Option | None, warehouse: Warehouse, now: dt.datetime | None, pickup_cutoffs: dict[int, dt.time]
) -> dt.datetime | None:
    """The cut-off before which an order gets ``option``'s date: the warehouse's, or the service's pickup's.

    An instant on the warehouse's clock (its UTC offset says which zone).
    """
    if option is None:
        return None
    return rating.order_by(
        warehouse.local_now(now),
        warehouse_cutoff=warehouse.daily_cutoff,
        processing_days=warehouse.processing_days,
        service_cutoff=pickup_cutoffs.get(option.service_id, warehouse.daily_cutoff),
        holidays=settings.SHIPPING_HOLIDAYS,
    )


# --- an order's promise again, from where its goods stand now --------------------------------------------
@dataclass(frozen=True)
class ReservedPart:
    """Goods reserved (or packed) at a warehouse, not yet with a carrier; ``service_id`` when a label fixed it."""

    warehouse: Warehouse
    weight_kg: Decimal
    service_id: int | None = None


@dataclass(frozen=True)
class MovingPart:
    """Goods with a carrier: ``service_id`` carries them to ``zone``, counted from the business day ``since``;
    ``days`` when their lane has learned its transit time (``shipping.lanes``), else the service's for the zone."""

    service_id: int
    zone: int
    since: dt.date
    days: int | None = None


@dataclass(frozen=True)
class Estimate:
    """When an order's goods would arrive now, or why that cannot be said (``date`` None, ``problem`` in words)."""

    date: dt.date | None
    problem: str = ""


def estimate_delivery(
    *,
    postal_code: str,
    country: str = "US",
    state: str = "",
    channel_id: int | None = None,
    waiting: list[tuple[str, int]] = (),
    reserved: list[ReservedPart] = (),
    moving: list[MovingPart] = (),
    restock_date: dt.date | None = None,
    now: dt.datetime | None = None,
    terms: list[rating.ServiceTerms] | None = None,
) -> Estimate:
    """The latest arrival of an order's parts, each dated as the promise dates it, from now.

    ``waiting`` units are routed and priced as ``quote_promise`` does (fastest service); what no warehouse has
    arrives on ``restock_date``. ``reserved`` parts are priced from their warehouse (the service their label
    was bought for, else the fastest). ``moving`` parts arrive the service's transit days for the zone after
    ``since`` (their lane's learned days when given). Writes nothing.
    """
    terms = selectors.active_service_terms() if terms is None else terms
    dates: list[dt.date] = []
    if waiting:
        try:
            promise = quote_promise(
                postal_code=postal_code,
                items=list(waiting),
                country=country,
                state=state,
                channel_id=channel_id,
                now=now,
            )
        except PromiseError as refusal:
            return Estimate(None, f"the waiting items cannot be quoted: {refusal.message}")
        for shipment in promise.shipments:
            if shipment.fastest is None:
                return Estimate(None, f"no active carrier service can take the parcels from {shipment.warehouse_code}")
            dates.append(shipment.fastest.eta)
        if promise.unavailable:
            if restock_date is None:
                return Estimate(None, "no warehouse has the waiting items")
            dates.append(restock_date)
    for part in reserved:
        try:
            zone = zone_between(part.warehouse, postal_code, country)
        except ShippingError as refusal:
            return Estimate(None, str(refusal))
        max_parcel = Decimal(str(settings.SHIPPING_MAX_PARCEL_KG))
        options, _ = quote_for(
            warehouse=part.warehouse,
            zone=zone,
            parcel_weights=split_into_parcels(part.weight_kg, max_parcel),
            now=now,
            terms=terms,
            postal_code=postal_code,
            country=country,
        )
        chosen = next((o for o in options if o.service_id == part.service_id), None) or rating.fastest(options)
        if chosen is None:
            return Estimate(None, f"no active carrier service can take the parcels from {part.warehouse.code}")
        dates.append(chosen.eta)
    transit = {service.service_id: service.transit_days for service in terms}
    for part in moving:
        days = part.days if part.days is not None else transit.get(part.service_id, {}).get(part.zone)
        if days is None:  # a service withdrawn since the parcels left still carries them
            days = (
                TransitTime.objects.filter(service_id=part.service_id, zone=part.zone)
                .values_list("business_days", flat=True)
                .first()
            )
        if days is None:
            return Estimate(None, f"the carrier service has no transit time to zone {part.zone}")
        dates.append(rating.add_business_days(part.since, days, settings.SHIPPING_HOLIDAYS))
    return Estimate(max(dates)) if dates else Estimate(None, "nothing is left to deliver")
