"""Holds on one shipment: the shipment gets no label and does not ship while held; the rest of the order carries on.

A hold on a whole order is the order's ``on_hold`` status (``lifecycle.hold_order`` / ``release_order``); both kinds
are typed (``HoldType``) and an operator releases either only with the permission of its type
(``lifecycle.refuse_without_release_permission``).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef

from shipping.models import UNSHIPPED_STATUSES, Shipment

from .. import events
from ..exceptions import OrderError
from ..models import Hold, HoldType, Order, OrderEvent, OrderStatus
from ..partners import outbox as partners_outbox
from ._common import (
    lock_order,
    open_shipment_hold,
    refuse_without_release_permission,
    require_reason,
    stop_partner_release,
)


def _locked(shipment_id: int):
    order_id = Shipment.objects.filter(pk=shipment_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise OrderError(f"No shipment with id {shipment_id}.")
    order = lock_order(order_id)
    shipment = Shipment.objects.select_for_update(of=("self",)).get(pk=shipment_id)
    return order, shipment


@transaction.atomic(durable=True)
def hold_shipment(*, shipment_id: int, hold_type: str, reason: str, actor) -> Hold:
    """Hold one shipment that has not left: no label is bought for it and it does not ship until released.

    The order's status is left alone and its other shipments carry on. The timeline says which type, why and who.
    Released to a 3PL already: the 3PL is asked to cancel the release (``_common.stop_partner_release``).
    """
    reason = require_reason(reason, "hold a shipment of")
    if hold_type not in HoldType.values:
        raise OrderError(f"hold_type: {hold_type!r} is not a hold type; one of {', '.join(HoldType.values)}.")
    order, shipment = _locked(shipment_id)
    if order.status == OrderStatus.CANCELLED:
        raise OrderError(f"Order {order} is cancelled; its shipments cannot be held.")
    if shipment.status not in UNSHIPPED_STATUSES:
        raise OrderError(
            f"Shipment {shipment} is {shipment.get_status_display().lower()}: only a shipment that has not left "
            "can be held."
        )
    current = open_shipment_hold(shipment.pk)
    if current is not None:
        raise OrderError(
            f"Shipment {shipment} is already on a {current.get_hold_type_display().lower()} hold; release it before "
            "holding it again."
        )
    hold = events.open_shipment_hold(order, shipment=shipment, hold_type=hold_type, reason=reason, actor=actor)
    stop_partner_release(order, shipment, reason=f"Shipment {shipment} put on hold: {reason}", actor=actor)
    return hold


@transaction.atomic(durable=True)
def release_shipment(*, shipment_id: int, actor, note: str = "") -> Hold:
    """Take a shipment's hold off: it may get its label and ship. Refused without the hold type's permission."""
    order, shipment = _locked(shipment_id)
    hold = open_shipment_hold(shipment.pk)
    if hold is None:
        raise OrderError(f"Shipment {shipment} is not on hold.")
    refuse_without_release_permission(hold, actor=actor, what=f"Shipment {shipment}")
    events.close_shipment_hold(order, shipment=shipment, hold=hold, note=(note or "").strip(), actor=actor)
    # at a 3PL's warehouse: released (again) to the 3PL after commit; the sweep does it if this task is lost
    partners_outbox.release_routed_orders([order.pk])
    hold.refresh_from_db()
    return hold


@transaction.atomic  # not durable: the demo's seeding calls it at the end of its own work
def type_untyped_holds() -> int:
    """Give each order on hold that has no hold row (written straight to the tables, as the demo's history is) one,
    typed from the cause of its latest entry putting it on hold, with that entry's time, author and reason.

    Returns how many rows were written. Orders on hold through ``hold_order`` already have theirs.
    """
    typed = Hold.objects.filter(order=OuterRef("pk"), shipment__isnull=True, released_at__isnull=True)
    rows = []
    for order in Order.objects.filter(status=OrderStatus.ON_HOLD).filter(~Exists(typed)).only("pk", "placed_at"):
        entry = (
            OrderEvent.objects.filter(
                order_id=order.pk, kind=OrderEvent.Kind.STATUS_CHANGED, data__to=OrderStatus.ON_HOLD
            )
            .order_by("-created_at", "-id")
            .first()
        )
        data = entry.data if entry is not None else {}
        cause = data.get("cause") or "operator"
        rows.append(
            Hold(
                order_id=order.pk,
                hold_type=events.HOLD_CAUSE_TYPES.get(cause, HoldType.CUSTOMER_REQUEST),
                cause=cause,
                reason=data.get("reason") or (entry.message if entry is not None else "on hold"),
                placed_at=entry.created_at if entry is not None else order.placed_at,
                placed_by_id=entry.actor_id if entry is not None else None,
                placed_by_name=entry.actor_name if entry is not None else "system",
            )
        )
    Hold.objects.bulk_create(rows, batch_size=2000)
    return len(rows)
