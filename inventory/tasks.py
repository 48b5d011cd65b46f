"""Celery entry points for inventory."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def run_inventory_check() -> int:
    """Daily (beat, 06:00 by default): reconcile stock, store the report, email ops. Returns the run id."""
    return services.run_inventory_check(triggered_by="celery beat").pk
