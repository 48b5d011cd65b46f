"""Label benchmark through the real pipeline: PostgreSQL, Redis, a `celery worker` with 2 processes.

1. Makes --shipments one-parcel shipments (orders placed, allocated, shipped
   through the order services) and buys their labels; each purchase renders
   its own label PDF (``render_shipment_label``) one at a time in this
   process: labels/s one at a time.
2. Starts `celery -A oms_site worker --concurrency 2` on Redis, queues one
   batch of all those labels (``start_label_batch``: chunks rendered in
   parallel, joined into one PDF) and times it until the batch is done;
   reads each worker process's peak memory (VmHWM) from /proc.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oms_bench_labels \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 python bench/label_batch.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import PROJECT_ROOT, git_revision, prepare_database, refuse, setup_django, truncate_tables

DATABASE = "oms_bench_labels"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipments", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=None, help="default: SHIPPING_LABEL_CHUNK_SIZE")
    parser.add_argument("--allow-any-database", action="store_true")
    args = parser.parse_args()
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        refuse("set CELERY_BROKER_URL=redis://127.0.0.1:6379/13 (a Redis database this benchmark may flush)")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # set-up renders each purchase's label in-process
    os.environ.setdefault("MEDIA_ROOT", str(PROJECT_ROOT / "var" / "bench-media"))
    setup_django()
    server = prepare_database(args.allow_any_database, expected=DATABASE)
    from django.conf import settings

    if args.chunk_size:
        settings.SHIPPING_LABEL_CHUNK_SIZE = args.chunk_size
    shipment_ids, single = make_labelled_shipments(args.shipments)
    batch = measure_batch(shipment_ids, concurrency=args.concurrency, broker=broker)
    result = {
        "benchmark": "label_batch",
        "postgres": server,
        "one_at_a_time": single,
        "batch": batch,
        "chunk_size": settings.SHIPPING_LABEL_CHUNK_SIZE,
        **git_revision(),
    }
    out = PROJECT_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "label_batch.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(
        f"\nlabels one at a time: {single['labels_per_second']} labels/s "
        f"(median {single['median_ms']} ms per label incl. database and storage); "
        f"batch of {batch['labels']}: {batch['seconds']} s = {batch['labels_per_second']} labels/s with "
        f"{args.concurrency} worker processes, peak worker memory {batch['peak_worker_rss_mb']} MB, "
        f"{batch['pages']} pages, {batch['file_mb']} MB"
    )


def make_labelled_shipments(count: int) -> tuple[list[int], dict]:

    from inventory import services as inventory
    from inventory.models import Product, Warehouse
    from orders import services
    from orders.models import Channel
    from shipping.demo_data import ensure_demo_carriers

    truncate_tables(("inventory", "orders", "shipping"))
    ensure_demo_carriers()
    warehouse = Warehouse(code="EWR", name="Edison DC", city="Edison", state="NJ", postal_code="08817")
    warehouse.locate()
    warehouse.save()
    product = Product.objects.create(sku="TEE-M", name="Organic tee, medium", price="24.00", weight_kg="0.300")
    inventory.receive_stock(warehouse_id=warehouse.pk, product_id=product.pk, quantity=count, actor="bench")
    channel = Channel.objects.create(code="web", name="Web store")
    ids = []
    timings = []
    names = ["José Müller", "Zoë Ng", "Ada Lovelace", "Grace Hopper", "Ken Thompson"]
    for n in range(count):
        order, _ = services.place_order(
            channel=channel,
            data=services.OrderData(
                external_id=f"bench-{n}",
                customer=services.CustomerData(name=names[n % len(names)], email=f"c{n}@example.com"),
                shipping_address=services.AddressData(
                    name=names[n % len(names)],
                    line1=f"{n} Main Street",
                    city="New York",
                    state="NY",
                    postal_code="10001",
                ),
                lines=[services.LineData(sku="TEE-M", quantity=1, unit_price=product.price)],
            ),
            actor="bench",
            route=False,
        )
        services.allocate_order(order_id=order.pk, actor="bench")
        (shipment,) = services.create_shipments(order_id=order.pk, actor="bench")
        start = time.perf_counter()
        services.buy_labels(shipment_id=shipment.pk, actor="bench")  # eager: renders the label on commit
        timings.append((time.perf_counter() - start) * 1000)
        ids.append(shipment.pk)
    return ids, {
        "labels": count,
        "median_ms": round(statistics.median(timings), 1),
        "labels_per_second": round(len(timings) / (sum(timings) / 1000), 1),
    }


def measure_batch(shipment_ids: list[int], *, concurrency: int, broker: str) -> dict:
    import redis
    from django.conf import settings
    from pypdf import PdfReader

    from shipping.models import LabelBatch
    from shipping.services import start_label_batch

    redis.Redis.from_url(broker).flushdb()
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false", "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "oms_site",
            "worker",
            f"--concurrency={concurrency}",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "WARNING",
        ],
        cwd=PROJECT_ROOT,
        env=env,
    )
    try:
        wait_for_worker(worker.pid, concurrency)
        from oms_site.celery import app

        app.conf.task_always_eager = False
        start = time.perf_counter()
        batch = start_label_batch(shipment_ids=shipment_ids, actor="bench")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            batch.refresh_from_db()
            if batch.status in (LabelBatch.Status.DONE, LabelBatch.Status.FAILED):
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        peak = max((peak_rss_mb(pid) for pid in children(worker.pid)), default=0)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    if batch.status != LabelBatch.Status.DONE:
        raise SystemExit(f"batch {batch.status}: {batch.error}")
    path = Path(settings.MEDIA_ROOT) / batch.file.name
    return {
        "labels": batch.label_count,
        "seconds": round(elapsed, 2),
        "labels_per_second": round(batch.label_count / elapsed, 1),
        "pages": len(PdfReader(path).pages),
        "file_mb": round(path.stat().st_size / 1e6, 2),
        "chunks": batch.chunks.count(),
        "worker_processes": concurrency,
        "peak_worker_rss_mb": peak,
    }


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == pid:
                found.append(int(status.parent.name))
    return found


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def wait_for_worker(pid: int, concurrency: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(children(pid)) >= concurrency:
            time.sleep(1)  # the pool processes finish importing Django
            return
        time.sleep(0.1)
    raise SystemExit("the celery worker did not start")


if __name__ == "__main__":
    main()
