"""Holds and 3PLs: a held shipment or order is not released to the 3PL, a hold asks the 3PL to cancel what it was
sent, the release goes again once the hold is off, and goods the 3PL shipped while held are recorded and flagged."""

import pytest
from django.utils import timezone

from notifications.models import Message
from orders import services as workflow
from orders.exceptions import ShipmentChangeRefused
from orders.models import Hold, OrderEvent, OrderStatus
from orders.partners import services
from orders.partners.exceptions import PartnerError
from orders.partners.models import Direction, MessageKind, MessageStatus, PartnerMessage, ReleaseState
from shipping.models import ShipmentStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def associate(db):
    return UserFactory(username="sam", role="Operations associate")


@pytest.fixture
def manager(db):
    return UserFactory(username="olga", role="Operations manager")


def inbound(connection, message_id: str, kind: str, payload: dict) -> PartnerMessage:
    """A message from the 3PL, recorded and applied as the webhook does."""
    message, _ = services.receive_message(connection=connection, message_id=message_id, kind=kind, payload=payload)
    services.process_message(message_id=message.pk)
    message.refresh_from_db()
    return message


def answer_cancel(connection, shipment, status: str, message_id: str) -> PartnerMessage:
    payload = {"release": shipment.number, "of": "cancel", "status": status}
    if status == "rejected":
        payload["reason"] = "already shipped"
    return inbound(connection, message_id, MessageKind.ACK, payload)


def confirm_shipped(connection, shipment, message_id: str = "ship-1") -> PartnerMessage:
    return inbound(
        connection,
        message_id,
        MessageKind.SHIP_CONFIRMATION,
        {
            "release": shipment.number,
            "shipped_at": timezone.now().isoformat(),
            "packages": [
                {"tracking_number": "1ZACME0001", "carrier": "UPS", "lines": [{"sku": "ACME-A", "quantity": 1}]}
            ],
        },
    )


def sent(release, kind: str) -> list[str]:
    return list(
        PartnerMessage.objects.filter(release=release, direction=Direction.OUT, kind=kind)
        .order_by("pk")
        .values_list("key", flat=True)
    )


# --- a held shipment is not sent to the 3PL --------------------------------------------------------------------
def test_a_held_shipment_cannot_be_moved_into_a_3pl_s_warehouse(connection, stock, products, routed, sites, associate):
    stock(sites["EWR"], products[0], 5)
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)], city="NYC")
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")
    assert shipment.warehouse == sites["EWR"]
    workflow.hold_shipment(shipment_id=shipment.pk, hold_type="fraud_review", reason="Card flagged", actor=associate)

    with pytest.raises(ShipmentChangeRefused, match="fraud review hold and DAL is run by a 3PL"):
        workflow.move_shipment(shipment_id=shipment.pk, warehouse_id=sites["DAL"].pk, reason="closer", actor=associate)

    shipment.refresh_from_db()
    assert shipment.warehouse == sites["EWR"]
    assert services.release_waiting_shipments(actor="test") == []


def test_a_held_shipment_at_a_3pl_s_warehouse_waits_and_goes_once_its_hold_is_released(
    connection, stock, products, routed, sites, manager, django_capture_on_commit_callbacks
):
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])  # its release task is not run here (no commit)
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test", warehouse_ids={sites["DAL"].pk})
    workflow.hold_shipment(shipment_id=shipment.pk, hold_type="fraud_review", reason="Card flagged", actor=manager)

    assert services.release_waiting_shipments(actor="test") == []
    assert services.release_waiting_orders(actor="test") == []
    with pytest.raises(PartnerError, match="fraud review hold"):
        services.release_shipment(shipment_id=shipment.pk, actor="test")

    with django_capture_on_commit_callbacks(execute=True):  # the release's hook runs the 3PL release task
        workflow.release_shipment(shipment_id=shipment.pk, note="Cleared", actor=manager)

    shipment.refresh_from_db()
    assert shipment.partner_release.state == ReleaseState.RELEASED
    assert sent(shipment.partner_release, MessageKind.RELEASE) == [f"release:{shipment.number}:v1"]


def test_the_shipments_of_an_order_on_hold_wait_and_go_once_the_order_is_released(
    connection, stock, products, routed, sites, django_capture_on_commit_callbacks
):
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test", warehouse_ids={sites["DAL"].pk})
    workflow.hold_order(order_id=order.pk, reason="Address looks wrong", actor="test")

    assert services.release_waiting_shipments(actor="test") == []

    with django_capture_on_commit_callbacks(execute=True):
        workflow.release_order(order_id=order.pk, actor="test")

    shipment.refresh_from_db()
    assert shipment.partner_release.state == ReleaseState.RELEASED


# --- a hold asks the 3PL to cancel what it was sent -------------------------------------------------------------
def test_holding_a_released_shipment_asks_the_3pl_to_cancel_and_sends_it_again_once_released(
    connection, stock, products, routed, sites, manager
):
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")
    release, _ = services.release_shipment(shipment_id=shipment.pk, actor="test")

    workflow.hold_shipment(shipment_id=shipment.pk, hold_type="fraud_review", reason="Card flagged", actor=manager)

    release.refresh_from_db()
    assert release.state == ReleaseState.CANCEL_REQUESTED
    assert sent(release, MessageKind.CANCEL) == [f"cancel:{shipment.number}:hold:v1"]
    entry = OrderEvent.objects.filter(order=order, data__cancel_requested=True).get()
    assert "Asked Acme Fulfilment to cancel the release" in entry.message

    answer_cancel(connection, shipment, "accepted", "ack-1")
    release.refresh_from_db()
    assert release.state == ReleaseState.CANCELLED
    assert services.release_waiting_shipments(actor="test") == []  # still held

    workflow.release_shipment(shipment_id=shipment.pk, note="Cleared", actor=manager)
    (again,) = services.release_waiting_shipments(actor="test")

    assert again.pk == release.pk and again.state == ReleaseState.RELEASED and again.version == 2
    assert sent(release, MessageKind.RELEASE) == [f"release:{shipment.number}:v1", f"release:{shipment.number}:v2"]
    assert services.release_waiting_shipments(actor="test") == []  # sent once

    # held again: a second cancel, for the second version
    workflow.hold_shipment(shipment_id=shipment.pk, hold_type="fraud_review", reason="Flagged again", actor=manager)
    assert sent(release, MessageKind.CANCEL)[-1] == f"cancel:{shipment.number}:hold:v2"


def test_holding_an_order_asks_the_3pl_to_cancel_its_released_shipments(connection, stock, products, routed, sites):
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")
    release, _ = services.release_shipment(shipment_id=shipment.pk, actor="test")

    workflow.hold_order(order_id=order.pk, reason="Card flagged", hold_type="fraud_review", actor="test")

    release.refresh_from_db()
    assert release.state == ReleaseState.CANCEL_REQUESTED
    assert sent(release, MessageKind.CANCEL) == [f"cancel:{shipment.number}:hold:v1"]
    assert OrderEvent.objects.filter(order=order, data__cancel_requested=True).exists()


def test_an_order_cancel_that_the_3pl_contradicts_is_still_an_exception(connection, stock, products, routed, sites):
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")
    services.release_shipment(shipment_id=shipment.pk, actor="test")
    workflow.cancel_order(order_id=order.pk, reason="Customer changed their mind", actor="test")

    message = confirm_shipped(connection, shipment)

    assert message.status == MessageStatus.EXCEPTION and "nothing was applied" in message.last_error


# --- goods the 3PL shipped while held: recorded as shipped, flagged for ops --------------------------------------
@pytest.mark.parametrize("answered", [True, False], ids=["cancel rejected", "cancel unanswered"])
def test_a_held_shipment_the_3pl_shipped_anyway_is_recorded_as_shipped_and_flagged(
    connection, stock, products, routed, sites, manager, settings, answered
):
    settings.OPS_EMAILS = ["ops@example.com"]
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")
    release, _ = services.release_shipment(shipment_id=shipment.pk, actor="test")
    workflow.hold_shipment(shipment_id=shipment.pk, hold_type="fraud_review", reason="Card flagged", actor=manager)
    if answered:
        answer_cancel(connection, shipment, "rejected", "ack-1")
        release.refresh_from_db()
        assert release.state == ReleaseState.ACCEPTED

    message = confirm_shipped(connection, shipment)

    assert message.status == MessageStatus.APPLIED, message.last_error
    assert "flagged for ops" in message.outcome
    shipment.refresh_from_db()
    order.refresh_from_db()
    release.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT and order.status == OrderStatus.SHIPPED
    assert release.state == ReleaseState.SHIPPED and "flagged for ops" in release.note
    assert not Hold.objects.filter(shipment=shipment, released_at__isnull=True).exists()
    assert OrderEvent.objects.filter(order=order, message__contains="while it was on hold (fraud review)").exists()
    alert = Message.objects.get(event="shipment_exception", order=order)
    assert alert.recipient == "ops@example.com"


def test_an_order_on_hold_whose_shipment_the_3pl_shipped_keeps_its_hold_on_the_rest(
    connection, stock, products, routed, sites, settings
):
    settings.OPS_EMAILS = ["ops@example.com"]
    a, b = products[0], products[1]
    stock(sites["DAL"], a, 5)
    stock(sites["EWR"], b, 5)
    order = routed([(a, 1), (b, 1)])
    shipments = workflow.create_shipments(order_id=order.pk, actor="test")
    at_3pl = next(s for s in shipments if s.warehouse == sites["DAL"])
    ours = next(s for s in shipments if s.warehouse == sites["EWR"])
    services.release_shipment(shipment_id=at_3pl.pk, actor="test")
    workflow.hold_order(order_id=order.pk, reason="Card flagged", hold_type="fraud_review", actor="test")

    message = confirm_shipped(connection, at_3pl)

    assert message.status == MessageStatus.APPLIED, message.last_error
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_SHIPPED
    kept = Hold.objects.get(shipment=ours, released_at__isnull=True)
    assert kept.hold_type == "fraud_review" and "Card flagged" in kept.reason
    assert Message.objects.filter(event="shipment_exception", order=order).exists()
