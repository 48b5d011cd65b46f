"""Network coverage: how fast and for how much a network of warehouses reaches its demand by ground.

Pure functions over plain inputs (sites, demand areas, ground services, order
instants); no database. The order workflow gathers them
(``orders.coverage``) and the console shows the figures.

How a delivery is counted, for one demand area, one order instant and one
site (a warehouse, or a candidate):
1. the order instant is read on the site's own clock (its time zone), and
   ``shipping.rating.pickup_date`` gives the day the carrier collects it, from
   the site's cut-off and processing days and the service's pickup cut-off —
   the same rule the promise and carrier choice use;
2. the parcel arrives the service's transit days for the zone (the distance
   band from the site to the area's centroid, ``rating.zone_for_distance``)
   business days after pickup;
3. its **days** are the business days from the day after the order to the
   delivery day (Monday to Friday, minus the holidays): an order placed on a
   Tuesday and delivered on Thursday took 2.
Each site offers its fastest ground service for the zone (the cheapest among
equally fast ones); the area is served by the eligible site whose offer
arrives first, then costs least, then is nearest. Its **landed cost** is the
label price of a reference parcel (with the fuel surcharge) plus the site's
handling cost per order. Figures are weighted by the areas' demand and
averaged over the order instants (each with its weight).
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from .. import rating

EARTH_RADIUS_KM = 6371.0088
THRESHOLDS = (1, 2, 3)
CENT = Decimal("0.01")


class CoverageError(ValueError):
    """The network cannot be evaluated as given; ``field`` names what is at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Site:
    """A warehouse as the model sees it (or a candidate one)."""

    code: str
    name: str
    latitude: float
    longitude: float
    time_zone: str
    cutoff: dt.time
    processing_days: int
    handling_cost: Decimal = Decimal("0")
    candidate: bool = False


@dataclass(frozen=True)
class DemandArea:
    """Demand gathered at one place: a 3-digit ZIP area, or the part of its orders only some sites can fill.

    ``eligible``: the codes of the sites that hold the stock this demand needs; None when any site can serve it.
    Candidate sites are taken to hold everything.
    """

    key: str
    latitude: float
    longitude: float
    weight: float
    eligible: frozenset[str] | None = None


@dataclass(frozen=True)
class Instant:
    """An order instant and its share of the orders (e.g. one hour of a week)."""

    at: dt.datetime
    weight: float = 1.0


@dataclass
class SiteFigures:
    code: str
    name: str
    candidate: bool
    share: float  # of all demand
    mean_days: float | None

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "candidate": self.candidate,
            "share": self.share,
            "mean_days": self.mean_days,
        }


@dataclass
class Figures:
    """One network's coverage of the demand."""

    within: dict[int, float]  # days -> share of all demand delivered within that many business days
    mean_days: float | None
    mean_cost: Decimal | None
    unserved: float  # share of demand no site can serve (no stock, no ground service to it)
    total_weight: float
    sites: list[SiteFigures] = field(default_factory=list)
    area_days: dict[str, float | None] = field(default_factory=dict)  # mean days per demand area, None: unserved

    def as_dict(self) -> dict:
        return {
            "within": {str(days): share for days, share in self.within.items()},
            "mean_days": self.mean_days,
            "mean_cost": str(self.mean_cost) if self.mean_cost is not None else None,
            "unserved": self.unserved,
            "total_weight": self.total_weight,
            "sites": [site.as_dict() for site in self.sites],
            "area_days": self.area_days,
        }


@dataclass(frozen=True)
class Network:
    """Everything one evaluation needs: the sites, the ground services and the assumptions."""

    sites: tuple[Site, ...]
    services: tuple[rating.ServiceTerms, ...]
    instants: tuple[Instant, ...]
    parcel_kg: Decimal = Decimal("1")
    holidays: frozenset[dt.date] = frozenset()

    def changed(self, **changes) -> Network:
        return replace(self, **changes)


# --- geometry ---------------------------------------------------------------------------------------------
def _unit(latitude: float, longitude: float) -> tuple[float, float, float]:
    lat, lon = math.radians(latitude), math.radians(longitude)
    return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))


# A zone's upper distance as the least dot product of two unit vectors that far apart: comparing dot products
# is the same as comparing great-circle distances, without a trigonometric call per pair.
_ZONE_DOTS: tuple[tuple[float, int], ...] = tuple(
    (math.cos(miles * rating.KM_PER_MILE / EARTH_RADIUS_KM), zone) for miles, zone in rating.ZONE_BANDS
)


def _zone(a: tuple[float, float, float], b: tuple[float, float, float]) -> int:
    dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    for least, zone in _ZONE_DOTS:
        if dot >= least:
            return zone
    return rating.FARTHEST_ZONE


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    ua, ub = _unit(*a), _unit(*b)
    dot = max(-1.0, min(1.0, ua[0] * ub[0] + ua[1] * ub[1] + ua[2] * ub[2]))
    return EARTH_RADIUS_KM * math.acos(dot)


# --- what one site offers ---------------------------------------------------------------------------------
Offer = tuple[int, Decimal]  # (business days, landed cost)


def business_days_after(start: dt.date, end: dt.date, holidays: frozenset[dt.date]) -> int:
    """Business days d with start < d <= end."""
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        if rating.is_business_day(day, holidays):
            count += 1
    return count


def site_offers(site: Site, network: Network, at: dt.datetime) -> dict[int, Offer]:
    """What the site offers an order placed at ``at``, per zone: its fastest ground service, cheapest on a tie."""
    local = at.astimezone(zoneinfo.ZoneInfo(site.time_zone))
    offers: dict[int, Offer] = {}
    for terms in network.services:
        pickup = rating.pickup_date(
            local,
            warehouse_cutoff=site.cutoff,
            processing_days=site.processing_days,
            service_cutoff=terms.pickup_cutoff,
            holidays=network.holidays,
        )
        lead = business_days_after(local.date(), pickup, network.holidays)
        for zone, transit in terms.transit_days.items():
            price = terms.parcel_price(zone, network.parcel_kg)
            if price is None:
                continue
            label = (price * (1 + terms.fuel_surcharge_percent / 100)).quantize(CENT, rounding=ROUND_HALF_UP)
            offer = (lead + transit, label + site.handling_cost)
            if zone not in offers or offer < offers[zone]:
                offers[zone] = offer
    return offers


def _situations(sites: Iterable[Site], network: Network) -> list[tuple[float, dict[str, dict[int, Offer]]]]:
    """The order instants folded together where every site offers the same: (weight, offers by site code)."""
    sites = list(sites)
    folded: dict[tuple, list] = {}
    for instant in network.instants:
        offers = {site.code: site_offers(site, network, instant.at) for site in sites}
        key = tuple(tuple(sorted(offers[site.code].items())) for site in sites)
        if key in folded:
            folded[key][0] += instant.weight
        else:
            folded[key] = [instant.weight, offers]
    return [(weight, offers) for weight, offers in folded.values()]


# --- evaluating a network ---------------------------------------------------------------------------------
def evaluate(network: Network, areas: list[DemandArea]) -> Figures:
    """The network's figures for this demand. Raises CoverageError when there is nothing to evaluate."""
    if not network.instants:
        raise CoverageError("timing", "Give at least one order instant.")
    total_weight = sum(area.weight for area in areas)
    if total_weight <= 0:
        raise CoverageError("demand", "The demand is empty: no orders, rows or places with a weight above zero.")
    sites = list(network.sites)
    instant_weight = sum(instant.weight for instant in network.instants)
    situations = _situations(sites, network)
    units = [_unit(site.latitude, site.longitude) for site in sites]
    within = dict.fromkeys(THRESHOLDS, 0.0)
    served_weight = days_sum = 0.0
    cost_sum = Decimal("0")
    by_site: dict[str, list[float]] = {site.code: [0.0, 0.0] for site in sites}  # weight served, weighted days
    area_days: dict[str, float | None] = {}
    for area in areas:
        here = _unit(area.latitude, area.longitude)
        candidates = [
            (index, _zone(units[index], here), _dot(units[index], here))
            for index, site in enumerate(sites)
            if area.eligible is None or site.candidate or site.code in area.eligible
        ]
        area_weight_days = area_weight_served = 0.0
        for weight, offers in situations:
            best = None
            for index, zone, closeness in candidates:
                offer = offers[sites[index].code].get(zone)
                if offer is None:
                    continue
                key = (offer[0], offer[1], -closeness)
                if best is None or key < best[0]:
                    best = (key, index)
            if best is None:
                continue
            share = area.weight * weight / instant_weight
            days, cost = best[0][0], best[0][1]
            for threshold in THRESHOLDS:
                if days <= threshold:
                    within[threshold] += share
            served_weight += share
            days_sum += share * days
            cost_sum += Decimal(repr(share)) * cost
            row = by_site[sites[best[1]].code]
            row[0] += share
            row[1] += share * days
            area_weight_days += weight * days
            area_weight_served += weight
        area_days[area.key] = round(area_weight_days / area_weight_served, 2) if area_weight_served else None
    return Figures(
        within={threshold: share / total_weight for threshold, share in within.items()},
        mean_days=days_sum / served_weight if served_weight else None,
        mean_cost=(cost_sum / Decimal(repr(served_weight))).quantize(CENT) if served_weight else None,
        unserved=max(0.0, 1 - served_weight / total_weight),
        total_weight=total_weight,
        sites=[
            SiteFigures(
                code=site.code,
                name=site.name,
                candidate=site.candidate,
                share=by_site[site.code][0] / total_weight,
                mean_days=by_site[site.code][1] / by_site[site.code][0] if by_site[site.code][0] else None,
            )
            for site in sites
        ],
        area_days=area_days,
    )


def _dot(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


# --- where one more site would do most ------------------------------------------------------------------
@dataclass(frozen=True)
class CandidatePlace:
    """A place a site could go: a 3-digit ZIP area's centroid, named by one of its ZIP codes."""

    key: str
    postal_code: str
    latitude: float
    longitude: float
    time_zone: str


@dataclass
class Suggestion:
    place: CandidatePlace
    site: Site
    figures: Figures
    ranked: list[tuple[str, float]]  # the best places by their share within the target: (key, share)


def suggest_site(
    network: Network,
    areas: list[DemandArea],
    places: list[CandidatePlace],
    *,
    cutoff: dt.time,
    processing_days: int,
    handling_cost: Decimal = Decimal("0"),
    target_days: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Suggestion:
    """The place where one more site (holding every SKU) lifts the share within ``target_days`` most.

    Ties go to the lower mean days, then to more demand served, then to the place's key. Every place is
    scored exactly: an area's gain from a site in one place depends only on the zone between them and the
    place's time zone, so the gains are tabled once per time zone and zone, and each place sums its areas'.
    ``progress(done, total)`` is called as the places are scored. Raises CoverageError without places.
    """
    if not places:
        raise CoverageError("places", "There is no place to try.")
    total_weight = sum(area.weight for area in areas)
    if total_weight <= 0:
        raise CoverageError("demand", "The demand is empty: no orders, rows or places with a weight above zero.")
    instant_weight = sum(instant.weight for instant in network.instants)
    sites = list(network.sites)
    zones_of_time = sorted({place.time_zone for place in places})
    probes = [
        Site(
            code=f"?{time_zone}",
            name="",
            latitude=0.0,
            longitude=0.0,
            time_zone=time_zone,
            cutoff=cutoff,
            processing_days=processing_days,
            handling_cost=handling_cost,
            candidate=True,
        )
        for time_zone in zones_of_time
    ]
    situations = _situations([*sites, *probes], network)
    units = [_unit(site.latitude, site.longitude) for site in sites]
    area_units = [_unit(area.latitude, area.longitude) for area in areas]
    zones = rating.ZONES_ALL
    # gains[time zone][area index][zone] = (weight newly within the target, weight newly served, days saved)
    gains: dict[str, list[dict[int, tuple[float, float, float]]]] = {tz: [] for tz in zones_of_time}
    base_within = base_served = base_days = 0.0
    for area, here in zip(areas, area_units, strict=True):
        reachable = [
            (sites[index].code, _zone(units[index], here))
            for index, site in enumerate(sites)
            if area.eligible is None or site.candidate or site.code in area.eligible
        ]
        per_zone: dict[str, dict[int, list[float]]] = {
            tz: {zone: [0.0, 0.0, 0.0] for zone in zones} for tz in zones_of_time
        }
        for weight, offers in situations:
            share = area.weight * weight / instant_weight
            now_days = min(
                (offers[code][zone][0] for code, zone in reachable if zone in offers[code]),
                default=None,
            )
            if now_days is not None:
                base_served += share
                base_days += share * now_days
                if now_days <= target_days:
                    base_within += share
            for tz in zones_of_time:
                probe = offers[f"?{tz}"]
                for zone in zones:
                    if zone not in probe:
                        continue
                    days = probe[zone][0]
                    cell = per_zone[tz][zone]
                    if now_days is None:
                        cell[1] += share
                        if days <= target_days:
                            cell[0] += share
                    elif days < now_days:
                        cell[2] += share * (now_days - days)
                        if days <= target_days < now_days:
                            cell[0] += share
        for tz in zones_of_time:
            gains[tz].append({zone: tuple(cell) for zone, cell in per_zone[tz].items()})
    scored: list[tuple[tuple, CandidatePlace]] = []
    step = max(1, len(places) // 50)
    for done, place in enumerate(places, start=1):
        there = _unit(place.latitude, place.longitude)
        table = gains[place.time_zone]
        within = served = saved = 0.0
        for index, here in enumerate(area_units):
            cell = table[index][_zone(there, here)]
            within += cell[0]
            served += cell[1]
            saved += cell[2]
        # More within the target first; then more served; then more days saved; then the key, for a stable answer.
        scored.append(((-(base_within + within), -(base_served + served), -saved, place.key), place))
        if progress is not None and (done % step == 0 or done == len(places)):
            progress(done, len(places))
    scored.sort(key=lambda item: item[0])
    best = scored[0][1]
    site = Site(
        code=f"NEW-{best.postal_code}",
        name=f"Suggested site near {best.postal_code}",
        latitude=best.latitude,
        longitude=best.longitude,
        time_zone=best.time_zone,
        cutoff=cutoff,
        processing_days=processing_days,
        handling_cost=handling_cost,
        candidate=True,
    )
    figures = evaluate(network.changed(sites=(*network.sites, site)), areas)
    ranked = [(place.key, -key[0] / total_weight) for key, place in scored[:10]]
    return Suggestion(place=best, site=site, figures=figures, ranked=ranked)
