"""The plain data the shipping documents are rendered from (no models: services map models to these)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class PostalAddress:
    name: str
    line1: str
    city: str
    postal_code: str
    state: str = ""
    line2: str = ""
    company: str = ""
    country: str = "US"
    phone: str = ""

    @property
    def locality(self) -> str:
        """'Austin, TX 78701' when there is a state, else '10115 Berlin' (postal code first, as most of Europe)."""
        if self.state:
            return f"{self.city}, {self.state} {self.postal_code}".strip()
        return f"{self.postal_code} {self.city}".strip()

    @property
    def lines(self) -> list[str]:
        """The printable lines, empty ones left out; the country only when it is not the US."""
        country = "" if self.country.upper() in ("", "US", "USA") else self.country.upper()
        candidates = [self.name, self.company, self.line1, self.line2, self.locality, country]
        return [line for line in (c.strip() for c in candidates) if line]


@dataclass(frozen=True)
class LabelData:
    tracking_number: str
    ship_from: PostalAddress
    ship_to: PostalAddress
    vendor_name: str
    service_name: str
    service_code: str
    weight_kg: Decimal
    order_number: str
    parcel_index: int
    parcel_count: int
    ship_date: date
    dimensions_cm: str = ""
    warehouse_code: str = ""
    reference: str = ""

    @property
    def weight_lb(self) -> Decimal:
        """The weight in pounds, one decimal (US carriers print pounds)."""
        return (Decimal(self.weight_kg) * Decimal("2.20462")).quantize(Decimal("0.1"))

    @property
    def weight_text(self) -> str:
        """'2.35 kg (5.2 lb)': kilograms without trailing zeros, then pounds."""
        kilograms = Decimal(self.weight_kg).quantize(Decimal("0.001")).normalize()
        return f"{kilograms:f} kg ({self.weight_lb} lb)"

    @property
    def dimensions_text(self) -> str:
        """The dimensions as given, with ' cm' added unless they already end with a unit."""
        text = (self.dimensions_cm or "").strip()
        return f"{text} cm" if text and not text.endswith("cm") else text


@dataclass(frozen=True)
class PackingSlipLine:
    sku: str
    name: str
    quantity_ordered: int
    quantity_in_shipment: int
    bin_location: str = ""

    @property
    def quantity_to_follow(self) -> int:
        """Units ordered but not in this shipment (shipped earlier or still to come)."""
        return max(self.quantity_ordered - self.quantity_in_shipment, 0)


@dataclass(frozen=True)
class PackingSlipData:
    order_number: str
    placed_at: date
    ship_to: PostalAddress
    ship_from: PostalAddress
    lines: list[PackingSlipLine]
    shipment_reference: str
    vendor_name: str
    service_name: str
    tracking_numbers: list[str]
    brand_name: str
    note: str = ""
    # A business customer's: its reference for the order, how to pack it, and its branding of the slip.
    po_number: str = ""
    packing_instructions: str = ""
    brand_colour: str = ""  # #RRGGBB
    brand_logo: str = ""  # a data: URI (documents render offline)

    @property
    def total_in_shipment(self) -> int:
        return sum(line.quantity_in_shipment for line in self.lines)

    @property
    def total_ordered(self) -> int:
        return sum(line.quantity_ordered for line in self.lines)


@dataclass(frozen=True)
class PickItem:
    sku: str
    name: str
    quantity: int
    order_numbers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PickBin:
    bin_location: str
    items: list[PickItem]

    @property
    def total_quantity(self) -> int:
        return sum(item.quantity for item in self.items)


@dataclass(frozen=True)
class PickInstruction:
    """A business customer's packing instructions for one order on the pick list, with its PO number."""

    order_number: str
    customer: str
    po_number: str
    text: str


@dataclass(frozen=True)
class PickWarehouse:
    code: str
    name: str
    bins: list[PickBin]
    instructions: list[PickInstruction] = field(default_factory=list)

    @property
    def total_quantity(self) -> int:
        return sum(b.total_quantity for b in self.bins)

    @property
    def line_count(self) -> int:
        return sum(len(b.items) for b in self.bins)

    @property
    def order_numbers(self) -> list[str]:
        """The distinct orders picked in this warehouse, sorted."""
        return sorted({number for b in self.bins for item in b.items for number in item.order_numbers})


@dataclass(frozen=True)
class PickListData:
    title: str
    generated_at: datetime
    warehouses: list[PickWarehouse]

    @property
    def total_quantity(self) -> int:
        return sum(w.total_quantity for w in self.warehouses)

    @property
    def line_count(self) -> int:
        return sum(w.line_count for w in self.warehouses)


def natural_key(text: str) -> tuple:
    """Sort key that orders 'A-2' before 'A-10': digit runs compare as numbers, the rest case-insensitively."""
    parts = re.split(r"(\d+)", text.strip().casefold())
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts)
