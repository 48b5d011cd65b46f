"""POST /api/v1/orders/{number}/edits: items or the ship-to address changed, idempotent on its key, refusals by
JSON path, over HTTP."""

import pytest

from inventory import services as inventory
from inventory.models import StockLevel
from notifications.models import Message
from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from tests.api.conftest import order_payload
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db
ORDERS = "/api/v1/orders"


@pytest.fixture
def placed(api, sites, stock, goods):
    """An order of 2 tees and a mug, routed (everything reserved at EWR); its number. Dallas has tees too."""
    stock(sites["EWR"], goods["tee"], 10)
    stock(sites["EWR"], goods["mug"], 10)
    stock(sites["DAL"], goods["tee"], 10)
    stock(sites["DAL"], goods["mug"], 10)
    number = api.post(ORDERS, order_payload()).json()["number"]
    assert Order.objects.get(number=number).status == OrderStatus.ALLOCATED
    return number


def edit(api, number, body, key="E-1"):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post(f"{ORDERS}/{number}/edits", body, **extra)


def state(number) -> tuple:
    order = Order.objects.get(number=number)
    return (
        list(OrderLine.objects.filter(order=order).order_by("pk").values_list("quantity", "quantity_allocated")),
        order.grand_total,
        order.shipping_address_id,
        OrderEvent.objects.filter(order=order).count(),
        Message.objects.filter(order_id=order.pk).count(),
        list(StockLevel.objects.order_by("pk").values_list("allocated", flat=True)),
    )


def test_an_edit_answers_the_new_total_and_the_date_and_a_replay_answers_the_same(api, placed, sites, goods, carriers):
    body = {
        "lines": [{"sku": "TEE-1", "quantity": 3}, {"sku": "CAP-1", "quantity": 1, "unit_price": "15.00"}],
        "tax_total": "7.20",
        "reason": "Customer called",
    }
    cap = ProductFactory(sku="CAP-1", name="Cap", weight_kg="0.200", price="16.00")
    inventory.receive_stock(warehouse_id=sites["EWR"].pk, product_id=cap.pk, quantity=3, actor="test: receiving")

    first = edit(api, placed, body)
    again = edit(api, placed, body)

    assert first.status_code == again.status_code == 201, first.json()
    answer = first.json()
    assert answer == again.json()
    assert answer["lines"] == [
        {"sku": "TEE-1", "before": 2, "after": 3, "unit_price": "24.00"},
        {"sku": "CAP-1", "before": 0, "after": 1, "unit_price": "15.00"},
    ]
    # subtotal 72 + 18.50 + 15 = 105.50; shipping 5.99 kept; tax as sent; discount follows the goods
    assert (answer["total_before"], answer["grand_total"]) == ("75.98", "115.52")
    assert answer["stock"] == {"reserved": 2, "released": 0, "waiting": 0}
    assert answer["status"] == "allocated" and answer["promised_date"] is not None
    assert answer["version"] > 0 and answer["address_changed"] is False
    # edited once: one email, one timeline entry
    assert Message.objects.filter(order__number=placed, event="order_changed").count() == 1
    assert OrderEvent.objects.filter(order__number=placed, kind=OrderEvent.Kind.LINES_EDITED).count() == 1
    # the same key for other lines is a conflict, and changes nothing
    before = state(placed)
    other = edit(api, placed, {"lines": [{"sku": "MUG-1", "quantity": 2}], "reason": "x"})
    assert other.status_code == 409 and "E-1" in other.json()["detail"]
    assert state(placed) == before
    # an edit from a stale version is a conflict
    stale = edit(
        api, placed, {"lines": [{"sku": "MUG-1", "quantity": 2}], "reason": "x", "expected_version": 1}, key="E-2"
    )
    assert stale.status_code == 409 and "changed since you read it" in stale.json()["detail"]
    # the version the edit answered is current
    fresh = edit(
        api,
        placed,
        {"lines": [{"sku": "MUG-1", "quantity": 2}], "reason": "x", "expected_version": answer["version"]},
        key="E-3",
    )
    assert fresh.status_code == 201


def test_a_new_address_is_checked_routed_again_and_answered(api, placed, sites, goods, carriers):
    address = {
        "name": "Zoë Álvarez",
        "line1": "1500 Marilla St",
        "city": "Houston",
        "state": "TX",
        "postal_code": "75201",
    }
    before = state(placed)

    refused = edit(api, placed, {"shipping_address": address, "reason": "Moved"})

    assert refused.status_code == 400
    (error,) = refused.json()["detail"]
    assert error["path"] == "shipping_address.city" and "75201 is Dallas, TX" in error["msg"]
    assert state(placed) == before

    moved = edit(api, placed, {"shipping_address": {**address, "city": "Dallas"}, "reason": "Moved"}, key="A-2")
    assert moved.status_code == 201, moved.json()
    assert moved.json()["address_changed"] is True and moved.json()["promised_date"] is not None
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=goods["tee"]).allocated == 2
    assert Order.objects.get(number=placed).shipping_address.city == "Dallas"


def test_bad_edits_name_every_field_and_write_nothing(api, placed):
    before = state(placed)
    cases = [
        ({"lines": [{"sku": "TEE-1", "quantity": -1}], "reason": "x"}, "lines[0].quantity"),
        ({"lines": [{"sku": "NOPE-9", "quantity": 1}], "reason": "x"}, "lines[0].sku"),
        ({"lines": [{"sku": "TEE-1", "quantity": "3"}], "reason": "x"}, "lines[0].quantity"),
        ({"lines": [], "reason": "x"}, "lines"),
        ({"lines": [{"sku": "TEE-1", "quantity": 0}, {"sku": "MUG-1", "quantity": 0}], "reason": "x"}, "lines"),
        ({"lines": [{"sku": "TEE-1", "quantity": 3}]}, "reason"),
        ({"lines": [{"sku": "TEE-1", "quantity": 3}], "reason": "x", "colour": "red"}, "colour"),
        (
            {"shipping_address": {"name": "A", "line1": "1 A St", "city": "X", "postal_code": "00000"}, "reason": "x"},
            "shipping_address.postal_code",
        ),
    ]
    for body, path in cases:
        response = edit(api, placed, body)
        assert response.status_code == 400, (body, response.json())
        assert path in [error["path"] for error in response.json()["detail"]], (body, response.json())
    missing_key = edit(api, placed, {"lines": [{"sku": "TEE-1", "quantity": 3}], "reason": "x"}, key=None)
    assert missing_key.status_code == 400 and missing_key.json()["detail"][0]["path"] == "Idempotency-Key"
    assert state(placed) == before


def test_a_shipped_order_cannot_be_edited_and_other_channels_orders_are_not_found(api, placed):
    Order.objects.filter(number=placed).update(status=OrderStatus.SHIPPED)
    response = edit(api, placed, {"lines": [{"sku": "TEE-1", "quantity": 3}], "reason": "x"})
    assert response.status_code == 409 and "can no longer change" in response.json()["detail"]
    assert edit(api, "SO-9999999", {"lines": [{"sku": "TEE-1", "quantity": 3}], "reason": "x"}).status_code == 404
