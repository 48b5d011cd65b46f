"""The 3PL services: labels refused at a 3PL's warehouse, retries and dead letters, backorders, deadlines, items."""

import datetime as dt

import pytest
from django.db import connection as db
from django.utils import timezone

from inventory.models import Allocation
from orders import services as workflow
from orders.exceptions import OrderError
from orders.partners import services
from orders.partners.exceptions import PartnerError
from orders.partners.models import (
    Direction,
    MessageKind,
    MessageStatus,
    PartnerMessage,
    PartnerRelease,
    ReleaseState,
)
from orders.partners.outbox import queue_message
from orders.partners.signing import signed_headers, verification_problem

from .conftest import SECRET


def test_our_staff_cannot_buy_a_label_for_a_shipment_a_3pl_ships(connection, stock, products, routed, sites):
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")

    with pytest.raises(OrderError, match="which Acme Fulfilment runs: the 3PL buys its label and ships it"):
        workflow.buy_labels(shipment_id=shipment.pk, actor="test")
    shipment.refresh_from_db()
    assert shipment.status == "awaiting_label" and not shipment.parcels.exclude(tracking_number=None).exists()


def test_our_own_warehouses_still_buy_labels(
    connection, stock, products, routed, sites, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], products[0], 5)
    order = routed([(products[0], 1)], city="NYC")
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")

    workflow.buy_labels(shipment_id=shipment.pk, actor="test")

    shipment.refresh_from_db()
    assert shipment.status == "label_created"


def test_the_secret_is_encrypted_at_rest(connection):
    with db.cursor() as cursor:
        cursor.execute("SELECT secret FROM partners_partnerconnection WHERE id = %s", [connection.pk])
        (stored,) = cursor.fetchone()
    assert SECRET not in stored and stored
    connection.refresh_from_db()
    assert connection.secret == SECRET


def test_the_signature_covers_the_timestamp_and_the_body():
    body = b'{"a": 1}'
    headers = signed_headers(SECRET, body, message_id="m", now=1_000_000)
    good = {"timestamp": headers["X-OMS-Timestamp"], "received": headers["X-OMS-Signature"]}
    assert verification_problem(SECRET, body, max_skew_seconds=300, now=1_000_100, **good) is None
    assert "signature" in verification_problem(SECRET, b'{"a": 2}', max_skew_seconds=300, now=1_000_000, **good)
    assert "timestamp is 400 s" in verification_problem(SECRET, body, max_skew_seconds=300, now=1_000_400, **good)
    forged = {**good, "timestamp": "1000300"}
    assert "signature" in verification_problem(SECRET, body, max_skew_seconds=300, now=1_000_300, **forged)


def test_backoff_doubles_from_the_base(settings):
    settings.PARTNER_RETRY_BACKOFF_SECONDS = 30
    assert [services.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_partner_s_message_dies_after_the_last_try_and_is_resent_once_it_is_back(
    connection, simulator, settings
):
    settings.PARTNER_MAX_ATTEMPTS = 2
    simulator.stop()
    message, created = queue_message(connection, kind=MessageKind.ITEM_SYNC, key="item:X:1", payload={"sku": "X"})
    assert created
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.attempts == 1

    services.send_due_messages(now=timezone.now() + dt.timedelta(hours=1))
    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD and "127.0.0.1" in message.last_error

    assert services.send_due_messages(now=timezone.now() + dt.timedelta(days=1)) == 0  # the dead wait for ops
    simulator.start()
    services.resend_message(message_id=message.pk, actor="test")
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.attempts == 1
    assert simulator.seen == {"item:X:1": 1}
    with pytest.raises(PartnerError, match="only a dead or failed"):
        services.resend_message(message_id=message.pk, actor="test")


@pytest.mark.django_db(transaction=True)
def test_short_units_backordered_at_the_3pl_are_released_again_as_a_new_shipment(
    connection, simulator, stock, products, routed, sites, settings
):
    settings.PARTNER_SHORT_SHIPMENT = "backorder"
    a = products[0]
    stock(sites["DAL"], a, 3)
    stock(sites["EWR"], a, 5)
    order = routed([(a, 3)])
    simulator.short = {"ACME-A": 1}

    simulator.pump()

    first, second = PartnerRelease.objects.filter(shipment__order=order).order_by("pk")
    assert first.state == ReleaseState.SHIPPED and second.state == ReleaseState.RELEASED
    assert second.shipment.lines.get().quantity == 1
    assert list(Allocation.objects.filter(order=order).values_list("warehouse__code", "quantity")) == [("DAL", 1)]
    simulator.short = {}

    simulator.pump()
    simulator.pump()  # the second release's confirmation follows its acknowledgements

    order.refresh_from_db()
    assert order.status == "shipped" and order.lines.get().quantity_shipped == 3


def test_releases_not_acknowledged_by_their_deadline_are_flagged(connection, stock, products, routed, sites):
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")
    release, created = services.release_shipment(shipment_id=shipment.pk, actor="test")
    assert created and release.ack_due_at == release.released_at + dt.timedelta(minutes=30)
    assert services.release_shipment(shipment_id=shipment.pk, actor="test") == (release, False)

    assert services.flag_overdue_releases(now=release.released_at + dt.timedelta(minutes=29)) == 0
    assert services.flag_overdue_releases(now=release.released_at + dt.timedelta(minutes=31)) == 1

    release.refresh_from_db()
    assert release.overdue
    assert PartnerMessage.objects.filter(direction=Direction.OUT, kind=MessageKind.RELEASE).count() == 1


def test_items_are_sent_once_per_content(connection, products):
    a = products[0]
    PartnerMessage.objects.all().delete()  # what the products' creation queued

    first = services.sync_items(product_ids=[a.pk], actor="test")
    again = services.sync_items(product_ids=[a.pk], actor="test")
    a.name = "Tee, new name"
    a.save()
    changed = services.sync_items(product_ids=[a.pk], actor="test")

    assert len(first) == 1 and again == [] and len(changed) == 1
    assert first[0].payload == {
        "sku": "ACME-A",
        "our_sku": "SKU-A",
        "name": first[0].payload["name"],
        "weight_kg": str(a.weight_kg),
        "barcode": None,
        "dimensions_cm": None,
        "active": True,
    }
    assert changed[0].payload["name"] == "Tee, new name"


def test_a_change_needs_an_open_release_and_a_reason(connection, stock, products, routed, sites):
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")
    release, _ = services.release_shipment(shipment_id=shipment.pk, actor="test")

    with pytest.raises(PartnerError, match="reason is required"):
        services.request_change(release_id=release.pk, reason=" ", actor="test")
    PartnerRelease.objects.filter(pk=release.pk).update(state=ReleaseState.SHIPPED)
    with pytest.raises(PartnerError, match="only an open release can change"):
        services.request_change(release_id=release.pk, reason="late", actor="test")


@pytest.mark.django_db(transaction=True)
def test_a_send_whose_worker_died_mid_call_is_taken_again_after_its_lease_and_reaches_the_peer_once(
    connection, simulator, settings
):
    from orders.partners.services.messages import _claim
    from orders.partners.transports import Envelope, transport_for

    settings.PARTNER_SEND_LEASE_SECONDS = 120
    message = PartnerMessage.objects.create(
        connection=connection,
        direction=Direction.OUT,
        kind=MessageKind.ITEM_SYNC,
        key="item:Z:1",
        payload={"sku": "Z"},
        next_attempt_at=timezone.now(),
    )
    claimed = _claim(message.pk, timezone.now())  # the worker claims it, calls, and dies before recording
    transport_for(connection).send(Envelope(message_id=claimed.key, kind=claimed.kind, payload=claimed.payload))
    assert services.send_due_messages(now=timezone.now() + dt.timedelta(seconds=60)) == 0  # its lease holds

    assert services.send_due_messages(now=timezone.now() + dt.timedelta(seconds=121)) == 1

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.attempts == 2
    assert simulator.seen == {"item:Z:1": 2} and simulator.taken == [("item:Z:1", "item_sync")]


def test_an_inbound_message_whose_task_was_lost_is_applied_by_the_sweep(
    connection, products, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # the broker lost the task
        message, _ = services.receive_message(
            connection=connection,
            message_id="asn-1",
            kind=MessageKind.RECEIPT,
            payload={"receipt": "ASN-1", "lines": [{"sku": "ACME-A", "quantity": 3}]},
        )
    assert message.status == MessageStatus.QUEUED

    assert services.process_waiting_messages() == 1

    message.refresh_from_db()
    assert message.status == MessageStatus.APPLIED
    assert connection.warehouse.stock_levels.get(product=products[0]).on_hand == 3
    assert services.process_message(message_id=message.pk) == MessageStatus.APPLIED  # again: nothing more
    assert connection.warehouse.stock_levels.get(product=products[0]).on_hand == 3


def test_a_receipt_sent_again_under_a_new_message_id_is_a_duplicate_and_applies_nothing(connection, products):
    payload = {"receipt": "ASN-1", "lines": [{"sku": "ACME-A", "quantity": 3}]}
    first, _ = services.receive_message(
        connection=connection, message_id="asn-1", kind=MessageKind.RECEIPT, payload=payload
    )
    services.process_message(message_id=first.pk)

    again, created = services.receive_message(
        connection=connection, message_id="asn-1-resent", kind=MessageKind.RECEIPT, payload=payload
    )
    assert created  # a new message id: recorded
    assert services.process_message(message_id=again.pk) == MessageStatus.APPLIED

    again.refresh_from_db()
    assert again.outcome == "Duplicate of receipt ASN-1, applied already by message asn-1: nothing applied."
    assert connection.warehouse.stock_levels.get(product=products[0]).on_hand == 3
    # another receipt of the same 3PL still applies
    other, _ = services.receive_message(
        connection=connection, message_id="asn-2", kind=MessageKind.RECEIPT, payload={**payload, "receipt": "ASN-2"}
    )
    services.process_message(message_id=other.pk)
    assert connection.warehouse.stock_levels.get(product=products[0]).on_hand == 6


def test_an_order_held_when_it_was_routed_is_released_by_the_sweep_once_it_is_released(
    connection, stock, products, routed, sites
):
    stock(sites["DAL"], products[0], 5)
    order = routed([(products[0], 1)])  # its release task is not run here (no commit)
    workflow.hold_order(order_id=order.pk, reason="Address looks wrong", actor="test")

    assert services.release_waiting_orders(actor="test") == []  # on hold: nothing is made

    workflow.release_order(order_id=order.pk, actor="test")
    (release,) = services.release_waiting_orders(actor="test")

    assert release.shipment.order_id == order.pk and release.shipment.warehouse == sites["DAL"]
    assert services.release_waiting_orders(actor="test") == []  # released once


def test_a_message_no_rule_foresaw_is_an_exception_with_nothing_applied_not_a_loop(
    connection, products, monkeypatch, django_capture_on_commit_callbacks
):
    from orders.partners.services import inbound

    def half_then_broken(message):
        inbound.apply_receipt(message)  # writes stock, then fails as a bug would
        raise RuntimeError("the handler broke")

    monkeypatch.setitem(inbound.HANDLERS, MessageKind.RECEIPT, half_then_broken)
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = services.receive_message(
            connection=connection,
            message_id="asn-9",
            kind=MessageKind.RECEIPT,
            payload={"receipt": "ASN-9", "lines": [{"sku": "ACME-A", "quantity": 3}]},
        )

    message.refresh_from_db()
    assert message.status == MessageStatus.EXCEPTION
    assert message.last_error == "Unexpected error, nothing applied: RuntimeError: the handler broke"
    assert not connection.warehouse.stock_levels.filter(product=products[0], on_hand__gt=0).exists()
    assert services.process_waiting_messages() == 0  # not taken again by the sweep


def test_a_send_interrupted_at_every_try_ends_dead(connection, settings):
    from orders.partners.services.messages import _claim

    settings.PARTNER_MAX_ATTEMPTS = 2
    message = PartnerMessage.objects.create(
        connection=connection, direction=Direction.OUT, kind=MessageKind.ITEM_SYNC, key="item:Q:1", payload={}
    )
    later = timezone.now()
    for _ in range(2):  # claimed, and the worker killed before it recorded anything
        later += dt.timedelta(hours=1)
        assert _claim(message.pk, later) is not None

    assert _claim(message.pk, later + dt.timedelta(hours=1)) is None

    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD and "Interrupted 2 times" in message.last_error


def test_an_endpoint_that_is_no_url_kills_the_message_at_once(connection, django_capture_on_commit_callbacks):
    connection.endpoint = "not a url"
    connection.save()
    with django_capture_on_commit_callbacks(execute=True):
        message, _ = queue_message(connection, kind=MessageKind.ITEM_SYNC, key="item:U:1", payload={"sku": "U"})

    message.refresh_from_db()
    assert message.status == MessageStatus.DEAD and "is not a URL" in message.last_error


def test_a_shipment_a_3pl_holds_is_not_moved_split_or_merged_here(connection, stock, products, routed, sites):
    from orders.exceptions import ShipmentChangeRefused

    stock(sites["DAL"], products[0], 5)
    stock(sites["EWR"], products[0], 5)
    order = routed([(products[0], 2)])
    (shipment,) = workflow.create_shipments(order_id=order.pk, actor="test")
    release, _ = services.release_shipment(shipment_id=shipment.pk, actor="test")

    with pytest.raises(ShipmentChangeRefused, match="ask the 3PL to cancel the release first"):
        workflow.move_shipment(shipment_id=shipment.pk, warehouse_id=sites["EWR"].pk, reason="closer", actor="test")

    PartnerRelease.objects.filter(pk=release.pk).update(state=ReleaseState.CANCELLED)  # the 3PL let it go
    workflow.move_shipment(shipment_id=shipment.pk, warehouse_id=sites["EWR"].pk, reason="closer", actor="test")
    shipment.refresh_from_db()
    assert shipment.warehouse == sites["EWR"]
