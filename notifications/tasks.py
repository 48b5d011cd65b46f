"""Celery entry points for notifications. Thin: they take ids and call services."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def send_messages(message_ids: list[int]) -> int:
    """Send these outbox rows over one SMTP connection (those still pending); returns how many went out.

    Safe to run twice, at once or later: the claim lets one run send each row.
    """
    return services.send_messages(message_ids=message_ids).sent


@shared_task(acks_late=True)
def send_due_messages() -> int:
    """Woken by commits that queued email (oms_core.wakeups): send every due row; returns how many went out."""
    from oms_core import wakeups

    wakeups.woken(services.outbox.SENDING)
    return services.send_due_messages().sent


@shared_task(acks_late=True)
def sweep_outbox() -> dict:
    """Periodic: recover sends whose worker died, retry due failures, send rows whose task was lost."""
    return services.sweep_outbox()
