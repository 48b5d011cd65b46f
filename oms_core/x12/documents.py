"""The typed documents: 940, 945, 846, 944 and 997 as dataclasses, to and from segments."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import ClassVar, TypeAlias

from oms_core.x12.syntax import (
    VERSION_4010,
    VERSION_5010,
    Element,
    ElementError,
    Segment,
    SegmentError,
    X12Error,
    date_text,
    decimal_text,
    plain_text,
    read_date,
    read_decimal,
    read_int,
    read_time,
    segment,
    time_text,
)

# --- typed documents ---------------------------------------------------------------------------


class _Cursor:
    """The segments of a set's body, taken in order by the typed readers (after ``check_set`` passed)."""

    def __init__(self, body: Sequence[Segment]):
        self.body = list(body)
        self.index = 0

    def peek(self) -> str | None:
        return self.body[self.index].tag if self.index < len(self.body) else None

    def take(self, tag: str) -> Segment:
        if self.peek() != tag:
            seg = self.body[self.index] if self.index < len(self.body) else None
            raise X12Error(
                f"expected {tag} here" + (f", found {seg.tag}" if seg else ", the set ends"),
                position=seg.position if seg else None,
                segment=seg.tag if seg else tag,
            )
        self.index += 1
        return self.body[self.index - 1]

    def take_if(self, tag: str) -> Segment | None:
        return self.take(tag) if self.peek() == tag else None

    def take_all(self, tag: str) -> list[Segment]:
        found = []
        while self.peek() == tag:
            found.append(self.take(tag))
        return found


@dataclass(frozen=True)
class Party:
    """An N1 loop: a party (N101: ST ship-to, SF ship-from, WH warehouse, DE depositor), its address, a contact."""

    role: str
    name: str
    id_qualifier: str = ""  # N103: 91 assigned by seller, 92 assigned by buyer, 9 DUNS+4
    id_code: str = ""  # N104
    name_lines: tuple[str, ...] = ()  # N2, additional name lines (at most 2)
    address_lines: tuple[str, ...] = ()  # N301, N302 (at most 2)
    city: str = ""  # N401
    state: str = ""  # N402
    postal_code: str = ""  # N403
    country: str = ""  # N404, ISO 3166 two-letter
    contact_name: str = ""  # G6102 with G6101 IC (the party's name when a phone or email is given without one)
    phone: str = ""  # G6104 with G6103 TE
    email: str = ""  # G6104 with G6103 EM

    def __post_init__(self):
        if (self.phone or self.email) and not self.contact_name:  # G6102 is mandatory beside a number
            object.__setattr__(self, "contact_name", self.name)

    def to_segments(self) -> list[Segment]:
        for name, lines in (("name_lines (N2)", self.name_lines), ("address_lines (N3)", self.address_lines)):
            if len(lines) > 2:
                raise X12Error(f"{self.role} {self.name!r}: {name} takes at most 2 lines, not {len(lines)}")
        found = [segment("N1", self.role, self.name, self.id_qualifier, self.id_code)]
        if self.name_lines:
            found.append(segment("N2", *self.name_lines[:2]))
        if self.address_lines:
            found.append(segment("N3", *self.address_lines[:2]))
        if self.city or self.state or self.postal_code or self.country:
            found.append(segment("N4", self.city, self.state, self.postal_code, self.country))
        if self.phone:
            found.append(segment("G61", "IC", self.contact_name, "TE", self.phone))
        if self.email:
            found.append(segment("G61", "IC", self.contact_name, "EM", self.email))
        if self.contact_name and not self.phone and not self.email:
            found.append(segment("G61", "IC", self.contact_name))
        return found

    @classmethod
    def read(cls, cursor: _Cursor) -> Party:
        n1 = cursor.take("N1")
        n2 = cursor.take_if("N2")
        n3 = cursor.take_if("N3")
        n4 = cursor.take_if("N4")
        contact, phone, email = "", "", ""
        for g61 in cursor.take_all("G61"):
            contact = contact or g61.get(2)
            if g61.get(3) == "TE":
                phone = g61.get(4)
            elif g61.get(3) == "EM":
                email = g61.get(4)
        return cls(
            role=n1.get(1),
            name=n1.get(2),
            id_qualifier=n1.get(3),
            id_code=n1.get(4),
            name_lines=tuple(v for v in (n2.get(1), n2.get(2)) if v) if n2 else (),
            address_lines=tuple(v for v in (n3.get(1), n3.get(2)) if v) if n3 else (),
            city=n4.get(1) if n4 else "",
            state=n4.get(2) if n4 else "",
            postal_code=n4.get(3) if n4 else "",
            country=n4.get(4) if n4 else "",
            contact_name=contact,
            phone=phone,
            email=email,
        )


def _read_parties(cursor: _Cursor) -> tuple[Party, ...]:
    parties = []
    while cursor.peek() == "N1":
        parties.append(Party.read(cursor))
    return tuple(parties)


def _party_segments(parties: Iterable[Party]) -> list[Segment]:
    return [seg for party in parties for seg in party.to_segments()]


def _product_elements(sku: str, upc: str) -> tuple[str, str, str, str]:
    """Qualifier and id pairs: VN (the vendor's item number, our SKU), then UP (the UPC barcode) if any."""
    return ("VN", sku, "UP", upc) if upc else ("VN", sku, "", "")


def _product_ids(seg: Segment, first: int, pairs: int = 2) -> dict[str, str]:
    found = {}
    for offset in range(pairs):
        qualifier, value = seg.get(first + 2 * offset), seg.get(first + 2 * offset + 1)
        if qualifier and value:
            found.setdefault(qualifier, value)
    return found


def _sku(seg: Segment, ids: dict[str, str], number: int) -> str:
    for qualifier in ("VN", "SK", "BP", "IN"):
        if ids.get(qualifier):
            return ids[qualifier]
    raise X12Error(
        f"{seg.name(number)}: no item number with qualifier VN (or SK, BP, IN) in {seg.tag}",
        position=seg.position,
        segment=seg.tag,
        element=seg.name(number),
    )


def _check_total(seg: Segment, number: int, said: Decimal | None, counted: Decimal, what: str) -> None:
    if said is not None and said != counted:
        raise X12Error(
            f"{seg.name(number)} says {decimal_text(said)} {what}, the lines add up to {decimal_text(counted)}",
            position=seg.position,
            segment=seg.tag,
            element=seg.name(number),
        )


@dataclass(frozen=True)
class OrderLine:
    """A 940 line: LX, W01 (quantity, unit, VN SKU, UP UPC), G69 description, N9 LI our line reference."""

    sku: str
    quantity: Decimal
    unit: str = "EA"
    upc: str = ""
    description: str = ""
    line_reference: str = ""


@dataclass(frozen=True)
class ShippingOrder:
    """940 Warehouse Shipping Order: we ask the warehouse to ship; W0502 is our shipment id, echoed in the 945."""

    SET_ID: ClassVar[str] = "940"
    FUNCTIONAL_ID: ClassVar[str] = "OW"

    shipment_id: str  # W0502 depositor order number
    order_number: str  # W0503 purchase order number (the customer's order)
    lines: tuple[OrderLine, ...]
    parties: tuple[Party, ...] = ()  # N1 ST ship-to (required by every 3PL), DE depositor, WH warehouse
    purpose: str = "N"  # W0501: N original
    requested_ship_date: dt.date | None = None  # G62 10
    requested_delivery_date: dt.date | None = None  # G62 02
    carrier: str = ""  # W6610 SCAC
    service_level: str = ""  # W6605 routing: the service the partner's mapping knows
    payment_method: str = "PP"  # W6601: PP prepaid, CC collect, TP third party
    transport_method: str = "U"  # W6602: U private parcel service, M motor, A air
    instructions: str = ""  # NTE WHI
    references: tuple[tuple[str, str], ...] = ()  # N9 (qualifier, value) at the header
    weight_lb: Decimal | None = None  # W7602 with W7603 LB

    @property
    def total_quantity(self) -> Decimal:
        return sum((line.quantity for line in self.lines), Decimal(0))

    def to_segments(self, version: str = VERSION_4010) -> list[Segment]:
        found = [segment("W05", self.purpose, self.shipment_id, self.order_number)]
        found += _party_segments(self.parties)
        found += [segment("N9", qualifier, value) for qualifier, value in self.references]
        if self.requested_delivery_date:
            found.append(segment("G62", "02", date_text(self.requested_delivery_date)))
        if self.requested_ship_date:
            found.append(segment("G62", "10", date_text(self.requested_ship_date)))
        if self.instructions:
            found.append(segment("NTE", "WHI", self.instructions))
        found.append(
            segment(
                "W66",
                self.payment_method,
                self.transport_method,
                "",
                "",
                self.service_level,
                "",
                "",
                "",
                "",
                self.carrier,
            )
        )
        for number, line in enumerate(self.lines, start=1):
            found.append(segment("LX", str(number)))
            found.append(
                segment("W01", decimal_text(line.quantity), line.unit, "", *_product_elements(line.sku, line.upc))
            )
            if line.description:
                found.append(segment("G69", line.description))
            if line.line_reference:
                found.append(segment("N9", "LI", line.line_reference))
        weight = decimal_text(self.weight_lb)
        found.append(segment("W76", decimal_text(self.total_quantity), weight, "LB" if weight else ""))
        return found

    @classmethod
    def from_segments(cls, body: Sequence[Segment], version: str = VERSION_4010) -> ShippingOrder:
        cursor = _Cursor(body)
        w05 = cursor.take("W05")
        parties = _read_parties(cursor)
        references = tuple((n9.get(1), n9.get(2)) for n9 in cursor.take_all("N9"))
        dates = {g62.get(1): read_date(g62, 2) for g62 in cursor.take_all("G62")}
        notes = [nte.get(2) for nte in cursor.take_all("NTE") if nte.get(1) in ("WHI", "")]
        w66 = cursor.take("W66")
        lines = []
        while cursor.peek() == "LX":
            cursor.take("LX")
            w01 = cursor.take("W01")
            ids = _product_ids(w01, 4)
            description = " ".join(g69.get(1) for g69 in cursor.take_all("G69"))
            line_ref = next((n9.get(2) for n9 in cursor.take_all("N9") if n9.get(1) == "LI"), "")
            lines.append(
                OrderLine(
                    sku=_sku(w01, ids, 5),
                    quantity=read_decimal(w01, 1),
                    unit=w01.get(2),
                    upc=ids.get("UP", ""),
                    description=description,
                    line_reference=line_ref,
                )
            )
        order = cls(
            shipment_id=w05.get(2),
            order_number=w05.get(3),
            lines=tuple(lines),
            parties=parties,
            purpose=w05.get(1),
            requested_ship_date=dates.get("10"),
            requested_delivery_date=dates.get("02"),
            carrier=w66.get(10),
            service_level=w66.get(5),
            payment_method=w66.get(1),
            transport_method=w66.get(2),
            instructions=" ".join(notes),
            references=references,
        )
        w76 = cursor.take_if("W76")
        if w76 is not None:
            _check_total(w76, 1, read_decimal(w76, 1), order.total_quantity, "units ordered")
            if w76.get(3) == "LB":
                order = replace(order, weight_lb=read_decimal(w76, 2))
        return order

    def ship_to(self) -> Party | None:
        return next((party for party in self.parties if party.role == "ST"), None)


@dataclass(frozen=True)
class ShippedLine:
    """A 945 W12: what was ordered and shipped of one SKU in one package."""

    sku: str
    quantity_shipped: Decimal
    quantity_ordered: Decimal | None = None
    unit: str = "EA"
    status: str = "CC"  # W1201: CC shipped complete, CP shipped partial, ...
    lot: str = ""  # W1209
    description: str = ""  # G69
    line_reference: str = ""  # N9 LI: the 940's line reference, echoed

    @property
    def quantity_difference(self) -> Decimal | None:
        if self.quantity_ordered is None:
            return None
        return self.quantity_ordered - self.quantity_shipped


@dataclass(frozen=True)
class ShippedPackage:
    """A 945 LX loop: one package (MAN GM its id/SSCC, MAN CP its tracking number) and the lines in it."""

    lines: tuple[ShippedLine, ...]
    package_id: str = ""
    tracking_number: str = ""


@dataclass(frozen=True)
class ShippingAdvice:
    """945 Warehouse Shipping Advice: the warehouse shipped (all or part of) the order we sent in a 940."""

    SET_ID: ClassVar[str] = "945"
    FUNCTIONAL_ID: ClassVar[str] = "SW"

    shipment_id: str  # W0602: our shipment id from the 940's W0502
    ship_date: dt.date  # W0603
    packages: tuple[ShippedPackage, ...]
    warehouse_shipment_id: str = ""  # W0604: the warehouse's own id for the shipment
    order_number: str = ""  # W0606
    reporting_code: str = "F"  # W0601: F final, P partial
    parties: tuple[Party, ...] = ()
    shipped_time: dt.time | None = None  # G62 11 date with time qualifier 8
    carrier: str = ""  # W2702 SCAC
    service_level: str = ""  # W2703 routing
    transport_method: str = "U"  # W2701
    tracking_number: str = ""  # N9 CN: the shipment's (master) tracking or PRO number
    bill_of_lading: str = ""  # N9 BM
    weight_lb: Decimal | None = None  # W0302 with W0303 LB

    @property
    def units_shipped(self) -> Decimal:
        return sum((line.quantity_shipped for package in self.packages for line in package.lines), Decimal(0))

    def shipped_quantities(self) -> dict[str, Decimal]:
        """SKU → the units shipped of it, over all packages."""
        found: dict[str, Decimal] = {}
        for package in self.packages:
            for line in package.lines:
                found[line.sku] = found.get(line.sku, Decimal(0)) + line.quantity_shipped
        return found

    def to_segments(self, version: str = VERSION_4010) -> list[Segment]:
        found = [
            segment(
                "W06",
                self.reporting_code,
                self.shipment_id,
                date_text(self.ship_date),
                self.warehouse_shipment_id,
                "",
                self.order_number,
            )
        ]
        found += _party_segments(self.parties)
        if self.tracking_number:
            found.append(segment("N9", "CN", self.tracking_number))
        if self.bill_of_lading:
            found.append(segment("N9", "BM", self.bill_of_lading))
        found.append(
            segment(
                "G62", "11", date_text(self.ship_date), "8" if self.shipped_time else "", time_text(self.shipped_time)
            )
        )
        found.append(segment("W27", self.transport_method, self.carrier, self.service_level))
        for number, package in enumerate(self.packages, start=1):
            found.append(segment("LX", str(number)))
            if package.package_id or package.tracking_number:
                if package.package_id and package.tracking_number:
                    found.append(segment("MAN", "GM", package.package_id, "", "CP", package.tracking_number))
                elif package.package_id:
                    found.append(segment("MAN", "GM", package.package_id))
                else:
                    found.append(segment("MAN", "CP", package.tracking_number))
            for line in package.lines:
                found.append(
                    segment(
                        "W12",
                        line.status,
                        decimal_text(line.quantity_ordered),
                        decimal_text(line.quantity_shipped),
                        decimal_text(line.quantity_difference),
                        line.unit,
                        "",
                        "VN",
                        line.sku,
                        line.lot,
                    )
                )
                if line.description:
                    found.append(segment("G69", line.description))
                if line.line_reference:
                    found.append(segment("N9", "LI", line.line_reference))
        weight = decimal_text(self.weight_lb)
        found.append(segment("W03", decimal_text(self.units_shipped), weight, "LB" if weight else ""))
        return found

    @classmethod
    def from_segments(cls, body: Sequence[Segment], version: str = VERSION_4010) -> ShippingAdvice:
        cursor = _Cursor(body)
        w06 = cursor.take("W06")
        parties = _read_parties(cursor)
        references = {n9.get(1): n9.get(2) for n9 in cursor.take_all("N9")}
        ship_date, shipped_time = read_date(w06, 3), None
        for g62 in cursor.take_all("G62"):
            if g62.get(1) == "11":
                ship_date = ship_date or read_date(g62, 2)
                shipped_time = read_time(g62, 4)
        if ship_date is None:
            raise X12Error(
                "W0603 (or a G62 11) must give the ship date", position=w06.position, segment="W06", element="W0603"
            )
        w27 = cursor.take("W27")
        packages = []
        while cursor.peek() == "LX":
            cursor.take("LX")
            package_id, tracking = "", ""
            for man in cursor.take_all("MAN"):
                marks = {man.get(1): man.get(2)}
                if man.get(4):
                    marks.setdefault(man.get(4), man.get(5))
                package_id = package_id or marks.get("GM", "") or marks.get("W", "")
                tracking = tracking or marks.get("CP", "")
            cursor.take_all("N9")
            lines = []
            while cursor.peek() == "W12":
                w12 = cursor.take("W12")
                ids = _product_ids(w12, 7, pairs=1)
                description = " ".join(g69.get(1) for g69 in cursor.take_all("G69"))
                line_ref = next((n9.get(2) for n9 in cursor.take_all("N9") if n9.get(1) == "LI"), "")
                shipped = read_decimal(w12, 3)
                if shipped is None:
                    raise X12Error(
                        "W1203 must give the units shipped", position=w12.position, segment="W12", element="W1203"
                    )
                lines.append(
                    ShippedLine(
                        sku=_sku(w12, ids, 8),
                        quantity_shipped=shipped,
                        quantity_ordered=read_decimal(w12, 2),
                        unit=w12.get(5) or "EA",
                        status=w12.get(1),
                        lot=w12.get(9),
                        description=description,
                        line_reference=line_ref,
                    )
                )
            packages.append(ShippedPackage(lines=tuple(lines), package_id=package_id, tracking_number=tracking))
        w03 = cursor.take("W03")
        advice = cls(
            shipment_id=w06.get(2),
            ship_date=ship_date,
            packages=tuple(packages),
            warehouse_shipment_id=w06.get(4),
            order_number=w06.get(6),
            reporting_code=w06.get(1),
            parties=parties,
            shipped_time=shipped_time,
            carrier=w27.get(2),
            service_level=w27.get(3),
            transport_method=w27.get(1),
            tracking_number=references.get("CN", ""),
            bill_of_lading=references.get("BM", ""),
            weight_lb=read_decimal(w03, 2) if w03.get(3) == "LB" else None,
        )
        _check_total(w03, 1, read_decimal(w03, 1), advice.units_shipped, "units shipped")
        return advice


@dataclass(frozen=True)
class InventoryQuantity:
    """A QTY: qualifier (33 quantity available / stock on hand, 17 on hand, 74 damaged, ...), quantity, unit."""

    qualifier: str
    quantity: Decimal
    unit: str = "EA"


@dataclass(frozen=True)
class InventoryItem:
    """An 846 LIN loop: the item (VN SKU, UP UPC), PID description, its QTY quantities."""

    sku: str
    quantities: tuple[InventoryQuantity, ...]
    upc: str = ""
    description: str = ""

    def quantity(self, *qualifiers: str) -> Decimal | None:
        """The first quantity reported under one of ``qualifiers``, in that order of preference."""
        by_qualifier = {q.qualifier: q.quantity for q in reversed(self.quantities)}
        return next((by_qualifier[q] for q in qualifiers if q in by_qualifier), None)

    @property
    def on_hand(self) -> Decimal | None:
        """The stock on hand: QTY 33 (quantity available for sale, stock quantity), else QTY 17 (on hand)."""
        return self.quantity("33", "17")


@dataclass(frozen=True)
class InventoryAdvice:
    """846 Inventory Inquiry/Advice: the warehouse's stock per SKU as of a date and time."""

    SET_ID: ClassVar[str] = "846"
    FUNCTIONAL_ID: ClassVar[str] = "IB"

    report_id: str  # BIA03
    as_of_date: dt.date  # BIA04
    items: tuple[InventoryItem, ...]
    as_of_time: dt.time | None = None  # BIA05 (the partner's local time: its agreement says which zone)
    purpose: str = "00"  # BIA01 00 original
    report_type: str = "DD"  # BIA02 DD distributor inventory report
    parties: tuple[Party, ...] = ()  # N1 WH: the warehouse reporting

    def to_segments(self, version: str = VERSION_4010) -> list[Segment]:
        found = [
            segment(
                "BIA",
                self.purpose,
                self.report_type,
                self.report_id,
                date_text(self.as_of_date),
                time_text(self.as_of_time),
            )
        ]
        found += _party_segments(self.parties)
        for number, item in enumerate(self.items, start=1):
            found.append(segment("LIN", str(number), *_product_elements(item.sku, item.upc)))
            if item.description:
                found.append(segment("PID", "F", "", "", "", item.description))
            for quantity in item.quantities:
                found.append(segment("QTY", quantity.qualifier, decimal_text(quantity.quantity), quantity.unit))
        found.append(segment("CTT", str(len(self.items))))
        return found

    @classmethod
    def from_segments(cls, body: Sequence[Segment], version: str = VERSION_4010) -> InventoryAdvice:
        cursor = _Cursor(body)
        bia = cursor.take("BIA")
        parties = _read_parties(cursor)
        items = []
        while cursor.peek() == "LIN":
            lin = cursor.take("LIN")
            ids = _product_ids(lin, 2)
            description = " ".join(pid.get(5) for pid in cursor.take_all("PID") if pid.get(5))
            quantities = []
            for qty in cursor.take_all("QTY"):
                amount = read_decimal(qty, 2)
                if amount is None:
                    raise X12Error(
                        "QTY02 must give the quantity", position=qty.position, segment="QTY", element="QTY02"
                    )
                quantities.append(InventoryQuantity(qty.get(1), amount, qty.get(3) or "EA"))
            items.append(InventoryItem(_sku(lin, ids, 3), tuple(quantities), ids.get("UP", ""), description))
        ctt = cursor.take_if("CTT")
        if ctt is not None and read_int(ctt, 1) != len(items):
            raise X12Error(
                f"CTT01 says {read_int(ctt, 1)} items, the set has {len(items)}",
                position=ctt.position,
                segment="CTT",
                element="CTT01",
            )
        return cls(
            report_id=bia.get(3),
            as_of_date=read_date(bia, 4),
            items=tuple(items),
            as_of_time=read_time(bia, 5),
            purpose=bia.get(1),
            report_type=bia.get(2),
            parties=parties,
        )


@dataclass(frozen=True)
class ReceivedLine:
    """A 944 W07: the units received of one SKU (VN), its UPC, lot; a return's grading in the line's N9 ZZ."""

    sku: str
    quantity: Decimal
    unit: str = "EA"
    upc: str = ""
    lot: str = ""
    description: str = ""
    disposition: str = ""  # N9 ZZ N902: a returned unit's grading, as agreed with the partner (restock, damaged)
    disposition_note: str = ""  # N9 ZZ N903: why (a damaged unit's reason)


@dataclass(frozen=True)
class StockReceipt:
    """944 Warehouse Stock Transfer Receipt Advice: stock arrived at the warehouse (a transfer, a receipt, a return)."""

    SET_ID: ClassVar[str] = "944"
    FUNCTIONAL_ID: ClassVar[str] = "RE"

    receipt_number: str  # W1703: the warehouse's receipt number
    received_date: dt.date  # W1702
    lines: tuple[ReceivedLine, ...]
    reference: str = ""  # W1704: our transfer / advance shipping notice id (the 943's depositor order number)
    reporting_code: str = "F"  # W1701
    parties: tuple[Party, ...] = ()
    references: tuple[tuple[str, str], ...] = ()  # N9 (qualifier, value) at the header: RZ a return's RMA number

    @property
    def total_quantity(self) -> Decimal:
        return sum((line.quantity for line in self.lines), Decimal(0))

    def to_segments(self, version: str = VERSION_4010) -> list[Segment]:
        found = [
            segment("W17", self.reporting_code, date_text(self.received_date), self.receipt_number, self.reference)
        ]
        found += _party_segments(self.parties)
        found += [segment("N9", qualifier, value) for qualifier, value in self.references]
        for number, line in enumerate(self.lines, start=1):
            found.append(segment("LX", str(number)))
            found.append(
                segment(
                    "W07", decimal_text(line.quantity), line.unit, "", *_product_elements(line.sku, line.upc), line.lot
                )
            )
            if line.description:
                found.append(segment("G69", line.description))
            if line.disposition:
                found.append(segment("N9", "ZZ", line.disposition, line.disposition_note))
        found.append(segment("W14", decimal_text(self.total_quantity)))
        return found

    @classmethod
    def from_segments(cls, body: Sequence[Segment], version: str = VERSION_4010) -> StockReceipt:
        cursor = _Cursor(body)
        w17 = cursor.take("W17")
        parties = _read_parties(cursor)
        references = tuple((n9.get(1), n9.get(2)) for n9 in cursor.take_all("N9"))
        cursor.take_all("G62")
        lines = []
        while cursor.peek() == "LX":
            cursor.take("LX")
            while cursor.peek() == "W07":
                w07 = cursor.take("W07")
                ids = _product_ids(w07, 4)
                description = " ".join(g69.get(1) for g69 in cursor.take_all("G69"))
                grading = next((n9 for n9 in cursor.take_all("N9") if n9.get(1) == "ZZ"), None)
                lines.append(
                    ReceivedLine(
                        _sku(w07, ids, 5),
                        read_decimal(w07, 1),
                        w07.get(2),
                        ids.get("UP", ""),
                        w07.get(8),
                        description,
                        disposition=grading.get(2) if grading else "",
                        disposition_note=grading.get(3) if grading else "",
                    )
                )
        w14 = cursor.take("W14")
        receipt = cls(
            receipt_number=w17.get(3),
            received_date=read_date(w17, 2),
            lines=tuple(lines),
            reference=w17.get(4),
            reporting_code=w17.get(1),
            parties=parties,
            references=references,
        )
        _check_total(w14, 1, read_decimal(w14, 1), receipt.total_quantity, "units received")
        return receipt


@dataclass(frozen=True)
class SetAcknowledgement:
    """An AK2 loop: one transaction set's answer (AK5 A accepted, E accepted with errors, R rejected)."""

    set_id: str
    control_number: str
    status: str
    error_codes: tuple[str, ...] = ()
    segment_errors: tuple[SegmentError, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.status in ("A", "E")


_COPYABLE = re.compile(r"[^A-Za-z0-9 .,/#&()@+-]")


def _copy_of_bad_value(value: str) -> str:
    """AK404's copy of a bad value: the partner's value may hold our separators or anything else, so only
    letters, digits, spaces and plain punctuation are kept (at most 99 characters)."""
    return _COPYABLE.sub("", plain_text(value))[:99].strip()


@dataclass(frozen=True)
class FunctionalAcknowledgement:
    """997 Functional Acknowledgement: the group (AK1) and its sets (AK2/AK5) arrived and read, or not and why.

    A 997 says the message was read, not that the order was accepted: that answer is business, not syntax.
    """

    SET_ID: ClassVar[str] = "997"
    FUNCTIONAL_ID: ClassVar[str] = "FA"

    functional_id: str  # AK101: the acknowledged group's GS01
    group_control_number: int  # AK102: its GS06
    status: str  # AK901: A accepted, E accepted with errors, P partially accepted, R rejected
    sets: tuple[SetAcknowledgement, ...] = ()
    sets_included: int = 0  # AK902: GE01 as the sender said
    sets_received: int = 0  # AK903
    sets_accepted: int = 0  # AK904
    error_codes: tuple[str, ...] = ()  # AK905..AK909
    group_version: str = ""  # AK103 (005010)

    def set_status(self, control_number: str) -> SetAcknowledgement | None:
        return next((s for s in self.sets if s.control_number.lstrip("0") == control_number.lstrip("0")), None)

    def to_segments(self, version: str = VERSION_4010) -> list[Segment]:
        fifty = version.startswith(VERSION_5010)
        found = [
            segment("AK1", self.functional_id, str(self.group_control_number), self.group_version if fifty else "")
        ]
        for answer in self.sets:
            found.append(segment("AK2", answer.set_id, answer.control_number))
            for error in answer.segment_errors:
                found.append(segment("AK3", error.segment_id, str(error.position), error.loop_id, error.code))
                for element_error in error.element_errors:
                    position: Element = str(element_error.position)
                    if fifty and element_error.component:
                        position = (str(element_error.position), str(element_error.component))
                    reference = str(element_error.reference) if element_error.reference else ""
                    bad = _copy_of_bad_value(element_error.bad_value)
                    found.append(segment("AK4", position, reference, element_error.code, bad))
            found.append(segment("AK5", answer.status, *answer.error_codes[:5]))
        found.append(
            segment(
                "AK9",
                self.status,
                str(self.sets_included),
                str(self.sets_received),
                str(self.sets_accepted),
                *self.error_codes[:5],
            )
        )
        return found

    @classmethod
    def from_segments(cls, body: Sequence[Segment], version: str = VERSION_4010) -> FunctionalAcknowledgement:
        cursor = _Cursor(body)
        ak1 = cursor.take("AK1")
        sets = []
        while cursor.peek() == "AK2":
            ak2 = cursor.take("AK2")
            segment_errors = []
            while cursor.peek() == "AK3":
                ak3 = cursor.take("AK3")
                element_errors = []
                for ak4 in cursor.take_all("AK4"):
                    position = ak4.components(1)
                    element_errors.append(
                        ElementError(
                            position=read_int(ak4, 1),
                            code=ak4.get(3),
                            reference=int(ak4.get(2)) if ak4.get(2).isdigit() else None,
                            component=int(position[1]) if len(position) > 1 and position[1].isdigit() else None,
                            bad_value=ak4.get(4),
                        )
                    )
                segment_errors.append(
                    SegmentError(ak3.get(1), read_int(ak3, 2), ak3.get(4), ak3.get(3), tuple(element_errors))
                )
            ak5 = cursor.take("AK5")
            codes = tuple(ak5.get(n) for n in range(2, 7) if ak5.get(n))
            sets.append(SetAcknowledgement(ak2.get(1), ak2.get(2), ak5.get(1), codes, tuple(segment_errors)))
        ak9 = cursor.take("AK9")
        return cls(
            functional_id=ak1.get(1),
            group_control_number=read_int(ak1, 2),
            status=ak9.get(1),
            sets=tuple(sets),
            sets_included=read_int(ak9, 2),
            sets_received=read_int(ak9, 3),
            sets_accepted=read_int(ak9, 4),
            error_codes=tuple(ak9.get(n) for n in range(5, 10) if ak9.get(n)),
            group_version=ak1.get(3),
        )


Document: TypeAlias = ShippingOrder | ShippingAdvice | InventoryAdvice | StockReceipt | FunctionalAcknowledgement
DOCUMENT_TYPES: dict[str, type[Document]] = {
    kind.SET_ID: kind
    for kind in (ShippingOrder, ShippingAdvice, InventoryAdvice, StockReceipt, FunctionalAcknowledgement)
}
FUNCTIONAL_IDS = {kind.FUNCTIONAL_ID: kind.SET_ID for kind in DOCUMENT_TYPES.values()}
