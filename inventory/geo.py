"""Postal codes to coordinates, offline, and great-circle distances.

Coordinates come from the `zipcodes` package, which ships every US ZIP code
with its latitude and longitude inside the wheel: nothing is downloaded.
"""

from __future__ import annotations

import gc
import math
from functools import lru_cache

EARTH_RADIUS_KM = 6371.0088


class UnknownPostalCode(ValueError):
    """The postal code is not in the offline data set."""


@lru_cache(maxsize=1)
def _us_index() -> dict[str, tuple[float, float]]:
    import zipcodes

    index = {
        row["zip_code"]: (float(row["lat"]), float(row["long"]))
        for row in zipcodes.list_all()
        if row.get("lat") and row.get("long")
    }
    # The index lives as long as the process and never changes: move it (and
    # the rest of what is loaded by now) out of the cyclic GC's way, which
    # otherwise rescans its 42,000 entries on every full collection.
    gc.collect()
    gc.freeze()
    return index


def normalize_postal_code(postal_code: str, country: str = "US") -> str:
    code = (postal_code or "").strip().upper()
    if country.upper() == "US":
        code = code.split("-")[0].replace(" ", "")
        if code.isdigit() and len(code) < 5:
            code = code.zfill(5)
    return code


def coordinates(postal_code: str, country: str = "US") -> tuple[float, float]:
    """Latitude and longitude of a postal code; raises UnknownPostalCode."""
    country = (country or "US").upper()
    if country != "US":
        raise UnknownPostalCode(f"Postal codes are known for the US only, not for {country}.")
    code = normalize_postal_code(postal_code, country)
    try:
        return _us_index()[code]
    except KeyError:
        raise UnknownPostalCode(f"Unknown US postal code {postal_code!r}.") from None


def coordinates_or_none(postal_code: str, country: str = "US") -> tuple[float, float] | None:
    try:
        return coordinates(postal_code, country)
    except UnknownPostalCode:
        return None


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))
