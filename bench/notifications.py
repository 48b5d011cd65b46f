"""Benchmark of the notifications outbox: messages per second from outbox rows to an SMTP sink, exactly once.

What it measures
    One real ``celery worker`` process (solo pool: one task at a time) on a
    Redis broker, with PostgreSQL, sending to a local SMTP server (aiosmtpd,
    in its own process, counting what it receives and keeping every
    Message-ID). The production path end to end: outbox rows are written in
    transactions of ``--rows-per-commit`` rows (``queue_messages``, as the
    order workflow does); each commit hands its rows to a ``send_messages``
    task; the worker claims them, renders subject, text and HTML from the
    template files, sends them over SMTP (``NOTIFICATIONS_SMTP_CONNECTIONS``
    connections per task) and marks each row sent.

    The clock runs from the first commit to the moment the sink has every
    message. Reported: messages/s end to end, and the worker's drain rate (first
    to last arrival at the sink). A second, smaller run writes one row per
    transaction (one task, one SMTP connection per message) to show what the
    batching buys.

    Exactly once, checked after each run: the sink received exactly as many
    messages as rows were written, no Message-ID twice, every row marked sent
    (none pending, sending or failed).

    The baseline, in the same run and to the same sink: ``--baseline-messages``
    of the same messages (the same confirmations to the same customers, built
    as the outbox builds its rows, rendered and made Django emails once,
    untimed), sent by Django's own ``get_connection().send_messages(...)`` over
    one SMTP connection from this process: the raw cost of SMTP to this sink
    on this host today. It runs before the first run and after each, once the
    worker is idle; each run is reported as a ratio to the mean of the
    baselines right before and right after it (the host's speed drifts within
    minutes).

The messages are order confirmations ("order received": three lines, totals,
address; ~6 KB multipart) of 50 real orders placed through ``place_order``;
their own confirmations warm the worker up before the clock starts.

Target (exit code 1 when it fails, unless ``--no-fail``): the batched run end
to end at least 0.45 of the raw sending rate (``--target-ratio``), exactly
once, and no warning, error or traceback in the worker's log.

The script refuses anything but PostgreSQL (exit 2), and any database but
``oms_bench_notif`` unless ``--allow-any-database`` (it truncates the orders,
inventory and notifications tables). The database is created when missing and
migrated. Redis is ``CELERY_BROKER_URL`` (default ``redis://127.0.0.1:6379/14``),
on a queue of the run's own; the run's keys (its queue, bindings and wake-up
flags) are deleted at the end. Results are printed and written to
``bench/results/notifications.json``.

Run it::

    make bench-notifications
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oms_bench_notif .venv/bin/python bench/notifications.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import time
import uuid
from decimal import Decimal

from _common import (
    PROJECT_ROOT,
    Ratio,
    describe_host,
    git_revision,
    host,
    log_problems,
    prepare_database,
    print_ratios,
    purge_redis,
    refuse,
    setup_django,
    truncate_tables,
    worker_command,
)

RESULTS_PATH = PROJECT_ROOT / "bench" / "results" / "notifications.json"
BENCH_DATABASE = "oms_bench_notif"
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"
WARM_UP_ORDERS = 50

# The SMTP sink, run as its own process: counts messages, keeps Message-IDs and arrival times.
SINK = r"""
import logging, re, sys, time, threading
from aiosmtpd.controller import Controller
logging.getLogger("mail.log").setLevel(logging.WARNING)
MESSAGE_ID = re.compile(rb"^Message-ID: *(\S+)", re.MULTILINE | re.IGNORECASE)
lock = threading.Lock()
ids, times = [], []
class Handler:
    async def handle_DATA(self, server, session, envelope):
        found = MESSAGE_ID.search(envelope.content)
        with lock:
            ids.append(found.group(1).decode() if found else "")
            times.append(time.time())
        return "250 OK"
controller = Controller(Handler(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
for line in sys.stdin:
    command = line.strip()
    with lock:
        if command == "count":
            print(len(ids), flush=True)
        elif command == "reset":
            ids.clear(); times.clear(); print("ok", flush=True)
        elif command == "dump":
            first, last = (times[0], times[-1]) if times else (0, 0)
            print(repr({"ids": list(ids), "first": first, "last": last}), flush=True)
controller.stop()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sink:
    def __init__(self, port: int):
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-c", SINK, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready"

    def ask(self, command: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def count(self) -> int:
        return int(self.ask("count"))

    def wait_for(self, expected: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        count = self.count()
        while count < expected and time.monotonic() < deadline:
            time.sleep(0.02)
            count = self.count()
        return count

    def dump(self) -> dict:
        import ast

        return ast.literal_eval(self.ask("dump"))

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def drain_queue(broker_url: str, queue: str, timeout: float) -> None:
    """Wait until the worker has taken every task off its Redis queue."""
    import redis

    client = redis.Redis.from_url(broker_url)
    deadline = time.monotonic() + timeout
    while client.llen(queue) and time.monotonic() < deadline:
        time.sleep(0.05)


def place_orders(count: int) -> list:
    """``count`` orders of three lines through ``place_order`` (their confirmations are queued too)."""
    from inventory.models import Product
    from orders import services
    from orders.models import Channel

    channel = Channel.objects.create(code="bench-web", name="Web store")
    for sku, name, price in [
        ("TEE-NAVY-M", "Organic cotton tee, navy, M", "24.00"),
        ("MUG-STONE", "Stoneware mug & saucer", "18.50"),
        ("SOCK-3PK", "Merino socks, 3-pack", "21.00"),
    ]:
        Product.objects.create(sku=sku, name=name, price=Decimal(price))
    orders = []
    for index in range(count):
        data = services.OrderData(
            external_id=f"BENCH-{index:05d}",
            customer=services.CustomerData(name=f"Zoë Customer {index}", email=f"customer{index}@example.com"),
            shipping_address=services.AddressData(
                name=f"Zoë Customer {index}", line1=f"{index} Elm St", city="Dallas", state="TX", postal_code="75201"
            ),
            lines=[
                services.LineData(sku="TEE-NAVY-M", quantity=2, unit_price=Decimal("24.00")),
                services.LineData(sku="MUG-STONE", quantity=1, unit_price=Decimal("18.50")),
                services.LineData(sku="SOCK-3PK", quantity=3, unit_price=Decimal("21.00")),
            ],
            shipping_total=Decimal("6.95"),
            tax_total=Decimal("8.12"),
        )
        order, _ = services.place_order(channel=channel, data=data, actor="bench", route=False)
        orders.append(order)
    return orders


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (a prefork worker's pool) so far (Linux /proc)."""
    total = 0.0
    for process in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{process}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


def run(*, orders, messages: int, rows_per_commit: int, sink: Sink, timeout: float, worker_pid: int) -> dict:
    """Queue ``messages`` rows in transactions of ``rows_per_commit``; wait for the sink; check exactly once."""
    from django.db import transaction

    from notifications.models import Message
    from notifications.services import Outgoing, queue_messages
    from orders.services.notify import order_snapshot

    snapshots = [(order, order_snapshot(order)) for order in orders]
    assert sink.ask("reset") == "ok"
    tag = uuid.uuid4().hex[:8]
    written: list[int] = []
    cpu = {"worker": cpu_seconds(worker_pid), "sink": cpu_seconds(sink.process.pid)}
    started = time.time()
    for start in range(0, messages, rows_per_commit):
        with transaction.atomic():
            written += queue_messages(
                messages=[
                    Outgoing(
                        "order_received",
                        snapshots[i % len(snapshots)][0].customer.email,
                        snapshots[i % len(snapshots)][1],
                        order_id=snapshots[i % len(snapshots)][0].pk,
                        occurrence=f"{tag}-{i}",
                    )
                    for i in range(start, min(start + rows_per_commit, messages))
                ]
            )
    queued = time.time()
    arrived = sink.wait_for(messages, timeout)
    cpu = {name: (cpu_seconds(pid) - cpu[name]) for name, pid in (("worker", worker_pid), ("sink", sink.process.pid))}
    dump = sink.dump()
    elapsed = dump["last"] - started
    statuses = dict.fromkeys(Message.Status.values, 0)
    for status in Message.objects.filter(pk__in=written).values_list("status", flat=True):
        statuses[status] += 1
    ids = dump["ids"]
    expected_ids = {m.message_id for m in Message.objects.filter(pk__in=written)}
    return {
        "messages": messages,
        "rows_per_commit": rows_per_commit,
        "arrived": arrived,
        "seconds": round(elapsed, 3),
        "messages_per_second": round(messages / elapsed, 1) if elapsed > 0 else None,
        "queueing_seconds": round(queued - started, 3),
        "drain_messages_per_second": round(messages / (dump["last"] - dump["first"]), 1)
        if dump["last"] > dump["first"]
        else None,
        "cpu_ms_per_message": {name: round(seconds / messages * 1000, 3) for name, seconds in cpu.items()},
        "duplicates": len(ids) - len(set(ids)),
        "exactly_once": len(ids) == messages and set(ids) == expected_ids and statuses["sent"] == messages,
        "rows": statuses,
    }


def baseline_emails(orders, count: int) -> list:
    """``count`` of the run's messages as Django emails: rows built as the outbox builds them (not saved),
    rendered from the template files. Built once; the baselines send them again and again."""
    from notifications import mime, rendering
    from notifications.services import Outgoing
    from notifications.services.outbox import build_messages
    from orders.services.notify import order_snapshot

    snapshots = [(order, order_snapshot(order)) for order in orders]
    rows = build_messages(
        Outgoing(
            "order_received",
            snapshots[i % len(snapshots)][0].customer.email,
            snapshots[i % len(snapshots)][1],
            order_id=snapshots[i % len(snapshots)][0].pk,
            occurrence=f"baseline-{i}",
        )
        for i in range(count)
    )
    return [mime.build_email(row, rendering.render(row.event, row.context)) for row in rows]


def raw_send(emails: list, sink: Sink, timeout: float, worker_pid: int) -> dict:
    """The baseline: the messages through Django's ``get_connection().send_messages()``, one connection.

    Waits for the worker to be idle first; the clock runs around ``send_messages`` (which opens one SMTP
    connection, sends each message and waits for its answer, and closes it).
    """
    from django.core.mail import get_connection

    wait_until_idle(worker_pid)
    assert sink.ask("reset") == "ok"
    connection = get_connection()
    started = time.perf_counter()
    sent = connection.send_messages(emails)
    elapsed = time.perf_counter() - started
    arrived = sink.wait_for(len(emails), timeout)
    if sent != len(emails) or arrived != len(emails):
        refuse(f"the raw baseline sent {sent} and the sink has {arrived} of {len(emails)} messages")
    return {
        "messages": len(emails),
        "seconds": round(elapsed, 3),
        "messages_per_second": round(len(emails) / elapsed, 1),
    }


def wait_until_idle(pid: int, timeout: float = 30.0) -> None:
    """Until a process (and its children) used under 5 ms of CPU in a quarter of a second."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_seconds(pid)
        if now - before < 0.005:
            return
        before = now


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rows-per-commit", type=int, default=100)
    parser.add_argument("--single-messages", type=int, default=2_000, help="the one-row-per-commit run (0: skip)")
    parser.add_argument("--connections", type=int, default=None, help="NOTIFICATIONS_SMTP_CONNECTIONS")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="1: the solo pool (one process, one task at a time); N > 1: the prefork pool with N processes",
    )
    parser.add_argument(
        "--baseline-messages", type=int, default=5_000, help="messages of each raw send_messages baseline"
    )
    parser.add_argument(
        "--target-ratio", type=float, default=0.45, help="the batched run end to end ÷ raw sending (default 0.45)"
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--allow-any-database", action="store_true")
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()

    queue = f"bench-notif-{uuid.uuid4().hex[:8]}"
    port = free_port()
    os.environ.setdefault("CELERY_BROKER_URL", DEFAULT_BROKER)
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    os.environ["EMAIL_URL"] = f"smtp://127.0.0.1:{port}"
    if args.connections is not None:
        os.environ["NOTIFICATIONS_SMTP_CONNECTIONS"] = str(args.connections)
    if not os.environ["CELERY_BROKER_URL"].startswith("redis://"):
        refuse("this benchmark runs the worker on Redis: set CELERY_BROKER_URL=redis://...")
    setup_django()
    machine = host()
    print(f"Host: {describe_host(machine)}", flush=True)
    server = prepare_database(args.allow_any_database, expected=BENCH_DATABASE)
    from django.conf import settings
    from django.db import connection

    truncate_tables()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE notifications_message RESTART IDENTITY")

    sink = Sink(port)
    worker_env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "localhost",
    }
    worker = subprocess.Popen(  # noqa: S603 - fixed argv
        worker_command(
            *(["--pool=solo"] if args.concurrency == 1 else ["--pool=prefork", f"--concurrency={args.concurrency}"]),
            "-Q",
            queue,
            "-l",
            "WARNING",
        ),
        cwd=PROJECT_ROOT,
        env=worker_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    results: dict = {}
    baselines: list[dict] = []
    try:
        print(f"Placing {WARM_UP_ORDERS} orders; their confirmations warm the worker up...", flush=True)
        orders = place_orders(WARM_UP_ORDERS)
        if sink.wait_for(WARM_UP_ORDERS, args.timeout) < WARM_UP_ORDERS:
            refuse("the worker did not deliver the warm-up confirmations")
        # The first confirmation's task sent the others too; let their (now empty) tasks drain first.
        drain_queue(os.environ["CELERY_BROKER_URL"], queue, args.timeout)
        emails = baseline_emails(orders, args.baseline_messages)
        print(f"Baseline: {len(emails)} of the same messages through send_messages()...", flush=True)
        baselines.append(raw_send(emails, sink, args.timeout, worker.pid))
        print(f"Batched: {args.messages} messages, {args.rows_per_commit} rows per commit...", flush=True)
        results["batched"] = run(
            orders=orders,
            messages=args.messages,
            rows_per_commit=args.rows_per_commit,
            sink=sink,
            timeout=args.timeout,
            worker_pid=worker.pid,
        )
        print("Baseline again...", flush=True)
        baselines.append(raw_send(emails, sink, args.timeout, worker.pid))
        if args.single_messages:
            print(f"One row per commit: {args.single_messages} messages...", flush=True)
            results["single"] = run(
                orders=orders,
                messages=args.single_messages,
                rows_per_commit=1,
                sink=sink,
                timeout=args.timeout,
                worker_pid=worker.pid,
            )
            print("Baseline again...", flush=True)
            baselines.append(raw_send(emails, sink, args.timeout, worker.pid))
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        sink.stop()
        purged = purge_redis(os.environ["CELERY_BROKER_URL"], queue)
    problems = log_problems(output)
    if problems:
        print(output, file=sys.stderr)

    ratios = [
        Ratio(
            f"{r['rows_per_commit']} row(s) per commit, end to end",
            r["messages_per_second"] or 0.0,
            (baselines[n]["messages_per_second"] + baselines[n + 1]["messages_per_second"]) / 2,
            "msg/s",
            "raw send_messages() (before and after)",
            args.target_ratio if name == "batched" else None,
        )
        for n, (name, r) in enumerate(results.items())
    ]
    passed = ratios[0].met and all(r["exactly_once"] for r in results.values()) and not problems
    print()
    print(
        f"{'run':<22}{'messages':>9}{'seconds':>9}{'msg/s':>9}{'drain msg/s':>13}"
        f"{'CPU ms/msg worker':>19}{'sink':>6}{'dupes':>7}  exactly once"
    )
    for r in results.values():
        label = f"{r['rows_per_commit']} row(s)/commit"
        print(
            f"{label:<22}{r['messages']:>9}{r['seconds']:>9}{r['messages_per_second']:>9}"
            f"{r['drain_messages_per_second']!s:>13}{r['cpu_ms_per_message']['worker']:>19}"
            f"{r['cpu_ms_per_message']['sink']:>6}{r['duplicates']:>7}  {r['exactly_once']} {r['rows']}"
        )
    print(
        "\nBaseline, Django's send_messages() over one connection: "
        + ", ".join(f"{b['messages_per_second']} msg/s ({b['messages']} in {b['seconds']} s)" for b in baselines)
    )
    print_ratios(ratios)
    print(f"Warnings, errors and tracebacks in the worker's log: {len(problems)}")
    print(f"Redis keys of the run deleted: {purged}")
    print(
        f"\nTarget: end to end >= {args.target_ratio:g} of raw sending, exactly once, a clean worker log: "
        f"{'met' if passed else 'NOT met'}"
    )
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(
        json.dumps(
            {
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": {**machine, "python": platform.python_version(), "postgresql": server},
                "revision": git_revision(),
                "settings": {
                    "worker_pool": "solo" if args.concurrency == 1 else f"prefork, {args.concurrency} processes",
                    "batch_size": settings.NOTIFICATIONS_BATCH_SIZE,
                    "smtp_connections": settings.NOTIFICATIONS_SMTP_CONNECTIONS,
                    "broker": settings.CELERY_BROKER_URL,
                },
                "target_ratio": args.target_ratio,
                "passed": passed,
                "runs": results,
                "baselines": baselines,
                "ratios": [r.summary() for r in ratios],
                "worker_log_problems": problems,
            },
            indent=2,
        )
    )
    return 0 if passed or args.no_fail else 1


if __name__ == "__main__":
    sys.exit(main())
