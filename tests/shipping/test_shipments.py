"""Shipments through the order workflow: carrier choice, labels, void, ship, tracking, delivery."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from inventory.models import StockLevel, StockMovement
from notifications.models import Message
from orders import services
from orders.exceptions import OrderError
from orders.models import OrderEvent, OrderStatus
from shipping.models import Shipment, ShipmentStatus, TrackingEvent
from tests.factories import ProductFactory
from tests.shipping.readback import pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def shirt(db):
    return ProductFactory(sku="TEE-1", weight_kg="0.400")


@pytest.fixture
def mug(db):
    return ProductFactory(sku="MUG-1", weight_kg="0.600")


def allocated_order(order_to, lines, city="NYC", **fields):
    order = order_to(city, lines, **fields)
    services.allocate_order(order_id=order.pk, actor="test")
    order.refresh_from_db()
    return order


def test_one_shipment_per_warehouse_with_the_cheapest_service_meeting_the_promise(
    sites, stock, order_to, shirt, mug, carriers, monday_morning
):
    stock(sites["EWR"], shirt, 5)
    stock(sites["ATL"], mug, 5)  # mugs only in Atlanta: a split order
    order = allocated_order(order_to, [(shirt, 2), (mug, 1)], promised_date=dt.date(2026, 11, 26))

    shipments = services.create_shipments(order_id=order.pk, actor="test", now=monday_morning)

    assert [s.warehouse.code for s in shipments] == ["ATL", "EWR"]
    for shipment in shipments:
        # Pickup Tuesday; ground (5 days) is too slow for Thursday, two-day is the cheapest that makes it.
        assert shipment.service == carriers["2day"]
        assert shipment.estimated_delivery == dt.date(2026, 11, 26)
        assert shipment.status == ShipmentStatus.AWAITING_LABEL
        assert len(shipment.options) == 3
    events = order.events.filter(kind=OrderEvent.Kind.SHIPMENT)
    assert events.count() == 2
    assert "cheapest of 2 of 3 services arriving by the promised" in events.first().message
    assert {o["code"] for o in events.first().data["options"]} == {"GROUND", "2DAY", "OVERNIGHT"}


def test_nothing_left_to_ship_is_refused(sites, stock, order_to, shirt, carriers, monday_morning):
    stock(sites["EWR"], shirt, 5)
    order = allocated_order(order_to, [(shirt, 1)])
    services.create_shipments(order_id=order.pk, actor="test", now=monday_morning)

    with pytest.raises(OrderError, match="no reserved units are waiting"):
        services.create_shipments(order_id=order.pk, actor="test", now=monday_morning)


def test_heavy_shipments_are_packed_into_parcels_within_the_limit(sites, stock, order_to, carriers, settings):
    settings.SHIPPING_MAX_PARCEL_KG = 10
    anvil = ProductFactory(sku="ANVIL", weight_kg="7.000")
    stock(sites["EWR"], anvil, 5)
    order = allocated_order(order_to, [(anvil, 3)])

    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")

    weights = [p.weight_kg for p in shipment.parcels.all()]
    assert len(weights) == 3 and sum(weights) == 21 and max(weights) <= 10


def test_override_changes_service_price_and_eta_and_is_attributed(
    sites, stock, order_to, shirt, carriers, monday_morning, superuser
):
    stock(sites["EWR"], shirt, 5)
    order = allocated_order(order_to, [(shirt, 1)], promised_date=None)
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test", now=monday_morning)
    assert shipment.service == carriers["ground"]  # no promise: cheapest

    services.override_carrier(
        shipment_id=shipment.pk, service_id=carriers["overnight"].pk, reason="VIP customer", actor=superuser
    )

    shipment.refresh_from_db()
    assert shipment.service == carriers["overnight"]
    assert str(shipment.shipping_cost) == "40.00"
    event = order.events.filter(kind=OrderEvent.Kind.SHIPMENT).last()
    assert event.actor == superuser and "VIP customer" in event.message


def test_buying_labels_gives_unique_vendor_numbers_and_renders_the_pdf(
    sites, stock, order_to, shirt, carriers, monday_morning, django_capture_on_commit_callbacks, tmp_path
):
    stock(sites["EWR"], shirt, 10)
    first = allocated_order(order_to, [(shirt, 1)], promised_date=dt.date(2026, 11, 24))
    second = allocated_order(order_to, [(shirt, 1)], promised_date=dt.date(2026, 11, 24))
    a = services.create_shipments(order_id=first.pk, actor="test", now=monday_morning)[0]
    b = services.create_shipments(order_id=second.pk, actor="test", now=monday_morning)[0]

    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=a.pk, actor="test")
        services.buy_labels(shipment_id=b.pk, actor="test")

    a.refresh_from_db()
    numbers = [p.tracking_number for s in (a, b) for p in s.parcels.all()]
    assert all(re.fullmatch(r"\d{12}", n) for n in numbers)  # Rapid Air: 12 digits, no prefix
    assert len(set(numbers)) == 2
    assert a.status == ShipmentStatus.LABEL_CREATED and a.label_file.name.endswith(".pdf")
    text = pdf_text(a.label_file.read(), tmp_path)
    assert numbers[0] in text and first.number in text and first.shipping_address.name in text


def test_a_zpl_warehouse_gets_zpl_labels(sites, stock, order_to, shirt, carriers, django_capture_on_commit_callbacks):
    sites["EWR"].label_format = "zpl"
    sites["EWR"].save()
    stock(sites["EWR"], shirt, 10)
    order = allocated_order(order_to, [(shirt, 1)])
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")

    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")

    shipment.refresh_from_db()
    zpl = shipment.label_file.read().decode()
    assert zpl.startswith("^XA") and shipment.parcels.get().tracking_number in zpl


def test_void_sends_the_shipment_back_for_a_new_label_and_never_reuses_the_number(
    sites, stock, order_to, shirt, carriers, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 10)
    order = allocated_order(order_to, [(shirt, 1)])
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    old = shipment.parcels.get().tracking_number

    with pytest.raises(OrderError, match="reason"):
        services.void_label(shipment_id=shipment.pk, reason="", actor="test")
    services.void_label(shipment_id=shipment.pk, reason="printer jam", actor="test")

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.AWAITING_LABEL
    assert not shipment.label_file and shipment.parcels.get().tracking_number is None
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    assert shipment.parcels.get().tracking_number != old


def test_shipping_consumes_stock_and_delivery_of_every_shipment_delivers_the_order(
    sites, stock, order_to, shirt, mug, carriers, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    stock(sites["ATL"], mug, 5)
    order = allocated_order(order_to, [(shirt, 2), (mug, 1)])
    shipments = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        for shipment in shipments:
            services.buy_labels(shipment_id=shipment.pk, actor="test")

    services.ship_shipment(shipment_id=shipments[0].pk, actor="test")
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_SHIPPED
    services.ship_shipment(shipment_id=shipments[1].pk, actor="test")
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    level = StockLevel.objects.get(warehouse=sites["EWR"], product=shirt)
    assert (level.on_hand, level.allocated) == (3, 0)
    assert StockMovement.objects.filter(kind="shipment", reference=shipments[1].number).count() == 1

    when = timezone.now()
    first_number = shipments[0].parcels.get().tracking_number
    services.record_tracking(
        tracking_number=first_number, status="delivered", occurred_at=when, actor="test", source="admin"
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED  # one of two shipments arrived
    services.record_tracking(
        tracking_number=shipments[1].parcels.get().tracking_number,
        status="delivered",
        occurred_at=when,
        actor="test",
        source="admin",
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    replay = services.record_tracking(
        tracking_number=first_number, status="delivered", occurred_at=when, actor="test", source="admin"
    )
    assert replay.event is None and TrackingEvent.objects.filter(tracking_number=first_number).count() == 1


def test_a_shipment_cannot_ship_without_a_label_or_while_the_order_is_held(
    sites, stock, order_to, shirt, carriers, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    order = allocated_order(order_to, [(shirt, 1)])
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with pytest.raises(OrderError, match="only a labelled shipment"):
        services.ship_shipment(shipment_id=shipment.pk, actor="test")
    services.hold_order(order_id=order.pk, reason="fraud check", actor="test")
    with pytest.raises(OrderError, match="on hold"):
        services.buy_labels(shipment_id=shipment.pk, actor="test")


def test_cancelling_the_order_cancels_its_shipments_and_voids_labels(
    sites, stock, order_to, shirt, carriers, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    order = allocated_order(order_to, [(shirt, 1)])
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")

    services.cancel_order(order_id=order.pk, reason="customer asked", actor="test")

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.CANCELLED
    assert shipment.parcels.get().tracking_number is None
    assert "voided" in order.events.filter(kind=OrderEvent.Kind.SHIPMENT).last().message


def test_an_exception_scan_alerts_ops_and_a_later_scan_clears_it(
    sites, stock, order_to, shirt, carriers, django_capture_on_commit_callbacks, settings
):
    settings.OPS_EMAILS = ["ops@example.com"]
    stock(sites["EWR"], shirt, 5)
    order = allocated_order(order_to, [(shirt, 1)])
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    services.ship_shipment(shipment_id=shipment.pk, actor="test")
    number = shipment.parcels.get().tracking_number
    t0 = timezone.now()

    services.record_tracking(
        tracking_number=number, status="exception", occurred_at=t0, actor="test", source="admin", description="Damaged"
    )
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.EXCEPTION
    alert = Message.objects.get(event="shipment_exception", order=order)
    assert alert.recipient == "ops@example.com" and alert.context["description"] == "Damaged"
    services.record_tracking(
        tracking_number=number, status="in_transit", occurred_at=t0 - dt.timedelta(hours=1), actor="t", source="admin"
    )
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.EXCEPTION  # an older scan changes nothing
    services.record_tracking(
        tracking_number=number, status="in_transit", occurred_at=t0 + dt.timedelta(hours=1), actor="t", source="admin"
    )
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.IN_TRANSIT


def test_the_customer_hears_of_shipping_with_tracking_links_and_then_of_delivery(
    sites, stock, order_to, shirt, carriers, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    order = allocated_order(order_to, [(shirt, 1)], promised_date=None)
    order.customer.accepts_marketing = True  # 'delivered' is non-essential mail
    order.customer.save()
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    services.override_carrier(shipment_id=shipment.pk, service_id=carriers["2day"].pk, reason="test", actor="t")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    number = shipment.parcels.get().tracking_number

    services.ship_shipment(shipment_id=shipment.pk, actor="test")
    services.record_tracking(
        tracking_number=number, status="delivered", occurred_at=timezone.now(), actor="t", source="admin"
    )

    shipped = Message.objects.get(order=order, event="order_shipped")
    (parcel,) = shipped.context["shipments"][0]["tracking"]
    assert parcel == {"number": number, "url": f"https://rapid.example/t/{number}"}
    assert Message.objects.filter(order=order, event="order_delivered").count() == 1
