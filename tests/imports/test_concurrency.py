"""Real parallel transactions on PostgreSQL: an import chunk and an allocation on the same levels never deadlock."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from inventory.imports import services as imports
from inventory.imports.stock_receipts import StockReceiptHandler
from inventory.models import ImportJob, StockLevel
from orders import services as order_services
from orders.models import Order, OrderStatus
from tests.inventory.test_concurrency import run_in_parallel

from .conftest import csv_text

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _another_session_waits_for_our_lock(deadline_seconds: float = 10) -> bool:
    """Poll until another session waits for a lock this one holds (False if none does by the deadline)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted "
                "AND pg_backend_pid() = ANY(pg_blocking_pids(pid)))"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.01)
    return False


def test_an_import_chunk_receiving_in_file_order_and_an_allocation_locking_in_key_order_both_complete(
    sites, stock, products, order_to, settings, monkeypatch
):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    a, b = products[:2]
    level_a, level_b = stock(sites["DAL"], a, 5), stock(sites["DAL"], b, 5)
    assert level_a.pk < level_b.pk
    order = order_to("DFW", [(a, 1), (b, 1)])
    # the file names the higher-keyed level first: the opposite of the order allocation locks in
    text = csv_text("warehouse,sku,quantity,reference", "DAL,SKU-B,7,PO-9", "DAL,SKU-A,3,PO-9")
    job = imports.start_import(kind="stock_receipt", file_name="r.csv", content=text, options={}, actor="t")
    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportJob.Status.DRY_RUN_DONE, 2)
    monkeypatch.setattr(imports, "_queue_chunk", lambda *args: None)  # the chunk runs in the test's thread below
    imports.confirm_import(job_id=job.pk, actor="t")

    # After the chunk's first receipt, the allocation starts, and the chunk goes on only once the
    # allocation waits for a lock: with locks taken row by row the two would now wait for each other.
    first_applied, seen_waiting = threading.Event(), []
    apply = StockReceiptHandler.apply

    def apply_then_let_the_allocation_in(self, unit, **kwargs):
        created = apply(self, unit, **kwargs)
        if not first_applied.is_set():
            first_applied.set()
            seen_waiting.append(_another_session_waits_for_our_lock())
        return created

    monkeypatch.setattr(StockReceiptHandler, "apply", apply_then_let_the_allocation_in)

    def allocate():
        assert first_applied.wait(timeout=10)
        order_services.allocate_order(order_id=order.pk, actor="worker")

    errors = run_in_parallel([lambda: imports.process_chunk(job_id=job.pk, phase=imports.IMPORT, position=0), allocate])

    assert errors == []
    assert seen_waiting == [True]
    job.refresh_from_db()
    assert (job.status, job.created_count, job.failed_count, job.error_rows) == (ImportJob.Status.DONE, 2, 0, [])
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ALLOCATED
    levels = {level.product_id: level for level in StockLevel.objects.filter(warehouse=sites["DAL"])}
    assert (levels[a.pk].on_hand, levels[a.pk].allocated) == (8, 1)
    assert (levels[b.pk].on_hand, levels[b.pk].allocated) == (12, 1)
