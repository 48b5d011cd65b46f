"""Demo carriers: three vendors, each with ground, two-day and overnight services and full rate cards."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction

from .models import CarrierService, Rate, TransitTime, Vendor
from .rating import ZONES_ALL

WEIGHT_BREAKS_KG = ["0.5", "1", "2", "5", "10", "20", "30", "50", "70"]

# code, name, prefix, digits, tracking URL, fuel %, services:
#   (code, name, max kg, pickup cut-off, base price, per zone, per kg, transit days for zones 2..8)
VENDORS = [
    (
        "parcelway",
        "Parcelway",
        "1Z8W4",
        13,
        "https://track.parcelway.example/?tracknum={tracking_number}",
        "14.50",
        [
            ("GROUND", "Ground", "70", dt.time(18, 0), "7.90", "0.85", "0.62", [1, 2, 3, 4, 5, 5, 5]),
            ("2DAY", "2nd Day Air", "70", dt.time(17, 0), "17.40", "2.10", "1.35", [2] * 7),
            ("NEXTDAY", "Next Day Air", "70", dt.time(16, 30), "32.50", "3.60", "2.40", [1] * 7),
        ],
    ),
    (
        "swift",
        "Swift Express",
        "",
        12,
        "https://swift.example/track/{tracking_number}",
        "13.25",
        [
            ("GROUND", "Home Ground", "68", dt.time(18, 0), "7.60", "0.95", "0.60", [1, 1, 2, 3, 4, 4, 5]),
            ("2DAY", "2Day", "68", dt.time(17, 0), "16.90", "2.30", "1.30", [2] * 7),
            ("OVERNIGHT", "Priority Overnight", "68", dt.time(16, 0), "34.00", "3.20", "2.55", [1] * 7),
        ],
    ),
    (
        "natpost",
        "National Post",
        "9400",
        18,
        "https://tools.natpost.example/track?label={tracking_number}",
        "0",
        [
            ("GROUND", "Ground Advantage", "30", dt.time(17, 0), "6.20", "0.70", "0.95", [2, 2, 3, 3, 4, 4, 5]),
            ("PRIORITY", "Priority Mail 2-Day", "30", dt.time(17, 0), "10.40", "1.10", "1.05", [2, 2, 2, 2, 2, 2, 3]),
            ("EXPRESS", "Priority Mail Express", "30", dt.time(15, 0), "29.95", "2.40", "1.90", [1, 1, 1, 1, 2, 2, 2]),
        ],
    ),
]


@transaction.atomic
def ensure_demo_carriers() -> list[Vendor]:
    """Create the demo vendors, services, transit times and rate cards (skipping those already there)."""
    vendors = []
    for code, name, prefix, digits, url, fuel, services in VENDORS:
        vendor, _ = Vendor.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "tracking_prefix": prefix,
                "tracking_digits": digits,
                "tracking_url_template": url,
                "account_number": f"{code.upper()}-{digits:02d}7731",
                "contact_email": f"accounts@{code}.example",
            },
        )
        vendors.append(vendor)
        for service_code, service_name, max_kg, cutoff, base, per_zone, per_kg, transit in services:
            service, created = CarrierService.objects.get_or_create(
                vendor=vendor,
                code=service_code,
                defaults={
                    "name": service_name,
                    "max_weight_kg": Decimal(max_kg),
                    "pickup_cutoff": cutoff,
                    "fuel_surcharge_percent": Decimal(fuel),
                },
            )
            if not created:
                continue
            TransitTime.objects.bulk_create(
                TransitTime(service=service, zone=zone, business_days=days)
                for zone, days in zip(ZONES_ALL, transit, strict=True)
            )
            Rate.objects.bulk_create(
                Rate(
                    service=service,
                    zone=zone,
                    max_weight_kg=Decimal(weight),
                    price=(Decimal(base) + Decimal(per_zone) * (zone - 2) + Decimal(per_kg) * Decimal(weight)).quantize(
                        Decimal("0.01")
                    ),
                )
                for zone in ZONES_ALL
                for weight in WEIGHT_BREAKS_KG
                if Decimal(weight) <= Decimal(max_kg)
            )
    return vendors
