"""Text with control characters (NUL above all, which PostgreSQL text cannot hold) is a 400 naming the field.

Every text the API takes, in a body, a path or a query, follows one rule: control characters other than tab
and newline are refused, before anything is looked up or written.
"""

import copy

import pytest

from notifications.models import Message
from orders.models import Address, Customer, Order
from tests.api.conftest import order_payload

pytestmark = pytest.mark.django_db
ORDERS = "/api/v1/orders"
NUL_AT_4 = "contains a control character (U+0000) at position 4; only tab and newline are allowed"


def written() -> tuple[int, int, int, int]:
    return Order.objects.count(), Customer.objects.count(), Address.objects.count(), Message.objects.count()


def _with(path: list, value) -> dict:
    payload = copy.deepcopy(order_payload())
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


@pytest.mark.parametrize(
    ("field", "path"),
    [
        (["external_id"], "external_id"),
        (["customer", "name"], "customer.name"),
        (["shipping_address", "line1"], "shipping_address.line1"),
        (["lines", 1, "sku"], "lines[1].sku"),
    ],
    ids=["external-id", "customer-name", "address-line", "sku"],
)
@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x7f"], ids=["nul", "escape", "delete"])
def test_a_control_character_in_an_order_is_400_naming_the_field_and_nothing_is_written(
    api, goods, sites, field, path, character
):
    # given an order whose field carries a control character in the middle of good text
    payload = _with(field, f"TEE{character}-1")
    before = written()

    # when the channel sends it
    response = api.post(ORDERS, payload)

    # then it is refused, naming that field by its loc and path, and nothing is kept
    assert response.status_code == 400, response.content
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", *field]
    assert error["path"] == path
    assert f"U+{ord(character):04X}" in error["msg"]
    assert written() == before


def test_tab_and_newline_are_text_and_accepted(api, goods, sites):
    payload = _with(["shipping_address", "line2"], "Floor 3\tDesk 12\r\nRing twice")

    response = api.post(ORDERS, payload)

    assert response.status_code == 201, response.content
    assert response.json()["shipping_address"]["line2"] == "Floor 3\tDesk 12\r\nRing twice"


def test_a_control_character_in_a_cancel_reason_is_400(api, goods, sites):
    number = api.post(ORDERS, order_payload()).json()["number"]

    response = api.post(f"{ORDERS}/{number}/cancel", {"reason": "changed\x00mind"})

    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["body", "reason"]
    assert Order.objects.get(number=number).status != "cancelled"


def test_a_nul_in_an_order_number_is_400_naming_the_path_parameter(api, goods):
    response = api.get(f"{ORDERS}/SO-%00")

    assert response.status_code == 400, response.content
    assert response.json()["detail"] == [{"loc": ["path", "number"], "path": "number", "msg": NUL_AT_4}]


def test_a_nul_in_the_order_number_to_cancel_is_400(api, goods):
    response = api.post(f"{ORDERS}/SO-%00/cancel", {"reason": "changed mind"})

    assert response.status_code == 400, response.content
    assert response.json()["detail"][0]["loc"] == ["path", "number"]


def test_a_nul_in_a_stock_sku_is_400_naming_the_path_parameter(api, goods):
    response = api.get("/api/v1/stock/TEE%00")

    assert response.status_code == 400, response.content
    assert response.json()["detail"] == [{"loc": ["path", "sku"], "path": "sku", "msg": NUL_AT_4}]


@pytest.mark.parametrize(
    ("query", "loc", "path"),
    [
        ("postal_code=10001&sku=TEE%00M&qty=1", ["query", "sku", 0], "sku[0]"),
        ("postal_code=10001&sku=TEE-1&sku=TEE%00M", ["query", "sku", 1], "sku[1]"),
        ("postal_code=100%0001&sku=TEE-1", ["query", "postal_code"], "postal_code"),
        ("postal_code=10001&sku=TEE-1&country=U%00", ["query", "country"], "country"),
    ],
    ids=["sku", "second-sku", "postal-code", "country"],
)
def test_a_nul_in_the_promise_query_is_400_naming_the_parameter(api, goods, sites, query, loc, path):
    response = api.get(f"/api/v1/promise?{query}")

    assert response.status_code == 400, response.content
    (error,) = response.json()["detail"]
    assert (error["loc"], error["path"]) == (loc, path)
    assert "U+0000" in error["msg"]
