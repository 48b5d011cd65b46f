"""POST /api/v1/tracking: carriers push scans with their token; all or nothing; replays are harmless."""

import json

import pytest

from orders import services
from orders.models import OrderStatus
from shipping.models import TrackingEvent, Vendor
from shipping.services.vendors import issue_vendor_token
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped(sites, stock, order_to, carriers, django_capture_on_commit_callbacks):
    """An order shipped in one parcel by Rapid Air (overnight promise), and Rapid Air's token."""
    tee = ProductFactory(sku="TEE-1")
    stock(sites["EWR"], tee, 5)
    order = order_to("NYC", [(tee, 1)], promised_date=None)
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    services.override_carrier(
        shipment_id=shipment.pk, service_id=carriers["2day"].pk, reason="test on Rapid Air", actor="test"
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    services.ship_shipment(shipment_id=shipment.pk, actor="test")
    token = issue_vendor_token(carriers["2day"].vendor)
    return {"order": order, "number": shipment.parcels.get().tracking_number, "token": token}


def post(client, body, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/api/v1/tracking", data=json.dumps(body), content_type="application/json", headers=headers)


def event(number, status="delivered", at="2026-11-25T14:03:00Z", **extra):
    return {"tracking_number": number, "status": status, "occurred_at": at, **extra}


def test_a_delivered_scan_delivers_the_order(client, shipped):
    response = post(client, {"events": [event(shipped["number"], location="New York, NY")]}, shipped["token"])

    assert response.status_code == 200
    assert response.json()["results"][0]["shipment_status"] == "delivered"
    shipped["order"].refresh_from_db()
    assert shipped["order"].status == OrderStatus.DELIVERED
    assert shipped["order"].events.filter(kind="tracking", message__contains="New York, NY").exists()


def test_a_replayed_webhook_changes_nothing(client, shipped):
    body = {"events": [event(shipped["number"], status="in_transit")]}
    post(client, body, shipped["token"])

    again = post(client, body, shipped["token"])

    assert again.status_code == 200 and again.json()["results"][0]["recorded"] is False
    assert TrackingEvent.objects.filter(tracking_number=shipped["number"]).count() == 1


@pytest.mark.parametrize("token", ["", "not-the-token"])
def test_without_the_vendor_token_it_is_401(client, shipped, token):
    response = post(client, {"events": [event(shipped["number"])]}, token)

    assert response.status_code == 401
    assert not TrackingEvent.objects.exists()


def test_another_vendors_token_cannot_touch_the_parcel(client, shipped, carriers):
    other = issue_vendor_token(Vendor.objects.get(code="budget"))

    response = post(client, {"events": [event(shipped["number"])]}, other)

    assert response.status_code == 400
    assert "not one of Budget Freight's" in response.json()["detail"][0]["msg"]


def test_one_bad_event_refuses_the_batch_and_names_it(client, shipped):
    body = {"events": [event(shipped["number"], status="in_transit"), event("NO-SUCH-NUMBER")]}

    response = post(client, body, shipped["token"])

    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["body", "events", 1, "tracking_number"]
    assert not TrackingEvent.objects.exists()  # the good first event was not kept either


@pytest.mark.parametrize(
    ("bad", "loc"),
    [
        ({"status": "teleported"}, ["body", "events", 0, "status"]),
        ({"occurred_at": "yesterday"}, ["body", "events", 0, "occurred_at"]),
        ({"occurred_at": "2026-11-25T14:03:00"}, ["body", "events", 0, "occurred_at"]),
        ({"status": "label_created"}, ["body", "events", 0, "status"]),
    ],
)
def test_malformed_events_are_400_with_their_path(client, shipped, bad, loc):
    response = post(client, {"events": [{**event(shipped["number"]), **bad}]}, shipped["token"])

    assert response.status_code == 400
    (error,) = response.json()["detail"]
    assert error["loc"] == loc
    assert error["path"] == f"events[0].{loc[-1]}"  # as the carrier wrote it, no internal 'payload'


def test_the_schema_is_published(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/promise", "/api/v1/tracking"} <= set(schema["paths"])


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"tracking_number": "1Z\u0000999"}, "tracking_number"),
        ({"description": "Left at\u0000door"}, "description"),
        ({"location": "New York\u001b[2J"}, "location"),
    ],
    ids=["nul-in-number", "nul-in-description", "escape-in-location"],
)
def test_a_control_character_in_a_scan_is_400_naming_it_and_nothing_is_recorded(client, shipped, bad, field):
    body = {"events": [event(shipped["number"], status="in_transit"), {**event(shipped["number"]), **bad}]}

    response = post(client, body, shipped["token"])

    assert response.status_code == 400, response.content
    (error,) = response.json()["detail"]
    assert (error["loc"], error["path"]) == (["body", "events", 1, field], f"events[1].{field}")
    assert "control character" in error["msg"]
    assert not TrackingEvent.objects.exists()
    shipped["order"].refresh_from_db()
    assert shipped["order"].status == OrderStatus.SHIPPED
