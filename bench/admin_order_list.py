"""Benchmark of the admin order list (``/admin/orders/order/``) on a million orders.

What it measures
    The server-side time of a full request to the order console's list page,
    through Django's test client (URL routing, middleware, session and auth,
    the ChangeList's queries, template rendering; no network and no browser),
    for these scenarios:

    * default list         ``/admin/orders/order/``
    * status filter        ``?status__exact=on_hold`` (few rows) and ``?status__exact=delivered`` (most rows)
    * search by name       ``?q=smith``
    * search by number     ``?q=<the digits of the order in the middle of the id range>`` (a whole number opens it)

    Each scenario gets warm-up requests, then ``--repeat`` timed requests
    (``time.perf_counter`` around ``client.get()``). Reported per scenario: the
    median, p95 (sorted-index: the ceil(0.95 n)-th fastest) and min time, the
    SQL queries of one request, and whether any of them is a full-table
    ``COUNT(*)`` over ``orders_order`` (a COUNT with no WHERE clause).

    The baseline, in the same run: the read statements of one request of each
    scenario (the SQL text Django sent, literals in place), sent again
    ``--repeat`` times over a bare psycopg connection with every row fetched:
    what the database and its round trips cost for that page on this host
    today. Each page is reported as a ratio to it (bare SQL ms ÷ page ms: the
    database's share of the request; the rest is Django).

Targets (exit code 1 when one fails, unless ``--no-fail``)
    * default list median <= 60 ms (``--target-ms``): a person waits for this
      page, so its budget is in milliseconds; the ratio to the bare SQL is
      reported beside it, to compare hosts;
    * no full-table ``COUNT(*)`` over orders_order in any scenario;
    * the default list issues the same number of queries on every timed request;
    * nothing logged at WARNING or above.

Before measuring, the script refuses anything but PostgreSQL (exit 2),
creates the database when it is missing and migrates it, tops it up to
``--min-orders`` orders with ``orders.demo_data.seed_demo`` (timed: that is
the scale-seed figure; ``--no-seed`` exits 2 instead), makes sure a
superuser ``bench`` exists, and runs VACUUM ANALYZE on the order,
customer and order-line tables so that the planner statistics are fresh.

Seeding queues the demo story's emails and labels after commit: they go to
Redis (``CELERY_BROKER_URL``, default ``redis://127.0.0.1:6379/13``) on a queue
of the run's own, which nothing consumes and which is deleted at the end. A
warning or an error logged by the run fails it.

Results are printed as a table and written to ``bench/results/admin_order_list.json``.

Run it (``make bench`` does exactly this)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oms_bench .venv/bin/python bench/admin_order_list.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from _common import (
    PROJECT_ROOT,
    Ratio,
    captured_reads,
    describe_host,
    git_revision,
    host,
    p95,
    prepare_database,
    print_ratios,
    refuse,
    replay_bare,
    run_on_private_broker,
)

RESULTS_PATH = PROJECT_ROOT / "bench" / "results" / "admin_order_list.json"
BENCH_DATABASE = "oms_bench"
LIST_URL = "/admin/orders/order/"
DEFAULT_LIST = "default list"
VACUUM_TABLES = ("orders_order", "orders_customer", "orders_orderline")

# A COUNT(*) that reads orders_order (not orders_orderline, orders_orderevent...).
COUNT_RE = re.compile(r"\bCOUNT\s*\(\s*\*\s*\)", re.IGNORECASE)
ORDER_TABLE_RE = re.compile(r"""\bFROM\s+"?orders_order"?(?![\w])""", re.IGNORECASE)
WHERE_RE = re.compile(r"\bWHERE\b", re.IGNORECASE)
# For display only: a long SELECT column list shortened to "SELECT … FROM".
SELECT_LIST_RE = re.compile(r"^SELECT .{80,}? FROM ")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the admin order list on PostgreSQL with ~1,000,000 orders.",
        epilog="Needs DATABASE_URL pointing at PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/oms_bench",
    )
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per scenario (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed warm-up requests per scenario (default 5)")
    parser.add_argument(
        "--min-orders",
        type=int,
        default=1_000_000,
        help="seed orders up to this many before measuring (default 1,000,000)",
    )
    parser.add_argument("--no-seed", action="store_true", help="exit 2 instead of seeding when orders are missing")
    parser.add_argument("--seed", type=int, default=1, help="random seed passed to seed_demo (default 1)")
    parser.add_argument("--target-ms", type=float, default=60.0, help="default-list median target (default 60 ms)")
    parser.add_argument("--no-fail", action="store_true", help="always exit 0, even when a target fails")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help=f"JSON results file (default {RESULTS_PATH})")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0 or args.min_orders < 0:
        parser.error("--repeat must be >= 1, --warmup and --min-orders >= 0")
    return args


# --- preparation -------------------------------------------------------------
def order_count() -> tuple[int, bool]:
    """(orders, is_estimate): the planner's estimate, or an exact COUNT when there is none."""
    from orders.models import Order
    from orders.selectors import estimated_row_count

    estimate = estimated_row_count(Order)
    if estimate is None:
        return Order.objects.count(), False
    return estimate, True


def ensure_orders(args: argparse.Namespace) -> dict | None:
    """Seed up to --min-orders orders; returns what was seeded and how long it took, or None."""
    from orders.models import Order

    count, is_estimate = order_count()
    if count >= args.min_orders:
        print(f"Orders: {count:,} ({'estimate' if is_estimate else 'exact'}) >= {args.min_orders:,}; no seeding.")
        return None
    if is_estimate:
        # reltuples is sampled after ANALYZE; count exactly before adding rows for good.
        count = Order.objects.count()
        if count >= args.min_orders:
            print(f"Orders: {count:,} (exact; the estimate was low) >= {args.min_orders:,}; no seeding.")
            return None
    missing = args.min_orders - count
    if args.no_seed:
        refuse(f"the database holds {count:,} orders, fewer than --min-orders {args.min_orders:,}, and --no-seed")

    from orders.demo_data import seed_demo

    print(f"Orders: {count:,}, below {args.min_orders:,}; seeding {missing:,} more (seed={args.seed})...", flush=True)
    started = time.perf_counter()
    result = seed_demo(orders=missing, seed=args.seed)
    seconds = time.perf_counter() - started
    print(
        f"Seeded {result.orders:,} orders, {result.lines:,} lines, {result.events:,} events and "
        f"{result.customers:,} customers in {seconds:.1f} s "
        f"(scale seed: {result.orders / seconds:,.0f} orders/s)."
    )
    return {"orders": result.orders, "seconds": round(seconds, 2), "seed": args.seed}


def ensure_bench_user():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench")
    user.is_staff = True
    user.is_superuser = True
    user.is_active = True
    user.set_unusable_password()  # a random, unusable hash: the benchmark only uses force_login
    user.save()
    return user


def vacuum_analyze() -> None:
    """Fresh planner statistics. VACUUM cannot run in a transaction; Django's autocommit is on."""
    from django.db import connection

    assert connection.get_autocommit(), "VACUUM needs autocommit"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in VACUUM_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"VACUUM ANALYZE {', '.join(VACUUM_TABLES)}: done in {time.perf_counter() - started:.1f} s.")


def median_order_number() -> str:
    """The number of the order in the middle of the id range (an index lookup, not an OFFSET)."""
    from django.db.models import Max, Min

    from orders.models import Order

    bounds = Order.objects.aggregate(low=Min("pk"), high=Max("pk"))
    middle = (bounds["low"] + bounds["high"]) // 2
    number = (
        Order.objects.filter(pk__gte=middle, number__isnull=False).order_by("pk").values_list("number", flat=True)
    ).first()
    if number is None:
        refuse("found no order with a number to search for")
    return number


# --- measuring ---------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    url: str
    timings_ms: list[float] = field(default_factory=list)
    query_counts: list[int] = field(default_factory=list)
    queries: list[dict] = field(default_factory=list)  # the SQL of one (profiled) request
    full_table_counts: list[str] = field(default_factory=list)
    bare_sql_ms: list[float] = field(default_factory=list)  # the baseline: its reads over bare psycopg

    @property
    def median_ms(self) -> float:
        return statistics.median(self.timings_ms)

    @property
    def p95_ms(self) -> float:
        return p95(self.timings_ms)

    @property
    def bare_median_ms(self) -> float:
        return statistics.median(self.bare_sql_ms)

    @property
    def min_ms(self) -> float:
        return min(self.timings_ms)

    @property
    def queries_per_request(self) -> int:
        return self.query_counts[-1]

    @property
    def query_count_constant(self) -> bool:
        return len(set(self.query_counts)) == 1

    def summary(self) -> dict:
        data = asdict(self)
        data.update(
            median_ms=round(self.median_ms, 2),
            p95_ms=round(self.p95_ms, 2),
            min_ms=round(self.min_ms, 2),
            queries_per_request=self.queries_per_request,
            query_count_constant=self.query_count_constant,
            full_table_count=bool(self.full_table_counts),
            timings_ms=[round(t, 3) for t in self.timings_ms],
            bare_sql_ms=[round(t, 3) for t in self.bare_sql_ms],
            bare_sql_median_ms=round(self.bare_median_ms, 3),
        )
        return data


def is_full_table_count(sql: str) -> bool:
    """A COUNT(*) reading orders_order with no WHERE clause anywhere in the statement."""
    return bool(COUNT_RE.search(sql) and ORDER_TABLE_RE.search(sql) and not WHERE_RE.search(sql))


def run_scenario(client, scenario: Scenario, *, warmup: int, repeat: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(warmup):
        response = client.get(scenario.url)
        assert response.status_code == 200, f"{scenario.url}: HTTP {response.status_code}"
    full_table_counts: set[str] = set()
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(scenario.url)
            elapsed = time.perf_counter() - started
        assert response.status_code == 200, f"{scenario.url}: HTTP {response.status_code}"
        scenario.timings_ms.append(elapsed * 1000)
        scenario.query_counts.append(len(captured.captured_queries))
        full_table_counts.update(q["sql"] for q in captured.captured_queries if is_full_table_count(q["sql"]))
    scenario.full_table_counts = sorted(full_table_counts)
    scenario.queries = profile_request(client, scenario.url)
    response, reads = captured_reads(client.get, scenario.url)
    assert response.status_code == 200, f"{scenario.url}: HTTP {response.status_code}"
    scenario.bare_sql_ms = replay_bare([reads], repeat=repeat, warmup=warmup)


def profile_request(client, url: str) -> list[dict]:
    """One more (untimed) request: its SQL, each statement timed to the microsecond.

    CaptureQueriesContext rounds durations to whole milliseconds, so an execute
    wrapper times the statements; both see the same statements in the same order.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    durations: list[float] = []

    def timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            durations.append(time.perf_counter() - started)

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
        response = client.get(url)
    assert response.status_code == 200, f"{url}: HTTP {response.status_code}"
    queries = captured.captured_queries
    if len(durations) != len(queries):  # should not happen; fall back to Django's rounded times
        durations = [float(q["time"]) for q in queries]
    return [{"sql": q["sql"], "ms": round(d * 1000, 3)} for q, d in zip(queries, durations, strict=True)]


# --- reporting ---------------------------------------------------------------
def print_table(scenarios: list[Scenario]) -> None:
    width = max(len(f"{s.name} ({s.url})") for s in scenarios)
    header = (
        f"{'scenario':<{width}}  {'median ms':>9}  {'p95 ms':>8}  {'min ms':>8}  {'queries':>7}  "
        f"{'bare SQL ms':>11}  {'ratio':>5}  full-table COUNT"
    )
    print(header)
    print("-" * len(header))
    for s in scenarios:
        queries = (
            str(s.queries_per_request) if s.query_count_constant else f"{min(s.query_counts)}-{max(s.query_counts)}"
        )
        print(
            f"{f'{s.name} ({s.url})':<{width}}  {s.median_ms:>9.1f}  {s.p95_ms:>8.1f}  {s.min_ms:>8.1f}  "
            f"{queries:>7}  {s.bare_median_ms:>11.2f}  {s.bare_median_ms / s.median_ms:>5.3f}  "
            f"{'YES' if s.full_table_counts else 'no'}"
        )


def print_slowest_queries(scenarios: list[Scenario], limit: int = 3) -> None:
    print("\nSlowest queries of one request per scenario (ms, measured around cursor.execute):")
    for s in scenarios:
        print(f"  {s.name}:")
        for query in sorted(s.queries, key=lambda q: q["ms"], reverse=True)[:limit]:
            sql = SELECT_LIST_RE.sub("SELECT … FROM ", " ".join(query["sql"].split()), count=1)
            print(f"    {query['ms']:8.2f}  {sql[:240]}{'…' if len(sql) > 240 else ''}")


def check_targets(scenarios: list[Scenario], target_ms: float) -> list[dict]:
    default = next(s for s in scenarios if s.name == DEFAULT_LIST)
    offenders = [s.name for s in scenarios if s.full_table_counts]
    return [
        {
            "target": f"default list median <= {target_ms:g} ms",
            "passed": default.median_ms <= target_ms,
            "detail": f"median {default.median_ms:.1f} ms",
        },
        {
            "target": "no full-table COUNT(*) over orders_order",
            "passed": not offenders,
            "detail": "none" if not offenders else "in: " + ", ".join(offenders),
        },
        {
            "target": "default list query count constant",
            "passed": default.query_count_constant,
            "detail": f"counts seen: {sorted(set(default.query_counts))}",
        },
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_on_private_broker("admin", measure, args, test_client=True)


def measure(args: argparse.Namespace, logged) -> int:

    import django
    from django.conf import settings
    from django.test import Client

    machine = host()
    print(f"Host: {describe_host(machine)}", flush=True)
    # No table is truncated here: any database will do, created and migrated when missing.
    pg_version = prepare_database(True, expected=BENCH_DATABASE, truncates=False)
    seeded = ensure_orders(args)
    user = ensure_bench_user()
    vacuum_analyze()
    orders, is_estimate = order_count()
    number = median_order_number()
    from orders.models import Order

    external_id = Order.objects.filter(number=number).values_list("external_id", flat=True).get()

    client = Client()
    client.force_login(user)
    scenarios = [
        Scenario(DEFAULT_LIST, LIST_URL),
        Scenario("status filter, small", f"{LIST_URL}?status__exact=on_hold"),
        Scenario("status filter, big", f"{LIST_URL}?status__exact=delivered"),
        Scenario("search by name", f"{LIST_URL}?q=smith"),
        # a whole order number opens the order (a redirect): the list is searched by the number's digits
        Scenario("search by number", f"{LIST_URL}?{urlencode({'q': number.removeprefix('SO-').lstrip('0')})}"),
        Scenario("search, rare name", f"{LIST_URL}?{urlencode({'q': 'björn o'})}"),
        Scenario("search, no match", f"{LIST_URL}?q=xyzzy"),
        Scenario("search by channel order id", f"{LIST_URL}?{urlencode({'q': external_id})}"),
        Scenario("late orders (promise filter)", f"{LIST_URL}?promise=late"),
    ]
    for scenario in scenarios:
        print(f"Measuring {scenario.name}: {args.warmup} warm-up + {args.repeat} timed requests...", flush=True)
        run_scenario(client, scenario, warmup=args.warmup, repeat=args.repeat)

    versions = {
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": pg_version,
    }
    print()
    print(
        f"Orders: {orders:,} ({'planner estimate' if is_estimate else 'exact'}) · Python {versions['python']} · "
        f"Django {versions['django']} · PostgreSQL {versions['postgresql']} · DEBUG={settings.DEBUG} · "
        f"{args.repeat} timed requests per scenario"
    )
    print()
    print_table(scenarios)

    for s in scenarios:
        for sql in s.full_table_counts:
            print(f"\nFAILED CHECK: full-table COUNT(*) in {s.name!r}:\n    {sql}")
    print_slowest_queries(scenarios)
    ratios = [
        Ratio.of_times(
            s.name, figure_ms=s.median_ms, baseline_ms=s.bare_median_ms, baseline_label="its reads over bare psycopg"
        )
        for s in scenarios
    ]
    print_ratios(ratios)

    targets = check_targets(scenarios, args.target_ms)
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
        "benchmark": "admin_order_list",
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": machine,
        "git": git_revision(),
        "versions": versions,
        "debug": settings.DEBUG,
        "orders": orders,
        "orders_is_estimate": is_estimate,
        "seed": seeded,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "scenarios": [s.summary() for s in scenarios],
        "ratios": [r.summary() for r in ratios],
        "targets": targets,
        "passed": passed,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nResults written to {args.output}")
    print("All targets PASS." if passed else "Some targets FAIL.")
    if not passed and not args.no_fail:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
