"""Hold, release, cancel, notes and the late-order sweep."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from inventory import services as inventory

from .. import events
from ..exceptions import OrderError
from ..models import OPEN_STATUSES, HoldType, Order, OrderEvent, OrderLine, OrderStatus
from ..partners import outbox as partners_outbox
from . import notify, payment
from ._common import (
    ALLOCATE_TASK,
    enqueue,
    hold,
    lock_order,
    open_order_hold,
    refuse_without_release_permission,
    require_reason,
)
from .shipping import cancel_open_shipments

# Routes an order released from hold (by name: the tasks import these services).


@transaction.atomic  # not durable: a channel's order is held in the transaction that places it (Shopify webhook)
def hold_order(*, order_id: int, reason: str, actor, cause: str = "operator", hold_type: str = "") -> Order:
    """Put an order on hold, stopping fulfilment until it is released (its stock stays reserved); ops are alerted.

    Its shipments released to a 3PL are asked back: the 3PL gets a cancel request for each (``_common.hold``).

    ``cause`` says what put it there (``events.HOLD_CAUSES``): an operator unless a caller says otherwise;
    ``hold_type`` (``HoldType``) says who may release it: the cause's own type when blank.
    """
    reason = require_reason(reason, "hold")
    if hold_type and hold_type not in HoldType.values:
        raise OrderError(f"hold_type: {hold_type!r} is not a hold type; one of {', '.join(HoldType.values)}.")
    order = lock_order(order_id)
    hold(order, reason=reason, actor=actor, cause=cause, hold_type=hold_type)
    return order


@transaction.atomic(durable=True)
def release_order(*, order_id: int, actor, note: str = "") -> Order:
    """Release a held order back to the status it was held from; waiting stock is routed after commit.

    Refused (``HoldReleaseRefused``) when the operator lacks the permission of the hold's type.
    """
    order = lock_order(order_id)
    if order.status != OrderStatus.ON_HOLD:
        raise OrderError(f"Order {order} is not on hold (it is {order.get_status_display().lower()}).")
    refuse_without_release_permission(open_order_hold(order), actor=actor, what=f"Order {order}")
    release(order, note=note, actor=actor)
    return order


def release(order: Order, *, note: str, actor) -> None:
    """Put a held order (locked by the caller) back where it was held from; waiting stock is routed after commit."""
    target = order.status_beneath_hold
    events.order_released(order, to_status=target, note=note, actor=actor)
    if target in (OrderStatus.RECEIVED, OrderStatus.BACKORDERED):
        enqueue(ALLOCATE_TASK, order.pk)
    # shipments at a 3PL's warehouse that waited for the hold are released to the 3PL after commit
    partners_outbox.release_routed_orders([order.pk])


def cancel_order(*, order_id: int, reason: str, actor) -> Order:
    """Cancel an order before anything has shipped; its reserved stock goes back on sale.

    The customer is told, its shipments are cancelled (labels voided), and
    its payment's authorisation is released: the void is written with the
    cancellation and the gateway called after commit (``payment.make_call``).
    """
    reason = require_reason(reason, "cancel")
    with transaction.atomic(durable=True):
        order = lock_order(order_id)
        _, void = cancel_locked_order(order, reason=reason, actor=actor)
    payment.make_call(void, actor=actor)
    return order


def cancel_locked_order(order: Order, *, reason: str, actor, data: dict | None = None):
    """``cancel_order``'s writes, inside the caller's transaction holding the order's lock (``cancel_lines`` too).

    Returns the cancellation's timeline entry and the void it opened (or None): the caller makes the void after
    commit (``payment.make_call``). ``data`` goes into the timeline entry.
    """
    event = events.order_cancelled(order, reason=reason, actor=actor, data=data)
    notify.order_cancelled(order, reason=reason)
    void = payment.open_void(order, actor=actor, reason=reason)
    cancel_open_shipments(order=order, actor=actor)
    inventory.release_allocations(order_id=order.pk)
    OrderLine.objects.filter(order=order, quantity_allocated__gt=0).update(quantity_allocated=0)
    return event, void


@transaction.atomic(durable=True)
def add_order_note(*, order_id: int, message: str, actor) -> OrderEvent:
    """Add an operator's note to the order's timeline."""
    message = (message or "").strip()
    if not message:
        raise OrderError("A note cannot be empty.")
    order = Order.objects.get(pk=order_id)
    return events.note_added(order, message=message, actor=actor)


@transaction.atomic(durable=True)
def note_stale_channel_update(*, order_id: int, updated_at: str, applied_at: str, actor) -> OrderEvent:
    """Say on the order's timeline that a channel's update arrived after a newer one was applied and was not
    applied; said once per update (the channel's retries of it add nothing)."""
    order = lock_order(order_id)
    earlier = OrderEvent.objects.filter(
        order_id=order.pk, kind=OrderEvent.Kind.NOTE, data__stale_update=updated_at
    ).first()
    if earlier is not None:
        return earlier
    return events.channel_update_ignored(order, updated_at=updated_at, applied_at=applied_at, actor=actor)


@transaction.atomic(durable=True)
def flag_late_orders(*, today: dt.date | None = None) -> int:
    """Write a 'promise missed' event on each open order whose promised date has passed.

    Each order is flagged once. Returns how many orders were flagged.
    """
    today = today or timezone.localdate()
    already_flagged = OrderEvent.objects.filter(order=OuterRef("pk"), kind=OrderEvent.Kind.PROMISE_MISSED)
    late = (
        Order.objects.filter(status__in=OPEN_STATUSES, promised_date__lt=today)
        .filter(~Exists(already_flagged))
        .only("pk", "number", "promised_date")
    )
    now = timezone.now()
    flagged = [events.promise_missed(order, at=now, save=False) for order in late.iterator(chunk_size=2000)]
    OrderEvent.objects.bulk_create(flagged, batch_size=2000)
    return len(flagged)
