"""Order intake benchmark: orders per second through POST /api/v1/orders on PostgreSQL, routed by a Celery worker.

What it measures
    gunicorn (production settings; ``--workers`` processes of ``--threads``
    threads each, the production shape (docs/operations/production.md): gthread workers keep the
    clients' connections alive; ``--threads 1`` is the sync worker, a new
    connection per request) serving the channel API, with ``--clients``
    keep-alive HTTP client threads POSTing ``--orders`` distinct orders (1–3
    lines of 200 SKUs, to ZIP codes all over the US, a channel API key on
    every request). Each accepted request has, before it answers 201:
    checked the key, validated the payload (ZIP, SKUs, currency), written
    customer, addresses, order, lines, the intake record, the timeline event
    and the confirmation's outbox row (one statement), and woken the routing
    drain and the sending drain (a Redis flag each; a task is published only
    when no drain is queued). One ``celery worker`` (``--pool solo`` or
    ``--concurrency`` prefork processes) routes the waiting orders in
    batches to the nearest warehouse that holds their stock and reserves it,
    writing the allocations, the timeline and the "in process" outbox rows.
    The emails' send tasks go to their own queue (``NOTIFICATIONS_QUEUE``,
    as in production), which no worker here consumes: sending is measured by
    ``bench/notifications.py``. With ``--send`` the one worker sends them too
    (to EMAIL_URL=dummymail://), as the embedded shape's single worker does.

    The database starts as a live system's does, with ``--history`` orders
    (20,000, delivered) and their customers already in it, so that the run
    writes into tables of some size (see ``seed_history``).

    Reported:
    - accepted/s: 201 answers per second while the clients run;
    - routed/s, end to end: orders from the first POST until the last
      one has left ``received`` (allocated or backordered);
    - latency of the POST (median, p95);
    - CPU milliseconds per order of each part (from /proc): gunicorn, all
      of PostgreSQL, the Celery worker, and this script's HTTP clients.
    ``--inline`` instead routes inside each request (Celery eager): the POST
    answers only once the order is allocated.

Every order is checked afterwards: as many orders as 201s, none still
``received``, one confirmation row per order, the stock invariant intact.

Target: 200 orders/s end to end on the 2-core machine (exit 1 when missed,
unless ``--no-fail``).

The script refuses anything but PostgreSQL (exit 2), and any database but
``oms_bench_intake`` unless ``--allow-any-database`` (it truncates the
orders, inventory, shipping and notifications tables). Redis is
``CELERY_BROKER_URL`` (default ``redis://127.0.0.1:6379/7``), on a queue of
the run's own. Results go to ``bench/results/intake.json``.

    make bench-intake
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oms_bench_intake .venv/bin/python bench/intake.py
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from _common import PROJECT_ROOT, WAREHOUSES, git_revision, prepare_database, refuse, setup_django, truncate_tables

DATABASE = "oms_bench_intake"
DEFAULT_BROKER = "redis://127.0.0.1:6379/7"
RESULTS_PATH = PROJECT_ROOT / "bench" / "results" / "intake.json"
SKUS = 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=4000)
    parser.add_argument(
        "--history", type=int, default=20_000, help="orders already in the database (delivered) before the run"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (1: sync worker)")
    parser.add_argument("--clients", type=int, default=8, help="HTTP client threads")
    parser.add_argument("--concurrency", type=int, default=1, help="celery worker: 1 = solo pool, N = prefork")
    parser.add_argument("--inline", action="store_true", help="route inside the request (Celery eager), no worker")
    parser.add_argument(
        "--send", action="store_true", help="the one worker also sends the emails (dummy backend), as `make run` does"
    )
    parser.add_argument("--target", type=float, default=200.0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--allow-any-database", action="store_true")
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()

    queue = f"bench-intake-{uuid.uuid4().hex[:8]}"
    os.environ.setdefault("CELERY_BROKER_URL", DEFAULT_BROKER)
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    if args.send:
        os.environ.pop("NOTIFICATIONS_QUEUE", None)
    else:  # as in production, email has its own queue; its workers are bench/notifications.py's subject
        os.environ["NOTIFICATIONS_QUEUE"] = f"{queue}-mail"
    os.environ["EMAIL_URL"] = "dummymail://"
    if not args.inline and not os.environ["CELERY_BROKER_URL"].startswith("redis://"):
        refuse("this benchmark runs the worker on Redis: set CELERY_BROKER_URL=redis://...")
    setup_django()
    server_version = prepare_database(args.allow_any_database, expected=DATABASE)
    key, skus = load(history=args.history)
    rng = random.Random(5)
    zips = postal_codes(rng)
    # encoded before the clock starts
    payloads = [json.dumps(order_payload(n, rng, skus, zips)).encode() for n in range(args.orders)]
    warm = [json.dumps(order_payload(args.orders + n, rng, skus, zips)).encode() for n in range(100)]

    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "CELERY_TASK_ALWAYS_EAGER": "true" if args.inline else "false",
    }
    # the servers' stderr, read back (and closed) by logged_problems
    logs = {part: tempfile.TemporaryFile("w+") for part in ("gunicorn", "celery_worker")}  # noqa: SIM115
    processes = [start_gunicorn(env, args.workers, args.threads, logs["gunicorn"])]
    if not args.inline:
        processes.append(start_worker(env, queue, args.concurrency, logs["celery_worker"]))
    try:
        wait_for_http()
        post_all(warm, key, clients=args.clients)  # warm: connections, ZIP index, code paths
        wait_until_routed(timeout=args.timeout)
        cpu_before = cpu_by_part(processes)
        started = time.perf_counter()
        posted = post_all(payloads, key, clients=args.clients)
        posted_at = time.perf_counter()
        routed_at = wait_until_routed(timeout=args.timeout)
        cpu_after = cpu_by_part(processes)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        problems = logged_problems(logs)  # copied to our stderr however the run ended
    check(args.orders + len(warm), posted)
    purge(queue)
    latencies = sorted(posted["latencies_ms"])
    result = {
        "benchmark": "intake",
        "orders": args.orders,
        "mode": "inline (routed in the request)" if args.inline else "Celery worker routes after commit",
        "gunicorn_workers": args.workers,
        "gunicorn_threads": args.threads,
        "clients": args.clients,
        "celery_worker": None if args.inline else ("solo" if args.concurrency == 1 else f"prefork {args.concurrency}"),
        "emails_sent_by_the_worker": args.send,
        "accepted_per_second": round(args.orders / (posted_at - started), 1),
        "routed_per_second_end_to_end": round(args.orders / (routed_at - started), 1),
        "post_median_ms": round(statistics.median(latencies), 1),
        "post_p95_ms": round(latencies[int(len(latencies) * 0.95)], 1),
        "seconds": round(routed_at - started, 1),
        "cpu_ms_per_order": {
            part: round((cpu_after[part] - cpu_before[part]) * 1000 / args.orders, 2) for part in cpu_after
        },
        "statuses": posted["statuses"],
        "logged_warnings_and_errors": problems,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "postgresql": server_version},
        **git_revision(),
    }
    RESULTS_PATH.parent.mkdir(exist_ok=True)
    RESULTS_PATH.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    met = result["routed_per_second_end_to_end"] >= args.target
    if any(problems.values()):
        print(f"the servers logged warnings or errors (above): {problems}", file=sys.stderr)
        met = False
    print(
        f"{result['routed_per_second_end_to_end']} orders/s routed end to end "
        f"({result['accepted_per_second']} accepted/s); target {args.target}: {'met' if met else 'MISSED'}"
    )
    return 0 if met or args.no_fail else 1


def load(*, history: int) -> tuple[str, list[str]]:
    """Four warehouses with plenty of stock of 200 SKUs, one channel and its key, ``history`` past orders."""
    from _common import copy_rows
    from django.db import connection, transaction
    from django.utils import timezone

    from inventory.models import Product, StockLevel, StockMovement, Warehouse
    from orders.models import Channel
    from orders.services.channels import issue_api_key

    truncate_tables(("inventory", "orders", "shipping", "notifications"))
    now = timezone.now()
    with transaction.atomic():
        for code, name, city, state, zip_code in WAREHOUSES:
            warehouse = Warehouse(code=code, name=name, city=city, state=state, postal_code=zip_code)
            warehouse.locate()
            warehouse.save()
        Product.objects.bulk_create(
            Product(sku=f"SKU-{n:04d}", name=f"Product {n}", price=f"{10 + n % 90}.00") for n in range(SKUS)
        )
        levels = [
            (w, p, 1_000_000, 0, 5, "", now)
            for w in Warehouse.objects.values_list("pk", flat=True)
            for p in Product.objects.values_list("pk", flat=True)
        ]
        copy_rows(
            StockLevel._meta.db_table,
            ["warehouse_id", "product_id", "on_hand", "allocated", "reorder_point", "bin_location", "updated_at"],
            levels,
        )
        copy_rows(  # the ledger sums to on_hand, as the invariant wants
            StockMovement._meta.db_table,
            ["warehouse_id", "product_id", "kind", "quantity", "reason", "reference", "actor_name", "created_at"],
            ((w, p, "receipt", q, "", "bench", "bench", now) for w, p, q, *_ in levels),
        )
        channel = Channel.objects.create(code="bench-web", name="Bench web store")
        _, key = issue_api_key(channel_id=channel.pk, name="bench", actor="bench")
        seed_history(history, channel_id=channel.pk)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return key, list(Product.objects.order_by("sku").values_list("sku", flat=True))


def seed_history(orders: int, *, channel_id: int) -> None:
    """Orders placed before the run, as a live system has: delivered, a line and a ``placed`` event each, from
    past customers (one in four orders) other than the run's, whose orders are all new customers' as before.

    Without them the run would write into empty tables; PostgreSQL plans a
    connection's prepared statements (the intake's, and its own foreign-key
    checks) once, and plans made for a nearly empty table (a sequential scan)
    would stay while it grows. On a live system the tables are large, and
    autovacuum's ANALYZE replans as they grow.
    """
    from django.conf import settings
    from django.db import connection

    if orders <= 0:
        return
    customers = max(1, orders // 4)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders_customer (name, email, phone, accepts_marketing, created_at) "
            "SELECT 'Past customer ' || g, 'past' || g || '@example.com', '', false, now() - interval '400 days' "
            "FROM generate_series(1, %s) AS g",
            [customers],
        )
        cursor.execute(
            "INSERT INTO orders_address (customer_id, name, company, line1, line2, city, state, postal_code, "
            "country, phone) SELECT id, name, '', '1 Main St', '', 'Columbus', 'OH', '43215', 'US', '' "
            "FROM orders_customer ORDER BY id"
        )
        cursor.execute(
            "WITH a AS (SELECT id, customer_id, row_number() OVER (ORDER BY id) - 1 AS n FROM orders_address), "
            "s AS (SELECT nextval(pg_get_serial_sequence('orders_order', 'id')) AS id, g "
            "FROM generate_series(1, %s) AS g) "
            "INSERT INTO orders_order (id, number, channel_id, external_id, customer_id, shipping_address_id, "
            "billing_address_id, status, held_from_status, currency, subtotal, shipping_total, tax_total, "
            "discount_total, grand_total, placed_at, updated_at, payment_gateway, payment_token) "
            "SELECT s.id, %s || lpad(s.id::text, 7, '0'), %s, 'PAST-' || s.g, a.customer_id, a.id, a.id, "
            "'delivered', '', 'USD', 19.99, 4.99, 0, 0, 24.98, now() - make_interval(mins => %s - s.g), now(), '', '' "
            "FROM s JOIN a ON a.n = s.g %% %s",
            [orders, settings.ORDER_NUMBER_PREFIX, channel_id, orders, customers],
        )
        cursor.execute(
            "WITH p AS (SELECT id, sku, name, row_number() OVER (ORDER BY id) - 1 AS n FROM inventory_product) "
            "INSERT INTO orders_orderline (order_id, product_id, sku, name, quantity, unit_price, "
            "quantity_allocated, quantity_shipped, quantity_returned) "
            "SELECT o.id, p.id, p.sku, p.name, 1, 19.99, 0, 1, 0 FROM orders_order AS o "
            "JOIN p ON p.n = o.id % (SELECT count(*) FROM p)"
        )
        cursor.execute(
            "INSERT INTO orders_orderevent (order_id, kind, message, actor_name, data, created_at) "
            "SELECT id, 'placed', 'Order placed on Bench web store as ' || external_id || '.', 'bench', '{}', "
            "placed_at FROM orders_order"
        )


def postal_codes(rng: random.Random) -> list[str]:
    from inventory.geo import _us_index

    codes = sorted(_us_index())
    return rng.sample(codes, 2000)


def order_payload(n: int, rng: random.Random, skus: list[str], zips: list[str]) -> dict:
    name = f"Customer {n % 5000}"
    return {
        "external_id": f"BENCH-{n:07d}",
        "customer": {"name": name, "email": f"customer{n % 5000}@example.com"},
        "shipping_address": {
            "name": name,
            "line1": f"{rng.randint(1, 999)} Main St",
            "city": "Somewhere",
            "state": "",
            "postal_code": rng.choice(zips),
            "country": "US",
        },
        "lines": [
            {"sku": sku, "quantity": rng.randint(1, 3), "unit_price": "19.99"}
            for sku in rng.sample(skus, rng.randint(1, 3))
        ],
        "currency": "USD",
        "shipping_total": "4.99",
    }


def cpu_by_part(processes: list[subprocess.Popen]) -> dict[str, float]:
    """CPU seconds used so far by gunicorn (master and workers), the Celery worker, PostgreSQL and this script."""
    gunicorn = [processes[0].pid, *children(processes[0].pid)]
    parts = {
        "gunicorn": sum(cpu_seconds(pid) for pid in gunicorn),
        "postgresql": sum(cpu_seconds(pid) for pid in pids_named("postgres")),
        "bench_clients": time.process_time(),
    }
    if len(processes) > 1:
        parts["celery_worker"] = sum(cpu_seconds(pid) for pid in [processes[1].pid, *children(processes[1].pid)])
    return parts


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def start_gunicorn(env: dict, workers: int, threads: int, log) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    # sync workers close the connection after each response; gthread workers keep it alive
    shape = ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    return subprocess.Popen(  # noqa: S603 - fixed argv
        [str(gunicorn), "oms_site.wsgi", "-w", str(workers), *shape, "-b", "127.0.0.1:8766", "--log-level", "warning"],
        cwd=PROJECT_ROOT,
        env=env,
        stderr=log,
    )


def start_worker(env: dict, queue: str, concurrency: int, log) -> subprocess.Popen:
    pool = ["--pool=solo"] if concurrency == 1 else ["--pool=prefork", f"--concurrency={concurrency}"]
    argv = [sys.executable, "-m", "celery", "-A", "oms_site", "worker", *pool, "-Q", queue]
    return subprocess.Popen(  # noqa: S603 - fixed argv
        [*argv, "--without-mingle", "--without-gossip", "-l", "WARNING"],
        cwd=PROJECT_ROOT,
        env=env,
        stderr=log,
    )


# A log record at WARNING or above ("2026-11-25 19:50:21,600 WARNING oms_core.wakeups: ...", Celery's
# "[2026-11-25 19:50:21,600: WARNING/MainProcess] ...") or an uncaught traceback. Python's warnings
# (Celery's root SecurityWarning, a missing staticfiles directory) are not records and do not count.
PROBLEM = re.compile(r"^\[?\d{4}-\d\d-\d\d [\d:,]+:? (WARNING|ERROR|CRITICAL)\b|^Traceback ")


def logged_problems(logs: dict) -> dict[str, int]:
    """Each server's standard error, copied to ours; how many warnings, errors and tracebacks each logged."""
    counts = {}
    for part, log in logs.items():
        log.seek(0)
        text = log.read()
        log.close()
        sys.stderr.write(text)
        counts[part] = sum(1 for line in text.splitlines() if PROBLEM.match(line))
    return counts


def wait_for_http() -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", 8766, timeout=1)
            connection.request("GET", "/api/v1/openapi.json")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    refuse("gunicorn did not start")


def post_all(bodies: list[bytes], key: str, *, clients: int) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", 8766, timeout=30)
        mine, codes = [], {}
        for body in bodies[index::clients]:
            start = time.perf_counter()
            connection.request("POST", "/api/v1/orders", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - start) * 1000)
            codes[response.status] = codes.get(response.status, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if set(statuses) != {201}:
        refuse(f"not every order was accepted: {statuses}")
    return {"latencies_ms": latencies, "statuses": statuses}


def wait_until_routed(*, timeout: float) -> float:
    """Poll until no order is left 'received'; return the moment it was seen."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM orders_order WHERE status = 'received'")
            if cursor.fetchone()[0] == 0:
                return time.perf_counter()
        time.sleep(0.05)
    refuse("orders were still waiting to be routed at the timeout")


def purge(queue: str) -> None:
    """Leave nothing of the run in Redis: its queues (email tasks no worker here took), bindings and flags."""
    import redis

    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    keys = list(client.scan_iter(match=f"*{queue}*"))
    if keys:
        client.delete(*keys)


def check(expected: int, posted: dict) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(  # the run's orders, not the history's
            "SELECT count(*), count(*) FILTER (WHERE status = 'allocated') FROM orders_order "
            "WHERE external_id NOT LIKE 'PAST-%%'"
        )
        orders, allocated = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM notifications_message WHERE event = 'order_received'")
        confirmations = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM inventory_stocklevel WHERE allocated > on_hand OR allocated < 0")
        broken = cursor.fetchone()[0]
    if orders != expected or allocated != expected or confirmations != expected or broken:
        refuse(
            f"check failed: {orders} orders, {allocated} allocated, {confirmations} confirmations, {broken} bad levels"
        )


if __name__ == "__main__":
    sys.exit(main())
