"""What several order services share: the order's lock, the hold, reasons, and starting a task."""

from decimal import Decimal

from celery import Task
from django.db import transaction
from django.utils.module_loading import import_string

from .. import events
from ..exceptions import ReasonRequired
from ..models import Order, OrderEvent
from . import notify

CENT = Decimal("0.01")


def require_reason(reason: str, action: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired(f"A reason is required to {action} an order.")
    return reason


def lock_order(order_id: int) -> Order:
    """Lock one order row for the rest of the transaction (always the first lock taken).

    FOR NO KEY UPDATE: rows that merely reference the order (events,
    movements) can still be inserted by others meanwhile.
    """
    return Order.objects.select_for_update(no_key=True).get(pk=order_id)


def lock_order_of(model, pk: int, *, missing: Exception):
    """Lock the order a row belongs to, then the row itself (orders are always locked first).

    Returns the row with its ``order`` set to the locked order; raises
    ``missing`` when there is no such row.
    """
    order_id = model.objects.filter(pk=pk).values_list("order_id", flat=True).first()
    if order_id is None:
        raise missing
    order = lock_order(order_id)
    row = model.objects.select_for_update().get(pk=pk)
    row.order = order
    return row


def hold(order: Order, *, reason: str, actor, cause: str) -> OrderEvent:
    """Put an order whose row the caller has locked on hold: the timeline says why (and what put it there,
    ``events.HOLD_CAUSES``), and ops are alerted."""
    event = events.order_held(order, reason=reason, actor=actor, cause=cause)
    notify.order_on_hold(order, reason=reason, actor=actor, occurrence=str(event.pk))
    return event


# --- starting tasks ----------------------------------------------------------------
# A tasks module imports the services its tasks call, so a service names the task it starts (its dotted
# path) instead of importing it: the imports run one way, tasks → services.
ALLOCATE_TASK = "orders.tasks.allocate_order"  # one order: authorise its payment, then route it


def task_named(path: str) -> Task:
    """The Celery task at dotted path ``path`` (e.g. ``orders.tasks.allocate_order``)."""
    return import_string(path)


def enqueue(path: str, *args, countdown: float | None = None) -> None:
    """Start the task at ``path`` with ``args`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: task_named(path).apply_async(args, countdown=countdown))
