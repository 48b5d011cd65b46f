"""Celery entry points for inventory."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def run_inventory_check() -> int:
    """Daily (beat, 06:00 by default): reconcile stock, store the report, email ops. Returns the run id."""
    return services.run_inventory_check(triggered_by="celery beat").pk


# --- CSV imports ----------------------------------------------------------------------


@shared_task(acks_late=True)
def process_import_chunk(job_id: int, phase: str, position: int) -> int | None:
    """Check or import one chunk of a CSV import; queues the next chunk. A repeated delivery does nothing."""
    from .imports import services as imports

    try:
        return imports.process_chunk(job_id=job_id, phase=phase, position=position)
    except Exception as error:
        # Recorded on the job so the operator sees it, then raised for the worker's log.
        imports.fail_import(job_id=job_id, error=f"{type(error).__name__}: {error}")
        raise


@shared_task(acks_late=True)
def sweep_import_jobs() -> int:
    """Periodic (beat, every 30 s): resume CSV imports whose worker died, from their last committed chunk."""
    from .imports import services as imports

    return imports.sweep_import_jobs()
