"""Stock receipts from CSV: each row a receipt through the ledger; a re-upload receives nothing twice."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from inventory.models import ImportJob, StockLevel, StockMovement
from tests.conftest import make_warehouse
from tests.factories import UserFactory

from .conftest import csv_text, errors_at

pytestmark = pytest.mark.django_db
RECEIPTS = "stock_receipt"
HEADER = "warehouse,sku,quantity,reference,note"


@pytest.fixture
def two_sites(catalogue):
    return {"DAL": catalogue["dal"], "EWR": make_warehouse("EWR", "08817")}


def receipts_file() -> str:
    return csv_text(
        HEADER,
        "DAL,TEE-M,120,PO-1,pallet 1",  # row 2
        "dal,MUG,48,PO-1,",  # row 3: codes are matched without case
        "EWR,TEE-M,30,PO-2,",  # row 4
        "RNO,TEE-M,5,PO-3,",  # row 5: no such warehouse
        "DAL,GHOST,5,PO-3,",  # row 6: no such SKU
        "DAL,MUG,0,PO-3,",  # row 7: nothing received
        "DAL,TEE-M,10,,",  # row 8: no reference
        "DAL,TEE-M,7,PO-1,",  # row 9: PO-1 already receives TEE-M at DAL on row 2
    )


def test_the_dry_run_lists_bad_rows_and_moves_no_stock(two_sites, dry_run):
    job = dry_run(RECEIPTS, receipts_file())

    assert (job.created_count, job.failed_count) == (3, 5)
    assert errors_at(job) == {(5, "warehouse"), (6, "sku"), (7, "quantity"), (8, "reference"), (9, "reference")}
    assert "on row 2" in next(e["message"] for e in job.error_rows if e["row"] == 9)
    assert [(p["row"], p["warehouse"], p["sku"], p["quantity"]) for p in job.preview] == [
        (2, "DAL", "TEE-M", 120),
        (3, "DAL", "MUG", 48),
        (4, "EWR", "TEE-M", 30),
    ]
    assert not StockMovement.objects.exists()
    assert not StockLevel.objects.exists()


def test_confirming_receives_each_good_row_through_the_ledger(two_sites, catalogue, dry_run, confirm):
    clerk = UserFactory(username="clerk")
    job = confirm(dry_run(RECEIPTS, receipts_file(), actor=clerk), clerk)

    assert (job.status, job.created_count, job.failed_count) == (ImportJob.Status.DONE, 3, 5)
    levels = {(lvl.warehouse.code, lvl.product.sku): lvl.on_hand for lvl in StockLevel.objects.select_related()}
    assert levels == {("DAL", "TEE-M"): 120, ("DAL", "MUG"): 48, ("EWR", "TEE-M"): 30}
    for level in StockLevel.objects.all():
        ledger = StockMovement.objects.filter(warehouse=level.warehouse, product=level.product).aggregate(
            total=Sum("quantity")
        )["total"]
        assert ledger == level.on_hand
    first = StockMovement.objects.get(reference="PO-1", product=catalogue["tee"])
    assert (first.kind, first.actor, first.reason) == (StockMovement.Kind.RECEIPT, clerk, "pallet 1")
    second = StockMovement.objects.get(reference="PO-1", product=catalogue["mug"])
    assert second.reason == f"CSV import #{job.pk} (test.csv), row 3"


def test_uploading_the_same_receipts_again_receives_nothing_twice(two_sites, dry_run, confirm):
    clerk = UserFactory()
    confirm(dry_run(RECEIPTS, receipts_file()), clerk)
    grown = csv_text(HEADER, "DAL,TEE-M,120,PO-1,pallet 1", "DAL,TEE-M,5,PO-9,")

    job = confirm(dry_run(RECEIPTS, grown), clerk)

    assert (job.created_count, job.skipped_count) == (1, 1)
    assert StockLevel.objects.get(warehouse__code="DAL", product__sku="TEE-M").on_hand == 125
    assert StockMovement.objects.filter(reference="PO-1", product__sku="TEE-M").count() == 1


def test_a_row_with_more_cells_than_the_header_is_refused_whole(two_sites, dry_run):
    job = dry_run(RECEIPTS, csv_text(HEADER, "DAL,TEE-M,1,000,PO-1,note", "DAL,MUG,2,PO-2,"))

    assert (job.created_count, job.failed_count) == (1, 1)
    (error,) = job.error_rows
    assert (error["row"], error["field"]) == (2, "row")
    assert "6 cells but the header names 5" in error["message"]


def test_a_chunk_delivered_twice_counts_and_receives_once(two_sites, django_capture_on_commit_callbacks):
    from inventory.imports import services as imports

    with django_capture_on_commit_callbacks():
        job = imports.start_import(
            kind=RECEIPTS, file_name="r.csv", content=csv_text(HEADER, "DAL,MUG,5,PO-1,"), options={}, actor="t"
        )
    imports.process_chunk(job_id=job.pk, phase="dry_run", position=0)
    with django_capture_on_commit_callbacks():
        imports.confirm_import(job_id=job.pk, actor="t")

    assert imports.process_chunk(job_id=job.pk, phase="import", position=0) is None  # finished: nothing next
    assert imports.process_chunk(job_id=job.pk, phase="import", position=0) is None  # the repeat does nothing
    job.refresh_from_db()
    assert (job.status, job.created_count, job.processed_rows) == (ImportJob.Status.DONE, 1, 1)
    assert StockLevel.objects.get(warehouse__code="DAL", product__sku="MUG").on_hand == 5


def test_a_job_whose_task_breaks_is_marked_failed_with_the_reason(db):
    from inventory import tasks

    job = ImportJob.objects.create(kind="gone", file_name="x.csv", content="a\n1\n", total_rows=1)

    with pytest.raises(LookupError):
        tasks.process_import_chunk(job.pk, "dry_run", 0)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "No import handler for 'gone'" in job.failure


def test_the_bad_rows_download_never_hands_a_spreadsheet_a_formula(db):
    from inventory.imports.services import error_rows_csv

    job = ImportJob(error_rows=[{"row": 2, "field": "note", "message": '=HYPERLINK("http://x")'}])

    assert error_rows_csv(job).splitlines()[1] == '2,note,"\'=HYPERLINK(""http://x"")"'
