"""The 3PL conformance kit: one set of scenarios every transport must pass against a real peer.

A transport's test module builds a ``Harness`` for its peer (the REST simulator over HTTP here; a file-drop
peer later) and runs every scenario of ``SCENARIOS`` with it. A scenario speaks only through the harness:
the OMS's services on one side, the peer's behaviour (ship short, refuse cancels, be down, lose an answer)
and its messages on the other, so the same story holds whatever carries the messages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from django.core import mail
from django.utils import timezone

from inventory.models import Allocation, CycleCount, StockLevel, StockMovement
from orders import services as workflow
from orders.models import OrderStatus
from orders.partners import services
from orders.partners.models import (
    Direction,
    MessageKind,
    MessageStatus,
    PartnerConnection,
    PartnerMessage,
    PartnerRelease,
    ReleaseState,
)
from orders.partners.outbox import queue_message
from orders.returns import services as returns
from orders.returns.models import ReturnStatus
from shipping.models import CarrierService, ShipmentStatus


class Peer(Protocol):
    """What a scenario may ask of the 3PL on the other side."""

    short: dict  # partner item code -> units it ships short
    reject_cancels: bool
    refuse_changes: bool
    drop_answers: int  # answers lost after the message was taken

    def received(self, kind: str) -> list[dict]: ...  # payloads it took, once each, in order
    def times_seen(self, message_id: str) -> int: ...
    def snapshot(self, *, as_of: dt.datetime, stock: dict[str, int]) -> dict: ...
    def receive_return(self, rma: str, lines: list[dict], *, receipt: str = "") -> dict: ...
    def say(self, kind: str, payload, message_id: str = "") -> dict: ...
    def down(self) -> None: ...
    def up(self) -> None: ...


@dataclass
class Harness:
    """The OMS and one transport's peer, with the world the scenarios stock and order in."""

    connection: PartnerConnection
    peer: Peer
    pump: callable  # the peer ships what is due and delivers everything it has to say; returns its statuses
    products: list
    sites: dict
    stock: callable
    routed: callable
    refusal: str = "422"  # what the transport's refusal of a message as it is says (REST: the HTTP status)

    def send_due(self, *, later: dt.timedelta = dt.timedelta(hours=2)) -> int:
        """The beat's sweep, as if ``later`` had passed: retries whose wait is over are sent."""
        return services.send_due_messages(now=timezone.now() + later)


def _release(order) -> PartnerRelease:
    return PartnerRelease.objects.select_related("shipment").get(shipment__order=order)


def _out(kind: str, release: PartnerRelease | None = None):
    messages = PartnerMessage.objects.filter(direction=Direction.OUT, kind=kind)
    return messages.filter(release=release) if release is not None else messages


def _dal_on_hand(h: Harness, product) -> int:
    return StockLevel.objects.get(warehouse=h.sites["DAL"], product=product).on_hand


# --- the scenarios --------------------------------------------------------------------------------------------


def release(h: Harness) -> None:
    """Routed to the 3PL's warehouse: released once (our SKUs and service mapped), shipped, ledger, email."""
    a = h.products[0]
    h.stock(h.sites["DAL"], a, 5)
    order = h.routed([(a, 2)])

    rel = _release(order)
    assert rel.state == ReleaseState.RELEASED
    assert _out(MessageKind.RELEASE, rel).get().status == MessageStatus.SENT
    (sent,) = h.peer.received("release")
    assert sent["release"] == rel.shipment.number
    assert sent["lines"] == [{"line": rel.shipment.lines.get().pk, "sku": "ACME-A", "name": a.name, "quantity": 2}]
    service = rel.shipment.service
    assert sent["service_level"] == h.connection.service_levels[f"{service.vendor.code}/{service.code}"]
    assert sent["ship_to"]["postal_code"] == "75201"

    statuses = h.pump()

    assert all(status in (200, 202) for status in statuses)
    rel.refresh_from_db()
    assert rel.state == ReleaseState.SHIPPED and rel.acknowledged_at is not None
    shipment = rel.shipment
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    (tracking,) = shipment.parcels.values_list("tracking_number", flat=True)
    assert tracking.startswith("SIM")
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    assert _dal_on_hand(h, a) == 3
    assert StockMovement.objects.filter(warehouse=h.sites["DAL"], kind="shipment").get().quantity == -2
    assert _out(MessageKind.RELEASE, rel).get().status == MessageStatus.ACCEPTED
    from notifications.models import Message

    shipped = Message.objects.filter(order=order, event="order_shipped")
    assert shipped.count() == 1
    assert any(tracking in email.body for email in mail.outbox)


def change(h: Harness) -> None:
    """A carrier changed on a released shipment goes to the peer as the next version, which it accepts; it rejects
    a later one."""
    a = h.products[0]
    h.stock(h.sites["DAL"], a, 5)
    order = h.routed([(a, 1)])
    rel = _release(order)
    h.pump(ship=False)

    overnight = CarrierService.objects.get(code="OVERNIGHT")
    workflow.override_carrier(
        shipment_id=rel.shipment_id, service_id=overnight.pk, reason="Customer paid for overnight", actor="test"
    )
    h.pump(ship=False)

    rel.refresh_from_db()
    assert rel.version == 2 and rel.state == ReleaseState.ACCEPTED
    assert _out(MessageKind.CHANGE, rel).get(key=f"change:{rel.shipment.number}:v2").status == MessageStatus.ACCEPTED
    (changed,) = h.peer.received("change")
    assert changed["version"] == 2 and changed["service_level"] == "NXT"
    assert "Customer paid for overnight" in changed["reason"]

    h.peer.refuse_changes = True
    services.request_change(release_id=rel.pk, reason="Another change", actor="test")
    h.pump(ship=False)

    refused = _out(MessageKind.CHANGE, rel).get(key=f"change:{rel.shipment.number}:v3")
    assert refused.status == MessageStatus.REJECTED
    rel.refresh_from_db()
    assert "change rejected" in rel.note and "already picked" in rel.note


def cancel(h: Harness) -> None:
    """Cancelling the order asks the 3PL: accepted, it never ships; rejected, its confirmation is an exception."""
    a = h.products[0]
    h.stock(h.sites["DAL"], a, 5)
    order = h.routed([(a, 1)])
    rel = _release(order)
    h.pump(ship=False)

    workflow.cancel_order(order_id=order.pk, reason="Customer changed their mind", actor="test")
    h.pump()

    rel.refresh_from_db()
    assert rel.state == ReleaseState.CANCELLED
    assert _out(MessageKind.CANCEL, rel).get().status == MessageStatus.ACCEPTED
    assert not PartnerMessage.objects.filter(kind=MessageKind.SHIP_CONFIRMATION).exists()

    h.peer.reject_cancels = True
    other = h.routed([(a, 1)])
    late = _release(other)
    h.pump(ship=False)
    workflow.cancel_order(order_id=other.pk, reason="Too late", actor="test")
    on_hand = _dal_on_hand(h, a)
    h.pump()

    assert _out(MessageKind.CANCEL, late).get().status == MessageStatus.REJECTED
    confirmation = PartnerMessage.objects.get(direction=Direction.IN, kind=MessageKind.SHIP_CONFIRMATION)
    assert confirmation.status == MessageStatus.EXCEPTION
    assert "cancelled" in confirmation.last_error and "nothing was applied" in confirmation.last_error
    assert _dal_on_hand(h, a) == on_hand  # nothing left the ledger


def short_ship(h: Harness) -> None:
    """Shipped one short: the shipment ships what left, the missing unit leaves the 3PL and is routed again."""
    a = h.products[0]
    h.stock(h.sites["DAL"], a, 3)
    h.stock(h.sites["EWR"], a, 5)
    order = h.routed([(a, 3)])
    assert set(Allocation.objects.filter(order=order).values_list("warehouse__code", flat=True)) == {"DAL"}
    h.peer.short = {"ACME-A": 1}

    h.pump()

    rel = _release(order)
    assert rel.state == ReleaseState.SHIPPED
    assert rel.shipment.lines.get().quantity == 2
    order.refresh_from_db()
    line = order.lines.get()
    assert line.quantity_shipped == 2
    assert order.status == OrderStatus.PARTIALLY_SHIPPED
    assert _dal_on_hand(h, a) == 0  # 2 shipped, 1 the 3PL has not got
    assert StockMovement.objects.filter(warehouse=h.sites["DAL"], kind="adjustment", quantity=-1).exists()
    rerouted = Allocation.objects.get(order=order)
    assert rerouted.warehouse.code == "EWR" and rerouted.quantity == 1


def duplicate_confirmation(h: Harness) -> None:
    """The same confirmation twice changes nothing; another id for a release shipped already is an exception."""
    a = h.products[0]
    h.stock(h.sites["DAL"], a, 5)
    order = h.routed([(a, 2)])
    h.pump()
    confirmation = PartnerMessage.objects.get(direction=Direction.IN, kind=MessageKind.SHIP_CONFIRMATION)
    movements = StockMovement.objects.count()

    h.peer.say(MessageKind.SHIP_CONFIRMATION, confirmation.payload, message_id=confirmation.key)
    assert h.pump() == [200]
    h.peer.say(MessageKind.SHIP_CONFIRMATION, confirmation.payload, message_id=confirmation.key + "-again")
    assert h.pump() == [202]

    assert StockMovement.objects.count() == movements
    assert PartnerMessage.objects.filter(direction=Direction.IN, key=confirmation.key).count() == 1
    again = PartnerMessage.objects.get(direction=Direction.IN, key=confirmation.key + "-again")
    assert again.status == MessageStatus.EXCEPTION and "already" in again.last_error
    order.refresh_from_db()
    assert order.lines.get().quantity_shipped == 2


def out_of_order_snapshot(h: Harness) -> None:
    """A newer snapshot applies (small difference at once, a large one waits for a manager); an older never does."""
    a, b = h.products[:2]
    h.stock(h.sites["DAL"], a, 5)
    h.stock(h.sites["DAL"], b, 5)
    now = timezone.now().replace(microsecond=0) + dt.timedelta(seconds=1)  # snapshots count whole seconds

    h.peer.snapshot(as_of=now, stock={"ACME-A": 7, b.sku: 20})
    h.peer.snapshot(as_of=now - dt.timedelta(hours=1), stock={"ACME-A": 1, b.sku: 0})
    h.pump()

    newer, older = PartnerMessage.objects.filter(kind=MessageKind.STOCK_SNAPSHOT).order_by("pk")
    assert newer.status == older.status == MessageStatus.APPLIED
    assert "ignored" in older.outcome.lower()
    assert _dal_on_hand(h, a) == 7  # +2: within the automatic limit
    movement = StockMovement.objects.get(warehouse=h.sites["DAL"], product=a, kind="adjustment")
    assert movement.quantity == 2 and "snapshot" in movement.reason
    assert _dal_on_hand(h, b) == 5  # +15 waits for a manager
    count = CycleCount.objects.get(warehouse=h.sites["DAL"])
    assert count.status == CycleCount.Status.SUBMITTED
    assert count.lines.get().counted_quantity == 20
    h.connection.refresh_from_db()
    assert abs((h.connection.last_snapshot_as_of - now).total_seconds()) < 1


def poison_message(h: Harness) -> None:
    """A malformed confirmation is an exception with nothing applied; a message the peer refuses is dead, then
    fixed and resent."""
    a = h.products[0]
    h.stock(h.sites["DAL"], a, 5)
    order = h.routed([(a, 2)])
    rel = _release(order)
    number = rel.shipment.number
    h.peer.say(
        MessageKind.SHIP_CONFIRMATION,
        {
            "release": number,
            "shipped_at": timezone.now().isoformat(),
            "packages": [
                {"tracking_number": "POISON-1", "lines": [{"sku": "ACME-A", "quantity": 1}]},
                {"tracking_number": "POISON-2", "lines": [{"sku": "ACME-A", "quantity": "one"}]},
            ],
        },
    )
    h.pump(ship=False)

    poison = PartnerMessage.objects.get(direction=Direction.IN, kind=MessageKind.SHIP_CONFIRMATION)
    assert poison.status == MessageStatus.EXCEPTION
    assert "packages[1].lines[0].quantity" in poison.last_error
    rel.shipment.refresh_from_db()
    assert rel.shipment.status == ShipmentStatus.AWAITING_LABEL
    assert not rel.shipment.parcels.filter(tracking_number__startswith="POISON").exists()
    assert _dal_on_hand(h, a) == 5

    bad, _ = queue_message(h.connection, kind=MessageKind.ITEM_SYNC, key="item:broken", payload={"name": "no sku"})
    bad.refresh_from_db()
    assert bad.status == MessageStatus.DEAD and h.refusal in bad.last_error
    services.edit_message_payload(
        message_id=bad.pk, payload={"sku": "ACME-A", "name": a.name}, reason="sku was missing", actor="test"
    )
    services.resend_message(message_id=bad.pk, actor="test")
    bad.refresh_from_db()
    assert bad.status == MessageStatus.SENT
    assert h.peer.received("item_sync")[-1] == {"sku": "ACME-A", "name": a.name}
    assert h.peer.times_seen("item:broken") == 1


def peer_down_then_up(h: Harness) -> None:
    """The peer down: releases wait and retry with backoff; up again, each goes through once, a lost answer too."""
    a = h.products[0]
    h.stock(h.sites["DAL"], a, 5)
    h.peer.down()
    order = h.routed([(a, 1)])
    message = _out(MessageKind.RELEASE, _release(order)).get()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.attempts == 1
    assert message.next_attempt_at > timezone.now()
    h.send_due()
    message.refresh_from_db()
    assert message.attempts == 2 and message.status == MessageStatus.FAILED
    h.connection.refresh_from_db()
    assert h.connection.last_error

    h.peer.up()
    h.peer.drop_answers = 1  # it takes the release, and the answer is lost on the way back
    h.send_due()
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.attempts == 3
    h.send_due(later=dt.timedelta(hours=6))
    message.refresh_from_db()

    assert message.status == MessageStatus.SENT
    assert h.peer.times_seen(message.key) == 2  # the retry was a duplicate to it
    assert len(h.peer.received("release")) == 1
    h.pump()
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED


def return_receipt(h: Harness) -> None:
    """A customer's return arrives at the 3PL: its return receipt receives the RMA there and restocks or writes off
    each unit as graded, once; a receipt for an RMA the OMS does not know is an exception with nothing applied."""
    a = h.products[0]
    h.stock(h.sites["DAL"], a, 5)
    order = h.routed([(a, 2)])
    h.pump()
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    rma = returns.open_return(order_id=order.pk, lines={order.lines.get().pk: 2}, reason="other", actor="test")
    returns.authorise_return(rma_id=rma.pk, warehouse_id=h.sites["DAL"].pk, actor="test")
    rma.refresh_from_db()
    on_hand = _dal_on_hand(h, a)

    h.peer.receive_return(
        rma.number,
        [
            {"sku": "ACME-A", "quantity": 1, "disposition": "restock"},
            {"sku": "ACME-A", "quantity": 1, "disposition": "damaged", "reason": "crushed box"},
        ],
    )
    h.pump(ship=False)

    message = PartnerMessage.objects.get(direction=Direction.IN, kind=MessageKind.RETURN_RECEIPT)
    assert message.status == MessageStatus.APPLIED, message.last_error
    assert message.payload["rma"] == rma.number
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.INSPECTED and rma.warehouse == h.sites["DAL"]
    line = rma.lines.get()
    assert (line.quantity_received, line.quantity_restocked, line.quantity_written_off) == (2, 1, 1)
    assert line.write_off_reason == "crushed box"
    assert _dal_on_hand(h, a) == on_hand + 1
    movements = StockMovement.objects.count()

    h.peer.say(MessageKind.RETURN_RECEIPT, message.payload, message_id=message.key)  # the same message again
    h.peer.receive_return("RMA-9999999", [{"sku": "ACME-A", "quantity": 1}])
    h.pump(ship=False)

    assert PartnerMessage.objects.filter(direction=Direction.IN, key=message.key).count() == 1
    assert StockMovement.objects.count() == movements
    unknown = PartnerMessage.objects.get(direction=Direction.IN, payload__rma="RMA-9999999")
    assert unknown.kind == MessageKind.RETURN_RECEIPT and unknown.status == MessageStatus.EXCEPTION
    assert "no return 'RMA-9999999'" in unknown.last_error


SCENARIOS = [
    release,
    change,
    cancel,
    short_ship,
    duplicate_confirmation,
    out_of_order_snapshot,
    poison_message,
    peer_down_then_up,
    return_receipt,
]
