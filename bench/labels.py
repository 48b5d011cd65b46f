"""Benchmark of the shipping label renderers alone: no database, no Celery, just WeasyPrint and pypdf.

What it measures (``time.perf_counter``; peak memory is each process's VmHWM from /proc)
    1. One label per document, one after another, ``--single`` labels (default 100)
       in this process: labels/s and the median and p95 milliseconds per label.
       This is what buying one shipment's label costs.
    2. ``--batch`` labels (default 500) as ONE document, rendered in a fresh child
       process: seconds, labels/s and that process's peak RSS.
    3. The same labels cut into chunks (``--chunk-sizes``, default 25, 50 and 100)
       and rendered by a pool of ``--workers`` processes (default 2), each process
       rendering whole chunks, then joined with ``join_pdfs`` into one PDF in
       this process: wall time from the first chunk queued to the joined bytes,
       labels/s, the join's own time and peak memory (tracemalloc, in a second
       join), the peak RSS of each worker, and the joined file's size and page
       count. This is what ``start_label_batch`` does with Celery workers
       (bench/label_batch.py measures that pipeline end to end).
    4. The baseline, in the same run: bare WeasyPrint, ``HTML(string=html).write_pdf()``
       with its defaults, on the same labels' HTML (the label template's own output,
       rendered beforehand and untimed) in chunks of ``SHIPPING_LABEL_CHUNK_SIZE``, in a
       pool of ``--workers`` processes, not joined: what rendering these pages costs on
       this host today with nothing of ours around it. It runs before step 3 and again
       after each chunked run, so that every chunked run has a baseline right before and
       right after it (the host's speed drifts within minutes); each run is reported as a
       ratio to the mean of those two. The production chunk size runs ``--rounds`` times
       (3), and its target counts the median of its rounds' ratios.
    With ``--compare-barcodes``, also 100 labels in one document with the barcode
    drawn as python-barcode's SVGWriter draws it (one <rect> per bar) against the
    one-<path> SVG that ``code128_svg`` returns.

The labels are realistic and all different: four tracking-number shapes (UPS,
FedEx, USPS, lowercase), accented names, 1 to 3 parcels per shipment. The worker
pools are forked from this process after Django and WeasyPrint are imported,
as Celery's prefork workers are, so a worker's peak RSS includes that baseline.

Targets (exit code 1 when one fails, unless ``--no-fail``)
    * the batch in chunks of ``SHIPPING_LABEL_CHUNK_SIZE`` (the production setting) at least
      0.75 of the bare rendering rate (``--target-ratio``), the median of its rounds;
    * no worker process above 600 MB;
    * every joined document has one page per label.

Run it::

    .venv/bin/python bench/labels.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
import multiprocessing
import os
import platform
import statistics
import sys
import time
import tracemalloc
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

from _common import PROJECT_ROOT, Ratio, describe_host, git_revision, host, print_ratios, setup_django

RESULTS_PATH = PROJECT_ROOT / "bench" / "results" / "labels.json"
TRACKING_SHAPES = [
    lambda n: f"1Z999AA1{n:010d}",  # UPS
    lambda n: f"7946{n:08d}",  # FedEx
    lambda n: f"940011189922{n:010d}",  # USPS
    lambda n: f"rx-{n:06d}/b.Q",  # lowercase and symbols
]
NAMES = ["José Müller", "Zoë Ng", "Ada Lovelace", "Grace Hopper", "Ken Thompson", "Søren Kierkegaard"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=100, help="labels rendered one per document (default 100)")
    parser.add_argument("--batch", type=int, default=500, help="labels in the batch (default 500)")
    parser.add_argument("--chunk-sizes", default="25,50,100", help="comma-separated (default 25,50,100)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the chunks (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of the production chunk size (default 3)")
    parser.add_argument("--compare-barcodes", action="store_true", help="also time the one-<rect>-per-bar SVG")
    parser.add_argument(
        "--target-ratio", type=float, default=0.75, help="chunked batch ÷ bare WeasyPrint rendering (default 0.75)"
    )
    parser.add_argument("--target-worker-mb", type=float, default=600.0)
    parser.add_argument("--no-fail", action="store_true", help="always exit 0, even when a target fails")
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help=f"JSON results file (default {RESULTS_PATH})")
    return parser.parse_args(argv)


def make_labels(count: int) -> list:
    """`count` different labels: shipments of 1 to 3 parcels, several tracking shapes and names."""
    from shipping.documents import LabelData, PostalAddress

    ship_from = PostalAddress(
        name="Acme Outfitters · Edison DC", line1="100 Fulfillment Way", city="Edison", state="NJ", postal_code="08817"
    )
    labels = []
    shipment = 0
    while len(labels) < count:
        shipment += 1
        parcels = 1 + shipment % 3
        name = NAMES[shipment % len(NAMES)]
        ship_to = PostalAddress(
            name=name,
            company="" if shipment % 4 else "Initech LLC",
            line1=f"{100 + shipment} Main Street",
            line2="" if shipment % 2 else f"Apt {shipment % 40}B",
            city="New York",
            state="NY",
            postal_code=f"{10001 + shipment % 90:05d}",
            phone="212-555-0100",
        )
        for index in range(1, parcels + 1):
            n = len(labels)
            labels.append(
                LabelData(
                    tracking_number=TRACKING_SHAPES[n % len(TRACKING_SHAPES)](n),
                    ship_from=ship_from,
                    ship_to=ship_to,
                    vendor_name=["UPS", "FedEx", "USPS"][shipment % 3],
                    service_name=["Ground", "2Day", "Priority Mail Express"][shipment % 3],
                    service_code=["GROUND", "2DAY", "NEXT DAY"][shipment % 3],
                    weight_kg=Decimal("0.35") * index,
                    order_number=f"ORD-{shipment:06d}",
                    parcel_index=index,
                    parcel_count=parcels,
                    ship_date=dt.date(2026, 11, 25),
                    dimensions_cm="30 × 20 × 15",
                    warehouse_code="EWR",
                    reference=f"SHP-{shipment:06d}",
                )
            )
    return labels[:count]


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def quiet_logs() -> None:
    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)


def render_chunk(labels: list) -> tuple[bytes, float, int, float]:
    """In a worker: one chunk's PDF, the CPU seconds it took, the worker's pid and peak RSS so far.

    CPU time rather than wall time: other processes on the machine slow the wall clock, not the work.
    """
    from shipping.documents import render_labels_pdf

    start = time.process_time()
    pdf = render_labels_pdf(labels)
    return pdf, time.process_time() - start, os.getpid(), peak_rss_mb()


def measure_single(labels: list) -> dict:
    from shipping.documents import render_labels_pdf

    render_labels_pdf(labels[:1])  # warm-up: templates, fonts
    timings = []
    cpu_start = time.process_time()
    for label in labels:
        start = time.perf_counter()
        render_labels_pdf([label])
        timings.append(time.perf_counter() - start)
    cpu = time.process_time() - cpu_start
    timings.sort()
    return {
        "labels": len(labels),
        "seconds": round(sum(timings), 2),
        "labels_per_second": round(len(labels) / sum(timings), 1),
        "cpu_ms_per_label": round(cpu * 1000 / len(labels), 1),
        "median_ms": round(statistics.median(timings) * 1000, 1),
        "p95_ms": round(timings[int(len(timings) * 0.95) - 1] * 1000, 1),
    }


def measure_one_document(labels: list, context) -> dict:
    from pypdf import PdfReader

    with context.Pool(1) as pool:
        pool.apply(render_chunk, (labels[:2],))  # warm-up in the child, as a worker would be
        start = time.perf_counter()
        pdf, cpu_seconds, _, peak = pool.apply(render_chunk, (labels,))
        wall = time.perf_counter() - start
    return {
        "labels": len(labels),
        "seconds": round(wall, 2),
        "labels_per_second": round(len(labels) / wall, 1),
        "cpu_ms_per_label": round(cpu_seconds * 1000 / len(labels), 1),
        "peak_rss_mb": peak,
        "pages": len(PdfReader(io.BytesIO(pdf)).pages),
        "file_mb": round(len(pdf) / 1e6, 2),
    }


def measure_chunked(labels: list, chunk_size: int, workers: int, context) -> dict:
    from pypdf import PdfReader

    from shipping.documents import join_pdfs

    chunks = [labels[i : i + chunk_size] for i in range(0, len(labels), chunk_size)]
    with context.Pool(workers) as pool:
        pool.map(render_chunk, [labels[:2]] * workers, chunksize=1)  # warm each worker up
        start = time.perf_counter()
        # imap keeps the chunks' order; chunksize=1 hands out one chunk at a time, as a queue would
        results = list(pool.imap(render_chunk, chunks, chunksize=1))
        rendered = time.perf_counter()
        joined = join_pdfs([pdf for pdf, *_ in results])
        done = time.perf_counter()
    # The join again, traced: pypdf is pure Python, so tracemalloc sees what joining holds at its peak.
    tracemalloc.start()
    join_pdfs([pdf for pdf, *_ in results])
    join_peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    peaks: dict[int, float] = {}
    for _, _, pid, peak in results:
        peaks[pid] = max(peak, peaks.get(pid, 0.0))
    wall = done - start
    return {
        "chunk_size": chunk_size,
        "chunks": len(chunks),
        "workers": workers,
        "seconds": round(wall, 2),
        "render_seconds": round(rendered - start, 2),
        "join_seconds": round(done - rendered, 2),
        "join_peak_python_mb": round(join_peak_mb, 1),
        "labels_per_second": round(len(labels) / wall, 1),
        "cpu_ms_per_label": round(sum(seconds for _, seconds, _, _ in results) * 1000 / len(labels), 1),
        "worker_peak_rss_mb": sorted(peaks.values(), reverse=True),
        "pages": len(PdfReader(io.BytesIO(joined)).pages),
        "file_mb": round(len(joined) / 1e6, 2),
    }


def bare_render(html: str) -> tuple[bytes, float]:
    """In a worker: WeasyPrint alone on a ready HTML document, with its defaults; the PDF and CPU seconds."""
    from weasyprint import HTML

    start = time.process_time()
    pdf = HTML(string=html).write_pdf()
    return pdf, time.process_time() - start


def measure_bare(labels: list, chunk_size: int, workers: int, context) -> dict:
    """The baseline: the labels' HTML (untimed) rendered by bare WeasyPrint in chunks by a pool of processes."""
    from shipping.documents.pdf import render_labels_html

    documents = [render_labels_html(labels[i : i + chunk_size]) for i in range(0, len(labels), chunk_size)]
    warm = render_labels_html(labels[:2])
    with context.Pool(workers) as pool:
        pool.map(bare_render, [warm] * workers, chunksize=1)
        start = time.perf_counter()
        results = list(pool.imap(bare_render, documents, chunksize=1))
        wall = time.perf_counter() - start
    return {
        "chunk_size": chunk_size,
        "workers": workers,
        "labels": len(labels),
        "seconds": round(wall, 2),
        "labels_per_second": round(len(labels) / wall, 1),
        "cpu_ms_per_label": round(sum(seconds for _, seconds in results) * 1000 / len(labels), 1),
    }


def rect_barcode_svg(value: str) -> str:
    """python-barcode's own SVGWriter output (one <rect> per bar), XML prolog stripped, the same size."""
    from barcode.codex import Code128
    from barcode.writer import SVGWriter

    from shipping.documents.barcodes import BAR_HEIGHT_MM, MAX_MODULE_MM, MAX_WIDTH_MM, QUIET_ZONE_MODULES

    total = len(Code128(value).build()[0]) + 2 * QUIET_ZONE_MODULES
    module_mm = min(MAX_MODULE_MM, MAX_WIDTH_MM / total)
    buffer = io.BytesIO()
    options = {
        "write_text": False,
        "module_width": module_mm,
        "module_height": BAR_HEIGHT_MM,
        "quiet_zone": QUIET_ZONE_MODULES * module_mm,
        "margin_top": 0,
        "margin_bottom": 0,
    }
    Code128(value, writer=SVGWriter()).write(buffer, options=options)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]


def compare_barcodes(labels: list) -> dict:
    from unittest import mock

    from shipping.documents import pdf as pdf_module

    def timed() -> float:
        pdf_module.render_labels_pdf(labels[:2])
        runs = []
        for _ in range(3):
            start = time.process_time()
            pdf_module.render_labels_pdf(labels)
            runs.append(time.process_time() - start)
        return min(runs) * 1000 / len(labels)

    path_ms = timed()
    # The bench swaps the barcode function the renderer uses, to time the alternative in the same template.
    with mock.patch.object(pdf_module, "code128_svg", rect_barcode_svg):
        rect_ms = timed()
    return {"labels": len(labels), "one_path_ms_per_label": round(path_ms, 1), "rects_ms_per_label": round(rect_ms, 1)}


def font_subsetter() -> str:
    from weasyprint.text.ffi import harfbuzz_subset

    return "harfbuzz-subset" if harfbuzz_subset else "fontTools (slow: install libharfbuzz-subset0)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_django()
    quiet_logs()
    import django
    from django.conf import settings

    machine = host()
    print(f"Host: {describe_host(machine)}", flush=True)
    production_chunk = settings.SHIPPING_LABEL_CHUNK_SIZE

    # Workers fork from here with Django, WeasyPrint and the templates loaded, like Celery's prefork pool.
    from shipping.documents import render_labels_pdf

    load_before = round(os.getloadavg()[0], 2)
    context = multiprocessing.get_context("fork")
    chunk_sizes = [int(size) for size in args.chunk_sizes.split(",") if size.strip()]
    if production_chunk not in chunk_sizes:
        chunk_sizes.append(production_chunk)
    labels = make_labels(max(args.batch, args.single))
    render_labels_pdf(labels[:2])

    versions = {
        "python": platform.python_version(),
        "django": django.get_version(),
        "weasyprint": version("weasyprint"),
        "pypdf": version("pypdf"),
        "python-barcode": version("python-barcode"),
        "font_subsetter": font_subsetter(),
    }
    print(
        f"Python {versions['python']} · WeasyPrint {versions['weasyprint']} · pypdf {versions['pypdf']} · "
        f"{os.cpu_count()} CPUs · fonts subset with {versions['font_subsetter']}",
        flush=True,
    )

    print(f"Rendering {args.single} labels one per document...", flush=True)
    single = measure_single(labels[: args.single])
    print(f"Rendering {args.batch} labels as one document in one process...", flush=True)
    one_document = measure_one_document(labels[: args.batch], context)

    def bare_run() -> dict:
        print(f"Baseline: bare WeasyPrint, chunks of {production_chunk}, {args.workers} processes...", flush=True)
        return measure_bare(labels[: args.batch], production_chunk, args.workers, context)

    bare = [bare_run()]
    chunked = []
    ratios = []
    order = chunk_sizes + [production_chunk] * (args.rounds - 1)
    for size in order:
        print(f"Rendering {args.batch} labels in chunks of {size} with {args.workers} processes, then joining...")
        run = measure_chunked(labels[: args.batch], size, args.workers, context)
        bare.append(bare_run())
        around = (bare[-2]["labels_per_second"] + bare[-1]["labels_per_second"]) / 2
        chunked.append(run)
        ratios.append(
            Ratio(
                f"{args.batch} labels in chunks of {size}, joined",
                run["labels_per_second"],
                around,
                "labels/s",
                f"bare WeasyPrint ({args.workers} processes, before and after)",
            )
        )
    production_ratios = [r for r, run in zip(ratios, chunked, strict=True) if run["chunk_size"] == production_chunk]
    production_ratio = statistics.median(r.ratio for r in production_ratios)
    barcodes = compare_barcodes(labels[:100]) if args.compare_barcodes else None

    git = git_revision()
    best = max(chunked, key=lambda run: run["labels_per_second"])
    worst_worker = max(max(run["worker_peak_rss_mb"]) for run in chunked)
    targets = [
        {
            "target": f">= {args.target_ratio:g} of bare WeasyPrint (chunks of {production_chunk}, median of "
            f"{len(production_ratios)} rounds)",
            "passed": production_ratio >= args.target_ratio,
            "detail": f"ratios {', '.join(f'{r.ratio:.3f}' for r in production_ratios)}: median {production_ratio:.3f}",
        },
        {
            "target": f"no worker above {args.target_worker_mb:g} MB",
            "passed": worst_worker <= args.target_worker_mb,
            "detail": f"highest worker peak {worst_worker} MB",
        },
        {
            "target": "every joined document has one page per label",
            "passed": all(run["pages"] == args.batch for run in chunked) and one_document["pages"] == args.batch,
            "detail": f"pages {[run['pages'] for run in chunked]}, one document {one_document['pages']}",
        },
    ]
    passed = all(t["passed"] for t in targets)
    results = {
        "benchmark": "labels",
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": versions,
        "host": machine,
        # Other processes slow the wall clock: the load before and after says how busy the machine was.
        "load_average_1m": {"before": load_before, "after": round(os.getloadavg()[0], 2)},
        "git": git,
        "one_per_document": single,
        "one_document": one_document,
        "chunked": chunked,
        "best_chunk_size": best["chunk_size"],
        "bare_weasyprint": bare,
        "ratios": [ratio.summary() for ratio in ratios],
        "production_chunk_size": production_chunk,
        "production_ratio_median": round(production_ratio, 4),
        "barcode_svg": barcodes,
        "targets": targets,
        "passed": passed,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps(results, indent=2, default=str))

    print()
    if git:
        print(f"Commit {git['commit']}")
    print(
        f"Load average (1 min): {results['load_average_1m']['before']} before, "
        f"{results['load_average_1m']['after']} after"
    )
    print(
        f"One label per document: {single['labels_per_second']} labels/s "
        f"(median {single['median_ms']} ms, p95 {single['p95_ms']} ms, {single['cpu_ms_per_label']} CPU ms per label)"
    )
    print(
        f"{one_document['labels']} labels in one document, one process: {one_document['seconds']} s = "
        f"{one_document['labels_per_second']} labels/s ({one_document['cpu_ms_per_label']} CPU ms per label), "
        f"peak RSS {one_document['peak_rss_mb']} MB, {one_document['file_mb']} MB"
    )
    print(f"\n{args.batch} labels in chunks, {args.workers} worker processes, joined into one PDF:")
    print(f"{'chunk':>6}  {'chunks':>6}  {'wall s':>7}  {'join s':>6}  {'join MB':>7}  {'labels/s':>8}  "
          f"{'CPU ms/label':>12}  {'worker peak MB':>16}  {'pages':>5}  {'file MB':>7}")  # fmt: skip
    print("-" * 101)
    for run in chunked:
        peaks = " / ".join(f"{mb:.0f}" for mb in run["worker_peak_rss_mb"])
        print(
            f"{run['chunk_size']:>6}  {run['chunks']:>6}  {run['seconds']:>7.2f}  {run['join_seconds']:>6.2f}  "
            f"{run['join_peak_python_mb']:>7.1f}  "
            f"{run['labels_per_second']:>8.1f}  {run['cpu_ms_per_label']:>12.1f}  {peaks:>16}  {run['pages']:>5}  "
            f"{run['file_mb']:>7.2f}"
        )
    if barcodes:
        print(
            f"\nBarcode SVG, {barcodes['labels']} labels in one document (CPU, best of 3): one <path> "
            f"{barcodes['one_path_ms_per_label']} ms per label, one <rect> per bar {barcodes['rects_ms_per_label']} ms"
        )

    print(
        f"\nBaseline, bare WeasyPrint in chunks of {production_chunk} on {args.workers} processes: "
        + ", ".join(f"{run['labels_per_second']} labels/s ({run['cpu_ms_per_label']} CPU ms a label)" for run in bare)
    )
    print_ratios(ratios)
    print(
        f"  chunks of {production_chunk} (production), median of {len(production_ratios)} rounds: "
        f"{production_ratio:.3f}; CPU ms a label, bare / chunks of {production_chunk}: "
        f"{statistics.median(run['cpu_ms_per_label'] for run in bare):.1f} / "
        f"{statistics.median(r['cpu_ms_per_label'] for r in chunked if r['chunk_size'] == production_chunk):.1f}"
    )
    print(f"\nBest chunk size: {best['chunk_size']}")
    print("Targets:")
    for target in targets:
        print(f"  {'PASS' if target['passed'] else 'FAIL'}  {target['target']} ({target['detail']})")
    print(f"\nResults written to {args.output}")
    return 0 if passed or args.no_fail else 1


if __name__ == "__main__":
    sys.exit(main())
