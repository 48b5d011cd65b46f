"""Celery entry points for returns: thin, take ids, safe to repeat."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def render_return_label(rma_id: int) -> None:
    """Render (or render again) a return's label PDF."""
    services.render_return_label(rma_id=rma_id)
