"""Landed-cost routing: what each of an order's possible plans would cost and when it would arrive.

``inventory.routing`` searches the plans (which warehouse ships which
units); this module prices them for it (``inventory.routing.Pricing``):
every active service's offer for a shipment from a warehouse, from the rate
cards (``rating.quote``, as the table-rate adapter quotes, without calling a
carrier: routing runs under the orders' locks), with each lane's learned
transit days (``shipping.lanes``), plus the warehouse's handling cost and
``SHIPPING_EXTRA_SHIPMENT_COST`` per shipment beyond the first.

Cheap by construction: one query for the batch's product weights and one
for its lanes; quotes are memoised per (warehouse, zone, parcels, lane), so
a batch of orders to nearby places quotes each warehouse a handful of times.

The promise (``shipping.promise``), routing (``orders.services.fulfilment``)
and carrier choice all aim at the same date: the order's promised date, else
``default_target`` (``SHIPPING_PROMISE_TARGET_DAYS`` business days after the
order, counted from the day after it; None when unset: the least cost wins).
A default target is worth at most ``SHIPPING_PROMISE_TARGET_MAX_PREMIUM``
over the cheapest plan (``waive_target`` for carrier choice); a promised
date is met at any price when any plan can meet it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from inventory.models import Product, Warehouse
from inventory.routing import Candidate, Offer

from . import lanes, rating, selectors
from .services.shipments import split_into_parcels


def default_target(placed_at: dt.datetime | None = None) -> dt.date | None:
    """The date an order placed at ``placed_at`` (default now) is aimed at when it has no promised date."""
    days = settings.SHIPPING_PROMISE_TARGET_DAYS
    if days is None:
        return None
    return rating.add_business_days(timezone.localdate(placed_at or timezone.now()), days, settings.SHIPPING_HOLIDAYS)


def waive_target(options: list[rating.Option], chosen: rating.Option | None) -> bool:
    """Whether carrier choice should drop a default target: making it costs more than the premium allows."""
    cheapest = rating.cheapest(options)
    if chosen is None or cheapest is None:
        return False
    return chosen.price - cheapest.price > settings.SHIPPING_PROMISE_TARGET_MAX_PREMIUM


class LandedCostRouting:
    """Prices routing's plans for a batch of orders (``inventory.services.allocation.LandedCost``)."""

    def __init__(self, *, now: dt.datetime | None = None, terms: list[rating.ServiceTerms] | None = None) -> None:
        self.now = now or timezone.now()
        self.terms = terms
        self._quotes: dict[tuple, list[Offer]] = {}
        self._floors: dict[tuple, Decimal | None] = {}
        self.max_premium = settings.SHIPPING_PROMISE_TARGET_MAX_PREMIUM

    def pricings(self, requests, warehouses: dict[int, Warehouse]) -> dict:
        terms = selectors.active_service_terms() if self.terms is None else self.terms
        if not terms or not requests:
            return {}
        product_ids = {line.product_id for request in requests for line in request.lines}
        weights = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "weight_kg"))
        areas = {request.order_id: lanes.zip3(request.postal_code, request.country) for request in requests}
        learned = lanes.learned_days(areas=set(areas.values()), warehouse_ids=list(warehouses))
        return {
            request.order_id: OrderPricing(
                routing=self,
                terms=terms,
                warehouses=warehouses,
                weights=weights,
                area=areas[request.order_id],
                learned=learned,
                target_date=request.promised_date or request.aim_date,
                max_premium=None if request.promised_date or not request.aim_date else self.max_premium,
            )
            for request in requests
        }

    def quote(self, warehouse: Warehouse, zone: int, parcels: tuple, terms, learned: dict[int, int], area: str):
        key = (warehouse.pk, zone, parcels, area if learned else "")
        found = self._quotes.get(key)
        if found is None:
            options, _ = rating.quote(
                terms,
                zone=zone,
                parcel_weights=list(parcels),
                now=warehouse.local_now(self.now),
                warehouse_cutoff=warehouse.daily_cutoff,
                processing_days=warehouse.processing_days,
                holidays=settings.SHIPPING_HOLIDAYS,
            )
            options = lanes.apply_learned_days(options, learned)
            found = [Offer(o.price, o.eta, o.label, (o.vendor_code, o.service_code)) for o in options]
            self._quotes[key] = found
        return found

    def floor(self, zone: int, parcels: tuple, terms) -> Decimal | None:
        key = (zone, parcels)
        if key not in self._floors:
            prices = []
            for service in terms:
                cells = [service.parcel_price(zone, weight) for weight in parcels]
                if zone in service.transit_days and None not in cells:
                    base = sum(cells, Decimal("0"))
                    prices.append(
                        (base * (1 + service.fuel_surcharge_percent / 100)).quantize(rating.CENT, rating.ROUND_HALF_UP)
                    )
            self._floors[key] = min(prices, default=None)
        return self._floors[key]


class OrderPricing:
    """One order's pricing (``inventory.routing.Pricing``)."""

    def __init__(self, *, routing, terms, warehouses, weights, area, learned, target_date, max_premium) -> None:
        self.routing = routing
        self.terms = terms
        self.warehouses = warehouses
        self.weights = weights
        self.area = area
        self.learned = learned
        self.target_date = target_date
        self.max_premium = max_premium
        self.extra_shipment_cost = settings.SHIPPING_EXTRA_SHIPMENT_COST
        self.max_parcel = Decimal(str(settings.SHIPPING_MAX_PARCEL_KG))

    def offers(self, candidate: Candidate, units: dict[int, int]) -> list[Offer]:
        warehouse = self.warehouses.get(candidate.warehouse_id)
        if warehouse is None or candidate.distance_km is None:
            return []
        weight = sum((self.weights.get(product, Decimal("0")) * count for product, count in units.items()), Decimal(0))
        parcels = tuple(split_into_parcels(weight, self.max_parcel))
        learned = self.learned.get((warehouse.pk, self.area), {})
        zone = rating.zone_for_distance(candidate.distance_km)
        return self.routing.quote(warehouse, zone, parcels, self.terms, learned, self.area)

    def floor(self, candidate: Candidate, units: dict[int, int]) -> Decimal | None:
        """The least label price any service asks for these units from this warehouse's zone, whatever the date."""
        if candidate.distance_km is None:
            return None
        weight = sum((self.weights.get(product, Decimal("0")) * count for product, count in units.items()), Decimal(0))
        parcels = tuple(split_into_parcels(weight, self.max_parcel))
        return self.routing.floor(rating.zone_for_distance(candidate.distance_km), parcels, self.terms)

    def handling_cost(self, candidate: Candidate) -> Decimal:
        warehouse = self.warehouses.get(candidate.warehouse_id)
        return warehouse.handling_cost if warehouse is not None else Decimal("0")
