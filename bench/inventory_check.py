"""Benchmark of the daily inventory check on 100,000 stock levels and a 1,000,000-row ledger.

What it measures
    ``inventory.services.run_inventory_check(triggered_by="bench", email=False)``
    end to end (every finder's SQL, building and storing the findings), timed
    with ``time.perf_counter`` around the call: ``--repeat`` runs, median
    reported, with the findings per kind. Then the slowest statements of one
    more run (timed around ``cursor.execute``), and EXPLAIN (ANALYZE, BUFFERS)
    of the ledger reconciliation, the heaviest finder.

    The baseline, in the same run: the read statements of one more check run
    (the SQL text Django sent, literals in place), sent again ``--repeat``
    times over a bare psycopg connection with every row fetched; the check's
    median is reported as a ratio to theirs (bare reads ÷ check: the share of
    the check that is its finders' SQL; the rest is building and storing the
    findings).

    Then one stock level is corrupted on purpose with raw SQL
    (``on_hand = on_hand + 7``, no ledger row): the check must report exactly
    that level as a ledger mismatch of +7 and no other new error. The level is
    put back afterwards and the check must be clean again.

The data (the inventory and orders tables of the bench database are truncated
first), written with COPY:
    * 4 warehouses located by postal code (Edison NJ, Atlanta, Dallas, Reno),
      25,000 products, 100,000 stock levels (every product in every warehouse);
    * 1,000,000 ledger movements, 10 per level, oldest first: a receipt, then
      receipts, shipments, adjustments, returns, write-offs, transfers in and
      out, cycle-count corrections, inbound kinds positive and outbound kinds
      negative (the model's check constraints), the running balance never
      below zero; each level's on hand is exactly the sum of its movements;
    * reorder points on a fifth of the levels, about half of those at or below
      them (warnings);
    * 300 allocated orders (customers, addresses, orders, lines, timeline
      events) whose Allocation rows add up to the levels' allocated and the
      lines' quantity_allocated, and 50 backordered orders waiting for stock
      that another warehouse now has (warnings). No cycle counts.

Targets (exit code 1 when one fails, unless ``--no-fail``)
    * the check's median <= 5 s (``--target-seconds``): the check must finish
      long before the working day starts, whatever the host, so its budget is
      in seconds (it runs at a twentieth of it); the ratio is reported beside;
    * seeding with COPY < 60 s (``--seed-target-seconds``);
    * no error finding on the consistent data;
    * the corrupted level is reported, exactly, as the only new error, and the
      check is clean again once it is put back.

The script refuses anything but PostgreSQL (exit 2), and any database but
``oms_bench_inv`` unless ``--allow-any-database`` (it truncates tables). The
database is created when missing and migrated. Results are printed and written
to ``bench/results/inventory_check.json``.

Run it::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oms_bench_inv .venv/bin/python bench/inventory_check.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

from _common import (
    INVENTORY_BENCH_DATABASE,
    PROJECT_ROOT,
    WAREHOUSES,
    Ratio,
    captured_reads,
    copy_rows,
    describe_host,
    git_revision,
    host,
    prepare_database,
    print_ratios,
    replay_bare,
    run_on_private_broker,
    truncate_tables,
)

RESULTS_PATH = PROJECT_ROOT / "bench" / "results" / "inventory_check.json"
BENCH_DATABASE = INVENTORY_BENCH_DATABASE
ACTOR = "bench"
CORRUPTION = 7

PLACES = [
    ("New York", "NY", "10001"),
    ("Chicago", "IL", "60601"),
    ("Houston", "TX", "77002"),
    ("Denver", "CO", "80202"),
]
MOVEMENTS_PER_LEVEL = 10
ALLOCATED_ORDERS = 300
BACKORDERED_ORDERS = 50
# Later movements of a level: (kind, weight, low, high); the sign comes from the kind (adjustments and
# count corrections go either way).
LATER_MOVEMENTS = [
    ("receipt", 20, 20, 200),
    ("shipment", 45, 1, 12),
    ("adjustment", 8, 1, 5),
    ("return_restock", 8, 1, 3),
    ("write_off", 5, 1, 3),
    ("transfer_in", 5, 5, 40),
    ("transfer_out", 5, 5, 40),
    ("count_correction", 4, 1, 4),
]
INBOUND = {"receipt", "return_restock", "transfer_in"}
OUTBOUND = {"shipment", "write_off", "transfer_out"}
REASONS = {"adjustment": "bench: recount", "write_off": "bench: damaged", "count_correction": ""}
SQL_PREFIX_RE = re.compile(r"^SELECT .{60,}? FROM ")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark run_inventory_check on 100,000 stock levels and 1,000,000 ledger rows.",
        epilog=f"Needs DATABASE_URL pointing at PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}",
    )
    parser.add_argument("--products", type=int, default=25_000, help="products; levels = 4 × this (default 25,000)")
    parser.add_argument(
        "--demo-orders",
        type=int,
        default=0,
        help="also add this many orders of order history with orders.demo_data.seed_demo (default 0)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed check runs (default 3; the median counts)")
    parser.add_argument("--target-seconds", type=float, default=5.0, help="check median target (default 5 s)")
    parser.add_argument("--seed-target-seconds", type=float, default=60.0, help="seeding target (default 60 s)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--allow-any-database", action="store_true", help=f"run on a database not named {BENCH_DATABASE}"
    )
    parser.add_argument("--no-fail", action="store_true", help="always exit 0, even when a target fails")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help=f"JSON results file (default {RESULTS_PATH})")
    args = parser.parse_args(argv)
    if args.products < 100 or args.repeat < 1:
        parser.error("--products must be >= 100 and --repeat >= 1")
    return args


# --- preparation -------------------------------------------------------------


def level_movements(rng: random.Random, start: dt.datetime, step: dt.timedelta) -> list[tuple[str, int, dt.datetime]]:
    """Ten (kind, signed quantity, time) for one level, oldest first; the running balance stays >= 0."""
    kinds = [k[0] for k in LATER_MOVEMENTS]
    weights = [k[1] for k in LATER_MOVEMENTS]
    bounds = {k[0]: (k[2], k[3]) for k in LATER_MOVEMENTS}
    balance = rng.randint(50, 400)
    moves = [("receipt", balance, start)]
    for n in range(1, MOVEMENTS_PER_LEVEL):
        kind = rng.choices(kinds, weights)[0]
        quantity = rng.randint(*bounds[kind])
        if kind in OUTBOUND or (kind not in INBOUND and rng.random() < 0.5):
            quantity = -quantity
        if balance + quantity < 0:  # never ship what is not there: receive instead
            kind, quantity = "receipt", rng.randint(*bounds["receipt"])
        balance += quantity
        moves.append((kind, quantity, start + n * step))
    return moves


def seed(args: argparse.Namespace) -> dict:
    """Everything the check reads, written with COPY; returns counts and seconds per step."""
    from django.db import connection, transaction
    from django.utils import timezone

    from inventory.models import Warehouse
    from orders.models import Channel
    from orders.services import format_order_number

    rng = random.Random(args.seed)
    now = timezone.now()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    truncate_tables()
    channel = Channel.objects.create(code="bench", name="Bench store")
    warehouses = []
    for code, name, city, state, postal_code in WAREHOUSES:
        warehouse = Warehouse(code=code, name=name, city=city, state=state, postal_code=postal_code)
        warehouse.locate()
        warehouse.save()
        warehouses.append(warehouse.pk)
    timings["reference"] = time.perf_counter() - started

    # Products, levels and the ledger, in one transaction.
    step_started = time.perf_counter()
    products = [
        (i, f"SKU-{i:06d}", f"Bench product {i}", Decimal(f"{5 + i % 200}.99"), Decimal("0.500"), True, now)
        for i in range(1, args.products + 1)
    ]
    levels: list[list] = []  # id, warehouse_id, product_id, on_hand, allocated, reorder_point, bin, updated_at
    history_start = now - dt.timedelta(days=90)
    step = dt.timedelta(days=8)
    level_id = movement_id = 0
    with transaction.atomic():
        copy_rows("inventory_product", ["id", "sku", "name", "price", "weight_kg", "is_active", "created_at"], products)

        def movement_rows():
            nonlocal level_id, movement_id
            for product_id in range(1, args.products + 1):
                for warehouse_id in warehouses:
                    level_id += 1
                    start = history_start + dt.timedelta(minutes=rng.randint(0, 1440))
                    moves = level_movements(rng, start, step)
                    on_hand = sum(q for _, q, _ in moves)
                    reorder_point = 0
                    if rng.random() < 0.2:
                        reorder_point = max(1, int(on_hand * rng.uniform(0.5, 1.5)))
                    levels.append(
                        [level_id, warehouse_id, product_id, on_hand, 0, reorder_point, f"A{level_id % 97:02d}", now]
                    )
                    for kind, quantity, created_at in moves:
                        movement_id += 1
                        reference = f"PO-{movement_id}" if kind == "receipt" else ""
                        yield (
                            movement_id,
                            warehouse_id,
                            product_id,
                            kind,
                            quantity,
                            REASONS.get(kind, ""),
                            reference,
                            ACTOR,
                            created_at,
                        )

        movements = copy_rows(
            "inventory_stockmovement",
            ["id", "warehouse_id", "product_id", "kind", "quantity", "reason", "reference", "actor_name", "created_at"],
            movement_rows(),
        )
        timings["products + ledger"] = time.perf_counter() - step_started

        # Orders: allocated ones (their Allocation rows raise the levels' allocated) and backordered ones.
        step_started = time.perf_counter()
        order_counts = seed_orders(rng, levels, channel, now, format_order_number)
        timings["orders + allocations"] = time.perf_counter() - step_started

        step_started = time.perf_counter()
        copy_rows(
            "inventory_stocklevel",
            ["id", "warehouse_id", "product_id", "on_hand", "allocated", "reorder_point", "bin_location", "updated_at"],
            levels,
        )
        timings["levels"] = time.perf_counter() - step_started
        step_started = time.perf_counter()
    timings["commit (deferred FK checks)"] = time.perf_counter() - step_started
    step_started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in (
            "inventory_product",
            "inventory_stocklevel",
            "inventory_stockmovement",
            "inventory_allocation",
            "orders_customer",
            "orders_address",
            "orders_order",
            "orders_orderline",
            "orders_orderevent",
        ):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    timings["sequences"] = time.perf_counter() - step_started
    seconds = time.perf_counter() - started
    step_started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    vacuum_seconds = time.perf_counter() - step_started
    return {
        "products": len(products),
        "stock_levels": len(levels),
        "movements": movements,
        **order_counts,
        "levels_with_reorder_point": sum(1 for level in levels if level[5]),
        "levels_at_or_below_reorder_point": sum(1 for level in levels if level[5] and level[3] <= level[5]),
        "seconds": round(seconds, 2),
        "steps": {name: round(s, 2) for name, s in timings.items()},
        "vacuum_analyze_seconds": round(vacuum_seconds, 2),
    }


def seed_orders(rng: random.Random, levels: list[list], channel, now, format_order_number) -> dict:
    """Allocated orders with Allocation rows (levels' allocated raised to match) and backordered orders."""
    from orders.demo_data import (  # the seed's COPY column lists
        ADDRESS_COLUMNS,
        ALLOCATION_COLUMNS,
        CUSTOMER_COLUMNS,
        EVENT_COLUMNS,
        LINE_COLUMNS,
        ORDER_COLUMNS,
    )

    customers, addresses, orders, lines, events, allocations = [], [], [], [], [], []
    line_id = event_id = allocation_id = 0
    total = ALLOCATED_ORDERS + BACKORDERED_ORDERS
    for order_id in range(1, total + 1):
        customer_name = f"Bench Customer {order_id}"
        customers.append(
            (order_id, customer_name, f"customer.{order_id}@example.com", "", False, now - dt.timedelta(days=30))
        )
        city, state, postal_code = rng.choice(PLACES)
        addresses.append(
            (order_id, order_id, customer_name, "", f"{order_id} Main St", "", city, state, postal_code, "US", "")
        )
        backordered = order_id > ALLOCATED_ORDERS
        order_lines = []
        for level in rng.sample(levels, rng.randint(1, 2)):
            free = level[3] - level[4]
            if not backordered and free < 1:
                continue
            quantity = rng.randint(1, min(3, free)) if not backordered else rng.randint(1, 3)
            line_id += 1
            price = Decimal(f"{5 + level[2] % 200}.99")
            allocated = 0 if backordered else quantity
            line = (line_id, order_id, level[2], f"SKU-{level[2]:06d}", f"Bench product {level[2]}", quantity, price)
            order_lines.append(line)
            lines.append((*line, allocated, 0, 0))
            if not backordered:
                level[4] += quantity
                allocation_id += 1
                allocations.append((allocation_id, order_id, line_id, level[1], level[2], quantity, now))
        if not order_lines:
            continue
        subtotal = sum(line[6] * line[5] for line in order_lines)
        status = "backordered" if backordered else "allocated"
        placed_at = now - dt.timedelta(hours=rng.randint(1, 48))
        zero = Decimal("0.00")
        orders.append(
            (
                *(order_id, format_order_number(order_id), channel.pk, f"BENCH-{order_id:06d}", order_id, order_id),
                *(order_id, status, "", "USD", subtotal, zero, zero, zero, subtotal, None, placed_at, now),
            )
        )
        event_id += 1
        placed = {"channel": channel.code, "external_id": f"BENCH-{order_id:06d}", "grand_total": str(subtotal)}
        events.append(
            (
                *(event_id, order_id, "placed", f"Order placed on {channel.name} as BENCH-{order_id:06d}."),
                *(None, ACTOR, json.dumps(placed), placed_at),
            )
        )
        event_id += 1
        label = "Backordered" if backordered else "Allocated"
        events.append(
            (
                *(event_id, order_id, "status_changed", f"Received → {label}", None, "system: routing"),
                *(json.dumps({"from": "received", "to": status}), placed_at + dt.timedelta(minutes=1)),
            )
        )
    copy_rows("orders_customer", CUSTOMER_COLUMNS, customers)
    copy_rows("orders_address", ADDRESS_COLUMNS, addresses)
    copy_rows("orders_order", ORDER_COLUMNS, orders)
    copy_rows("orders_orderline", LINE_COLUMNS, lines)
    copy_rows("orders_orderevent", EVENT_COLUMNS, events)
    copy_rows("inventory_allocation", ALLOCATION_COLUMNS, allocations)
    return {
        "orders_allocated": sum(1 for o in orders if o[7] == "allocated"),
        "orders_backordered": sum(1 for o in orders if o[7] == "backordered"),
        "allocations": len(allocations),
        "units_allocated": sum(a[5] for a in allocations),
    }


# --- measuring ---------------------------------------------------------------
def check_once() -> dict:
    from django.db.models import Count

    from inventory.models import InventoryFinding
    from inventory.services import run_inventory_check

    started = time.perf_counter()
    run = run_inventory_check(triggered_by=ACTOR, email=False)
    seconds = time.perf_counter() - started
    totals = {kind: n for kind, n in run.summary.get("totals", {}).items() if n}
    severities, stored = {}, {}
    for kind, severity, count in (
        InventoryFinding.objects.filter(run=run).values_list("kind", "severity").annotate(n=Count("id")).order_by()
    ):
        severities[kind], stored[kind] = severity, stored.get(kind, 0) + count
    return {
        "run_id": run.pk,
        "seconds": seconds,
        "duration_ms": run.duration_ms,
        "findings": totals,
        "stored_findings": stored,
        "error_findings": sum(n for kind, n in totals.items() if severities.get(kind) == "error"),
        "severities": severities,
    }


def slowest_statements(limit: int = 6) -> list[dict]:
    """One more check run with every statement timed around cursor.execute."""
    from django.db import connection

    from inventory.services import run_inventory_check

    timed: list[tuple[float, str]] = []

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timed.append((time.perf_counter() - started, sql))

    with connection.execute_wrapper(timer):
        run_inventory_check(triggered_by=ACTOR, email=False)
    total = sum(t for t, _ in timed)
    print(f"\nOne more run, statements timed: {len(timed)} statements, {total * 1000:,.0f} ms in SQL. Slowest:")
    rows = []
    for seconds, sql in sorted(timed, key=lambda t: t[0], reverse=True)[:limit]:
        text = SQL_PREFIX_RE.sub("SELECT … FROM ", " ".join(sql.split()), count=1)
        rows.append({"ms": round(seconds * 1000, 1), "sql": text})
        print(f"  {seconds * 1000:8.1f} ms  {text[:200]}{'…' if len(text) > 200 else ''}")
    return rows


def explain_ledger() -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the ledger reconciliation query, as the check runs it."""
    from django.db import connection

    sql = """
        SELECT l.id, l.warehouse_id, l.product_id, l.on_hand, COALESCE(m.total, 0)
        FROM inventory_stocklevel l
        LEFT JOIN (
            SELECT warehouse_id, product_id, SUM(quantity) AS total FROM inventory_stockmovement
            GROUP BY warehouse_id, product_id
        ) m ON m.warehouse_id = l.warehouse_id AND m.product_id = l.product_id
        WHERE l.on_hand <> COALESCE(m.total, 0)
        ORDER BY l.id
    """
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = [row[0] for row in cursor.fetchall()]
        cursor.execute("SHOW work_mem")
        work_mem = cursor.fetchone()[0]
    print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the ledger reconciliation (work_mem = {work_mem}):")
    for line in plan:
        print(f"  {line}")
    return plan


def corrupt_and_check(baseline: dict) -> dict:
    """on_hand + 7 on one level without a ledger row: exactly that mismatch must be reported; then put back."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from inventory.models import InventoryFinding, StockLevel

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, on_hand FROM inventory_stocklevel WHERE reorder_point = 0 AND allocated = 0 "
            "AND id >= (SELECT MAX(id) / 2 FROM inventory_stocklevel) ORDER BY id LIMIT 1"
        )
        level_id, on_hand = cursor.fetchone()
        cursor.execute("UPDATE inventory_stocklevel SET on_hand = on_hand + %s WHERE id = %s", [CORRUPTION, level_id])
    print(f"\nCorrupted stock level #{level_id}: on_hand {on_hand} -> {on_hand + CORRUPTION} (raw SQL, no ledger row).")
    try:
        after = check_once()
        findings = list(
            InventoryFinding.objects.filter(run_id=after["run_id"], kind=InventoryFinding.Kind.LEDGER_MISMATCH).values(
                "object_id", "content_type", "data", "message"
            )
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE inventory_stocklevel SET on_hand = on_hand - %s WHERE id = %s", [CORRUPTION, level_id]
            )
    level_type = ContentType.objects.get_for_model(StockLevel).pk
    expected = [
        {
            "object_id": str(level_id),
            "content_type": level_type,
            "data": {"on_hand": on_hand + CORRUPTION, "ledger": on_hand},
        }
    ]
    # The finding's figures (its data also names the level for the console: "subject").
    got = [
        {
            "object_id": f["object_id"],
            "content_type": f["content_type"],
            "data": {k: f["data"].get(k) for k in expected[0]["data"]},
        }
        for f in findings
    ]
    other_kinds_unchanged = {k: v for k, v in after["findings"].items() if k != "ledger_mismatch"} == {
        k: v for k, v in baseline["findings"].items() if k != "ledger_mismatch"
    }
    exact = got == expected and after["error_findings"] == 1 and other_kinds_unchanged
    for finding in findings:
        print(f"  reported: {finding['message']}")
    restored = check_once()
    print(f"  put back: the check finds {restored['error_findings']} error(s) again ({restored['seconds']:.2f} s).")
    return {
        "level_id": level_id,
        "on_hand_before": on_hand,
        "reported": findings,
        "error_findings": after["error_findings"],
        "other_kinds_unchanged": other_kinds_unchanged,
        "exact": exact,
        "check_seconds": round(after["seconds"], 3),
        "clean_after_restore": restored["error_findings"] == 0,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_on_private_broker("check", measure, args)


def measure(args: argparse.Namespace, logged) -> int:
    import django
    from django.conf import settings

    machine = host()
    print(f"Host: {describe_host(machine)}", flush=True)
    pg_version = prepare_database(args.allow_any_database)
    print(f"Database {settings.DATABASES['default']['NAME']} (PostgreSQL {pg_version}) migrated.", flush=True)
    print(
        f"Seeding {args.products:,} products, {args.products * 4:,} stock levels, "
        f"{args.products * 4 * MOVEMENTS_PER_LEVEL:,} movements and "
        f"{ALLOCATED_ORDERS + BACKORDERED_ORDERS} orders with COPY...",
        flush=True,
    )
    seeded = seed(args)
    steps = ", ".join(f"{name} {s:.1f} s" for name, s in seeded["steps"].items())
    print(
        f"Seeded in {seeded['seconds']:.1f} s ({steps}); "
        f"then VACUUM ANALYZE {seeded['vacuum_analyze_seconds']:.1f} s.\n"
        f"  {seeded['stock_levels']:,} levels, {seeded['movements']:,} movements, {seeded['allocations']} allocations "
        f"({seeded['units_allocated']} units) on {seeded['orders_allocated']} allocated orders, "
        f"{seeded['orders_backordered']} backordered orders; {seeded['levels_with_reorder_point']:,} levels with a "
        f"reorder point, {seeded['levels_at_or_below_reorder_point']:,} at or below it.",
        flush=True,
    )

    demo = None
    if args.demo_orders:
        from django.db import connection

        from orders.demo_data import seed_demo

        print(f"Adding {args.demo_orders:,} orders of history with seed_demo...", flush=True)
        started = time.perf_counter()
        result = seed_demo(orders=args.demo_orders, seed=args.seed)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        demo = {"orders": result.orders, "lines": result.lines, "seconds": round(time.perf_counter() - started, 1)}
        print(f"  {result.orders:,} orders, {result.lines:,} lines in {demo['seconds']:.0f} s.", flush=True)

    runs = []
    for n in range(args.repeat):
        result = check_once()
        runs.append(result)
        print(f"Check run {n + 1}: {result['seconds']:.3f} s ({result['duration_ms']} ms inside)", flush=True)
    median = statistics.median(r["seconds"] for r in runs)
    baseline = runs[-1]
    statements = slowest_statements()
    from inventory.services import run_inventory_check

    _, reads = captured_reads(run_inventory_check, triggered_by=ACTOR, email=False)
    bare_ms = replay_bare([reads], repeat=args.repeat)
    ratio = Ratio.of_times(
        "daily check, median",
        figure_ms=median * 1000,
        baseline_ms=statistics.median(bare_ms),
        baseline_label=f"its {len(reads)} reads over bare psycopg",
    )
    print(f"\nBaseline, the check's {len(reads)} reads over bare psycopg: {', '.join(f'{t:.0f}' for t in bare_ms)} ms")
    print_ratios([ratio])
    plan = explain_ledger()
    corruption = corrupt_and_check(baseline)

    versions = {"python": platform.python_version(), "django": django.get_version(), "postgresql": pg_version}
    git = git_revision()
    print()
    if git:
        dirty = f", {git['app_files_modified']} app file(s) modified" if git["app_files_modified"] else ""
        print(f"Commit {git['commit']}{dirty}")
    print(
        f"Python {versions['python']} · Django {versions['django']} · PostgreSQL {pg_version} · "
        f"{os.cpu_count()} CPUs · "
        f"{seeded['stock_levels']:,} stock levels · {seeded['movements']:,} movements"
    )
    print(f"\n{'check run':<10}  {'seconds':>8}")
    print("-" * 20)
    for n, r in enumerate(runs, 1):
        print(f"{n:<10}  {r['seconds']:>8.3f}")
    print(f"{'median':<10}  {median:>8.3f}")
    print(f"\n{'finding kind':<22}  {'severity':<8}  {'total':>7}  {'stored':>6}")
    print("-" * 49)
    for kind, total in sorted(baseline["findings"].items()):
        severity = baseline["severities"].get(kind, "?")
        print(f"{kind:<22}  {severity:<8}  {total:>7,}  {baseline['stored_findings'].get(kind, 0):>6,}")
    if not baseline["findings"]:
        print("(none)")

    targets = [
        {
            "target": f"check median <= {args.target_seconds:g} s",
            "passed": median <= args.target_seconds,
            "detail": f"median {median:.3f} s of {len(runs)}",
        },
        {
            "target": f"seeding with COPY < {args.seed_target_seconds:g} s",
            "passed": seeded["seconds"] < args.seed_target_seconds,
            "detail": f"{seeded['seconds']:.1f} s (+ VACUUM ANALYZE {seeded['vacuum_analyze_seconds']:.1f} s)",
        },
        {
            "target": "no error finding on consistent data",
            "passed": all(r["error_findings"] == 0 for r in runs),
            "detail": f"error findings per run: {[r['error_findings'] for r in runs]}",
        },
        {
            "target": f"corrupted level (+{CORRUPTION}) reported exactly, clean once put back",
            "passed": corruption["exact"] and corruption["clean_after_restore"],
            "detail": f"level #{corruption['level_id']}: {corruption['error_findings']} error finding(s), "
            f"{'exact' if corruption['exact'] else 'NOT exact'}, "
            f"{'clean' if corruption['clean_after_restore'] else 'NOT clean'} after restore",
        },
    ]
    targets.append(
        {
            "target": "nothing logged at WARNING or above",
            "passed": logged.count == 0,
            "detail": f"{logged.count} logged" + (f": {logged.first}" if logged.first else ""),
        }
    )
    print("\nTargets:")
    for target in targets:
        print(f"  {'PASS' if target['passed'] else 'FAIL'}  {target['target']} ({target['detail']})")
    passed = all(t["passed"] for t in targets)
    results = {
        "benchmark": "inventory_check",
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": versions,
        "cpus": os.cpu_count(),
        "host": machine,
        "seeded": seeded,
        "demo_orders": demo,
        "git": git,
        "runs": [{k: v for k, v in r.items() if k != "severities"} for r in runs],
        "median_seconds": round(median, 3),
        "bare_reads_ms": [round(t, 1) for t in bare_ms],
        "ratio": ratio.summary(),
        "findings": baseline["findings"],
        "slowest_statements": statements,
        "ledger_plan": plan,
        "corruption": corruption,
        "targets": targets,
        "passed": passed,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nResults written to {args.output}")
    print("All targets PASS." if passed else "Some targets FAIL.")
    if not passed and not args.no_fail:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
