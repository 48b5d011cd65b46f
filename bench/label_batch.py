"""Label benchmark through the real pipeline: PostgreSQL, Redis, a `celery worker` with 2 processes.

1. Makes --shipments one-parcel shipments (orders placed, allocated, shipped
   through the order services) and buys their labels; each purchase renders
   its own label PDF (``render_shipment_label``) one at a time in this
   process: labels/s one at a time.
2. Starts a `celery worker --concurrency 2` (prefork) on Redis, on a queue of
   the run's own, queues one batch of all those labels (``start_label_batch``:
   chunks rendered in parallel, joined into one PDF) and times it until the
   batch is done; reads each worker process's peak memory (VmHWM) from /proc.
   Step 2 runs ``--rounds`` times (2), a new batch of the same labels each time.
3. The baseline, in the same run, before the first batch and after each one:
   bare WeasyPrint (``HTML(string=html).write_pdf()`` with its defaults) on
   the same labels' HTML, chunk by chunk as the batch cuts them (the HTML
   rendered beforehand, untimed), in a pool of as many processes as the
   worker has; not joined, not stored. Each batch is reported as a ratio to
   the mean of the baselines right before and right after it (the host's
   speed drifts within minutes).

Target (exit code 1 when it fails, unless ``--no-fail``): the median of the
batches' ratios at least 0.75 (``--target-ratio``), every label in each batch,
and no warning, error or traceback in the worker's log. The run's Redis keys (its
queue, bindings and wake-up flags) are deleted at the end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/oms_bench_labels \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 python bench/label_batch.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

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
from labels import bare_render, quiet_logs

DATABASE = "oms_bench_labels"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shipments", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2, help="batches, each between two baselines (default 2)")
    parser.add_argument("--chunk-size", type=int, default=None, help="default: SHIPPING_LABEL_CHUNK_SIZE")
    parser.add_argument(
        "--target-ratio", type=float, default=0.75, help="the batch ÷ bare WeasyPrint rendering (default 0.75)"
    )
    parser.add_argument("--allow-any-database", action="store_true")
    parser.add_argument("--no-fail", action="store_true", help="always exit 0, even when a target fails")
    args = parser.parse_args()
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        refuse("set CELERY_BROKER_URL=redis://127.0.0.1:6379/13 (the run's keys are deleted at the end)")
    queue = f"bench-labels-{uuid.uuid4().hex[:8]}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"  # set-up renders each purchase's label in-process
    os.environ.setdefault("MEDIA_ROOT", str(PROJECT_ROOT / "var" / "bench-media"))
    setup_django()
    quiet_logs()
    machine = host()
    print(f"Host: {describe_host(machine)}", flush=True)
    server = prepare_database(args.allow_any_database, expected=DATABASE)
    from django.conf import settings

    if args.chunk_size:
        settings.SHIPPING_LABEL_CHUNK_SIZE = args.chunk_size
    print(f"Buying and rendering {args.shipments} labels one at a time...", flush=True)
    shipment_ids, single = make_labelled_shipments(args.shipments)
    try:
        batches, bare, problems = measure_batches(
            shipment_ids, concurrency=args.concurrency, queue=queue, rounds=args.rounds
        )
    finally:
        purged = purge_redis(broker, queue)
    ratios = [
        Ratio(
            f"a batch of {batch['labels']} labels through Celery ({args.concurrency} processes), joined and stored",
            batch["labels_per_second"],
            (bare[n]["labels_per_second"] + bare[n + 1]["labels_per_second"]) / 2,
            "labels/s",
            f"bare WeasyPrint ({args.concurrency} processes, before and after)",
        )
        for n, batch in enumerate(batches)
    ]
    median_ratio = statistics.median(r.ratio for r in ratios)
    complete = all(batch["pages"] == batch["labels"] == len(shipment_ids) for batch in batches)
    passed = median_ratio >= args.target_ratio and complete and not problems
    batch = batches[len(batches) // 2]
    result = {
        "benchmark": "label_batch",
        "host": machine,
        "postgres": server,
        "one_at_a_time": single,
        "batches": batches,
        "bare_weasyprint": bare,
        "ratios": [r.summary() for r in ratios],
        "median_ratio": round(median_ratio, 4),
        "target_ratio": args.target_ratio,
        "worker_log_problems": problems,
        "chunk_size": settings.SHIPPING_LABEL_CHUNK_SIZE,
        "redis_keys_deleted": purged,
        "passed": passed,
        **git_revision(),
    }
    out = PROJECT_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "label_batch.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(
        f"\nlabels one at a time: {single['labels_per_second']} labels/s "
        f"(median {single['median_ms']} ms per label incl. database and storage); "
        + "; ".join(f"batch of {b['labels']}: {b['seconds']} s = {b['labels_per_second']} labels/s" for b in batches)
        + f" with {args.concurrency} worker processes, peak worker memory "
        f"{max(b['peak_worker_rss_mb'] for b in batches)} MB, {batch['pages']} pages, {batch['file_mb']} MB"
    )
    print(
        f"Baseline, bare WeasyPrint in the batch's chunks on {args.concurrency} processes: "
        + ", ".join(f"{run['labels_per_second']} labels/s" for run in bare)
    )
    print_ratios(ratios)
    print(f"  median of {len(ratios)}: {median_ratio:.3f}")
    print(f"Warnings, errors and tracebacks in the worker's log: {len(problems)}")
    print(f"Redis keys of the run deleted: {purged}")
    print(
        f"\nTarget: the batches' median >= {args.target_ratio:g} of bare WeasyPrint, every label, a clean worker log: "
        f"{'met' if passed else 'NOT met'}"
    )
    return 0 if passed or args.no_fail else 1


def measure_bare(shipment_ids: list[int], *, processes: int) -> dict:
    """The baseline: the labels' HTML, chunk by chunk as a batch cuts them, rendered by bare WeasyPrint."""
    from django.conf import settings

    from shipping import selectors
    from shipping.documents.pdf import render_labels_html
    from shipping.services.labels import label_data_for

    labels = [label for shipment in selectors.shipments_for_labels(shipment_ids) for label in label_data_for(shipment)]
    size = max(1, settings.SHIPPING_LABEL_CHUNK_SIZE)
    documents = [render_labels_html(labels[i : i + size]) for i in range(0, len(labels), size)]
    warm = render_labels_html(labels[:2])
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(bare_render, [warm] * processes, chunksize=1)
        start = time.perf_counter()
        rendered = list(pool.imap(bare_render, documents, chunksize=1))
        wall = time.perf_counter() - start
    print(f"  bare WeasyPrint: {len(labels)} labels in {wall:.2f} s", flush=True)
    return {
        "labels": len(labels),
        "documents": len(documents),
        "seconds": round(wall, 2),
        "labels_per_second": round(len(labels) / wall, 1),
        "cpu_ms_per_label": round(sum(cpu for _, cpu in rendered) * 1000 / len(labels), 1),
    }


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


def measure_batches(
    shipment_ids: list[int], *, concurrency: int, queue: str, rounds: int
) -> tuple[list[dict], list[dict], list[str]]:
    """One worker; the baseline, then ``rounds`` times a batch of every label followed by the baseline again.

    Returns the batches, the baselines, and the warnings and errors the worker logged.
    """
    env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false", "LOG_LEVEL": "WARNING"}
    batches: list[dict] = []
    bare = []
    with tempfile.TemporaryFile(mode="w+") as log:
        worker = subprocess.Popen(  # noqa: S603
            worker_command(f"--concurrency={concurrency}", "-Q", queue, "-l", "WARNING"),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_worker(worker.pid, concurrency)
            from oms_site.celery import app

            app.conf.task_always_eager = False
            bare.append(measure_bare(shipment_ids, processes=concurrency))
            for _ in range(rounds):
                print(f"A batch through the celery worker with {concurrency} processes...", flush=True)
                batches.append(one_batch(shipment_ids, worker.pid, concurrency))
                bare.append(measure_bare(shipment_ids, processes=concurrency))
        finally:
            worker.terminate()
            worker.wait(timeout=60)
            log.seek(0)
            output = log.read()
    problems = log_problems(output)
    if problems:
        sys.stderr.write(output)
    return batches, bare, problems


def one_batch(shipment_ids: list[int], worker_pid: int, concurrency: int) -> dict:
    from django.conf import settings
    from pypdf import PdfReader

    from shipping.models import LabelBatch
    from shipping.services import start_label_batch

    start = time.perf_counter()
    batch = start_label_batch(shipment_ids=shipment_ids, actor="bench")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        batch.refresh_from_db()
        if batch.status in (LabelBatch.Status.DONE, LabelBatch.Status.FAILED):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    peak = max((peak_rss_mb(pid) for pid in children(worker_pid)), default=0)
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
    sys.exit(main())
