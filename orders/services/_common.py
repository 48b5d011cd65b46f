"""What several order services share: the order's lock, the hold, reasons, and starting a task."""

from decimal import Decimal

from celery import Task
from django.db import transaction
from django.utils.module_loading import import_string

from shipping.models import UNSHIPPED_STATUSES, Shipment

from .. import events
from ..exceptions import HoldReleaseRefused, OrderError, ReasonRequired
from ..models import Hold, Order, OrderEvent
from ..partners import outbox as partners_outbox
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


def hold(order: Order, *, reason: str, actor, cause: str, hold_type: str = "") -> OrderEvent:
    """Put an order whose row the caller has locked on hold: the timeline says why (and what put it there,
    ``events.HOLD_CAUSES``, and of which type, ``HoldType``: the cause's own unless ``hold_type`` names one), and
    ops are alerted."""
    event = events.order_held(order, reason=reason, actor=actor, cause=cause, hold_type=hold_type)
    notify.order_on_hold(order, reason=reason, actor=actor, occurrence=str(event.pk))
    released = (
        Shipment.objects.select_for_update(of=("self",))
        .filter(order_id=order.pk, status__in=UNSHIPPED_STATUSES, partner_release__isnull=False)
        .order_by("pk")
    )
    for shipment in released:
        stop_partner_release(order, shipment, reason=f"Order {order} put on hold: {reason}", actor=actor)
    return event


def stop_partner_release(order: Order, shipment: Shipment, *, reason: str, actor) -> bool:
    """A hold stops the goods: ask the 3PL holding the shipment's open release to cancel it, and say so on the
    timeline (the caller holds the order's and the shipment's locks). Returns whether a cancel was asked.

    The 3PL accepts (the release is sent again once the hold is released) or rejects it because the parcel has
    left: its ship confirmation is then recorded and flagged for ops (``partners.services.inbound``).
    """
    message = partners_outbox.request_cancel_of_shipment(shipment, reason=reason, actor=actor, for_hold=True)
    if message is None:
        return False
    events.partner_cancel_requested_for_hold(order, shipment=shipment, partner=message.connection.name, actor=actor)
    return True


# --- typed holds: the open ones, and who may release them ------------------------------------------
def open_order_hold(order: Order) -> Hold | None:
    """The order's open order-level hold, if any."""
    return Hold.objects.filter(order_id=order.pk, shipment__isnull=True, released_at__isnull=True).first()


def refuse_without_release_permission(hold: Hold | None, *, actor, what: str) -> None:
    """An operator may release a hold only with its type's permission (``release_<type>_hold``, oms_site/roles.py);
    the system's own releases (a payment that went through, a return that arrived) are not asked."""
    if hold is None or not getattr(actor, "is_authenticated", False):
        return
    if not actor.has_perm(hold.release_permission):
        kind = hold.get_hold_type_display().lower()
        raise HoldReleaseRefused(
            f"{what} is on a {kind} hold: releasing it needs the permission to release {kind} holds "
            f"({hold.release_permission}), which you do not have."
        )


def open_shipment_hold(shipment_id: int) -> Hold | None:
    """The shipment's open hold, if any."""
    return Hold.objects.filter(shipment_id=shipment_id, released_at__isnull=True).first()


def refuse_if_shipment_held(shipment, what: str) -> None:
    """Raise OrderError when the shipment is held: no label is bought for it and it does not ship."""
    hold = open_shipment_hold(shipment.pk)
    if hold is not None:
        raise OrderError(
            f"Shipment {shipment} is on a {hold.get_hold_type_display().lower()} hold ({hold.reason}); "
            f"release it before you {what}."
        )


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
