"""Celery entry points for returns: thin, take ids, safe to repeat."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def render_return_label(rma_id: int) -> None:
    """Render (or render again) a return's label PDF."""
    services.render_return_label(rma_id=rma_id)


@shared_task(acks_late=True)
def reserve_replacement(rma_id: int) -> str:
    """Authorise and reserve an exchange's replacement (routing holds it for the returned goods). Safe to repeat:
    tasks queued before routing held replacements itself still find their replacement held, or hold it."""
    replacement = services.reserve_replacement(rma_id=rma_id, actor=services.CUSTOMER)
    return replacement.status if replacement else "no replacement"
