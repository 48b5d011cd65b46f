"""The RMA steps: open, authorise (label and email), reject, receive, inspect (restock or write off), close."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from inventory import services as inventory
from inventory.exceptions import InventoryError
from inventory.models import StockMovement, Warehouse
from inventory.services._common import lock_levels
from shipping.models import Shipment, ShipmentLine

from ... import events
from ...models import PRE_SHIPMENT_STATUSES, Order, OrderEvent, OrderLine, OrderStatus
from ...services import cancel_order, notify
from ...services._common import CENT, enqueue, lock_order
from ...services.lifecycle import release
from .. import selectors
from ..exceptions import ReturnError
from ..models import (
    ReturnLine,
    ReturnPolicy,
    ReturnReason,
    ReturnRequest,
    ReturnResolution,
    ReturnSource,
    ReturnStatus,
)
from ._common import lock_return
from .labels import label_link

POLICY_ACTOR = "system: return policy"
# The cause an exchange's replacement is held with until the returned goods arrive (``events.HOLD_CAUSES``).
EXCHANGE_HOLD = events.EXCHANGE_HOLD
# Renders an authorised return's label (by name: the tasks import these services).
RENDER_LABEL_TASK = "orders.returns.tasks.render_return_label"


def format_rma_number(pk: int) -> str:
    """The RMA number for a primary key, e.g. RMA-0000123."""
    return f"{settings.RETURNS_NUMBER_PREFIX}{pk:07d}"


def _window_end(order_id: int, window_days: int) -> dt.date | None:
    shipped_at, delivered_at = selectors.shipped_on(order_id)
    start = delivered_at or shipped_at
    if start is None:
        return None
    return timezone.localdate(start) + dt.timedelta(days=window_days)


def _default_warehouse_id(order_id: int, order_line_ids) -> int | None:
    """The warehouse that shipped the returned lines (the first such shipment), else the order's first one."""
    shipped = ShipmentLine.objects.filter(
        shipment__order_id=order_id, order_line_id__in=list(order_line_ids), shipment__shipped_at__isnull=False
    ).order_by("shipment__shipped_at", "shipment_id")
    warehouse_id = shipped.values_list("shipment__warehouse_id", flat=True).first()
    if warehouse_id is None:
        warehouse_id = (
            Shipment.objects.filter(order_id=order_id)
            .order_by("created_at")
            .values_list("warehouse_id", flat=True)
            .first()
        )
    if warehouse_id is None:  # shipped before shipments were recorded: the ledger says where the goods left
        warehouse_id = (
            StockMovement.objects.filter(order_id=order_id, kind=StockMovement.Kind.SHIPMENT)
            .order_by("created_at", "pk")
            .values_list("warehouse_id", flat=True)
            .first()
        )
    return warehouse_id


@transaction.atomic(durable=True)
def open_return(
    *,
    order_id: int,
    lines: dict[int, int],
    reason: str,
    actor,
    customer_note: str = "",
    today: dt.date | None = None,
) -> ReturnRequest:
    """Open a return for shipped units of an order: ``lines`` maps order line id → units.

    Refuses (ReturnError) units beyond what was shipped minus what other
    returns already took, an unknown reason, and orders past the return
    window. Writes the timeline; a reason the policy authorises
    automatically is authorised at once (label and email).
    """
    order = lock_order(order_id)
    return open_locked_return(order, lines=lines, reason=reason, actor=actor, customer_note=customer_note, today=today)


def open_locked_return(
    order: Order,
    *,
    lines: dict[int, int],
    reason: str,
    actor,
    customer_note: str = "",
    today: dt.date | None = None,
    source: str = ReturnSource.ASSOCIATE,
    resolution: str = ReturnResolution.REFUND,
    before_authorising: Callable[[ReturnRequest], None] | None = None,
) -> ReturnRequest:
    """``open_return`` for an order whose row the caller has locked, inside the caller's transaction.

    ``source`` says who opened it (an associate, or the customer on the
    order status page), ``resolution`` what the customer gets for the units;
    ``before_authorising`` completes the return (an exchange's replacement)
    before the policy authorises it.
    """
    if reason not in ReturnReason.values:
        raise ReturnError(f"Reason {reason!r} is not one of: {', '.join(ReturnReason.values)}.")
    wanted = {int(line_id): quantity for line_id, quantity in lines.items() if quantity}
    if not wanted:
        raise ReturnError(f"Order {order}: choose at least one unit to return.")
    policy = ReturnPolicy.current()
    rule = policy.rule(reason)
    window_end = _window_end(order.pk, policy.window_days)
    today = today or timezone.localdate()
    if window_end is not None and today > window_end:
        raise ReturnError(
            f"Order {order} is past the {policy.window_days}-day return window: it ended on {window_end:%Y-%m-%d}."
        )
    order_lines = {line.pk: line for line in OrderLine.objects.filter(order=order).select_related("product")}
    returnable = selectors.returnable_quantities(order.pk)
    for line_id, quantity in sorted(wanted.items()):
        line = order_lines.get(line_id)
        if line is None:
            raise ReturnError(f"Order {order} has no line {line_id}.")
        if not isinstance(quantity, int) or quantity < 0:
            raise ReturnError(f"{line.sku}: the quantity to return must be a whole number, not {quantity!r}.")
        if quantity > returnable[line_id]:
            taken = line.quantity_shipped - returnable[line_id]
            raise ReturnError(
                f"{line.sku}: cannot return {quantity}; {line.quantity_shipped} shipped, {taken} already returned "
                f"or in an open return, so at most {returnable[line_id]} can be returned."
            )
    rma = ReturnRequest.objects.create(
        order=order,
        reason=reason,
        customer_note=(customer_note or "").strip(),
        our_error=rule.our_error,
        restocking_fee_percent=Decimal("0") if rule.our_error else rule.restocking_fee_percent,
        warehouse_id=_default_warehouse_id(order.pk, wanted),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        source=source,
        resolution=resolution,
    )
    rma.number = format_rma_number(rma.pk)
    rma.save(update_fields=["number"])
    ReturnLine.objects.bulk_create(
        ReturnLine(
            rma=rma,
            order_line=order_lines[line_id],
            product=order_lines[line_id].product,
            sku=order_lines[line_id].sku,
            name=order_lines[line_id].name,
            unit_price=order_lines[line_id].unit_price,
            quantity=quantity,
        )
        for line_id, quantity in sorted(wanted.items())
    )
    units = [(order_lines[line_id].sku, quantity) for line_id, quantity in sorted(wanted.items())]
    events.return_opened(rma, units=units, lines=wanted, actor=actor)
    if before_authorising is not None:
        before_authorising(rma)
    if rule.auto_authorise and rma.warehouse_id is not None:
        _authorise(rma, actor=actor, how=f"automatically by the return policy ({rma.get_reason_display().lower()})")
    elif rule.auto_authorise:
        events.return_waits_for_warehouse(rma, actor=actor)
    return rma


@transaction.atomic(durable=True)
def authorise_return(*, rma_id: int, actor, warehouse_id: int | None = None) -> ReturnRequest:
    """Authorise a requested return: the goods come back to ``warehouse_id`` (default: where they shipped from).

    The return label is rendered in the background and the customer emailed a link to it.
    """
    rma = lock_return(rma_id)
    if warehouse_id is not None:
        rma.warehouse = Warehouse.objects.get(pk=warehouse_id)
        rma.save(update_fields=["warehouse"])
    _authorise(rma, actor=actor, how="")
    return rma


def _authorise(rma: ReturnRequest, *, actor, how: str) -> None:
    if rma.warehouse_id is None:
        raise ReturnError(f"Return {rma}: choose the warehouse the goods come back to.")
    warehouse = Warehouse.objects.get(pk=rma.warehouse_id)
    events.return_authorised(rma, warehouse=warehouse, how=how, actor=actor)
    enqueue(RENDER_LABEL_TASK, rma.pk)
    window_end = _window_end(rma.order_id, ReturnPolicy.current().window_days)
    notify.return_authorised(
        rma.order,
        rma={
            "number": rma.number,
            "lines": _lines_for_mail(rma, received=False),
            "label_url": label_link(rma),
            "return_by": max(window_end, timezone.localdate() + dt.timedelta(days=7)) if window_end else None,
            "instructions": f"Send the package to our {warehouse.city} warehouse with the label attached.",
        },
    )


def _lines_for_mail(rma: ReturnRequest, *, received: bool) -> list[dict]:
    return [
        {"sku": line.sku, "name": line.name, "quantity": line.quantity_received if received else line.quantity}
        for line in rma.lines.all()
        if (line.quantity_received if received else line.quantity)
    ]


@transaction.atomic(durable=True)
def reject_return(*, rma_id: int, reason: str, actor) -> ReturnRequest:
    """Reject a return that has not arrived, with the reason (on the timeline); its units can be returned again.

    An exchange's replacement that has not shipped is cancelled after commit
    (``cancel_order``: its stock goes back on sale, its authorisation is
    released).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ReturnError("A reason is required to reject a return.")
    rma = lock_return(rma_id)
    rma.rejection_reason = reason
    rma.save(update_fields=["rejection_reason"])
    events.return_rejected(rma, reason=reason, actor=actor)
    if rma.replacement_order_id:
        replacement_id = rma.replacement_order_id
        transaction.on_commit(lambda: _cancel_replacement(replacement_id, rma=str(rma), actor=actor))
    return rma


def _cancel_replacement(order_id: int, *, rma: str, actor) -> None:
    """Cancel a rejected exchange's replacement order if nothing of it has shipped (its stock goes back on sale)."""
    if Order.objects.filter(pk=order_id, status__in=PRE_SHIPMENT_STATUSES).exists():
        cancel_order(order_id=order_id, reason=f"return {rma} was rejected", actor=actor)


@transaction.atomic(durable=True)
def receive_return(*, rma_id: int, quantities: dict[int, int] | None, warehouse_id: int | None, actor) -> ReturnRequest:
    """Record the units that arrived, per return line id, at a warehouse (default: the return's).

    ``quantities`` None means everything asked for arrived. The order lines
    count the units as returned; the customer is emailed. Nothing enters
    stock until inspection. An exchange's replacement held for the goods is
    released to ship when every exchanged unit arrived; when some did not,
    it stays on hold and its timeline says which (ops release it by hand).
    """
    return receive_locked_return(lock_return(rma_id), quantities=quantities, warehouse_id=warehouse_id, actor=actor)


def receive_locked_return(
    rma: ReturnRequest, *, quantities: dict[int, int] | None, warehouse_id: int | None, actor
) -> ReturnRequest:
    """``receive_return`` for a caller that locked the return itself (``lock_return``), inside its transaction:
    a 3PL's return receipt, applied with its message."""
    if rma.status != ReturnStatus.AUTHORISED:
        raise ReturnError(
            f"Return {rma} is {rma.get_status_display().lower()}; only an authorised return can be received."
        )
    warehouse_id = warehouse_id or rma.warehouse_id
    if warehouse_id is None:
        raise ReturnError(f"Return {rma}: choose the warehouse that received the goods.")
    warehouse = Warehouse.objects.get(pk=warehouse_id)
    lines = list(rma.lines.select_for_update().order_by("pk"))
    if quantities is None:
        quantities = {line.pk: line.quantity for line in lines}
    received = []
    for line in lines:
        quantity = quantities.get(line.pk, 0)
        if not isinstance(quantity, int) or quantity < 0:
            raise ReturnError(f"{line.sku}: the quantity received must be a whole number, not {quantity!r}.")
        if quantity > line.quantity:
            raise ReturnError(
                f"{line.sku}: {quantity} received but the return is for {line.quantity}; "
                "open another return for the extra units."
            )
        line.quantity_received = quantity
        if quantity:
            received.append((line.sku, quantity))
            OrderLine.objects.filter(pk=line.order_line_id).update(quantity_returned=F("quantity_returned") + quantity)
    if not received:
        raise ReturnError(f"Return {rma}: nothing was received; enter the units that arrived.")
    ReturnLine.objects.bulk_update(lines, ["quantity_received"])
    rma.warehouse = warehouse
    rma.save(update_fields=["warehouse"])
    missing = sum(line.quantity - line.quantity_received for line in lines)
    events.return_received(rma, warehouse=warehouse, received=received, missing=missing, actor=actor)
    if rma.replacement_order_id:
        _ship_replacement(rma, lines=lines, actor=actor)
    notify.return_received(
        rma.order,
        rma={"number": rma.number, "lines": _lines_for_mail(rma, received=True), "received_at": rma.received_at},
    )
    return rma


def held_for_exchange(order: Order) -> bool:
    """Whether the order is on hold as an exchange's replacement waiting for the returned goods (its current hold's
    cause), not for its payment, a credit rule or an operator."""
    if order.status != OrderStatus.ON_HOLD:
        return False
    last_hold = (
        OrderEvent.objects.filter(order=order, data__to=OrderStatus.ON_HOLD).order_by("-created_at", "-pk").first()
    )
    return last_hold is not None and last_hold.data.get("cause") == EXCHANGE_HOLD


def _ship_replacement(rma: ReturnRequest, *, lines: list[ReturnLine], actor) -> None:
    """Release an exchange's replacement held for the returned goods once every exchanged unit arrived; one
    that arrived short stays held, its timeline naming the missing units (the caller holds the return's order
    lock)."""
    replacement = lock_order(rma.replacement_order_id)
    if not held_for_exchange(replacement):
        return  # not held, or held for something else (its payment, an operator): ops release it
    missing = [
        (line.sku, line.quantity - line.quantity_received)
        for line in lines
        if line.replacement_product_id and line.quantity > line.quantity_received
    ]
    if missing:
        events.replacement_still_held(replacement, rma=rma, missing=missing, actor=actor)
        return
    release(replacement, note=f"return {rma} received", actor=actor)


@dataclass(frozen=True)
class Inspection:
    """What inspection found for one return line: units back on sale, units written off and why."""

    restock: int = 0
    write_off: int = 0
    reason: str = ""


@transaction.atomic(durable=True)
def inspect_return(*, rma_id: int, results: dict[int, Inspection], actor) -> ReturnRequest:
    """Put each received unit back on sale or write it off (with a reason, valued at the SKU's unit cost).

    ``results`` maps return line id → Inspection; every received unit must
    be accounted for. Restocked units are a return-restock movement in the
    receiving warehouse (waiting backorders may take them after commit); a
    written-off unit is a return-restock and a write-off movement with the
    reason, so the ledger shows it came back and went out, and on hand does
    not change.
    """
    return inspect_locked_return(lock_return(rma_id), results=results, actor=actor)


def inspect_locked_return(rma: ReturnRequest, *, results: dict[int, Inspection], actor) -> ReturnRequest:
    """``inspect_return`` for a caller that locked the return itself, inside its transaction: the grading a 3PL
    sends with its return receipt."""
    if rma.status != ReturnStatus.RECEIVED:
        raise ReturnError(
            f"Return {rma} is {rma.get_status_display().lower()}; only a received return can be inspected."
        )
    lines = list(rma.lines.select_for_update().select_related("product").order_by("pk"))
    plan = []
    for line in lines:
        result = results.get(line.pk, Inspection())
        for value, what in ((result.restock, "restocked"), (result.write_off, "written off")):
            if not isinstance(value, int) or value < 0:
                raise ReturnError(f"{line.sku}: units {what} must be a whole number, not {value!r}.")
        if result.restock + result.write_off != line.quantity_received:
            raise ReturnError(
                f"{line.sku}: {line.quantity_received} received, but {result.restock} restocked + "
                f"{result.write_off} written off = {result.restock + result.write_off}; account for every unit."
            )
        reason = (result.reason or "").strip()
        if result.write_off and not reason:
            raise ReturnError(f"{line.sku}: a reason is required to write off {result.write_off}.")
        plan.append((line, result.restock, result.write_off, reason))
    if rma.warehouse_id:  # every level the inspection moves, locked at once in key order, not line by line
        lock_levels(
            {(rma.warehouse_id, line.product_id) for line, restock, write_off, _ in plan if restock or write_off}
        )
    total_cost = Decimal("0.00")
    for line, restock, write_off, reason in plan:
        try:
            if restock:
                inventory.restock_return(
                    warehouse_id=rma.warehouse_id,
                    product_id=line.product_id,
                    quantity=restock,
                    actor=actor,
                    reference=rma.number,
                    order_id=rma.order_id,
                )
            if write_off:
                inventory.restock_return(
                    warehouse_id=rma.warehouse_id,
                    product_id=line.product_id,
                    quantity=write_off,
                    actor=actor,
                    reference=rma.number,
                    order_id=rma.order_id,
                )
                inventory.write_off_stock(
                    warehouse_id=rma.warehouse_id,
                    product_id=line.product_id,
                    quantity=write_off,
                    reason=f"Return {rma.number}: {reason}",
                    actor=actor,
                    reference=rma.number,
                    order_id=rma.order_id,
                )
        except InventoryError as refusal:
            raise ReturnError(str(refusal)) from refusal
        line.quantity_restocked = restock
        line.quantity_written_off = write_off
        line.write_off_reason = reason
        line.write_off_cost = (line.product.unit_cost * write_off).quantize(CENT)
        total_cost += line.write_off_cost
    ReturnLine.objects.bulk_update(
        lines, ["quantity_restocked", "quantity_written_off", "write_off_reason", "write_off_cost"]
    )
    warehouse = Warehouse.objects.get(pk=rma.warehouse_id)
    events.return_inspected(rma, warehouse=warehouse, lines=lines, write_off_cost=total_cost, actor=actor)
    return rma


@transaction.atomic(durable=True)
def close_return(*, rma_id: int, actor, note: str = "") -> ReturnRequest:
    """Close a refunded return; an inspected one closes without a refund only with a note saying why."""
    rma = lock_return(rma_id)
    note = (note or "").strip()
    if rma.status == ReturnStatus.INSPECTED and not note:
        raise ReturnError(f"Return {rma} has not been refunded; say why it closes without a refund.")
    events.return_closed(rma, note=note, actor=actor)
    return rma
