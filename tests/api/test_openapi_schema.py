"""The OpenAPI schema says what the API takes and answers, so that a client generated from it works.

Every keyed operation documents its 401; every refusal (400, 401, 404) has the one error shape; money is a string
with the pattern the API checks; what the schema calls required is what the API requires.
"""

import re

import pytest

from tests.api.conftest import order_payload

pytestmark = pytest.mark.django_db
ORDERS = "/api/v1/orders"
ERRORS = {"$ref": "#/components/schemas/FieldErrorsOut"}


@pytest.fixture
def schema(client):
    return client.get("/api/v1/openapi.json").json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def answer(operation, status: str) -> dict | None:
    response = operation["responses"].get(status)
    return response["content"]["application/json"]["schema"] if response else None


def test_every_operation_with_a_key_documents_its_401_in_the_error_shape(schema):
    keyed = {name: operation for name, operation in operations(schema) if operation.get("security")}

    assert keyed.keys() == {
        "POST /api/v1/orders",
        "GET /api/v1/orders/{number}",
        "POST /api/v1/orders/{number}/cancel",
        "POST /api/v1/orders/{number}/cancellations",
        "POST /api/v1/orders/{number}/edits",
        "GET /api/v1/stock/{sku}",
        "GET /api/v1/promise",
        "POST /api/v1/tracking",
    }
    assert {name: answer(operation, "401") for name, operation in keyed.items()} == dict.fromkeys(keyed, ERRORS)


def test_every_refusal_of_every_operation_has_the_one_error_shape(schema):
    refusals = {
        (name, status): answer(operation, status)
        for name, operation in operations(schema)
        for status in operation["responses"]
        if status in {"400", "401", "404"}
    }

    assert all(value == ERRORS for value in refusals.values()), refusals
    every_400 = {name for name, _ in operations(schema)}
    assert {name for name, status in refusals if status == "400"} == every_400
    assert {name for name, status in refusals if status == "404"} == {
        "GET /api/v1/orders/{number}",
        "POST /api/v1/orders/{number}/cancel",
        "POST /api/v1/orders/{number}/cancellations",
        "POST /api/v1/orders/{number}/edits",
        "GET /api/v1/stock/{sku}",
        "POST /api/v1/webhooks/shopify/{channel_code}/orders-updated",
        "POST /api/v1/webhooks/shopify/{channel_code}/orders-cancelled",
    }
    error = schema["components"]["schemas"]["FieldErrorOut"]
    assert error["required"] == ["loc", "path", "msg"]


def test_a_401_answers_as_documented(client, goods):
    response = client.get(f"{ORDERS}/SO-0000001", headers={"Authorization": "Bearer oms_not-a-key"})

    assert response.status_code == 401
    assert response.json() == {
        "detail": [
            {
                "loc": ["header", "Authorization"],
                "path": "Authorization",
                "msg": "Missing or unknown credentials: send `Authorization: Bearer <key>`.",
            }
        ]
    }


def test_money_in_the_order_body_is_a_string_with_the_pattern_the_api_checks(schema):
    body = schema["paths"][ORDERS]["post"]["requestBody"]["content"]["application/json"]["schema"]
    line = body["properties"]["lines"]["items"]["properties"]

    money = [line["unit_price"], *(body["properties"][name] for name in ("shipping_total", "tax_total"))]
    for field in money:
        assert field["type"] == "string"
        assert field["pattern"] == r"^\d{1,10}(\.\d{1,2})?$"
    assert "anyOf" not in line["unit_price"]
    for amount in ("24", "24.5", "24.50", "0.00", "9999999999.99"):
        assert re.fullmatch(line["unit_price"]["pattern"].strip("^$"), amount)


@pytest.mark.parametrize(
    ("price", "status"),
    [
        ("24", 201),
        ("24.5", 201),
        ("24.50", 201),
        (24.5, 400),  # a JSON number: a float on the way
        (24, 400),
        ("24.505", 400),
        ("-1.00", 400),
        (" 24.00", 400),
        ("2.4e1", 400),
        ("١٢", 400),  # Arabic-Indic digits: Python reads them as 12, the schema's \d does not
        ("12345678901.00", 400),
    ],
)
def test_the_api_takes_exactly_the_money_the_schema_allows(api, goods, sites, price, status):
    payload = order_payload()
    payload["lines"][0]["unit_price"] = price

    response = api.post(ORDERS, payload)

    assert response.status_code == status, response.content
    if status == 400:
        (error,) = response.json()["detail"]
        assert error["path"] == "lines[0].unit_price"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (("lines", 0, "quantity"), "2"),  # a string where the schema says integer
        (("lines", 0, "quantity"), 2.0),
        (("customer", "accepts_marketing"), "yes"),
        (("placed_at",), 1764000000),  # a Unix timestamp where the schema says a date-time string
        (("promised_date",), 20261201),
    ],
)
def test_a_value_of_another_json_type_than_the_schema_says_is_refused(api, goods, sites, field, value):
    payload = order_payload()
    target = payload
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value

    response = api.post(ORDERS, payload)

    assert response.status_code == 400, response.content
    assert response.json()["detail"][0]["loc"] == ["body", *field]


def test_what_the_order_schema_requires_is_what_the_api_requires(schema, api, goods, sites):
    body = schema["paths"][ORDERS]["post"]["requestBody"]["content"]["application/json"]["schema"]

    for field in body["properties"]:
        payload = order_payload(f"WEB-{field}")
        payload.pop(field, None)
        response = api.post(ORDERS, payload)
        if field in body["required"]:
            assert response.status_code == 400, field
            assert ["body", field] in [error["loc"] for error in response.json()["detail"]]
        else:
            assert response.status_code == 201, (field, response.content)


def test_a_carrier_is_offered_only_the_scan_statuses_it_may_send(schema):
    event = schema["components"]["schemas"]["TrackingEventIn"]["properties"]["status"]
    status = schema["components"]["schemas"][event["$ref"].rsplit("/", 1)[-1]] if "$ref" in event else event

    assert sorted(status["enum"]) == ["delivered", "exception", "in_transit"]


def test_the_promise_documents_its_bounds(schema):
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/promise"]["get"]["parameters"]}

    assert parameters["qty"]["schema"]["items"]["minimum"] == 1
    assert parameters["sku"]["schema"]["minItems"] == 1
    assert parameters["sku"]["required"] is True and parameters["qty"]["required"] is False
