"""Routing orders to warehouses, filling backorders, shipping and delivery.

The order workflow strings the inventory services together here: the order
row is locked first, then inventory locks stock levels in key order.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from inventory import services as inventory
from inventory.db import bulk_insert, bulk_set
from inventory.exceptions import InventoryError, StockChanged
from oms_core import wakeups
from oms_core.sql import any_of, columns, from_row
from shipping.landed_cost import LandedCostRouting, default_target

from .. import events
from ..exceptions import OrderError
from ..models import Address, Order, OrderEvent, OrderLine, OrderStatus
from ..partners import outbox as partners_outbox
from ..payments import services as payments
from ..returns.models import ReasonRule, ReturnPolicy, ReturnRequest, ReturnStatus
from . import business, notify, payment
from ._common import lock_order, task_named
from .shipping_facts import refresh_shipping_facts

logger = logging.getLogger(__name__)
ALLOCATABLE = (OrderStatus.RECEIVED, OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_SHIPPED)


# Plans made without stock locks that lose a race are made again; after this
# many tries the last one locks the stock first, which always succeeds.
OPTIMISTIC_ATTEMPTS = 4


def allocate_order(*, order_id: int, actor) -> Order:
    """Reserve stock for everything not yet reserved, from the warehouse(s) of least landed cost by its date.

    The order becomes allocated when every unit is reserved, backordered
    otherwise; the routing decision and its reason go on the timeline.
    Raises OrderError when the order's status does not allow allocation.
    """
    return _allocate([order_id], actor=actor, strict=True)[0]


def allocate_orders(*, order_ids: list[int], actor) -> list[Order]:
    """Allocate many orders in one transaction, oldest first, with bulk writes.

    The same rules and timeline as ``allocate_order``; orders whose status no
    longer allows allocation (held, cancelled, already allocated) are skipped.
    Returns the orders that were considered.
    """
    return _allocate(order_ids, actor=actor, strict=False)


def allocate_locked_order(*, order_id: int, actor) -> Order:
    """``allocate_order`` inside the caller's transaction, holding the order's lock (and any order locked before it).

    The stock is locked before it is planned (no optimistic retry: that
    needs a transaction of its own), so the reservation always succeeds as
    planned: what no warehouse has is backordered. An exchange reserves its
    replacement with the return this way.
    """
    return _allocate_once([order_id], actor=actor, strict=True, optimistic=False)[0]


def route_new_order(*, order_id: int, actor, batch_size: int = 100) -> Order | None:
    """Route a newly placed (or released) order, and with it the oldest others still waiting, as one batch.

    Under load many orders wait at once; one batch routes them far faster
    than one transaction each (``allocate_orders``), and their own tasks then
    find nothing left to do. Returns the order, or None when its status no
    longer allows routing (held, cancelled, routed by another batch).
    """
    waiting = list(
        Order.objects.filter(status=OrderStatus.RECEIVED)
        .exclude(pk=order_id)
        .order_by("placed_at", "pk")
        .values_list("pk", flat=True)[: batch_size - 1]
    )
    # the others are credit-checked first (their own tasks authorise those with a gateway)
    waiting = payment.ready_to_route(waiting, authorise=False, actor=actor)
    routed = allocate_orders(order_ids=[order_id, *waiting], actor=actor)
    return next((order for order in routed if order.pk == order_id), None)


# The wake-up flag of the routing drain (oms_core.wakeups), and its task (by name: the tasks import these services).
ROUTING = "orders:route"
ROUTING_TASK = "orders.tasks.route_received_orders"
# Batches one woken drain routes before it hands the queue to other tasks (and wakes itself again).
DRAIN_BATCHES = 50


def route_received_orders(*, actor, batch_size: int = 100) -> int:
    """The woken drain: route every received order without a payment gateway, oldest first, in batches.

    Placing such an order wakes this drain instead of queueing a task of its
    own (``wake_routing``); orders with a gateway keep their own task, which
    authorises the payment first. Each one is credit-checked first
    (``ready_to_route``). Returns how many orders left ``received``.
    """
    stuck: set[int] = set()  # still received after their batch (held back): not taken again
    routed = 0
    for _ in range(DRAIN_BATCHES):
        batch = list(
            Order.objects.filter(status=OrderStatus.RECEIVED, payment_gateway="")
            .exclude(pk__in=stuck)
            .order_by("placed_at", "pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not batch:
            return routed
        orders = allocate_orders(order_ids=payment.ready_to_route(batch, authorise=False, actor=actor), actor=actor)
        moved = {order.pk for order in orders if order.status != OrderStatus.RECEIVED}
        routed += len(moved)
        left = [pk for pk in batch if pk not in moved]
        if left:  # one read for the batch's leftovers, not one per order
            stuck.update(Order.objects.filter(pk__in=left, status=OrderStatus.RECEIVED).values_list("pk", flat=True))
        if len(batch) < batch_size:
            return routed  # that was all of them
    wake_routing()  # more may be waiting: another drain goes on after the tasks queued meanwhile
    return routed


def wake_routing() -> None:
    """Have every received order without a gateway routed soon: wake the drain (call after commit)."""
    wakeups.wake(task_named(ROUTING_TASK), ROUTING)


def _allocate(order_ids: list[int], *, actor, strict: bool) -> list[Order]:
    """Plan without holding stock locks, write the orders' side, then reserve the stock last.

    Hot SKUs are then locked only for the reservation and COMMIT, not for the
    whole batch; a plan that lost its stock to another worker is retried.
    """
    for attempt in range(OPTIMISTIC_ATTEMPTS + 1):
        optimistic = attempt < OPTIMISTIC_ATTEMPTS
        try:
            with transaction.atomic(durable=True):  # the outermost one: its stock locks last only to its COMMIT
                return _allocate_once(order_ids, actor=actor, strict=strict, optimistic=optimistic)
        except StockChanged:
            logger.info("Stock changed while allocating %s orders; planning again", len(order_ids))
    raise AssertionError("unreachable: the last attempt locks the stock first")  # pragma: no cover


def _allocate_once(order_ids: list[int], *, actor, strict: bool, optimistic: bool) -> list[Order]:
    orders = _lock_orders(order_ids)
    if strict:
        if len(orders) != len(set(order_ids)):
            raise OrderError(f"No order with id {sorted(set(order_ids) - {o.pk for o in orders})}.")
        for order in orders:
            if order.status not in ALLOCATABLE:
                raise OrderError(
                    f"Order {order} is {order.get_status_display().lower()}; "
                    "only received, backordered or partially shipped orders are allocated."
                )
    orders = sorted((o for o in orders if o.status in ALLOCATABLE), key=lambda o: (o.placed_at, o.pk))
    # an order with a gateway is routed only once its payment is authorised (no query without one)
    if any(order.payment_gateway for order in orders):
        waiting = payments.awaiting_authorisation(orders)
        if strict and waiting:
            raise OrderError(
                f"Order {next(o for o in orders if o.pk in waiting)}: its payment is not authorised yet; "
                "it is routed once it is (see its timeline)."
            )
        orders = [order for order in orders if order.pk not in waiting]
    exchanges = _waiting_exchanges(orders)
    rules = business.rules_for_customers({order.customer_id for order in orders})  # one query for the batch
    rules_of = {order.pk: rules[order.customer_id] for order in orders if order.customer_id in rules}
    lines_of, requests = routing_requests(orders, rules_of=rules_of)
    reservation = inventory.plan_batch(requests, lock=not optimistic, landed_cost=LandedCostRouting())
    results = reservation.results
    changed_lines: list[OrderLine] = []
    moved: list[Order] = []
    routed: list[OrderEvent] = []
    for order in orders:
        result = results[order.pk]
        lines = lines_of[order.pk]
        for line in lines:
            if result.allocated.get(line.pk):
                line.quantity_allocated += result.allocated[line.pk]
                changed_lines.append(line)
        complete = all(line.quantity_unallocated == 0 for line in lines)
        skus = {line.pk: line.sku for line in lines}
        data = {
            "warehouses": result.warehouses,
            "allocated": {skus[pk]: qty for pk, qty in result.allocated.items()},
            "backordered": {skus[pk]: qty for pk, qty in result.backordered.items()},
        }
        if result.plan.cost is not None:  # chosen on landed cost: its figures beside the sentence
            data["landed_cost"] = str(result.plan.cost)
            data["aimed_at"] = result.plan.target_date.isoformat() if result.plan.target_date else None
            data["services"] = {s.candidate.code: s.offer.label for s in result.plan.shipments}
        if order.status == OrderStatus.PARTIALLY_SHIPPED:
            target = order.status
        else:
            target = OrderStatus.ALLOCATED if complete else OrderStatus.BACKORDERED
        if target != order.status:
            routed.append(
                events.order_routed(order, to_status=target, reason=result.reason, data=data, actor=actor, save=False)
            )
            moved.append(order)
        elif result.allocated:
            routed.append(events.stock_allocated(order, reason=result.reason, data=data, actor=actor, save=False))
    bulk_set(OrderLine, changed_lines, ["quantity_allocated"])
    bulk_set(Order, moved, ["status", "held_from_status", "updated_at"])
    bulk_insert(OrderEvent, routed)
    contacts = {order_id: list(found.contacts) for order_id, found in rules_of.items()}
    notify.orders_routed(routed, lines_of=lines_of, contacts=contacts)  # in process / backordered, one insert
    for order in moved:  # its stock reserved, an exchange's replacement waits for the returned goods
        if order.pk in exchanges:
            events.held_for_return(order, rma_number=exchanges[order.pk], actor=actor)
    # units reserved at a 3PL's warehouse are released to it after commit (no query before then)
    partners_outbox.release_routed_orders([order.pk for order in orders if results[order.pk].allocated])
    inventory.reserve(reservation)  # last: the hot stock rows are locked from here to COMMIT
    return orders


def _lock_orders(order_ids: list[int]) -> list[Order]:
    """The orders with these ids, with their shipping address, locked in key order (FOR NO KEY UPDATE).

    A hand-written read (``oms_core.sql``): the ORM built this query anew for every batch, and on PostgreSQL
    the ids go as one array, so the statement is prepared once per connection.
    """
    order_columns, order_names = columns(Order, "o")
    address_columns, address_names = columns(Address, "a")
    wanted, params = any_of("o.id", order_ids)
    lock = " FOR NO KEY UPDATE OF o" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {order_columns}, {address_columns} FROM {Order._meta.db_table} AS o "
            f"JOIN {Address._meta.db_table} AS a ON a.id = o.shipping_address_id WHERE {wanted} ORDER BY o.id{lock}",
            params,
        )
        rows = cursor.fetchall()
    split = len(order_names)
    orders = []
    for row in rows:
        order = from_row(Order, order_names, row[:split])
        _SHIPPING_ADDRESS.set_cached_value(order, from_row(Address, address_names, row[split:]))
        orders.append(order)
    return orders


_SHIPPING_ADDRESS = Order._meta.get_field("shipping_address")


def routing_requests(
    orders: list[Order], *, rules_of: dict[int, business.BusinessRules] | None = None
) -> tuple[dict[int, list[OrderLine]], list[inventory.OrderRequest]]:
    """What the allocator plans for ``orders`` (their shipping address loaded): each order's lines, in one
    query, and its request of the units still unallocated, aimed at its promised date (else the default target
    from when it was placed: ``shipping.landed_cost.default_target``), within its business customer's rules
    (``rules_of`` by order id, else read by the orders' ids: one query when none has a business customer).
    Routing and the delay notices' "where would it ship from" ask the same planner with the same requests."""
    if rules_of is None:
        rules_of = business.rules_for_orders([order.pk for order in orders])
    lines_of: dict[int, list[OrderLine]] = {order.pk: [] for order in orders}
    for line in OrderLine.objects.filter(order_id__in=list(lines_of)).order_by("pk"):
        lines_of[line.order_id].append(line)
    requests = [
        inventory.OrderRequest(
            order_id=order.pk,
            channel_id=order.channel_id,
            postal_code=order.shipping_address.postal_code,
            country=order.shipping_address.country,
            state=order.shipping_address.state,
            promised_date=order.promised_date,
            aim_date=None if order.promised_date else default_target(order.placed_at),
            lines=[
                inventory.LineRequest(line.pk, line.product_id, line.sku, line.quantity_unallocated)
                for line in lines_of[order.pk]
                if line.quantity_unallocated > 0
            ],
            **_customer_rules(rules_of.get(order.pk)),
        )
        for order in orders
    ]
    return lines_of, requests


def _customer_rules(rules: business.BusinessRules | None) -> dict:
    if rules is None:
        return {}
    return {
        "excluded_warehouses": tuple(rules.excluded),
        "preferred_warehouses": rules.preferred,
        "customer_rule": rules.rule,
    }


def _waiting_exchanges(orders: list[Order]) -> dict[int, str]:
    """Of the orders routed for the first time, the exchanges' replacements to hold once routed: their return has
    not arrived and its reason's rule does not trust the customer. Order id → the return's number; one query for
    the batch (two more only when it holds a replacement)."""
    first = [order.pk for order in orders if order.status == OrderStatus.RECEIVED]
    if not first:
        return {}
    replacement, params = any_of("replacement_order_id", first)
    with connection.cursor() as cursor:  # hand-written: the ORM's query building cost more than the query
        cursor.execute(
            f"SELECT replacement_order_id, number, reason FROM {ReturnRequest._meta.db_table} "
            f"WHERE {replacement} AND status IN (%s, %s)",
            [*params, ReturnStatus.REQUESTED.value, ReturnStatus.AUTHORISED.value],
        )
        waiting = cursor.fetchall()
    if not waiting:
        return {}
    trusted = set(
        ReasonRule.objects.filter(policy=ReturnPolicy.current(), trusted=True).values_list("reason", flat=True)
    )
    return {order_id: number for order_id, number, reason in waiting if reason not in trusted}


# The routing sweep (beat, every 30 s) takes orders still received this long after the OMS received them: their
# task or drain was lost (a worker killed, a broker outage). Routing is idempotent (the orders are locked and
# re-checked), so a sweep that meets a live drain costs it nothing but a wait.
SWEEP_AFTER = dt.timedelta(seconds=15)


def route_waiting_orders(*, older_than: dt.timedelta = SWEEP_AFTER, limit: int = 2000) -> int:
    """Allocate received orders whose allocation task never ran (a broker outage, a lost task).

    Placing an order queues its routing after commit; this sweep is the safety
    net, in batches. An order whose payment authorisation failed and waits for
    its retry is left to it until the retry is due (the sweep never calls a
    gateway sooner than the payment's backoff). Returns how many orders it routed.
    """
    cutoff = timezone.now() - older_than
    # When the OMS received the order (its intake), not when the channel says it was placed: an order "placed"
    # ahead of our clock would wait for that time. Orders without an intake (kept from before) have placed_at.
    received_before = Q(intake__received_at__lt=cutoff) | Q(intake__isnull=True, placed_at__lt=cutoff)
    order_ids = list(
        Order.objects.filter(received_before, status=OrderStatus.RECEIVED)
        .order_by("pk")  # in the order they arrived
        .values_list("pk", flat=True)[:limit]
    )
    retrying = payments.authorisations_to_wait_for(order_ids)
    order_ids = [pk for pk in order_ids if pk not in retrying]
    routed = 0
    for start in range(0, len(order_ids), 100):
        # credit check and authorisation first
        batch = payment.ready_to_route(order_ids[start : start + 100], authorise=True, actor="system: routing sweep")
        orders = allocate_orders(order_ids=batch, actor="system: routing sweep")
        routed += sum(1 for order in orders if order.status != OrderStatus.RECEIVED)
    return routed


def fill_backorders(*, product_ids: list[int], limit: int = 500, batch_size: int = 100) -> int:
    """Allocate waiting orders that need these SKUs, oldest first; returns how many got stock.

    Orders are allocated in batches, each batch its own transaction.
    """
    waiting_lines = OrderLine.objects.filter(
        order=OuterRef("pk"),
        product_id__in=product_ids,
        quantity__gt=F("quantity_shipped") + F("quantity_allocated"),
    )
    order_ids = list(
        Order.objects.filter(status__in=[OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_SHIPPED])
        .filter(Exists(waiting_lines))
        .order_by("placed_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    filled = 0
    for start in range(0, len(order_ids), batch_size):
        batch = order_ids[start : start + batch_size]
        before = _allocated_units(batch)
        try:
            allocate_orders(order_ids=batch, actor="system: backorder fill")
        except (OrderError, InventoryError) as refusal:
            logger.warning("Backorder fill skipped orders %s: %s", batch, refusal)
            continue
        after = _allocated_units(batch)
        filled += sum(1 for order_id in batch if after.get(order_id, 0) > before.get(order_id, 0))
    return filled


def _allocated_units(order_ids: list[int]) -> dict[int, int]:
    rows = OrderLine.objects.filter(order_id__in=order_ids).values("order_id").annotate(units=Sum("quantity_allocated"))
    return {row["order_id"]: row["units"] for row in rows}


@transaction.atomic  # not durable: shipping a shipment records its units in its own transaction
def record_shipment(
    *, order_id: int, shipped: dict[int, int], actor, reference: str = "", warehouse_id: int | None = None
) -> Order:
    """Record units that left a warehouse: stock and reservations drop, the order moves on.

    ``shipped`` maps line id to units shipped now; they must be reserved.
    """
    order = lock_order(order_id)
    if order.status not in {OrderStatus.ALLOCATED, OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_SHIPPED}:
        raise OrderError(f"Order {order} cannot ship while {order.get_status_display().lower()}.")
    lines = {line.pk: line for line in order.lines.select_for_update(no_key=True).order_by("pk")}
    for line_id, quantity in shipped.items():
        line = lines.get(line_id)
        if line is None:
            raise OrderError(f"Line {line_id} is not on order {order}.")
        if quantity <= 0 or quantity > line.quantity_allocated:
            raise OrderError(f"Line {line.sku}: cannot ship {quantity}, {line.quantity_allocated} allocated.")
        line.quantity_allocated -= quantity
        line.quantity_shipped += quantity
    try:
        inventory.consume_allocations(
            order_id=order.pk, quantities=shipped, actor=actor, reference=reference, warehouse_id=warehouse_id
        )
    except InventoryError as refusal:
        raise OrderError(str(refusal)) from refusal
    OrderLine.objects.bulk_update(lines.values(), ["quantity_allocated", "quantity_shipped"])
    everything_shipped = all(line.quantity_shipped == line.quantity for line in lines.values())
    target = OrderStatus.SHIPPED if everything_shipped else OrderStatus.PARTIALLY_SHIPPED
    by_sku = {lines[pk].sku: quantity for pk, quantity in shipped.items()}
    events.units_shipped(
        order, to_status=target, units=sum(shipped.values()), shipped=by_sku, reference=reference, actor=actor
    )
    refresh_shipping_facts([order.pk])
    return order


@transaction.atomic(durable=True)
def mark_delivered(*, order_id: int, actor) -> Order:
    """Mark a shipped order delivered."""
    order = lock_order(order_id)
    events.order_delivered(order, actor=actor)
    refresh_shipping_facts([order.pk])
    return order
