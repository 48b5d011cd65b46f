"""Releasing shipments to the 3PLs that run their warehouses, changes and cancellations, items, deadlines.

Routing reserves stock at a 3PL's warehouse like at any other; after it commits, ``release_orders`` makes
the shipments of what it reserved there (``orders.services.create_shipments``, that warehouse only) and
releases each to the 3PL: one release per shipment, idempotent by the shipment's number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from inventory.models import Allocation, Product
from shipping.models import UNSHIPPED_STATUSES, Shipment, ShipmentStatus

from ... import services as workflow
from ...exceptions import OrderError
from ...models import Hold
from ...services._common import lock_order, open_shipment_hold
from ...services.shipping import SHIPPABLE
from ..exceptions import PartnerError
from ..models import (
    Direction,
    MessageKind,
    PartnerConnection,
    PartnerMessage,
    PartnerRelease,
    ReleaseState,
)
from ..outbox import (
    HOLD_CANCEL_KEY,
    queue_message,
    release_payload,
    request_cancel_of_shipment,
    request_change_of_shipment,
)

logger = logging.getLogger(__name__)


def release_orders(*, order_ids: list[int], actor) -> list[PartnerRelease]:
    """Make and release the shipments of the units routing reserved at 3PL warehouses for these orders.

    Each order's shipments are made in their own transaction, then each shipment is released in its own;
    a crash between the two leaves a shipment the sweep releases later. Returns the new releases.
    """
    partner_warehouses = dict(PartnerConnection.objects.filter(is_active=True).values_list("warehouse_id", "pk"))
    if not partner_warehouses:
        return []
    in_partner = set(
        Allocation.objects.filter(order_id__in=order_ids, warehouse_id__in=list(partner_warehouses)).values_list(
            "order_id", flat=True
        )
    )
    for order_id in sorted(in_partner):
        try:
            workflow.create_shipments(order_id=order_id, actor=actor, warehouse_ids=set(partner_warehouses))
        except OrderError as refusal:  # nothing new reserved there (made already), or the order moved on
            logger.info("3PL release: no shipment made for order %s: %s", order_id, refusal)
    return release_waiting_shipments(order_ids=sorted(in_partner), actor=actor)


def release_waiting_shipments(*, actor, order_ids: list[int] | None = None, limit: int = 500) -> list[PartnerRelease]:
    """Release every shipment at an active 3PL's warehouse still awaiting its release (of these orders, or all).

    A held shipment, or one of an order not ready to ship (on hold), waits: it goes once its hold is released.
    A release the 3PL cancelled because of a hold is sent again, as its next version, once the hold is off.
    """
    waiting = (
        Shipment.objects.filter(
            status=ShipmentStatus.AWAITING_LABEL,
            warehouse__partner_connection__is_active=True,
            order__status__in=SHIPPABLE,
        )
        .exclude(Exists(Hold.objects.filter(shipment_id=OuterRef("pk"), released_at__isnull=True)))
        .exclude(Exists(PartnerRelease.objects.filter(shipment=OuterRef("pk")).exclude(Exists(_cancelled_for_hold()))))
    )
    if order_ids is not None:
        waiting = waiting.filter(order_id__in=order_ids)
    released = []
    for shipment_id in waiting.order_by("pk").values_list("pk", flat=True)[:limit]:
        try:
            release, created = release_shipment(shipment_id=shipment_id, actor=actor)
        except PartnerError as refusal:  # held, or changed, since the query: it waits for the next pass
            logger.info("3PL release: %s", refusal)
            continue
        if created:
            released.append(release)
    return released


def _cancelled_for_hold():
    """A release (``OuterRef("pk")``) the 3PL cancelled at our request because its shipment or order went on hold."""
    return PartnerMessage.objects.filter(
        release_id=OuterRef("pk"),
        direction=Direction.OUT,
        kind=MessageKind.CANCEL,
        key__contains=HOLD_CANCEL_KEY,
        release__state=ReleaseState.CANCELLED,
    )


def release_waiting_orders(*, actor, limit: int = 200) -> list[PartnerRelease]:
    """Release what orders hold at an active 3PL's warehouse with no open shipment there: an order on hold when it
    was routed (released since), units a 3PL backordered, a release task that was lost. The sweep's safety net."""
    open_shipment = Shipment.objects.filter(
        order_id=OuterRef("order_id"), warehouse_id=OuterRef("warehouse_id"), status__in=UNSHIPPED_STATUSES
    )
    order_ids = list(
        Allocation.objects.filter(
            warehouse__partner_connection__is_active=True, order__status__in=SHIPPABLE, quantity__gt=0
        )
        .exclude(Exists(open_shipment))
        .order_by("order_id")
        .values_list("order_id", flat=True)
        .distinct()[:limit]
    )
    return release_orders(order_ids=order_ids, actor=actor) if order_ids else []


@transaction.atomic(durable=True)
def release_shipment(*, shipment_id: int, actor) -> tuple[PartnerRelease, bool]:
    """Release one shipment to the 3PL of its warehouse; sent after commit. A shipment released already is left.

    A release the 3PL cancelled because of a hold is sent again as its next version. Returns the release and
    whether it was sent now. Raises PartnerError when no active 3PL runs its warehouse, or when the shipment or
    its order is on hold (it is released when the hold is).
    """
    order_id = Shipment.objects.filter(pk=shipment_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise PartnerError(f"No shipment with id {shipment_id}.")
    order = lock_order(order_id)  # the order first, as every order service does: a hold cannot slip in between
    shipment = (
        Shipment.objects.select_for_update(of=("self",))
        .select_related("service__vendor", "warehouse")
        .get(pk=shipment_id)
    )
    existing = PartnerRelease.objects.select_for_update(of=("self",)).filter(shipment=shipment).first()
    again = (
        existing is not None
        and PartnerRelease.objects.filter(pk=existing.pk).filter(Exists(_cancelled_for_hold())).exists()
    )
    if existing is not None and not again:
        return existing, False
    connection = PartnerConnection.objects.filter(warehouse_id=shipment.warehouse_id, is_active=True).first()
    if connection is None:
        raise PartnerError(f"Shipment {shipment}: no active 3PL connection runs {shipment.warehouse.code}.")
    if shipment.status != ShipmentStatus.AWAITING_LABEL:
        raise PartnerError(f"Shipment {shipment} is {shipment.get_status_display().lower()}; it cannot be released.")
    hold = open_shipment_hold(shipment.pk)
    if hold is not None:
        raise PartnerError(
            f"Shipment {shipment} is on a {hold.get_hold_type_display().lower()} hold; it is released to "
            f"{connection.name} when its hold is released."
        )
    if order.status not in SHIPPABLE:
        raise PartnerError(
            f"Order {order} is {order.get_status_display().lower()}; shipment {shipment} is released to "
            f"{connection.name} when the order can ship."
        )
    now = timezone.now()
    if again:  # the same shipment, sent again as the next version (its number is the 3PL's key)
        release = existing
        release.connection = connection
        release.state = ReleaseState.RELEASED
        release.version += 1
        release.released_at = now
        release.ack_due_at = connection.ack_deadline(now)
        release.acknowledged_at = None
        release.overdue = False
        release.partner_reference = ""
        release.note = "Released again after its hold was released."
        release.save()
    else:
        release = PartnerRelease.objects.create(
            connection=connection, shipment=shipment, released_at=now, ack_due_at=connection.ack_deadline(now)
        )
    queue_message(
        connection,
        kind=MessageKind.RELEASE,
        key=f"release:{shipment.number}:v{release.version}",
        payload=release_payload(release, shipment),
        release=release,
    )
    return release, True


def _lock_release(release_id: int) -> tuple[object, PartnerRelease]:
    order_id = PartnerRelease.objects.filter(pk=release_id).values_list("shipment__order_id", flat=True).first()
    if order_id is None:
        raise PartnerError(f"No release with id {release_id}.")
    order = lock_order(order_id)  # the order first, as every order service does
    release = (
        PartnerRelease.objects.select_for_update(of=("self",))
        .select_related("connection", "shipment__service__vendor")
        .get(pk=release_id)
    )
    return order, release


@transaction.atomic(durable=True)
def request_change(*, release_id: int, reason: str, actor) -> PartnerMessage:
    """Send the shipment as it now stands (ship-to, service, lines) as a change; the 3PL accepts or rejects it.

    The release's version goes up; the change's key carries it, so each version is sent once.
    """
    reason = (reason or "").strip()
    if not reason:
        raise PartnerError("A reason is required to send a change to the 3PL.")
    _, release = _lock_release(release_id)
    message = request_change_of_shipment(release.shipment, reason=reason, actor=actor)
    if message is None:
        raise PartnerError(f"{release} is {release.get_state_display().lower()}; only an open release can change.")
    return message


@transaction.atomic(durable=True)
def request_cancel(*, release_id: int, reason: str, actor) -> PartnerMessage:
    """Ask the 3PL to cancel a release (the order is not cancelled here: that is the order's own action)."""
    reason = (reason or "").strip()
    if not reason:
        raise PartnerError("A reason is required to ask the 3PL to cancel a release.")
    _, release = _lock_release(release_id)
    message = request_cancel_of_shipment(release.shipment, reason=reason, actor=actor)
    if message is None:
        raise PartnerError(f"{release} is {release.get_state_display().lower()}; there is nothing to cancel.")
    return message


def flag_overdue_releases(*, now: dt.datetime | None = None) -> int:
    """Flag releases the 3PL has not acknowledged by their deadline (the console lists them); returns how many."""
    now = now or timezone.now()
    return PartnerRelease.objects.filter(state=ReleaseState.RELEASED, ack_due_at__lte=now, overdue=False).update(
        overdue=True, updated_at=now
    )


def item_payload(connection: PartnerConnection, product: Product) -> dict:
    """One item as the 3PL's catalogue takes it. The OMS keeps no barcode or dimensions for a SKU: they go as null."""
    return {
        "sku": connection.partner_sku(product.sku),
        "our_sku": product.sku,
        "name": product.name,
        "weight_kg": str(product.weight_kg),
        "barcode": None,
        "dimensions_cm": None,
        "active": product.is_active,
    }


@transaction.atomic(durable=True)
def sync_items(*, product_ids: list[int], actor, connection_ids: list[int] | None = None) -> list[PartnerMessage]:
    """Send these products to every active 3PL (or these): one item-sync message per product and content.

    The key holds a digest of the content, so an unchanged product is not sent again.
    """
    connections = PartnerConnection.objects.filter(is_active=True).order_by("pk")
    if connection_ids is not None:
        connections = connections.filter(pk__in=connection_ids)
    products = list(Product.objects.filter(pk__in=product_ids).order_by("pk"))
    queued = []
    for connection in connections:
        for product in products:
            payload = item_payload(connection, product)
            digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
            message, created = queue_message(
                connection, kind=MessageKind.ITEM_SYNC, key=f"item:{product.sku}:{digest}", payload=payload
            )
            if created:
                queued.append(message)
    return queued
