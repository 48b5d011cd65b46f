"""Delay notices: the customer hears that their order will be late before its promised date passes.

The sweep (``sweep_delay_notices``, a periodic task) reads the orders that can still miss their promise in
chunks, a fixed number of queries a chunk, and looks for what puts a promise in danger:

- still not reserved when the cut-off it counted on has passed (``not_reserved``): the first daily cut-off
  after it was placed among the warehouses routing would ship it from, each on its own clock;
- backordered (``backordered``);
- a shipment's label not bought by its ship-by day, on its warehouse's clock (``label_late``);
- a label bought or a shipment handed over, and no carrier scan a business day after its pickup day
  (``no_scan``);
- a carrier exception (``carrier_exception``; the tracking event also calls ``tell_if_late`` at once);
- a shipment on its way, or labelled for a pickup still to come, whose transit days no longer fit the days left
  (``transit_too_long``): its lane's learned transit days (``shipping.lanes``) when the lane has learned them,
  else its service's for its zone; a lane that learned a longer time since the promise was made is how such a
  parcel is found.

Only for an order in danger is the delivery estimated again (``shipping.promise.estimate_delivery``) from
where its goods stand now. When that estimate is after the promised date, the customer gets one
``order_delayed`` email with it and the order an ``OrderDelayNotice`` (the "customer told" mark) and a
timeline entry, in one transaction under the order's lock. Each (order, estimate) is told at most once: the
notice is unique per order and estimate, and so is the outbox row; a later estimate is told again, the same
or an earlier one never. An operator may suppress the notice of an order's current estimate
(``suppress_delay_notice``). When no new date can be worked out, nobody is emailed and the notice waits
for an operator (``review``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from inventory import services as inventory
from inventory.models import Allocation, Warehouse
from notifications.models import Message
from shipping import lanes, promise, rating
from shipping.landed_cost import LandedCostRouting
from shipping.models import Shipment, ShipmentStatus, TrackingEvent
from shipping.selectors import active_service_terms

from .. import events
from ..exceptions import OrderError
from ..models import OPEN_STATUSES, Order, OrderDelayNotice, OrderEvent, OrderStatus
from . import fulfilment, notify
from ._common import lock_order, require_reason

Cause = OrderDelayNotice.Cause
State = OrderDelayNotice.State
# Orders whose promise can still be missed: not all goods left yet, or on their way and not delivered. An order on
# hold is left to the operator working it (a fraud review is no time to email the customer); once released, the
# sweep looks at it again.
WATCHED_STATUSES = tuple(sorted((OPEN_STATUSES | {OrderStatus.SHIPPED}) - {OrderStatus.ON_HOLD}))
# Shipments that still have to arrive.
PENDING_SHIPMENTS = (
    ShipmentStatus.AWAITING_LABEL,
    ShipmentStatus.LABEL_CREATED,
    ShipmentStatus.IN_TRANSIT,
    ShipmentStatus.EXCEPTION,
)
CHUNK = 1000


@dataclass(frozen=True)
class Danger:
    """What puts an order's promise in danger, and the words for it."""

    cause: str
    detail: str = ""
    shipment: str = ""  # the shipment's number, when the danger is one shipment's


# --- what puts a promise in danger -------------------------------------------------------------------
def _holidays() -> frozenset[dt.date]:
    return settings.SHIPPING_HOLIDAYS


def first_cutoff(warehouse: Warehouse, placed_at: dt.datetime) -> dt.datetime:
    """The warehouse's first daily cut-off after ``placed_at``, on its own clock (DST, weekends and holidays
    included): an order not reserved by then is not worked that day. The promise's own order-by
    (``rating.order_by``) with the warehouse's cut-off alone, not a second rule."""
    return rating.order_by(
        warehouse.local_now(placed_at),
        warehouse_cutoff=warehouse.daily_cutoff,
        processing_days=warehouse.processing_days,
        service_cutoff=warehouse.daily_cutoff,
        holidays=_holidays(),
    )


def serving_warehouses(orders: list[Order], warehouses: dict[int, Warehouse], *, now: dt.datetime):
    """For each order still received (not routed), the warehouses routing would ship it from now: the
    allocator's own plan (``inventory.plan_batch``, unwritten, unlocked), for all of them in one pass; all the
    active warehouses for one no warehouse can fill. A fixed number of queries, whatever the number of orders."""
    received = [order for order in orders if order.status == OrderStatus.RECEIVED]
    if not received:
        return {}
    _, requests = fulfilment.routing_requests(received)
    results = inventory.plan_batch(requests, lock=False, now=now, landed_cost=LandedCostRouting(now=now)).results
    active = tuple(warehouse for warehouse in warehouses.values() if warehouse.is_active)
    serving = {}
    for order in received:
        picked = sorted({warehouse_id for _, warehouse_id, _ in results[order.pk].plan.picks})
        serving[order.pk] = tuple(warehouses[pk] for pk in picked) or active
    return serving


def find_dangers(
    order: Order,
    shipments: list[Shipment],
    *,
    now: dt.datetime,
    serving: tuple[Warehouse, ...] = (),
    warehouses: dict[int, Warehouse],
    transit: dict[int, dict[int, int]],
    learned: dict[int, int] | None = None,
) -> list[Danger]:
    """What puts this order's promise in danger now (pure: everything it reads is given).

    ``serving``: the warehouses routing would use for the order while it is still received. Its promise
    counted on being worked by the first of their cut-offs after it was placed, each on its warehouse's
    clock; a shipment's days (ship-by, pickup, left) are read on its warehouse's clock too. ``learned``: the
    transit days each shipment's lane has learned, by shipment id (``learned_transit``), before the rate card's."""
    learned = learned or {}
    dangers = []
    if order.status == OrderStatus.RECEIVED and serving:
        cutoff, warehouse = min(((first_cutoff(w, order.placed_at), w) for w in serving), key=lambda pair: pair[0])
        if cutoff <= now:
            dangers.append(
                Danger(
                    Cause.NOT_RESERVED,
                    f"still not reserved at {warehouse.code}'s {cutoff:%H:%M} cut-off ({warehouse.time_zone})",
                )
            )
    if order.status == OrderStatus.BACKORDERED:
        dangers.append(Danger(Cause.BACKORDERED, "items wait for stock"))
    for shipment in shipments:
        clock = warehouses[shipment.warehouse_id]
        today = clock.local_now(now).date()
        if shipment.status == ShipmentStatus.AWAITING_LABEL and shipment.ship_date and shipment.ship_date < today:
            dangers.append(
                Danger(
                    Cause.LABEL_LATE, f"{shipment.number} had to ship {shipment.ship_date:%a %d %b}", shipment.number
                )
            )
        elif shipment.status == ShipmentStatus.LABEL_CREATED and shipment.ship_date:
            if rating.next_business_day(shipment.ship_date, _holidays()) <= today:
                dangers.append(
                    Danger(
                        Cause.NO_SCAN,
                        f"{shipment.number}: labelled for {shipment.ship_date:%a %d %b}, not picked up",
                        shipment.number,
                    )
                )
            else:  # still to be picked up: from its pickup day, does its transit time still fit?
                dangers += _transit_danger(order, shipment, shipment.ship_date, transit, learned)
        elif shipment.status == ShipmentStatus.EXCEPTION:
            dangers.append(
                Danger(
                    Cause.CARRIER_EXCEPTION, f"{shipment.number}: the carrier reported an exception", shipment.number
                )
            )
        elif shipment.status == ShipmentStatus.IN_TRANSIT and shipment.shipped_at:
            left = clock.local_now(shipment.shipped_at).date()
            if not shipment.scanned and rating.next_business_day(left, _holidays()) <= today:
                dangers.append(
                    Danger(Cause.NO_SCAN, f"{shipment.number}: no carrier scan since {left:%a %d %b}", shipment.number)
                )
            dangers += _transit_danger(order, shipment, left, transit, learned)
    return dangers


def _transit_danger(order: Order, shipment: Shipment, since: dt.date, transit: dict, learned: dict) -> list[Danger]:
    """``transit_too_long`` when the shipment's transit days (its lane's learned ones, else its service's for its
    zone), counted from ``since`` (the day it left, or is to be picked up), end after the promised date."""
    days = learned.get(shipment.pk, transit.get(shipment.service_id, {}).get(shipment.zone))
    if days is None or order.promised_date is None:
        return []
    if rating.add_business_days(since, days, _holidays()) <= order.promised_date:
        return []
    how = " (learned on its lane)" if shipment.pk in learned else ""
    return [
        Danger(
            Cause.TRANSIT_TOO_LONG,
            f"{shipment.number}: {days} business days in transit{how} from {since:%a %d %b}",
            shipment.number,
        )
    ]


def _pending_shipments(order_ids: list[int]) -> dict[int, list[Shipment]]:
    """The orders' shipments still to arrive, each with ``scanned`` (a carrier's scan came in): one query."""
    scans = TrackingEvent.objects.filter(shipment=OuterRef("pk"), source=TrackingEvent.Source.WEBHOOK)
    found: dict[int, list[Shipment]] = defaultdict(list)
    for shipment in (
        Shipment.objects.filter(order_id__in=order_ids, status__in=PENDING_SHIPMENTS)
        .annotate(scanned=Exists(scans))
        .only(
            "pk",
            "number",
            "order_id",
            "warehouse_id",
            "service_id",
            "status",
            "zone",
            "ship_date",
            "shipped_at",
            "ship_to",
        )
        .order_by("pk")
    ):
        found[shipment.order_id].append(shipment)
    return found


def learned_transit(shipments: Iterable[Shipment]) -> dict[int, int]:
    """The transit days the lane of each shipment with a carrier service has learned (warehouse → destination
    ZIP3 by its service), by shipment id; a shipment whose lane has not learned yet is left out. One query."""
    shipments = list(shipments)
    areas = {
        shipment.pk: lanes.zip3(shipment.ship_to.get("postal_code", ""), shipment.ship_to.get("country", "US"))
        for shipment in shipments
        if shipment.service_id
    }
    if not any(areas.values()):
        return {}
    warehouse_of = {shipment.pk: shipment.warehouse_id for shipment in shipments}
    service_of = {shipment.pk: shipment.service_id for shipment in shipments}
    found = lanes.learned_days(areas=set(areas.values()), warehouse_ids=set(warehouse_of.values()))
    learned = {}
    for pk, area in areas.items():
        days = found.get((warehouse_of[pk], area), {}).get(service_of[pk])
        if days is not None:
            learned[pk] = days
    return learned


# --- the new estimate, from where the goods stand now ------------------------------------------------
def estimate_now(order: Order, shipments: list[Shipment], dangers: list[Danger], *, now: dt.datetime):
    """When the order would arrive now (``shipping.promise.Estimate``): waiting units routed, reserved units
    priced from their warehouse, parcels with a carrier dated by their service's transit days."""
    today = timezone.localdate(now)
    lines = list(order.lines.select_related("product"))
    waiting = [(line.sku, line.quantity_unallocated) for line in lines if line.quantity_unallocated > 0]
    weight_of = {line.pk: line.product.weight_kg for line in lines}
    reserved_kg: dict[int, Decimal] = defaultdict(Decimal)
    for line_id, warehouse_id, quantity in Allocation.objects.filter(order_id=order.pk).values_list(
        "order_line_id", "warehouse_id", "quantity"
    ):
        reserved_kg[warehouse_id] += weight_of[line_id] * quantity
    labelled = {s.warehouse_id: s.service_id for s in shipments if s.status == ShipmentStatus.LABEL_CREATED}
    warehouses = Warehouse.objects.in_bulk([*reserved_kg, *(s.warehouse_id for s in shipments)])
    reserved = [
        promise.ReservedPart(warehouse=warehouses[warehouse_id], weight_kg=kg, service_id=labelled.get(warehouse_id))
        for warehouse_id, kg in sorted(reserved_kg.items())
    ]
    troubled = {danger.shipment for danger in dangers if danger.cause in (Cause.NO_SCAN, Cause.CARRIER_EXCEPTION)}
    learned = learned_transit(shipments)
    moving = []
    for shipment in shipments:
        if shipment.status in (ShipmentStatus.IN_TRANSIT, ShipmentStatus.EXCEPTION) and shipment.service_id:
            clock = warehouses[shipment.warehouse_id]  # the day it left, and today, on its warehouse's clock
            since = clock.local_now(shipment.shipped_at or now).date()
            if shipment.number in troubled or shipment.status == ShipmentStatus.EXCEPTION:
                since = clock.local_now(now).date()  # the parcel moves again from today at best
            moving.append(
                promise.MovingPart(
                    service_id=shipment.service_id,
                    zone=shipment.zone or 8,
                    since=since,
                    days=learned.get(shipment.pk),
                )
            )
    address = order.shipping_address
    return promise.estimate_delivery(
        postal_code=address.postal_code,
        country=address.country,
        state=address.state,
        channel_id=order.channel_id,
        waiting=waiting,
        reserved=reserved,
        moving=moving,
        restock_date=restock_date(order, today=today) if waiting else None,
        now=now,
    )


def estimate_order(order: Order, *, now: dt.datetime | None = None):
    """When the order would arrive now, from where its goods stand (``estimate_now`` with its pending shipments
    and no danger): an edit of the order re-promises with it."""
    now = now or timezone.now()
    return estimate_now(order, _pending_shipments([order.pk])[order.pk], [], now=now)


def restock_date(order: Order, *, today: dt.date) -> dt.date:
    """When units no warehouse has should arrive: ``NOTIFICATIONS_BACKORDER_LEAD_DAYS`` after the order last went
    backordered (as its backorder email said), and never before tomorrow. Counted from that day, not from
    today, so the estimate of an order still waiting does not slip a day, and email again, every day."""
    backordered_at = (
        OrderEvent.objects.filter(
            order_id=order.pk, kind=OrderEvent.Kind.STATUS_CHANGED, data__to=OrderStatus.BACKORDERED
        )
        .order_by("-created_at", "-id")
        .values_list("created_at", flat=True)
        .first()
    )
    since = timezone.localdate(backordered_at) if backordered_at else today
    lead = dt.timedelta(days=settings.NOTIFICATIONS_BACKORDER_LEAD_DAYS)
    return max(since + lead, today + dt.timedelta(days=1))


def _backorder_email(order_id: int, estimate: dt.date) -> Message | None:
    """The order's backorder email that already told the customer this date (or a later one), if any."""
    for message in Message.objects.filter(order_id=order_id, event="order_backordered").order_by("-created_at"):
        told = message.context.get("estimate")
        if told and dt.date.fromisoformat(str(told)[:10]) >= estimate:
            return message
    return None


# --- telling the customer -------------------------------------------------------------------------------
def _latest_told(order_id: int) -> OrderDelayNotice | None:
    return (
        OrderDelayNotice.objects.filter(order_id=order_id, new_estimate__isnull=False).order_by("-new_estimate").first()
    )


def _tell_locked(order: Order, dangers: list[Danger], *, now: dt.datetime, actor) -> OrderDelayNotice | None:
    """Estimate the locked order again and, when it will be late and this date was never told, tell the
    customer (or record the delay for review when no date can be worked out). Private: the caller holds the
    order's lock inside its transaction. Returns the notice written, if any."""
    today = timezone.localdate(now)
    if order.status not in WATCHED_STATUSES or order.promised_date is None or order.promised_date < today:
        return None  # delivered, cancelled, no promise, or the date already passed (the late sweep's business)
    order = Order.objects.select_related("customer", "channel", "shipping_address").get(pk=order.pk)
    shipments = _pending_shipments([order.pk])[order.pk]
    estimate = estimate_now(order, shipments, dangers, now=now)
    danger = dangers[0] if dangers else Danger(Cause.OPERATOR)
    if estimate.date is None:
        if OrderDelayNotice.objects.filter(order_id=order.pk, new_estimate__isnull=True).exists():
            return None
        notice = _create(
            order,
            cause=danger.cause,
            detail=f"{danger.detail}; {estimate.problem}".strip("; "),
            estimate=None,
            state=State.REVIEW,
            now=now,
        )
        if notice is not None:
            events.delay_notice_for_review(order, notice=notice, actor=actor)
        return notice
    if estimate.date <= order.promised_date:
        return None
    latest = _latest_told(order.pk)
    if latest is not None and estimate.date <= latest.new_estimate:
        return None  # this date, or a later one, was told (or suppressed) already
    told_by = _backorder_email(order.pk, estimate.date) if danger.cause == Cause.BACKORDERED else None
    if told_by is not None:
        # The backorder email gave this date already: the mark says so, and the customer gets no second email.
        notice = _create(
            order,
            cause=danger.cause,
            detail=danger.detail,
            estimate=estimate.date,
            state=State.SENT,
            now=now,
            message=told_by,
            sent_at=told_by.created_at,
        )
        if notice is not None:
            _close_review(order)
            events.delay_notice_sent(order, notice=notice, actor=actor, through="the backorder email")
        return notice
    notice = _create(order, cause=danger.cause, detail=danger.detail, estimate=estimate.date, state=State.SENT, now=now)
    if notice is None:
        return None
    ids = notify.order_delayed(order, cause=notice.cause, promised_date=order.promised_date, new_estimate=estimate.date)
    notice.message_id = ids[0] if ids else None
    notice.save(update_fields=["message"])
    _close_review(order)
    events.delay_notice_sent(order, notice=notice, actor=actor)
    return notice


def _close_review(order: Order) -> None:
    """A date was told: the order's notice without one no longer waits for review."""
    OrderDelayNotice.objects.filter(order_id=order.pk, state=State.REVIEW).update(state=State.REPLACED)


def _create(order: Order, *, cause: str, detail: str, estimate, state: str, now: dt.datetime, **fields):
    """The notice, or None when another writer got there first (the unique constraint, in a savepoint)."""
    try:
        with transaction.atomic():
            return OrderDelayNotice.objects.create(
                order=order,
                cause=cause,
                detail=detail[:300],
                promised_date=order.promised_date,
                new_estimate=estimate,
                state=state,
                created_at=now,
                **{"sent_at": now if state == State.SENT else None, **fields},
            )
    except IntegrityError:
        return None


def tell_if_late(
    order: Order, *, cause: str, detail: str = "", shipment: str = "", now: dt.datetime | None = None, actor=None
) -> OrderDelayNotice | None:
    """An event put the locked order's promise in danger (a carrier exception): tell the customer now if it
    will be late. Runs in the caller's transaction, which holds the order's lock."""
    danger = Danger(cause, detail, shipment)
    return _tell_locked(order, [danger], now=now or timezone.now(), actor=actor or events.DELAY_SWEEP)


def sweep_delay_notices(*, now: dt.datetime | None = None) -> int:
    """Find the orders whose promise is in danger and tell each customer whose order will now be late.

    Reads the warehouses once, then the watched orders in chunks, a fixed number of queries a chunk (the
    orders, their shipments still to arrive and, when some are still received, their lines and routing's plan
    for them); only an order in danger costs more, in its own short transaction under its lock. Returns how many
    customers were told.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    warehouses = Warehouse.objects.in_bulk()  # few: read once, each with its clock and cut-off
    transit = {terms.service_id: terms.transit_days for terms in active_service_terms()}
    watched = (
        Order.objects.filter(status__in=WATCHED_STATUSES, promised_date__gte=today)
        .select_related("shipping_address")
        .only(
            "pk",
            "status",
            "placed_at",
            "promised_date",
            "channel_id",
            "shipping_address__postal_code",
            "shipping_address__country",
            "shipping_address__state",
        )
    )
    told = 0
    after = 0
    while True:
        chunk = list(watched.filter(pk__gt=after).order_by("pk")[:CHUNK])
        if not chunk:
            return told
        after = chunk[-1].pk
        shipments = _pending_shipments([order.pk for order in chunk])
        learned = learned_transit(shipment for pending in shipments.values() for shipment in pending)
        serving = serving_warehouses(chunk, warehouses, now=now)
        endangered = {}
        for order in chunk:
            dangers = find_dangers(
                order,
                shipments.get(order.pk, []),
                now=now,
                serving=serving.get(order.pk, ()),
                warehouses=warehouses,
                transit=transit,
                learned=learned,
            )
            if dangers:
                endangered[order.pk] = dangers
        for order_id, dangers in endangered.items():
            with transaction.atomic(durable=True):
                notice = _tell_locked(lock_order(order_id), dangers, now=now, actor=events.DELAY_SWEEP)
            told += notice is not None and notice.state == State.SENT


# --- an operator's choice -------------------------------------------------------------------------------
@transaction.atomic(durable=True)
def suppress_delay_notice(*, order_id: int, reason: str, actor, now: dt.datetime | None = None) -> OrderDelayNotice:
    """Keep the customer from being emailed about the order's current delay (its estimate now), and say why.

    A notice waiting for review is closed instead. Refused when the order is on time, its promise already
    passed, or the customer was already told of this date.
    """
    reason = require_reason(reason, "suppress the delay notice of")
    now = now or timezone.now()
    order = lock_order(order_id)
    pending = OrderDelayNotice.objects.filter(order_id=order.pk, state=State.REVIEW).first()
    if pending is not None:
        return _suppress(order, pending, reason=reason, actor=actor, now=now)
    today = timezone.localdate(now)
    if order.status not in WATCHED_STATUSES:
        raise OrderError(f"Order {order} is {order.get_status_display().lower()}: it can no longer be late.")
    if order.promised_date is None:
        raise OrderError(f"Order {order} has no promised date: there is no delay to tell.")
    if order.promised_date < today:
        raise OrderError(f"Order {order}'s promised date {order.promised_date:%a %d %b} has passed already.")
    order = Order.objects.select_related("customer", "channel", "shipping_address").get(pk=order.pk)
    shipments = _pending_shipments([order.pk])[order.pk]
    warehouses = Warehouse.objects.in_bulk()
    dangers = find_dangers(
        order,
        shipments,
        now=now,
        serving=serving_warehouses([order], warehouses, now=now).get(order.pk, ()),
        warehouses=warehouses,
        transit={terms.service_id: terms.transit_days for terms in active_service_terms()},
        learned=learned_transit(shipments),
    )
    estimate = estimate_now(order, shipments, dangers, now=now)
    if estimate.date is not None and estimate.date <= order.promised_date:
        raise OrderError(
            f"Order {order} is expected {estimate.date:%a %d %b}, by its promised {order.promised_date:%a %d %b}: "
            "there is no delay notice to suppress."
        )
    existing = (
        OrderDelayNotice.objects.filter(order_id=order.pk)
        .filter(Q(new_estimate=estimate.date) if estimate.date else Q(new_estimate__isnull=True))
        .first()
    )
    if existing is not None and existing.state == State.SENT:
        raise OrderError(
            f"The customer of {order} was already told of {estimate.date:%a %d %b} "
            f"on {timezone.localtime(existing.sent_at):%a %d %b %H:%M}."
        )
    if existing is not None and existing.state == State.SUPPRESSED:
        raise OrderError(f"The delay notice of {order} for this estimate is suppressed already.")
    latest = _latest_told(order.pk)
    if existing is None and estimate.date is not None and latest is not None and estimate.date < latest.new_estimate:
        raise OrderError(
            f"The customer of {order} was already told of {latest.new_estimate:%a %d %b}, later than the "
            f"{estimate.date:%a %d %b} expected now: there is no delay notice to suppress."
        )
    danger = dangers[0] if dangers else Danger(Cause.OPERATOR)
    notice = _create(
        order, cause=danger.cause, detail=danger.detail, estimate=estimate.date, state=State.REVIEW, now=now
    )
    if notice is None:
        raise OrderError(f"The delay notice of {order} changed meanwhile; look at the order again.")
    return _suppress(order, notice, reason=reason, actor=actor, now=now)


def _suppress(order: Order, notice: OrderDelayNotice, *, reason: str, actor, now: dt.datetime) -> OrderDelayNotice:
    notice.state = State.SUPPRESSED
    notice.suppressed_at = now
    notice.suppressed_by = actor if getattr(actor, "is_authenticated", False) else None
    notice.suppressed_reason = reason[:1000]
    notice.save(update_fields=["state", "suppressed_at", "suppressed_by", "suppressed_reason"])
    events.delay_notice_suppressed(order, notice=notice, actor=actor)
    return notice
