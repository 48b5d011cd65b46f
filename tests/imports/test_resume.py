"""A CSV import whose worker died: the sweep and the console's "Resume import" go on from the last committed chunk.

The death is arranged as the database shows it after a `kill -9`: a chunk committed, the next
one's task never run (its message waits in the dead worker's unacknowledged set).
tests/oms_site/test_worker_kill.py kills a real worker.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin import helpers
from django.urls import reverse
from django.utils import timezone

from inventory.imports import services as imports
from inventory.models import ImportJob
from orders.models import Order

from .conftest import ORDER_HEADER, csv_text, order_row

pytestmark = pytest.mark.django_db
ORDERS = "order"
LATER = imports.LEASE + dt.timedelta(seconds=1)


@pytest.fixture
def stranded_import(catalogue, dry_run, monkeypatch, django_capture_on_commit_callbacks):
    """Ten one-row orders in chunks of three: confirmed, the first chunk imported, the rest left by a dead worker."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 3)
    rows = [order_row(f"W-{n}", email=f"c{n}@example.com") for n in range(1, 11)]
    job = dry_run(ORDERS, csv_text(ORDER_HEADER, *rows))
    assert (job.status, job.created_count) == (ImportJob.Status.DRY_RUN_DONE, 10)
    with django_capture_on_commit_callbacks(execute=False):
        imports.confirm_import(job_id=job.pk, actor="test")
        imports.process_chunk(job_id=job.pk, phase=imports.IMPORT, position=0)
    job.refresh_from_db()
    assert (job.status, job.processed_rows, Order.objects.count()) == (ImportJob.Status.IMPORTING, 3, 3)
    return job


def imported_external_ids() -> list[str]:
    return sorted(Order.objects.values_list("external_id", flat=True), key=lambda ref: int(ref.split("-")[1]))


def test_the_sweep_leaves_a_job_alone_while_its_lease_runs(stranded_import):
    assert imports.sweep_import_jobs() == 0


def test_the_sweep_resumes_a_job_whose_worker_died_and_imports_each_row_once(
    stranded_import, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        resumed = imports.sweep_import_jobs(now=timezone.now() + LATER)

    assert resumed == 1
    job = ImportJob.objects.get(pk=stranded_import.pk)
    assert (job.status, job.processed_rows, job.created_count, job.skipped_count) == (ImportJob.Status.DONE, 10, 10, 0)
    assert imported_external_ids() == [f"W-{n}" for n in range(1, 11)]


def test_a_second_delivery_of_a_chunk_does_nothing(stranded_import, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        assert imports.process_chunk(job_id=stranded_import.pk, phase=imports.IMPORT, position=0) is None

    job = ImportJob.objects.get(pk=stranded_import.pk)
    assert (job.processed_rows, job.attempts, Order.objects.count()) == (3, 0, 3)


def test_a_chunk_that_kills_its_worker_every_time_fails_the_job_naming_its_rows(stranded_import):
    ImportJob.objects.filter(pk=stranded_import.pk).update(attempts=imports.MAX_ATTEMPTS)

    assert imports.process_chunk(job_id=stranded_import.pk, phase=imports.IMPORT, position=3) is None

    job = ImportJob.objects.get(pk=stranded_import.pk)
    assert job.status == ImportJob.Status.FAILED
    assert job.failure.startswith("The chunk of rows 5-7 was tried 5 times and never finished")
    assert Order.objects.count() == 3  # what was imported before stands


def test_resume_import_in_the_console_finishes_a_failed_job_from_its_last_chunk(
    stranded_import, client, role_user, django_capture_on_commit_callbacks
):
    imports.fail_import(job_id=stranded_import.pk, error="WorkerLostError: the worker stopped")
    client.force_login(role_user("Operations manager"))
    changelist = reverse("admin:inventory_importjob_changelist")
    assert "Resume import" in client.get(changelist).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist, {"action": "resume_import", helpers.ACTION_CHECKBOX_NAME: [stranded_import.pk]}, follow=True
        )

    assert f"{stranded_import}: importing again after the 3 of 10 rows already done (they are kept)." in (
        response.content.decode()
    )
    job = ImportJob.objects.get(pk=stranded_import.pk)
    assert (job.status, job.failure, job.created_count) == (ImportJob.Status.DONE, "", 10)
    assert imported_external_ids() == [f"W-{n}" for n in range(1, 11)]

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(
            changelist, {"action": "resume_import", helpers.ACTION_CHECKBOX_NAME: [job.pk]}, follow=True
        )
    assert f"{job} is imported: nothing to resume." in again.content.decode()


def test_resume_import_is_refused_to_who_may_not_import_that_kind(
    stranded_import, client, role_user, django_capture_on_commit_callbacks
):
    imports.fail_import(job_id=stranded_import.pk, error="WorkerLostError: the worker stopped")
    client.force_login(role_user("Warehouse staff"))  # imports stock receipts, not orders
    changelist = reverse("admin:inventory_importjob_changelist")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist, {"action": "resume_import", helpers.ACTION_CHECKBOX_NAME: [stranded_import.pk]}, follow=True
        )

    assert f"{stranded_import}: you may not import orders." in response.content.decode()
    assert ImportJob.objects.get(pk=stranded_import.pk).status == ImportJob.Status.FAILED
