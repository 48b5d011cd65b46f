"""Changing an order after it is placed: cancelling some of its items before they ship.

``cancel_lines`` takes units off an order's lines in one transaction under
the order's lock: the units waiting for stock go first, then reserved
units (given back to stock); units already shipped, or packed in a shipment
that is not cancelled (awaiting its label or labelled), cannot be cancelled
here: the shipment's parcels, carrier and cost check were made for its
contents, so the operator cancels the shipment first (the units stay
reserved) and then the items. The totals are computed again as at intake
(the lines' subtotal, the same shipping, tax and discount in proportion to
the subtotal); the payment follows (the authorisation reduced, or money
captured beyond the new total refunded) with the gateway called after
commit. Cancelling every unit left cancels the whole order (``cancel_order``'s
path). ``preview_cancellation`` says the same without writing anything,
for the console's summary before confirming.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import Max, Sum

from inventory import services as inventory
from inventory.models import Allocation
from shipping.models import UNSHIPPED_STATUSES, ShipmentLine

from .. import events
from ..exceptions import CancellationRefused, OrderChanged
from ..models import Order, OrderEvent, OrderLine, OrderStatus
from ..payments import services as payments
from ..payments.amounts import ZERO, cents
from ..payments.exceptions import PaymentError
from . import notify, payment
from ._common import lock_order, require_reason
from .intake import order_totals
from .lifecycle import cancel_locked_order
from .shipping_facts import refresh_shipping_facts

# Orders whose unshipped items may be cancelled: not yet shipped, or shipped in part (the rest waits).
AMENDABLE = frozenset(
    {
        OrderStatus.RECEIVED,
        OrderStatus.ALLOCATED,
        OrderStatus.BACKORDERED,
        OrderStatus.ON_HOLD,
        OrderStatus.PARTIALLY_SHIPPED,
    }
)


def order_version(order: Order) -> int:
    """The order's version for ``expected_version``: its latest timeline entry's id (0 before any).

    Every change to an order writes its timeline, so a reader that saw this version and finds another one
    knows the order moved on meanwhile.
    """
    return OrderEvent.objects.filter(order_id=order.pk).aggregate(latest=Max("pk"))["latest"] or 0


@dataclass(frozen=True)
class LineState:
    """Where one line's units stand, as far as cancelling goes."""

    line: OrderLine
    in_shipments: int  # units packed in shipments not shipped and not cancelled
    shipment_numbers: tuple[str, ...]
    free_by_warehouse: dict[int, int]  # reserved units not in such a shipment, per warehouse

    @property
    def cancellable(self) -> int:
        """Units that may be cancelled: not shipped and not packed in a live shipment."""
        return max(self.line.quantity - self.line.quantity_shipped - self.in_shipments, 0)


@dataclass
class CancellationPlan:
    """What cancelling these units does to the order (read, or about to be written)."""

    order: Order
    changes: list[dict] = field(default_factory=list)  # sku, name, line, before, cancelled, after
    release: dict[tuple[int, int], int] = field(default_factory=dict)  # (line id, warehouse id) -> units
    totals: dict[str, Decimal] = field(default_factory=dict)
    total_before: Decimal = ZERO
    adjustment: payments.Adjustment = field(default_factory=payments.Adjustment)
    cancels_order: bool = False  # every unit left is cancelled: the whole order is

    @property
    def released_units(self) -> int:
        return sum(self.release.values())

    @property
    def new_total(self) -> Decimal:
        return self.totals.get("grand_total", ZERO)


@dataclass(frozen=True)
class LinesCancelled:
    """The outcome of ``cancel_lines``: the order as it is now, the plan carried out and its timeline entry."""

    order: Order
    plan: CancellationPlan | None
    event: OrderEvent
    replayed: bool = False  # the same idempotency key was used before: that cancellation's outcome


def line_states(order: Order) -> list[LineState]:
    """Each of the order's lines with what can be cancelled of it (read as it is now)."""
    lines = list(OrderLine.objects.filter(order_id=order.pk).order_by("pk"))
    packed: dict[tuple[int, int], int] = {}
    numbers: dict[int, set[str]] = {}
    for line_id, warehouse_id, number, quantity in ShipmentLine.objects.filter(
        shipment__order_id=order.pk, shipment__status__in=UNSHIPPED_STATUSES
    ).values_list("order_line_id", "shipment__warehouse_id", "shipment__number", "quantity"):
        packed[(line_id, warehouse_id)] = packed.get((line_id, warehouse_id), 0) + quantity
        numbers.setdefault(line_id, set()).add(number)
    reserved: dict[int, dict[int, int]] = {}
    for line_id, warehouse_id, quantity in (
        Allocation.objects.filter(order_id=order.pk)
        .values_list("order_line_id", "warehouse_id")
        .annotate(units=Sum("quantity"))
        .order_by("order_line_id", "warehouse_id")
    ):
        free = quantity - packed.get((line_id, warehouse_id), 0)
        if free > 0:
            reserved.setdefault(line_id, {})[warehouse_id] = free
    return [
        LineState(
            line=line,
            in_shipments=sum(units for (line_id, _), units in packed.items() if line_id == line.pk),
            shipment_numbers=tuple(sorted(numbers.get(line.pk, ()))),
            free_by_warehouse=reserved.get(line.pk, {}),
        )
        for line in lines
    ]


def _plan(order: Order, quantities: dict) -> CancellationPlan:
    """Check the request against the order as it is and work out its effects; raises CancellationRefused."""
    if order.status not in AMENDABLE:
        raise CancellationRefused(
            f"Order {order} is {order.get_status_display().lower()}: it has no items left to cancel."
        )
    if not quantities:
        raise CancellationRefused(f"Order {order}: choose at least one item and how many units to cancel.")
    states = {state.line.pk: state for state in line_states(order)}
    problems: dict[int, str] = {}
    wanted: dict[int, int] = {}
    for line_id, units in quantities.items():
        state = states.get(line_id)
        if state is None:
            problems[line_id] = f"Line {line_id} is not a line of order {order}."
            continue
        line = state.line
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            problems[line_id] = (
                f"Line {line.sku}: the units to cancel must be a whole number of at least 1 (got {units!r})."
            )
            continue
        if units > state.cancellable:
            why = [f"{line.quantity_shipped} shipped"] if line.quantity_shipped else []
            if state.in_shipments:
                why.append(
                    f"{state.in_shipments} in shipment {', '.join(state.shipment_numbers)} (cancel the shipment first)"
                )
            because = f" ({'; '.join(why)})" if why else ""
            problems[line_id] = (
                f"Line {line.sku}: only {state.cancellable} of its {line.quantity} units can be cancelled{because}; "
                f"asked to cancel {units}."
            )
            continue
        wanted[line_id] = units
    if problems:
        raise CancellationRefused(" ".join(problems.values()), problems=problems)
    plan = CancellationPlan(order=order, total_before=order.grand_total)
    left = sum(s.line.quantity - s.line.quantity_shipped for s in states.values()) - sum(wanted.values())
    shipped_any = any(s.line.quantity_shipped for s in states.values())
    if left == 0 and shipped_any:
        raise CancellationRefused(
            f"Order {order}: cancelling every unit not yet shipped would close a partly shipped order; "
            "keep at least one unit, or refund the order after it ships (Returns)."
        )
    plan.cancels_order = left == 0
    for line_id, units in sorted(wanted.items()):
        state = states[line_id]
        line = state.line
        waiting = line.quantity - line.quantity_shipped - line.quantity_allocated
        from_reserved = max(units - max(waiting, 0), 0)
        for warehouse_id, free in sorted(state.free_by_warehouse.items()):
            take = min(free, from_reserved)
            if take:
                plan.release[(line_id, warehouse_id)] = take
                from_reserved -= take
        plan.changes.append(
            {
                "line": line_id,
                "sku": line.sku,
                "name": line.name,
                "before": line.quantity,
                "cancelled": units,
                "after": line.quantity - units,
                "released": sum(q for (lid, _), q in plan.release.items() if lid == line_id),
            }
        )
    remaining = [
        (s.line.unit_price, s.line.quantity - wanted.get(s.line.pk, 0)) for s in states.values() if s.line.quantity
    ]
    new_subtotal = sum((price * quantity for price, quantity in remaining), Decimal("0"))
    # Tax and discount follow the goods (in proportion to the subtotal); shipping is kept while anything ships.
    share = (new_subtotal / order.subtotal) if order.subtotal else Decimal("0")
    plan.totals = order_totals(
        lines=remaining,
        shipping_total=ZERO if plan.cancels_order else order.shipping_total,
        tax_total=cents(order.tax_total * share),
        discount_total=cents(order.discount_total * share),
    )
    if not plan.cancels_order:
        if order.payment_gateway and payments.authorisation_in_flight(order):
            raise CancellationRefused(
                f"Order {order}: its payment's authorisation is not settled (being asked, or failed and to be asked "
                "again for the old total); cancel items once it is authorised, or cancel the whole order."
            )
        plan.adjustment = payments.adjustment_for(order, new_total=plan.new_total)
    return plan


def _normalised(quantities: dict) -> dict:
    """Line ids as integers where they are numbers (a form or a JSON body may send strings)."""
    out = {}
    for key, units in (quantities or {}).items():
        try:
            out[int(key)] = units
        except (TypeError, ValueError):
            out[key] = units
    return out


def preview_cancellation(*, order_id: int, quantities: dict[int, int]) -> CancellationPlan:
    """What ``cancel_lines`` would do (new total, payment released or refunded, stock released); writes nothing."""
    return _plan(Order.objects.get(pk=order_id), _normalised(quantities))


def _replay(order: Order, key: str) -> OrderEvent | None:
    kinds = [OrderEvent.Kind.LINES_CANCELLED, OrderEvent.Kind.STATUS_CHANGED]
    return OrderEvent.objects.filter(order_id=order.pk, kind__in=kinds, data__idempotency_key=key).first()


def cancel_lines(
    *,
    order_id: int,
    quantities: dict[int, int],
    reason: str,
    actor,
    expected_version: int | None = None,
    idempotency_key: str = "",
) -> LinesCancelled:
    """Cancel some units of some lines of an order before they ship; the rest of the order carries on.

    ``quantities``: units to cancel per order line id. Reserved units go back
    on sale (waiting backorders are offered them after commit), the order's
    totals are computed again, its status follows (a backordered order whose
    waiting units are all cancelled is allocated), the timeline says what
    changed and who did it, and the customer is emailed. The payment
    follows after commit: what the authorisation holds beyond the new total
    is released, money captured beyond it is refunded (journalled as every
    refund is). Cancelling every unit left cancels the order (``cancel_order``).

    Refused (nothing written) with CancellationRefused naming the line when a
    quantity is not a positive whole number, is more than can be cancelled,
    or names a line of another order; with OrderChanged when
    ``expected_version`` (``order_version``) no longer matches. The same
    ``idempotency_key`` again returns the first call's outcome (``replayed``).
    """
    reason = require_reason(reason, "cancel items of")
    quantities = _normalised(quantities)
    with transaction.atomic(durable=True):
        order = lock_order(order_id)
        if idempotency_key:
            earlier = _replay(order, idempotency_key)
            if earlier is not None:
                return LinesCancelled(order=order, plan=None, event=earlier, replayed=True)
        if expected_version is not None and expected_version != order_version(order):
            raise OrderChanged(
                f"Order {order} changed since you read it (version {expected_version}, now "
                f"{order_version(order)}): look at it again before cancelling items."
            )
        plan = _plan(order, quantities)
        key_data = {"idempotency_key": idempotency_key} if idempotency_key else {}
        if plan.cancels_order:
            data = {"lines": plan.changes, "total_before": plan.total_before, "total_after": ZERO, **key_data}
            event, void = cancel_locked_order(order, reason=reason, actor=actor, data=data)
            calls = [void] if void is not None else []
        else:
            event, calls = _apply(order, plan, reason=reason, actor=actor, key_data=key_data)
    for call in calls:
        payment.make_call(call, actor=actor)
    return LinesCancelled(order=order, plan=plan, event=event)


def _apply(order: Order, plan: CancellationPlan, *, reason: str, actor, key_data: dict):
    """Write a plan that leaves the order something to ship (the caller holds the order's lock)."""
    lines = {line.pk: line for line in OrderLine.objects.filter(order_id=order.pk).order_by("pk")}
    released = inventory.release_units(order_id=order.pk, units=plan.release)
    for change in plan.changes:
        line = lines[change["line"]]
        line.quantity -= change["cancelled"]
        line.quantity_cancelled += change["cancelled"]
        line.quantity_allocated -= released.get(line.pk, 0)
    OrderLine.objects.bulk_update(
        [lines[change["line"]] for change in plan.changes], ["quantity", "quantity_cancelled", "quantity_allocated"]
    )
    for name, value in plan.totals.items():
        setattr(order, name, value)
    order.save(update_fields=[*plan.totals, "updated_at"])
    waiting = any(line.quantity_unallocated > 0 for line in lines.values())
    if order.status == OrderStatus.BACKORDERED and not waiting:
        events.backorder_cancelled(order, actor=actor)
    elif order.status == OrderStatus.ON_HOLD and order.held_from_status == OrderStatus.BACKORDERED and not waiting:
        order.held_from_status = OrderStatus.ALLOCATED  # released, it goes back allocated
        order.save(update_fields=["held_from_status", "updated_at"])
    adjustment = plan.adjustment
    event = events.lines_cancelled(
        order,
        changes=plan.changes,
        total_before=plan.total_before,
        released=plan.released_units,
        payment={"reduce": adjustment.reduce, "refund": adjustment.refund},
        reason=reason,
        actor=actor,
        data=key_data,
    )
    try:
        calls = payments.open_adjustment(
            order=order, adjustment=adjustment, key=f"items-cancelled:{event.pk}", actor=actor, reason=reason
        )
    except PaymentError as refusal:
        raise CancellationRefused(
            f"Order {order}: its payment cannot follow ({refusal}); nothing was cancelled."
        ) from refusal
    notify.order_lines_cancelled(order, changes=plan.changes, total_before=plan.total_before, occurrence=str(event.pk))
    refresh_shipping_facts([order.pk])  # the cockpit's copy of the total
    return event, calls
