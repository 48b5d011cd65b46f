"""Messages from a 3PL: recorded once by the partner's message id, then applied in one transaction each.

``receive_message`` records an envelope (the webhook, or a polling transport) and starts its processing after
commit; a message id seen before is a duplicate and changes nothing. ``process_message`` applies it: a
message that cannot be applied as it is (a malformed payload, an unknown SKU, a confirmation for a
cancelled release) becomes an exception for ops with the reason, and nothing of it is written.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from inventory import services as inventory
from inventory.exceptions import InventoryError
from inventory.models import Product, StockLevel, StockMovement
from shipping import services as shipping
from shipping.exceptions import ShippingError
from shipping.models import UNSHIPPED_STATUSES, Shipment, ShipmentStatus

from ... import events
from ...exceptions import OrderError
from ...models import Hold, OrderLine, OrderStatus
from ...returns.exceptions import ReturnError
from ...returns.models import ReturnRequest
from ...returns.services import Inspection, inspect_locked_return, receive_locked_return
from ...returns.services._common import lock_return
from ...services import notify, payment
from ...services._common import CENT, lock_order, open_order_hold, open_shipment_hold, stop_partner_release
from ...services.shipping import ship_locked_shipment
from ..exceptions import PartnerError, PayloadError
from ..models import (
    INBOUND_KINDS,
    OPEN_RELEASE_STATES,
    Direction,
    MessageKind,
    MessageStatus,
    PartnerConnection,
    PartnerMessage,
    PartnerRelease,
    ReleaseState,
    StockSnapshot,
)
from ..outbox import HOLD_CANCEL_KEY, PROCESS_TASK, RELEASE_TASK, enqueue

logger = logging.getLogger(__name__)


def receive_message(
    *,
    connection: PartnerConnection,
    message_id: str,
    kind: str,
    payload,
    envelope: dict | None = None,
    refusal: str = "",
) -> tuple[PartnerMessage, bool]:
    """Record one inbound message, processed after commit; returns it and whether it is new (else a duplicate).

    ``envelope`` says how it travelled (a file and its rows). With a ``refusal`` (a file's row that cannot
    be read) it is recorded as an exception for ops with that reason, and never applied.
    """
    message_id = (message_id or "").strip()
    if not message_id or len(message_id) > 150:
        raise PayloadError("message_id: required, at most 150 characters.")
    if kind not in INBOUND_KINDS:
        raise PayloadError(f"type: must be one of {', '.join(INBOUND_KINDS)}, not {str(kind)[:40]!r}.")
    now = timezone.now()
    existing = PartnerMessage.objects.filter(connection=connection, direction=Direction.IN, key=message_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            message = PartnerMessage.objects.create(
                connection=connection,
                direction=Direction.IN,
                kind=kind,
                key=message_id,
                payload=payload if isinstance(payload, dict) else {"body": payload},
                status=MessageStatus.EXCEPTION if refusal else MessageStatus.QUEUED,
                last_error=refusal[:2000],
                envelope=envelope or {},
                created_at=now,
                processed_at=now if refusal else None,
            )
    except IntegrityError:  # the same id arrived twice at once: the other one recorded it
        return PartnerMessage.objects.get(connection=connection, direction=Direction.IN, key=message_id), False
    PartnerConnection.objects.filter(pk=connection.pk).update(last_inbound_at=now)
    if refusal:
        logger.warning("3PL %s: %s is an exception: %s", connection.code, message, refusal)
    else:
        enqueue(PROCESS_TASK, message.pk)
    return message, True


def process_message(*, message_id: int) -> str:
    """Apply one inbound message once; returns its status afterwards (applied, exception, or as it already was).

    Two workers given the same message: the first locks it and applies it, the second waits for the lock and
    finds it done. A payment captured by a ship confirmation is called for after commit, with no lock held.
    """
    capture = None
    with transaction.atomic(durable=True):
        message = (
            PartnerMessage.objects.select_for_update(of=("self",))
            .select_related("connection__warehouse")
            .filter(pk=message_id, direction=Direction.IN)
            .first()
        )
        if message is None or message.status != MessageStatus.QUEUED:
            return message.status if message is not None else ""
        try:
            with transaction.atomic():  # all of the message or nothing of it
                outcome, capture = HANDLERS[message.kind](message)
        except (PartnerError, OrderError, InventoryError, ShippingError) as refusal:
            capture = None
            message.status = MessageStatus.EXCEPTION
            message.last_error = str(refusal)
            message.outcome = ""
            logger.warning("3PL %s: %s is an exception: %s", message.connection.code, message, refusal)
        except Exception as error:  # a message no rule foresaw must not come back at every sweep
            # Its writes were rolled back with the savepoint; ops see it in the dead letters with the error, and
            # the traceback is logged. Applying it again (the console) retries it once the cause is fixed.
            capture = None
            message.status = MessageStatus.EXCEPTION
            message.last_error = f"Unexpected error, nothing applied: {type(error).__name__}: {error}"[:2000]
            message.outcome = ""
            logger.exception("3PL %s: %s failed unexpectedly", message.connection.code, message)
        else:
            message.status = MessageStatus.APPLIED
            message.last_error = ""
            message.outcome = outcome
        message.processed_at = timezone.now()
        message.save(update_fields=["status", "last_error", "outcome", "processed_at", "updated_at"])
    payment.make_call(capture, actor=f"3PL: {message.connection.name}")
    return message.status


def process_waiting_messages(*, limit: int = 500) -> int:
    """Apply inbound messages whose processing never ran (a lost task, a dead worker); returns how many."""
    waiting = PartnerMessage.objects.filter(direction=Direction.IN, status=MessageStatus.QUEUED).order_by("pk")
    return sum(1 for pk in waiting.values_list("pk", flat=True)[:limit] if process_message(message_id=pk))


@transaction.atomic(durable=True)
def reprocess_message(*, message_id: int, actor) -> PartnerMessage:
    """Ops fixed what made an inbound message an exception (a SKU mapping, a release): apply it again after commit."""
    message = PartnerMessage.objects.select_for_update().get(pk=message_id)
    if message.direction != Direction.IN or message.status != MessageStatus.EXCEPTION:
        raise PartnerError(f"Message {message}: only an inbound exception can be applied again.")
    message.status = MessageStatus.QUEUED
    message.outcome = f"Queued again by {getattr(actor, 'username', actor)}; it failed with: {message.last_error}"
    message.save(update_fields=["status", "outcome", "updated_at"])
    enqueue(PROCESS_TASK, message.pk)
    return message


# --- reading payloads -------------------------------------------------------------------------------------


def _field(data, name: str, where: str = ""):
    if not isinstance(data, dict) or name not in data or data[name] in (None, ""):
        raise PayloadError(f"{where}{name}: required.")
    return data[name]


def _text(data, name: str, where: str = "") -> str:
    value = _field(data, name, where)
    if not isinstance(value, str) or len(value) > 200:
        raise PayloadError(f"{where}{name}: must be text of at most 200 characters.")
    return value.strip()


def _quantity(data, name: str, where: str, *, allow_zero: bool = True) -> int:
    value = _field(data, name, where) if not (allow_zero and isinstance(data, dict) and data.get(name) == 0) else 0
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        raise PayloadError(f"{where}{name}: must be a whole number of {'0' if allow_zero else '1'} or more.")
    return value


def _when(data, name: str, where: str = "") -> dt.datetime:
    value = _field(data, name, where)
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None or parsed.tzinfo is None:
        raise PayloadError(f"{where}{name}: must be an ISO 8601 time with its offset, e.g. 2026-12-06T14:05:00Z.")
    return parsed


def _list(data, name: str, where: str = "") -> list:
    value = _field(data, name, where)
    if not isinstance(value, list) or not value:
        raise PayloadError(f"{where}{name}: must be a list of at least one entry.")
    return value


def _products_by_partner_sku(connection: PartnerConnection, partner_skus: set[str]) -> dict[str, Product]:
    ours = connection.our_skus()
    wanted = {partner: ours.get(partner, partner) for partner in partner_skus}
    found = {p.sku: p for p in Product.objects.filter(sku__in=set(wanted.values()))}
    unknown = sorted(partner for partner, sku in wanted.items() if sku not in found)
    if unknown:
        raise PayloadError(f"sku: unknown item code {', '.join(unknown)} (no SKU, and not in the SKU mapping).")
    return {partner: found[sku] for partner, sku in wanted.items()}


def _applied_before(message: PartnerMessage, connection, kind: str, reference: str) -> PartnerMessage | None:
    """The first other message of this kind from the connection, applied already, that carried the same receipt."""
    return (
        PartnerMessage.objects.filter(
            connection=connection,
            direction=Direction.IN,
            kind=kind,
            status=MessageStatus.APPLIED,
            payload__receipt=reference,
        )
        .exclude(pk=message.pk)
        .order_by("pk")
        .first()
    )


def _release_named(message: PartnerMessage, number: str) -> PartnerRelease:
    release = (
        PartnerRelease.objects.filter(connection=message.connection, shipment__number=number)
        .select_related("shipment")
        .first()
    )
    if release is None:
        raise PayloadError(f"release: no shipment {number!r} was released to {message.connection.name}.")
    return release


# --- the handlers: each returns what it did, and a payment capture to make after commit -------------------


def apply_ack(message: PartnerMessage):
    """The partner's answer to a release, change or cancel: received (it has it), accepted, or rejected."""
    payload = message.payload
    number = _text(payload, "release")
    of = _text(payload, "of")
    status = _text(payload, "status")
    if of not in (MessageKind.RELEASE, MessageKind.CHANGE, MessageKind.CANCEL):
        raise PayloadError("of: must be release, change or cancel.")
    if status not in ("received", "accepted", "rejected"):
        raise PayloadError("status: must be received, accepted or rejected.")
    reason = str(payload.get("reason") or "")[:500]
    release = _release_named(message, number)
    order = lock_order(release.shipment.order_id)
    release = PartnerRelease.objects.select_for_update(of=("self",)).select_related("shipment").get(pk=release.pk)
    now = timezone.now()
    asked = (
        PartnerMessage.objects.select_for_update()
        .filter(release=release, direction=Direction.OUT, kind=of)
        .order_by("-pk")
        .first()
    )
    if asked is not None and (status != "received" or asked.status == MessageStatus.SENT):
        asked.status = {
            "received": MessageStatus.ACKNOWLEDGED,
            "accepted": MessageStatus.ACCEPTED,
            "rejected": MessageStatus.REJECTED,
        }[status]
        asked.outcome = reason or f"The partner answered {status}."
        asked.save(update_fields=["status", "outcome", "updated_at"])
    if release.acknowledged_at is None:
        release.acknowledged_at = now
        release.overdue = False
    if payload.get("partner_reference"):
        release.partner_reference = str(payload["partner_reference"])[:100]
    said = f"{release}: {of} {status}" + (f" ({reason})" if reason else "")
    if of == MessageKind.RELEASE and release.state in (ReleaseState.RELEASED, ReleaseState.ACKNOWLEDGED):
        release.state = {
            "received": ReleaseState.ACKNOWLEDGED,
            "accepted": ReleaseState.ACCEPTED,
            "rejected": ReleaseState.REJECTED,
        }[status]
    elif of == MessageKind.CANCEL and release.state == ReleaseState.CANCEL_REQUESTED and status != "received":
        # rejected: the partner has shipped it or will; its confirmation is applied (a hold's cancel) or an exception
        release.state = ReleaseState.CANCELLED if status == "accepted" else ReleaseState.ACCEPTED
    elif of == MessageKind.CHANGE and status == "accepted" and release.state in OPEN_RELEASE_STATES:
        release.state = ReleaseState.ACCEPTED
    if status == "rejected" or reason:
        release.note = said
    release.save()
    logger.info("3PL %s, order %s: %s", message.connection.code, order, said)
    return said, None


def apply_ship_confirmation(message: PartnerMessage):
    """The partner shipped a release, in one or more packages: ship it here exactly as our own warehouses do.

    Units not in any package are short: with PARTNER_SHORT_SHIPMENT "reroute" they leave the 3PL's stock
    (it has not got them) and are routed again; with "backorder" they stay reserved there and are released
    again as a new shipment.
    """
    connection = message.connection
    payload = message.payload
    number = _text(payload, "release")
    shipped_at = _when(payload, "shipped_at")
    packages = _list(payload, "packages")
    tracking_numbers, carriers, by_partner_sku = [], set(), defaultdict(int)
    for index, package in enumerate(packages):
        where = f"packages[{index}]."
        tracking_numbers.append(_text(package, "tracking_number", where))
        carriers.add(str(package.get("carrier") or ""))
        for position, line in enumerate(_list(package, "lines", where)):
            line_at = f"{where}lines[{position}]."
            by_partner_sku[_text(line, "sku", line_at)] += _quantity(line, "quantity", line_at, allow_zero=False)
    products = _products_by_partner_sku(connection, set(by_partner_sku))
    release = _release_named(message, number)
    order = lock_order(release.shipment.order_id)
    shipment = shipping.lock_shipment(release.shipment_id)
    release = PartnerRelease.objects.select_for_update(of=("self",)).get(pk=release.pk)
    # checked under the locks: a cancel or another confirmation may have got there first
    cancelled = shipment.status == ShipmentStatus.CANCELLED
    # a cancel asked because of a hold, not answered yet or rejected: the goods left, so they are recorded
    held_cancel = release.state == ReleaseState.CANCEL_REQUESTED and _cancel_asked_for_hold(release)
    if (
        cancelled
        or release.state == ReleaseState.CANCELLED
        or (release.state == ReleaseState.CANCEL_REQUESTED and not held_cancel)
    ):
        state = "cancelled here" if cancelled else release.get_state_display().lower()
        raise PartnerError(
            f"{release} was {state}, yet {connection.name} confirms it shipped "
            f"on {shipped_at:%Y-%m-%d %H:%M} (tracking {', '.join(tracking_numbers)}): check with the 3PL "
            "and the customer; nothing was applied."
        )
    if release.state == ReleaseState.SHIPPED:
        raise PartnerError(f"{release} was confirmed shipped already; this second confirmation was not applied.")
    lines = list(shipment.lines.order_by("pk"))
    by_product: dict[int, int] = defaultdict(int)
    for partner_sku, quantity in by_partner_sku.items():
        by_product[products[partner_sku].pk] += quantity
    shipped: dict[int, int] = {}
    for line in lines:  # the units of each product go to the shipment's lines of it, in order
        take = min(line.quantity, by_product.get(line.product_id, 0))
        if take:
            shipped[line.order_line_id] = take
            by_product[line.product_id] -= take
    extra = {p: q for p, q in by_product.items() if q}
    if extra:
        skus = ", ".join(Product.objects.get(pk=p).sku for p in sorted(extra))
        raise PayloadError(f"packages: more units of {skus} than release {number} holds.")
    short = {line.order_line_id: line.quantity - shipped.get(line.order_line_id, 0) for line in lines}
    short = {line_id: units for line_id, units in short.items() if units}
    short_products = {line.order_line_id: line.product_id for line in lines}
    actor = f"3PL: {connection.name}"
    order_hold, holds = _lift_holds_the_goods_left(order, shipment, connection, actor=actor)
    shipping.record_partner_labels(shipment=shipment, tracking_numbers=tracking_numbers, quantities=shipped)
    capture = ship_locked_shipment(order, shipment, actor=actor, now=shipped_at)
    if holds:
        _flag_shipped_while_held(
            order, shipment, connection, holds=holds, order_hold=order_hold, tracking=tracking_numbers, at=shipped_at
        )
    if short:
        _handle_short(order, shipment, connection, short, short_products)
    release.state = ReleaseState.SHIPPED
    release.shipped_at = shipped_at
    if release.acknowledged_at is None:
        release.acknowledged_at = timezone.now()
        release.overdue = False
    release.save()
    units = sum(shipped.values())
    by = ", ".join(sorted(c for c in carriers if c)) or "the 3PL's carrier"
    said = (
        f"{shipment} shipped by {by}: {units} units in {len(tracking_numbers)} packages ({', '.join(tracking_numbers)})"
    )
    if short:
        said += f"; {sum(short.values())} units short, {settings.PARTNER_SHORT_SHIPMENT}"
    if holds:
        said += "; it was on hold: recorded as shipped (the goods left) and flagged for ops"
        release.note = said
        release.save(update_fields=["note", "updated_at"])
    return said, capture


def _cancel_asked_for_hold(release: PartnerRelease) -> bool:
    latest = (
        PartnerMessage.objects.filter(release=release, direction=Direction.OUT, kind=MessageKind.CANCEL)
        .order_by("-pk")
        .values_list("key", flat=True)
        .first()
    )
    return bool(latest) and HOLD_CANCEL_KEY in latest


def _lift_holds_the_goods_left(order, shipment: Shipment, connection: PartnerConnection, *, actor):
    """The 3PL shipped a shipment that is (or whose order is) on hold: the hold cannot stop goods that left.

    The shipment's hold is closed; an order on hold is released to where it was held from so that it can ship,
    and its hold is kept on its other unshipped shipments (a shipment hold of the same type and reason). Returns
    the order's hold (or None) and every hold lifted, for ops to see.
    """
    note = f"{connection.name} shipped {shipment} before the hold could stop it"
    holds = []
    shipment_hold = open_shipment_hold(shipment.pk)
    if shipment_hold is not None:
        events.close_shipment_hold(order, shipment=shipment, hold=shipment_hold, note=note, actor=actor)
        holds.append(shipment_hold)
    order_hold = None
    if order.status == OrderStatus.ON_HOLD:
        order_hold = open_order_hold(order)
        events.order_released(order, to_status=order.status_beneath_hold, note=note, actor=actor)
        if order_hold is not None:
            holds.append(order_hold)
    return order_hold, holds


def _flag_shipped_while_held(
    order, shipment: Shipment, connection: PartnerConnection, *, holds, order_hold, tracking: list[str], at
) -> None:
    """Say on the timeline that held goods left, keep an order's hold on what has not, and alert ops."""
    actor = f"3PL: {connection.name}"
    events.shipped_while_held(order, shipment=shipment, partner=connection.name, holds=holds, actor=actor)
    if order_hold is not None:
        others = (
            Shipment.objects.select_for_update(of=("self",))
            .filter(order_id=order.pk, status__in=UNSHIPPED_STATUSES)
            .exclude(Exists(Hold.objects.filter(shipment_id=OuterRef("pk"), released_at__isnull=True)))
            .order_by("pk")
        )
        for other in others:
            events.open_shipment_hold(
                order,
                shipment=other,
                hold_type=order_hold.hold_type,
                reason=f"{order_hold.reason} (the order's hold, kept on its shipments after {shipment} left)",
                actor=actor,
            )
            stop_partner_release(order, other, reason=f"Shipment {other} put on hold: {order_hold.reason}", actor=actor)
    notify.shipment_exception(
        order,
        shipment=shipment.number,
        tracking_number=tracking[0],
        description=(
            f"{connection.name} shipped it while it was on hold "
            f"({', '.join(hold.get_hold_type_display().lower() for hold in holds)}): the goods have left"
        ),
        location=connection.warehouse.code,
        occurred_at=at,
    )


def _handle_short(order, shipment: Shipment, connection: PartnerConnection, short: dict, products: dict) -> None:
    if settings.PARTNER_SHORT_SHIPMENT == "backorder":
        enqueue(RELEASE_TASK, [order.pk])  # still reserved at the 3PL: released again as a new shipment
        return
    warehouse_id = connection.warehouse_id
    released = inventory.release_units(
        order_id=order.pk, units={(line_id, warehouse_id): q for line_id, q in short.items()}
    )
    for line_id, quantity in sorted(released.items()):  # the order's side of the reservation, as cancelling does
        OrderLine.objects.filter(pk=line_id).update(quantity_allocated=F("quantity_allocated") - quantity)
    for line_id, quantity in sorted(short.items()):
        level = StockLevel.objects.filter(warehouse_id=warehouse_id, product_id=products[line_id]).first()
        removable = min(quantity, level.available if level else 0)
        if removable:
            inventory.adjust_stock(
                warehouse_id=warehouse_id,
                product_id=products[line_id],
                quantity=-removable,
                reason=f"{connection.name} shipped {shipment} {quantity} short: it has not got them",
                actor=f"3PL: {connection.name}",
            )
    # release_units offered the freed units to waiting orders, this one first among them: routed again


def apply_stock_snapshot(message: PartnerMessage):
    """The partner's on-hand per SKU as of a time replaces ours: each difference becomes a ledger movement.

    The difference is taken against our on-hand at the snapshot's time (movements after it are left out).
    At most PARTNER_SNAPSHOT_AUTO_UNITS: adjusted now; more: a cycle count submitted for a manager's
    approval. A snapshot older than one applied already changes nothing.
    """
    payload = message.payload
    as_of = _when(payload, "as_of")
    items = _list(payload, "items")
    reported: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"items[{index}]."
        sku = _text(item, "sku", where)
        if sku in reported:
            raise PayloadError(f"{where}sku: {sku} is listed twice.")
        reported[sku] = _quantity(item, "on_hand", where)
    connection = PartnerConnection.objects.select_for_update().get(pk=message.connection_id)
    if connection.last_snapshot_as_of is not None and as_of <= connection.last_snapshot_as_of:
        return (
            f"Older than the snapshot applied already (as of {connection.last_snapshot_as_of:%Y-%m-%d %H:%M:%S}): "
            "ignored.",
            None,
        )
    products = _products_by_partner_sku(connection, set(reported))
    warehouse_id = connection.warehouse_id
    actor = f"3PL: {connection.name}"
    since = dict(
        StockMovement.objects.filter(warehouse_id=warehouse_id, product__in=products.values(), created_at__gt=as_of)
        .values("product_id")
        .annotate(units=Sum("quantity"))
        .values_list("product_id", "units")
    )
    levels = {
        level.product_id: level
        for level in StockLevel.objects.filter(warehouse_id=warehouse_id, product__in=products.values())
    }
    adjusted, to_count = [], {}
    found = StockSnapshot(connection=connection, message=message, as_of=as_of, skus=len(reported))
    for partner_sku, on_hand in sorted(reported.items()):
        product = products[partner_sku]
        ours = levels[product.pk].on_hand if product.pk in levels else 0
        expected = ours - since.get(product.pk, 0)
        variance = on_hand - expected
        if not variance:
            continue
        found.skus_differing += 1
        found.units_over += max(variance, 0)
        found.units_short += max(-variance, 0)
        found.value_difference += (product.unit_cost * abs(variance)).quantize(CENT)
        level = levels.get(product.pk)
        fits = variance > 0 or (level is not None and level.available >= -variance)
        if abs(variance) <= settings.PARTNER_SNAPSHOT_AUTO_UNITS and fits:
            inventory.adjust_stock(
                warehouse_id=warehouse_id,
                product_id=product.pk,
                quantity=variance,
                reason=f"{connection.name} stock snapshot as of {as_of:%Y-%m-%d %H:%M:%S}: it counts {on_hand}, "
                f"we had {expected}",
                actor=actor,
            )
            adjusted.append(f"{product.sku} {variance:+d}")
            found.units_adjusted += abs(variance)
        else:
            to_count[product.pk] = (product.sku, max(ours + variance, 0), variance)
    said = [f"Snapshot as of {as_of:%Y-%m-%d %H:%M:%S}, {len(reported)} SKUs"]
    said.append(f"adjusted {', '.join(adjusted)}" if adjusted else "no adjustment")
    if to_count:
        count = inventory.start_cycle_count(
            warehouse_id=warehouse_id,
            product_ids=sorted(to_count),
            actor=actor,
            note=f"{connection.name} snapshot {as_of:%Y-%m-%d %H:%M}"[:200],
        )
        line_ids = dict(count.lines.values_list("product_id", "pk"))
        inventory.record_counts(
            count_id=count.pk, counted={line_ids[pk]: counted for pk, (_, counted, _) in to_count.items()}, actor=actor
        )
        inventory.submit_cycle_count(count_id=count.pk, actor=actor)
        waits = ", ".join(f"{sku} {variance:+d}" for sku, _, variance in to_count.values())
        said.append(f"{count} waits for a manager's approval: {waits}")
        found.cycle_count = count
        found.skus_waiting = len(to_count)
        found.units_waiting = sum(abs(variance) for _, _, variance in to_count.values())
    found.applied_at = timezone.now()
    found.save()
    connection.last_snapshot_as_of = as_of
    connection.save(update_fields=["last_snapshot_as_of"])
    return "; ".join(said), None


def apply_receipt(message: PartnerMessage):
    """Stock arrived at the 3PL (an ASN received): received through the ledger; waiting backorders fill.

    A receipt whose reference this connection applied already (the 3PL sent it again under a new message id, a
    file dropped twice under another name) is recorded as a duplicate and applies nothing.
    """
    payload = message.payload
    reference = _text(payload, "receipt")
    lines = _list(payload, "lines")
    by_sku: dict[str, int] = defaultdict(int)
    for index, line in enumerate(lines):
        where = f"lines[{index}]."
        by_sku[_text(line, "sku", where)] += _quantity(line, "quantity", where, allow_zero=False)
    # the connection's row serialises its receipts: a second copy waits here until the first has committed
    connection = PartnerConnection.objects.select_for_update().select_related("warehouse").get(pk=message.connection_id)
    applied = _applied_before(message, connection, MessageKind.RECEIPT, reference)
    if applied is not None:
        return f"Duplicate of receipt {reference}, applied already by message {applied.key}: nothing applied.", None
    products = _products_by_partner_sku(connection, set(by_sku))
    for partner_sku, quantity in sorted(by_sku.items()):
        inventory.receive_stock(
            warehouse_id=connection.warehouse_id,
            product_id=products[partner_sku].pk,
            quantity=quantity,
            actor=f"3PL: {connection.name}",
            reference=f"{connection.code} receipt {reference}"[:100],
            reason=f"Received by {connection.name}",
        )
    received = ", ".join(f"{products[s].sku} +{q}" for s, q in sorted(by_sku.items()))
    return f"Receipt {reference}: {received}", None


RESTOCK, DAMAGED = "restock", "damaged"
DISPOSITIONS = (RESTOCK, DAMAGED)


def apply_return_receipt(message: PartnerMessage):
    """A customer's return arrived at the 3PL: the RMA is received there, as an associate's receive does.

    Lines are matched to the return's by SKU. With a disposition on every line the 3PL graded the goods too:
    ``restock`` units go back on sale through the ledger into the 3PL's warehouse, ``damaged`` ones come back
    and are written off with the reason (the return is then inspected, ready for its refund). Without
    dispositions the return is received and the returns desk inspects it. An unknown RMA, or one that is not
    authorised (rejected, received already, not yet authorised), is an exception for ops with nothing applied;
    the same receipt again under another message id is a duplicate and applies nothing.
    """
    connection = message.connection
    payload = message.payload
    number = _text(payload, "rma")
    reference = _text(payload, "receipt")
    wanted: dict[tuple[str, str], int] = defaultdict(int)  # (partner SKU, disposition) → units
    reasons: dict[str, list[str]] = defaultdict(list)
    graded = []
    for index, line in enumerate(_list(payload, "lines")):
        where = f"lines[{index}]."
        sku = _text(line, "sku", where)
        disposition = str(line.get("disposition") or "").strip().lower()
        if disposition and disposition not in DISPOSITIONS:
            raise PayloadError(f"{where}disposition: must be {' or '.join(DISPOSITIONS)}, not {disposition[:40]!r}.")
        graded.append(bool(disposition))
        wanted[(sku, disposition)] += _quantity(line, "quantity", where, allow_zero=False)
        if disposition == DAMAGED and str(line.get("reason") or "").strip():
            reasons[sku].append(str(line["reason"]).strip()[:100])
    if any(graded) and not all(graded):
        raise PayloadError("lines: give a disposition (restock or damaged) on every line, or on none.")
    found = ReturnRequest.objects.filter(number=number).values_list("pk", flat=True).first()
    if found is None:
        raise PayloadError(
            f"rma: no return {number!r}; {connection.name} received goods for it (receipt {reference}): "
            "check the number with the 3PL, nothing was applied."
        )
    rma = lock_return(found)
    applied = _applied_before(message, connection, MessageKind.RETURN_RECEIPT, reference)
    if applied is not None:
        return (
            f"Duplicate of return receipt {reference}, applied already by message {applied.key}: nothing applied.",
            None,
        )
    products = _products_by_partner_sku(connection, {sku for sku, _ in wanted})
    lines = list(rma.lines.order_by("pk"))
    room = {line.pk: line.quantity for line in lines}
    received: dict[int, int] = defaultdict(int)
    graded_units: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (partner_sku, disposition), units in sorted(wanted.items()):
        product = products[partner_sku]
        mine = [line for line in lines if line.product_id == product.pk]
        if not mine:
            raise PayloadError(f"lines: {product.sku} is not in return {rma}; nothing was applied.")
        for line in mine:  # the units of a SKU fill the return's lines of it, in order
            take = min(units, room[line.pk])
            room[line.pk] -= take
            received[line.pk] += take
            graded_units[line.pk][disposition] += take
            units -= take
        if units:
            asked = sum(line.quantity for line in mine)
            raise PayloadError(
                f"lines: {connection.name} received more {product.sku} than return {rma} asks for ({asked}); "
                "nothing was applied."
            )
    actor = f"3PL: {connection.name}"
    try:
        receive_locked_return(rma, quantities=dict(received), warehouse_id=connection.warehouse_id, actor=actor)
        if all(graded):
            results = {}
            for line in lines:
                units = graded_units.get(line.pk, {})
                said = [
                    text
                    for partner_sku, texts in reasons.items()
                    if products[partner_sku] == line.product
                    for text in texts
                ]
                reason = "; ".join(said) or f"damaged, as {connection.name} graded it"
                results[line.pk] = Inspection(
                    restock=units.get(RESTOCK, 0), write_off=units.get(DAMAGED, 0), reason=reason
                )
            inspect_locked_return(rma, results=results, actor=actor)
    except ReturnError as refusal:
        raise PartnerError(
            f"{connection.name}'s return receipt {reference}: {refusal} Nothing was applied; check the return "
            "with the 3PL, then apply the message again or receive the return by hand."
        ) from refusal
    said = [f"Return {rma} received at {connection.warehouse.code} (receipt {reference})"]
    by_disposition = defaultdict(list)
    for (partner_sku, disposition), units in sorted(wanted.items()):
        by_disposition[disposition].append(f"{products[partner_sku].sku} {units}")
    if all(graded):
        for disposition in DISPOSITIONS:
            if by_disposition[disposition]:
                done = "restocked" if disposition == RESTOCK else "written off as damaged"
                said.append(f"{done}: {', '.join(by_disposition[disposition])}")
    else:
        said.append(f"{', '.join(by_disposition[''])}; waits for inspection")
    missing = sum(room.values())
    if missing:
        said.append(f"{missing} unit{'' if missing == 1 else 's'} asked for did not arrive")
    return "; ".join(said), None


HANDLERS = {
    MessageKind.ACK: apply_ack,
    MessageKind.SHIP_CONFIRMATION: apply_ship_confirmation,
    MessageKind.STOCK_SNAPSHOT: apply_stock_snapshot,
    MessageKind.RECEIPT: apply_receipt,
    MessageKind.RETURN_RECEIPT: apply_return_receipt,
}
