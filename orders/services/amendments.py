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

import zipcodes
from django.db import transaction
from django.db.models import Max, Sum

from inventory import services as inventory
from inventory.models import Allocation, Product
from shipping.models import UNSHIPPED_STATUSES, Shipment, ShipmentLine, ShipmentStatus

from .. import events
from ..exceptions import CancellationRefused, EditRefused, OrderChanged, OrderError
from ..models import PRE_SHIPMENT_STATUSES, Address, Hold, Order, OrderEvent, OrderLine, OrderStatus
from ..partners import outbox as partners_outbox
from ..payments import services as payments
from ..payments.amounts import ZERO, cents
from ..payments.exceptions import PaymentError
from . import notify, payment
from ._common import CENT, lock_order, require_reason
from .delay_notices import estimate_order
from .fulfilment import routing_requests
from .intake import AddressData, order_address, order_totals
from .lifecycle import cancel_locked_order
from .shipping import cancel_open_shipments
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
    # Tax and discount follow the goods (in proportion to the subtotal); shipping is kept while anything ships.
    plan.totals = recomputed_totals(order, remaining, shipping_total=ZERO if plan.cancels_order else None)
    if not plan.cancels_order:
        if order.payment_gateway and payments.authorisation_in_flight(order):
            raise CancellationRefused(
                f"Order {order}: its payment's authorisation is not settled (being asked, or failed and to be asked "
                "again for the old total); cancel items once it is authorised, or cancel the whole order."
            )
        if order.payment_gateway and payments.increment_in_flight(order):
            raise CancellationRefused(
                f"Order {order}: an increase of its payment's authorisation is being asked (or failed and is to "
                "be asked again); cancel items once it is answered, or cancel the whole order."
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


# --- editing lines: change a quantity, add a line, remove a line -------------------------------------------
def recomputed_totals(
    order: Order,
    lines: list[tuple[Decimal, int]],
    *,
    shipping_total: Decimal | None = None,
    tax_total: Decimal | None = None,
    discount_total: Decimal | None = None,
) -> dict[str, Decimal]:
    """The order's totals for new ``lines`` (unit price, units), by the intake's rule (``order_totals``).

    What the channel sends (``shipping_total``, ``tax_total``, ``discount_total``) is taken as sent, as at
    intake; what it does not send follows the goods: tax and discount in proportion to the new subtotal,
    shipping kept.
    """
    new_subtotal = sum((Decimal(price) * units for price, units in lines), Decimal("0"))
    share = (new_subtotal / order.subtotal) if order.subtotal else Decimal("0")
    return order_totals(
        lines=lines,
        shipping_total=order.shipping_total if shipping_total is None else shipping_total,
        tax_total=cents(order.tax_total * share) if tax_total is None else tax_total,
        discount_total=cents(order.discount_total * share) if discount_total is None else discount_total,
    )


@dataclass(frozen=True)
class LineChange:
    """One edit of an order's lines: ``line`` (an order line's id) or ``sku`` (the line with that SKU, or a new
    line when the order has none) takes ``quantity`` units (0 removes it). A new line costs ``unit_price``, the
    product's price when not given."""

    quantity: int
    line: int | None = None
    sku: str = ""
    unit_price: Decimal | None = None


@dataclass
class EditSummary:
    """What an edit of an order's lines does (``preview_edit``) or did (``edit_lines``): price, stock, promise,
    payment."""

    order: Order
    changes: list[dict] = field(default_factory=list)  # line, sku, name, before, after, unit_price
    totals_before: dict[str, Decimal] = field(default_factory=dict)
    totals_after: dict[str, Decimal] = field(default_factory=dict)
    stock: dict[str, int] = field(default_factory=dict)  # reserved, released, waiting (after the edit)
    promised_before: object = None  # a date, or None
    promised_after: object = None
    adjustment: payments.Adjustment = field(default_factory=payments.Adjustment)
    event: OrderEvent | None = None
    replayed: bool = False

    @property
    def total_before(self) -> Decimal:
        return self.totals_before.get("grand_total", ZERO)

    @property
    def total_after(self) -> Decimal:
        return self.totals_after.get("grand_total", ZERO)

    def as_dict(self) -> dict:
        """The summary as JSON-ready data (the API's answer)."""
        adjustment = self.adjustment
        return {
            "order": self.order.number,
            "lines": [
                {key: (str(value) if isinstance(value, Decimal) else value) for key, value in change.items()}
                for change in self.changes
            ],
            "totals_before": {key: str(value) for key, value in self.totals_before.items()},
            "totals_after": {key: str(value) for key, value in self.totals_after.items()},
            "stock": dict(self.stock),
            "promised_before": _iso_date(self.promised_before),
            "promised_after": _iso_date(self.promised_after),
            "payment": {
                "increase": str(adjustment.increase),
                "reduce": str(adjustment.reduce),
                "refund": str(adjustment.refund),
            },
            "event": self.event.pk if self.event is not None else None,
            "replayed": self.replayed,
        }


def _iso_date(day) -> str | None:
    if not day:
        return None
    return day if isinstance(day, str) else day.isoformat()


def _parse_changes(changes, *, totals_given: bool = False) -> tuple[list[LineChange], dict[str, str]]:
    """The requested changes as ``LineChange``s, and what is wrong with any of them (field path → why).

    No change at all is a problem only when no totals are given either (a channel's discount or tax
    correction changes the totals alone)."""
    parsed: list[LineChange] = []
    problems: dict[str, str] = {}
    for index, raw in enumerate(changes or []):
        where = f"changes[{index}]"
        if isinstance(raw, LineChange):
            parsed.append(raw)
            continue
        if not isinstance(raw, dict):
            problems[where] = f"{where}: must be an object with line or sku, and quantity."
            continue
        line, sku = raw.get("line"), str(raw.get("sku") or "").strip()
        if line in ("", None) and not sku:
            problems[where] = f"{where}: give the line (its id) or the sku."
            continue
        if line not in ("", None):
            try:
                line = int(line)
            except (TypeError, ValueError):
                problems[f"{where}.line"] = f"{where}.line: must be an order line's id (got {line!r})."
                continue
        else:
            line = None
        quantity = 0 if raw.get("remove") is True else raw.get("quantity")
        if isinstance(quantity, str) and quantity.strip().isdigit():
            quantity = int(quantity.strip())
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            problems[f"{where}.quantity"] = (
                f"{where}.quantity: must be a whole number of units, 0 to remove the line (got {quantity!r})."
            )
            continue
        price = raw.get("unit_price")
        if price not in (None, ""):
            try:
                price = Decimal(str(price))
            except ArithmeticError:
                price = None
                problems[f"{where}.unit_price"] = f"{where}.unit_price: must be an amount such as 19.99."
                continue
            if not price.is_finite() or price < 0 or price != price.quantize(Decimal("0.01")):
                problems[f"{where}.unit_price"] = (
                    f"{where}.unit_price: must be an amount of at least 0.00, to the cent "
                    f"(got {raw.get('unit_price')!r})."
                )
                continue
        else:
            price = None
        parsed.append(LineChange(quantity=quantity, line=line, sku=sku, unit_price=price))
    if not changes and not totals_given:
        problems["changes"] = "changes: give at least one line to change, add or remove, or a total."
    return parsed, problems


def _edit_order(
    order: Order, changes, *, reason: str, actor, totals: dict | None, key_data: dict
) -> tuple[EditSummary, list]:
    """Check an edit against the order as it is (locked by the caller) and write it; raises EditRefused with
    nothing written. Returns the summary and the payment calls to make after commit."""
    if order.status not in AMENDABLE:
        raise EditRefused(f"Order {order} is {order.get_status_display().lower()}: its items can no longer change.")
    totals = totals or {}
    parsed, problems = _parse_changes(changes, totals_given=bool(totals))
    for name in totals:
        if name not in ("shipping_total", "tax_total", "discount_total"):
            problems[name] = f"{name}: only shipping_total, tax_total and discount_total can be given."
        elif not isinstance(totals[name], Decimal) or totals[name] < 0:
            problems[name] = f"{name}: must be an amount of at least 0.00."
    states = {state.line.pk: state for state in line_states(order)}
    by_sku: dict[str, list[LineState]] = {}
    for state in states.values():
        by_sku.setdefault(state.line.sku, []).append(state)
    wanted: dict[int, int] = {}  # line id -> new quantity
    added: dict[str, tuple[int, Decimal | None, int]] = {}  # sku -> units, price, index
    for index, change in enumerate(parsed):
        where = f"changes[{index}]"
        state = None
        if change.line is not None:
            state = states.get(change.line)
            if state is None:
                problems[f"{where}.line"] = f"{where}.line: line {change.line} is not a line of order {order}."
                continue
        elif change.sku in by_sku:
            if len(by_sku[change.sku]) > 1:
                problems[f"{where}.sku"] = (
                    f"{where}.sku: order {order} has {len(by_sku[change.sku])} lines of {change.sku}; name the line."
                )
                continue
            state = by_sku[change.sku][0]
        if state is None:
            if change.sku in added:
                problems[f"{where}.sku"] = f"{where}.sku: {change.sku} is added twice; add it once."
            elif change.quantity < 1:
                problems[f"{where}.quantity"] = f"{where}.quantity: a new line of {change.sku} needs at least 1 unit."
            else:
                added[change.sku] = (change.quantity, change.unit_price, index)
            continue
        line = state.line
        if line.pk in wanted:
            problems[where] = f"{where}: line {line.sku} is changed twice; change it once."
            continue
        if change.unit_price is not None and change.unit_price != line.unit_price:
            problems[f"{where}.unit_price"] = (
                f"{where}.unit_price: line {line.sku} keeps its price ({line.unit_price}); "
                "remove the line and add it again to sell it at another price."
            )
            continue
        floor = line.quantity_shipped + state.in_shipments
        if change.quantity < floor:
            why = [f"{line.quantity_shipped} shipped"] if line.quantity_shipped else []
            if state.in_shipments:
                why.append(
                    f"{state.in_shipments} in shipment {', '.join(state.shipment_numbers)} (cancel the shipment first)"
                )
            problems[f"{where}.quantity"] = (
                f"{where}.quantity: line {line.sku} cannot go below {floor} units ({'; '.join(why)}); "
                f"asked for {change.quantity}."
            )
            continue
        if change.quantity != line.quantity:
            wanted[line.pk] = change.quantity
    products = {
        product.sku: product
        for product in Product.objects.filter(sku__in=list(added)).only("pk", "sku", "name", "price", "is_active")
    }
    for sku, (_, _, index) in added.items():
        product = products.get(sku)
        if product is None or not product.is_active:
            problems[f"changes[{index}].sku"] = f"changes[{index}].sku: unknown or inactive SKU {sku!r}."
    if problems:
        raise EditRefused(f"Order {order}: " + " ".join(problems.values()), problems=problems)
    if not wanted and not added and not totals:
        raise EditRefused(
            f"Order {order}: the edit changes nothing (every quantity is as it is).",
            problems={"changes": "changes: every quantity is as it is."},
        )
    left = sum(wanted.get(s.line.pk, s.line.quantity) - s.line.quantity_shipped for s in states.values()) + sum(
        units for units, _, _ in added.values()
    )
    if left == 0:
        raise EditRefused(
            f"Order {order}: the edit leaves nothing to ship; cancel the order instead.",
            problems={"changes": "changes: the edit leaves nothing to ship; cancel the order instead."},
        )
    if order.payment_gateway and (payments.authorisation_in_flight(order) or payments.increment_in_flight(order)):
        raise EditRefused(
            f"Order {order}: its payment's authorisation is being asked (or asked again); edit the items once it "
            "is answered."
        )
    # The new totals, by the intake's rule, and what the payment does about them.
    new_lines = [(s.line.unit_price, wanted.get(s.line.pk, s.line.quantity)) for s in states.values()]
    new_lines += [
        (price if price is not None else products[sku].price, units) for sku, (units, price, _) in added.items()
    ]
    totals_before = {name: getattr(order, name) for name in TOTALS}
    totals_after = recomputed_totals(order, new_lines, **totals)
    adjustment = payments.adjustment_for(order, new_total=totals_after["grand_total"])
    # Units taken off: those waiting for stock first, then reserved units (not packed) go back on sale.
    release: dict[tuple[int, int], int] = {}
    summary_changes: list[dict] = []
    for line_id, quantity in sorted(wanted.items()):
        state = states[line_id]
        line = state.line
        if quantity < line.quantity:
            waiting = line.quantity - line.quantity_shipped - line.quantity_allocated
            from_reserved = max(line.quantity - quantity - max(waiting, 0), 0)
            for warehouse_id, free in sorted(state.free_by_warehouse.items()):
                take = min(free, from_reserved)
                if take:
                    release[(line_id, warehouse_id)] = take
                    from_reserved -= take
        summary_changes.append(
            {
                "line": line_id,
                "sku": line.sku,
                "name": line.name,
                "before": line.quantity,
                "after": quantity,
                "unit_price": line.unit_price,
            }
        )
    # The writes.
    released = inventory.release_units(order_id=order.pk, units=release) if release else {}
    lines = {state.line.pk: state.line for state in states.values()}
    for line_id, quantity in wanted.items():
        line = lines[line_id]
        if quantity < line.quantity:
            line.quantity_cancelled += line.quantity - quantity
        line.quantity = quantity
        line.quantity_allocated -= released.get(line_id, 0)
    if wanted:
        OrderLine.objects.bulk_update(
            [lines[line_id] for line_id in wanted], ["quantity", "quantity_cancelled", "quantity_allocated"]
        )
    for sku, (units, price, _) in added.items():
        product = products[sku]
        line = OrderLine.objects.create(
            order=order,
            product=product,
            sku=sku,
            name=product.name,
            quantity=units,
            unit_price=(price if price is not None else product.price).quantize(CENT),
        )
        summary_changes.append(
            {"line": line.pk, "sku": sku, "name": line.name, "before": 0, "after": units, "unit_price": line.unit_price}
        )
    for name, value in totals_after.items():
        setattr(order, name, value)
    order.save(update_fields=[*totals_after, "updated_at"])
    reserved = _reserve_waiting(order, actor=actor)
    # Units waiting for stock once reserved where the order's stock is (a received order is routed later, whole).
    waiting_units = (
        sum(line.quantity_unallocated for line in OrderLine.objects.filter(order_id=order.pk))
        if order.status_beneath_hold in RESERVE_NOW
        else 0
    )
    promised_before = order.promised_date
    estimate = estimate_order(order)
    if estimate.date is not None and estimate.date != order.promised_date:
        order.promised_date = estimate.date
        order.save(update_fields=["promised_date", "updated_at"])
    stock = {"reserved": reserved, "released": sum(released.values()), "waiting": waiting_units}
    payment_moves = {"increase": adjustment.increase, "reduce": adjustment.reduce, "refund": adjustment.refund}
    event = events.lines_edited(
        order,
        changes=summary_changes,
        totals_before=totals_before,
        promise_before=promised_before,
        stock=stock,
        payment=payment_moves,
        reason=reason,
        actor=actor,
        data=key_data,
    )
    calls = []
    if adjustment.moves:
        try:
            calls = payments.open_adjustment(
                order=order,
                adjustment=adjustment,
                key=f"order-edited:{event.pk}",
                actor=actor,
                reason=reason,
                source="order edited",
            )
        except PaymentError as refusal:
            raise EditRefused(
                f"Order {order}: its payment cannot follow ({refusal}); nothing was changed."
            ) from refusal
    notify.order_changed(
        order,
        changes=summary_changes,
        total_before=totals_before["grand_total"],
        promised_before=promised_before,
        occurrence=f"edit:{event.pk}",
    )
    refresh_shipping_facts([order.pk])
    summary = EditSummary(
        order=order,
        changes=summary_changes,
        totals_before=totals_before,
        totals_after=totals_after,
        stock=stock,
        promised_before=promised_before,
        promised_after=order.promised_date,
        adjustment=adjustment,
        event=event,
    )
    return summary, calls


TOTALS = ("subtotal", "shipping_total", "tax_total", "discount_total", "grand_total")
# Orders whose new units are reserved at once (a received order is routed as a whole, later).
RESERVE_NOW = (OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_SHIPPED)


def _reserve_waiting(order: Order, *, actor) -> int:
    """Reserve the units of the order (locked by the caller) that wait for stock, as routing would, and move its
    status with them (allocated when every unit is reserved, backordered when some wait); returns the units
    reserved. A held order keeps its hold; releasing it returns it to where its stock now stands."""
    beneath = order.status_beneath_hold
    if beneath not in RESERVE_NOW:
        return 0
    order.shipping_address = Address.objects.get(pk=order.shipping_address_id)
    lines_of, requests = routing_requests([order])
    reserved = 0
    result = None
    if requests[0].lines:
        reservation = inventory.plan_batch(requests, lock=True)
        result = reservation.results[order.pk]
        changed = []
        for line in lines_of[order.pk]:
            units = result.allocated.get(line.pk, 0)
            if units:
                line.quantity_allocated += units
                changed.append(line)
                reserved += units
        OrderLine.objects.bulk_update(changed, ["quantity_allocated"])
        inventory.reserve(reservation)
    waiting = any(line.quantity_unallocated > 0 for line in lines_of[order.pk])
    target = OrderStatus.BACKORDERED if waiting else OrderStatus.ALLOCATED
    if beneath == OrderStatus.PARTIALLY_SHIPPED or target == beneath:
        return reserved
    if order.status == OrderStatus.ON_HOLD:
        order.held_from_status = target
        order.save(update_fields=["held_from_status", "updated_at"])
        return reserved
    reason = result.reason if result is not None else "the items waiting for stock were taken off the order"
    events.order_routed(
        order, to_status=target, reason=f"Order edited: {reason}", data={"cause": "order_edited"}, actor=actor
    )
    return reserved


def _edit_replay(order: Order, key: str) -> EditSummary | None:
    event = OrderEvent.objects.filter(
        order_id=order.pk, kind=OrderEvent.Kind.LINES_EDITED, data__idempotency_key=key
    ).first()
    if event is None:
        return None
    data = event.data
    payment = data.get("payment", {})
    return EditSummary(
        order=order,
        changes=data.get("lines", []),
        totals_before={name: Decimal(str(value)) for name, value in data.get("totals_before", {}).items()},
        totals_after={name: getattr(order, name) for name in TOTALS},
        stock=data.get("stock", {}),
        promised_before=data.get("promised_before"),
        promised_after=data.get("promised_after"),
        adjustment=payments.Adjustment(
            reduce=Decimal(str(payment.get("reduce", "0"))),
            refund=Decimal(str(payment.get("refund", "0"))),
            increase=Decimal(str(payment.get("increase", "0"))),
        ),
        event=event,
        replayed=True,
    )


class _PreviewDone(Exception):
    """Carries a preview's summary out of the transaction it rolls back."""

    def __init__(self, summary: EditSummary):
        super().__init__("preview")
        self.summary = summary


def preview_edit(*, order_id: int, changes, totals: dict | None = None) -> EditSummary:
    """What ``edit_lines`` would do (the lines before → after, the new totals, the units reserved, released and
    waiting, the new promise, the payment's move), worked out by the very same code and rolled back: nothing is
    written, no email, no gateway call. Raises EditRefused as ``edit_lines`` would."""
    try:
        with transaction.atomic(durable=True):
            order = lock_order(order_id)
            summary, _ = _edit_order(order, changes, reason="preview", actor="preview", totals=totals, key_data={})
            summary.event = None
            raise _PreviewDone(summary)
    except _PreviewDone as done:
        return done.summary


def edit_lines(
    *,
    order_id: int,
    changes,
    reason: str,
    actor,
    expected_version: int | None = None,
    idempotency_key: str = "",
    totals: dict | None = None,
    data: dict | None = None,
) -> EditSummary:
    """Edit an order's items before they ship: change quantities, add lines, remove lines, in one transaction.

    ``changes``: ``LineChange``s or dicts (``line`` or ``sku``, ``quantity``, optional ``unit_price`` for a new
    line; quantity 0 removes a line); ``totals``: the channel's own ``shipping_total``, ``tax_total`` or
    ``discount_total``, taken as sent (else tax and discount follow the subtotal, as at intake and in a
    partial cancellation). Units taken off go back on sale (waiting ones first); units added are reserved
    through the ledger at once (what no warehouse has waits: the order is backordered), the order's totals and
    its promised date are computed again, the timeline says before → after and who, and the customer gets one
    email with the change and the date. The payment follows after commit: a higher total asks the gateway to
    authorise the difference (declined: the order is held for its payment), a lower one releases or refunds it.

    Refused (nothing written) with EditRefused naming the field (``changes[1].quantity``), with OrderChanged
    when ``expected_version`` (``order_version``) no longer matches. The same ``idempotency_key`` again
    returns the first call's outcome (``replayed``). ``data`` is kept on the timeline entry (a channel's view
    of the order, for its next change).
    """
    reason = require_reason(reason, "edit the items of")
    with transaction.atomic(durable=True):
        order = lock_order(order_id)
        if idempotency_key:
            earlier = _edit_replay(order, idempotency_key)
            if earlier is not None:
                return earlier
        if expected_version is not None and expected_version != order_version(order):
            raise OrderChanged(
                f"Order {order} changed since you read it (version {expected_version}, now "
                f"{order_version(order)}): look at it again before editing its items."
            )
        key_data = {**(data or {}), **({"idempotency_key": idempotency_key} if idempotency_key else {})}
        summary, calls = _edit_order(order, changes, reason=reason, actor=actor, totals=totals, key_data=key_data)
    for call in calls:
        payment.make_call(call, actor=actor)
    return summary


# --- the ship-to address ---------------------------------------------------------------------------------
OVERRIDE_ADDRESS_PERMISSION = "orders.override_address_check"


def _same_place(a: str, b: str) -> bool:
    return " ".join(a.replace(".", " ").split()).casefold() == " ".join(b.replace(".", " ").split()).casefold()


def address_problems(address: AddressData) -> dict[str, str]:
    """What does not agree in a US address (field → why): a ZIP code that does not exist, or whose city or state
    is not the one given. Other countries' addresses are not checked here (empty)."""
    if address.country.strip().upper() != "US":
        return {}
    postal_code = address.postal_code.strip()
    zip5 = postal_code[:5]
    if not (len(postal_code) in (5, 10) and zip5.isdigit() and (len(postal_code) == 5 or postal_code[5] == "-")):
        return {"postal_code": f"postal_code: {postal_code!r} is not a US ZIP code (12345 or 12345-6789)."}
    places = [row for row in zipcodes.matching(zip5) if row.get("country", "US") == "US"]
    if not places:
        return {"postal_code": f"postal_code: ZIP code {zip5} does not exist."}
    problems = {}
    state = address.state.strip().upper()
    states = sorted({row["state"] for row in places})
    if state not in states:
        problems["state"] = f"state: ZIP code {zip5} is in {', '.join(states)}, not {address.state.strip() or 'blank'}."
    cities = [row["city"] for row in places] + [city for row in places for city in row.get("acceptable_cities", [])]
    if not any(_same_place(address.city, city) for city in cities):
        problems["city"] = (
            f"city: ZIP code {zip5} is {places[0]['city']}, {places[0]['state']}, not {address.city.strip()!r}."
        )
    return problems


def _may_override(actor) -> bool:
    has_perm = getattr(actor, "has_perm", None)
    return bool(has_perm and getattr(actor, "is_authenticated", False) and has_perm(OVERRIDE_ADDRESS_PERMISSION))


@dataclass(frozen=True)
class AddressChanged:
    """The outcome of ``change_shipping_address``: the order, its timeline entry, where its stock is reserved
    before and after, its promise before and after."""

    order: Order
    event: OrderEvent
    warehouses_before: tuple[str, ...]
    warehouses_after: tuple[str, ...]
    promised_before: object
    promised_after: object
    replayed: bool = False  # the same idempotency key was used before: that change's outcome


def _reserved_at(order: Order) -> tuple[str, ...]:
    return tuple(sorted(set(Allocation.objects.filter(order_id=order.pk).values_list("warehouse__code", flat=True))))


def _refuse_rerouting_held_shipments(order: Order) -> None:
    """Refuse a new address while an open shipment is on hold or released to a 3PL (the caller holds the lock).

    A new address cancels the shipments awaiting their label and routes their units again: a held shipment's
    units would leave in a new shipment without the hold, and a 3PL may already be picking a released one.
    """
    shipments = list(
        Shipment.objects.filter(order_id=order.pk, status__in=UNSHIPPED_STATUSES)
        .select_related("warehouse")
        .order_by("pk")
    )
    holds = {
        hold.shipment_id: hold
        for hold in Hold.objects.filter(shipment__in=shipments, released_at__isnull=True).order_by("pk")
    }
    for shipment in shipments:
        hold = holds.get(shipment.pk)
        if hold is not None:
            raise OrderError(
                f"Order {order}: shipment {shipment} is on a {hold.get_hold_type_display().lower()} hold; release "
                "it before changing the address (a new address would route its units again without the hold)."
            )
        released = partners_outbox.refuse_changing_released(shipment)
        if released:
            raise OrderError(f"Order {order}: its address cannot change. {released}")


def change_shipping_address(
    *,
    order_id: int,
    address: AddressData,
    reason: str,
    actor,
    override: bool = False,
    expected_version: int | None = None,
    idempotency_key: str = "",
    data: dict | None = None,
) -> AddressChanged:
    """Give an order a new ship-to address until a label is bought for it; routed, quoted and promised again.

    A US address must agree with itself (the ZIP code exists, its city and state are the ones given), unless
    ``override`` by a manager (``orders.override_address_check``), recorded on the timeline with what did not
    agree. The order gets a new address row of its own (the old one stays, unchanged, for the record).
    Shipments still awaiting their label are cancelled (their units stay reserved); the order's reserved stock is
    then routed again from the new address (another warehouse if it is now the better one), its promised date
    computed again from there; the timeline says from what to what, the warehouses and the dates, why and who;
    the customer gets one email with the new address and date.

    Refused (nothing written) once a label is bought or anything shipped, while a shipment is on hold (its hold
    must be released first: a new address must not carry its units past the hold) or while a 3PL holds a
    shipment's release (the 3PL must let go first) (OrderError), with EditRefused naming
    the field when the address does not agree (or the override is not the actor's to make), with
    OrderChanged when ``expected_version`` no longer matches. An address's own rules (a field too long, a
    country that is not a code) raise ValidationError. The same ``idempotency_key`` again returns the first
    call's outcome (``replayed``). ``data`` is kept on the timeline entry.
    """
    reason = require_reason(reason, "change the address of")
    with transaction.atomic(durable=True):
        order = lock_order(order_id)
        if idempotency_key:
            earlier = OrderEvent.objects.filter(
                order_id=order.pk, kind=OrderEvent.Kind.ADDRESS_CHANGED, data__idempotency_key=idempotency_key
            ).first()
            if earlier is not None:
                data = earlier.data
                return AddressChanged(
                    order=order,
                    event=earlier,
                    warehouses_before=tuple(data.get("warehouses_before", ())),
                    warehouses_after=tuple(data.get("warehouses_after", ())),
                    promised_before=data.get("promised_before"),
                    promised_after=data.get("promised_after"),
                    replayed=True,
                )
        if expected_version is not None and expected_version != order_version(order):
            raise OrderChanged(
                f"Order {order} changed since you read it (version {expected_version}, now "
                f"{order_version(order)}): look at it again before changing its address."
            )
        if order.status not in PRE_SHIPMENT_STATUSES:
            raise OrderError(
                f"Order {order} is {order.get_status_display().lower()}: its address can change only before it ships."
            )
        labelled = list(
            Shipment.objects.filter(order_id=order.pk)
            .exclude(status__in=(ShipmentStatus.CANCELLED, ShipmentStatus.AWAITING_LABEL))
            .values_list("number", flat=True)
        )
        if labelled:
            raise OrderError(
                f"Order {order} already has shipment {', '.join(labelled)} with a label made out to the old "
                "address; cancel the shipment first."
            )
        _refuse_rerouting_held_shipments(order)
        after = order_address(address)
        after.full_clean(exclude=["customer"])
        problems = address_problems(address)
        if problems and not override:
            raise EditRefused(
                f"Order {order}: the new address does not agree: " + " ".join(problems.values()), problems=problems
            )
        if override and problems and not _may_override(actor):
            raise EditRefused(
                f"Order {order}: only a manager may ship to an address that does not agree "
                f"({' '.join(problems.values())}).",
                problems={"override": "override: only a manager may ship to an address that does not agree."},
            )
        cancelled = [shipment.number for shipment in cancel_open_shipments(order=order, actor=actor)]
        before = order.shipping_address
        warehouses_before = _reserved_at(order)
        after.save()
        order.shipping_address = after
        order.save(update_fields=["shipping_address", "updated_at"])
        # Routed again from the new address: the reserved units are given back and planned afresh.
        if order.status_beneath_hold in RESERVE_NOW:
            inventory.release_allocations(order_id=order.pk)
            OrderLine.objects.filter(order_id=order.pk, quantity_allocated__gt=0).update(quantity_allocated=0)
            _reserve_waiting(order, actor=actor)
        warehouses_after = _reserved_at(order)
        promised_before = order.promised_date
        estimate = estimate_order(order)
        if estimate.date is not None and estimate.date != order.promised_date:
            order.promised_date = estimate.date
            order.save(update_fields=["promised_date", "updated_at"])
        event = events.address_changed(
            order,
            before=before,
            after=after,
            reason=reason,
            actor=actor,
            warehouses=(warehouses_before, warehouses_after),
            promised=(promised_before, order.promised_date),
            override=problems if override and problems else None,
            cancelled_shipments=cancelled,
            data={**(data or {}), **({"idempotency_key": idempotency_key} if idempotency_key else {})},
        )
        notify.order_changed(
            order, address_changed=True, promised_before=promised_before, occurrence=f"address:{event.pk}"
        )
        refresh_shipping_facts([order.pk])
    return AddressChanged(
        order=order,
        event=event,
        warehouses_before=warehouses_before,
        warehouses_after=warehouses_after,
        promised_before=promised_before,
        promised_after=order.promised_date,
    )
