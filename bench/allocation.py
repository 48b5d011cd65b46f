"""Benchmark of order allocation throughput with 1, 4 and 16 concurrent workers, against a raw pgbench baseline.

What it measures
    ``orders.services.allocate_order`` (lock the order, lock its SKUs' stock
    levels, route, write Allocation rows, raise StockLevel.allocated, move the
    order to allocated/backordered with a timeline event), called by N worker
    *processes* (each its own ``django.setup()`` and database connection) on
    disjoint slices of the same pre-placed orders. The wall clock runs from a
    start barrier to the last worker's result; reported: orders/s, the per-order
    latency (median, p95), how the orders ended, and what the workers' backends
    were doing (pg_stat_activity sampled every 100 ms: waiting on a lock, busy,
    or idle inside a transaction while Python works).

    Every run starts from the same fresh data (the inventory and orders tables
    of the bench database are truncated): 4 warehouses (Edison NJ, Atlanta,
    Dallas, Reno), 20 SKUs stocked in every warehouse, customers at a dozen real
    US ZIP codes, and ``--orders`` orders of 1–3 lines. Four hot SKUs take half
    of the lines, so every order contends for the same rows; one SKU is kept
    scarce (a write-off after receipt), so a few percent of the orders split or
    wait as backorders and those paths run too. The first order is placed with
    ``place_order(route=False)``; the rest are written with COPY and checked
    column by column against that first order's rows.

    After each run: no level has allocated > on hand, every level's allocated
    equals the sum of its Allocation rows, and ``run_inventory_check`` finds no
    error (its duration is reported too).

    Raw baseline, in the same run and on the same stock-level rows: pgbench with
    ``-n -T 10`` and a custom script running the conditional UPDATE that a bare
    reservation would be (``allocated = allocated + 1 WHERE id = :id AND
    on_hand - allocated >= 1``, random id among the bench's levels) with 1, 4, 8
    and 16 clients; allocated is put back to its values before each client count
    and after the last one. It runs before any allocation, on plentiful stock,
    so every UPDATE changes a row (checked). The host's speed drifts within
    minutes, so each worker count's run is also bracketed by pgbench at the
    target's client count (8), right before it and right after it (on fresh
    stock); each run is reported as a ratio to the mean of its two brackets.

    The workers run as the production shape's do, with a Redis broker
    (``CELERY_BROKER_URL``, default ``redis://127.0.0.1:6379/13``) on a queue of
    the run's own that no worker consumes: the "in process" emails a batch
    queues wake the sending drain there after commit. The run's keys are
    deleted at the end. DEBUG's query log and the backorder-fill tasks are off
    in the workers. Every warning or error a worker logs is counted, and fails
    the run.

Targets (exit code 1 when one fails, unless ``--no-fail``)
    * allocation through the service with 4 workers >= 1/4 of pgbench's 8-client
      rate (``--target-ratio``);
    * every run verifies: all orders allocated or backordered, no worker error
      (deadlock, refusal), no over-allocation, allocated == the Allocation rows,
      zero error findings from the inventory check;
    * no warning or error logged by a worker.

When the ratio target fails, one worker is profiled in this process, allocating
as the workers do (``--batch`` orders a call): ``--profile-orders`` allocations
timed, with the CPU of this process and of its PostgreSQL backend per order,
then as many under cProfile counting CPU time (top 15 by cumulative time, and
the SQL of one batch). ``--profile-only`` runs that profile alone (no pgbench,
no worker runs): the quick way to compare a change's CPU per order with the
code before it, runs interleaved. ``--replay`` also has pgbench replay one
allocation's statements with no Python in between (the ceiling of that
statement shape); ``--daily-capacity N`` gives every warehouse a daily order
capacity (the routing then locks the warehouses' daily-load rows too). Before
each measurement the script waits up to ``--quiet-wait`` seconds for other load
on the machine to stop, and warns when it does not.

The script refuses anything but PostgreSQL (exit 2), and any database but
``oms_bench_inv`` unless ``--allow-any-database`` (it truncates tables). The
database is created when missing and migrated. Results are printed and written
to ``bench/results/allocation.json``.

Run it::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oms_bench_inv .venv/bin/python bench/allocation.py
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import multiprocessing
import os
import platform
import pstats
import queue
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

from _common import (
    INVENTORY_BENCH_DATABASE,
    PROJECT_ROOT,
    WAREHOUSES,
    CountingHandler,
    Ratio,
    copy_rows,
    count_logged_problems,
    describe_host,
    git_revision,
    host,
    p95,
    prepare_database,
    print_ratios,
    refuse,
    run_on_private_broker,
    setup_django,
    truncate_tables,
)

RESULTS_PATH = PROJECT_ROOT / "bench" / "results" / "allocation.json"
BENCH_DATABASE = INVENTORY_BENCH_DATABASE
ACTOR = "bench"
CHANNEL_CODE = "bench"

# (code, name, city, state, ZIP): located by postal code, as in production.
CUSTOMER_PLACES = [
    ("New York", "NY", "10001"),
    ("Philadelphia", "PA", "19103"),
    ("Boston", "MA", "02108"),
    ("Charlotte", "NC", "28202"),
    ("Miami", "FL", "33130"),
    ("Nashville", "TN", "37203"),
    ("Chicago", "IL", "60601"),
    ("Houston", "TX", "77002"),
    ("Denver", "CO", "80202"),
    ("Phoenix", "AZ", "85004"),
    ("Los Angeles", "CA", "90012"),
    ("Seattle", "WA", "98101"),
]
FIRST_NAMES = ["Ava", "Liam", "Mia", "Noah", "Zoe", "Ethan", "Ines", "Omar", "Sofia", "Kenji", "Amara", "Lucas"]
LAST_NAMES = ["Smith", "Garcia", "Chen", "Johnson", "Okafor", "Novak", "Patel", "Brown", "Rossi", "Kim", "Silva"]
SKU_COUNT = 20
HOT_SKUS = 4  # these four take half of the order lines
SCARCE_SKU = SKU_COUNT - 1  # index of the SKU written down to --scarce-stock units per warehouse
SKU_WEIGHTS = [12.5] * HOT_SKUS + [47.5 / (SKU_COUNT - HOT_SKUS - 1)] * (SKU_COUNT - HOT_SKUS - 1) + [2.5]
LINES_PER_ORDER = ([1, 2, 3], [40, 35, 25])
UNITS_PER_LINE = ([1, 2, 3], [70, 20, 10])
CUSTOMERS = 600
BUSY_WARNING_PCT = 15.0
PGBENCH_SQL = "UPDATE inventory_stocklevel SET allocated = allocated + 1 WHERE id = :id AND on_hand - allocated >= 1;"
TPS_RE = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.MULTILINE)
PROCESSED_RE = re.compile(r"number of transactions actually processed: (\d+)")
FAILED_RE = re.compile(r"number of failed transactions: (\d+)")
LATENCY_RE = re.compile(r"latency average = ([\d.]+) ms")
SELECT_LIST_RE = re.compile(r"^SELECT .{40,}? FROM ")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark allocate_order throughput with concurrent workers against a pgbench baseline.",
        epilog=f"Needs DATABASE_URL pointing at PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}",
    )
    parser.add_argument("--orders", type=int, default=6000, help="orders allocated per worker-count run (default 6000)")
    parser.add_argument(
        "--batch",
        type=int,
        default=100,
        help="orders per allocate_orders call and transaction (default 100; 1 = allocate_order one by one)",
    )
    parser.add_argument("--workers", default="1,4,16", help="worker counts to run, comma-separated (default 1,4,16)")
    parser.add_argument(
        "--pgbench-clients", default="1,4,8,16", help="pgbench client counts, comma-separated (default 1,4,8,16)"
    )
    parser.add_argument("--pgbench-seconds", type=int, default=10, help="pgbench -T per client count (default 10)")
    parser.add_argument("--stock", type=int, default=5000, help="units received per stock level (default 5000)")
    parser.add_argument(
        "--scarce-stock", type=int, default=25, help="units left per warehouse of the scarce SKU (default 25)"
    )
    parser.add_argument(
        "--daily-capacity",
        type=int,
        default=None,
        help="give every warehouse this daily order capacity (default: none, as in the seed data)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="before each measurement, wait up to this many seconds for other load to stop (default 120)",
    )
    parser.add_argument("--target-ratio", type=float, default=0.25, help="4 workers / pgbench 8 clients (default 0.25)")
    parser.add_argument("--target-workers", type=int, default=4, help="worker count the target uses (default 4)")
    parser.add_argument("--target-clients", type=int, default=8, help="pgbench clients the target uses (default 8)")
    parser.add_argument(
        "--replay",
        action="store_true",
        help="also replay one allocation's statements with pgbench (no Python): the statement shape's ceiling",
    )
    parser.add_argument("--profile", action="store_true", help="profile one worker even when the ratio passes")
    parser.add_argument("--no-profile", action="store_true", help="never profile")
    parser.add_argument(
        "--profile-only",
        action="store_true",
        help="only profile one worker (no pgbench, no worker runs): a change's CPU per order, before and after",
    )
    parser.add_argument("--profile-orders", type=int, default=500, help="allocations profiled (default 500)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the orders (default 1)")
    parser.add_argument(
        "--allow-any-database", action="store_true", help=f"run on a database not named {BENCH_DATABASE}"
    )
    parser.add_argument("--no-fail", action="store_true", help="always exit 0, even when a target fails")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help=f"JSON results file (default {RESULTS_PATH})")
    args = parser.parse_args(argv)
    try:
        args.worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
        args.client_counts = [int(n) for n in args.pgbench_clients.split(",") if n.strip()]
    except ValueError:
        parser.error("--workers and --pgbench-clients are comma-separated whole numbers")
    if not args.worker_counts or min(args.worker_counts) < 1 or min(args.client_counts or [1]) < 1:
        parser.error("worker and client counts must be >= 1")
    if args.orders < max(args.worker_counts) or args.pgbench_seconds < 1 or args.profile_orders < 1:
        parser.error("--orders must be >= the largest worker count; --pgbench-seconds, --profile-orders >= 1")
    if args.stock < 2000 or not 0 <= args.scarce_stock < args.stock:
        parser.error("--stock must be >= 2000 (pgbench must not run a level dry); 0 <= --scarce-stock < --stock")
    return args


# --- preparation -------------------------------------------------------------


@dataclass
class Reference:
    channel: object
    warehouses: list
    products: list
    level_ids: list[int]


def create_stock(stock: int, daily_capacity: int | None = None) -> Reference:
    """Channel, four located warehouses, 20 SKUs, and `stock` units of each SKU received in each warehouse."""
    from inventory.models import Product, StockLevel, Warehouse
    from inventory.services import receive_stock
    from orders.models import Channel

    truncate_tables()
    channel = Channel.objects.create(code=CHANNEL_CODE, name="Bench store", kind=Channel.Kind.WEB_STORE)
    warehouses = []
    for code, name, city, state, postal_code in WAREHOUSES:
        warehouse = Warehouse(
            code=code,
            name=name,
            city=city,
            state=state,
            postal_code=postal_code,
            daily_order_capacity=daily_capacity,
        )
        warehouse.locate()
        warehouse.save()
        warehouses.append(warehouse)
    products = Product.objects.bulk_create(
        Product(sku=f"BENCH-{i + 1:03d}", name=f"Bench item {i + 1}", price=Decimal(f"{9 + i}.99"))
        for i in range(SKU_COUNT)
    )
    for product in products:
        for warehouse in warehouses:
            receive_stock(
                warehouse_id=warehouse.pk, product_id=product.pk, quantity=stock, actor=ACTOR, reference="BENCH-RCV"
            )
    level_ids = list(StockLevel.objects.order_by("pk").values_list("pk", flat=True))
    return Reference(channel, warehouses, products, level_ids)


def make_scarce(reference: Reference, keep: int) -> None:
    """Write the scarce SKU down to `keep` units per warehouse (a ledger movement, like any write-off)."""
    from inventory.models import StockLevel
    from inventory.services import write_off_stock

    product = reference.products[SCARCE_SKU]
    for level in StockLevel.objects.filter(product=product).order_by("pk"):
        if level.on_hand > keep:
            write_off_stock(
                warehouse_id=level.warehouse_id,
                product_id=product.pk,
                quantity=level.on_hand - keep,
                reason="bench: make one SKU scarce",
                actor=ACTOR,
            )


# --- orders: the first through place_order, the rest with COPY -------------
@dataclass
class OrderSpec:
    external_id: str
    customer: int  # index into the customer rows
    place: tuple[str, str, str]
    street: str
    lines: list[tuple[int, int]]  # (product index, quantity)


def make_specs(rng: random.Random, count: int) -> list[OrderSpec]:
    specs = []
    for k in range(count):
        wanted = rng.choices(*LINES_PER_ORDER)[0]
        picked: list[int] = []
        while len(picked) < wanted:
            index = rng.choices(range(SKU_COUNT), weights=SKU_WEIGHTS)[0]
            if index not in picked:
                picked.append(index)
        specs.append(
            OrderSpec(
                external_id=f"BENCH-{k + 1:06d}",
                customer=rng.randrange(CUSTOMERS),
                place=rng.choice(CUSTOMER_PLACES),
                street=f"{rng.randint(1, 9999)} {rng.choice(['Main St', 'Oak Ave', 'Park Blvd', 'Elm St'])}",
                lines=[(index, rng.choices(*UNITS_PER_LINE)[0]) for index in picked],
            )
        )
    return specs


def customer_rows(rng: random.Random, now: dt.datetime) -> list[tuple]:
    rows = []
    for i in range(CUSTOMERS):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        email = f"{name.replace(' ', '.').lower()}.{i + 1}@example.com"
        rows.append((i + 1, name, email, f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}", False, now))
    return rows


TIMESTAMPS = {"placed_at", "updated_at", "created_at"}


def order_rows(spec, *, ids, customers, channel, products, now) -> tuple[tuple, tuple, list[tuple], tuple]:
    """The rows place_order(route=False) writes for one order: address, order, lines, the 'placed' event."""
    from django.core.serializers.json import DjangoJSONEncoder

    from orders.services import format_order_number

    order_id, address_id, first_line_id, event_id = ids
    customer_id, name, *_ = customers[spec.customer]
    city, state, postal_code = spec.place
    # The order's own address row belongs to no customer (place_order's order_address).
    address = (address_id, None, name, "", spec.street, "", city, state, postal_code, "US", "")
    lines, subtotal = [], Decimal("0.00")
    for offset, (index, quantity) in enumerate(spec.lines):
        product = products[index]
        lines.append(
            (first_line_id + offset, order_id, product.pk, product.sku, product.name, quantity, product.price, 0, 0, 0)
        )
        subtotal += product.price * quantity
    zero = Decimal("0.00")
    order = (
        order_id,
        format_order_number(order_id),
        channel.pk,
        spec.external_id,
        customer_id,
        address_id,
        address_id,
        "received",
        "",
        "USD",
        subtotal,
        zero,
        zero,
        zero,
        subtotal,
        None,
        now,
        now,
    )
    data = {"channel": channel.code, "external_id": spec.external_id, "grand_total": subtotal}
    event = (
        event_id,
        order_id,
        "placed",
        f"Order placed on {channel.name} as {spec.external_id}.",
        None,
        ACTOR,
        json.dumps(data, cls=DjangoJSONEncoder),
        now,
    )
    return address, order, lines, event


def place_first_order(spec: OrderSpec, customers, reference: Reference):
    from orders.services import AddressData, CustomerData, LineData, OrderData, place_order

    _, name, email, phone, *_ = customers[spec.customer]
    city, state, postal_code = spec.place
    data = OrderData(
        external_id=spec.external_id,
        customer=CustomerData(name=name, email=email, phone=phone),
        shipping_address=AddressData(name=name, line1=spec.street, city=city, state=state, postal_code=postal_code),
        lines=[
            LineData(sku=reference.products[i].sku, quantity=q, unit_price=reference.products[i].price)
            for i, q in spec.lines
        ],
    )
    order, created = place_order(channel=reference.channel, data=data, actor=ACTOR, route=False)
    assert created, "the first bench order already existed"
    return order


def db_rows(table: str, columns: list[str], where: str, value: int) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where} = %s ORDER BY id", [value])
        return cursor.fetchall()


def check_same_rows(first, spec, customers, reference, now) -> None:
    """The COPY row builder must write what place_order writes: compare on the first order (timestamps aside)."""
    from orders.demo_data import (  # the seed's COPY column lists
        ADDRESS_COLUMNS,
        EVENT_COLUMNS,
        LINE_COLUMNS,
        ORDER_COLUMNS,
    )

    line_ids = [line.pk for line in first.lines.order_by("pk")]
    event_id = first.events.get().pk
    ids = (first.pk, first.shipping_address_id, line_ids[0], event_id)
    address, order, lines, event = order_rows(
        spec, ids=ids, customers=customers, channel=reference.channel, products=reference.products, now=now
    )
    expected = {
        "orders_address": [address],
        "orders_order": [order],
        "orders_orderline": lines,
        "orders_orderevent": [event],
    }
    actual = {
        "orders_address": db_rows("orders_address", ADDRESS_COLUMNS, "id", first.shipping_address_id),
        "orders_order": db_rows("orders_order", ORDER_COLUMNS, "id", first.pk),
        "orders_orderline": db_rows("orders_orderline", LINE_COLUMNS, "order_id", first.pk),
        "orders_orderevent": db_rows("orders_orderevent", EVENT_COLUMNS, "order_id", first.pk),
    }
    columns = {
        "orders_address": ADDRESS_COLUMNS,
        "orders_order": ORDER_COLUMNS,
        "orders_orderline": LINE_COLUMNS,
        "orders_orderevent": EVENT_COLUMNS,
    }
    for table, rows in expected.items():
        for want_row, got_row in zip(rows, actual[table], strict=True):
            for column, want, got in zip(columns[table], want_row, got_row, strict=True):
                if column in TIMESTAMPS:
                    continue
                if column == "data":
                    want, got = json.loads(want), json.loads(got) if isinstance(got, str) else got
                if want != got:
                    refuse(f"bench row builder differs from place_order: {table}.{column} {want!r} != {got!r}")


def seed_orders(reference: Reference, count: int, seed: int) -> tuple[list[int], float]:
    """`count` received orders; returns their ids and the seconds it took."""
    from django.db import connection, transaction
    from django.utils import timezone

    from orders.demo_data import (  # the seed's COPY column lists
        ADDRESS_COLUMNS,
        CUSTOMER_COLUMNS,
        EVENT_COLUMNS,
        LINE_COLUMNS,
        ORDER_COLUMNS,
    )

    started = time.perf_counter()
    rng = random.Random(seed)
    now = timezone.now()
    customers = customer_rows(rng, now)
    specs = make_specs(rng, count)
    with transaction.atomic():
        copy_rows("orders_customer", CUSTOMER_COLUMNS, customers)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('orders_customer', 'id'), %s)", [CUSTOMERS])
    first = place_first_order(specs[0], customers, reference)
    check_same_rows(first, specs[0], customers, reference, now)

    order_id, address_id = first.pk + 1, first.shipping_address_id + 1
    line_id = max(line.pk for line in first.lines.all()) + 1
    event_id = first.events.get().pk + 1
    addresses, orders, lines, events = [], [], [], []
    for spec in specs[1:]:
        address, order, order_lines, event = order_rows(
            spec,
            ids=(order_id, address_id, line_id, event_id),
            customers=customers,
            channel=reference.channel,
            products=reference.products,
            now=now,
        )
        addresses.append(address)
        orders.append(order)
        lines.extend(order_lines)
        events.append(event)
        order_id, address_id, line_id, event_id = order_id + 1, address_id + 1, line_id + len(order_lines), event_id + 1
    with transaction.atomic():
        copy_rows("orders_address", ADDRESS_COLUMNS, addresses)
        copy_rows("orders_order", ORDER_COLUMNS, orders)
        copy_rows("orders_orderline", LINE_COLUMNS, lines)
        copy_rows("orders_orderevent", EVENT_COLUMNS, events)
    with connection.cursor() as cursor:
        for table in ("orders_address", "orders_order", "orders_orderline", "orders_orderevent"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    return list(range(first.pk, order_id)), time.perf_counter() - started


def vacuum_analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in (
            "inventory_stocklevel",
            "inventory_stockmovement",
            "inventory_allocation",
            "orders_order",
            "orders_orderline",
            "orders_orderevent",
            "orders_address",
            "orders_customer",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


def fresh_data(args: argparse.Namespace, orders: int) -> tuple[Reference, list[int], float]:
    started = time.perf_counter()
    reference = create_stock(args.stock, args.daily_capacity)
    make_scarce(reference, args.scarce_stock)
    order_ids, _ = seed_orders(reference, orders, args.seed)
    vacuum_analyze()
    return reference, order_ids, time.perf_counter() - started


# --- the raw baseline: pgbench -----------------------------------------------
def find_pgbench() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)
    return str(candidates[0]) if candidates else None


def allocated_snapshot() -> tuple[list[int], list[int]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, allocated FROM inventory_stocklevel ORDER BY id")
        rows = cursor.fetchall()
    return [r[0] for r in rows], [r[1] for r in rows]


def restore_allocated(snapshot: tuple[list[int], list[int]]) -> None:
    from django.db import connection

    ids, allocated = snapshot
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_stocklevel l SET allocated = s.allocated "
            "FROM unnest(%s::int[], %s::int[]) AS s(id, allocated) WHERE l.id = s.id",
            [ids, allocated],
        )
    assert allocated_snapshot() == snapshot, "allocated was not restored"


def run_pgbench(binary: str, clients: int, seconds: int, script: Path) -> dict:
    from django.db import connection

    params = connection.settings_dict
    env = dict(os.environ)
    env.update(
        PGHOST=params["HOST"] or "127.0.0.1",
        PGPORT=str(params["PORT"] or 5432),
        PGUSER=params["USER"] or "postgres",
        PGDATABASE=params["NAME"],
    )
    if params["PASSWORD"]:
        env["PGPASSWORD"] = params["PASSWORD"]
    threads = max(1, min(clients, os.cpu_count() or 1))
    command = [binary, "-n", "-c", str(clients), "-j", str(threads), "-T", str(seconds), "-f", str(script)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    output = completed.stdout + completed.stderr
    tps = TPS_RE.search(output)
    if completed.returncode != 0 or tps is None:
        refuse(f"pgbench failed (exit {completed.returncode}):\n{output}")
    processed = PROCESSED_RE.search(output)
    failed = FAILED_RE.search(output)
    latency = LATENCY_RE.search(output)
    return {
        "clients": clients,
        "threads": threads,
        "seconds": seconds,
        "tps": float(tps.group(1)),
        "transactions": int(processed.group(1)) if processed else None,
        "failed": int(failed.group(1)) if failed else 0,
        "latency_ms": float(latency.group(1)) if latency else None,
    }


def pgbench_baseline(args: argparse.Namespace, level_ids: list[int], counts: list[int] | None = None) -> list[dict]:
    binary = find_pgbench()
    if binary is None:
        refuse("pgbench not found (PATH or /usr/lib/postgresql/*/bin)")
    low, high = min(level_ids), max(level_ids)
    if high - low + 1 != len(level_ids):
        print(f"Note: stock-level ids {low}..{high} have gaps; pgbench's misses change no row.")
    snapshot = allocated_snapshot()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-alloc-") as tmp:
        script = Path(tmp) / "reserve.sql"
        script.write_text(f"\\set id random({low}, {high})\n{PGBENCH_SQL}\n")
        for clients in counts or args.client_counts:
            restore_allocated(snapshot)
            print(f"pgbench: {clients} client(s), -T {args.pgbench_seconds}...", flush=True)
            busy = wait_until_quiet(args.quiet_wait)
            cpu_before = machine_cpu()
            result = run_pgbench(binary, clients, args.pgbench_seconds, script)
            cpu_after = machine_cpu()
            result["busy_before_pct"] = busy
            if cpu_before and cpu_after and cpu_after[1] > cpu_before[1]:
                result["machine_cpu_busy_pct"] = round(
                    100 * (cpu_after[0] - cpu_before[0]) / (cpu_after[1] - cpu_before[1]), 1
                )
            changed = sum(allocated_snapshot()[1]) - sum(snapshot[1])
            result["rows_changed"] = changed
            result["every_update_changed_a_row"] = changed == result["transactions"]
            results.append(result)
    restore_allocated(snapshot)
    return results


# The statements one allocation of a two-line order sends (see the profile's SQL listing), replayed by
# pgbench in one transaction with no Python in between: the ceiling of any client that keeps this
# statement shape. It leaves the data consistent: the writes rewrite existing values (the allocation
# upsert always hits the order's existing row), except the timeline notes it adds.
REPLAY_SQL = """\\set oid random({order_low}, {order_high})
\\set p1 random({product_low}, {product_high})
\\set p2 random({product_low}, {product_high})
BEGIN;
SELECT * FROM orders_order WHERE id = :oid LIMIT 21 FOR NO KEY UPDATE;
SELECT * FROM orders_orderline WHERE order_id = :oid ORDER BY id;
SELECT a.* FROM orders_address a JOIN orders_order o ON o.shipping_address_id = a.id WHERE o.id = :oid;
SELECT * FROM inventory_warehouse WHERE is_active ORDER BY id;
SELECT * FROM inventory_routingexclusion r JOIN inventory_warehouse w ON r.warehouse_id = w.id
  WHERE (r.channel_id = {channel} OR r.channel_id IS NULL)
  AND (r.destination_state = '' OR UPPER(r.destination_state) = 'NY');
SELECT * FROM inventory_stocklevel WHERE product_id IN (:p1, :p2) AND warehouse_id IN ({warehouses})
  ORDER BY id FOR NO KEY UPDATE;
SELECT * FROM inventory_safetystockrule WHERE channel_id = {channel};
SELECT * FROM inventory_allocation
  WHERE order_line_id IN (SELECT id FROM orders_orderline WHERE order_id = :oid) ORDER BY id;
INSERT INTO inventory_allocation (order_id, order_line_id, warehouse_id, product_id, quantity, created_at)
  SELECT order_id, order_line_id, warehouse_id, product_id, quantity, created_at FROM inventory_allocation
  WHERE order_id = :oid LIMIT 1
  ON CONFLICT (order_line_id, warehouse_id) DO UPDATE SET quantity = inventory_allocation.quantity RETURNING id;
UPDATE inventory_stocklevel SET allocated = allocated WHERE product_id IN (:p1, :p2) AND warehouse_id = {warehouse};
UPDATE orders_orderline SET quantity_allocated = quantity_allocated WHERE order_id = :oid;
UPDATE orders_order SET status = status, held_from_status = held_from_status, updated_at = now() WHERE id = :oid;
INSERT INTO orders_orderevent (order_id, kind, message, actor_id, actor_name, data, created_at)
  VALUES (:oid, 'note', 'pgbench replay', NULL, 'bench', '{{}}', now()) RETURNING id;
COMMIT;
"""


def replay_statements(args: argparse.Namespace, reference: Reference, order_ids: list[int]) -> list[dict]:
    """pgbench replaying the service's statement mix (no Python) with the target's client counts."""
    binary = find_pgbench()
    if binary is None:
        return []
    script_text = REPLAY_SQL.format(
        order_low=min(order_ids),
        order_high=max(order_ids),
        product_low=min(p.pk for p in reference.products),
        product_high=max(p.pk for p in reference.products),
        warehouses=", ".join(str(w.pk) for w in reference.warehouses),
        warehouse=reference.warehouses[0].pk,
        channel=reference.channel.pk,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-alloc-") as tmp:
        script = Path(tmp) / "replay.sql"
        script.write_text(script_text)
        for clients in sorted({1, args.target_workers, args.target_clients}):
            print(f"pgbench replay of the service's statements: {clients} client(s)...", flush=True)
            wait_until_quiet(args.quiet_wait)
            results.append(run_pgbench(binary, clients, args.pgbench_seconds, script))
    return results


# --- the service runs ----------------------------------------------------------
def quiet_worker_settings() -> None:
    """In a bench process: no DEBUG query log, no backorder-fill tasks (they are not what is measured)."""
    from django.conf import settings

    settings.DEBUG = False
    settings.INVENTORY_BACKORDER_FILL_TASK = ""


def worker_main(index: int, order_ids: list[int], barrier, results, batch: int = 1) -> None:
    """One worker process: its own Django and connection; allocates its slice after the barrier."""
    setup_django()
    quiet_worker_settings()
    logged = count_logged_problems()
    from django.db import connection

    from inventory import geo
    from orders.models import Order
    from orders.services import allocate_order, allocate_orders

    geo.coordinates_or_none("10001")  # load the ZIP index before the clock starts
    Order.objects.filter(pk=order_ids[0]).exists()  # connect, warm the ORM
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: list[str] = []
    barrier.wait()
    cpu_started, backend_started = time.process_time(), process_cpu(backend)
    for start in range(0, len(order_ids), batch):
        chunk = order_ids[start : start + batch]
        started = time.perf_counter()
        try:
            if batch == 1:
                statuses[str(allocate_order(order_id=chunk[0], actor=ACTOR).status)] += 1
            else:
                for order in allocate_orders(order_ids=chunk, actor=ACTOR):
                    statuses[str(order.status)] += 1
        except Exception as error:  # a deadlock or refusal is a finding, not a crash
            errors.append(f"orders {chunk[0]}..{chunk[-1]}: {type(error).__name__}: {error}")
        # per-order latency: a batch's time is shared by its orders
        latencies.extend([(time.perf_counter() - started) / len(chunk)] * len(chunk))
    cpu, backend_cpu = time.process_time() - cpu_started, process_cpu(backend) - backend_started
    results.put(
        {
            "worker": index,
            "latencies": latencies,
            "statuses": dict(statuses),
            "errors": errors,
            "cpu": cpu,
            "backend_cpu": backend_cpu,
            "logged_problems": logged.count,
            "logged_first": logged.first,
        }
    )
    connection.close()


ACTIVITY_SQL = """
    SELECT count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock'),
           count(*) FILTER (WHERE state = 'active' AND wait_event_type IS DISTINCT FROM 'Lock'),
           count(*) FILTER (WHERE state = 'idle in transaction'),
           count(*) FILTER (WHERE state = 'idle')
    FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
"""


@dataclass
class ServiceRun:
    workers: int
    orders: int
    seed_seconds: float = 0.0
    wall_seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    activity: dict = field(default_factory=dict)  # mean backends per state while running
    machine_cpu_busy_pct: float | None = None  # all CPUs, all processes (PostgreSQL included)
    worker_cpu_seconds: float = 0.0  # CPU time of the worker processes (Python and driver)
    backend_cpu_seconds: float = 0.0  # CPU time of their PostgreSQL backends
    busy_before_pct: float | None = None  # the machine's load just before the run (should be ~0)
    baseline_tps: list[float] = field(default_factory=list)  # pgbench at the target's clients, before and after
    logged_problems: int = 0  # warnings and errors the workers logged
    logged_first: list[str] = field(default_factory=list)

    @property
    def cpu_ms_per_order(self) -> tuple[float, float]:
        return (1000 * self.worker_cpu_seconds / self.orders, 1000 * self.backend_cpu_seconds / self.orders)

    verification: dict = field(default_factory=dict)
    check: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.orders / self.wall_seconds

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p95_ms(self) -> float:
        return p95(self.latencies_ms)

    @property
    def verified(self) -> bool:
        return (
            not self.errors
            and self.verification.get("ok", False)
            and self.check.get("error_findings", 1) == 0
            and sum(self.statuses.get(s, 0) for s in ("allocated", "backordered")) == self.orders
            and self.logged_problems == 0
        )

    def summary(self) -> dict:
        data = asdict(self)
        del data["latencies_ms"]
        data.update(
            orders_per_second=round(self.rate, 1),
            p50_ms=round(self.p50_ms, 2),
            p95_ms=round(self.p95_ms, 2),
            verified=self.verified,
            errors=self.errors[:20],
            cpu_ms_per_order={
                "worker": round(self.cpu_ms_per_order[0], 3),
                "backend": round(self.cpu_ms_per_order[1], 3),
            },
            error_count=len(self.errors),
        )
        return data


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process on this machine (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_quiet(max_wait: float) -> float | None:
    """Sample the machine's load each second until it is below BUSY_WARNING_PCT or `max_wait` seconds pass;
    returns the last sample (warns when still busy: another process skews the figures)."""
    deadline = time.monotonic() + max_wait
    busy = machine_busy_pct()
    announced = False
    while busy is not None and busy > BUSY_WARNING_PCT and time.monotonic() < deadline:
        if not announced:
            print(f"  the machine is {busy:.0f} % busy (other load); waiting up to {max_wait:.0f} s...", flush=True)
            announced = True
        busy = machine_busy_pct()
    if busy is not None and busy > BUSY_WARNING_PCT:
        print(f"  WARNING: the machine is still {busy:.0f} % busy; other load skews these figures", flush=True)
    return busy


def machine_busy_pct(seconds: float = 1.0) -> float | None:
    """How busy all CPUs are over `seconds` (other load on the machine skews a benchmark)."""
    before = machine_cpu()
    time.sleep(seconds)
    after = machine_cpu()
    if not before or not after or after[1] == before[1]:
        return None
    return round(100 * (after[0] - before[0]) / (after[1] - before[1]), 1)


def machine_cpu() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat (Linux), or None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def run_workers(workers: int, order_ids: list[int], run: ServiceRun, batch: int = 1) -> None:
    from django.db import connection

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(target=worker_main, args=(i, order_ids[i::workers], barrier, results, batch), daemon=True)
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=180)
    except Exception:
        for process in processes:
            process.kill()
        refuse("the workers did not reach the start barrier (see their errors above)")
    cpu_before = machine_cpu()
    started = time.perf_counter()
    collected: list[dict] = []
    samples: list[tuple] = []
    with connection.cursor() as cursor:
        while len(collected) < workers:
            try:
                collected.append(results.get(timeout=0.1))
                continue
            except queue.Empty:
                pass
            cursor.execute(ACTIVITY_SQL)
            samples.append(cursor.fetchone())
            if not any(p.is_alive() for p in processes) and results.empty():
                refuse(f"{workers - len(collected)} worker(s) died without a result")
    run.wall_seconds = time.perf_counter() - started
    cpu_after = machine_cpu()
    if cpu_before and cpu_after:
        busy, total = (after - before for after, before in zip(cpu_after, cpu_before, strict=True))
        run.machine_cpu_busy_pct = round(100 * busy / total, 1) if total else None
    for process in processes:
        process.join(timeout=30)
    statuses: Counter = Counter()
    for result in collected:
        run.latencies_ms.extend(t * 1000 for t in result["latencies"])
        statuses.update(result["statuses"])
        run.errors.extend(result["errors"])
        run.worker_cpu_seconds += result["cpu"]
        run.backend_cpu_seconds += result["backend_cpu"]
        run.logged_problems += result["logged_problems"]
        run.logged_first.extend(result["logged_first"])
    run.worker_cpu_seconds = round(run.worker_cpu_seconds, 2)
    run.backend_cpu_seconds = round(run.backend_cpu_seconds, 2)
    run.statuses = dict(statuses)
    if samples:
        names = ("waiting on a lock", "active", "idle in transaction", "idle")
        run.activity = {name: round(statistics.fmean(s[i] for s in samples), 2) for i, name in enumerate(names)} | {
            "samples": len(samples)
        }


def verify_stock() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inventory_stocklevel WHERE allocated > on_hand OR allocated < 0")
        over = cursor.fetchone()[0]
        cursor.execute("""
            SELECT count(*) FROM inventory_stocklevel l
            LEFT JOIN (SELECT warehouse_id, product_id, SUM(quantity) AS total FROM inventory_allocation
                       GROUP BY warehouse_id, product_id) a USING (warehouse_id, product_id)
            WHERE l.allocated <> COALESCE(a.total, 0)
        """)
        mismatched = cursor.fetchone()[0]
        cursor.execute("SELECT COALESCE(SUM(allocated), 0), COALESCE(SUM(on_hand), 0) FROM inventory_stocklevel")
        allocated, on_hand = cursor.fetchone()
        cursor.execute("SELECT count(*), COALESCE(SUM(quantity), 0) FROM inventory_allocation")
        allocation_rows, allocation_units = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM orders_orderline WHERE quantity_allocated < quantity "
            "AND order_id IN (SELECT id FROM orders_order WHERE status = 'allocated')"
        )
        short_allocated_lines = cursor.fetchone()[0]
    return {
        "over_allocated_levels": over,
        "levels_not_matching_allocations": mismatched,
        "allocated_orders_with_short_lines": short_allocated_lines,
        "units_allocated": allocated,
        "units_on_hand": on_hand,
        "allocation_rows": allocation_rows,
        "allocation_units": allocation_units,
        "ok": over == 0 and mismatched == 0 and short_allocated_lines == 0 and allocated == allocation_units,
    }


def inventory_check() -> dict:
    from inventory.models import InventoryFinding
    from inventory.services import run_inventory_check

    started = time.perf_counter()
    run = run_inventory_check(triggered_by=ACTOR, email=False)
    seconds = time.perf_counter() - started
    totals = run.summary.get("totals", {})
    severities = dict(
        InventoryFinding.objects.filter(run=run).values_list("kind", "severity").distinct().order_by("kind")
    )
    errors = sum(n for kind, n in totals.items() if severities.get(kind) == InventoryFinding.Severity.ERROR)
    return {
        "seconds": round(seconds, 3),
        "duration_ms": run.duration_ms,
        "error_findings": errors,
        "findings": {kind: n for kind, n in totals.items() if n},
    }


# --- profiling ---------------------------------------------------------------
def profile_one_worker(args: argparse.Namespace) -> dict:
    """One worker in this process, on fresh data, allocating as the workers do (``--batch`` orders a call):
    --profile-orders allocations timed (SQL, COMMIT and Python apart; the CPU of this process and of its
    PostgreSQL backend), then --profile-orders more under cProfile counting CPU time (not time waited)."""
    from django.db import connections

    from inventory import geo
    from orders.services import allocate_order, allocate_orders

    count = args.profile_orders
    print(
        f"\nProfiling one worker: {count} allocations timed, {count} more under cProfile (batches of {args.batch})...",
        flush=True,
    )
    _, order_ids, _ = fresh_data(args, 2 * count)
    timed_ids, profiled_ids = order_ids[:count], order_ids[count:]
    wait_until_quiet(args.quiet_wait)
    connection = connections["default"]
    spent = {"sql": 0.0, "statements": 0, "commit": 0.0}
    one: list[tuple[float, str]] = []
    recording = False

    def allocate(chunk: list[int]) -> None:
        if args.batch == 1:
            allocate_order(order_id=chunk[0], actor=ACTOR)
        else:
            allocate_orders(order_ids=chunk, actor=ACTOR)

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - started
            spent["sql"] += elapsed
            spent["statements"] += 1
            if recording:
                one.append((elapsed * 1000, sql))

    real_commit = connection._commit

    def timed_commit():
        started = time.perf_counter()
        try:
            return real_commit()
        finally:
            spent["commit"] += time.perf_counter() - started

    geo.coordinates_or_none("10001")  # load the ZIP index before the clock starts, as a worker does
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    chunks = [timed_ids[start : start + args.batch] for start in range(0, len(timed_ids), args.batch)]
    connection._commit = timed_commit
    try:
        started, cpu_started, backend_started = time.perf_counter(), time.process_time(), process_cpu(backend)
        with connection.execute_wrapper(timer):
            for n, chunk in enumerate(chunks):
                recording = n == len(chunks) // 2
                allocate(chunk)
        wall = time.perf_counter() - started
        cpu, backend_cpu = time.process_time() - cpu_started, process_cpu(backend) - backend_started
    finally:
        del connection._commit
    profiler = cProfile.Profile(time.process_time)
    for start in range(0, len(profiled_ids), args.batch):
        chunk = profiled_ids[start : start + args.batch]
        profiler.enable()
        allocate(chunk)
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(15)
    report = out.getvalue()
    report = report[report.find("   ncalls") :] if "   ncalls" in report else report
    per_order = 1000 / count
    return {
        "orders": count,
        "batch": args.batch,
        "orders_per_second": round(count / wall, 1),
        "ms_per_order": round(wall * per_order, 3),
        "cpu_ms_per_order": {"worker": round(cpu * per_order, 3), "backend": round(backend_cpu * per_order, 3)},
        "statements_per_order": round(spent["statements"] / count, 2),
        "sql_ms_per_order": round(spent["sql"] * per_order, 3),
        "commit_ms_per_order": round(spent["commit"] * per_order, 3),
        "python_ms_per_order": round((wall - spent["sql"] - spent["commit"]) * per_order, 3),
        "own_time_by_area_pct": time_by_area(stats),
        "top15_cumulative": report.rstrip(),
        "one_allocation_sql": [{"ms": round(ms, 3), "sql": " ".join(sql.split())} for ms, sql in one],
    }


AREAS = [
    ("psycopg (driver, socket waits)", ("/psycopg/", "/psycopg_binary/", "/psycopg_c/")),
    ("Django ORM (SQL compiler, query, models)", ("/django/db/",)),
    ("Django other (JSON encoder, timezone, ...)", ("/django/",)),
    ("app: orders/", (f"{PROJECT_ROOT}/orders/",)),
    ("app: inventory/", (f"{PROJECT_ROOT}/inventory/",)),
]


def time_by_area(stats: pstats.Stats) -> dict[str, float]:
    """The profile's own (tottime) seconds per code area, in percent."""
    totals: Counter = Counter()
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():
        area = next((name for name, parts in AREAS if any(p in filename for p in parts)), "Python stdlib and other")
        totals[area] += own
    everything = sum(totals.values()) or 1
    return {area: round(100 * seconds / everything, 1) for area, seconds in totals.most_common()}


# --- reporting ---------------------------------------------------------------
def print_profile(profile: dict, args: argparse.Namespace) -> None:
    print(
        f"  one process: {profile['orders_per_second']:,.1f} orders/s = "
        f"{profile['ms_per_order']:.2f} ms per order: "
        f"{profile['statements_per_order']} SQL statements taking {profile['sql_ms_per_order']:.2f} ms "
        f"(round trips included), COMMIT {profile['commit_ms_per_order']:.2f} ms, "
        f"Python {profile['python_ms_per_order']:.2f} ms; CPU ms per order: "
        f"worker {profile['cpu_ms_per_order']['worker']:.3f}, backend {profile['cpu_ms_per_order']['backend']:.3f}"
    )
    print("\nOwn time by code area (cProfile tottime):")
    for area, pct in profile["own_time_by_area_pct"].items():
        print(f"  {pct:5.1f} %  {area}")
    print("\nTop 15 by cumulative time:")
    print(profile["top15_cumulative"])
    print(f"\nThe SQL of one allocate{'_order' if args.batch == 1 else 's batch'} (ms around cursor.execute):")
    for statement in profile["one_allocation_sql"]:
        sql = SELECT_LIST_RE.sub("SELECT … FROM ", statement["sql"], count=1)
        print(f"  {statement['ms']:7.3f}  {sql[:160]}{'…' if len(sql) > 160 else ''}")


def print_pgbench(results: list[dict]) -> None:
    print(f"\nRaw baseline: pgbench -n -T <s>, one conditional UPDATE per transaction\n  {PGBENCH_SQL}")
    header = (
        f"{'clients':>7}  {'tps':>9}  {'latency ms':>10}  {'transactions':>12}  {'failed':>6}  {'CPU %':>5}  "
        "every UPDATE hit"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['clients']:>7}  {r['tps']:>9,.0f}  {r['latency_ms'] or 0:>10.3f}  {r['transactions'] or 0:>12,}  "
            f"{r['failed']:>6}  {r.get('machine_cpu_busy_pct') or 0:>5.0f}  "
            f"{'yes' if r['every_update_changed_a_row'] else 'NO'}"
        )


def print_runs(runs: list[ServiceRun], pgbench: dict[int, float], batch: int = 1) -> None:
    print(
        f"\nService: {'allocate_order' if batch == 1 else f'allocate_orders in batches of {batch}'} "
        "in N worker processes, disjoint order slices, one start barrier"
    )
    header = (
        f"{'workers':>7}  {'orders':>6}  {'wall s':>6}  {'orders/s':>8}  {'p50 ms':>6}  {'p95 ms':>6}  "
        f"{'alloc':>5}  {'backord':>7}  {'errors':>6}  {'lock-wait':>9}  {'idle-in-tx':>10}  {'CPU %':>5}  "
        f"{'CPU ms/order py+pg':>18}  "
        f"{'÷pgbench same n':>15}  {'check ms':>8}  {'check errors':>12}  verified"
    )
    print(header)
    print("-" * len(header))
    for r in runs:
        ratio = f"{r.rate / pgbench[r.workers]:.3f}" if r.workers in pgbench else "—"
        cpu = f"{r.machine_cpu_busy_pct:.0f}" if r.machine_cpu_busy_pct is not None else "—"
        print(
            f"{r.workers:>7}  {r.orders:>6}  {r.wall_seconds:>6.2f}  {r.rate:>8.1f}  "
            f"{r.p50_ms:>6.2f}  {r.p95_ms:>6.2f}  "
            f"{r.statuses.get('allocated', 0):>5}  {r.statuses.get('backordered', 0):>7}  {len(r.errors):>6}  "
            f"{r.activity.get('waiting on a lock', 0):>9.2f}  {r.activity.get('idle in transaction', 0):>10.2f}  "
            f"{cpu:>5}  {f'{r.cpu_ms_per_order[0]:.2f}+{r.cpu_ms_per_order[1]:.2f}':>18}  "
            f"{ratio:>15}  {r.check.get('duration_ms', 0):>8}  {r.check.get('error_findings', '?'):>12}  "
            f"{'yes' if r.verified else 'NO'}"
        )
    print(
        "  lock-wait / idle-in-tx: mean worker backends waiting on a row lock / idle inside a transaction\n"
        "  (the worker's Python running while its row locks are held), pg_stat_activity sampled every 100 ms;\n"
        "  CPU %: the whole machine busy (workers + PostgreSQL) during the run; CPU ms/order: the workers'\n"
        "  processes + their PostgreSQL backends, per order"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A queue of the run's own (the spawned workers inherit the environment); nothing consumes it.
    return run_on_private_broker("alloc", measure, args, before=quiet_worker_settings)


def measure(args: argparse.Namespace, logged: CountingHandler) -> int:
    import django
    from django.conf import settings

    machine = host()
    print(f"Host: {describe_host(machine)}", flush=True)
    pg_version = prepare_database(args.allow_any_database)
    print(f"Database {settings.DATABASES['default']['NAME']} (PostgreSQL {pg_version}) migrated.", flush=True)
    if args.profile_only:
        profile = profile_one_worker(args)
        print_profile(profile, args)
        results = {
            "benchmark": "allocation (profile only)",
            "host": machine,
            "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "git": git_revision(),
            "profile": profile,
            "logged_problems": logged.count,
        }
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"\nResults written to {args.output}")
        return 0 if logged.count == 0 or args.no_fail else 1

    # 1. The raw baseline, on the bench's stock levels before any allocation exists.
    reference = create_stock(args.stock, args.daily_capacity)
    pgbench = pgbench_baseline(args, reference.level_ids) if args.client_counts else []
    tps = {r["clients"]: r["tps"] for r in pgbench}

    # 2. The service, on fresh identical data per worker count.
    runs: list[ServiceRun] = []
    for workers in args.worker_counts:
        print(f"\nFresh data: {args.orders:,} orders...", flush=True)
        reference, order_ids, seed_seconds = fresh_data(args, args.orders)
        run = ServiceRun(workers=workers, orders=len(order_ids), seed_seconds=round(seed_seconds, 2))
        # The baseline right before and right after the run: the host's speed drifts within minutes.
        print(f"  ready in {seed_seconds:.1f} s. pgbench with {args.target_clients} clients first...", flush=True)
        bracket = pgbench_baseline(args, reference.level_ids, counts=[args.target_clients])
        print(f"  allocating with {workers} worker(s)...", flush=True)
        run.busy_before_pct = wait_until_quiet(args.quiet_wait)
        run_workers(workers, order_ids, run, args.batch)
        run.verification = verify_stock()
        run.check = inventory_check()
        print(
            f"  {run.rate:,.1f} orders/s; statuses {run.statuses}; errors {len(run.errors)}; "
            f"check {run.check['seconds']:.2f} s, {run.check['error_findings']} error finding(s)",
            flush=True,
        )
        for error in run.errors[:5]:
            print(f"    {error}")
        print(f"  pgbench with {args.target_clients} clients again, on fresh stock...", flush=True)
        reference = create_stock(args.stock, args.daily_capacity)
        bracket += pgbench_baseline(args, reference.level_ids, counts=[args.target_clients])
        run.baseline_tps = [result["tps"] for result in bracket]
        runs.append(run)
    # 3. Optionally: the service's statement mix without Python, on fresh orders.
    replay = replay_statements(args, *fresh_data(args, args.orders)[:2]) if args.replay else []

    versions = {"python": platform.python_version(), "django": django.get_version(), "postgresql": pg_version}
    git = git_revision()
    print()
    if git:
        dirty = f", {git['app_files_modified']} app file(s) modified" if git["app_files_modified"] else ""
        print(f"Commit {git['commit']}{dirty}")
    print(
        f"Python {versions['python']} · Django {versions['django']} · PostgreSQL {pg_version} · "
        f"{os.cpu_count()} CPUs · {len(WAREHOUSES)} warehouses × {SKU_COUNT} SKUs ({HOT_SKUS} hot, 1 scarce) · "
        f"{args.stock:,} units per level"
    )
    if pgbench:
        print_pgbench(pgbench)
    print_runs(runs, tps, args.batch)
    for r in runs:
        if not r.verified:
            print(f"\nFAILED CHECK with {r.workers} worker(s): verification {r.verification}, check {r.check}")

    by_workers = {r.workers: r for r in runs}
    target_run = by_workers.get(args.target_workers)
    raw_rates = target_run.baseline_tps if target_run else []
    raw = statistics.fmean(raw_rates) if raw_rates else None
    ratio = target_run.rate / raw if target_run and raw else None
    ratios = [
        Ratio(
            f"allocate_orders, {r.workers} worker(s)",
            r.rate,
            statistics.fmean(r.baseline_tps),
            "orders/s",
            f"pgbench UPDATE tps at {args.target_clients} clients (mean of "
            f"{' and '.join(f'{rate:,.0f}' for rate in r.baseline_tps)}, right before and after)",
            args.target_ratio if r.workers == args.target_workers else None,
        )
        for r in runs
    ]
    targets = [
        {
            "target": f"service with {args.target_workers} workers >= {args.target_ratio:g} × pgbench "
            f"{args.target_clients} clients",
            "passed": ratio is not None and ratio >= args.target_ratio,
            "detail": (
                f"{target_run.rate:,.1f} orders/s / {raw:,.0f} tps (pgbench "
                f"{' and '.join(f'{rate:,.0f}' for rate in raw_rates)}) = {ratio:.3f} "
                f"(needs {args.target_ratio * raw:,.0f} orders/s)"
                if ratio is not None
                else "not measured (worker or client count not in the run)"
            ),
        },
        {
            "target": "every run verified (all orders routed, no errors, stock consistent, 0 check errors, "
            "no warning or error logged by a worker)",
            "passed": all(r.verified for r in runs),
            "detail": ", ".join(
                f"{r.workers}w {'ok' if r.verified else 'FAILED'} ({r.logged_problems} logged)" for r in runs
            ),
        },
    ]
    if replay:
        print("\nThe service's 13 statements + COMMIT of one allocation replayed by pgbench, no Python:")
        for r in replay:
            share = (
                f" = {r['tps'] / tps[args.target_clients]:.3f} of the raw rate" if args.target_clients in tps else ""
            )
            print(f"  {r['clients']:>2} client(s): {r['tps']:,.0f} tps{share}")
    for r in runs:
        for line in r.logged_first:
            print(f"  logged by a worker ({r.workers}w): {line}")
    print_ratios(ratios)
    print("\nRatios service orders/s ÷ the first pgbench sweep's tps:")
    for r in runs:
        if r.workers in tps:
            print(f"  {r.workers:>2} workers vs {r.workers:>2} clients: {r.rate / tps[r.workers]:.3f}")
        if args.target_clients in tps:
            print(
                f"  {r.workers:>2} workers vs {args.target_clients:>2} clients: {r.rate / tps[args.target_clients]:.3f}"
            )

    profile = None
    if args.profile or (not args.no_profile and not targets[0]["passed"]):
        profile = profile_one_worker(args)
        print_profile(profile, args)

    targets.append(
        {
            "target": "no warning or error logged by this process",
            "passed": logged.count == 0,
            "detail": f"{logged.count} logged" + (f": {logged.first}" if logged.first else ""),
        }
    )
    print("\nTargets:")
    for target in targets:
        print(f"  {'PASS' if target['passed'] else 'FAIL'}  {target['target']} ({target['detail']})")
    passed = all(t["passed"] for t in targets)
    results = {
        "benchmark": "allocation",
        "host": machine,
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": versions,
        "cpus": os.cpu_count(),
        "git": git,
        "parameters": {k: v for k, v in vars(args).items() if k not in {"output", "worker_counts", "client_counts"}},
        "pgbench": pgbench,
        "ratios": [r.summary() for r in ratios],
        "replay": replay,
        "runs": [r.summary() for r in runs],
        "ratio": ratio,
        "profile": profile,
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
