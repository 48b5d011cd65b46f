"""Changing an order's shipments before their labels are bought: split one, merge two, move one to another warehouse.

Each change is one service and one transaction: the order's row is locked first, then the shipments by primary
key, then (when units change warehouse) the stock levels of both ends by primary key
(``inventory.services.move_allocations``: released at one warehouse, reserved at the other through the ledger's
allocation rows). Every shipment touched is packed again and its carrier chosen again by the same rule as a new
shipment (``shipping.services.choose_carrier``: the cheapest service that meets the promise, else the fastest, with
its reason); the timeline entry says what moved, the stock released and reserved, each choice and why, and the
order's new delivery estimate against its promise. The margin guard looks at the new costs, the cockpit's shipping
facts are refreshed, and the customer is told in the same transaction if the order will now arrive late
(``delay_notices.tell_if_late``).

A change is refused with the reason when a shipment has its label (void it first), has left, is held (a held
shipment may be moved, its hold going with it, but not split or merged, nor moved to a 3PL's warehouse), belongs
to another order or ships to another address, when the destination lacks the stock, or when the shipment changed
since the operator looked (``expected_version``).

The ``preview_*`` functions run the same change inside a transaction that is rolled back, so the console shows
exactly what confirming would do (carrier, price, date, stock) and nothing is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from inventory import services as inventory
from inventory.exceptions import InventoryError
from inventory.models import Warehouse
from shipping import services as shipping
from shipping.exceptions import ShippingError
from shipping.landed_cost import default_target
from shipping.models import Shipment, ShipmentLine, ShipmentStatus

from .. import events
from ..exceptions import ShipmentChangeRefused
from ..models import Hold, Order, OrderDelayNotice, OrderLine, OrderStatus
from ..partners import outbox as partners_outbox
from . import business, delay_notices
from ._common import lock_order, open_shipment_hold, require_reason
from .shipping import guard_shipping_cost
from .shipping_facts import refresh_shipping_facts

# An order whose goods may still be re-planned: anything but cancelled, shipped (all of it) and delivered.
CHANGEABLE_ORDER_STATUSES = frozenset(
    {
        OrderStatus.ALLOCATED,
        OrderStatus.BACKORDERED,
        OrderStatus.ON_HOLD,
        OrderStatus.PARTIALLY_SHIPPED,
    }
)


@dataclass(frozen=True)
class TouchedShipment:
    """A shipment as the change leaves it: where from, what, by which service, at what price, arriving when."""

    number: str
    warehouse: str
    units: dict[str, int]
    parcels: int
    service: str
    price: Decimal | None
    currency: str
    estimated_delivery: dt.date | None
    reason: str
    new: bool = False
    cancelled: bool = False


@dataclass(frozen=True)
class ShipmentChange:
    """What a split, merge or move did (or, previewed, would do)."""

    change: str
    summary: str
    shipments: list[TouchedShipment]
    stock_moved: list[dict] = field(default_factory=list)
    estimated_delivery: dt.date | None = None
    promised_date: dt.date | None = None
    late: bool = False


# Who a preview's rolled-back writes name (nothing of it is kept).
PREVIEW = "system: preview"


class _Rollback(Exception):
    """Raised to roll a preview's transaction back, carrying what the change did."""

    def __init__(self, change: ShipmentChange):
        super().__init__(change.summary)
        self.change = change


def shipment_version(shipment: Shipment) -> str:
    """A short fingerprint of what a change depends on: status, warehouse, units per line, its hold.

    The console carries it from the preview to the confirmation; a shipment changed in between is refused.
    """
    lines = sorted(ShipmentLine.objects.filter(shipment_id=shipment.pk).values_list("order_line_id", "quantity"))
    held = Hold.objects.filter(shipment_id=shipment.pk, released_at__isnull=True).values_list("pk", flat=True).first()
    text = f"{shipment.status}|{shipment.warehouse_id}|{lines}|{held}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- the three changes --------------------------------------------------------------------------------------------
def split_shipment(
    *,
    shipment_id: int,
    quantities: dict[int, int],
    reason: str,
    actor,
    warehouse_id: int | None = None,
    expected_version: str | None = None,
    now: dt.datetime | None = None,
) -> ShipmentChange:
    """Move some units of some lines (``quantities``: order line id → units) of a shipment to a new shipment.

    The new shipment leaves from ``warehouse_id`` (the same warehouse when None): from another one, the units'
    stock is released at the first and reserved at the second. Both shipments are packed again and their carrier
    chosen again; the timeline says what and why. Raises ShipmentChangeRefused, writing nothing, when it cannot.
    """
    reason = require_reason(reason, "split a shipment of")
    with transaction.atomic(durable=True):
        return _split(shipment_id, quantities, warehouse_id, reason, actor, expected_version, now)


def preview_split(
    *, shipment_id: int, quantities: dict[int, int], warehouse_id: int | None = None, now: dt.datetime | None = None
) -> ShipmentChange:
    """What ``split_shipment`` would do, worked out and rolled back: nothing is written."""
    return _preview(
        lambda: _split(shipment_id, quantities, warehouse_id, "preview", PREVIEW, None, now, tell_customer=False)
    )


def merge_shipments(
    *,
    shipment_id: int,
    into_shipment_id: int,
    reason: str,
    actor,
    expected_version: str | None = None,
    now: dt.datetime | None = None,
) -> ShipmentChange:
    """Put every unit of one shipment into another of the same order and address, which keeps its warehouse.

    The emptied shipment is cancelled (its number stays on the record); from another warehouse, its units' stock
    is released there and reserved at the kept shipment's. The kept shipment is packed again and its carrier
    chosen again. Raises ShipmentChangeRefused, writing nothing, when it cannot.
    """
    reason = require_reason(reason, "merge shipments of")
    with transaction.atomic(durable=True):
        return _merge(shipment_id, into_shipment_id, reason, actor, expected_version, now)


def preview_merge(*, shipment_id: int, into_shipment_id: int, now: dt.datetime | None = None) -> ShipmentChange:
    """What ``merge_shipments`` would do, worked out and rolled back: nothing is written."""
    return _preview(lambda: _merge(shipment_id, into_shipment_id, "preview", PREVIEW, None, now, tell_customer=False))


def move_shipment(
    *,
    shipment_id: int,
    warehouse_id: int,
    reason: str,
    actor,
    expected_version: str | None = None,
    now: dt.datetime | None = None,
) -> ShipmentChange:
    """Send a whole shipment from another warehouse: its stock is released here and reserved there.

    Its carrier is chosen again from the new warehouse. A held shipment may move; its hold goes with it. Raises
    ShipmentChangeRefused, writing nothing, when it cannot.
    """
    reason = require_reason(reason, "move a shipment of")
    with transaction.atomic(durable=True):
        return _move(shipment_id, warehouse_id, reason, actor, expected_version, now)


def preview_move(*, shipment_id: int, warehouse_id: int, now: dt.datetime | None = None) -> ShipmentChange:
    """What ``move_shipment`` would do, worked out and rolled back: nothing is written."""
    return _preview(lambda: _move(shipment_id, warehouse_id, "preview", PREVIEW, None, now, tell_customer=False))


def _preview(run) -> ShipmentChange:
    try:
        with transaction.atomic():
            raise _Rollback(run())
    except _Rollback as rolled_back:
        return rolled_back.change


# --- the work, inside the caller's transaction ----------------------------------------------------------------------
def _split(
    shipment_id, quantities, warehouse_id, reason, actor, expected_version, now, *, tell_customer=True
) -> ShipmentChange:
    order, (shipment,) = _lock(shipment_id)
    _refuse_unless_changeable(order, shipment, expected_version, held_ok=False)
    lines = _lines(shipment)
    wanted = {int(line_id): int(units) for line_id, units in quantities.items() if units}
    if not wanted:
        raise ShipmentChangeRefused(f"Shipment {shipment}: enter how many units of at least one line to move.")
    for line_id, units in sorted(wanted.items()):
        line = lines.get(line_id)
        if line is None:
            raise ShipmentChangeRefused(f"Shipment {shipment}: order line {line_id} is not in this shipment.")
        if units < 0 or units > line.quantity:
            raise ShipmentChangeRefused(
                f"Shipment {shipment}: {line.sku} has {line.quantity} units in it; {units} cannot be moved."
            )
    if sum(wanted.values()) >= sum(line.quantity for line in lines.values()):
        raise ShipmentChangeRefused(
            f"Shipment {shipment}: splitting off every unit leaves it empty; move the whole shipment instead."
        )
    target = _warehouse(warehouse_id, shipment) if warehouse_id else shipment.warehouse
    moves = [
        inventory.UnitMove(line_id, lines[line_id].product_id, shipment.warehouse_id, target.pk, units)
        for line_id, units in sorted(wanted.items())
    ]
    stock_moved = _move_stock(order, moves, shipment.warehouse, target)
    order_lines = {line.pk: line for line in OrderLine.objects.filter(order_id=order.pk).select_related("product")}
    for line_id, units in wanted.items():
        line = lines[line_id]
        line.quantity -= units
        if line.quantity:
            line.save(update_fields=["quantity"])
        else:
            line.delete()
    new_lines = [
        shipping.ShipmentLineData(
            order_line_id=line_id,
            product_id=order_lines[line_id].product_id,
            sku=order_lines[line_id].sku,
            name=order_lines[line_id].name,
            quantity=units,
            unit_weight_kg=order_lines[line_id].product.weight_kg,
        )
        for line_id, units in sorted(wanted.items())
    ]
    try:
        new_shipment, new_choice = shipping.create_shipment(
            order=order,
            warehouse=target,
            lines=new_lines,
            ship_to=shipment.ship_to,
            promised_date=order.promised_date,
            aim_date=_aim_date(order),
            currency=order.currency,
            now=now,
            preference=business.carrier_preference(order),
        )
    except ShippingError as refusal:
        raise ShipmentChangeRefused(f"Shipment {shipment}: {refusal}") from refusal
    choice = _repack_and_choose(order, shipment, now)
    units = sum(wanted.values())
    summary = (
        f"Shipment {shipment} split: {_units(units)} ({_skus(wanted, lines)}) moved to new shipment {new_shipment} "
        f"from {target.code}"
    )
    return _finish(
        order,
        change="split",
        summary=summary,
        touched=[(shipment, choice, False, False), (new_shipment, new_choice, True, False)],
        stock_moved=stock_moved,
        reason=reason,
        actor=actor,
        now=now,
        tell_customer=tell_customer,
    )


def _merge(
    shipment_id, into_shipment_id, reason, actor, expected_version, now, *, tell_customer=True
) -> ShipmentChange:
    if int(shipment_id) == int(into_shipment_id):
        raise ShipmentChangeRefused("Choose two different shipments to merge.")
    order, shipments = _lock(shipment_id, into_shipment_id)
    by_pk = {s.pk: s for s in shipments}
    emptied, kept = by_pk[int(shipment_id)], by_pk[int(into_shipment_id)]
    if kept.order_id != emptied.order_id:
        raise ShipmentChangeRefused(
            f"Shipments {emptied} and {kept} belong to different orders; only one order's shipments merge."
        )
    _refuse_unless_changeable(order, emptied, expected_version, held_ok=False)
    _refuse_unless_changeable(order, kept, None, held_ok=False)
    if _address_key(emptied.ship_to) != _address_key(kept.ship_to):
        raise ShipmentChangeRefused(
            f"Shipments {emptied} and {kept} go to different addresses; only shipments to one address merge."
        )
    lines = _lines(emptied)
    moves = [
        inventory.UnitMove(line.order_line_id, line.product_id, emptied.warehouse_id, kept.warehouse_id, line.quantity)
        for line in lines.values()
    ]
    stock_moved = _move_stock(order, moves, emptied.warehouse, kept.warehouse)
    kept_lines = _lines(kept)
    for line_id, line in sorted(lines.items()):
        existing = kept_lines.get(line_id)
        if existing is not None:
            existing.quantity += line.quantity
            existing.save(update_fields=["quantity"])
        else:
            ShipmentLine.objects.create(
                shipment=kept,
                order_line_id=line_id,
                product_id=line.product_id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
            )
    try:
        shipping.cancel_shipment(shipment=emptied)
    except ShippingError as refusal:
        raise ShipmentChangeRefused(str(refusal)) from refusal
    choice = _repack_and_choose(order, kept, now)
    units = sum(line.quantity for line in lines.values())
    summary = (
        f"Shipment {emptied} merged into {kept} ({kept.warehouse.code}): {_units(units)} moved; {emptied} cancelled"
    )
    return _finish(
        order,
        change="merge",
        summary=summary,
        touched=[(kept, choice, False, False), (emptied, None, False, True)],
        stock_moved=stock_moved,
        reason=reason,
        actor=actor,
        now=now,
        tell_customer=tell_customer,
        data={"merged": emptied.number, "into": kept.number},
    )


def _move(shipment_id, warehouse_id, reason, actor, expected_version, now, *, tell_customer=True) -> ShipmentChange:
    order, (shipment,) = _lock(shipment_id)
    _refuse_unless_changeable(order, shipment, expected_version, held_ok=True)
    source = shipment.warehouse
    target = _warehouse(warehouse_id, shipment)
    if target.pk == source.pk:
        raise ShipmentChangeRefused(f"Shipment {shipment} already leaves from {source.code}; choose another warehouse.")
    hold = open_shipment_hold(shipment.pk)
    if hold is not None and target.pk in partners_outbox.partner_warehouse_ids():
        # a 3PL ships what it is sent: the hold would not reach it
        raise ShipmentChangeRefused(
            f"Shipment {shipment} is on a {hold.get_hold_type_display().lower()} hold and {target.code} is run by a "
            "3PL, which would be sent it: release the hold first, or move it to one of our own warehouses."
        )
    lines = _lines(shipment)
    moves = [
        inventory.UnitMove(line.order_line_id, line.product_id, source.pk, target.pk, line.quantity)
        for line in lines.values()
    ]
    stock_moved = _move_stock(order, moves, source, target)
    shipment.warehouse = target
    shipment.label_format = target.label_format
    shipment.save(update_fields=["warehouse", "label_format"])
    choice = _repack_and_choose(order, shipment, now)
    units = sum(line.quantity for line in lines.values())
    summary = f"Shipment {shipment} moved from {source.code} to {target.code} ({_units(units)})"
    return _finish(
        order,
        change="move",
        summary=summary,
        touched=[(shipment, choice, False, False)],
        stock_moved=stock_moved,
        reason=reason,
        actor=actor,
        now=now,
        tell_customer=tell_customer,
        data={"from": source.code, "to": target.code},
    )


# --- shared steps ---------------------------------------------------------------------------------------------------
def _lock(*shipment_ids: int) -> tuple[Order, list[Shipment]]:
    """Lock the shipments' order, then the shipments by primary key; refuse unknown ones or several orders."""
    ids = sorted({int(pk) for pk in shipment_ids})
    order_ids = dict(Shipment.objects.filter(pk__in=ids).values_list("pk", "order_id"))
    missing = [pk for pk in ids if pk not in order_ids]
    if missing:
        raise ShipmentChangeRefused(f"No shipment with id {missing[0]}.")
    if len(set(order_ids.values())) > 1:
        numbers = ", ".join(Shipment.objects.filter(pk__in=ids).order_by("pk").values_list("number", flat=True))
        raise ShipmentChangeRefused(
            f"Shipments {numbers} belong to different orders; only one order's shipments merge."
        )
    order = lock_order(next(iter(order_ids.values())))
    shipments = list(
        Shipment.objects.select_for_update(of=("self",)).select_related("warehouse").filter(pk__in=ids).order_by("pk")
    )
    for shipment in shipments:
        shipment.order = order
    ordered = {s.pk: s for s in shipments}
    return order, [ordered[int(pk)] for pk in shipment_ids]


def _refuse_unless_changeable(order: Order, shipment: Shipment, expected_version, *, held_ok: bool) -> None:
    if order.status not in CHANGEABLE_ORDER_STATUSES:
        raise ShipmentChangeRefused(
            f"Order {order} is {order.get_status_display().lower()}: its shipments can no longer change."
        )
    if shipment.status != ShipmentStatus.AWAITING_LABEL:
        if shipment.status == ShipmentStatus.LABEL_CREATED:
            raise ShipmentChangeRefused(
                f"Shipment {shipment} has its label already; void the label first to change the shipment."
            )
        raise ShipmentChangeRefused(
            f"Shipment {shipment} is {shipment.get_status_display().lower()}: only a shipment waiting for its label "
            "can change."
        )
    released = partners_outbox.refuse_changing_released(shipment)  # a 3PL holds it: the 3PL must let go first
    if released:
        raise ShipmentChangeRefused(released)
    if not held_ok:
        hold = Hold.objects.filter(shipment_id=shipment.pk, released_at__isnull=True).first()
        if hold is not None:
            raise ShipmentChangeRefused(
                f"Shipment {shipment} is on a {hold.get_hold_type_display().lower()} hold; release it before "
                "splitting or merging it (a held shipment may be moved to another warehouse)."
            )
    if expected_version is not None and shipment_version(shipment) != expected_version:
        raise ShipmentChangeRefused(
            f"Shipment {shipment} changed since you looked at it (its units, warehouse, label or hold); "
            "check it again before you change it."
        )


def _lines(shipment: Shipment) -> dict[int, ShipmentLine]:
    return {line.order_line_id: line for line in ShipmentLine.objects.filter(shipment_id=shipment.pk).order_by("pk")}


def _warehouse(warehouse_id: int, shipment: Shipment) -> Warehouse:
    warehouse = Warehouse.objects.filter(pk=warehouse_id).first()
    if warehouse is None:
        raise ShipmentChangeRefused(f"Shipment {shipment}: no warehouse with id {warehouse_id}.")
    if not warehouse.is_active:
        raise ShipmentChangeRefused(f"Shipment {shipment}: warehouse {warehouse.code} is not active.")
    return warehouse


def _move_stock(order: Order, moves: list, source: Warehouse, target: Warehouse) -> list[dict]:
    """Release the units at ``source`` and reserve them at ``target`` (nothing when they are one warehouse)."""
    if source.pk == target.pk:
        return []
    try:
        inventory.move_allocations(order_id=order.pk, moves=moves)
    except InventoryError as refusal:
        raise ShipmentChangeRefused(f"Order {order}: cannot reserve the units at {target.code}: {refusal}") from refusal
    skus = dict(OrderLine.objects.filter(pk__in=[m.line_id for m in moves]).values_list("pk", "sku"))
    return [
        {"sku": skus[m.line_id], "units": m.quantity, "from": source.code, "to": target.code}
        for m in moves
        if m.quantity
    ]


def _aim_date(order: Order):
    """The date carrier choice aims at without a promised date: the store's default target from when the order was
    placed, as for the order's first shipments (``fulfilment.create_shipments``)."""
    return None if order.promised_date else default_target(order.placed_at)


def _repack_and_choose(order: Order, shipment: Shipment, now) -> shipping.CarrierChoice:
    """Pack the shipment again for its lines and choose its carrier again; its copy of the promise follows the
    order's."""
    weights = dict(OrderLine.objects.filter(order_id=order.pk).values_list("pk", "product__weight_kg"))
    total = sum(
        (weights[line_id] * units for line_id, units in shipment.lines.values_list("order_line_id", "quantity")),
        Decimal("0"),
    )
    shipment.promised_date = order.promised_date
    shipment.save(update_fields=["promised_date"])
    try:
        shipping.repack_shipment(shipment=shipment, total_kg=total)
        return shipping.choose_carrier(
            shipment=shipment, now=now, aim_date=_aim_date(order), preference=business.carrier_preference(order)
        )
    except ShippingError as refusal:
        raise ShipmentChangeRefused(f"Shipment {shipment}: {refusal}") from refusal


def _finish(
    order, *, change, summary, touched, stock_moved, reason, actor, now, tell_customer, data=None
) -> ShipmentChange:
    """The margin guard, the cockpit's facts, the timeline entry and the promise, once the shipments changed."""
    guard_shipping_cost(order, actor=actor)
    refresh_shipping_facts([order.pk])
    live = [(s, c) for s, c, _, cancelled in touched if not cancelled]
    for shipment, _ in live:
        shipment.refresh_from_db()
    estimated = _order_estimate(order)
    events.shipment_changed(
        order,
        change=change,
        summary=summary,
        shipments=live,
        stock_moved=stock_moved,
        estimated=estimated,
        reason=reason,
        actor=actor,
        data=data,
    )
    if tell_customer and order.promised_date is not None:
        delay_notices.tell_if_late(
            order,
            cause=OrderDelayNotice.Cause.OPERATOR,
            detail=summary,
            shipment=live[0][0].number,
            now=now,
            actor=actor,
        )
    return ShipmentChange(
        change=change,
        summary=summary,
        shipments=[_touched(s, c, new, cancelled) for s, c, new, cancelled in touched],
        stock_moved=stock_moved,
        estimated_delivery=estimated,
        promised_date=order.promised_date,
        late=bool(estimated and order.promised_date and estimated > order.promised_date),
    )


def _order_estimate(order: Order) -> dt.date | None:
    """When the order's goods still waiting for a label arrive, by their shipments' carrier choices: the latest."""
    dates = list(
        Shipment.objects.filter(
            order_id=order.pk, status__in=[ShipmentStatus.AWAITING_LABEL, ShipmentStatus.LABEL_CREATED]
        ).values_list("estimated_delivery", flat=True)
    )
    if not dates or any(date is None for date in dates):
        return None
    return max(dates)


def _touched(shipment: Shipment, choice, new: bool, cancelled: bool) -> TouchedShipment:
    units: dict[str, int] = defaultdict(int)
    for sku, quantity in shipment.lines.values_list("sku", "quantity"):
        units[sku] += quantity
    service = shipment.service
    return TouchedShipment(
        number=shipment.number,
        warehouse=shipment.warehouse.code,
        units=dict(units),
        parcels=shipment.parcels.count(),
        service="—" if cancelled else (str(service) if service else "no service"),
        price=shipment.shipping_cost,
        currency=shipment.currency,
        estimated_delivery=shipment.estimated_delivery,
        reason="cancelled: its units went to the other shipment" if cancelled else (choice.reason if choice else ""),
        new=new,
        cancelled=cancelled,
    )


def _address_key(ship_to: dict) -> tuple:
    return tuple(
        str(ship_to.get(name, "")).strip().casefold()
        for name in ("name", "company", "line1", "line2", "city", "state", "postal_code", "country")
    )


def _units(count: int) -> str:
    return f"{count} unit{'s' if count != 1 else ''}"


def _skus(wanted: dict[int, int], lines: dict[int, ShipmentLine]) -> str:
    return ", ".join(f"{units} × {lines[line_id].sku}" for line_id, units in sorted(wanted.items()))
