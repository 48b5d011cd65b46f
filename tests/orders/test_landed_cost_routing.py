"""Landed-cost routing through the order workflow: the timeline's reason, the shipment it buys, the promise."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from orders import services
from shipping.demo_data import ensure_demo_carriers
from shipping.promise import quote_promise
from shipping.selectors import clear_rate_cache
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

# Monday 23 Nov 2026, 14:00 UTC: 09:00 in Edison and Atlanta, before every cut-off.
MONDAY = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
def network(sites, stock, monkeypatch, settings):
    """The four sites shipping the same day, the demo carriers, a two-day target, the clock on Monday."""
    settings.SHIPPING_PROMISE_TARGET_DAYS = 2
    settings.SHIPPING_EXTRA_SHIPMENT_COST = Decimal("3.00")
    settings.SHIPPING_PROMISE_TARGET_MAX_PREMIUM = Decimal("100.00")
    monkeypatch.setattr(timezone, "now", lambda: MONDAY)
    clear_rate_cache()
    ensure_demo_carriers()
    for warehouse in sites.values():
        warehouse.processing_days = 0
        warehouse.time_zone = "America/New_York"
        warehouse.save()
    yield sites
    clear_rate_cache()


@pytest.fixture
def tee(db):
    return ProductFactory(sku="TEE-1", weight_kg="0.400", price=Decimal("24.00"))


def routing_message(order) -> str:
    return order.events.filter(message__contains="landed cost").get().message


def test_the_nearest_warehouse_ships_when_it_is_also_the_cheapest(network, stock, tee, order_to):
    stock(network["ATL"], tee, 5)
    stock(network["EWR"], tee, 5)
    order = order_to("MIA", [(tee, 1)], placed_at=MONDAY, promised_date=None)

    services.allocate_order(order_id=order.pk, actor="test")

    message = routing_message(order)
    assert message.startswith("Reserved at ATL: nearest with full stock")
    assert "cheapest of 2 of 2 plans arriving by Wed 25 Nov" in message
    assert "cheapest rejected: EWR at" in message


def test_a_handling_cost_sends_the_order_to_the_other_warehouse_and_the_shipment_buys_the_plans_service(
    network, stock, tee, order_to
):
    # given packing in Atlanta costs 10.00 a shipment, Edison nothing
    atlanta = network["ATL"]
    atlanta.handling_cost = Decimal("10.00")
    atlanta.save()
    stock(atlanta, tee, 5)
    stock(network["EWR"], tee, 5)
    order = order_to("MIA", [(tee, 1)], placed_at=MONDAY, promised_date=None)

    # when it is routed and its shipment made
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")

    # then Edison ships it, by the service and at the cost the timeline names, by Wednesday
    message = routing_message(order)
    assert message.startswith("Reserved at EWR: least landed cost with full stock")
    assert "cheapest rejected: ATL at" in message and "costs more" in message
    assert shipment.warehouse.code == "EWR"
    label = f"{shipment.service.vendor.name} {shipment.service.name}"
    assert f"landed cost {shipment.shipping_cost} (EWR: {label} {shipment.shipping_cost})" in message
    assert shipment.estimated_delivery <= dt.date(2026, 11, 25)


def test_the_promise_and_the_order_get_the_same_warehouse_service_date_and_cost(network, stock, tee, order_to):
    for code in ("EWR", "ATL", "DAL", "RNO"):
        stock(network[code], tee, 5)

    for city, postal_code in (("LAX", "90012"), ("NYC", "10001"), ("MIA", "33130"), ("DFW", "75201")):
        promise = quote_promise(postal_code=postal_code, items=[("TEE-1", 1)], now=MONDAY)
        (promised,) = promise.shipments
        order = order_to(city, [(tee, 1)], promised_date=promise.chosen_date)
        services.allocate_order(order_id=order.pk, actor="test")
        (shipment,) = services.create_shipments(order_id=order.pk, actor="test", now=MONDAY)

        assert shipment.warehouse.code == promised.warehouse_code, city
        assert shipment.service_id == promised.chosen.service_id, city
        assert shipment.estimated_delivery == promise.chosen_date, city
        assert shipment.shipping_cost == promise.chosen_cost, city


def test_an_order_without_a_promised_date_is_aimed_at_the_target_days(network, stock, tee, order_to):
    stock(network["RNO"], tee, 5)
    order = order_to("LAX", [(tee, 1)], placed_at=MONDAY, promised_date=None)

    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test", now=MONDAY)

    assert shipment.promised_date is None  # nothing was promised: the target is the store's own
    assert shipment.estimated_delivery <= dt.date(2026, 11, 25)
    assert "arriving by Wed 25 Nov" in routing_message(order)


def test_a_target_of_the_stores_own_is_dropped_when_making_it_costs_more_than_the_premium(
    network, stock, tee, order_to, settings
):
    # given Miami can be reached by Wednesday only by air, 20+ more than ground, and the premium is 5.00
    settings.SHIPPING_PROMISE_TARGET_MAX_PREMIUM = Decimal("5.00")
    stock(network["ATL"], tee, 5)

    promise = quote_promise(postal_code="33130", items=[("TEE-1", 1)], now=MONDAY)
    order = order_to("MIA", [(tee, 1)], placed_at=MONDAY, promised_date=None)
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test", now=MONDAY)

    # then the promise, routing and carrier choice all take the cheapest, later, ground service
    (promised,) = promise.shipments
    assert promised.chosen.service_id == promised.cheapest.service_id
    assert promise.chosen_date > dt.date(2026, 11, 25)
    assert "arriving by the target Wed 25 Nov would cost" in routing_message(order)
    assert "(the limit is 5.00)" in routing_message(order)
    assert shipment.service_id == promised.cheapest.service_id
    assert shipment.estimated_delivery == promise.chosen_date and shipment.promised_date is None
    assert "(the limit is 5.00)" in shipment.choice_reason


def test_a_promised_date_is_met_whatever_the_premium(network, stock, tee, order_to, settings):
    settings.SHIPPING_PROMISE_TARGET_MAX_PREMIUM = Decimal("1.00")
    stock(network["ATL"], tee, 5)
    order = order_to("MIA", [(tee, 1)], placed_at=MONDAY, promised_date=dt.date(2026, 11, 25))

    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test", now=MONDAY)

    assert shipment.estimated_delivery <= dt.date(2026, 11, 25)
