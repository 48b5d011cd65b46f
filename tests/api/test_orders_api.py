"""The channels' API: keys, placing orders (idempotent, refusals by JSON path), reading, cancelling, stock."""

import copy
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.models import RoutingExclusion, SafetyStockRule
from notifications.models import Message
from orders import services
from orders.channels import format_path
from orders.models import Customer, Order, OrderIntake, OrderStatus
from orders.services.channels import issue_api_key, revoke_api_key
from shipping.models import TrackingEvent
from tests.api.conftest import order_payload
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db
ORDERS = "/api/v1/orders"


@pytest.fixture
def in_stock(sites, stock, goods, carriers):
    stock(sites["EWR"], goods["tee"], 10)
    stock(sites["EWR"], goods["mug"], 10)
    return sites


def written() -> tuple[int, int, int]:
    return Order.objects.count(), Customer.objects.count(), Message.objects.count()


# --- keys ------------------------------------------------------------------------------


def test_a_request_without_a_key_or_with_a_wrong_one_is_401(client, goods):
    assert client.post(ORDERS, order_payload(), content_type="application/json").status_code == 401
    wrong = {"Authorization": "Bearer oms_not-a-key"}
    assert client.post(ORDERS, order_payload(), content_type="application/json", headers=wrong).status_code == 401
    assert Order.objects.count() == 0


def test_a_revoked_key_stops_working_at_once(api, client, channel_key, goods):
    key_row = channel_key.channel.api_keys.get()
    revoke_api_key(key_id=key_row.pk, actor="test")

    assert api.post(ORDERS, order_payload()).status_code == 401


def test_the_key_is_stored_only_as_a_hash_and_its_use_is_noted(api, channel_key, goods):
    row = channel_key.channel.api_keys.get()
    assert channel_key.key not in (row.key_hash, row.prefix) and channel_key.key.startswith(row.prefix)
    assert row.last_used_at is None

    api.get(f"{ORDERS}/SO-0000001")

    row.refresh_from_db()
    assert row.last_used_at is not None


def test_a_key_of_an_inactive_channel_is_refused(api, channel_key, goods):
    channel_key.channel.is_active = False
    channel_key.channel.save()

    assert api.post(ORDERS, order_payload()).status_code == 401


# --- placing ---------------------------------------------------------------------------


def test_placing_an_order_records_it_routes_it_and_queues_the_confirmation(api, in_stock):
    response = api.post(ORDERS, order_payload())

    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get(number=body["number"])
    assert order.channel == api.channel and order.external_id == "WEB-1001"
    assert order.customer.email == "zoe.alvarez@example.com"
    assert order.grand_total == Decimal("24.00") * 2 + Decimal("18.50") + Decimal("5.99") + Decimal("5.49") - 2
    assert body["totals"]["grand_total"] == str(order.grand_total)
    assert [(line["sku"], line["quantity"]) for line in body["lines"]] == [("TEE-1", 2), ("MUG-1", 1)]
    assert order.intake.source == OrderIntake.Source.API
    # routed after commit (tasks run eagerly in tests): reserved at the New Jersey warehouse
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert Message.objects.filter(order=order, event="order_received", recipient="zoe.alvarez@example.com").exists()


def test_the_same_order_sent_again_returns_it_with_200_and_writes_nothing(api, in_stock):
    first = api.post(ORDERS, order_payload())
    before = written()

    again = api.post(ORDERS, order_payload())

    assert again.status_code == 200
    assert again.json()["number"] == first.json()["number"]
    assert written() == before


def test_a_retry_that_differs_only_in_case_spacing_or_sent_time_is_the_same_order(api, in_stock):
    api.post(ORDERS, order_payload())
    retry = order_payload(placed_at=timezone.now().isoformat())
    retry["customer"]["email"] = "  ZOE.ALVAREZ@example.com "
    retry["shipping_address"]["country"] = "us"
    retry["lines"][0]["unit_price"] = "24"

    assert api.post(ORDERS, retry).status_code == 200
    assert Order.objects.count() == 1


def test_a_different_order_under_a_used_external_id_is_409_naming_each_difference(api, in_stock):
    api.post(ORDERS, order_payload())
    changed = order_payload()
    changed["lines"][0]["quantity"] = 3
    changed["shipping_address"]["line1"] = "1 Main St"

    response = api.post(ORDERS, changed)

    assert response.status_code == 409
    differences = {d["path"]: (d["existing"], d["received"]) for d in response.json()["differences"]}
    assert differences["lines[0].quantity"] == (2, 3)
    assert differences["shipping_address.line1"] == ("350 5th Ave", "1 Main St")
    assert Order.objects.count() == 1


def test_the_same_external_id_from_another_channel_is_another_order(api, client, in_stock):
    api.post(ORDERS, order_payload())
    other = ChannelFactory(code="market", name="Marketplace")
    _, key = issue_api_key(channel_id=other.pk, name="market", actor="test")

    response = client.post(
        ORDERS, order_payload(), content_type="application/json", headers={"Authorization": f"Bearer {key}"}
    )

    assert response.status_code == 201
    assert Order.objects.count() == 2


def _without(path: list, payload: dict) -> dict:
    payload = copy.deepcopy(payload)
    target = payload
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return payload


def _with(path: list, value, payload: dict) -> dict:
    payload = copy.deepcopy(payload)
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return payload


BASE = order_payload()


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        (_with(["lines", 1, "sku"], "NOPE-9", BASE), ["body", "lines", 1, "sku"]),
        (_with(["shipping_address", "postal_code"], "00000", BASE), ["body", "shipping_address", "postal_code"]),
        (_with(["lines", 0, "quantity"], -1, BASE), ["body", "lines", 0, "quantity"]),
        (_with(["lines", 0, "quantity"], 0, BASE), ["body", "lines", 0, "quantity"]),
        (_with(["lines", 0, "unit_price"], "-1.00", BASE), ["body", "lines", 0, "unit_price"]),
        (_with(["lines", 0, "unit_price"], "1.005", BASE), ["body", "lines", 0, "unit_price"]),
        (_with(["lines", 0, "unit_price"], "NaN", BASE), ["body", "lines", 0, "unit_price"]),
        (_with(["currency"], "EUR", BASE), ["body", "currency"]),
        (_with(["currency"], "dollars", BASE), ["body", "currency"]),
        (_without(["customer", "email"], BASE), ["body", "customer", "email"]),
        (_with(["customer", "email"], "not-an-email", BASE), ["body", "customer", "email"]),
        (_without(["external_id"], BASE), ["body", "external_id"]),
        (_with(["lines"], [], BASE), ["body", "lines"]),
        (_with(["shipping_address", "country"], "USA", BASE), ["body", "shipping_address", "country"]),
        (_with(["placed_at"], "2026-11-25T10:00:00", BASE), ["body", "placed_at"]),
        (_with(["shiping_address"], {}, BASE), ["body", "shiping_address"]),
    ],
    ids=[
        "unknown-sku",
        "bad-postal-code",
        "negative-quantity",
        "zero-quantity",
        "negative-price",
        "price-past-cents",
        "price-nan",
        "wrong-currency",
        "malformed-currency",
        "missing-email",
        "bad-email",
        "missing-external-id",
        "no-lines",
        "three-letter-country",
        "time-without-zone",
        "misspelt-field",
    ],
)
def test_bad_input_is_400_naming_the_json_path_and_writes_nothing(api, in_stock, payload, loc):
    before = written()

    response = api.post(ORDERS, payload)

    assert response.status_code == 400, response.content
    errors = response.json()["detail"]
    assert loc in [error["loc"] for error in errors], errors
    assert all(error["msg"] for error in errors)
    assert all(error["path"] == format_path(tuple(error["loc"][1:])) for error in errors)
    assert written() == before


def test_every_error_of_a_request_is_reported_at_once(api, in_stock):
    payload = _with(["lines", 0, "sku"], "NOPE-1", BASE)
    payload = _with(["lines", 1, "sku"], "NOPE-2", payload)
    payload = _with(["currency"], "EUR", payload)

    response = api.post(ORDERS, payload)

    locs = [error["loc"] for error in response.json()["detail"]]
    assert ["body", "lines", 0, "sku"] in locs and ["body", "lines", 1, "sku"] in locs and ["body", "currency"] in locs


def test_shape_errors_and_business_errors_come_back_together_by_the_paths_the_client_sent(api, in_stock):
    # given a body with shape errors (a bad quantity, a missing email, a misspelt field) and business errors
    # (an unknown SKU on another line, a ZIP code that does not exist, the wrong currency)
    payload = _with(["lines", 0, "quantity"], 0, BASE)
    payload = _with(["lines", 1, "sku"], " NOPE-9 ", payload)
    payload = _with(["shipping_address", "postal_code"], "00000", payload)
    payload = _with(["currency"], "eur", payload)
    payload = _without(["customer", "email"], payload)
    payload = _with(["gift_wrap"], True, payload)
    before = written()

    response = api.post(ORDERS, payload)

    # then one 400 names every one of them, by the path as it is in the body
    assert response.status_code == 400
    errors = {error["path"]: error for error in response.json()["detail"]}
    assert errors.keys() == {
        "lines[0].quantity",
        "customer.email",
        "gift_wrap",
        "lines[1].sku",
        "shipping_address.postal_code",
        "currency",
    }
    assert errors["lines[1].sku"] == {
        "loc": ["body", "lines", 1, "sku"],
        "path": "lines[1].sku",
        "msg": "Unknown SKU 'NOPE-9'.",
    }
    assert errors["shipping_address.postal_code"]["msg"] == "'00000' is not a US ZIP code."
    assert errors["currency"]["msg"] == "Web store sells in USD, not EUR."
    assert all("payload" not in error["loc"] for error in errors.values())
    assert written() == before


def test_a_body_with_shape_errors_only_is_not_held_back_by_the_business_checks(api, in_stock):
    payload = _with(
        ["billing_address"], {"name": "Zoë", "line1": "1 Main St", "city": "Dallas", "postal_code": "99999"}, BASE
    )
    payload = _with(["payment"], {"gateway": "bitcoin", "tokn": "x"}, payload)

    response = api.post(ORDERS, payload)

    paths = [error["path"] for error in response.json()["detail"]]
    assert sorted(paths) == ["billing_address.postal_code", "payment.gateway", "payment.tokn"]


def test_a_cancel_without_a_reason_names_the_field_by_its_path(api, in_stock):
    number = api.post(ORDERS, order_payload()).json()["number"]

    response = api.post(f"{ORDERS}/{number}/cancel", {"reson": "typo"})

    assert response.status_code == 400
    assert sorted(error["path"] for error in response.json()["detail"]) == ["reason", "reson"]


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("josé@exämple.com", "josé@exämple.com"),
        ("用户@例子.广告", "用户@例子.广告"),
        ("Ana@Exämple.com", "ana@exämple.com"),
        ("jose\u0301@example.com", "josé@example.com"),  # é typed as e + a combining accent: one address
    ],
)
def test_an_internationalised_email_is_accepted_and_kept(api, in_stock, sent, kept):
    response = api.post(ORDERS, order_payload(customer={"name": "José Núñez", "email": sent}))

    assert response.status_code == 201, response.content
    assert response.json()["customer"]["email"] == kept
    assert Customer.objects.get().email == kept
    assert Message.objects.get(event="order_received").recipient == kept


@pytest.mark.parametrize("email", ["josé@", "jo sé@example.com", "jo\u202ese@example.com", "josé@exä mple.com"])
def test_an_email_the_standards_refuse_is_still_refused(api, in_stock, email):
    response = api.post(ORDERS, order_payload(customer={"name": "José", "email": email}))

    assert response.status_code == 400
    assert response.json()["detail"] == [
        {"loc": ["body", "customer", "email"], "path": "customer.email", "msg": "not a valid email address"}
    ]


def test_a_body_that_is_not_json_is_400(api, client, channel_key, goods):
    response = client.post(ORDERS, "{not json", content_type="application/json", headers=channel_key.headers)

    assert response.status_code == 400
    assert Order.objects.count() == 0


# --- reading and cancelling ------------------------------------------------------------


def test_reading_an_order_shows_status_shipments_tracking_and_a_customer_timeline(api, in_stock):
    number = api.post(ORDERS, order_payload()).json()["number"]
    order = Order.objects.get(number=number)
    services.hold_order(order_id=order.pk, reason="fraud review: card country", actor="test")
    services.release_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")
    services.ship_shipment(shipment_id=shipment.pk, actor="test")
    tracking_number = shipment.parcels.first().tracking_number
    services.record_tracking(
        tracking_number=tracking_number,
        status="in_transit",
        occurred_at=timezone.now(),
        description="Departed facility",
        location="Newark, NJ",
        actor="carrier",
        source=TrackingEvent.Source.WEBHOOK,
    )

    response = api.get(f"{ORDERS}/{number}")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "shipped"
    assert body["lines"][0]["quantity_shipped"] == 2
    (shipped,) = body["shipments"]
    assert shipped["warehouse"] == "EWR" and shipped["status"] == "in_transit"
    assert tracking_number in [t["number"] for t in shipped["tracking"]]
    descriptions = [entry["description"] for entry in body["timeline"]]
    assert descriptions[0] == "Order received"
    assert "Shipped" in descriptions and "Departed facility" in descriptions
    # the hold and its reason are internal: a customer never sees them
    assert "fraud" not in response.content.decode() and "on_hold" not in response.content.decode()


def test_another_channels_order_is_not_found(api, client, in_stock):
    number = api.post(ORDERS, order_payload()).json()["number"]
    other = ChannelFactory(code="market", name="Marketplace")
    _, key = issue_api_key(channel_id=other.pk, name="market", actor="test")
    headers = {"Authorization": f"Bearer {key}"}

    assert client.get(f"{ORDERS}/{number}", headers=headers).status_code == 404
    cancel = client.post(f"{ORDERS}/{number}/cancel", {"reason": "x"}, content_type="application/json", headers=headers)
    assert cancel.status_code == 404
    assert Order.objects.get(number=number).status == OrderStatus.ALLOCATED


def test_cancelling_frees_the_stock_and_a_retry_is_harmless(api, in_stock, goods):
    number = api.post(ORDERS, order_payload()).json()["number"]

    first = api.post(f"{ORDERS}/{number}/cancel", {"reason": "customer changed their mind"})
    again = api.post(f"{ORDERS}/{number}/cancel", {"reason": "customer changed their mind"})

    assert first.status_code == again.status_code == 200
    assert again.json()["status"] == "cancelled"
    assert api.get("/api/v1/stock/TEE-1").json()["available"] == 10
    assert Message.objects.filter(order__number=number, event="order_cancelled").count() == 1


def test_cancel_needs_a_reason_and_is_409_once_shipped(api, in_stock):
    number = api.post(ORDERS, order_payload()).json()["number"]
    assert api.post(f"{ORDERS}/{number}/cancel", {}).json()["detail"][0]["loc"][-1] == "reason"
    order = Order.objects.get(number=number)
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")
    services.ship_shipment(shipment_id=shipment.pk, actor="test")

    response = api.post(f"{ORDERS}/{number}/cancel", {"reason": "too late"})

    assert response.status_code == 409
    assert "shipped" in response.json()["detail"]
    assert Order.objects.get(number=number).status == OrderStatus.SHIPPED


# --- stock -----------------------------------------------------------------------------


def test_stock_is_what_this_channel_can_sell_per_warehouse_and_in_total(api, sites, stock, goods, order_to):
    stock(sites["EWR"], goods["tee"], 10)
    stock(sites["DAL"], goods["tee"], 4)
    stock(sites["ATL"], goods["tee"], 7)
    reserved = order_to("NYC", [(goods["tee"], 3)], channel=api.channel)
    services.allocate_order(order_id=reserved.pk, actor="test")
    SafetyStockRule.objects.create(channel=api.channel, warehouse=sites["DAL"], quantity=2)
    RoutingExclusion.objects.create(warehouse=sites["ATL"], channel=api.channel, reason="wholesale only")

    body = api.get("/api/v1/stock/TEE-1").json()

    by_warehouse = {row["warehouse"]: row["available"] for row in body["warehouses"]}
    assert by_warehouse == {"DAL": 2, "EWR": 7}
    assert body["available"] == 9


def test_stock_of_an_unknown_sku_is_404(api, goods):
    response = api.get("/api/v1/stock/NOPE")

    assert response.status_code == 404
    assert response.json()["detail"][0]["loc"] == ["path", "sku"]


def test_the_schema_and_docs_are_published(client):
    schema = client.get("/api/v1/openapi.json").json()

    assert {"/api/v1/orders", "/api/v1/orders/{number}", "/api/v1/orders/{number}/cancel"} <= schema["paths"].keys()
    assert "/api/v1/stock/{sku}" in schema["paths"]
    assert client.get("/api/v1/docs").status_code == 200


def test_the_schema_shows_the_order_body_and_the_400_with_a_path_per_error(client):
    schema = client.get("/api/v1/openapi.json").json()

    operation = schema["paths"]["/api/v1/orders"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"external_id", "customer", "shipping_address", "lines", "currency"} <= set(body["required"])
    assert body["properties"]["lines"]["items"]["properties"].keys() == {"sku", "quantity", "unit_price"}
    assert "$ref" not in json.dumps(body)  # written in place: resolvable wherever the schema is read
    bad_input = operation["responses"]["400"]["content"]["application/json"]["schema"]
    assert bad_input["$ref"] == "#/components/schemas/FieldErrorsOut"
    assert schema["components"]["schemas"]["FieldErrorOut"]["required"] == ["loc", "path", "msg"]
    assert "`lines[1].sku`" in operation["description"]


def test_a_card_payment_is_authorised_before_the_order_is_routed(api, in_stock):
    from orders.payments.models import PaymentTransaction

    response = api.post(ORDERS, order_payload(payment={"gateway": "test_card", "token": "tok_approve"}))

    order = Order.objects.get(number=response.json()["number"])
    assert (order.payment_gateway, order.payment_token) == ("test_card", "tok_approve")
    assert order.status == OrderStatus.ALLOCATED
    authorisation = PaymentTransaction.objects.get(order=order, kind="authorise")
    assert (authorisation.status, authorisation.amount) == ("succeeded", order.grand_total)


def test_a_declined_card_holds_the_order_naming_the_decline(api, in_stock):
    response = api.post(ORDERS, order_payload(payment={"gateway": "test_card", "token": "tok_decline"}))

    order = Order.objects.get(number=response.json()["number"])
    assert order.status == OrderStatus.ON_HOLD
    assert "declined" in order.events.filter(data__to="on_hold").get().message.lower()


def test_an_unknown_payment_gateway_is_400_naming_it(api, in_stock):
    response = api.post(ORDERS, order_payload(payment={"gateway": "bitcoin", "token": "x"}))

    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["body", "payment", "gateway"]
    assert Order.objects.count() == 0
