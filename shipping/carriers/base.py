"""The carrier adapter interface.

An adapter is made for one vendor and answers four questions:

- ``rate``: what each of the vendor's services charges for these parcels to
  this zone and when they arrive (``rating.Option``), and which services
  cannot take them (``rating.Refusal``);
- ``buy_label``: buy one label per parcel; return each parcel's tracking
  number (the vendor's format, unique) -- called inside the shipment's
  transaction, so raise ``CarrierError`` to refuse and nothing is kept;
- ``void_label``: cancel labels with the vendor (refunds the postage);
  raise ``CarrierError`` when the vendor refuses (e.g. already scanned);
- ``track``: the vendor's scans for a tracking number, for carriers that are
  polled rather than pushing events to ``POST /api/v1/tracking``.

Network adapters must put a timeout on every call and raise ``CarrierError``
with a message an operator can act on.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal


class CarrierError(Exception):
    """The carrier refused or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class PurchasedLabel:
    parcel_id: int
    tracking_number: str


@dataclass(frozen=True)
class TrackingUpdate:
    tracking_number: str
    status: str  # a ShipmentStatus value
    occurred_at: dt.datetime
    description: str = ""
    location: str = ""


class CarrierAdapter(ABC):
    def __init__(self, vendor) -> None:
        self.vendor = vendor

    @abstractmethod
    def rate(
        self,
        *,
        services: list,
        zone: int,
        parcel_weights: list[Decimal],
        now: dt.datetime,
        warehouse_cutoff: dt.time,
        processing_days: int,
        holidays: frozenset[dt.date],
    ) -> tuple[list, list]: ...

    @abstractmethod
    def buy_label(self, *, shipment, parcels: list) -> list[PurchasedLabel]: ...

    @abstractmethod
    def void_label(self, *, shipment, tracking_numbers: list[str]) -> None: ...

    @abstractmethod
    def track(self, *, tracking_number: str) -> list[TrackingUpdate]: ...
