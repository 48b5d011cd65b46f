"""The steps of a CSV import job: upload (header checked now), dry run, confirmation, import.

Both phases run in the background in chunks of about ``CHUNK_ROWS`` rows,
one Celery task per chunk, each chunk one transaction that also moves the
job's counts (so the page's progress bar moves) and queues the next chunk
after commit. A chunk runs only if the job is where it expects (status and
position), so a task delivered twice does nothing the second time.

The dry run writes nothing but the job. The import opens a savepoint per
unit (an order, a receipt row): a unit that fails is rolled back whole and
reported with its rows; the others go on. The row locks the units need
are taken first, for the whole chunk at once in key order (``handler.lock``):
savepoints keep their locks to the chunk's end, so taking them unit by unit
would hold them in file order against workers that lock in key order.

A worker can die mid-job (``kill -9``, out of memory, a lost machine): its
chunk's transaction is rolled back, and the next chunk's task waits in the
broker's unacknowledged set for its visibility timeout. So a running job has
a lease (``lease_until``): every committed chunk moves it on, and while a
chunk runs its transaction holds the job's row. The sweep
(``sweep_import_jobs``, beat every 30 s) queues the chunk at ``position``
again for a job whose lease ran out and whose row nobody holds: the import
resumes from the last committed chunk, each row imported once. The console's
"Resume import" does the same at once (``resume_import``). A chunk tried
``MAX_ATTEMPTS`` times without committing (it kills its worker) fails the job.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging

from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from oms_core.csvfiles import csv_text

from ..exceptions import InventoryError
from ..models import ImportJob
from ..services._common import user_or_none
from .base import ImportFileError, ImportRefused, RowError, Unit, check_shape, decode, read_csv, storable
from .registry import get_handler

CHUNK_ROWS = 200
PREVIEW_UNITS = 20
DRY_RUN, IMPORT = "dry_run", "import"
PHASE_STATUS = {DRY_RUN: ImportJob.Status.DRY_RUN_RUNNING, IMPORT: ImportJob.Status.IMPORTING}
RUNNING = tuple(PHASE_STATUS.values())
# How long a running job may go without a committed chunk before the sweep queues its chunk again. Short: a
# chunk that runs longer holds the job's row (the sweep skips it), and a copy of a chunk's task does nothing.
LEASE = dt.timedelta(seconds=10)
# Tries of one chunk that never committed (each killed its worker) before the job fails, naming the rows.
MAX_ATTEMPTS = 5
logger = logging.getLogger(__name__)


class ImportJobError(InventoryError):
    """The job is not in a state that allows the step."""


# The last files read by this process: a job's chunks usually run in one worker, and reading a
# 10,000-row file again for each of its 50 chunks would cost more than the chunks themselves.
_parsed: dict[tuple[int, int, str], list[Unit]] = {}


def parse_units(job: ImportJob) -> list[Unit]:
    """The job's file read into units, in the order of their first row (pure: no database).

    Callers get copies: checking a chunk writes on its units.
    """
    key = (job.pk, len(job.content), hashlib.sha256(job.content.encode()).hexdigest())
    units = _parsed.get(key)
    if units is None:
        handler = get_handler(job.kind)
        rows = read_csv(job.content, required=handler.required_columns, optional=handler.optional_columns)
        units = handler.group(rows, job.options)
        _parsed.clear()  # one file at a time is enough
        _parsed[key] = units
    return units


@transaction.atomic
def start_import(*, kind: str, file_name: str, content: bytes | str, options: dict, actor) -> ImportJob:
    """Keep the file and queue its dry run. The header is checked now: ImportFileError names what is wrong."""
    handler = get_handler(kind)
    text = decode(content)
    rows = read_csv(text, required=handler.required_columns, optional=handler.optional_columns)
    job = ImportJob.objects.create(
        kind=kind,
        file_name=(file_name or "upload.csv")[:200],
        content=storable(text),  # a NUL's row is refused by the dry run; the database cannot keep the NUL itself
        options=options,
        uploaded_by=user_or_none(actor),
        total_rows=len(rows),
        status=ImportJob.Status.DRY_RUN_RUNNING,
        lease_until=timezone.now() + LEASE,
    )
    _queue_chunk(job.pk, DRY_RUN, 0)
    return job


@transaction.atomic
def confirm_import(*, job_id: int, actor) -> ImportJob:
    """Import the good units of a checked file, in the background. Keeps the dry run's report beside."""
    job = ImportJob.objects.select_for_update().get(pk=job_id)
    if job.status != ImportJob.Status.DRY_RUN_DONE:
        raise ImportJobError(f"{job} is {job.get_status_display().lower()}; only a checked file can be imported.")
    if not job.created_count:
        raise ImportJobError(f"{job}: the dry run found nothing to import.")
    job.dry_run_report = {
        "would_create": job.created_count,
        "already_imported": job.skipped_count,
        "refused": job.failed_count,
        "error_rows": job.error_rows,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    job.status = ImportJob.Status.IMPORTING
    job.confirmed_by = user_or_none(actor)
    job.confirmed_at = timezone.now()
    job.processed_rows = job.position = job.created_count = job.skipped_count = job.failed_count = 0
    job.attempts = 0
    job.error_rows = []
    job.started_at = job.finished_at = None
    job.lease_until = timezone.now() + LEASE
    job.save()
    _queue_chunk(job.pk, IMPORT, 0)
    return job


def process_chunk(*, job_id: int, phase: str, position: int) -> int | None:
    """Check (dry run) or import the units from ``position`` on, about CHUNK_ROWS rows of them.

    Returns the next position, or None when the job is finished or was not
    where this chunk expected it (a repeated delivery).
    """
    # The try is counted in a transaction of its own: a worker that dies in the chunk's leaves it counted.
    tried = (
        ImportJob.objects.filter(pk=job_id, status=PHASE_STATUS[phase], position=position)
        .filter(attempts__lt=MAX_ATTEMPTS)
        .update(attempts=F("attempts") + 1)
    )
    if not tried:
        _fail_worn_chunk(job_id, phase, position)
        return None
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status != PHASE_STATUS[phase] or job.position != position:
            return None
        handler = get_handler(job.kind)
        units = parse_units(job)
        chunk = copy.deepcopy(_chunk(units, position))
        if job.started_at is None:
            job.started_at = timezone.now()
        for unit in chunk:
            shape = [error for row in unit.rows if (error := check_shape(row))]
            if shape:  # its cells are misaligned: what else was found about it is noise
                unit.errors = shape
        handler.check([unit for unit in chunk if not unit.errors], job.options)
        if phase == IMPORT:  # all of the chunk's locks at once, in key order, not unit by unit in file order
            handler.lock([unit for unit in chunk if not unit.errors and not unit.skip_reason], job.options)
        actor = job.confirmed_by or "csv import"
        errors: list[dict] = []
        for unit in chunk:
            if not unit.errors and not unit.skip_reason and phase == IMPORT:
                _import_unit(handler, unit, job=job, actor=actor)
            if unit.errors:
                job.failed_count += 1
                errors.extend(error.as_dict() for error in sorted(unit.errors, key=lambda e: e.row))
            elif unit.skip_reason:
                job.skipped_count += 1
            else:
                job.created_count += 1
                if phase == DRY_RUN and len(job.preview) < PREVIEW_UNITS:
                    job.preview = [*job.preview, handler.preview(unit)]
        job.error_rows = [*job.error_rows, *errors]
        job.position = position + len(chunk)
        job.processed_rows = min(job.total_rows, job.processed_rows + sum(len(unit.rows) for unit in chunk))
        finished = job.position >= len(units)
        job.attempts = 0
        job.lease_until = timezone.now() + LEASE  # the heartbeat: this chunk committed, the next is queued
        if finished:
            job.processed_rows = job.total_rows
            job.finished_at = timezone.now()
            job.status = ImportJob.Status.DRY_RUN_DONE if phase == DRY_RUN else ImportJob.Status.DONE
            job.lease_until = None
        job.save()
        if not finished:
            _queue_chunk(job.pk, phase, job.position)
    return None if finished else job.position


def _import_unit(handler, unit: Unit, *, job: ImportJob, actor) -> None:
    """One unit in its own savepoint: all of it is written, or none of it and its errors are kept."""
    try:
        with transaction.atomic():
            created = handler.apply(unit, options=job.options, actor=actor, job=job)
    except ImportRefused as refusal:
        unit.errors.extend(refusal.errors)
    except DatabaseError as error:
        # A constraint the checks did not foresee: the unit is rolled back, the operator sees why.
        unit.refuse(unit.first_row, "row", f"the database refused it ({type(error).__name__}: {error})")
    else:
        if not created:
            unit.skip_reason = "already imported"


def _chunk(units: list[Unit], position: int) -> list[Unit]:
    chunk, rows = [], 0
    for unit in units[position:]:
        if chunk and rows + len(unit.rows) > CHUNK_ROWS:
            break
        chunk.append(unit)
        rows += len(unit.rows)
    return chunk


def _queue_chunk(job_id: int, phase: str, position: int) -> None:
    from .. import tasks

    tasks.process_import_chunk.delay_on_commit(job_id, phase, position)


def _fail_worn_chunk(job_id: int, phase: str, position: int) -> None:
    """The chunk at ``position`` was tried MAX_ATTEMPTS times and never committed: fail the job, naming its rows."""
    job = ImportJob.objects.filter(pk=job_id, status=PHASE_STATUS[phase], position=position).first()
    if job is None or job.attempts < MAX_ATTEMPTS:
        return  # a repeated delivery of a chunk already done
    chunk = _chunk(parse_units(job), position)
    rows = sorted(row.number for unit in chunk for row in unit.rows)
    where = f"rows {rows[0]}-{rows[-1]}" if rows else f"unit {position + 1}"
    fail_import(
        job_id=job_id,
        error=(
            f"The chunk of {where} was tried {job.attempts} times and never finished: its worker stopped each "
            "time (killed, out of memory?). What was imported before it stands; Resume import tries it again."
        ),
    )


def _phase_of(job: ImportJob) -> str:
    return IMPORT if job.confirmed_at else DRY_RUN


def sweep_import_jobs(*, now: dt.datetime | None = None) -> int:
    """Periodic: queue again the chunk of each running job whose lease ran out (its worker died).

    Jobs whose row a chunk holds (it is running, however long) are skipped.
    Returns how many jobs were queued again.
    """
    now = now or timezone.now()
    with transaction.atomic():
        stale = list(
            ImportJob.objects.select_for_update(skip_locked=True)
            .only("pk", "status", "position", "confirmed_at")
            .filter(status__in=RUNNING)
            .filter(Q(lease_until=None) | Q(lease_until__lt=now))
            .order_by("pk")
        )
        ImportJob.objects.filter(pk__in=[job.pk for job in stale]).update(lease_until=now + LEASE)
        for job in stale:
            _queue_chunk(job.pk, _phase_of(job), job.position)
    if stale:
        logger.warning("CSV imports %s: their worker stopped mid-job; resumed", [job.pk for job in stale])
    return len(stale)


@transaction.atomic
def resume_import(*, job_id: int, actor) -> ImportJob:
    """Go on with a failed or stalled job from its last committed chunk (the console's "Resume import").

    A failed job runs its phase again from ``position``; a running one gets
    its chunk queued again (if a worker is on it, the copy does nothing).
    Refuses (ImportJobError) a job that is not running or failed. The
    operator is recorded by the console's change log.
    """
    job = ImportJob.objects.select_for_update().defer("content").get(pk=job_id)
    if not job.is_running and job.status != ImportJob.Status.FAILED:
        raise ImportJobError(f"{job} is {job.get_status_display().lower()}: nothing to resume.")
    phase = _phase_of(job)
    job.status = PHASE_STATUS[phase]
    job.failure = ""
    job.finished_at = None
    job.attempts = 0
    job.lease_until = timezone.now() + LEASE
    job.save(update_fields=["status", "failure", "finished_at", "attempts", "lease_until"])
    _queue_chunk(job.pk, phase, job.position)
    return job


def fail_import(*, job_id: int, error: str) -> None:
    """Mark the job failed (the task raised); what the chunks committed before stands and is counted."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or not job.is_running:
            return
        job.status = ImportJob.Status.FAILED
        job.failure = error[:2000]
        job.finished_at = timezone.now()
        job.lease_until = None
        job.save(update_fields=["status", "failure", "finished_at", "lease_until"])


def error_rows_csv(job: ImportJob) -> str:
    """Every bad row of the job as CSV (row, field, message), for fixing the sheet.

    Messages quote what the file said, so their text is guarded against running as a formula.
    """
    rows = [[error["row"], error["field"], error["message"]] for error in job.error_rows]
    return csv_text([["row", "field", "message"], *rows], lineterminator="\n")


__all__ = [
    "CHUNK_ROWS",
    "ImportFileError",
    "ImportJobError",
    "RowError",
    "confirm_import",
    "error_rows_csv",
    "fail_import",
    "process_chunk",
    "resume_import",
    "start_import",
    "sweep_import_jobs",
]
