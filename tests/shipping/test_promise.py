"""The delivery promise: its answer, its errors, its endpoint, and that routing then does what it said."""

import datetime as dt

import pytest

from orders import services
from shipping.demo_data import ensure_demo_carriers
from shipping.promise import PromiseError, quote_promise
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def goods(db):
    return {
        "tee": ProductFactory(sku="TEE-1", weight_kg="0.400"),
        "mug": ProductFactory(sku="MUG-1", weight_kg="0.600"),
    }


def test_the_promise_names_the_nearest_warehouse_fastest_and_cheapest(sites, stock, goods, carriers, monday_morning):
    stock(sites["EWR"], goods["tee"], 5)
    stock(sites["RNO"], goods["tee"], 5)

    promise = quote_promise(postal_code="10001", items=[("TEE-1", 2)], now=monday_morning)

    assert promise.deliverable
    (shipment,) = promise.shipments
    assert shipment.warehouse_code == "EWR"
    assert shipment.fastest.service_code == "OVERNIGHT"
    assert promise.earliest_date == dt.date(2026, 11, 25)  # pickup Tuesday, overnight Wednesday
    assert str(promise.earliest_cost) == "40.00"
    assert shipment.cheapest.service_code == "GROUND" and str(promise.cheapest_cost) == "8.00"


def test_a_split_promise_arrives_when_its_last_shipment_does(sites, stock, goods, carriers, monday_morning):
    stock(sites["EWR"], goods["tee"], 5)
    stock(sites["RNO"], goods["mug"], 5)

    promise = quote_promise(postal_code="10001", items=[("TEE-1", 1), ("MUG-1", 1)], now=monday_morning)

    assert [s.warehouse_code for s in promise.shipments] == ["EWR", "RNO"]
    assert promise.earliest_date == max(s.fastest.eta for s in promise.shipments)
    assert promise.earliest_cost == sum(s.fastest.price for s in promise.shipments)


def test_what_no_warehouse_holds_is_reported_unavailable(sites, stock, goods, carriers, monday_morning):
    stock(sites["EWR"], goods["tee"], 1)

    promise = quote_promise(postal_code="10001", items=[("TEE-1", 3)], now=monday_morning)

    assert not promise.deliverable and promise.earliest_date is None
    assert promise.unavailable == {"TEE-1": 2}


@pytest.mark.parametrize(
    ("postal_code", "items", "field"),
    [
        ("00000", [("TEE-1", 1)], "postal_code"),
        ("10001", [("NOPE", 1)], "sku[0]"),
        ("10001", [("TEE-1", 1), ("TEE-1", 0)], "qty[1]"),
        ("10001", [], "sku"),
    ],
)
def test_bad_input_names_the_field(sites, goods, carriers, postal_code, items, field):
    with pytest.raises(PromiseError) as refusal:
        quote_promise(postal_code=postal_code, items=items)
    assert refusal.value.field == field


def test_the_order_then_routes_and_ships_as_promised(sites, stock, goods, order_to, monday_morning):
    """With the demo carriers: the promised warehouses, date and service are what the order gets."""
    ensure_demo_carriers()
    stock(sites["ATL"], goods["tee"], 5)
    stock(sites["DAL"], goods["mug"], 5)
    stock(sites["RNO"], goods["mug"], 5)
    promise = quote_promise(postal_code="33130", items=[("TEE-1", 2), ("MUG-1", 1)], now=monday_morning)
    assert promise.deliverable

    order = order_to("MIA", [(goods["tee"], 2), (goods["mug"], 1)], promised_date=promise.earliest_date)
    services.allocate_order(order_id=order.pk, actor="test")
    shipments = services.create_shipments(order_id=order.pk, actor="test", now=monday_morning)

    assert [s.warehouse.code for s in shipments] == [s.warehouse_code for s in promise.shipments]
    for shipment, promised in zip(shipments, promise.shipments, strict=True):
        assert shipment.estimated_delivery <= promise.earliest_date
        assert shipment.shipping_cost <= promised.fastest.price  # never dearer than the promised service
        assert {line.sku: line.quantity for line in shipment.lines.all()} == promised.items


def test_the_endpoint_answers_with_dates_and_costs(client, channel_key, sites, stock, goods, carriers):
    stock(sites["EWR"], goods["tee"], 5)

    response = client.get(
        "/api/v1/promise", {"postal_code": "10001", "sku": ["TEE-1"], "qty": ["2"]}, headers=channel_key.headers
    )

    assert response.status_code == 200
    body = response.json()
    assert body["deliverable"] is True
    assert body["shipments"][0]["warehouse"] == "EWR"
    assert body["earliest"]["date"] and body["earliest"]["cost"] == "40.00"


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({"postal_code": "10001", "sku": ["NOPE"]}, ["query", "sku", 0]),
        ({"postal_code": "99999", "sku": ["TEE-1"]}, ["query", "postal_code"]),
        ({"postal_code": "10001", "sku": ["TEE-1"], "qty": ["two"]}, ["query", "qty", 0]),
        ({"sku": ["TEE-1"]}, ["query", "postal_code"]),
    ],
)
def test_the_endpoint_refuses_bad_input_with_a_400_naming_the_field(
    client, channel_key, sites, goods, carriers, query, loc
):
    response = client.get("/api/v1/promise", query, headers=channel_key.headers)

    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == loc


def test_the_endpoint_needs_a_channel_key(client, sites, goods, carriers):
    response = client.get("/api/v1/promise", {"postal_code": "10001", "sku": ["TEE-1"]})

    assert response.status_code == 401


# --- an order's promise again, from where its goods stand -------------------------------------------------


def test_an_estimate_waits_for_its_latest_part(sites, stock, goods, carriers, monday_morning):
    from decimal import Decimal

    from shipping.promise import MovingPart, ReservedPart, estimate_delivery

    # given a tee to route (stock at Edison), a mug reserved at Reno labelled for ground, a parcel on a 2-day service
    stock(sites["EWR"], goods["tee"], 5)
    moving = MovingPart(service_id=carriers["2day"].pk, zone=4, since=dt.date(2026, 11, 20))
    reserved = ReservedPart(warehouse=sites["RNO"], weight_kg=Decimal("0.6"), service_id=carriers["ground"].pk)

    # each part alone: overnight Wednesday; five days of ground from Tuesday; two days after Friday, Tuesday
    one = {
        "waiting": estimate_delivery(postal_code="10001", waiting=[("TEE-1", 1)], now=monday_morning),
        "reserved": estimate_delivery(postal_code="10001", reserved=[reserved], now=monday_morning),
        "moving": estimate_delivery(postal_code="10001", moving=[moving], now=monday_morning),
    }
    assert {key: estimate.date for key, estimate in one.items()} == {
        "waiting": dt.date(2026, 11, 25),
        "reserved": dt.date(2026, 12, 1),
        "moving": dt.date(2026, 11, 24),
    }
    # then the order arrives with its last part
    every = estimate_delivery(
        postal_code="10001", waiting=[("TEE-1", 1)], reserved=[reserved], moving=[moving], now=monday_morning
    )
    assert every.date == dt.date(2026, 12, 1)


def test_an_estimate_of_items_nobody_has_is_the_restock_date_or_says_why_not(goods, carriers, monday_morning):
    from shipping.promise import estimate_delivery

    restock = dt.date(2026, 12, 7)

    found = estimate_delivery(postal_code="10001", waiting=[("MUG-1", 1)], restock_date=restock, now=monday_morning)
    unknown = estimate_delivery(postal_code="10001", waiting=[("MUG-1", 1)], now=monday_morning)

    assert (found.date, found.problem) == (restock, "")
    assert (unknown.date, unknown.problem) == (None, "no warehouse has the waiting items")
