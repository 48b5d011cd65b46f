"""POST /api/v1/orders/{number}/cancellations: some items cancelled, idempotent on its key, refusals by JSON path."""

import pytest

from inventory.models import StockLevel
from notifications.models import Message
from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from orders.services.channels import issue_api_key
from tests.api.conftest import order_payload
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db
ORDERS = "/api/v1/orders"


@pytest.fixture
def placed(api, sites, stock, goods):
    """An order of 2 tees and a mug, routed (everything reserved at EWR); its number."""
    stock(sites["EWR"], goods["tee"], 10)
    stock(sites["EWR"], goods["mug"], 10)
    number = api.post(ORDERS, order_payload()).json()["number"]
    assert Order.objects.get(number=number).status == OrderStatus.ALLOCATED
    return number


def cancel(api, number, body, key="K-1"):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post(f"{ORDERS}/{number}/cancellations", body, **extra)


def state(number) -> tuple:
    order = Order.objects.get(number=number)
    return (
        list(OrderLine.objects.filter(order=order).order_by("pk").values_list("quantity", "quantity_allocated")),
        order.grand_total,
        OrderEvent.objects.filter(order=order).count(),
        Message.objects.filter(order_id=order.pk).count(),
        list(StockLevel.objects.order_by("pk").values_list("allocated", flat=True)),
    )


def test_a_cancellation_answers_the_new_total_and_a_replay_answers_the_same(api, placed, goods):
    body = {"lines": [{"sku": "TEE-1", "quantity": 1}], "reason": "Customer asked"}

    first = cancel(api, placed, body)
    again = cancel(api, placed, body)

    assert first.status_code == again.status_code == 201
    assert (
        first.json()
        == again.json()
        == {
            "order": placed,
            "status": "allocated",
            "lines": [{"sku": "TEE-1", "cancelled": 1, "remaining": 1}],
            "total_before": "75.98",
            "grand_total": "50.72",
            "currency": "USD",
            "reason": "Customer asked",
        }
    )
    tee = next(line for line in api.get(f"{ORDERS}/{placed}").json()["lines"] if line["sku"] == "TEE-1")
    assert (tee["quantity"], tee["quantity_cancelled"]) == (1, 1)
    # cancelled once: one tee back on sale, one email, one timeline entry
    assert StockLevel.objects.get(product=goods["tee"]).allocated == 1
    assert Message.objects.filter(order__number=placed, event="order_lines_cancelled").count() == 1
    assert OrderEvent.objects.filter(order__number=placed, kind=OrderEvent.Kind.LINES_CANCELLED).count() == 1
    # the same key for other lines is a conflict, and cancels nothing
    before = state(placed)
    other = cancel(api, placed, {"lines": [{"sku": "MUG-1", "quantity": 1}], "reason": "x"})
    assert other.status_code == 409 and "K-1" in other.json()["detail"]
    assert state(placed) == before


def test_cancelling_everything_left_cancels_the_order(api, placed):
    body = {"lines": [{"sku": "TEE-1", "quantity": 2}, {"sku": "MUG-1", "quantity": 1}], "reason": "Moved away"}

    response = cancel(api, placed, body)

    assert response.status_code == 201 and response.json()["status"] == "cancelled"
    assert response.json()["grand_total"] == "0.00"
    assert Order.objects.get(number=placed).status == OrderStatus.CANCELLED
    assert Message.objects.filter(order__number=placed, event="order_cancelled").count() == 1


@pytest.mark.parametrize(
    ("body", "key", "path", "words"),
    [
        ({"lines": [{"sku": "TEE-1", "quantity": 3}], "reason": "x"}, "K", "lines[0].quantity", "only 2 of its 2"),
        ({"lines": [{"sku": "TEE-1", "quantity": 0}], "reason": "x"}, "K", "lines[0].quantity", "greater than"),
        (
            {"lines": [{"sku": "MUG-1", "quantity": 1}, {"sku": "NOPE", "quantity": 1}], "reason": "x"},
            "K",
            "lines[1].sku",
            "not on order",
        ),
        (
            {"lines": [{"sku": "TEE-1", "quantity": 1}, {"sku": "TEE-1", "quantity": 1}], "reason": "x"},
            "K",
            "lines[1].sku",
            "listed twice",
        ),
        ({"lines": [], "reason": "x"}, "K", "lines", "at least 1"),
        ({"lines": [{"sku": "TEE-1", "quantity": 1}]}, "K", "reason", "Field required"),
        ({"lines": [{"sku": "TEE-1", "quantity": "1"}], "reason": "x"}, "K", "lines[0].quantity", "integer"),
        ({"lines": [{"sku": "TEE-1", "quantity": 1}], "reason": "x"}, None, "Idempotency-Key", "1 to 100"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(api, placed, body, key, path, words):
    before = state(placed)

    response = cancel(api, placed, body, key=key)

    assert response.status_code == 400
    errors = response.json()["detail"]
    assert any(error["path"] == path and words in error["msg"] for error in errors), errors
    assert state(placed) == before


def test_another_channels_order_is_404(client, placed):
    other = ChannelFactory(code="market")
    _, key = issue_api_key(channel_id=other.pk, name="m", actor="test")
    before = state(placed)

    response = client.post(
        f"{ORDERS}/{placed}/cancellations",
        {"lines": [{"sku": "TEE-1", "quantity": 1}], "reason": "x"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "K"},
    )

    assert response.status_code == 404 and response.json()["detail"][0]["path"] == "number"
    assert state(placed) == before
