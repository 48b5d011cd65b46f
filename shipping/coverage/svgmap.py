"""The coverage map: an SVG drawn on the server from latitudes and longitudes, nothing fetched.

The projection is Albers equal-area conic for the lower 48 (standard
parallels 29.5° and 45.5° N, centred on 37.5° N 96° W), as the US national
atlas draws it. No state outline ships offline with the packages the OMS
uses, so the country is sketched by every 3-digit ZIP area's centroid as a
faint dot; demand areas are dots sized by their weight and coloured by
their days, and warehouses are marked squares (candidates diamonds).
Places outside the lower 48 are left off the map (and counted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from html import escape

from .geography import zip3_areas

WIDTH, HEIGHT, MARGIN = 960, 600, 24
_PHI1, _PHI2, _PHI0, _LAMBDA0 = map(math.radians, (29.5, 45.5, 37.5, -96.0))
_N = (math.sin(_PHI1) + math.sin(_PHI2)) / 2
_C = math.cos(_PHI1) ** 2 + 2 * _N * math.sin(_PHI1)
_RHO0 = math.sqrt(_C - 2 * _N * math.sin(_PHI0)) / _N

# Colours by days, as the legend says; sequential from fast (dark green) to slow (red), grey: not served.
DAY_COLOURS: tuple[tuple[str, str, str], ...] = (
    ("days-1", "1 day", "#1a7f37"),
    ("days-2", "2 days", "#7ac143"),
    ("days-3", "3 days", "#f2b705"),
    ("days-4", "4 days or more", "#d1242f"),
    ("days-none", "not served", "#8c959f"),
)


def albers(latitude: float, longitude: float) -> tuple[float, float]:
    """Albers equal-area conic coordinates (unit sphere) of a point; y grows northwards."""
    rho = math.sqrt(_C - 2 * _N * math.sin(math.radians(latitude))) / _N
    theta = _N * (math.radians(longitude) - _LAMBDA0)
    return rho * math.sin(theta), _RHO0 - rho * math.cos(theta)


@dataclass(frozen=True)
class _Frame:
    min_x: float
    max_y: float
    scale: float
    height: float  # of the drawing, margins included

    def place(self, latitude: float, longitude: float) -> tuple[float, float]:
        x, y = albers(latitude, longitude)
        return MARGIN + (x - self.min_x) * self.scale, MARGIN + (self.max_y - y) * self.scale


# The lower 48's extent: the frame fits this latitude and longitude box (its edges curve under the projection,
# so they are sampled). A few ZIP areas' centroids in the data fall outside; they are left off, not squeezed in.
SOUTH, NORTH, WEST, EAST = 24.4, 49.4, -124.8, -66.9


@lru_cache(maxsize=1)
def _frame_and_backdrop() -> tuple[_Frame, tuple[tuple[float, float], ...]]:
    edge = [(lat, lon) for lat in (SOUTH, NORTH) for lon in range(int(WEST), int(EAST) + 1)]
    edge += [(lat, lon) for lon in (WEST, EAST) for lat in range(int(SOUTH), int(NORTH) + 1)]
    points = [albers(lat, lon) for lat, lon in edge]
    min_x, max_x = min(p[0] for p in points), max(p[0] for p in points)
    min_y, max_y = min(p[1] for p in points), max(p[1] for p in points)
    scale = min((WIDTH - 2 * MARGIN) / (max_x - min_x), (HEIGHT - 2 * MARGIN) / (max_y - min_y))
    frame = _Frame(min_x, max_y, scale, round((max_y - min_y) * scale + 2 * MARGIN))
    backdrop = tuple(
        frame.place(a.latitude, a.longitude)
        for a in zip3_areas().values()
        if a.lower_48 and SOUTH <= a.latitude <= NORTH and WEST <= a.longitude <= EAST
    )
    return frame, backdrop


def _inside(latitude: float, longitude: float) -> bool:
    return SOUTH <= latitude <= NORTH and WEST <= longitude <= EAST


def day_class(days: float | None) -> str:
    if days is None:
        return "days-none"
    rounded = math.ceil(days - 1e-9)
    return f"days-{min(max(rounded, 1), 4)}"


@dataclass(frozen=True)
class MapPoint:
    key: str
    latitude: float
    longitude: float
    weight: float
    days: float | None


@dataclass(frozen=True)
class MapSite:
    code: str
    name: str
    latitude: float
    longitude: float
    candidate: bool = False


def render_map(points: list[MapPoint], sites: list[MapSite], *, title: str, element_id: str) -> tuple[str, int]:
    """The SVG (a string safe to put in a page as it is) and how many points fell outside the lower 48."""
    frame, backdrop = _frame_and_backdrop()
    colours = {name: colour for name, _, colour in DAY_COLOURS}
    heaviest = max((point.weight for point in points), default=1.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="oms-coverage-map" id="{escape(element_id)}" '
        f'viewBox="0 0 {WIDTH} {frame.height + 40}" role="img" aria-labelledby="{escape(element_id)}-title">',
        f'<title id="{escape(element_id)}-title">{escape(title)}</title>',
        '<g class="backdrop" fill="#d8dee4">',
        *(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2"/>' for x, y in backdrop),
        "</g>",
        '<g class="demand" fill-opacity="0.8" stroke="#ffffff" stroke-width="0.4">',
    ]
    outside = 0
    # The heaviest first, so the small dots stay visible on top of them.
    for point in sorted(points, key=lambda p: (-p.weight, p.key)):
        if not _inside(point.latitude, point.longitude):
            outside += 1
            continue
        x, y = frame.place(point.latitude, point.longitude)
        radius = 1.6 + 9 * math.sqrt(point.weight / heaviest)
        kind = day_class(point.days)
        said = "not served" if point.days is None else f"{point.days:g} business days"
        parts.append(
            f'<circle class="demand-dot {kind}" cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}" fill="{colours[kind]}" '
            f'data-area="{escape(point.key)}" data-days="{"" if point.days is None else point.days}">'
            f"<title>ZIP {escape(point.key)}: weight {point.weight:,.0f}, {said}</title></circle>"
        )
    parts.append("</g>")
    parts.append('<g class="warehouses">')
    for site in sites:
        if not _inside(site.latitude, site.longitude):
            continue
        x, y = frame.place(site.latitude, site.longitude)
        marker = (
            f'<path d="M{x:.1f} {y - 9:.1f} L{x + 9:.1f} {y:.1f} L{x:.1f} {y + 9:.1f} L{x - 9:.1f} {y:.1f} Z" '
            'fill="#8250df" stroke="#ffffff" stroke-width="1.5"/>'
            if site.candidate
            else f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" fill="#0b3d91" '
            'stroke="#ffffff" stroke-width="1.5"/>'
        )
        parts.append(
            f'<g class="warehouse-marker{" candidate" if site.candidate else ""}" data-code="{escape(site.code)}">'
            f"<title>{escape(site.code)} · {escape(site.name)}</title>{marker}"
            f'<text x="{x + 11:.1f}" y="{y - 8:.1f}" font-size="13" font-weight="bold" fill="#1f2328" '
            f'stroke="#ffffff" stroke-width="3" paint-order="stroke">{escape(site.code)}</text></g>'
        )
    parts.append("</g>")
    parts.append(f'<g class="legend" font-size="13" fill="#1f2328" transform="translate({MARGIN} {frame.height + 8})">')
    offset = 0
    for name, label, colour in DAY_COLOURS:
        parts.append(f'<circle class="legend-{name}" cx="{offset + 6}" cy="6" r="6" fill="{colour}"/>')
        parts.append(f'<text x="{offset + 16}" y="11">{escape(label)}</text>')
        offset += 30 + 8 * len(label)
    parts.append(f'<rect x="{offset}" y="0" width="12" height="12" fill="#0b3d91"/>')
    parts.append(f'<text x="{offset + 17}" y="11">warehouse</text>')
    offset += 100
    parts.append(f'<path d="M{offset + 6} 0 L{offset + 12} 6 L{offset + 6} 12 L{offset} 6 Z" fill="#8250df"/>')
    parts.append(f'<text x="{offset + 17}" y="11">candidate</text>')
    parts.append("</g></svg>")
    return "".join(parts), outside
