"""Zones, business days, prices and delivery estimates: pure functions, no database.

Zones work as ground carriers' zone charts do: the distance from the
shipping warehouse to the destination picks a band (``ZONE_BANDS``, in
miles, as US carriers publish them), zone 2 the nearest and 8 the farthest.

A delivery estimate counts business days (Monday to Friday, minus
``SHIPPING_HOLIDAYS``), on the shipping warehouse's wall clock: callers pass
``now`` as ``Warehouse.local_now`` gives it, so a 15:00 cut-off in Reno is
15:00 in Reno, daylight saving included:
1. work starts today if today is a business day and it is before the
   warehouse's daily cut-off, otherwise the next business day;
2. the parcel is ready for pickup ``processing_days`` business days later
   (0: the same day);
   when that is today and the service's pickup cut-off has passed, the next
   business day;
3. it arrives ``transit days for the zone`` business days after pickup.
The chosen service is the cheapest whose estimate meets the promised date,
or the fastest when none does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

KM_PER_MILE = 1.609344
# (up to this many miles, zone); beyond the last band: zone 8.
ZONE_BANDS: tuple[tuple[float, int], ...] = ((150, 2), (300, 3), (600, 4), (1000, 5), (1400, 6), (1800, 7))
FARTHEST_ZONE = 8
ZONES_ALL = tuple(range(2, FARTHEST_ZONE + 1))
CENT = Decimal("0.01")


def zone_for_distance(distance_km: float) -> int:
    """The carrier zone for a warehouse-to-destination distance."""
    miles = distance_km / KM_PER_MILE
    for limit, zone in ZONE_BANDS:
        if miles <= limit:
            return zone
    return FARTHEST_ZONE


def is_business_day(day: dt.date, holidays: frozenset[dt.date] = frozenset()) -> bool:
    return day.weekday() < 5 and day not in holidays


def next_business_day(day: dt.date, holidays: frozenset[dt.date] = frozenset()) -> dt.date:
    day += dt.timedelta(days=1)
    while not is_business_day(day, holidays):
        day += dt.timedelta(days=1)
    return day


def add_business_days(day: dt.date, count: int, holidays: frozenset[dt.date] = frozenset()) -> dt.date:
    """``count`` business days after ``day`` (``day`` itself when count is 0)."""
    for _ in range(count):
        day = next_business_day(day, holidays)
    return day


def business_days_between(start: dt.date, end: dt.date, holidays: frozenset[dt.date] = frozenset()) -> int:
    """Business days after ``start`` up to and including ``end`` (0 when ``end`` is not after ``start``)."""
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        if is_business_day(day, holidays):
            count += 1
    return count


def pickup_date(
    now: dt.datetime,
    *,
    warehouse_cutoff: dt.time,
    processing_days: int,
    service_cutoff: dt.time,
    holidays: frozenset[dt.date] = frozenset(),
) -> dt.date:
    """The day the carrier collects a parcel whose work starts at ``now`` (the warehouse's local time)."""
    today = now.date()
    if is_business_day(today, holidays) and now.time() < warehouse_cutoff:
        start = today
    else:
        start = next_business_day(today, holidays)
    ready = add_business_days(start, processing_days, holidays)
    if ready == today and now.time() >= service_cutoff:
        ready = next_business_day(today, holidays)
    return ready


def order_by(
    now: dt.datetime,
    *,
    warehouse_cutoff: dt.time,
    processing_days: int,
    service_cutoff: dt.time,
    holidays: frozenset[dt.date] = frozenset(),
) -> dt.datetime:
    """The cut-off: the first instant after ``now`` (aware, local) at which ``pickup_date`` gives another day.

    An order placed before it ships (and so arrives) as one placed ``now``
    does. Only the warehouse's and the service's cut-offs move the pickup day,
    so the answer is the first of those instants, day by day, at which
    ``pickup_date`` itself answers differently: no second rule.
    """
    promised = pickup_date(
        now,
        warehouse_cutoff=warehouse_cutoff,
        processing_days=processing_days,
        service_cutoff=service_cutoff,
        holidays=holidays,
    )
    day = now.date()
    # A pickup day is at most processing_days business days plus a run of holidays ahead; a year bounds the walk.
    for _ in range(366):
        for cutoff in sorted({warehouse_cutoff, service_cutoff}):
            instant = dt.datetime.combine(day, cutoff, tzinfo=now.tzinfo)
            if instant <= now:
                continue
            moved = pickup_date(
                instant,
                warehouse_cutoff=warehouse_cutoff,
                processing_days=processing_days,
                service_cutoff=service_cutoff,
                holidays=holidays,
            )
            if moved != promised:
                return instant
        day += dt.timedelta(days=1)
    raise ValueError(f"No cut-off within a year of {now:%Y-%m-%d}: every day a holiday?")


@dataclass(frozen=True)
class ServiceTerms:
    """A carrier service's rate card and transit times, as loaded once for many quotes."""

    service_id: int
    vendor_id: int
    vendor_code: str
    vendor_name: str
    code: str
    name: str
    max_weight_kg: Decimal
    pickup_cutoff: dt.time
    fuel_surcharge_percent: Decimal
    transit_days: dict[int, int]  # zone -> business days
    rates: dict[int, list[tuple[Decimal, Decimal]]] = field(default_factory=dict)  # zone -> [(max kg, price)] sorted

    def parcel_price(self, zone: int, weight_kg: Decimal) -> Decimal | None:
        """The base price of one parcel, or None when the card has no cell for it."""
        if weight_kg > self.max_weight_kg:
            return None
        for max_weight, price in self.rates.get(zone, ()):
            if weight_kg <= max_weight:
                return price
        return None


@dataclass(frozen=True)
class Option:
    """One service's offer for a shipment: what it costs and when it arrives."""

    service_id: int
    vendor_code: str
    vendor_name: str
    service_code: str
    service_name: str
    zone: int
    price: Decimal
    ship_date: dt.date
    eta: dt.date
    transit_days: int

    @property
    def label(self) -> str:
        return f"{self.vendor_name} {self.service_name}"

    def as_dict(self) -> dict:
        return {
            "service_id": self.service_id,
            "vendor": self.vendor_name,
            "service": self.service_name,
            "code": self.service_code,
            "zone": self.zone,
            "price": str(self.price),
            "ship_date": self.ship_date.isoformat(),
            "eta": self.eta.isoformat(),
            "transit_days": self.transit_days,
        }


@dataclass(frozen=True)
class Refusal:
    """Why a service cannot take a shipment."""

    service_id: int
    label: str
    reason: str


def quote(
    services: Iterable[ServiceTerms],
    *,
    zone: int,
    parcel_weights: list[Decimal],
    now: dt.datetime,
    warehouse_cutoff: dt.time,
    processing_days: int,
    holidays: frozenset[dt.date] = frozenset(),
) -> tuple[list[Option], list[Refusal]]:
    """Price and date every service for these parcels; services that cannot carry them are refused."""
    options: list[Option] = []
    refusals: list[Refusal] = []
    for terms in services:
        label = f"{terms.vendor_name} {terms.name}"
        transit = terms.transit_days.get(zone)
        if transit is None:
            refusals.append(Refusal(terms.service_id, label, f"does not serve zone {zone}"))
            continue
        prices = [terms.parcel_price(zone, weight) for weight in parcel_weights]
        if any(price is None for price in prices):
            heaviest = max(parcel_weights)
            refusals.append(Refusal(terms.service_id, label, f"no rate for a {heaviest} kg parcel to zone {zone}"))
            continue
        base = sum(prices, Decimal("0"))
        total = (base * (1 + terms.fuel_surcharge_percent / 100)).quantize(CENT, rounding=ROUND_HALF_UP)
        ship_on = pickup_date(
            now,
            warehouse_cutoff=warehouse_cutoff,
            processing_days=processing_days,
            service_cutoff=terms.pickup_cutoff,
            holidays=holidays,
        )
        options.append(
            Option(
                service_id=terms.service_id,
                vendor_code=terms.vendor_code,
                vendor_name=terms.vendor_name,
                service_code=terms.code,
                service_name=terms.name,
                zone=zone,
                price=total,
                ship_date=ship_on,
                eta=add_business_days(ship_on, transit, holidays),
                transit_days=transit,
            )
        )
    options.sort(key=lambda o: (o.price, o.eta, o.vendor_code, o.service_code))
    return options, refusals


def fastest(options: list[Option]) -> Option | None:
    return min(options, key=lambda o: (o.eta, o.price, o.vendor_code, o.service_code), default=None)


def cheapest(options: list[Option]) -> Option | None:
    return min(options, key=lambda o: (o.price, o.eta, o.vendor_code, o.service_code), default=None)


def choose(options: list[Option], promised_date: dt.date | None) -> tuple[Option | None, str]:
    """The cheapest option that meets the promised date, else the fastest; with the reason in words."""
    if not options:
        return None, "no active service can carry this shipment"
    if promised_date is None:
        best = cheapest(options)
        return best, f"no promised date: cheapest of {len(options)} services, {_describe(best)}"
    meeting = [option for option in options if option.eta <= promised_date]
    if meeting:
        best = cheapest(meeting)
        return best, (
            f"cheapest of {len(meeting)} of {len(options)} services arriving by the promised "
            f"{promised_date:%a %d %b}: {_describe(best)}"
        )
    best = fastest(options)
    return best, (
        f"no service arrives by the promised {promised_date:%a %d %b}; fastest of {len(options)}: {_describe(best)}"
    )


@dataclass(frozen=True)
class Preference:
    """A customer's preferred carrier: a service, else a vendor (by code); ``rule`` names the customer's rule."""

    rule: str
    label: str  # what is preferred, as the reason names it ("Rapid Air Two day", "Rapid Air")
    service_id: int | None = None
    vendor_code: str = ""


def choose_preferred(
    options: list[Option], promised_date: dt.date | None, preference: Preference
) -> tuple[Option, str] | None:
    """The customer's preferred service when it arrives by the date, else the cheapest of its preferred vendor's
    that does; with the reason in words. None when none of them can (carrier choice then goes as usual)."""

    def arrives(option: Option) -> bool:
        return promised_date is None or option.eta <= promised_date

    by = f", arriving by {promised_date:%a %d %b}" if promised_date else ""
    if preference.service_id is not None:
        for option in options:
            if option.service_id == preference.service_id and arrives(option):
                return option, f"preferred service of {preference.rule}{by}: {_describe(option)}"
    if preference.vendor_code:
        own = [o for o in options if o.vendor_code == preference.vendor_code and arrives(o)]
        if own:
            best = cheapest(own)
            return best, (
                f"preferred vendor of {preference.rule}: cheapest of its {len(own)} service"
                f"{'s' if len(own) != 1 else ''}{by}: {_describe(best)}"
            )
    return None


def _describe(option: Option) -> str:
    return f"{option.label} at {option.price} (zone {option.zone}, arrives {option.eta:%a %d %b})"
