"""Benchmark of the 3PL transports: releases and ship confirmations per second through REST, CSV over SFTP and
X12 over SFTP, each beside a bare baseline measured in the same run.

What it measures, for each transport in turn
    **Releases.** ``--orders`` orders are placed (paid by the test card) and routed to the warehouse the 3PL
    runs; ``release_orders`` makes their shipments and queues one release message each (untimed). The
    clock runs while this process sends every release message through the real transport with the
    outbox's drain (``services.send_due_messages``: a batch of a connection's messages claimed in one
    transaction, sent over one sitting, recorded in one transaction), until all are sent: REST to the
    simulated 3PL (``orders.partners.simulator.Simulator``) over real HTTP on 127.0.0.1; CSV and X12
    files to a real SFTP server (asyncssh, in a process of its own, ``tests/sftp_server.py``) on
    127.0.0.1, logging in with a throwaway key and the host key pinned.

    **Confirmations.** The simulated 3PL takes the releases, answers them (acknowledgements, applied
    untimed), ships them all and has one ship confirmation per release to say. The clock runs from the
    first confirmation reaching the OMS to the last one applied end to end: the shipment shipped (in
    transit, its tracking number), the units out through the ledger, the payment captured (test card,
    after commit), the "shipped" email queued in the outbox. REST: each signed confirmation POSTed to
    the webhook through Django's whole stack (the test client: URL, signature check, view; no socket),
    then applied (``process_message``, what the worker's task calls). File drops: the simulator's files
    (one per type, written on its side untimed) taken in by ``poll_connection`` over SFTP (read,
    recorded, archived; X12 writes its 997s back), then applied the same way. Everything runs in this
    one process, one message at a time: the figure is the cost of the path, not a worker pool's.

Baselines, each run right before and right after what it is compared with (compared with their mean)
    * REST releases: the same number of signed JSON POSTs of the same envelopes (fresh message ids) to
      the same simulator endpoint with bare ``urllib``, no OMS around them.
    * SFTP releases: bare paramiko writes of files of the same sizes (the very bytes the transport wrote)
      to the same server, a temporary name then ``posix-rename``, as the transport writes. Two shapes:
      all files over **one connection**, and **one connection per file** (what the transport did before it
      sent in batches); both ratios are reported.
    * Confirmations: the same ship-out applied through our own warehouse's ship service
      (``orders.services.ship_shipment``, what our staff's "Ship" does once the label is bought): the
      same ledger, capture and email, for the same number of orders of the same lines.

The ratio is the transport's figure ÷ its baseline. No target: the figures are recorded in
``bench/README.md``. The run fails (exit 1, unless ``--no-fail``) when a message is not sent or not
applied exactly once, or when this process logs a warning or an error.

The script refuses anything but PostgreSQL (exit 2), and any database but ``oms_bench_partners`` unless
``--allow-any-database`` (it truncates the inventory, orders, shipping and notifications tables); the database
is created when missing and migrated. Whatever it queues goes to Redis (``CELERY_BROKER_URL``, default
``redis://127.0.0.1:6379/13``) on a queue of the run's own, deleted at the end; no worker takes it. Results
are printed and written to ``bench/results/partners.json``.

Run it::

    make bench-partners
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oms_bench_partners .venv/bin/python bench/partners.py --orders 300
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import posixpath
import secrets
import sys
import tempfile
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

from _common import (
    PROJECT_ROOT,
    Ratio,
    count_logged_problems,
    describe_host,
    git_revision,
    host,
    prepare_database,
    print_ratios,
    private_broker,
    purge_redis,
    setup_django,
    truncate_tables,
)

RESULTS_PATH = PROJECT_ROOT / "bench" / "results" / "partners.json"
BENCH_DATABASE = "oms_bench_partners"
SECRET = secrets.token_urlsafe(32)  # shared by the connection and the simulated 3PL for this run
# transport kind -> the warehouse its 3PL runs (one connection each; _common.WAREHOUSES)
TRANSPORTS = {"rest": "DAL", "csv_sftp": "ATL", "x12_sftp": "RNO"}
# each simulated 3PL's own tracking numbers (a tracking number is on one parcel only)
TRACKING = {"rest": "SIMR", "csv_sftp": "SIMC", "x12_sftp": "SIMX"}
OWN_WAREHOUSE = "EWR"
PRODUCTS = [
    ("TEE-NAVY-M", "Organic cotton tee, navy, M", "24.00", "0.300"),
    ("MUG-STONE", "Stoneware mug & saucer", "18.50", "0.700"),
]
NAMES = ["José Müller", "Zoë Ng", "Ada Lovelace", "Grace Hopper", "Ken Thompson"]


# --- the world ------------------------------------------------------------------------------------------------


def make_world() -> dict:
    """Carriers, the four warehouses (three run by 3PLs, Edison ours), two products, a channel."""
    from _common import WAREHOUSES

    from inventory.models import Product, Warehouse
    from orders.models import Channel
    from shipping.demo_data import ensure_demo_carriers

    ensure_demo_carriers()
    warehouses = {}
    for code, name, city, state, postal_code in WAREHOUSES:
        warehouse = Warehouse(code=code, name=name, city=city, state=state, postal_code=postal_code)
        warehouse.locate()
        warehouse.save()
        warehouses[code] = warehouse
    products = [
        Product.objects.create(sku=sku, name=name, price=Decimal(price), weight_kg=Decimal(kg))
        for sku, name, price, kg in PRODUCTS
    ]
    channel = Channel.objects.create(code="bench-web", name="Web store")
    return {"warehouses": warehouses, "products": products, "channel": channel}


def place_routed_orders(world: dict, warehouse_code: str, count: int, tag: str) -> list[int]:
    """``count`` paid orders of two lines, with just enough stock received at one warehouse that routing sends
    every one there (every other warehouse's stock is reserved already, or none)."""
    from inventory import services as inventory
    from orders import services
    from orders.payments import services as payments

    warehouse = world["warehouses"][warehouse_code]
    for product in world["products"]:
        inventory.receive_stock(warehouse_id=warehouse.pk, product_id=product.pk, quantity=count, actor="bench")
    ids = []
    for n in range(count):
        name = NAMES[n % len(NAMES)]
        order, _ = services.place_order(
            channel=world["channel"],
            data=services.OrderData(
                external_id=f"bench-{tag}-{n}",
                customer=services.CustomerData(name=name, email=f"c{n}@example.com"),
                shipping_address=services.AddressData(
                    name=name, line1=f"{n} Main Street", city="Dallas", state="TX", postal_code="75201"
                ),
                lines=[services.LineData(sku=p.sku, quantity=1, unit_price=p.price) for p in world["products"]],
                payment=services.PaymentData(gateway="test_card", token="tok_approve"),  # noqa: S106 - the test card
            ),
            actor="bench",
            route=False,
        )
        payments.authorise(order_id=order.pk, actor="bench")  # what the order's routing task does first
        services.allocate_order(order_id=order.pk, actor="bench")
        ids.append(order.pk)
    return ids


def own_labelled_shipments(world: dict, count: int, tag: str) -> list[int]:
    """Shipments of ``count`` orders routed to our own warehouse, their labels bought: ready to ship."""
    from orders import services
    from shipping.models import Shipment

    order_ids = place_routed_orders(world, OWN_WAREHOUSE, count, tag)
    ids = []
    for order_id in order_ids:
        (shipment,) = services.create_shipments(order_id=order_id, actor="bench")
        services.buy_labels(shipment_id=shipment.pk, actor="bench")
        ids.append(shipment.pk)
    wrong = Shipment.objects.filter(pk__in=ids).exclude(warehouse__code=OWN_WAREHOUSE).count()
    if wrong:
        raise SystemExit(f"{wrong} of our own shipments were routed elsewhere")
    return ids


# --- releases ---------------------------------------------------------------------------------------------------


def queue_releases(connection, order_ids: list[int]) -> list:
    """Make and release the orders' shipments: one release message each, queued (untimed)."""
    from orders.partners import services
    from orders.partners.models import Direction, MessageKind, PartnerMessage

    releases = services.release_orders(order_ids=order_ids, actor="bench")
    if len(releases) != len(order_ids):
        raise SystemExit(f"{connection.kind}: {len(releases)} releases for {len(order_ids)} orders")
    return list(
        PartnerMessage.objects.filter(
            connection=connection, direction=Direction.OUT, kind=MessageKind.RELEASE, release__in=releases
        ).order_by("pk")
    )


def send_releases(messages: list) -> dict:
    """Send every release message through the connection's transport (timed): the outbox's drain, what the
    sweep runs (``services.send_due_messages``), with only these messages due."""
    from orders.partners import services
    from orders.partners.models import MessageStatus, PartnerMessage

    started = time.perf_counter()
    services.send_due_messages()
    elapsed = time.perf_counter() - started
    sent = PartnerMessage.objects.filter(pk__in=[m.pk for m in messages], status=MessageStatus.SENT).count()
    return {
        "messages": len(messages),
        "sent": sent,
        "seconds": round(elapsed, 3),
        "per_second": round(len(messages) / elapsed, 1),
    }


def release_files(connection, messages: list) -> list[tuple[str, bytes]]:
    """The files the transport writes for these releases, rendered again under fresh message ids (an X12 file
    takes control numbers of its own): the same formats and sizes, for the bare writes."""
    from orders.partners.transports import Envelope, transport_for

    transport = transport_for(connection)
    files = []
    for message in messages:
        envelope = Envelope(message_id=f"bare-{message.key}", kind=message.kind, payload=message.payload)
        files.append(transport.render(envelope))
    return files


def rest_bodies(messages) -> list[dict]:
    """The releases' envelopes again, under fresh message ids and release numbers (the simulator takes each)."""
    bodies = []
    for n, message in enumerate(messages):
        payload = {**message.payload, "release": f"BARE-{message.payload['release']}"}
        bodies.append({"message_id": f"bare-{n}", "type": message.kind, "sent_at": "", "payload": payload})
    return bodies


def bare_posts(url: str, bodies: list[dict], run: int) -> dict:
    """The REST baseline: signed JSON POSTs of the same envelopes to the simulator, bare urllib, no OMS."""
    from orders.partners.signing import signed_headers

    encoded = []
    for body in bodies:
        data = json.dumps({**body, "message_id": f"{body['message_id']}-{run}"}, sort_keys=True).encode()
        encoded.append((data, f"{body['message_id']}-{run}"))
    started = time.perf_counter()
    for data, message_id in encoded:
        headers = signed_headers(SECRET, data, message_id=message_id)
        request = urllib.request.Request(f"{url}/messages", data=data, headers=headers, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            if response.status != 202:
                raise SystemExit(f"the simulator answered {response.status} to a bare POST")
            response.read()
    elapsed = time.perf_counter() - started
    return {"messages": len(encoded), "seconds": round(elapsed, 3), "per_second": round(len(encoded) / elapsed, 1)}


def forget_bare(simulator) -> None:
    """The simulator drops what the baseline sent (it never ships those)."""
    with simulator.lock:
        for number in [n for n in simulator.releases if n.startswith("BARE-")]:
            del simulator.releases[number]
        simulator.outbox = [e for e in simulator.outbox if not str(e["payload"].get("release", "")).startswith("BARE")]


def sftp_open(server):
    import paramiko

    transport = paramiko.Transport((server.host, server.port))
    transport.connect(username=server.username, pkey=paramiko.PKey.from_path(server.client_key_path))
    return transport, paramiko.SFTPClient.from_transport(transport)


def bare_sftp_writes(server, files: list[tuple[str, bytes]], *, per_file: bool) -> dict:
    """The SFTP baseline: each file written under a temporary name, then posix-renamed into in/, with bare paramiko;
    over one connection, or a connection per file (as the transport opens one per message). Removed afterwards."""
    connection = None if per_file else sftp_open(server)
    started = time.perf_counter()
    for name, data in files:
        transport, sftp = connection or sftp_open(server)
        temporary = posixpath.join("in", f".{name}.part")
        with sftp.open(temporary, "wb") as remote:
            remote.set_pipelined(True)
            remote.write(data)
        sftp.posix_rename(temporary, posixpath.join("in", name))
        if per_file:
            sftp.close()
            transport.close()
    elapsed = time.perf_counter() - started
    if connection is not None:
        connection[1].close()
        connection[0].close()
    for name, _ in files:
        (server.root / "in" / name).unlink()
    return {
        "files": len(files),
        "bytes": sum(len(data) for _, data in files),
        "seconds": round(elapsed, 3),
        "per_second": round(len(files) / elapsed, 1),
    }


# --- confirmations ------------------------------------------------------------------------------------------


def apply_queued(connection) -> list[str]:
    """Apply every inbound message recorded and not yet applied, in order (what the worker's task calls)."""
    from orders.partners import services
    from orders.partners.models import Direction, MessageStatus, PartnerMessage

    queued = PartnerMessage.objects.filter(connection=connection, direction=Direction.IN, status=MessageStatus.QUEUED)
    return [services.process_message(message_id=pk) for pk in queued.order_by("pk").values_list("pk", flat=True)]


class Webhook:
    """The OMS's webhook as the simulator reaches it: signed bytes and headers through Django's whole stack."""

    def __init__(self, connection):
        from django.test import Client

        self.client = Client()
        self.path = f"/api/v1/partners/{connection.code}/webhook"

    def __call__(self, body: bytes, headers: dict) -> int:
        extra = {k: v for k, v in headers.items() if k != "Content-Type"}
        return self.client.post(self.path, data=body, content_type="application/json", headers=extra).status_code


def confirm(connection, simulator, *, file_drop: bool) -> dict:
    """The simulator ships every release it holds; the OMS takes the confirmations in and applies them (timed)."""
    from orders.partners import services
    from orders.partners.signing import signed_headers

    simulator.ship_due(force=True)
    with simulator.lock:
        waiting, simulator.outbox = simulator.outbox, []
    if any(e["type"] != "ship_confirmation" for e in waiting):
        raise SystemExit(f"{connection.kind}: the simulator had more than confirmations to say")
    if file_drop:
        simulator.write_files(waiting)  # the 3PL's side, on its own disk
        started = time.perf_counter()
        statuses = services.poll_connection(connection_id=connection.pk)
    else:
        signed = []
        for envelope in waiting:
            body = json.dumps(envelope).encode()
            signed.append((body, signed_headers(simulator.secret, body, message_id=envelope["message_id"])))
        started = time.perf_counter()
        statuses = [simulator.deliver(body, headers) for body, headers in signed]
    applied = apply_queued(connection)
    elapsed = time.perf_counter() - started
    return {
        "confirmations": len(waiting),
        "recorded": statuses.count(202),
        "applied": applied.count("applied"),
        "seconds": round(elapsed, 3),
        "per_second": round(len(waiting) / elapsed, 1),
    }


def ship_own(shipment_ids: list[int]) -> dict:
    """The confirmations' baseline: the same ship-out through our own warehouse's ship service."""
    from orders import services

    started = time.perf_counter()
    for shipment_id in shipment_ids:
        services.ship_shipment(shipment_id=shipment_id, actor="bench")
    elapsed = time.perf_counter() - started
    return {
        "shipments": len(shipment_ids),
        "seconds": round(elapsed, 3),
        "per_second": round(len(shipment_ids) / elapsed, 1),
    }


def shipped_end_to_end(order_ids: list[int]) -> dict:
    """What a shipped order leaves behind, counted over these orders: each must be there exactly once."""
    from inventory.models import StockMovement
    from notifications.models import Message
    from orders.models import Order, OrderStatus
    from orders.payments.models import PaymentTransaction
    from shipping.models import Shipment, ShipmentStatus

    return {
        "orders_shipped": Order.objects.filter(pk__in=order_ids, status=OrderStatus.SHIPPED).count(),
        "shipments_in_transit": Shipment.objects.filter(
            order_id__in=order_ids, status=ShipmentStatus.IN_TRANSIT
        ).count(),
        "ledger_movements": StockMovement.objects.filter(order_id__in=order_ids, kind="shipment").count(),
        "captures": PaymentTransaction.objects.filter(
            order_id__in=order_ids, kind=PaymentTransaction.Kind.CAPTURE
        ).count(),
        "shipped_emails": Message.objects.filter(order_id__in=order_ids, event="order_shipped").count(),
    }


# --- one transport ----------------------------------------------------------------------------------------------


def file_drop_connection(connection, server, kind: str):
    connection.kind = kind
    connection.endpoint = f"sftp://{server.host}:{server.port}/"
    connection.sftp_host = server.host
    connection.sftp_port = server.port
    connection.sftp_username = server.username
    connection.sftp_host_key = server.host_key_fingerprint
    connection.sftp_private_key = server.client_key_path.read_text()
    if kind == "x12_sftp":
        connection.x12_our_id, connection.x12_their_id, connection.x12_version = "NORTHWINDOMS", "ACME3PL", "005010"
    connection.full_clean()
    connection.save()
    return connection


def run_transport(kind: str, world: dict, args, folder: Path) -> dict:
    """Releases and confirmations through one transport, each between its two baselines."""
    from oms_core import x12
    from orders.partners import services
    from orders.partners.models import PartnerConnection
    from orders.partners.simulator import FileDropSimulator, Simulator

    warehouse = world["warehouses"][TRANSPORTS[kind]]
    connection = PartnerConnection.objects.create(
        code=f"bench-{kind.replace('_', '-')}",
        name=f"Bench 3PL ({kind})",
        warehouse=warehouse,
        kind="rest",
        endpoint="http://127.0.0.1:9",
        secret=SECRET,
        ack_deadline_minutes=60,
    )
    print(f"\n[{kind}] {args.orders} orders routed to {warehouse.code}, run by the 3PL...", flush=True)
    order_ids = place_routed_orders(world, warehouse.code, args.orders, kind)
    if not args.releases_only:
        print(f"[{kind}] 2 × {args.orders} labelled shipments at our own {OWN_WAREHOUSE} (a baseline)...", flush=True)
        own_before = own_labelled_shipments(world, args.orders, f"own-before-{kind}")
        own_after = own_labelled_shipments(world, args.orders, f"own-after-{kind}")
    result: dict = {"transport": kind, "warehouse": warehouse.code}
    server_context = None
    if kind == "rest":
        simulator = Simulator(secret=SECRET, deliver=Webhook(connection), tracking_prefix=TRACKING[kind]).start()
        PartnerConnection.objects.filter(pk=connection.pk).update(endpoint=simulator.url)
        connection.refresh_from_db()
    else:
        from tests.sftp_server import running_sftp_server

        server_context = running_sftp_server(folder / kind)
        server = server_context.__enter__()
        connection = file_drop_connection(connection, server, kind)
        simulator = FileDropSimulator(
            root=server.root,
            poll=lambda: services.poll_connection(connection_id=connection.pk),
            file_format="x12" if kind == "x12_sftp" else "csv",
            tracking_prefix=TRACKING[kind],
            partner=x12.TradingPartner(our_id="ACME3PL", their_id="NORTHWINDOMS", version="005010")
            if kind == "x12_sftp"
            else None,
        )
        services.poll_connection(connection_id=connection.pk)  # makes the folders, as the first poll does
    try:
        messages = queue_releases(connection, order_ids)
        print(f"[{kind}] {len(messages)} releases through the transport, between two baselines...", flush=True)
        if kind == "rest":
            bodies = rest_bodies(messages)
            label = "bare urllib POSTs"
            before = bare_posts(simulator.url, bodies, 1)
            result["releases"] = send_releases(messages)
            result["release_baselines"] = {label: [before, bare_posts(simulator.url, bodies, 2)]}
            forget_bare(simulator)
        else:
            files = release_files(connection, messages)
            shapes = {"bare paramiko, one connection per file": True, "bare paramiko, one connection": False}
            result["release_baselines"] = {
                label: [bare_sftp_writes(server, files, per_file=per_file)] for label, per_file in shapes.items()
            }
            result["releases"] = send_releases(messages)
            for label, per_file in shapes.items():
                result["release_baselines"][label].append(bare_sftp_writes(server, files, per_file=per_file))
            simulator.take_files()
        result["simulator_took"] = sum(1 for m, k in simulator.taken if k == "release" and not m.startswith("bare-"))
        if args.releases_only:
            return result

        # the 3PL's answers (received, accepted) taken in and applied, untimed
        with simulator.lock:
            answers, simulator.outbox = simulator.outbox, []
        if kind == "rest":
            simulator.outbox = answers
            simulator.pump(ship=False)
        else:
            simulator.write_files(answers)
            services.poll_connection(connection_id=connection.pk)
        apply_queued(connection)

        print(f"[{kind}] {len(messages)} confirmations, between our own ship service before and after...", flush=True)
        before = ship_own(own_before)
        result["confirmations"] = confirm(connection, simulator, file_drop=kind != "rest")
        result["confirmation_baselines"] = {"our own ship service": [before, ship_own(own_after)]}
        result["end_to_end"] = shipped_end_to_end(order_ids)
    finally:
        simulator.stop()
        if server_context is not None:
            server_context.__exit__(None, None, None)
    return result


def mean_rate(runs: list[dict]) -> float:
    return sum(r["per_second"] for r in runs) / len(runs)


def report(results: list[dict], args, machine: dict, server: str, logged) -> int:
    """Print the figures and ratios, check exactly once, write the JSON; the exit code."""
    ratios, problems = [], []
    n = args.orders
    for r in results:
        kind = r["transport"]
        for label, runs in r["release_baselines"].items():
            ratios.append(Ratio(f"{kind} releases", r["releases"]["per_second"], mean_rate(runs), "/s", label))
        for label, runs in r.get("confirmation_baselines", {}).items():
            ratios.append(
                Ratio(f"{kind} confirmations", r["confirmations"]["per_second"], mean_rate(runs), "/s", label)
            )
        if r["releases"]["sent"] != n or r["simulator_took"] != n:
            problems.append(f"{kind}: {r['releases']['sent']} releases sent, the 3PL took {r['simulator_took']}")
        if "confirmations" not in r:  # --releases-only
            continue
        c = r["confirmations"]
        if c["recorded"] != n or c["applied"] != n:
            problems.append(f"{kind}: {c['recorded']} confirmations recorded, {c['applied']} applied, of {n}")
        expected = {"ledger_movements": n * len(PRODUCTS)}  # one movement per line
        short = {name: count for name, count in r["end_to_end"].items() if count != expected.get(name, n)}
        if short:
            problems.append(f"{kind}: not exactly once for {n} orders ({len(PRODUCTS)} lines each): {short}")
    if logged.count:
        problems.append(f"{logged.count} warnings or errors logged, the first: {logged.first}")

    print(f"\n{'transport':<10}{'releases/s':>12}  baselines/s (before, after)")
    for r in results:
        for label, runs in r["release_baselines"].items():
            figures = ", ".join(str(run["per_second"]) for run in runs)
            print(f"{r['transport']:<10}{r['releases']['per_second']:>12}  {label}: {figures}")
    print(f"\n{'transport':<10}{'confirmations/s':>16}  our own ship service/s (before, after)")
    for r in (r for r in results if "confirmations" in r):
        figures = ", ".join(str(run["per_second"]) for run in r["confirmation_baselines"]["our own ship service"])
        print(f"{r['transport']:<10}{r['confirmations']['per_second']:>16}  {figures}")
    print_ratios(ratios)
    print(f"\nExactly once, end to end, and a clean log: {'yes' if not problems else 'NO'}")
    for problem in problems:
        print(f"  {problem}")
    RESULTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_PATH.write_text(
        json.dumps(
            {
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": {**machine, "python": platform.python_version(), "postgresql": server},
                "revision": git_revision(),
                "orders": n,
                "passed": not problems,
                "problems": problems,
                "transports": results,
                "ratios": [ratio.summary() for ratio in ratios],
            },
            indent=2,
        )
    )
    print(f"Written to {RESULTS_PATH.relative_to(PROJECT_ROOT)}")
    return 0 if not problems or args.no_fail else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300, help="releases and confirmations per transport")
    parser.add_argument(
        "--transports", default=",".join(TRANSPORTS), help=f"which, comma-separated (default {','.join(TRANSPORTS)})"
    )
    parser.add_argument(
        "--releases-only", action="store_true", help="measure the releases and their baselines, not the confirmations"
    )
    parser.add_argument("--allow-any-database", action="store_true")
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.transports.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in TRANSPORTS]
    if unknown:
        parser.error(f"--transports: unknown {', '.join(unknown)}; choose from {', '.join(TRANSPORTS)}")

    os.environ.setdefault("PAYMENTS_TEST_CARD", "true")
    broker, queue = private_broker("partners")
    setup_django(test_client=True)
    logging.disable(logging.INFO)  # every message applied logs a line at INFO; warnings and errors still count
    logged = count_logged_problems()
    machine = host()
    print(f"Host: {describe_host(machine)}", flush=True)
    results = []
    try:
        server = prepare_database(args.allow_any_database, expected=BENCH_DATABASE)
        truncate_tables(("inventory", "orders", "shipping", "notifications"))
        world = make_world()
        with tempfile.TemporaryDirectory(prefix="bench-partners-") as folder:
            for kind in kinds:
                results.append(run_transport(kind, world, args, Path(folder)))
    finally:
        print(f"Redis keys of the run deleted: {purge_redis(broker, queue)}")
    return report(results, args, machine, server, logged)


if __name__ == "__main__":
    sys.exit(main())
