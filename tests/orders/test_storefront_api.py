"""The storefront's delivery date (GET /api/v1/storefront/promise): key, origins, input, rate limit, the promise."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from orders.models import Channel, Order, OrderEvent
from orders.services.channels import issue_api_key, revoke_publishable_key, rotate_publishable_key
from shipping.promise import quote_promise
from tests.factories import ChannelFactory, OrderFactory, ProductFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = pytest.mark.django_db
URL = "/api/v1/storefront/promise"
STORE = "https://shop.example"
# Monday 23 Nov 2026, 11:00 local: before the warehouses' 15:00 cut-off.
MONDAY_11 = timezone.make_aware(dt.datetime(2026, 11, 23, 11, 0))


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def frozen(monkeypatch):
    """Freeze the clock at ``MONDAY_11`` (or another instant: ``frozen(at)``) for everything that reads it."""

    def freeze(at: dt.datetime = MONDAY_11) -> dt.datetime:
        monkeypatch.setattr(timezone, "now", lambda: at)
        return at

    return freeze


@pytest.fixture
def store(db) -> Channel:
    channel = ChannelFactory(code="northwind", name="Northwind", allowed_origins=f"{STORE}\nhttp://localhost:3000")
    return rotate_publishable_key(channel_id=channel.pk, actor="test")


@pytest.fixture
def tee(sites, stock):
    product = ProductFactory(sku="TEE-1", weight_kg="0.400")
    stock(sites["EWR"], product, 5)
    return product


def ask(client, store, *, origin=STORE, **query):
    params = {"key": store.publishable_key, "zip": "10001", "sku": "TEE-1", **query}
    headers = {"Origin": origin} if origin else {}
    return client.get(URL, {k: v for k, v in params.items() if v is not None}, headers=headers)


@pytest.mark.usefixtures("carriers", "tee")
def test_the_date_is_the_promise_services_for_the_same_zip_and_time(client, store, frozen):
    # given the clock at Monday 11:00, before EWR's 15:00 cut-off
    now = frozen()

    # when the store's page asks for ZIP 10001
    response = ask(client, store, zip="10001", sku="TEE-1", qty="2")

    # then the date, cut-off and service are the promise service's cheapest option, and the page may read it
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == STORE
    body = response.json()
    promise = quote_promise(postal_code="10001", items=[("TEE-1", 2)], now=now)
    assert body["deliverable"] is True
    assert body["date"] == promise.cheapest_date.isoformat() == "2026-12-01"  # picked up Tue, 5 days of ground
    assert body["service"] == "Budget Freight Ground"
    assert dt.datetime.fromisoformat(body["order_by"]) == promise.cheapest_order_by
    assert dt.datetime.fromisoformat(body["order_by"]) == timezone.make_aware(dt.datetime(2026, 11, 23, 15, 0))
    assert dt.datetime.fromisoformat(body["now"]) == now


@pytest.mark.usefixtures("carriers", "tee")
@pytest.mark.parametrize("target_days", [None, 2])
def test_the_date_equals_the_channels_promise_apis_chosen_date(client, store, frozen, settings, target_days):
    # given the clock at Monday 11:00, and a store aiming at no date, or at two business days (faster than the
    # cheapest ground service, so the service the order would get is not the cheapest)
    settings.SHIPPING_PROMISE_TARGET_DAYS = target_days
    settings.SHIPPING_PROMISE_TARGET_MAX_PREMIUM = Decimal("100.00")
    frozen()
    _, api_key = issue_api_key(channel_id=store.pk, name="checkout", actor="test")

    shown = ask(client, store, zip="10001", sku="TEE-1", qty="2").json()
    api = client.get(
        "/api/v1/promise",
        {"postal_code": "10001", "sku": "TEE-1", "qty": "2"},
        headers={"Authorization": f"Bearer {api_key}"},
    ).json()

    # then the product page's date and cut-off are the promise API's chosen ones for the same ZIP
    assert shown["date"] == api["chosen"]["date"]
    assert shown["order_by"] == api["chosen"]["order_by"]
    assert (shown["date"] == api["cheapest"]["date"]) is (target_days is None)


@pytest.mark.usefixtures("carriers", "tee")
def test_after_the_cut_off_the_date_moves_a_day_and_the_countdown_runs_to_tomorrows(client, store, frozen):
    frozen(MONDAY_11.replace(hour=16))

    body = ask(client, store).json()

    assert body["date"] == "2026-12-02"
    assert dt.datetime.fromisoformat(body["order_by"]) == timezone.make_aware(dt.datetime(2026, 11, 24, 15, 0))


@pytest.mark.usefixtures("carriers", "tee")
def test_on_friday_evening_the_countdown_runs_to_mondays_cut_off(client, store, frozen):
    frozen(timezone.make_aware(dt.datetime(2026, 11, 27, 18, 0)))

    body = ask(client, store).json()

    assert dt.datetime.fromisoformat(body["order_by"]) == timezone.make_aware(dt.datetime(2026, 11, 30, 15, 0))


@pytest.mark.usefixtures("carriers", "tee")
def test_stock_routing_chooses_the_warehouse_the_date_comes_from(client, store, sites, stock, frozen):
    # given mugs only in Reno, which takes three days to pack, and tees in New Jersey, one day
    frozen()
    sites["RNO"].processing_days = 3
    sites["RNO"].save()
    stock(sites["RNO"], ProductFactory(sku="MUG-1", weight_kg="0.600"), 9)

    near = ask(client, store, sku="TEE-1").json()
    far = ask(client, store, sku="MUG-1").json()

    # then the mug, shipped from Reno, arrives two business days after the tee from New Jersey
    assert (near["date"], far["date"]) == ("2026-12-01", "2026-12-03")
    assert (
        far["date"] == quote_promise(postal_code="10001", items=[("MUG-1", 1)], now=MONDAY_11).cheapest_date.isoformat()
    )


@pytest.mark.usefixtures("carriers", "tee")
def test_a_page_of_another_origin_gets_a_403_and_no_cors_headers(client, store):
    response = ask(client, store, origin="https://evil.example")

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert response.json()["detail"][0]["loc"] == ["header", "Origin"]


@pytest.mark.usefixtures("carriers", "tee")
def test_an_allowed_origin_is_matched_as_browsers_send_it(client, store):
    response = ask(client, store, origin="http://localhost:3000")

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "Origin" in response["Vary"]


@pytest.mark.usefixtures("carriers", "tee")
def test_a_request_without_origin_is_answered_without_cors_headers(client, store):
    response = ask(client, store, origin=None)

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.usefixtures("carriers", "tee")
@pytest.mark.parametrize("key", ["", "pk_nope", "oms_secret_api_key_shape"])
def test_an_unknown_key_is_a_401_naming_the_key(client, store, key):
    response = client.get(URL, {"key": key, "zip": "10001", "sku": "TEE-1"}, headers={"Origin": STORE})

    assert response.status_code == 401
    assert response.json()["detail"][0]["path"] == "key"
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.usefixtures("carriers", "tee")
def test_a_channels_secret_api_key_is_no_publishable_key(client, store, channel_key):
    response = client.get(URL, {"key": channel_key.key, "zip": "10001", "sku": "TEE-1"})

    assert response.status_code == 401


@pytest.mark.usefixtures("carriers", "tee")
def test_the_publishable_key_opens_nothing_else_of_the_api(client, store, products):
    # given an order of the store's channel, and its page's public key presented as if it were an API key
    order = OrderFactory(channel=store)
    as_api_key = {"Authorization": f"Bearer {store.publishable_key}"}
    new_order = {
        "external_id": "pk-1",
        "customer": {"name": "Ann Lee", "email": "ann@example.com"},
        "shipping_address": {"name": "Ann Lee", "line1": "1 Main St", "city": "New York", "postal_code": "10001"},
        "lines": [{"sku": products[0].sku, "quantity": 1, "unit_price": "10.00"}],
    }
    before = (Order.objects.count(), OrderEvent.objects.count())

    answers = [
        client.get(f"/api/v1/orders/{order.number}", headers=as_api_key),
        client.post("/api/v1/orders", new_order, content_type="application/json", headers=as_api_key),
        client.post(f"/api/v1/orders/{order.number}/cancel", {}, content_type="application/json", headers=as_api_key),
        client.get(f"/api/v1/stock/{products[0].sku}", headers=as_api_key),
        client.get("/api/v1/promise", {"postal_code": "10001", "sku": "TEE-1"}, headers=as_api_key),
    ]

    # then every one is refused as unauthorised, and nothing was written
    assert [answer.status_code for answer in answers] == [401] * len(answers)
    assert (Order.objects.count(), OrderEvent.objects.count()) == before
    order.refresh_from_db()
    assert order.status != "cancelled"


@pytest.mark.usefixtures("carriers", "tee")
def test_a_revoked_key_stops_working_at_once(client, store):
    old = store.publishable_key
    revoke_publishable_key(channel_id=store.pk, actor="test")

    response = client.get(URL, {"key": old, "zip": "10001", "sku": "TEE-1"}, headers={"Origin": STORE})

    assert response.status_code == 401


@pytest.mark.usefixtures("carriers", "tee")
def test_a_rotated_key_replaces_the_old_one(client, store):
    old = store.publishable_key
    rotated = rotate_publishable_key(channel_id=store.pk, actor="test")

    assert rotated.publishable_key.startswith("pk_") and rotated.publishable_key != old
    assert client.get(URL, {"key": old, "zip": "10001", "sku": "TEE-1"}).status_code == 401
    assert ask(client, rotated).status_code == 200


@pytest.mark.usefixtures("carriers", "tee")
def test_an_inactive_channels_key_is_refused(client, store):
    Channel.objects.filter(pk=store.pk).update(is_active=False)

    assert ask(client, store).status_code == 401


@pytest.mark.usefixtures("carriers", "tee")
@pytest.mark.parametrize(
    ("query", "path", "words"),
    [
        ({"zip": ""}, "zip", "zip is required"),
        ({"zip": "1000"}, "zip", "five digits"),
        ({"zip": "NY 10001"}, "zip", "five digits"),
        ({"zip": "99999"}, "zip", "99999"),  # the shape of a ZIP, but none
        ({"zip": "10001\x00"}, "zip", "control character"),
        ({"sku": None}, "sku", "sku is required"),
        ({"sku": "NOPE"}, "sku[0]", "NOPE"),
        ({"qty": "two"}, "qty[0]", "whole number"),
        ({"qty": "0"}, "qty[0]", "whole number"),
        ({"country": "USA"}, "country", "two-letter"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_readable_by_the_store(client, store, query, path, words):
    response = ask(client, store, **query)

    assert response.status_code == 400
    (error,) = response.json()["detail"]
    assert error["path"] == path
    assert words in error["msg"]
    assert response["Access-Control-Allow-Origin"] == STORE  # the store's developer sees why in the console


@pytest.mark.usefixtures("carriers", "tee")
def test_a_zip_plus_four_is_read_as_its_zip(client, store):
    body = ask(client, store, zip="10001-1234").json()

    assert body["zip"] == "10001" and body["deliverable"] is True


@pytest.mark.usefixtures("carriers")
def test_what_no_warehouse_holds_answers_no_date(client, store, sites):
    ProductFactory(sku="GONE-1")

    body = ask(client, store, sku="GONE-1").json()

    assert body["deliverable"] is False and body["date"] is None and body["order_by"] is None


@pytest.mark.usefixtures("carriers", "tee")
def test_over_the_rate_limit_a_client_gets_429_until_the_next_minute(client, store, settings):
    settings.STOREFRONT_PROMISE_RATE_LIMIT = 3

    answers = [ask(client, store).status_code for _ in range(4)]
    other = client.get(URL, {"key": store.publishable_key, "zip": "10001", "sku": "TEE-1"}, REMOTE_ADDR="203.0.113.9")

    assert answers == [200, 200, 200, 429]
    assert other.status_code == 200  # counted per client address
    limited = ask(client, store)
    assert limited.status_code == 429 and limited["Retry-After"] == "60"


@pytest.mark.usefixtures("carriers", "tee")
def test_the_endpoint_writes_nothing(client, store, django_assert_max_num_queries):
    with django_assert_max_num_queries(30) as context:
        ask(client, store)

    assert not [q["sql"] for q in context.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
