"""Reads for shipping: rate cards loaded for quoting, shipments with their rows."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import TruncWeek

from .models import (
    CarrierService,
    Lane,
    LaneDelivery,
    Rate,
    Shipment,
    ShipmentCostRisk,
    ShipmentStatus,
    TransitTime,
)
from .rating import ServiceTerms

_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, list[ServiceTerms]]] = {}


def active_service_terms(*, fresh: bool = False) -> list[ServiceTerms]:
    """Every active service of every active vendor, with its rate card and transit days.

    Quoting runs on every checkout, so the cards are kept in memory for
    ``SHIPPING_RATE_CACHE_SECONDS``; an edit in the admin is seen after that.
    No service at all is not kept: routing asks on every batch, and the first
    service set up is then seen at once, not a minute later.
    """
    ttl = settings.SHIPPING_RATE_CACHE_SECONDS
    now = time.monotonic()
    if not fresh and ttl > 0:
        cached = _cache.get("terms")
        if cached and now - cached[0] < ttl:
            return cached[1]
    terms = load_service_terms(CarrierService.objects.filter(is_active=True, vendor__is_active=True))
    with _cache_lock:
        if terms:
            _cache["terms"] = (now, terms)
        else:  # nothing kept: not the empty answer, and not an older list of services withdrawn since
            _cache.pop("terms", None)
    return terms


def clear_rate_cache() -> None:
    with _cache_lock:
        _cache.clear()


def load_service_terms(services: QuerySet[CarrierService]) -> list[ServiceTerms]:
    services = list(services.select_related("vendor").order_by("pk"))
    ids = [service.pk for service in services]
    transit: dict[int, dict[int, int]] = defaultdict(dict)
    for service_id, zone, days in TransitTime.objects.filter(service_id__in=ids).values_list(
        "service_id", "zone", "business_days"
    ):
        transit[service_id][zone] = days
    rates: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for service_id, zone, max_weight, price in (
        Rate.objects.filter(service_id__in=ids)
        .order_by("service_id", "zone", "max_weight_kg")
        .values_list("service_id", "zone", "max_weight_kg", "price")
    ):
        rates[service_id][zone].append((max_weight, price))
    return [
        ServiceTerms(
            service_id=service.pk,
            vendor_id=service.vendor_id,
            vendor_code=service.vendor.code,
            vendor_name=service.vendor.name,
            code=service.code,
            name=service.name,
            max_weight_kg=service.max_weight_kg,
            pickup_cutoff=service.pickup_cutoff,
            fuel_surcharge_percent=service.fuel_surcharge_percent,
            transit_days=dict(transit[service.pk]),
            rates=dict(rates[service.pk]),
        )
        for service in services
    ]


def shipments_for_labels(shipment_ids: list[int]) -> QuerySet[Shipment]:
    """Shipments with what their labels print: warehouse, service and vendor, parcels."""
    return (
        Shipment.objects.filter(pk__in=shipment_ids)
        .select_related("warehouse", "service__vendor")
        .prefetch_related(Prefetch("parcels"))
        .order_by("pk")
    )


def shipments_awaiting_cost_approval() -> QuerySet[Shipment]:
    """Shipments whose label is still to buy, whose shipping cost the margin guard flagged and nobody approved yet.

    Once the label is bought the money is spent and there is nothing left to approve. The console home counts
    these and its link lists them (the shipment list's "shipping cost" filter).
    """
    return Shipment.objects.filter(cost_risk=ShipmentCostRisk.AT_RISK, status=ShipmentStatus.AWAITING_LABEL)


# --- promise accuracy -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HitRate:
    """Deliveries with a promised date, those on or before it, and the share in percent (one decimal)."""

    label: str
    promised: int
    on_time: int

    @property
    def rate(self) -> Decimal | None:
        if not self.promised:
            return None
        return (Decimal(self.on_time * 100) / self.promised).quantize(Decimal("0.1"))

    def meets(self, goal: int) -> bool:
        return self.rate is not None and self.rate >= goal


def lanes_worst_first() -> QuerySet[Lane]:
    """Lanes with their hit rate (``hit``, percent) annotated: the lowest first, then the busiest."""
    hit = Case(
        When(promised=0, then=Value(None)),
        default=ExpressionWrapper(F("on_time") * 100.0 / F("promised"), output_field=FloatField()),
        output_field=FloatField(),
    )
    return (
        Lane.objects.select_related("warehouse", "service", "vendor")
        .annotate(hit=hit)
        .order_by(F("hit").asc(nulls_last=True), "-deliveries", "warehouse__code", "destination_zip3")
    )


def hit_rates(*, since: dt.date, by: str) -> list[HitRate]:
    """Hit rates of deliveries since ``since``, by "vendor", "warehouse" or "week" (Monday); the worst first
    (weeks: the newest first). One grouped query."""
    field = {"vendor": "vendor__name", "warehouse": "warehouse__code", "week": "week"}[by]
    rows = LaneDelivery.objects.filter(delivered_on__gte=since, on_time__isnull=False)
    if by == "week":
        rows = rows.annotate(week=TruncWeek("delivered_on"))
    grouped = rows.values(field).annotate(promised=Count("id"), hits=Count("id", filter=Q(on_time=True)))
    found = [
        HitRate(_week_label(row[field]) if by == "week" else row[field], row["promised"], row["hits"])
        for row in grouped
    ]
    if by == "week":
        return sorted(found, key=lambda r: r.label, reverse=True)
    return sorted(found, key=lambda r: (r.rate, -r.promised, r.label))


def overall_hit_rate(*, since: dt.date) -> HitRate:
    rows = LaneDelivery.objects.filter(delivered_on__gte=since, on_time__isnull=False).aggregate(
        promised=Count("id"), hits=Count("id", filter=Q(on_time=True))
    )
    return HitRate("all lanes", rows["promised"], rows["hits"])


def _week_label(day) -> str:
    day = day.date() if isinstance(day, dt.datetime) else day
    return f"{day:%Y-%m-%d}"
