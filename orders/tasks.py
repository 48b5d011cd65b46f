"""Celery entry points for orders. Thin: they call services."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def flag_late_orders() -> int:
    """Periodic: flag open orders whose promised date has passed (idempotent)."""
    return services.flag_late_orders()
