"""Rate cards from CSV: every row checked first, then the service's whole card replaced at once.

A half-replaced card misprices shipments, so an import is all or nothing
for the card: one bad row and nothing is written. The report names every
bad row (its number in the file, the header being row 1), the field and
what is wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction
from simple_history.utils import bulk_create_with_history

from oms_core.csvfiles import CsvSyntaxError, csv_records

from .. import selectors
from ..exceptions import ShippingError
from ..models import ZONES, CarrierService, Rate, TransitTime

REQUIRED_COLUMNS = ("zone", "max_weight_kg", "price")
OPTIONAL_COLUMNS = ("transit_days",)
MAX_ROWS = 5_000  # 7 zones × hundreds of weight breaks; anything bigger is the wrong file
# The model's columns: DecimalField(max_digits, decimal_places).
WEIGHT_PLACES, WEIGHT_LIMIT = 3, Decimal("10000")  # max_digits=7
PRICE_PLACES, PRICE_LIMIT = 2, Decimal("100000000")  # max_digits=10


@dataclass(frozen=True)
class RowError:
    """One thing wrong with the file: ``row`` is the line of the file (the header is row 1; 0: the whole file)."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        return f"{where}, {self.field}: {self.message}"


class RateCardError(ShippingError):
    """The file was refused; ``errors`` lists every bad row. Nothing was written."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        count = len(errors)
        super().__init__(f"The rate card has {count} error{'s' if count != 1 else ''}; nothing was imported.")


@dataclass(frozen=True)
class RateCell:
    row: int
    zone: int
    max_weight_kg: Decimal
    price: Decimal


@dataclass
class ParsedRateCard:
    cells: list[RateCell] = field(default_factory=list)
    transit_days: dict[int, int] = field(default_factory=dict)  # zone -> business days, from the file


@dataclass(frozen=True)
class RateCardImport:
    """What an import did: the new card's cell count, the zones it prices, the transit times it set."""

    service: CarrierService
    cells: int
    replaced: int
    zones: list[int]
    transit_days: dict[int, int]
    zones_without_transit: list[int]

    @property
    def summary(self) -> str:
        zones = ", ".join(str(zone) for zone in self.zones)
        text = f"{self.cells} rate cell{'s' if self.cells != 1 else ''} for zones {zones} (replacing {self.replaced})"
        if self.transit_days:
            text += "; transit days set for zone" + ("s " if len(self.transit_days) > 1 else " ")
            text += ", ".join(f"{zone}: {days}" for zone, days in sorted(self.transit_days.items()))
        if self.zones_without_transit:
            missing = ", ".join(str(zone) for zone in self.zones_without_transit)
            text += f". Zones {missing} have no transit time, so the service is not offered there until one is set"
        return text + "."


def decode_upload(content: bytes | str) -> str:
    """The file's text; UTF-8 (with or without a byte order mark). Raises RateCardError otherwise."""
    if isinstance(content, str):
        return content.removeprefix("\ufeff")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RateCardError(
            [RowError(0, "file", f"is not UTF-8 text (byte {error.start}); save the sheet as CSV UTF-8.")]
        ) from None


def _decimal(raw: str, *, places: int, limit: Decimal) -> tuple[Decimal | None, str]:
    """A positive decimal with at most ``places`` decimals, below ``limit``; else None and why."""
    text = raw.strip()
    if not text:
        return None, "is empty; give a positive decimal number"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, f"{text!r} is not a decimal number (use a dot for decimals, no currency sign or unit)"
    if not value.is_finite():
        return None, f"{text!r} is not a decimal number"
    if value <= 0:
        return None, f"must be more than 0, not {text}"
    if value >= limit:
        return None, f"{text} is too large (below {limit:,} please)"
    if -value.as_tuple().exponent > places:
        return None, f"{text} has more than {places} decimals"
    return value, ""


def _whole(raw: str) -> int | None:
    text = raw.strip()
    if not text or not text.lstrip("+").isdigit():
        return None
    return int(text)


def parse_rate_card(text: str) -> ParsedRateCard:
    """Check every row of a ``zone,max_weight_kg,price[,transit_days]`` CSV.

    Returns the cells and the transit days per zone, or raises RateCardError
    listing every bad row (all of them, not just the first).
    """
    try:  # the shared reader: a quote that never closes refuses the file, naming its line
        records = list(csv_records(text))
    except CsvSyntaxError as error:
        raise RateCardError([RowError(error.line, "file", str(error))]) from None
    reader = iter(records)
    errors: list[RowError] = []
    _, header = next(reader, (0, None))
    while header is not None and not any(cell.strip() for cell in header):
        _, header = next(reader, (0, None))  # leading blank lines
    if header is None:
        raise RateCardError([RowError(1, "header", "the file is empty; the first row must name the columns")])
    names = [cell.strip().lower() for cell in header]
    for column in REQUIRED_COLUMNS:
        if column not in names:
            errors.append(RowError(1, column, f"missing column (the header must name {', '.join(REQUIRED_COLUMNS)})"))
    known = set(REQUIRED_COLUMNS) | set(OPTIONAL_COLUMNS)
    for name in names:
        if name and name not in known:
            errors.append(
                RowError(1, name, f"unknown column; expected {', '.join((*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS))}")
            )
    duplicated = {name for name in names if name and names.count(name) > 1}
    for name in sorted(duplicated):
        errors.append(RowError(1, name, "the column appears more than once"))
    if errors:
        raise RateCardError(errors)
    index = {name: position for position, name in enumerate(names) if name}

    card = ParsedRateCard()
    seen: dict[tuple[int, Decimal], int] = {}
    transit_rows: dict[int, tuple[int, int]] = {}  # zone -> (days, row)
    rows = 0
    for row_number, cells in reader:  # the file's line (a quoted cell may span lines; the reader counts them)
        if not any(cell.strip() for cell in cells):
            continue
        rows += 1
        if rows > MAX_ROWS:
            errors.append(RowError(row_number, "file", f"more than {MAX_ROWS} rows; split the card or check the file"))
            break
        if len(cells) > len(names):
            errors.append(RowError(row_number, "row", f"has {len(cells)} cells but the header names {len(names)}"))
            continue

        def cell(column: str, cells=cells) -> str:
            position = index.get(column)
            return cells[position] if position is not None and position < len(cells) else ""

        row_errors: list[RowError] = []
        raw_zone = cell("zone")
        zone = _whole(raw_zone)
        if zone is None or zone not in ZONES:
            row_errors.append(
                RowError(row_number, "zone", f"{raw_zone.strip()!r} is not a zone; use a whole number from 2 to 8")
            )
        weight, why = _decimal(cell("max_weight_kg"), places=WEIGHT_PLACES, limit=WEIGHT_LIMIT)
        if weight is None:
            row_errors.append(RowError(row_number, "max_weight_kg", why))
        price, why = _decimal(cell("price"), places=PRICE_PLACES, limit=PRICE_LIMIT)
        if price is None:
            row_errors.append(RowError(row_number, "price", why))
        days = None
        if "transit_days" in index and cell("transit_days").strip():
            raw_days = cell("transit_days")
            days = _whole(raw_days)
            if days is None or not 1 <= days <= 60:
                row_errors.append(
                    RowError(
                        row_number,
                        "transit_days",
                        f"{raw_days.strip()!r} is not a number of business days (a whole number from 1 to 60)",
                    )
                )
                days = None
        if zone is not None and zone in ZONES and weight is not None:
            key = (zone, weight.normalize())
            if key in seen:
                row_errors.append(
                    RowError(
                        row_number, "max_weight_kg", f"zone {zone} up to {weight} kg is already on row {seen[key]}"
                    )
                )
            else:
                seen[key] = row_number
        if zone is not None and zone in ZONES and days is not None:
            earlier = transit_rows.get(zone)
            if earlier and earlier[0] != days:
                row_errors.append(
                    RowError(
                        row_number,
                        "transit_days",
                        f"zone {zone} has {earlier[0]} transit days on row {earlier[1]} and {days} here",
                    )
                )
            elif earlier is None:
                transit_rows[zone] = (days, row_number)
        if row_errors:
            errors.extend(row_errors)
            continue
        card.cells.append(RateCell(row_number, zone, weight, price))
    if not errors and not card.cells:
        errors.append(RowError(2, "row", "the file has a header but no rates"))
    if errors:
        raise RateCardError(errors)
    card.transit_days = {zone: days for zone, (days, _) in transit_rows.items()}
    return card


@transaction.atomic
def import_rate_card(*, service_id: int, content: bytes | str, actor) -> RateCardImport:
    """Replace a carrier service's rate card with the file's, and set the transit days it gives.

    Checks every row first; one bad row and nothing is written (RateCardError
    lists them all). The rate cache is dropped after commit, so the next
    quote prices with the new card.
    """
    card = parse_rate_card(decode_upload(content))
    try:
        service = CarrierService.objects.select_for_update().select_related("vendor").get(pk=service_id)
    except CarrierService.DoesNotExist:
        raise ShippingError(f"No carrier service with id {service_id}.") from None
    replaced, _ = Rate.objects.filter(service=service).delete()
    bulk_create_with_history(  # the card's history: each old rate deleted, each new one created, by the actor
        [
            Rate(service=service, zone=cell.zone, max_weight_kg=cell.max_weight_kg, price=cell.price)
            for cell in sorted(card.cells, key=lambda c: (c.zone, c.max_weight_kg))
        ],
        Rate,
        default_user=actor if getattr(actor, "is_authenticated", False) else None,
        default_change_reason="rate card imported",
    )
    for zone, days in card.transit_days.items():
        TransitTime.objects.update_or_create(service=service, zone=zone, defaults={"business_days": days})
    zones = sorted({cell.zone for cell in card.cells})
    served = set(TransitTime.objects.filter(service=service).values_list("zone", flat=True))
    transaction.on_commit(selectors.clear_rate_cache)
    return RateCardImport(
        service=service,
        cells=len(card.cells),
        replaced=replaced,
        zones=zones,
        transit_days=dict(sorted(card.transit_days.items())),
        zones_without_transit=[zone for zone in zones if zone not in served],
    )
