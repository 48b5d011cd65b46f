"""The offline adapter: prices from our rate cards, tracking numbers from the vendor's own sequence."""

from __future__ import annotations

from django.db.models import F

from .. import rating
from ..models import Vendor
from .base import CarrierAdapter, CarrierError, PurchasedLabel, TrackingUpdate


def check_digit(digits: str) -> str:
    """The Luhn (mod 10) check digit of a string of digits."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def format_tracking_number(prefix: str, digits: int, serial: int) -> str:
    """``prefix`` + the serial zero-padded to ``digits - 1`` + a Luhn check digit."""
    body = f"{serial:0{digits - 1}d}"
    if len(body) > digits - 1:
        raise CarrierError(f"The tracking number range of {digits} digits is used up.")
    return f"{prefix}{body}{check_digit(body)}"


class TableRateAdapter(CarrierAdapter):
    def rate(self, *, services, zone, parcel_weights, now, warehouse_cutoff, processing_days, holidays):
        return rating.quote(
            services,
            zone=zone,
            parcel_weights=parcel_weights,
            now=now,
            warehouse_cutoff=warehouse_cutoff,
            processing_days=processing_days,
            holidays=holidays,
        )

    def buy_label(self, *, shipment, parcels) -> list[PurchasedLabel]:
        # One UPDATE reserves a block of serials; concurrent purchases queue on the vendor row briefly.
        count = len(parcels)
        Vendor.objects.filter(pk=self.vendor.pk).update(tracking_serial=F("tracking_serial") + count)
        last = Vendor.objects.values_list("tracking_serial", flat=True).get(pk=self.vendor.pk)
        first = last - count + 1
        return [
            PurchasedLabel(
                parcel.pk, format_tracking_number(self.vendor.tracking_prefix, self.vendor.tracking_digits, first + i)
            )
            for i, parcel in enumerate(parcels)
        ]

    def void_label(self, *, shipment, tracking_numbers) -> None:
        # Nothing to cancel remotely: the numbers are never issued again.
        return None

    def track(self, *, tracking_number) -> list[TrackingUpdate]:
        # Offline carriers push their scans to the webhook or ops record them by hand.
        return []
