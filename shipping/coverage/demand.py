"""Demand for the coverage model: by 3-digit ZIP area, from orders, a demand file, or the population.

A demand file is CSV with a header row: ``postal_code`` (a US ZIP code) and
``weight`` (a positive number: orders, units, people; 1 when the column is
left out or the cell empty). Every bad row is named by its line and field,
and a file with any bad row is refused whole.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from oms_core.csvfiles import CsvSyntaxError, csv_records

from .geography import population_demand, zip3_areas, zip3_of
from .model import CandidatePlace, DemandArea

MAX_FILE_ROWS = 200_000


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"


class DemandFileError(ValueError):
    """The demand file is refused; ``errors`` names every bad row (line and field)."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        shown = "; ".join(str(error) for error in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"The demand file has {len(errors)} bad row{'s' if len(errors) != 1 else ''}: {shown}{more}")


def read_demand_file(text: str) -> list[tuple[str, float]]:
    """The file's rows as (5-digit ZIP code, weight). Raises DemandFileError naming every bad row."""
    errors: list[RowError] = []
    rows: list[tuple[str, float]] = []
    header: list[str] | None = None
    try:
        for line, cells in csv_records(text.lstrip("\ufeff")):
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in cells]
                if "postal_code" not in header:
                    errors.append(RowError(line, "postal_code", "the header row has no postal_code column"))
                    break
                continue
            if len(rows) >= MAX_FILE_ROWS:
                errors.append(RowError(line, "file", f"more than {MAX_FILE_ROWS:,} rows; group the demand by ZIP"))
                break
            row = dict(zip(header, (cell.strip() for cell in cells), strict=False))
            code = row.get("postal_code", "")
            if not code:
                errors.append(RowError(line, "postal_code", "is empty"))
                continue
            if zip3_of(code) is None:
                errors.append(RowError(line, "postal_code", f"{code!r} is not a known US ZIP code"))
                continue
            raw = row.get("weight", "")
            if raw == "":
                weight = 1.0
            else:
                try:
                    weight = float(raw)
                except ValueError:
                    errors.append(RowError(line, "weight", f"{raw!r} is not a number"))
                    continue
                if not math.isfinite(weight) or weight <= 0:
                    errors.append(RowError(line, "weight", f"{raw!r} must be a number above zero"))
                    continue
            rows.append((code.split("-")[0].zfill(5), weight))
    except CsvSyntaxError as error:
        errors.append(RowError(error.line, "file", error.message))
    if header is None and not errors:
        errors.append(RowError(1, "file", "the file is empty; give a header row (postal_code,weight) and rows"))
    elif not rows and not errors:
        errors.append(RowError(2, "postal_code", "the file has a header but no rows"))
    if errors:
        raise DemandFileError(errors)
    return rows


def areas_from_postal_codes(
    rows: Iterable[tuple[str, float, frozenset[str] | None]],
) -> tuple[list[DemandArea], float]:
    """Demand grouped by 3-digit ZIP area (and by the sites that can fill it), at the area's centroid.

    Returns the areas and the weight of the rows whose postal code is not a known US ZIP code (left out).
    """
    known = zip3_areas()
    grouped: dict[tuple[str, frozenset[str] | None], float] = defaultdict(float)
    unknown = 0.0
    for postal_code, weight, eligible in rows:
        prefix = zip3_of(postal_code)
        if prefix is None:
            unknown += weight
            continue
        grouped[(prefix, eligible)] += weight
    areas = []
    for (prefix, eligible), weight in sorted(grouped.items(), key=lambda item: (item[0][0], sorted(item[0][1] or ()))):
        area = known[prefix]
        key = prefix if eligible is None else f"{prefix}:{','.join(sorted(eligible))}"
        areas.append(DemandArea(key, area.latitude, area.longitude, weight, eligible))
    return areas, unknown


def population_areas(*, lower_48_only: bool = True) -> list[DemandArea]:
    """The US population (GeoNames places of 500 people or more) by 3-digit ZIP area."""
    known = zip3_areas()
    return [
        DemandArea(prefix, known[prefix].latitude, known[prefix].longitude, people)
        for prefix, people in population_demand()
        if not lower_48_only or known[prefix].lower_48
    ]


def candidate_places(*, lower_48_only: bool = True) -> list[CandidatePlace]:
    """Every 3-digit ZIP area as a place for one more site."""
    return [
        CandidatePlace(
            key=area.prefix,
            postal_code=area.representative_zip,
            latitude=area.latitude,
            longitude=area.longitude,
            time_zone=area.time_zone,
        )
        for area in zip3_areas().values()
        if not lower_48_only or area.lower_48
    ]


def area_key_prefix(key: str) -> str:
    """The 3-digit ZIP of a demand area's key ("070" or "070:EDI,RNO")."""
    return key.split(":", 1)[0]
