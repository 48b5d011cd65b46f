"""Carrier adapters: one interface (rate, buy label, void, track) per way of talking to a carrier.

``get_adapter(vendor)`` returns the adapter a vendor is set to use. The
built-in ``table_rate`` adapter works offline from our own rate cards; a real
carrier's API is added by subclassing ``CarrierAdapter`` (see base.py) and
naming it in ``SHIPPING_CARRIER_ADAPTERS``.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .base import CarrierAdapter, CarrierError, PurchasedLabel, TrackingUpdate

__all__ = ["CarrierAdapter", "CarrierError", "PurchasedLabel", "TrackingUpdate", "get_adapter"]


def get_adapter(vendor) -> CarrierAdapter:
    """The adapter for a vendor, by its ``adapter`` setting."""
    try:
        path = settings.SHIPPING_CARRIER_ADAPTERS[vendor.adapter]
    except KeyError:
        raise CarrierError(f"Vendor {vendor}: no carrier adapter named {vendor.adapter!r}.") from None
    return import_string(path)(vendor)
