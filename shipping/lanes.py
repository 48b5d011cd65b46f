"""Promise accuracy by lane: what each delivered shipment took, and each lane's learned transit days.

A lane is warehouse → 3-digit destination ZIP, by one carrier service (and
so one vendor). Every delivered shipment is recorded once
(``record_delivery``, from the tracking event that delivers it): the
business days from the day the carrier had it to the day it arrived, and
whether that was on or before the date promised. Its lane's figures are
refreshed at once; a nightly task refreshes every lane over its window
(``SHIPPING_LANE_WINDOW_DAYS``) so old deliveries age out.

Once a lane has ``SHIPPING_LANE_MIN_DELIVERIES`` deliveries in its window,
the promise and carrier choice use its ``SHIPPING_LANE_PERCENTILE``
transit days (nearest rank: the smallest number of days within which at
least that share arrived) instead of the rate card's: ``learned_days``
reads the lane table, one indexed query, never the deliveries.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import rating
from .models import Lane, LaneDelivery, Shipment, ShipmentStatus

LaneKey = tuple[int, str, int]  # (warehouse id, destination ZIP3, service id)


def zip3(postal_code: str, country: str = "US") -> str:
    """The 3-digit area of a US ZIP code; "" for another country or a code that is not a ZIP."""
    digits = (postal_code or "").strip()[:3]
    return digits if country.upper() == "US" and len(digits) == 3 and digits.isdigit() else ""


def percentile(values: Iterable[int], percent: int) -> int:
    """The nearest-rank percentile: the smallest value at least ``percent`` % of ``values`` are at or below."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("No values to take a percentile of.")
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def record_delivery(*, shipment: Shipment) -> LaneDelivery | None:
    """Record a delivered shipment on its lane and refresh the lane; inside the caller's transaction.

    Nothing is recorded for a shipment without a service, a delivery time or
    a US destination. Recording it again (a second delivered scan) replaces
    the first record.
    """
    if shipment.status != ShipmentStatus.DELIVERED or shipment.delivered_at is None or shipment.service_id is None:
        return None
    area = zip3(shipment.ship_to.get("postal_code", ""), shipment.ship_to.get("country", "US"))
    if not area:
        return None
    clock = zoneinfo.ZoneInfo(shipment.warehouse.time_zone)
    first_scan = (
        shipment.tracking_events.filter(status=ShipmentStatus.IN_TRANSIT)
        .order_by("occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    starts = [moment for moment in (first_scan, shipment.shipped_at) if moment is not None]
    picked_up = min(starts) if starts else shipment.delivered_at
    shipped_on = timezone.localtime(picked_up, clock).date()
    delivered_on = timezone.localtime(shipment.delivered_at, clock).date()
    promised = shipment.promised_date or shipment.estimated_delivery
    vendor_id = shipment.service.vendor_id
    record, _ = LaneDelivery.objects.update_or_create(
        shipment=shipment,
        defaults={
            "warehouse_id": shipment.warehouse_id,
            "destination_zip3": area,
            "service_id": shipment.service_id,
            "vendor_id": vendor_id,
            "shipped_on": shipped_on,
            "delivered_on": delivered_on,
            "promised_date": promised,
            "transit_days": rating.business_days_between(shipped_on, delivered_on, settings.SHIPPING_HOLIDAYS),
            "on_time": None if promised is None else delivered_on <= promised,
        },
    )
    refresh_lanes(keys=[(shipment.warehouse_id, area, shipment.service_id)])
    return record


def refresh_lanes(*, keys: list[LaneKey] | None = None, today: dt.date | None = None) -> int:
    """Recompute lanes' figures from their deliveries within the window; every lane when ``keys`` is None.

    A lane left with no delivery in its window is deleted. Returns how many lanes were written.
    """
    today = today or timezone.localdate()
    since = today - dt.timedelta(days=settings.SHIPPING_LANE_WINDOW_DAYS)
    deliveries = LaneDelivery.objects.filter(delivered_on__gt=since)
    if keys is not None:
        if not keys:
            return 0
        wanted = set(keys)
        deliveries = deliveries.filter(
            warehouse_id__in={k[0] for k in wanted},
            destination_zip3__in={k[1] for k in wanted},
            service_id__in={k[2] for k in wanted},
        )
    grouped: dict[LaneKey, list[tuple]] = defaultdict(list)
    vendor_of: dict[LaneKey, int] = {}
    for warehouse_id, area, service_id, vendor_id, days, on_time in deliveries.values_list(
        "warehouse_id", "destination_zip3", "service_id", "vendor_id", "transit_days", "on_time"
    ):
        key = (warehouse_id, area, service_id)
        if keys is not None and key not in wanted:
            continue
        grouped[key].append((days, on_time))
        vendor_of[key] = vendor_id
    now = timezone.now()
    figures = []
    for key, rows in grouped.items():
        days = [row[0] for row in rows]
        promised = [row[1] for row in rows if row[1] is not None]
        spread = percentile(days, settings.SHIPPING_LANE_PERCENTILE)
        figures.append(
            Lane(
                warehouse_id=key[0],
                destination_zip3=key[1],
                service_id=key[2],
                vendor_id=vendor_of[key],
                deliveries=len(rows),
                promised=len(promised),
                on_time=sum(promised),
                transit_median=percentile(days, 50),
                transit_percentile=spread,
                learned_days=spread if len(rows) >= settings.SHIPPING_LANE_MIN_DELIVERIES else None,
                refreshed_at=now,
            )
        )
    with transaction.atomic():
        candidates = Lane.objects.all() if keys is None else _lanes_matching(wanted)
        stale_ids = [
            pk
            for pk, *key in candidates.values_list("pk", "warehouse_id", "destination_zip3", "service_id")
            if tuple(key) not in grouped and (keys is None or tuple(key) in wanted)
        ]
        Lane.objects.filter(pk__in=stale_ids).delete()
        # one statement per thousand lanes, each lane keeping its row (and its console address)
        Lane.objects.bulk_create(
            figures,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["warehouse", "destination_zip3", "service"],
            update_fields=[
                "vendor",
                "deliveries",
                "promised",
                "on_time",
                "transit_median",
                "transit_percentile",
                "learned_days",
                "refreshed_at",
            ],
        )
    return len(grouped)


def _lanes_matching(keys: set[LaneKey]):
    return Lane.objects.filter(
        warehouse_id__in={k[0] for k in keys},
        destination_zip3__in={k[1] for k in keys},
        service_id__in={k[2] for k in keys},
    )


def learned_days(*, areas: Iterable[str], warehouse_ids: Iterable[int] | None = None) -> dict[tuple[int, str], dict]:
    """Learned transit days by (warehouse id, ZIP3) → {service id: days}, for these ZIP3 areas (one query)."""
    areas = {area for area in areas if area}
    if not areas:
        return {}
    lanes = Lane.objects.filter(destination_zip3__in=areas, learned_days__isnull=False)
    if warehouse_ids is not None:
        lanes = lanes.filter(warehouse_id__in=list(warehouse_ids))
    found: dict[tuple[int, str], dict[int, int]] = defaultdict(dict)
    for warehouse_id, area, service_id, days in lanes.values_list(
        "warehouse_id", "destination_zip3", "service_id", "learned_days"
    ):
        found[(warehouse_id, area)][service_id] = days
    return dict(found)


def apply_learned_days(options: list[rating.Option], days_by_service: dict[int, int]) -> list[rating.Option]:
    """The options with each learned lane's transit days in place of the rate card's, sorted as ``quote`` sorts."""
    if not days_by_service:
        return options
    changed = [
        replace(
            option,
            transit_days=days_by_service[option.service_id],
            eta=rating.add_business_days(
                option.ship_date, days_by_service[option.service_id], settings.SHIPPING_HOLIDAYS
            ),
        )
        if option.service_id in days_by_service
        else option
        for option in options
    ]
    changed.sort(key=lambda o: (o.price, o.eta, o.vendor_code, o.service_code))
    return changed
