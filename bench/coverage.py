"""Network coverage benchmark: the what-if and the suggested site over 30,000 demand rows, the demo network.

The demand: --rows ZIP codes (default 30,000) drawn by population (offline
GeoNames places, by 3-digit ZIP area, then a ZIP code of the area at
random), weight 1 each. The network: the demo's four warehouses (Edison NJ,
Atlanta, Dallas, Reno; each in its own time zone, cut-off 15:00, same-day
processing) and the demo carriers' three ground services with their rate
cards. Orders placed every hour of a week (168 instants), the heavier
timing the page offers.

Measured, each --repeat times (the median kept):
1. baseline: the network as it is, evaluated over the demand already
   grouped by area;
2. the what-if: grouping the rows by area, then the network with one more
   site (Kansas City, 64101) — what the page does for a demand file;
3. the suggestion: every 3-digit ZIP area of the lower 48 tried as the
   place of one more site.

Target (exit code 1 when it fails, unless --no-fail): the what-if answers
within --target-seconds (5). The ratio to the baseline is reported beside it,
to compare hosts. No database is used: the model is pure and the demo
network is built in memory, so this runs on any machine.

    python bench/coverage.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
import zoneinfo
from decimal import Decimal

from _common import PROJECT_ROOT, WAREHOUSES, Ratio, describe_host, git_revision, host, print_ratios, setup_django

TIME_ZONES = {
    "EWR": "America/New_York",
    "ATL": "America/New_York",
    "DAL": "America/Chicago",
    "RNO": "America/Los_Angeles",
}


def demo_ground_services():
    """The demo carriers' ground services as the model takes them (shipping.demo_data, in memory)."""
    from shipping.demo_data import VENDORS, WEIGHT_BREAKS_KG
    from shipping.rating import ZONES_ALL, ServiceTerms

    services = []
    for vendor_id, (code, name, _prefix, _digits, _url, fuel, offered) in enumerate(VENDORS, start=1):
        for service_code, service_name, max_kg, cutoff, base, per_zone, per_kg, transit in offered:
            if "ground" not in service_name.lower():
                continue
            services.append(
                ServiceTerms(
                    service_id=len(services) + 1,
                    vendor_id=vendor_id,
                    vendor_code=code,
                    vendor_name=name,
                    code=service_code,
                    name=service_name,
                    max_weight_kg=Decimal(max_kg),
                    pickup_cutoff=cutoff,
                    fuel_surcharge_percent=Decimal(fuel),
                    transit_days=dict(zip(ZONES_ALL, transit, strict=True)),
                    rates={
                        zone: [
                            (
                                Decimal(weight),
                                (Decimal(base) + Decimal(per_zone) * (zone - 2) + Decimal(per_kg) * Decimal(weight)),
                            )
                            for weight in WEIGHT_BREAKS_KG
                            if Decimal(weight) <= Decimal(max_kg)
                        ]
                        for zone in ZONES_ALL
                    },
                )
            )
    return tuple(services)


def demand_rows(count: int, seed: int) -> list[tuple[str, float, None]]:
    """``count`` ZIP codes drawn by population: an area by its people, then one of its ZIP codes."""
    import zipcodes

    from shipping.coverage.demand import population_areas

    by_area: dict[str, list[str]] = {}
    for row in zipcodes.list_all():
        if row.get("lat"):
            by_area.setdefault(row["zip_code"][:3], []).append(row["zip_code"])
    areas = [area for area in population_areas() if area.key in by_area]
    rng = random.Random(seed)
    picked = rng.choices(areas, weights=[area.weight for area in areas], k=count)
    return [(rng.choice(by_area[area.key]), 1.0, None) for area in picked]


def timed(function, repeat: int):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000, help="demand rows (ZIP codes), default 30,000")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measure; the median is kept")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--target-seconds", type=float, default=5.0)
    parser.add_argument("--no-fail", action="store_true", help="always exit 0, even when a target fails")
    args = parser.parse_args()
    setup_django()

    from inventory import geo
    from shipping.coverage import model
    from shipping.coverage.demand import areas_from_postal_codes, candidate_places

    info = host()
    print(f"coverage: {describe_host(info)}")
    sites = []
    for code, name, _city, _state, postal_code in WAREHOUSES:
        latitude, longitude = geo.coordinates(postal_code)
        sites.append(model.Site(code, name, latitude, longitude, TIME_ZONES[code], dt.time(15), 0))
    monday = dt.datetime(2026, 12, 14, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
    network = model.Network(
        sites=tuple(sites),
        services=demo_ground_services(),
        instants=tuple(model.Instant(monday + dt.timedelta(hours=hour)) for hour in range(7 * 24)),
    )
    rows = demand_rows(args.rows, args.seed)
    places = candidate_places()
    areas, _ = areas_from_postal_codes(rows)  # warms the offline data, as a running worker has it
    latitude, longitude = geo.coordinates("64101")
    kansas_city = model.Site(
        "NEW-64101", "Kansas City", latitude, longitude, "America/Chicago", dt.time(15), 0, candidate=True
    )

    baseline_s, current = timed(lambda: model.evaluate(network, areas), args.repeat)

    def what_if():
        grouped, _ = areas_from_postal_codes(rows)
        return model.evaluate(network.changed(sites=(*network.sites, kansas_city)), grouped)

    whatif_s, whatif = timed(what_if, args.repeat)
    suggestion_s, suggestion = timed(
        lambda: model.suggest_site(network, areas, places, cutoff=dt.time(15), processing_days=0), args.repeat
    )

    def shares(figures):
        return {f"within_{days}": round(100 * share, 1) for days, share in figures.within.items()} | {
            "mean_days": round(figures.mean_days, 3),
            "mean_cost": str(figures.mean_cost),
        }

    ratios = [
        Ratio.of_times(
            "what-if (group 30,000 rows + one more site)",
            figure_ms=1000 * whatif_s,
            baseline_ms=1000 * baseline_s,
            baseline_label="the network as it is on grouped demand",
        ),
        Ratio.of_times(
            "suggestion (every lower-48 3-digit ZIP area)",
            figure_ms=1000 * suggestion_s,
            baseline_ms=1000 * baseline_s,
            baseline_label="the network as it is on grouped demand",
        ),
    ]
    passed = whatif_s <= args.target_seconds
    result = {
        "host": info,
        "rows": args.rows,
        "areas": len(areas),
        "places": len(places),
        "instants": len(network.instants),
        "seconds": {
            "baseline": round(baseline_s, 4),
            "what_if": round(whatif_s, 4),
            "suggestion": round(suggestion_s, 4),
        },
        "figures": {
            "current": shares(current),
            "what_if_kansas_city": shares(whatif),
            "suggested": {"postal_code": suggestion.place.postal_code, **shares(suggestion.figures)},
        },
        "ratios": [ratio.summary() for ratio in ratios],
        "target_seconds": args.target_seconds,
        "passed": passed,
        **git_revision(),
    }
    out = PROJECT_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "coverage.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print_ratios(ratios)
    print(
        f"\ncoverage: what-if {whatif_s:.2f} s over {args.rows:,} rows ({len(areas)} areas, {len(network.instants)} "
        f"order instants), suggestion {suggestion_s:.2f} s over {len(places)} places, baseline {baseline_s:.3f} s; "
        f"target what-if <= {args.target_seconds:g} s: {'met' if passed else 'NOT met'}"
    )
    return 0 if passed or args.no_fail else 1


if __name__ == "__main__":
    sys.exit(main())
