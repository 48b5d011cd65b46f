"""Benchmark of the operations cockpit (``orders.cockpit``) on a million orders.

What it measures
    * the cockpit's numbers, uncached: what is kept for the period dropped
      (``caching.forget``), then ``kpis_for(period)`` and
      ``charts_for(period)``, as a page does when the cache ran out (every key
      figure and every chart computed from the database, the two reads they
      share once), for the default period (the last 7 days)
      and for 90 days (a custom period ending today), all channels and
      warehouses;
    * the same for the last 7 days through one warehouse, and for the 7 days of
      a month ago (an ordinary week: the seed puts every order still moving
      into its last days), reported without a target;
    * the console home (``/admin/``, where the cockpit is) as a superuser
      through Django's test client: uncached (Django's cache emptied before
      each request: what the first person to open the page in a minute waits
      for) and cached (the cockpit's numbers kept ``COCKPIT_CACHE_SECONDS``).

    Each scenario gets warm-up runs, then ``--repeat`` timed runs
    (``time.perf_counter``); the median is reported, with p95 and min.

    The baseline, in the same run: the read statements one run of the scenario
    sent (the SQL text Django sent, literals in place, with the session settings
    they ran under: JIT off and on again), sent again over a bare
    psycopg connection with every row fetched, right before and right after the
    scenario (the host's speed drifts within minutes; the mean of the two is
    the baseline). Ratio = bare SQL ms ÷ scenario ms: the database's share of
    the time (1.0: nothing but the database's own work).

Targets (exit code 1 when one fails, unless ``--no-fail``)
    * the default period, uncached: median <= 300 ms (``--target-default-ms``);
    * 90 days, uncached: median <= 600 ms (``--target-90-days-ms``);
    * nothing logged at WARNING or above.

Before measuring, the script refuses anything but PostgreSQL (exit 2),
creates the database when it is missing and migrates it, seeds it up to
``--min-orders`` orders like ``admin_order_list.py`` (``orders.demo_data``;
``--no-seed`` exits 2 instead), and tops the seeded history up where the
demo data is thin for the cockpit: returns (one delivered order in forty over
the last 120 days) and order errors (one shipment in 150), with set-based SQL
that adds nothing the second time. It checks that every week of the 90 days
has shipped and delivered orders, and that there are returns, order errors
and holds, and runs VACUUM ANALYZE on the tables the cockpit reads.

Results are printed and written to ``bench/results/cockpit.json``.

Run it (``make bench-cockpit`` does exactly this)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oms_bench .venv/bin/python bench/cockpit.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _common import (
    PROJECT_ROOT,
    Ratio,
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

RESULTS_PATH = PROJECT_ROOT / "bench" / "results" / "cockpit.json"
BENCH_DATABASE = "oms_bench"
HOME_URL = "/admin/"
VACUUM_TABLES = (
    "orders_order",
    "orders_orderevent",
    "shipping_shipment",
    "orders_ordershippingfacts",
    "inventory_allocation",
    "returns_returnrequest",
    "returns_ordererrorcase",
)
TOP_UP_NOTE = "Benchmark top-up"
# What a bare replay sends again: reads, and the session settings they run under (never a write).
REPLAYED = ("SELECT", "WITH", "SET ", "RESET ")

# Returns of one delivered order in forty whose last shipment arrived in the last 120 days, opened 0-8 days
# after; the RMA number (unique) makes a second run add nothing.
TOP_UP_RETURNS = """
INSERT INTO returns_returnrequest (number, status, reason, customer_note, our_error, restocking_fee_percent,
                                   rejection_reason, label_file, created_at, updated_at, order_id, resolution, source)
SELECT 'RB-' || o.id, 'closed',
       (ARRAY['damaged', 'wrong_item', 'not_as_described', 'no_longer_wanted', 'arrived_late', 'other'])[1 + o.id % 6],
       '', false, 0, '', '', last.delivered_at + make_interval(days => (o.id % 9)::int), now(), o.id, 'refund',
       'associate'
FROM orders_order o
CROSS JOIN LATERAL (SELECT max(s.delivered_at) AS delivered_at FROM shipping_shipment s WHERE s.order_id = o.id) last
WHERE o.status = 'delivered' AND o.id % 40 = 7
  AND last.delivered_at > now() - interval '120 days'
  AND last.delivered_at + make_interval(days => (o.id % 9)::int) < now()
ON CONFLICT (number) DO NOTHING
"""
# Order errors on one shipment in 150 that left in the last 120 days, opened two days after it left.
TOP_UP_ERRORS = f"""
INSERT INTO returns_ordererrorcase (kind, root_cause, description, status, resolution, created_at, order_id,
                                    shipment_id, vendor_id, warehouse_id)
SELECT 'wrong_item', (ARRAY['pick_error', 'carrier_damage', 'stock_error', 'other'])[1 + s.id % 4],
       '{TOP_UP_NOTE}', 'open', '', s.shipped_at + interval '2 days', s.order_id, s.id, service.vendor_id,
       s.warehouse_id
FROM shipping_shipment s
LEFT JOIN shipping_carrierservice service ON service.id = s.service_id
WHERE s.id % 150 = 11 AND s.shipped_at > now() - interval '120 days' AND s.shipped_at + interval '2 days' < now()
  AND NOT EXISTS (SELECT 1 FROM returns_ordererrorcase e WHERE e.shipment_id = s.id AND e.description = '{TOP_UP_NOTE}')
"""
# What the periods measured need, week by week over the last 90 days.
COVERAGE = """
SELECT (SELECT count(*) FROM shipping_shipment WHERE shipped_at >= %(start)s AND shipped_at < %(end)s),
       (SELECT count(*) FROM shipping_shipment WHERE delivered_at >= %(start)s AND delivered_at < %(end)s),
       (SELECT count(*) FROM returns_returnrequest WHERE created_at >= %(start)s AND created_at < %(end)s),
       (SELECT count(*) FROM returns_ordererrorcase WHERE created_at >= %(start)s AND created_at < %(end)s)
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the operations cockpit on PostgreSQL with ~1,000,000 orders.",
        epilog="Needs DATABASE_URL pointing at PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/oms_bench",
    )
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per scenario (default 9)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed warm-up runs per scenario (default 2)")
    parser.add_argument(
        "--min-orders", type=int, default=1_000_000, help="seed orders up to this many (default 1,000,000)"
    )
    parser.add_argument("--no-seed", action="store_true", help="exit 2 instead of seeding when orders are missing")
    parser.add_argument("--seed", type=int, default=1, help="random seed passed to seed_demo (default 1)")
    parser.add_argument("--target-default-ms", type=float, default=300.0, help="last 7 days median (default 300)")
    parser.add_argument("--target-90-days-ms", type=float, default=600.0, help="90 days median (default 600)")
    parser.add_argument("--no-fail", action="store_true", help="always exit 0, even when a target fails")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help=f"JSON results file (default {RESULTS_PATH})")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0 or args.min_orders < 0:
        parser.error("--repeat must be >= 1, --warmup and --min-orders >= 0")
    return args


# --- preparation -------------------------------------------------------------
def top_up() -> dict:
    """Returns and order errors where the seeded history has few; nothing the second time."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(TOP_UP_RETURNS)
        returns = cursor.rowcount
        cursor.execute(TOP_UP_ERRORS)
        errors = cursor.rowcount
    print(f"Top-up: {returns:,} returns and {errors:,} order errors added (0 when already there).")
    return {"returns_added": returns, "order_errors_added": errors}


def refresh_facts() -> None:
    """The seed writes shipments by raw SQL, past the services that keep the orders' shipping facts: compute
    them all again (the migration that made the table did so for the rows there then)."""
    from django.db import transaction

    from orders.services import refresh_all_shipping_facts

    started = time.perf_counter()
    with transaction.atomic():
        rows = refresh_all_shipping_facts()
    print(f"Shipping facts of {rows:,} orders computed again in {time.perf_counter() - started:.1f} s.")


def check_coverage(today: dt.date) -> list[dict]:
    """Shipments shipped and delivered, returns and order errors in each week of the last 90 days; refuses to
    measure when a week has no shipped or no delivered shipments, or there are no holds."""
    from django.db import connection

    from orders.cockpit.periods import local_midnight
    from orders.models import Order, OrderStatus

    weeks = []
    with connection.cursor() as cursor:
        for start_day in (today - dt.timedelta(days=89) + dt.timedelta(days=7 * n) for n in range(13)):
            start = local_midnight(start_day)
            end = local_midnight(min(start_day + dt.timedelta(days=7), today + dt.timedelta(days=1)))
            cursor.execute(COVERAGE, {"start": start, "end": end})
            shipped, delivered, returns, errors = cursor.fetchone()
            weeks.append(
                {
                    "week_of": start_day.isoformat(),
                    "shipped": shipped,
                    "delivered": delivered,
                    "returns": returns,
                    "order_errors": errors,
                }
            )
    holds = Order.objects.filter(status=OrderStatus.ON_HOLD).count()
    print("Coverage by week (shipments shipped / delivered, returns opened, order errors opened):")
    for week in weeks:
        print(
            f"  {week['week_of']}: {week['shipped']:>7,} / {week['delivered']:>7,}  "
            f"{week['returns']:>5,}  {week['order_errors']:>5,}"
        )
    print(f"  orders on hold now: {holds:,}")
    thin = [week["week_of"] for week in weeks if not week["shipped"] or not week["delivered"]]
    if thin or not holds or not sum(week["returns"] for week in weeks) or not sum(w["order_errors"] for w in weeks):
        refuse(f"the seeded history does not cover the cockpit's periods (weeks without shipments: {thin})")
    return weeks


def vacuum_analyze() -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in VACUUM_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    print(f"VACUUM ANALYZE {', '.join(VACUUM_TABLES)}: done in {time.perf_counter() - started:.1f} s.")


# --- measuring ---------------------------------------------------------------
@dataclass
class Scenario:
    name: str
    target_ms: float | None = None
    timings_ms: list[float] = field(default_factory=list)
    queries: int = 0
    statements: list[str] = field(default_factory=list)
    bare_sql_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.timings_ms)

    @property
    def p95_ms(self) -> float:
        return p95(self.timings_ms)

    @property
    def bare_median_ms(self) -> float:
        return statistics.median(self.bare_sql_ms) if self.bare_sql_ms else 0.0

    def summary(self) -> dict:
        data = asdict(self)
        data.pop("statements")
        data.update(
            median_ms=round(self.median_ms, 2),
            p95_ms=round(self.p95_ms, 2),
            min_ms=round(min(self.timings_ms), 2),
            bare_sql_median_ms=round(self.bare_median_ms, 2),
            ratio=round(self.bare_median_ms / self.median_ms, 4) if self.median_ms else None,
            timings_ms=[round(t, 2) for t in self.timings_ms],
            bare_sql_ms=[round(t, 2) for t in self.bare_sql_ms],
        )
        return data


def statements_of(run) -> list[str]:
    """The statements one ``run()`` sends that a bare replay may send again: its reads, and the session settings
    they run under (the cockpit turns PostgreSQL's JIT off around them, and back on)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()  # a full log (the seed's statements) would leave nothing to capture
    with CaptureQueriesContext(connection) as captured:
        run()
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(REPLAYED)]


def measure_scenario(scenario: Scenario, run, *, warmup: int, repeat: int) -> None:
    """``run()`` timed ``repeat`` times after ``warmup``; its statements replayed bare before and after."""
    for _ in range(warmup):
        run()
    scenario.statements = statements_of(run)
    scenario.queries = sum(1 for sql in scenario.statements if sql.lstrip().upper().startswith(("SELECT", "WITH")))
    before = replay_bare([scenario.statements], repeat=max(1, repeat // 2), warmup=1)
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        scenario.timings_ms.append((time.perf_counter() - started) * 1000)
    after = replay_bare([scenario.statements], repeat=max(1, repeat // 2), warmup=0)
    scenario.bare_sql_ms = before + after


def cockpit_numbers(period):
    from orders.cockpit import charts_for, kpis_for
    from orders.cockpit.caching import forget

    def run():
        forget(period)  # a page after the cache ran out: the two heavy reads once, shared by figures and charts
        kpis_for(period)
        charts_for(period)

    return run


def home_page(client, *, cached: bool):
    from django.core.cache import cache

    def run():
        if not cached:
            cache.clear()
        response = client.get(HOME_URL)
        assert response.status_code == 200, f"{HOME_URL}: HTTP {response.status_code}"
        assert b'id="cockpit"' in response.content, "the home shows no cockpit to this user"

    return run


def print_table(scenarios: list[Scenario]) -> None:
    width = max(len(s.name) for s in scenarios)
    header = (
        f"{'scenario':<{width}}  {'median ms':>9}  {'p95 ms':>8}  {'min ms':>8}  {'queries':>7}  {'bare SQL ms':>11}"
    )
    print(header)
    print("-" * len(header))
    for s in scenarios:
        print(
            f"{s.name:<{width}}  {s.median_ms:>9.1f}  {s.p95_ms:>8.1f}  {min(s.timings_ms):>8.1f}  "
            f"{s.queries:>7}  {s.bare_median_ms:>11.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_on_private_broker("cockpit", measure, args, test_client=True)


def measure(args: argparse.Namespace, logged) -> int:
    import django
    from admin_order_list import ensure_bench_user, ensure_orders
    from django.test import Client
    from django.utils import timezone

    from orders.cockpit import Period

    machine = host()
    print(f"Host: {describe_host(machine)}", flush=True)
    pg_version = prepare_database(True, expected=BENCH_DATABASE, truncates=False)
    seeded = ensure_orders(args)
    if seeded:
        refresh_facts()
    topped_up = top_up()
    vacuum_analyze()
    today = timezone.localdate()
    coverage = check_coverage(today)
    user = ensure_bench_user()
    client = Client()
    client.force_login(user)

    default = Period.last_7_days()
    ninety = Period.custom(today - dt.timedelta(days=89), today)
    # The seed puts every order still moving into its last days: its last week has several times the shipments
    # of an earlier one. A week a month back is an ordinary week of the same history.
    month_ago = Period.custom(today - dt.timedelta(days=34), today - dt.timedelta(days=28))
    warehouse_id = _busiest_warehouse()
    scenarios = [
        (Scenario("last 7 days, uncached", args.target_default_ms), cockpit_numbers(default)),
        (Scenario("90 days, uncached", args.target_90_days_ms), cockpit_numbers(ninety)),
        (
            Scenario("last 7 days, one warehouse, uncached"),
            cockpit_numbers(default.with_filter(warehouse_id=warehouse_id)),
        ),
        (Scenario("7 days a month ago, uncached"), cockpit_numbers(month_ago)),
        (Scenario("home page, uncached"), home_page(client, cached=False)),
        (Scenario("home page, cached"), home_page(client, cached=True)),
    ]
    for scenario, run in scenarios:
        print(f"Measuring {scenario.name}: {args.warmup} warm-up + {args.repeat} timed runs...", flush=True)
        measure_scenario(scenario, run, warmup=args.warmup, repeat=args.repeat)
    measured = [scenario for scenario, _ in scenarios]

    print()
    print_table(measured)
    ratios = [
        Ratio.of_times(
            s.name, figure_ms=s.median_ms, baseline_ms=s.bare_median_ms, baseline_label="its reads over bare psycopg"
        )
        for s in measured
    ]
    print_ratios(ratios)
    targets = [
        {
            "target": f"{s.name}: median <= {s.target_ms:g} ms",
            "passed": s.median_ms <= s.target_ms,
            "detail": f"median {s.median_ms:.1f} ms",
        }
        for s in measured
        if s.target_ms is not None
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

    results = {
        "benchmark": "cockpit",
        "host": machine,
        "versions": {"python": platform.python_version(), "django": django.get_version(), "postgresql": pg_version},
        "git": git_revision(),
        "seeded": seeded,
        "top_up": topped_up,
        "coverage": coverage,
        "periods": {
            "default": default.label,
            "ninety_days": ninety.label,
            "month_ago": month_ago.label,
            "warehouse_id": warehouse_id,
        },
        "scenarios": [s.summary() for s in measured],
        "ratios": [r.summary() for r in ratios],
        "targets": targets,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nResults written to {args.output}")
    failed = not all(target["passed"] for target in targets)
    if failed:
        print("Some targets FAIL.")
    return 1 if failed and not args.no_fail else 0


def _busiest_warehouse() -> int:
    from django.db.models import Count

    from shipping.models import Shipment

    return (
        Shipment.objects.values("warehouse_id")
        .annotate(shipments=Count("pk"))
        .order_by("-shipments")
        .values_list("warehouse_id", flat=True)
        .first()
    )


if __name__ == "__main__":
    sys.exit(main())
