"""The order timeline's words: one function per kind of entry, as ops read them all day.

Every service that writes an order's timeline calls one of these; nobody
writes the sentence inline. Each function writes its row (``OrderEvent``)
and returns it; the callers hold the order's row lock and the transaction.
An entry that is also a status change moves the order (or the return)
through its ``transition_to`` (the transitions table decides), so the
change and its entry are written together. A few entries are built unsaved
(``save=False``) for callers that insert many in one statement. Entries say
what happened, not what will.

The reasons an order is put on hold for its payment or a credit rule are
words ops read on the timeline too: they are here as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from shipping.models import Shipment, ShipmentStatus

from .models import Address, Channel, Hold, HoldType, Order, OrderDelayNotice, OrderEvent, OrderStatus
from .payments.models import PaymentTransaction
from .returns.models import (
    OrderErrorCase,
    Refund,
    ReturnRequest,
    ReturnResolution,
    ReturnSource,
    ReturnStatus,
    SettlementMethod,
)

if TYPE_CHECKING:
    from inventory.models import Warehouse

    from .payments.credit import Fired
    from .returns.models import ReturnLine

T = PaymentTransaction
PROMISE_SWEEP = "system: promise sweep"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- intake and the order's life ------------------------------------------------
def order_received(order: Order, *, channel: Channel, actor, save: bool = True) -> OrderEvent:
    """A channel's order arrived and was placed (its ``placed`` entry).

    ``save=False`` returns the entry unsaved, for an intake that writes it
    with the order's other rows in one statement.
    """
    event = OrderEvent.build(
        order=order,
        kind=OrderEvent.Kind.PLACED,
        actor=actor,
        message=f"Order placed on {channel.name} as {order.external_id}.",
        data={"channel": channel.code, "external_id": order.external_id, "grand_total": order.grand_total},
    )
    if save:
        event.save()
    return event


# Why a hold was put on, kept in the event's data as ``cause`` (the cockpit counts holds by it): a credit rule
# fired, the payment was refused or failed, an operator (or an API caller) held it, or a sales channel's order did
# not add up (Shopify's totals), or an exchange's replacement waits for the returned goods. In ops' words: the
# cockpit's holds by reason.
HOLD_CAUSES = {
    "credit_check": "Credit rule",
    "payment": "Payment",
    "operator": "Put on hold by an operator",
    "channel": "Sales channel",
    "exchange": "Exchange waiting for its return",
}


# The type of hold each cause puts on when its caller names none (``orders.models.HoldType``): the release
# permission and the cockpit's holds by type follow the type. An operator's hold names its type; one that does not
# (the API, older callers) is the customer's request.
HOLD_CAUSE_TYPES = {
    "credit_check": HoldType.CREDIT_RULE,
    "payment": HoldType.PAYMENT,
    "operator": HoldType.CUSTOMER_REQUEST,
    "channel": HoldType.PAYMENT,  # the channel's totals do not add up: what the customer pays is in question
    "exchange": HoldType.STOCK,  # the replacement waits for the returned goods
}

# The cause an exchange's replacement is held with until the returned goods arrive.
EXCHANGE_HOLD = "exchange"


def held_for_return(order: Order, *, rma_number: str, actor) -> OrderEvent:
    """An exchange's replacement is held until its return's goods arrive: the timeline's hold alone, not the ops
    alert of an operator's or a payment's hold (this one is expected, and receiving the return releases it)."""
    return order_held(
        order,
        reason=f"exchange for return {rma_number}: it ships when the returned goods arrive",
        actor=actor,
        cause=EXCHANGE_HOLD,
    )


def _actor_columns(actor, prefix: str) -> dict:
    user = actor if getattr(actor, "is_authenticated", False) else None
    name = user.get_username() if user is not None else (actor if isinstance(actor, str) and actor else "system")
    return {f"{prefix}_by": user, f"{prefix}_by_name": name}


def order_held(order: Order, *, reason: str, actor, cause: str, hold_type: str = "") -> OrderEvent:
    """The order went on hold, of which type, why, and what put it there (fulfilment stops; its stock stays
    reserved). The hold's row (``Hold``) is written with the entry."""
    if cause not in HOLD_CAUSES:
        raise ValueError(f"Unknown hold cause {cause!r}; one of {', '.join(HOLD_CAUSES)}.")
    hold_type = hold_type or HOLD_CAUSE_TYPES[cause]
    event = order.transition_to(
        OrderStatus.ON_HOLD,
        actor=actor,
        message=f"Put on hold: {reason}",
        data={"reason": reason, "cause": cause, "hold_type": hold_type},
    )
    Hold.objects.create(
        order=order,
        hold_type=hold_type,
        cause=cause,
        reason=reason,
        placed_at=event.created_at,
        **_actor_columns(actor, "placed"),
    )
    return event


def _close_holds(holds, *, note: str, actor, at) -> int:
    return holds.filter(released_at__isnull=True).update(
        released_at=at, release_note=note, **_actor_columns(actor, "released")
    )


def order_released(order: Order, *, to_status: str, note: str, actor) -> OrderEvent:
    """The order came off hold, back to the status it was held from, with the operator's note; its hold's row is
    closed with it."""
    message = f"Released from hold to {OrderStatus(to_status).label.lower()}"
    event = order.transition_to(
        to_status, actor=actor, message=f"{message}: {note}" if note else message, data={"note": note}
    )
    _close_holds(Hold.objects.filter(order=order, shipment__isnull=True), note=note, actor=actor, at=event.created_at)
    return event


def order_cancelled(order: Order, *, reason: str, actor, data: dict | None = None) -> OrderEvent:
    """The order was cancelled before anything shipped, and why (``data``: what the caller adds, e.g. its key).

    Its open holds, on the order or its shipments, close with it."""
    event = order.transition_to(
        OrderStatus.CANCELLED, actor=actor, message=f"Cancelled: {reason}", data={"reason": reason, **(data or {})}
    )
    _close_holds(Hold.objects.filter(order=order), note=f"order cancelled: {reason}", actor=actor, at=event.created_at)
    return event


def _units_of(changes: list[dict], key: str) -> str:
    return ", ".join(f"{change[key]} × {change['sku']}" for change in changes) or "nothing"


def lines_cancelled(
    order: Order,
    *,
    changes: list[dict],
    total_before: Decimal,
    released: int,
    payment: dict,
    reason: str,
    actor,
    data: dict | None = None,
) -> OrderEvent:
    """Some items were cancelled before they shipped: each line's units before → after, the total, and why.

    ``changes``: per line ``sku``, ``before``, ``cancelled``, ``after``; ``payment``: the authorisation
    released (``reduce``) and the refund (``refund``), as amounts.
    """
    cancelled = ", ".join(
        f"{change['cancelled']} × {change['sku']} ({change['before']} → {change['after']})" for change in changes
    )
    money = f"total {total_before:,.2f} → {order.grand_total:,.2f} {order.currency}"
    moves = []
    if Decimal(payment.get("reduce", 0)) > 0:
        moves.append(f"{Decimal(payment['reduce']):,.2f} released from the authorisation")
    if Decimal(payment.get("refund", 0)) > 0:
        moves.append(f"{Decimal(payment['refund']):,.2f} to refund")
    if released:
        moves.append(f"{_plural(released, 'reserved unit')} back on sale")
    tail = f"; {', '.join(moves)}" if moves else ""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.LINES_CANCELLED,
        actor=actor,
        message=f"Items cancelled: {cancelled}; {money}{tail}. Reason: {reason}",
        data={
            "reason": reason,
            "lines": changes,
            "before": _units_of(changes, "before"),
            "after": _units_of(changes, "after"),
            "total_before": total_before,
            "total_after": order.grand_total,
            "released_units": released,
            "payment": payment,
            "status": order.status,
            **(data or {}),
        },
    )


def backorder_cancelled(order: Order, *, actor) -> OrderEvent:
    """The units the order waited for were cancelled: everything left is reserved."""
    return order.transition_to(
        OrderStatus.ALLOCATED,
        actor=actor,
        message="Backordered → Allocated: the items waiting for stock were cancelled; the rest is reserved.",
        data={"cause": "lines_cancelled"},
    )


def lines_edited(
    order: Order,
    *,
    changes: list[dict],
    totals_before: dict,
    promise_before,
    stock: dict,
    payment: dict,
    reason: str,
    actor,
    data: dict | None = None,
) -> OrderEvent:
    """The order's items were edited before they shipped: each line before → after, the total, the promise, the
    stock reserved or released, the payment's move, why and who.

    ``changes``: per line ``sku``, ``before``, ``after`` (0: removed; ``before`` 0: added); ``stock``:
    ``reserved``, ``released``, ``waiting`` units; ``payment``: ``increase``, ``reduce``, ``refund`` amounts.
    """
    edited = ", ".join(
        f"{change['sku']} added ({change['after']})"
        if not change["before"]
        else f"{change['sku']} removed ({change['before']} → 0)"
        if not change["after"]
        else f"{change['sku']} {change['before']} → {change['after']}"
        for change in changes
    )
    edited = edited or "no line changed (totals from the channel)"
    money = f"total {Decimal(totals_before['grand_total']):,.2f} → {order.grand_total:,.2f} {order.currency}"
    was = promise_before.isoformat() if promise_before else "none"
    now = order.promised_date.isoformat() if order.promised_date else "none"
    moves = [f"promised {was} → {now}"] if was != now else []
    if stock.get("reserved"):
        moves.append(f"{_plural(stock['reserved'], 'unit')} reserved")
    if stock.get("released"):
        moves.append(f"{_plural(stock['released'], 'reserved unit')} back on sale")
    if stock.get("waiting"):
        moves.append(f"{_plural(stock['waiting'], 'unit')} waiting for stock")
    for key, words in (("increase", "more to authorise"), ("reduce", "released from the authorisation")):
        if Decimal(payment.get(key, 0)) > 0:
            moves.append(f"{Decimal(payment[key]):,.2f} {words}")
    if Decimal(payment.get("refund", 0)) > 0:
        moves.append(f"{Decimal(payment['refund']):,.2f} to refund")
    tail = f"; {', '.join(moves)}" if moves else ""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.LINES_EDITED,
        actor=actor,
        message=f"Items edited: {edited}; {money}{tail}. Reason: {reason}",
        data={
            "reason": reason,
            "lines": changes,
            "before": _units_of(changes, "before"),
            "after": _units_of(changes, "after"),
            "totals_before": totals_before,
            "total_before": totals_before["grand_total"],
            "total_after": order.grand_total,
            "promised_before": promise_before,
            "promised_after": order.promised_date,
            "stock": stock,
            "payment": payment,
            **(data or {}),
        },
    )


def address_changed(
    order: Order,
    *,
    before: Address,
    after: Address,
    reason: str,
    actor,
    warehouses: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
    promised: tuple = (None, None),
    override: dict | None = None,
    cancelled_shipments: list[str] = (),
    data: dict | None = None,
) -> OrderEvent:
    """The order's ship-to address changed: from what, to what, and why; where its stock is reserved and its
    promised date before → after; a manager's override of an address that does not agree, with what did not."""
    moves = []
    if cancelled_shipments:
        moves.append(f"shipment {', '.join(cancelled_shipments)} (no label yet) cancelled")
    if warehouses[0] != warehouses[1]:
        moves.append(f"re-routed {', '.join(warehouses[0]) or 'nowhere'} → {', '.join(warehouses[1]) or 'nowhere'}")
    was, now = (day.isoformat() if day else "none" for day in promised)
    if was != now:
        moves.append(f"promised {was} → {now}")
    if override:
        moves.append(f"address check overridden ({' '.join(override.values())})")
    tail = f" ({'; '.join(moves)})" if moves else ""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.ADDRESS_CHANGED,
        actor=actor,
        message=f"Ship-to address changed from {before} to {after}{tail}: {reason}",
        data={
            "reason": reason,
            "from_address_id": before.pk,
            "to_address_id": after.pk,
            "warehouses_before": list(warehouses[0]),
            "warehouses_after": list(warehouses[1]),
            "promised_before": promised[0],
            "promised_after": promised[1],
            "override": override or {},
            "cancelled_shipments": list(cancelled_shipments),
            **(data or {}),
        },
    )


def status_link_revoked(order: Order, *, actor) -> OrderEvent:
    """The customer's status page link was revoked; the emails from now on carry a new one."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.STATUS_LINK,
        actor=actor,
        message="Customer's status page link revoked: the link in the emails sent so far no longer opens the page; "
        "later emails carry a new link.",
    )


def channel_update_ignored(order: Order, *, updated_at: str, applied_at: str, actor) -> OrderEvent:
    """A channel's update of the order arrived after a newer one was applied: it was not applied."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        actor=actor,
        message=(
            f"An update made in the channel at {updated_at} arrived after the newer one of {applied_at} was "
            "applied; it was not applied (it would have undone the newer change)."
        ),
        data={"stale_update": updated_at, "applied_update": applied_at},
    )


def note_added(order: Order, *, message: str, actor) -> OrderEvent:
    """An operator's note, in their words."""
    return OrderEvent.record(order=order, kind=OrderEvent.Kind.NOTE, actor=actor, message=message)


def po_number_set(order: Order, *, before: str, actor) -> OrderEvent:
    """The customer's reference (PO number) set or changed on the order, from what to what."""
    if not order.po_number:
        message = f"Customer reference (PO) {before} removed"
    elif before:
        message = f"Customer reference (PO) changed from {before} to {order.po_number}"
    else:
        message = f"Customer reference (PO) set to {order.po_number}"
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.NOTE,
        actor=actor,
        message=message,
        data={"po_number": order.po_number, "before": before},
    )


def promise_missed(order: Order, *, at: dt.datetime, save: bool = True) -> OrderEvent:
    """The promised delivery date passed before the order shipped (the sweep inserts many unsaved)."""
    event = OrderEvent.build(
        order=order,
        kind=OrderEvent.Kind.PROMISE_MISSED,
        actor=PROMISE_SWEEP,
        message=f"Promised delivery date {order.promised_date:%Y-%m-%d} has passed and the order has not shipped.",
        data={"promised_date": order.promised_date.isoformat()},
    )
    event.created_at = at
    if save:
        event.save()
    return event


# --- delay notices: the customer told before the promise is missed ---------------------
DELAY_SWEEP = "system: delay sweep"


def _delay_data(notice: OrderDelayNotice) -> dict:
    return {
        "notice_id": notice.pk,
        "cause": notice.cause,
        "promised_date": notice.promised_date.isoformat(),
        "new_estimate": notice.new_estimate.isoformat() if notice.new_estimate else None,
    }


def delay_notice_sent(order: Order, *, notice: OrderDelayNotice, actor, through: str = "") -> OrderEvent:
    """The customer was emailed that the order will arrive after its promised date, and when it now should
    (``through`` names the email that told it, when it was not the delay email)."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.DELAY_NOTICE,
        actor=actor,
        message=f"Customer told the order will be late: promised {notice.promised_date:%a %d %b}, "
        f"now expected {notice.new_estimate:%a %d %b} ({notice.get_cause_display().lower()}"
        f"{': ' + notice.detail if notice.detail else ''}){' in ' + through if through else ''}.",
        data={**_delay_data(notice), **({"through": through} if through else {})},
    )


def delay_notice_for_review(order: Order, *, notice: OrderDelayNotice, actor) -> OrderEvent:
    """The order will miss its promise but no new date could be worked out: nobody was emailed."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.DELAY_NOTICE,
        actor=actor,
        message=f"Will miss the promised {notice.promised_date:%a %d %b} ({notice.get_cause_display().lower()}"
        f"{': ' + notice.detail if notice.detail else ''}); no new date could be worked out, so the customer "
        "was not emailed: to review.",
        data=_delay_data(notice),
    )


def delay_notice_suppressed(order: Order, *, notice: OrderDelayNotice, actor) -> OrderEvent:
    """An operator chose that the customer gets no delay email for this estimate, and why."""
    estimate = f"the estimate {notice.new_estimate:%a %d %b}" if notice.new_estimate else "the undated delay"
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.DELAY_NOTICE,
        actor=actor,
        message=f"Delay email suppressed for {estimate}: {notice.suppressed_reason}",
        data={**_delay_data(notice), "suppressed": True, "reason": notice.suppressed_reason},
    )


# --- routing, shipping, delivery ---------------------------------------------------
def order_routed(order: Order, *, to_status: str, reason: str, data: dict, actor, save: bool = True) -> OrderEvent:
    """Routing moved the order (allocated or backordered); ``reason`` is the routing's own explanation.

    ``save=False`` moves it in memory only and returns the entry unsaved, for
    a batch that writes its orders and entries in bulk.
    """
    if save:
        return order.transition_to(to_status, actor=actor, message=_sentence(reason), data=data)
    return order.apply_transition(to_status, actor=actor, message=_sentence(reason), data=data)


def stock_allocated(order: Order, *, reason: str, data: dict, actor, save: bool = True) -> OrderEvent:
    """Routing reserved more stock for an order whose status stays (partially shipped)."""
    event = OrderEvent.build(
        order=order, kind=OrderEvent.Kind.ALLOCATION, actor=actor, message=_sentence(reason), data=data
    )
    if save:
        event.save()
    return event


def units_shipped(
    order: Order, *, to_status: str, units: int, shipped: dict[str, int], reference: str, actor
) -> OrderEvent:
    """``units`` left a warehouse (``shipped`` maps SKU to units); the order moves on when its status changes."""
    message = f"Shipped {_plural(units, 'unit')}" + (f" ({reference})" if reference else "")
    data = {"shipped": shipped, "reference": reference}
    if order.status != to_status:
        return order.transition_to(to_status, actor=actor, message=message, data=data)
    return OrderEvent.record(order=order, kind=OrderEvent.Kind.NOTE, actor=actor, message=message, data=data)


def order_delivered(order: Order, *, actor, shipment: Shipment | None = None) -> OrderEvent:
    """The order was delivered: marked by hand, or the last of its shipments arrived (``shipment``)."""
    if shipment is None:
        return order.transition_to(OrderStatus.DELIVERED, actor=actor)
    return order.transition_to(
        OrderStatus.DELIVERED,
        actor=actor,
        message="Delivered: every shipment has arrived",
        data={"shipment": shipment.number},
    )


def shipment_created(
    order: Order, *, shipment: Shipment, warehouse: Warehouse, units: int, parcels: int, choice, actor
) -> OrderEvent:
    """A shipment was made from reserved stock, with the carrier service chosen for it and why."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=(
            f"Shipment {shipment} from {warehouse.code}: {_plural(units, 'unit')} in "
            f"{_plural(parcels, 'parcel')}; {choice.reason}"
        ),
        data={"shipment": shipment.number, **choice.as_data()},
    )


def carrier_changed(order: Order, *, shipment: Shipment, before: str, option, reason: str, actor) -> OrderEvent:
    """An operator put a shipment on another carrier service, priced and dated then, and why."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=f"Shipment {shipment}: carrier changed from {before} to {option.label} ({option.price}, "
        f"arrives {option.eta:%a %d %b}): {reason}",
        data={"shipment": shipment.number, "chosen": option.as_dict(), "reason": reason},
    )


# --- shipment changes before labels are bought, and shipment holds -----------------------------------------
def _carrier_words(choice) -> str:
    """A touched shipment's carrier choice, made again: the service chosen and the choice's own reason."""
    return choice.reason


def _estimate_words(order: Order, estimated: dt.date | None) -> str:
    if estimated is None:
        return "no delivery date can be worked out"
    words = f"arrives by {estimated:%a %d %b}"
    if order.promised_date is None:
        return words
    if estimated > order.promised_date:
        return f"{words}, after the {order.promised_date:%a %d %b} promised"
    return f"{words}, within the {order.promised_date:%a %d %b} promised"


def shipment_changed(
    order: Order,
    *,
    change: str,
    summary: str,
    shipments: list[tuple[Shipment, object]],
    stock_moved: list[dict],
    estimated: dt.date | None,
    reason: str,
    actor,
    data: dict | None = None,
) -> OrderEvent:
    """Shipments were split, merged or moved before their labels were bought: what moved, the stock released at one
    warehouse and reserved at another, each touched shipment's carrier chosen again and why, and the order's new
    delivery estimate against its promise.

    ``shipments``: each touched shipment with its ``shipping.services.CarrierChoice``; ``stock_moved``: per SKU
    ``sku``, ``units``, ``from``, ``to`` (warehouse codes).
    """
    carriers = "; ".join(f"{shipment}: {_carrier_words(choice)}" for shipment, choice in shipments)
    moved = ", ".join(f"{m['units']} × {m['sku']} {m['from']} → {m['to']}" for m in stock_moved)
    stock = f" Stock released and reserved: {moved}." if moved else ""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=(
            f"{summary}.{stock} Carrier chosen again — {carriers}. The order {_estimate_words(order, estimated)}. "
            f"Reason: {reason}"
        ),
        data={
            "change": change,
            "reason": reason,
            "stock_moved": stock_moved,
            "estimated_delivery": estimated,
            "shipments": {
                shipment.number: {"warehouse": shipment.warehouse.code, **choice.as_data(), "reason": choice.reason}
                for shipment, choice in shipments
            },
            **(data or {}),
        },
    )


def shipment_held(order: Order, *, shipment: Shipment, hold: Hold, actor) -> OrderEvent:
    """One shipment went on hold (no label, no shipping for it); the rest of the order carries on."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=f"Shipment {shipment} put on hold ({hold.get_hold_type_display().lower()}): {hold.reason}",
        data={"shipment": shipment.number, "hold_type": hold.hold_type, "reason": hold.reason, "hold": hold.pk},
    )


def shipment_released(order: Order, *, shipment: Shipment, hold: Hold, note: str, actor) -> OrderEvent:
    """A shipment's hold came off: it may get its label and ship again."""
    message = f"Shipment {shipment} released from its {hold.get_hold_type_display().lower()} hold"
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=f"{message}: {note}" if note else message,
        data={"shipment": shipment.number, "hold_type": hold.hold_type, "note": note, "hold": hold.pk},
    )


def partner_cancel_requested_for_hold(order: Order, *, shipment: Shipment, partner: str, actor) -> OrderEvent:
    """The shipment (or its order) went on hold while a 3PL held its release: the 3PL was asked to cancel it."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=(
            f"Asked {partner} to cancel the release of shipment {shipment}, which is on hold: if {partner} has "
            "shipped it already, its confirmation is recorded and flagged for ops"
        ),
        data={"shipment": shipment.number, "partner": partner, "cancel_requested": True},
    )


def shipped_while_held(order: Order, *, shipment: Shipment, partner: str, holds: list[Hold], actor) -> OrderEvent:
    """A 3PL confirmed a shipment shipped while it (or its order) was on hold: the goods have left; ops must act."""
    kinds = ", ".join(sorted({hold.get_hold_type_display().lower() for hold in holds}))
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=(
            f"{partner} shipped shipment {shipment} while it was on hold ({kinds}): the goods have left, so it is "
            "recorded as shipped; check with the customer and the 3PL"
        ),
        data={"shipment": shipment.number, "partner": partner, "holds": [hold.pk for hold in holds]},
    )


def open_shipment_hold(order: Order, *, shipment: Shipment, hold_type: str, reason: str, actor) -> Hold:
    """Write a shipment's hold row and its timeline entry (the caller holds the order's and the shipment's locks)."""
    hold = Hold.objects.create(
        order=order,
        shipment=shipment,
        hold_type=hold_type,
        cause="operator",
        reason=reason,
        **_actor_columns(actor, "placed"),
    )
    shipment_held(order, shipment=shipment, hold=hold, actor=actor)
    return hold


def close_shipment_hold(order: Order, *, shipment: Shipment, hold: Hold, note: str, actor) -> OrderEvent:
    """Close a shipment's open hold and write the entry (the caller holds the locks)."""
    event = shipment_released(order, shipment=shipment, hold=hold, note=note, actor=actor)
    _close_holds(Hold.objects.filter(pk=hold.pk), note=note, actor=actor, at=event.created_at)
    return event


def shipping_cost_at_risk(order: Order, *, shipments: list[Shipment], check, holds_label: bool, actor) -> OrderEvent:
    """The margin guard flagged the order's shipping cost, with the figures; and whether labels wait for approval."""
    numbers = ", ".join(str(shipment) for shipment in shipments)
    then = (
        "its labels wait for an operations manager's approval"
        if holds_label
        else "an operations manager should review it"
    )
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=f"Shipping cost at risk on {numbers}: shipping {'; '.join(check.reasons)}. {_sentence(then)}.",
        data={"shipments": [shipment.number for shipment in shipments], **check.as_data(), "holds_label": holds_label},
    )


def shipping_cost_within_limits(order: Order, *, shipments: list[Shipment], check, actor) -> OrderEvent:
    """A change of carrier brought the order's shipping cost back within the margin guard's limits."""
    numbers = ", ".join(str(shipment) for shipment in shipments)
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=f"Shipping cost back within limits on {numbers}: shipping now costs {check.cost}.",
        data={"shipments": [shipment.number for shipment in shipments], **check.as_data()},
    )


def shipping_cost_approved(order: Order, *, shipment: Shipment, actor) -> OrderEvent:
    """An operations manager approved a shipping cost at risk: the figures they approved."""
    figures = shipment.cost_risk_figures
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=(
            f"Shipment {shipment}: shipping cost of {figures.get('cost')} approved "
            f"(order goods {figures.get('order_value')}, customer paid {figures.get('paid')} for shipping)."
        ),
        data={"shipment": shipment.number, **figures},
    )


def label_bought(order: Order, *, shipment: Shipment, tracking_numbers: list[str], actor) -> OrderEvent:
    """A shipment's labels were bought from its carrier: their tracking numbers."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=f"Shipment {shipment}: label bought from {shipment.service}, tracking {', '.join(tracking_numbers)}",
        data={"shipment": shipment.number, "tracking_numbers": tracking_numbers},
    )


def label_voided(order: Order, *, shipment: Shipment, voided: list[str], reason: str, actor) -> OrderEvent:
    """A shipment's labels were voided with the carrier, and why."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=f"Shipment {shipment}: label {', '.join(voided)} voided: {reason}",
        data={"shipment": shipment.number, "voided": voided, "reason": reason},
    )


def shipment_cancelled(order: Order, *, shipment: Shipment, voided: list[str], actor) -> OrderEvent:
    """A shipment was cancelled (its labels voided); its open hold, if any, closes with it.

    The hold's row says so, and so does the entry, so a hold never stays open on a shipment that no longer ships.
    """
    message = f"Shipment {shipment} cancelled" + (f"; label {', '.join(voided)} voided" if voided else "")
    held = list(Hold.objects.filter(shipment_id=shipment.pk, released_at__isnull=True).order_by("pk"))
    if held:
        kinds = ", ".join(hold.get_hold_type_display().lower() for hold in held)
        message += f"; its {kinds} hold closed with it"
    event = OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.SHIPMENT,
        actor=actor,
        message=message,
        data={
            "shipment": shipment.number,
            "voided": voided,
            **({"holds_closed": [h.pk for h in held]} if held else {}),
        },
    )
    if held:
        _close_holds(
            Hold.objects.filter(pk__in=[hold.pk for hold in held]),
            note=f"shipment {shipment} cancelled",
            actor=actor,
            at=event.created_at,
        )
    return event


def tracking_recorded(
    order: Order,
    *,
    shipment: Shipment,
    tracking_number: str,
    status: str,
    location: str,
    description: str,
    actor,
) -> OrderEvent:
    """A carrier scan of one parcel: where it is and what the carrier said."""
    where = f" at {location}" if location else ""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.TRACKING,
        actor=actor,
        message=f"{tracking_number}: {ShipmentStatus(status).label.lower()}{where}"
        + (f" — {description}" if description else ""),
        data={"shipment": shipment.number, "tracking_number": tracking_number, "status": status},
    )


# --- payments ----------------------------------------------------------------------
VERBS = {
    T.Kind.AUTHORISE: "Authorised",
    T.Kind.CAPTURE: "Captured",
    T.Kind.VOID: "Voided the authorisation of",
    T.Kind.REDUCE: "Released from the authorisation",
    T.Kind.INCREMENT: "Authorised a further",
    T.Kind.REFUND: "Refunded",
    T.Kind.SETTLE: "Payment received:",
}
# The reason on a void of an authorisation that came back after its order was cancelled.
AUTHORISED_AFTER_CANCEL = "authorised after the order was cancelled"


def _payment(txn: PaymentTransaction, *, actor, message: str) -> OrderEvent:
    kind = OrderEvent.Kind.REFUND if txn.kind == T.Kind.REFUND else OrderEvent.Kind.PAYMENT
    data = {
        "transaction": txn.pk,
        "kind": txn.kind,
        "status": txn.status,
        "amount": txn.amount,
        "currency": txn.currency,
        "idempotency_key": txn.idempotency_key,
        "gateway_reference": txn.gateway_reference,
    }
    return OrderEvent.record(order=txn.order, kind=kind, actor=actor, message=message, data=data)


def _money(txn: PaymentTransaction) -> str:
    what = f" for shipment {txn.shipment.number}" if txn.shipment_id else ""
    return f"{txn.amount:,.2f} {txn.currency}{what}"


def payment_succeeded(txn: PaymentTransaction, *, actor, note: str = "") -> OrderEvent:
    """Money was authorised, captured, voided, refunded or received; ``note`` is what the gateway added."""
    message = f"{VERBS[txn.kind]} {_money(txn)} ({txn.gateway}, ref {txn.gateway_reference or '—'})"
    message += f": {txn.reason}" if txn.reason else ""
    message += f"; {note}" if note else ""
    return _payment(txn, actor=actor, message=message)


def payment_declined(txn: PaymentTransaction, *, actor) -> OrderEvent:
    """The gateway said no to a call (final for its idempotency key), in its words."""
    return _payment(
        txn, actor=actor, message=f"{txn.get_kind_display()} of {_money(txn)} declined by {txn.gateway}: {txn.error}"
    )


def payment_failed(txn: PaymentTransaction, *, actor) -> OrderEvent:
    """A gateway call timed out or errored (its outcome unknown: asked again with the same key)."""
    return _payment(
        txn,
        actor=actor,
        message=f"{txn.get_kind_display()} of {_money(txn)} failed (attempt {txn.attempts}): {txn.error}",
    )


def capture_not_attempted(order: Order, *, refusal: Exception, actor) -> OrderEvent:
    """A shipment's capture was not even tried (an unknown gateway, a reused key); the shipment stands."""
    return OrderEvent.record(
        order=order, kind=OrderEvent.Kind.PAYMENT, actor=actor, message=f"Capture not attempted: {refusal}"
    )


def payment_hold_reason(txn: PaymentTransaction) -> str:
    """Why an order goes on hold for its authorisation: declined, or the gateway failed every try."""
    if txn.status == T.Status.DECLINED:
        return f"Payment declined by {txn.gateway}: {txn.error}"
    return f"Payment gateway {txn.gateway} failed {txn.attempts} times: {txn.error}"


def payment_refused_reason(refusal: Exception) -> str:
    """Why an order goes on hold when its payment cannot even be tried (an unknown gateway)."""
    return f"Payment: {refusal}"


def credit_hold_reason(fired: list[Fired]) -> str:
    """Why a credit rule holds an order: the first rule that fired, and what it saw."""
    first = fired[0]
    return f"Credit check: rule {first.rule.name!r}: {first.detail}"


def credit_check_passed(order: Order, *, actor) -> OrderEvent:
    """No credit rule fired for an order paid through a gateway."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.CREDIT_CHECK,
        actor=actor,
        message="Credit check passed",
        data={"result": "passed"},
    )


def credit_check_failed(order: Order, *, fired: list[Fired], actor) -> OrderEvent:
    """Credit rules fired for an order (it goes on hold for review): the first, and how many more."""
    more = f" (and {len(fired) - 1} more)" if len(fired) > 1 else ""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.CREDIT_CHECK,
        actor=actor,
        message=credit_hold_reason(fired) + more,
        data={"result": "held", "rules": [f.as_data() for f in fired]},
    )


# --- returns -------------------------------------------------------------------------
def _units(lines: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{quantity} × {sku}" for sku, quantity in lines) or "nothing"


def return_opened(rma: ReturnRequest, *, units: list[tuple[str, int]], lines: dict[int, int], actor) -> OrderEvent:
    """A return was opened for shipped units (SKU and units), with the reason, by whom (an associate or the
    customer on the order status page), what the customer asked for instead of a refund, and their note."""
    note = f" Customer says: {rma.customer_note}" if rma.customer_note else ""
    by = " by the customer on the order status page" if rma.source == ReturnSource.CUSTOMER else ""
    wants = "" if rma.resolution == ReturnResolution.REFUND else f"; wants {rma.get_resolution_display().lower()}"
    return OrderEvent.record(
        order=rma.order,
        kind=OrderEvent.Kind.RETURN,
        actor=actor,
        message=f"Return {rma} opened{by}: {_units(units)} ({rma.get_reason_display().lower()}{wants}).{note}",
        data={
            "rma": rma.number,
            "to": ReturnStatus.REQUESTED,
            "reason": rma.reason,
            "lines": lines,
            "source": rma.source,
            "resolution": rma.resolution,
        },
    )


def exchange_placed(
    rma: ReturnRequest, *, replacement: Order, units: list[tuple[str, int]], charge: Decimal, actor
) -> OrderEvent:
    """On the returned order: the exchange's replacement order (SKU and units) and what it charges."""
    owed = f"; {charge} {replacement.currency} price difference charged on it" if charge > 0 else ", at no charge"
    return OrderEvent.record(
        order=rma.order,
        kind=OrderEvent.Kind.RETURN,
        actor=actor,
        message=f"Exchange for return {rma}: replacement {replacement} placed for {_units(units)}{owed}.",
        data={"rma": rma.number, "replacement_order": replacement.number, "charge": charge},
    )


def replacement_for_exchange(replacement: Order, *, rma: ReturnRequest, actor) -> OrderEvent:
    """On the replacement order: which return it replaces goods for."""
    return OrderEvent.record(
        order=replacement,
        kind=OrderEvent.Kind.RETURN,
        actor=actor,
        message=f"Replacement for return {rma} of {rma.order} (exchange).",
        data={"rma": rma.number, "replaces": rma.order.number},
    )


def replacement_still_held(
    replacement: Order, *, rma: ReturnRequest, missing: list[tuple[str, int]], actor
) -> OrderEvent:
    """On the replacement order: its return arrived short of exchanged units, so it stays on hold (ops release it
    by hand once they have settled the missing units with the customer)."""
    return OrderEvent.record(
        order=replacement,
        kind=OrderEvent.Kind.RETURN,
        actor=actor,
        message=(
            f"Still on hold: return {rma} arrived without {_units(missing)} exchanged for this order. "
            "Release it by hand once the missing units are settled with the customer."
        ),
        data={"rma": rma.number, "missing": dict(missing)},
    )


def return_waits_for_warehouse(rma: ReturnRequest, *, actor) -> OrderEvent:
    """A return the policy would authorise at once waits: nothing says which warehouse shipped it."""
    return OrderEvent.record(
        order=rma.order,
        kind=OrderEvent.Kind.RETURN,
        actor=actor,
        message=f"Return {rma} waits for an associate: nothing says which warehouse shipped it, so choose "
        "where the goods come back to when authorising.",
        data={"rma": rma.number},
    )


def return_authorised(rma: ReturnRequest, *, warehouse: Warehouse, how: str, actor) -> OrderEvent:
    """A return was authorised (``how``: by whom or what, when not the actor); its label is emailed."""
    return rma.transition_to(
        ReturnStatus.AUTHORISED,
        actor=actor,
        message=f"Return {rma} authorised{' ' + how if how else ''}: back to {warehouse.code}; return label emailed.",
        data={"warehouse": warehouse.code},
    )


def return_rejected(rma: ReturnRequest, *, reason: str, actor) -> OrderEvent:
    """A return was rejected before it arrived, and why."""
    return rma.transition_to(
        ReturnStatus.REJECTED, actor=actor, message=f"Return {rma} rejected: {reason}", data={"reason": reason}
    )


def return_received(
    rma: ReturnRequest, *, warehouse: Warehouse, received: list[tuple[str, int]], missing: int, actor
) -> OrderEvent:
    """A return's goods arrived at a warehouse (SKU and units), and how many units did not."""
    short = f"; {_plural(missing, 'unit')} did not arrive" if missing else ""
    return rma.transition_to(
        ReturnStatus.RECEIVED,
        actor=actor,
        message=f"Return {rma} received at {warehouse.code}: {_units(received)}{short}.",
        data={"warehouse": warehouse.code, "received": dict(received)},
    )


def return_inspected(
    rma: ReturnRequest, *, warehouse: Warehouse, lines: list[ReturnLine], write_off_cost: Decimal, actor
) -> OrderEvent:
    """A return was inspected: per line, the units restocked and those written off (reason and cost)."""
    parts = []
    for line in lines:
        if line.quantity_restocked:
            parts.append(f"{line.quantity_restocked} × {line.sku} restocked")
        if line.quantity_written_off:
            parts.append(
                f"{line.quantity_written_off} × {line.sku} written off "
                f"({line.write_off_reason}, cost {line.write_off_cost})"
            )
    return rma.transition_to(
        ReturnStatus.INSPECTED,
        actor=actor,
        message=f"Return {rma} inspected at {warehouse.code}: {'; '.join(parts) or 'nothing received'}.",
        data={
            "warehouse": warehouse.code,
            "restocked": {line.sku: line.quantity_restocked for line in lines if line.quantity_restocked},
            "written_off": {line.sku: line.quantity_written_off for line in lines if line.quantity_written_off},
            "write_off_cost": write_off_cost,
        },
    )


def return_refunded(rma: ReturnRequest, *, refund: Refund, actor) -> OrderEvent:
    """A return's refund was confirmed: the return is refunded (the money is settled next)."""
    return rma.transition_to(
        ReturnStatus.REFUNDED,
        actor=actor,
        message=f"Return {rma} refunded: {refund.amount} {refund.currency}.",
        data={"refund": refund.pk, "amount": refund.amount},
    )


def return_closed(rma: ReturnRequest, *, note: str, actor) -> OrderEvent:
    """A return was closed; without a refund, the note says why."""
    message = f"Return {rma} closed" + (f": {note}" if note else ".")
    return rma.transition_to(ReturnStatus.CLOSED, actor=actor, message=message, data={"note": note})


# --- refunds -------------------------------------------------------------------------
def refund_confirmed(refund: Refund, *, quote, actor) -> OrderEvent:
    """A refund was confirmed: the amount for what (return or order error) and how it adds up."""
    partial = f" (partial: {quote.amount} allowed)" if refund.amount < quote.amount else ""
    return OrderEvent.record(
        order=refund.order,
        kind=OrderEvent.Kind.REFUND,
        actor=actor,
        message=f"Refund of {refund.amount} {refund.currency} for {refund.cause} confirmed{partial}: goods "
        f"{quote.goods}, discount −{quote.discount}, tax {quote.tax}, restocking fee −{quote.fee}, "
        f"shipping {quote.shipping}"
        + (f", exchange −{quote.exchange} (the replacement's share)" if quote.exchange else "")
        + ".",
        data={"refund": refund.pk, "reference": refund.cause, "amount": refund.amount, "breakdown": refund.breakdown},
    )


def refund_settled(refund: Refund, *, actor, how: str) -> OrderEvent:
    """A refund was paid back: through the gateway (``how`` is what it said) or by hand (how and its reference)."""
    return OrderEvent.record(
        order=refund.order,
        kind=OrderEvent.Kind.REFUND,
        actor=actor,
        message=f"Refund of {refund.amount} {refund.currency} for {refund.cause} settled: {how}",
        data={
            "refund": refund.pk,
            "status": Refund.Status.SETTLED,
            "rma": refund.rma.number if refund.rma_id else None,
            "method": refund.settlement_method,
            "reference": refund.settlement_reference,
        },
    )


def refund_settled_by_hand(refund: Refund, *, actor, note: str) -> OrderEvent:
    """Someone recorded that a refund was paid back outside the gateway: how, its reference, their note."""
    how = f"paid back by {refund.get_settlement_method_display().lower()}, reference {refund.settlement_reference}"
    return refund_settled(refund, actor=actor, how=how + (f" ({note})" if note else "") + ".")


def paid_back_note(*, method: str, reference: str, note: str) -> str:
    """The note a refund paid back outside the gateway keeps: how, its reference, and the operator's note."""
    how = f"Paid back by {SettlementMethod(method).label.lower()}, reference {reference}."
    return f"{how} {note}" if note else how


def refund_not_settled(refund: Refund, *, actor) -> OrderEvent:
    """A refund is still to settle, or failed: what the gateway (or the lack of one) said."""
    return OrderEvent.record(
        order=refund.order,
        kind=OrderEvent.Kind.REFUND,
        actor=actor,
        message=f"Refund of {refund.amount} {refund.currency} {refund.get_status_display().lower()}: "
        f"{refund.settle_note}",
        data={"refund": refund.pk, "status": refund.status},
    )


def refund_settle_note(order: Order, *, txn: PaymentTransaction | None = None, refusal: Exception | None = None) -> str:
    """What settling a refund through the order's gateway came to, for the refund's note and its timeline.

    No ``txn`` and no ``refusal``: the order has no gateway to settle through.
    """
    gateway = order.payment_gateway
    if refusal is not None:
        return str(refusal)
    if txn is None:
        return (
            "No payment gateway on the order: pay it back where the customer paid, then mark it settled "
            "(Mark settled, on the refund)."
        )
    if txn.status == T.Status.SUCCEEDED:
        return f"Refunded through {gateway}."
    if txn.status == T.Status.DECLINED:
        return f"{gateway} declined the refund."
    return (
        f"{gateway} has not confirmed the refund yet ({txn.status}); it is retried in the background. "
        "Settle again to check."
    )


# --- order errors ----------------------------------------------------------------------
def error_case_opened(case: OrderErrorCase, *, actor) -> OrderEvent:
    """An order error was opened: its kind, root cause, shipment and description."""
    where = f" (shipment {case.shipment})" if case.shipment_id else ""
    return OrderEvent.record(
        order=case.order,
        kind=OrderEvent.Kind.ORDER_ERROR,
        actor=actor,
        message=f"Order error {case} opened{where}: {case.get_kind_display().lower()}, root cause "
        f"{case.get_root_cause_display().lower()}." + (f" {case.description}" if case.description else ""),
        data={"case": case.pk, "kind": case.kind, "root_cause": case.root_cause},
    )


def error_case_resolved(case: OrderErrorCase, *, refund: Refund | None, actor) -> OrderEvent:
    """An order error was put right: by a reship, a refund, or both."""
    parts = []
    if case.reship_order_id:
        parts.append(f"reship {case.reship_order}")
    if refund is not None:
        parts.append(f"refund {refund.amount} {refund.currency}")
    return OrderEvent.record(
        order=case.order,
        kind=OrderEvent.Kind.ORDER_ERROR,
        actor=actor,
        message=f"Order error {case} resolved: {' and '.join(parts)}.",
        data={
            "case": case.pk,
            "resolution": case.resolution,
            "reship_order": case.reship_order.number if case.reship_order_id else None,
            "refund": refund.pk if refund else None,
        },
    )


def replacement_placed(reship: Order, *, original: Order, case: OrderErrorCase, actor) -> OrderEvent:
    """On the replacement order: what it replaces, and that it is at no charge."""
    return OrderEvent.record(
        order=reship,
        kind=OrderEvent.Kind.ORDER_ERROR,
        actor=actor,
        message=f"Replacement for {original} (order error {case}), at no charge.",
        data={"case": case.pk, "replaces": original.number},
    )


def reship_placed(
    order: Order, *, reship: Order, case: OrderErrorCase, units: list[tuple[str, int]], actor
) -> OrderEvent:
    """On the order put right: the reship order placed for it (SKU and units)."""
    return OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.ORDER_ERROR,
        actor=actor,
        message=f"Reship {reship} placed for order error {case}: "
        + ", ".join(f"{quantity} × {sku}" for sku, quantity in units)
        + ".",
        data={"case": case.pk, "reship_order": reship.number},
    )
