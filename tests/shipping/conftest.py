import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from shipping.models import CarrierService, Rate, TransitTime, Vendor


@pytest.fixture
def monday_morning():
    """Monday 23 Nov 2026, 09:00 local: before every cut-off."""
    return timezone.make_aware(dt.datetime(2026, 11, 23, 9, 0))


def make_service(vendor, code, *, transit, prices, max_kg="30", fuel="0", cutoff=dt.time(17, 0)):
    """A service with one transit time and one price per zone for every zone, up to ``max_kg``."""
    service = CarrierService.objects.create(
        vendor=vendor,
        code=code,
        name=code.title(),
        max_weight_kg=Decimal(max_kg),
        pickup_cutoff=cutoff,
        fuel_surcharge_percent=Decimal(fuel),
    )
    for zone in range(2, 9):
        TransitTime.objects.create(service=service, zone=zone, business_days=transit)
        Rate.objects.create(service=service, zone=zone, max_weight_kg=Decimal(max_kg), price=Decimal(prices))
    return service


@pytest.fixture
def carriers(db):
    """Two vendors: a cheap slow ground (5 days, $8), a two-day ($15) and an overnight ($40)."""
    budget = Vendor.objects.create(code="budget", name="Budget Freight", tracking_prefix="BF", tracking_digits=10)
    rapid = Vendor.objects.create(
        code="rapid",
        name="Rapid Air",
        tracking_prefix="",
        tracking_digits=12,
        tracking_url_template="https://rapid.example/t/{tracking_number}",
    )
    return {
        "ground": make_service(budget, "GROUND", transit=5, prices="8.00"),
        "2day": make_service(rapid, "2DAY", transit=2, prices="15.00"),
        "overnight": make_service(rapid, "OVERNIGHT", transit=1, prices="40.00"),
    }
