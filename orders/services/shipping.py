"""The order side of shipping: shipments from reserved stock, labels, shipping, tracking, delivery.

Each service locks the order row first (the global lock order), then calls
the shipping services, and writes what happened on the order's timeline.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from inventory.models import Allocation, Warehouse
from shipping import margin
from shipping import services as shipping
from shipping.exceptions import ShippingError
from shipping.landed_cost import default_target
from shipping.models import (
    UNSHIPPED_STATUSES,
    Parcel,
    Shipment,
    ShipmentCostRisk,
    ShipmentLine,
    ShipmentStatus,
    TrackingEvent,
)

from .. import events
from ..exceptions import OrderError
from ..models import Order, OrderDelayNotice, OrderStatus
from ..partners import outbox as partners_outbox
from . import business, delay_notices, notify, payment
from ._common import lock_order, refuse_if_shipment_held, require_reason
from .fulfilment import record_shipment
from .shipping_facts import refresh_shipping_facts

COST_RISK_FIELDS = ["cost_risk", "cost_risk_figures", "cost_approved_by", "cost_approved_at"]
SHIPPABLE = (OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_SHIPPED)


def ship_to_snapshot(order: Order) -> dict:
    """The address printed on the shipment's label, with the customer's PO number when the order has one."""
    address = order.shipping_address
    snapshot = {
        "name": address.name,
        "company": address.company,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "state": address.state,
        "postal_code": address.postal_code,
        "country": address.country,
        "phone": address.phone,
    }
    if order.po_number:
        snapshot["po_number"] = order.po_number
    return snapshot


@transaction.atomic(durable=True)
def create_shipments(
    *, order_id: int, actor, now: dt.datetime | None = None, warehouse_ids: set[int] | None = None
) -> list[Shipment]:
    """Make one shipment per warehouse from the order's reserved units not yet in a shipment.

    Each gets its parcels and the cheapest carrier service that meets the
    promised date (else the fastest), or a business customer's preferred one
    when it meets the date; the options and the reason go on the
    timeline. ``warehouse_ids``: only these warehouses' units (a 3PL's, as
    they are released). Raises OrderError when there is nothing to ship.
    """
    order = lock_order(order_id)
    if order.status not in SHIPPABLE:
        raise OrderError(f"Order {order} is {order.get_status_display().lower()}; it cannot ship now.")
    order = Order.objects.select_related("shipping_address").get(pk=order.pk)
    reserved: dict[tuple[int, int], int] = defaultdict(int)  # (warehouse, line) -> units
    for allocation in Allocation.objects.filter(order_id=order.pk):
        reserved[(allocation.warehouse_id, allocation.order_line_id)] += allocation.quantity
    in_shipments = (
        ShipmentLine.objects.filter(shipment__order_id=order.pk, shipment__status__in=UNSHIPPED_STATUSES)
        .values("shipment__warehouse_id", "order_line_id")
        .annotate(units=Sum("quantity"))
    )
    for row in in_shipments:
        reserved[(row["shipment__warehouse_id"], row["order_line_id"])] -= row["units"]
    if warehouse_ids is not None:
        reserved = {key: units for key, units in reserved.items() if key[0] in warehouse_ids}
    lines = {line.pk: line for line in order.lines.select_related("product")}
    by_warehouse: dict[int, list[shipping.ShipmentLineData]] = defaultdict(list)
    for (warehouse_id, line_id), units in sorted(reserved.items()):
        if units > 0:
            line = lines[line_id]
            by_warehouse[warehouse_id].append(
                shipping.ShipmentLineData(
                    order_line_id=line.pk,
                    product_id=line.product_id,
                    sku=line.sku,
                    name=line.name,
                    quantity=units,
                    unit_weight_kg=line.product.weight_kg,
                )
            )
    if not by_warehouse:
        raise OrderError(f"Order {order}: no reserved units are waiting for a shipment.")
    warehouses = Warehouse.objects.in_bulk(list(by_warehouse))
    rules = business.rules_for_order(order)  # a business customer's preferred carrier
    created = []
    for warehouse in sorted(warehouses.values(), key=lambda w: w.code):
        try:
            shipment, choice = shipping.create_shipment(
                order=order,
                warehouse=warehouse,
                lines=by_warehouse[warehouse.pk],
                ship_to=ship_to_snapshot(order),
                promised_date=order.promised_date,
                aim_date=None if order.promised_date else default_target(order.placed_at),
                currency=order.currency,
                now=now,
                preference=rules.carrier if rules else None,
            )
        except ShippingError as refusal:
            raise OrderError(str(refusal)) from refusal
        events.shipment_created(
            order,
            shipment=shipment,
            warehouse=warehouse,
            units=sum(line.quantity for line in by_warehouse[warehouse.pk]),
            parcels=shipment.parcels.count(),
            choice=choice,
            actor=actor,
        )
        created.append(shipment)
    guard_shipping_cost(order, actor=actor)
    for shipment in created:
        shipment.refresh_from_db(fields=COST_RISK_FIELDS)
    refresh_shipping_facts([order.pk])
    return created


def guard_shipping_cost(order: Order, *, actor) -> margin.CostCheck:
    """Check what the order's shipments cost us against its goods and what the customer paid for shipping.

    The caller holds the order's lock. Out of line (``shipping.margin``): the
    order's shipments still waiting for a label are flagged "at risk" with the
    figures, on the timeline too; a shipment already approved is flagged again
    only when the cost has grown past what was approved. Back within limits
    (a cheaper carrier): the flags come off. Returns the check.
    """
    shipments = list(
        Shipment.objects.select_for_update(of=("self",))
        .filter(order_id=order.pk)
        .exclude(status=ShipmentStatus.CANCELLED)
        .order_by("pk")
    )
    check = margin.check_shipping_cost(
        cost=sum((s.shipping_cost or Decimal("0") for s in shipments), Decimal("0")),
        order_value=max(order.subtotal - order.discount_total, Decimal("0")),
        paid=order.shipping_total,
        max_share=settings.SHIPPING_COST_MAX_SHARE_OF_ORDER,
        max_multiple=settings.SHIPPING_COST_MAX_MULTIPLE_OF_PAID,
    )
    waiting = [s for s in shipments if s.status == ShipmentStatus.AWAITING_LABEL]
    if check.at_risk:
        flagged = [s for s in waiting if _needs_approval(s, check)]
        for shipment in flagged:
            shipment.cost_risk = ShipmentCostRisk.AT_RISK
            shipment.cost_risk_figures = check.as_data()
            shipment.cost_approved_by, shipment.cost_approved_at = "", None
            shipment.save(update_fields=COST_RISK_FIELDS)
        if flagged:
            events.shipping_cost_at_risk(
                order,
                shipments=flagged,
                check=check,
                holds_label=settings.SHIPPING_COST_GUARD_HOLDS_LABEL,
                actor=actor,
            )
        return check
    cleared = [s for s in waiting if s.cost_risk == ShipmentCostRisk.AT_RISK]
    for shipment in cleared:
        shipment.cost_risk = ShipmentCostRisk.WITHIN
        shipment.cost_risk_figures = check.as_data()
        shipment.save(update_fields=["cost_risk", "cost_risk_figures"])
    if cleared:
        events.shipping_cost_within_limits(order, shipments=cleared, check=check, actor=actor)
    return check


def _needs_approval(shipment: Shipment, check: margin.CostCheck) -> bool:
    if shipment.cost_risk == ShipmentCostRisk.WITHIN:
        return True
    if shipment.cost_risk == ShipmentCostRisk.APPROVED:
        return check.cost > Decimal(shipment.cost_risk_figures.get("cost", "0"))
    return shipment.cost_risk_figures != check.as_data()  # at risk still, with new figures


@transaction.atomic(durable=True)
def approve_shipping_cost(*, shipment_id: int, actor) -> Shipment:
    """An operations manager accepts a shipping cost at risk: the shipment's label may be bought.

    Who and when go on the shipment and the order's timeline. Raises
    OrderError when the shipment's cost is not awaiting approval.
    """
    order, shipment = _locked_shipment(shipment_id)
    if shipment.cost_risk != ShipmentCostRisk.AT_RISK or shipment.status not in UNSHIPPED_STATUSES:
        state = shipment.get_cost_risk_display().lower()
        raise OrderError(f"Shipment {shipment}: its shipping cost is {state}; there is nothing to approve.")
    shipment.cost_risk = ShipmentCostRisk.APPROVED
    shipment.cost_approved_by = _actor_name(actor)
    shipment.cost_approved_at = timezone.now()
    shipment.save(update_fields=["cost_risk", "cost_approved_by", "cost_approved_at"])
    events.shipping_cost_approved(order, shipment=shipment, actor=actor)
    return shipment


def _actor_name(actor) -> str:
    return actor.get_username() if getattr(actor, "is_authenticated", False) else str(actor or "system")


def _locked_shipment(shipment_id: int) -> tuple[Order, Shipment]:
    order_id = Shipment.objects.filter(pk=shipment_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise OrderError(f"No shipment with id {shipment_id}.")
    order = lock_order(order_id)
    return order, shipping.lock_shipment(shipment_id)


def _refuse_unless_workable(order: Order, what: str) -> None:
    if order.status == OrderStatus.ON_HOLD:
        raise OrderError(f"Order {order} is on hold; release it before you {what}.")
    if order.status == OrderStatus.CANCELLED:
        raise OrderError(f"Order {order} is cancelled.")


@transaction.atomic(durable=True)
def override_carrier(*, shipment_id: int, service_id: int, reason: str, actor) -> Shipment:
    """Put a shipment on the service an operator chose, priced and dated now, with the reason."""
    order, shipment = _locked_shipment(shipment_id)
    old = str(shipment.service) if shipment.service_id else "no service"
    try:
        option = shipping.override_service(shipment=shipment, service_id=service_id, reason=reason)
    except ShippingError as refusal:
        raise OrderError(str(refusal)) from refusal
    events.carrier_changed(order, shipment=shipment, before=old, option=option, reason=reason.strip(), actor=actor)
    # released to a 3PL: it gets the new service level as a change, which it accepts or rejects
    partners_outbox.request_change_of_shipment(shipment, reason=f"Carrier changed: {reason.strip()}", actor=actor)
    guard_shipping_cost(order, actor=actor)
    shipment.refresh_from_db(fields=COST_RISK_FIELDS)
    refresh_shipping_facts([order.pk])
    return shipment


@transaction.atomic(durable=True)
def buy_labels(*, shipment_id: int, actor) -> Shipment:
    """Buy the shipment's labels from its vendor; the label file is rendered in the background."""
    order, shipment = _locked_shipment(shipment_id)
    _refuse_unless_workable(order, "print labels")
    refusal = partners_outbox.refuse_our_label(shipment)  # a 3PL's warehouse: the 3PL labels and ships
    if refusal:
        raise OrderError(refusal)
    refuse_if_shipment_held(shipment, "buy its label")
    if settings.SHIPPING_COST_GUARD_HOLDS_LABEL and shipment.cost_risk == ShipmentCostRisk.AT_RISK:
        reasons = "; ".join(shipment.cost_risk_figures.get("reasons", []))
        raise OrderError(
            f"Shipment {shipment}: shipping cost at risk (shipping {reasons}). "
            "An operations manager must approve the cost before its label is bought."
        )
    try:
        numbers = shipping.purchase_labels(shipment=shipment)
    except ShippingError as refusal:
        raise OrderError(str(refusal)) from refusal
    refresh_shipping_facts([order.pk])
    events.label_bought(order, shipment=shipment, tracking_numbers=numbers, actor=actor)
    return shipment


@transaction.atomic(durable=True)
def void_label(*, shipment_id: int, reason: str, actor) -> Shipment:
    """Void the shipment's labels with the vendor; the shipment waits for a new label."""
    reason = require_reason(reason, "void the label of")
    order, shipment = _locked_shipment(shipment_id)
    try:
        numbers = shipping.void_labels(shipment=shipment)
    except ShippingError as refusal:
        raise OrderError(str(refusal)) from refusal
    refresh_shipping_facts([order.pk])
    events.label_voided(order, shipment=shipment, voided=numbers, reason=reason, actor=actor)
    return shipment


def ship_shipment(*, shipment_id: int, actor, now: dt.datetime | None = None) -> Shipment:
    """The carrier took the parcels: stock leaves the ledger, the order moves on, the shipment is in transit.

    The customer is emailed. The shipment's share of the payment is captured
    after commit, with no lock held (``payment.make_call``): a capture that
    fails never undoes the shipment; it is asked again later or goes to ops.
    """
    with transaction.atomic(durable=True):
        order, shipment = _locked_shipment(shipment_id)
        capture = ship_locked_shipment(order, shipment, actor=actor, now=now)
    payment.make_call(capture, actor=actor)
    return shipment


def ship_locked_shipment(order: Order, shipment: Shipment, *, actor, now: dt.datetime | None = None):
    """``ship_shipment`` inside the caller's transaction, which holds the order's lock, then the shipment's.

    Returns the capture opened; the caller makes it after commit (``payment.make_call``). A 3PL's ship
    confirmation ships this way, with the same ledger, capture and email as our own warehouses.
    """
    _refuse_unless_workable(order, "ship it")
    refuse_if_shipment_held(shipment, "ship it")
    if shipment.status != ShipmentStatus.LABEL_CREATED:
        raise OrderError(
            f"Shipment {shipment} is {shipment.get_status_display().lower()}; only a labelled shipment can ship."
        )
    shipped = dict(shipment.lines.values_list("order_line_id", "quantity"))
    try:
        shipping.hand_over(shipment=shipment, now=now)
    except ShippingError as refusal:
        raise OrderError(str(refusal)) from refusal
    # after the hand-over, so that its refresh of the order's shipping facts sees the shipment leave
    record_shipment(
        order_id=order.pk,
        shipped=shipped,
        actor=actor,
        reference=shipment.number,
        warehouse_id=shipment.warehouse_id,
    )
    capture = payment.open_capture(order, shipment, actor=actor)
    notify.order_shipped(order, shipments=[shipped_message(shipment)])
    return capture


def shipped_message(shipment: Shipment) -> dict:
    """What the customer's 'shipped' email shows of one shipment."""
    vendor = shipment.service.vendor
    numbers = list(shipment.parcels.exclude(tracking_number=None).values_list("tracking_number", flat=True))
    return {
        "reference": shipment.number,
        "vendor_name": vendor.name,
        "service_name": shipment.service.name,
        "tracking_numbers": numbers,
        "tracking_urls": [vendor.tracking_url(number) for number in numbers],
        "warehouse": shipment.warehouse.code,
        "expected_delivery": shipment.estimated_delivery,
        "lines": [{"sku": line.sku, "name": line.name, "quantity": line.quantity} for line in shipment.lines.all()],
    }


@transaction.atomic  # not durable: a carrier's batch of events is recorded all or nothing (the tracking API)
def record_tracking(
    *,
    tracking_number: str,
    status: str,
    occurred_at: dt.datetime,
    actor,
    source: str,
    description: str = "",
    location: str = "",
    vendor=None,
) -> shipping.shipments.TrackingResult:
    """Record a tracking event; when every shipment of the order is delivered, so is the order.

    A replay of an event already recorded changes nothing. Raises OrderError
    for an unknown tracking number or a shipment not yet handed over.
    """
    order_id = (
        Parcel.objects.filter(tracking_number=tracking_number).values_list("shipment__order_id", flat=True).first()
    )
    if order_id is None:
        raise OrderError(f"No parcel with tracking number {tracking_number!r}.")
    order = lock_order(order_id)
    recorded_by = actor.get_username() if getattr(actor, "is_authenticated", False) else str(actor or "system")
    try:
        result = shipping.record_tracking_event(
            tracking_number=tracking_number,
            status=status,
            occurred_at=occurred_at,
            source=source,
            recorded_by=recorded_by,
            description=description,
            location=location,
            vendor=vendor,
        )
    except ShippingError as refusal:
        raise OrderError(str(refusal)) from refusal
    if result.event is None:
        return result
    shipment = result.shipment
    events.tracking_recorded(
        order,
        shipment=shipment,
        tracking_number=tracking_number,
        status=status,
        location=location,
        description=description,
        actor=actor,
    )
    if status == ShipmentStatus.EXCEPTION:
        notify.shipment_exception(
            order,
            shipment=shipment.number,
            tracking_number=tracking_number,
            description=description,
            location=location,
            occurred_at=occurred_at,
        )
        # the customer hears now, not at the next sweep, when the exception makes the order late
        delay_notices.tell_if_late(
            order,
            cause=OrderDelayNotice.Cause.CARRIER_EXCEPTION,
            detail=f"{shipment.number}: {description or 'the carrier reported an exception'}",
            shipment=shipment.number,
        )
    if shipment.status == ShipmentStatus.DELIVERED and order.status == OrderStatus.SHIPPED:
        open_shipments = Shipment.objects.filter(order_id=order.pk).exclude(
            status__in=[ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED]
        )
        if not open_shipments.exists():
            events.order_delivered(order, actor=actor, shipment=shipment)
            notify.order_delivered(order, delivered_at=occurred_at)
    refresh_shipping_facts([order.pk])
    return result


@transaction.atomic(durable=True)
def record_shipment_tracking(
    *,
    shipment_id: int,
    status: str,
    occurred_at: dt.datetime,
    actor,
    description: str = "",
    location: str = "",
) -> tuple[int, Shipment]:
    """Record one scan, set by hand, for every parcel of a shipment: all of them or none.

    Returns how many parcels got a new event (replays count none) and the
    shipment as it now stands. Raises OrderError as ``record_tracking`` does.
    """
    numbers = list(
        Parcel.objects.filter(shipment_id=shipment_id)
        .exclude(tracking_number=None)
        .order_by("index")
        .values_list("tracking_number", flat=True)
    )
    if not numbers:
        shipment = Shipment.objects.filter(pk=shipment_id).first()
        raise OrderError(f"Shipment {shipment or shipment_id} has no tracking numbers: buy its label first.")
    recorded = 0
    for number in numbers:
        result = record_tracking(
            tracking_number=number,
            status=status,
            occurred_at=occurred_at,
            actor=actor,
            source=TrackingEvent.Source.ADMIN,
            description=description,
            location=location,
        )
        recorded += result.event is not None
    return recorded, result.shipment


def cancel_open_shipments(*, order: Order, actor) -> list[Shipment]:
    """Cancel the shipments of an order being cancelled (labels voided); the caller holds the order lock."""
    cancelled = []
    for shipment in (
        Shipment.objects.select_for_update(of=("self",))
        .filter(order_id=order.pk, status__in=UNSHIPPED_STATUSES)
        .select_related("service__vendor")
        .order_by("pk")
    ):
        voided = shipping.cancel_shipment(shipment=shipment)
        events.shipment_cancelled(order, shipment=shipment, voided=voided, actor=actor)
        # released to a 3PL: ask it to cancel too (it accepts, or rejects when it has shipped: ops then see it)
        partners_outbox.request_cancel_of_shipment(shipment, reason=f"Order {order} cancelled", actor=actor)
        cancelled.append(shipment)
    refresh_shipping_facts([order.pk] if cancelled else [])
    return cancelled
