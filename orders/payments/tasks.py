"""Celery entry points for payments and the accounting export. Thin: they call services.

Retries are scheduled explicitly (``apply_async`` with a countdown computed
from the attempts recorded on the row), so a retry survives a worker
restart and the attempt count lives in the database, not in the broker.
What a payment's answer means for its order is the order workflow's
(``orders.services``), which these tasks call; the services start them by
name.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.utils import timezone

from .. import services as workflow
from .. import tasks as order_tasks
from . import accounting
from . import services as payments
from .models import ExportBatch


@shared_task(acks_late=True)
def retry_authorisation(order_id: int) -> str:
    """An authorisation timed out: route the order again, which authorises it again with the same key."""
    return order_tasks.allocate_order(order_id)


@shared_task(acks_late=True)
def retry_payment(transaction_id: int) -> str:
    """A capture, void or refund failed with an error: call the gateway again with the same key."""
    result = workflow.retry_payment(transaction_id=transaction_id)
    return result.transaction.status if result else "gone"


@shared_task(acks_late=True)
def sweep_payments() -> dict:
    """Periodic: authorisations, retries and accounting exports whose task was lost (a broker outage), calls lost
    in flight."""
    orders = payments.orders_to_authorise()
    for order_id in orders:
        order_tasks.allocate_order.delay(order_id)
    retried = payments.payments_to_retry()
    for transaction_id in retried:
        retry_payment.delay(transaction_id)
    exports = accounting.batches_to_send()
    for batch_id in exports:
        send_export_batch.delay(batch_id)
    return {"orders": len(orders), "payments": len(retried), "exports": len(exports)}


@shared_task(acks_late=True)
def export_journal(date: str | None = None) -> int | None:
    """Periodic (daily): export the journal up to yesterday (or ``date``, ISO) and send it; returns the batch id."""
    day = dt.date.fromisoformat(date) if date else timezone.localdate() - dt.timedelta(days=1)
    batch = accounting.export_journal(export_date=day)
    if batch is None:
        return None
    if batch.status == ExportBatch.Status.PENDING:
        send_export_batch.delay(batch.pk)
    return batch.pk


@shared_task(acks_late=True)
def send_export_batch(batch_id: int, resend: bool = False) -> str:
    """POST one export batch; a failure is tried again later, with backoff, up to the configured attempts."""
    batch = accounting.send_batch(batch_id=batch_id, resend=resend)
    if batch.status == ExportBatch.Status.RETRYING:
        send_export_batch.apply_async((batch_id,), countdown=accounting.export_backoff(batch.attempts))
    return batch.status
