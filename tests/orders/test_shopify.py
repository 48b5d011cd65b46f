"""Shopify's orders/create webhook: the real sample order end to end, its variants, and any body at all."""

import base64
import copy
import datetime as dt
import hashlib
import hmac
import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connections
from django.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from orders.channels import PayloadError
from orders.channels.forms import ChannelForm
from orders.channels.shopify import order_data_from_shopify
from orders.models import (
    Address,
    ChannelVariant,
    Customer,
    Order,
    OrderEvent,
    OrderIntake,
    OrderLine,
    OrderStatus,
)
from tests.factories import ChannelFactory, ProductFactory

pytestmark = pytest.mark.django_db

SECRET = "shpss_4f1c2a9d0b7e"
URL = "/api/v1/webhooks/shopify/shopify-us/orders-create"
# Shopify's own sample order (test/fixtures/order.json of Shopify/shopify_python_api, MIT), unchanged.
FIXTURE = Path(__file__).with_name("shopify_order.json")
PUBLISHED = json.loads(FIXTURE.read_text())["order"]  # the webhook body is the inner order object
# It was created in 2008, and an order placed more than ORDER_PLACED_AT_MAX_AGE_DAYS ago is refused: it is sent as
# created yesterday, at its own wall time and offset (11:00 at -05:00).
EASTERN = dt.timezone(dt.timedelta(hours=-5))
CREATED_AT = (dt.datetime.now(EASTERN) - dt.timedelta(days=1)).replace(hour=11, minute=0, second=0, microsecond=0)
PUBLISHED["created_at"] = CREATED_AT.isoformat()
# As published, its totals leave out one of its three lines: subtotal 398.00 and total_price 409.94, where the
# three lines of 199.00 and the tax of 11.94 make 608.94. The published order is the test of the hold on a total
# Shopify disagrees with; the other tests send it with the totals Shopify would have sent.
SAMPLE = {
    **PUBLISHED,
    "subtotal_price": "597.00",
    "total_line_items_price": "597.00",
    "total_price": "608.94",
    "total_price_usd": "608.94",
}


@pytest.fixture
def shopify(db):
    """The Shopify channel with its shared secret, and the SKUs of the sample order in the catalogue."""
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        ProductFactory(sku=sku, name=f"iPod nano {sku[8:].lower()}")
    return ChannelFactory(code="shopify-us", name="Shopify US", webhook_secret=SECRET)


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def send(
    client, order=None, *, body: bytes | None = None, secret=SECRET, topic="orders/create", url=URL, signature=None
):
    """POST a Shopify order (a dict) or raw bytes, signed as Shopify signs it."""
    if body is None:
        body = json.dumps(SAMPLE if order is None else order).encode()
    headers = {"X-Shopify-Hmac-Sha256": signature if signature is not None else sign(body, secret)}
    if topic is not None:
        headers["X-Shopify-Topic"] = topic
    return client.post(url, data=body, content_type="application/json", headers=headers)


def sample(**changes) -> dict:
    order = copy.deepcopy(SAMPLE)
    order.update(changes)
    return order


def written() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Order, OrderLine, Customer, Address, OrderEvent))


# --- the sample order


def test_the_sample_order_becomes_an_order_with_its_customer_addresses_lines_and_totals(client, shopify):
    response = send(client)

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert response.json() == {"order": order.number, "created": True}
    assert (order.channel, order.external_id, order.currency) == (shopify, "450789469", "USD")
    assert order.placed_at == dt.datetime.combine(CREATED_AT.date(), dt.time(16, 0), tzinfo=dt.UTC)  # 11:00 at -05:00
    assert (order.customer.name, order.customer.email, order.customer.phone) == (
        "Bob Norman",
        "bob.norman@hostmail.com",
        "555-625-1199",
    )
    ship = order.shipping_address
    assert (ship.name, ship.line1, ship.line2, ship.city, ship.state, ship.postal_code, ship.country) == (
        "Bob Norman",
        "Chestnut Street 92",
        "",
        "Louisville",
        "KY",
        "40202",
        "US",
    )
    assert order.billing_address.line1 == "Chestnut Street 92"
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines.all()] == [
        ("IPOD2008GREEN", 1, Decimal("199.00")),
        ("IPOD2008RED", 1, Decimal("199.00")),
        ("IPOD2008BLACK", 1, Decimal("199.00")),
    ]
    assert (order.subtotal, order.shipping_total, order.tax_total, order.discount_total, order.grand_total) == (
        Decimal("597.00"),
        Decimal("0.00"),
        Decimal("11.94"),
        Decimal("0.00"),
        Decimal("608.94"),
    )
    assert (order.payment_gateway, order.payment_token) == ("channel", "450789469")
    assert order.intake.source == OrderIntake.Source.WEBHOOK
    assert order.intake.payload["extra"]["shopify"]["name"] == "#1001"
    placed = order.events.get(kind=OrderEvent.Kind.PLACED)
    assert placed.actor_name == "channel: Shopify US (Shopify webhook)"
    assert order.status != OrderStatus.ON_HOLD  # Shopify's total is the OMS's


def test_the_rest_api_wrapping_is_accepted_too(client, shopify):
    response = send(client, {"order": SAMPLE})

    assert response.status_code == 201
    assert Order.objects.get().external_id == "450789469"


# --- who may send


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "no signature", "garbage signature", "unknown channel", "inactive channel", "no secret set"],
)
def test_an_unsigned_or_misdirected_webhook_is_401_and_writes_nothing(client, shopify, case):
    kwargs = {
        "wrong secret": {"secret": "not-the-secret"},
        "no signature": {"signature": ""},
        "garbage signature": {"signature": "é%% not base64"},
        "unknown channel": {"url": URL.replace("shopify-us", "shopify-eu")},
        "inactive channel": {},
        "no secret set": {"secret": ""},
    }[case]
    if case == "inactive channel":
        shopify.is_active = False
        shopify.save()
    if case == "no secret set":
        shopify.webhook_secret = ""
        shopify.save()
    before = written()

    response = send(client, **kwargs)

    assert response.status_code == 401
    # The same answer whatever was wrong: a caller learns nothing about which channels exist.
    assert response.json()["detail"][0]["msg"].startswith("Unknown or inactive channel, or the signature")
    assert written() == before


def test_the_signature_is_checked_on_the_bytes_sent_not_on_the_parsed_json(client, shopify):
    body = json.dumps(SAMPLE).encode()
    reformatted = json.dumps(SAMPLE, indent=2).encode()  # the same JSON, other bytes

    response = send(client, body=reformatted, signature=sign(body))

    assert response.status_code == 401
    assert not Order.objects.exists()


def test_a_topic_other_than_orders_create_is_400(client, shopify):
    response = send(client, topic="orders/updated")

    assert response.status_code == 400
    assert response.json()["detail"] == [
        {
            "loc": ["header", "X-Shopify-Topic"],
            "path": "X-Shopify-Topic",
            "msg": "must be orders/create, not 'orders/updated'",
        }
    ]
    assert not Order.objects.exists()


def test_a_body_that_is_not_json_is_400(client, shopify):
    response = send(client, body=b'{"id": 1, "line_items": [')

    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert "not valid JSON" in response.json()["detail"][0]["msg"]


# --- replays


def test_a_replay_is_200_with_the_same_order_and_writes_nothing(client, shopify):
    first = send(client).json()
    before = written()

    replay = send(client)

    assert replay.status_code == 200
    assert replay.json() == {"order": first["order"], "created": False}
    assert written() == before
    assert Order.objects.count() == 1


def test_a_replay_with_different_content_is_409_naming_what_changed(client, shopify):
    send(client)
    changed = sample()
    changed["line_items"][1]["quantity"] = 2
    before = written()

    response = send(client, changed)

    assert response.status_code == 409
    body = response.json()
    assert body["order"] == Order.objects.get().number
    assert body["differences"] == [{"path": "lines[1].quantity", "existing": 1, "received": 2}]
    assert "lines[1].quantity" in body["detail"]
    assert written() == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_webhook_delivered_twice_at_once_makes_one_order(shopify):
    """Shopify retries when an answer is slow, so a retry can arrive while the first is still running."""
    body = json.dumps(SAMPLE).encode()
    barrier = threading.Barrier(4)
    answers, errors = [], []

    def deliver():
        try:
            client = Client()
            barrier.wait(timeout=10)
            answers.append(send(client, body=body).status_code)
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(answers) == [200, 200, 200, 201]
    assert Order.objects.count() == 1
    assert Customer.objects.count() == 1


# --- the shapes Shopify orders come in


def test_without_a_billing_address_the_shipping_address_bills(client, shopify):
    response = send(client, sample(billing_address=None))

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert order.billing_address == order.shipping_address


def test_without_a_customer_object_the_name_comes_from_the_shipping_address(client, shopify):
    order = sample(phone=None)
    del order["customer"]
    order["shipping_address"]["phone"] = None

    response = send(client, order)

    assert response.status_code == 201, response.content
    customer = Order.objects.get().customer
    assert (customer.name, customer.email, customer.phone) == ("Bob Norman", "bob.norman@hostmail.com", "")


@pytest.mark.parametrize("where", ["contact_email", "customer.email"])
def test_the_email_may_be_only_on_contact_email_or_the_customer(client, shopify, where):
    order = sample(email=None)
    order["customer"]["email"] = None
    if where == "contact_email":
        order["contact_email"] = "Kim.Lee@Example.org"
    else:
        order["customer"]["email"] = "Kim.Lee@Example.org"

    response = send(client, order)

    assert response.status_code == 201, response.content
    assert Order.objects.get().customer.email == "kim.lee@example.org"


def test_an_order_with_no_email_anywhere_is_400_naming_where_it_looked(client, shopify):
    order = sample(email="")
    order["customer"]["email"] = None

    response = send(client, order)

    assert response.status_code == 400
    assert response.json()["detail"] == [
        {
            "loc": ["body", "email"],
            "path": "email",
            "msg": "missing (looked at email, contact_email and customer.email)",
        }
    ]


@pytest.mark.parametrize(("first", "last"), [("Zoë", "Ångström"), ("太郎", "山田")])
def test_non_ascii_names_are_kept_exactly(client, shopify, first, last):
    order = sample()
    order["customer"].update(first_name=first, last_name=last)
    order["shipping_address"].update(first_name=first, last_name=last, name=f"{first} {last}", city="Åre")
    order["billing_address"] = None

    response = send(client, order)

    assert response.status_code == 201, response.content
    placed = Order.objects.get()
    assert placed.customer.name == f"{first} {last}"
    assert (placed.shipping_address.name, placed.shipping_address.city) == (f"{first} {last}", "Åre")


def test_quantities_above_one_and_repeated_skus_make_one_line_per_sku_and_price(client, shopify):
    order = sample()
    order["line_items"][0]["quantity"] = 3
    engraved = copy.deepcopy(order["line_items"][0])
    engraved.update(id=1, quantity=2, properties=[{"name": "Engraving", "value": "For Ana"}])
    on_sale = copy.deepcopy(order["line_items"][1])
    on_sale.update(id=2, price="149.00")
    order["line_items"] += [engraved, on_sale]
    order["total_price"] = "1553.94"  # 1542.00 of lines + 11.94 tax

    response = send(client, order)

    assert response.status_code == 201, response.content
    placed = Order.objects.get()
    assert [(line.sku, line.quantity, line.unit_price) for line in placed.lines.all()] == [
        ("IPOD2008GREEN", 5, Decimal("199.00")),  # 3 + 2 engraved: one SKU at one price
        ("IPOD2008RED", 1, Decimal("199.00")),
        ("IPOD2008BLACK", 1, Decimal("199.00")),
        ("IPOD2008RED", 1, Decimal("149.00")),  # the same SKU at another price stays its own line
    ]
    assert placed.subtotal == Decimal("1542.00")  # 5 × 199 + 199 + 199 + 149
    assert placed.status != OrderStatus.ON_HOLD


def test_discounts_shipping_and_tax_make_the_total_the_customer_paid(client, shopify):
    order = sample(
        total_discounts="10.00",
        total_tax="35.82",
        total_shipping_price_set={
            "shop_money": {"amount": "7.50", "currency_code": "USD"},
            "presentment_money": {"amount": "6.90", "currency_code": "EUR"},
        },
        total_price="630.32",
    )

    response = send(client, order)

    assert response.status_code == 201, response.content
    placed = Order.objects.get()
    assert (placed.shipping_total, placed.tax_total, placed.discount_total, placed.grand_total) == (
        Decimal("7.50"),
        Decimal("35.82"),
        Decimal("10.00"),
        Decimal("630.32"),  # 597.00 + 7.50 + 35.82 - 10.00
    )
    assert placed.status != OrderStatus.ON_HOLD


def test_tax_included_in_prices_is_not_added_again(client, shopify):
    order = sample(taxes_included=True, total_tax="99.50", currency="eur", total_price="603.00")
    order["shipping_lines"] = [{"title": "Standard", "price": "4.95"}, {"title": "Insurance", "price": "1.05"}]

    response = send(client, order)

    assert response.status_code == 201, response.content
    placed = Order.objects.get()
    assert (placed.currency, placed.shipping_total, placed.tax_total, placed.grand_total) == (
        "EUR",
        Decimal("6.00"),  # the shipping lines added up
        Decimal("0.00"),
        Decimal("603.00"),
    )
    assert placed.intake.payload["extra"]["shopify"]["included_tax"] == "99.50"
    assert placed.status != OrderStatus.ON_HOLD  # Shopify's total has the tax inside the prices too


def test_an_amount_sent_as_a_json_number_is_read_exactly(client, shopify):
    body = json.dumps(SAMPLE).replace('"total_tax": "11.94"', '"total_tax": 11.94').encode()

    response = send(client, body=body)

    assert response.status_code == 201, response.content
    assert Order.objects.get().tax_total == Decimal("11.94")


# --- refusals name the field


def test_a_line_without_a_sku_is_400_naming_its_path_and_writes_nothing(client, shopify):
    order = sample()
    order["line_items"][1]["sku"] = ""
    before = written()

    response = send(client, order)

    assert response.status_code == 400
    assert response.json()["detail"] == [
        {
            "loc": ["body", "line_items", 1, "sku"],
            "path": "line_items[1].sku",
            "msg": "line 2: variant 49148385 has no SKU and no mapping on channel shopify-us; "
            "add it under Channel variants",
        }
    ]
    assert written() == before


def test_a_line_with_neither_a_sku_nor_a_variant_is_400_naming_its_path(client, shopify):
    order = sample()
    order["line_items"][1].update(sku=None, variant_id=None)

    response = send(client, order)

    assert response.status_code == 400
    assert response.json()["detail"] == [
        {
            "loc": ["body", "line_items", 1, "sku"],
            "path": "line_items[1].sku",
            "msg": "missing: every line needs a SKU the OMS stocks or a variant_id the channel maps to one "
            "('IPod Nano - 8gb' has neither)",
        }
    ]


def test_a_refused_order_alerts_ops_once_however_often_shopify_retries_it(client, shopify, settings):
    from notifications import rendering
    from notifications.models import Message

    settings.OPS_EMAILS = ["ops@example.com"]
    order = sample()
    order["line_items"][2]["sku"] = "IPOD2008PINK"

    for _ in range(3):  # Shopify retries a refused delivery
        assert send(client, order).status_code == 400

    (alert,) = Message.objects.filter(event="channel_order_refused")
    assert alert.recipient == "ops@example.com"
    text = rendering.render("channel_order_refused", alert.context).text
    assert f"Shopify US sent order {SAMPLE['id']}" in text and "Unknown SKU: IPOD2008PINK." in text
    # a different refusal of the same order is news: a second alert
    order["line_items"][1]["sku"] = ""
    send(client, order)
    assert Message.objects.filter(event="channel_order_refused").count() == 2


def test_every_problem_is_reported_at_once(client, shopify):
    order = sample(currency=None, created_at="last Tuesday")
    order["line_items"][0]["quantity"] = 0
    del order["line_items"][2]["sku"]
    order["shipping_address"]["zip"] = None

    response = send(client, order)

    assert response.status_code == 400
    assert [error["loc"] for error in response.json()["detail"]] == [
        ["body", "currency"],
        ["body", "created_at"],
        ["body", "shipping_address", "zip"],
        ["body", "line_items", 0, "quantity"],
        ["body", "line_items", 2, "sku"],
    ]


def test_an_unknown_sku_is_400_naming_it(client, shopify):
    order = sample()
    order["line_items"][2]["sku"] = "IPOD2008PINK"

    response = send(client, order)

    assert response.status_code == 400
    assert response.json()["detail"] == [
        {"loc": ["body", "line_items"], "path": "line_items", "msg": "Unknown SKU: IPOD2008PINK."}
    ]
    assert not Order.objects.exists()


def test_the_converter_raises_one_error_listing_each_path_never_a_key_or_type_error():
    order = sample(total_tax=11.94, id=True)  # a float amount: money is never read from floats
    order["line_items"][2] = "IPOD2008BLACK"

    with pytest.raises(PayloadError) as refused:
        order_data_from_shopify(order)

    assert [problem.path for problem in refused.value.problems] == ["id", "line_items[2]", "total_tax"]
    assert "line_items[2]: must be an object (a line item)" in str(refused.value)


def test_the_endpoint_is_documented_in_the_openapi_schema(client):
    schema = client.get("/api/v1/openapi.json").json()

    operation = schema["paths"]["/api/v1/webhooks/shopify/{channel_code}/orders-create"]["post"]
    assert "X-Shopify-Hmac-Sha256" in operation["description"]


# --- lines without a SKU: the channel's variant table


def test_a_line_without_a_sku_takes_the_sku_its_variant_is_mapped_to(client, shopify):
    red, black = (ProductFactory(sku=sku) for sku in ("IPOD2008RED", "IPOD2008BLACK"))
    ChannelVariant.objects.create(channel=shopify, variant_id="49148385", product=red, title="iPod red")
    ChannelVariant.objects.create(channel=shopify, variant_id="457924702", product=black)
    other = ChannelFactory(code="shopify-eu")
    ChannelVariant.objects.create(channel=other, variant_id="39072856", product=black)  # another store's variant
    order = sample()
    order["line_items"][1]["sku"] = ""  # as real stores send it
    order["line_items"][2]["sku"] = None

    response = send(client, order)

    assert response.status_code == 201, response.content
    placed = Order.objects.get()
    # a line with its SKU keeps it; the others take their variant's
    assert [line.sku for line in placed.lines.all()] == ["IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"]
    assert placed.intake.payload["extra"]["shopify"]["variant_skus"] == {
        "457924702": "IPOD2008BLACK",
        "49148385": "IPOD2008RED",
    }


def test_a_line_without_a_sku_or_a_mapping_is_refused_naming_it_and_ops_hear_of_it(client, shopify, settings):
    from notifications import rendering
    from notifications.models import Message

    settings.OPS_EMAILS = ["ops@example.com"]
    ChannelVariant.objects.create(channel=shopify, variant_id="49148385", product=ProductFactory(sku="IPOD2008RED"))
    order = sample()
    order["line_items"][1]["sku"] = ""  # mapped
    order["line_items"][2]["sku"] = ""  # not mapped
    order["line_items"][2]["variant_id"] = 4471

    response = send(client, order)

    assert response.status_code == 400
    assert response.json()["detail"] == [
        {
            "loc": ["body", "line_items", 2, "sku"],
            "path": "line_items[2].sku",
            "msg": "line 3: variant 4471 has no SKU and no mapping on channel shopify-us; "
            "add it under Channel variants",
        }
    ]
    assert not Order.objects.exists()
    (alert,) = Message.objects.filter(event="channel_order_refused")
    text = rendering.render("channel_order_refused", alert.context).text
    assert "variant 4471 has no SKU and no mapping on channel shopify-us" in text


# --- Shopify's total against the OMS's


def hold_events():
    return list(OrderEvent.objects.filter(data__to=OrderStatus.ON_HOLD).values_list("message", flat=True))


def test_an_order_shopify_totals_differently_is_placed_on_hold_naming_both_totals(client, shopify, settings):
    from notifications.models import Message

    settings.OPS_EMAILS = ["ops@example.com"]

    # Shopify's sample as published: total_price 409.94, but its lines and tax make 608.94
    response = send(client, PUBLISHED)

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert order.status == OrderStatus.ON_HOLD
    reason = "Shopify total 409.94 USD differs from the computed total 608.94 USD by 199.00"
    (held,) = order.events.filter(data__to=OrderStatus.ON_HOLD)
    assert held.message == f"Put on hold: {reason}"
    assert held.actor_name == "channel: Shopify US (Shopify webhook)"
    assert held.data["cause"] == "channel"
    assert order.allocations.count() == 0  # held as it was placed: never routed
    (alert,) = Message.objects.filter(event="order_on_hold", recipient="ops@example.com")
    assert alert.context["reason"] == reason
    # Shopify's retry changes nothing: no second hold, no second alert
    assert send(client, PUBLISHED).status_code == 200
    assert len(hold_events()) == 1
    assert Message.objects.filter(event="order_on_hold").count() == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"total_price": "608.95"},  # a cent of rounding
        {"total_price": "608.93"},
        {"total_price": "613.94", "total_tip_received": "5.00"},  # a tip is paid on top
        {
            "total_price": "620.94",
            "original_total_duties_set": {"shop_money": {"amount": "12.00", "currency_code": "USD"}},
        },
        {"taxes_included": True, "total_price": "597.00"},  # the tax is inside the prices
        {"total_price": "598.94", "total_discounts": "10.00"},  # Shopify's own later sample: 597 - 10 + 11.94
        {"total_price": None},  # no total to compare with
    ],
    ids=["cent-up", "cent-down", "tip", "duties", "taxes-included", "discount", "no-total"],
)
def test_an_order_shopify_totals_as_the_oms_does_is_not_held(client, shopify, changes):
    response = send(client, sample(**changes))

    assert response.status_code == 201, response.content
    assert Order.objects.get().status != OrderStatus.ON_HOLD
    assert hold_events() == []


def test_a_total_two_cents_off_is_held(client, shopify):
    response = send(client, sample(total_price="608.96"))

    assert response.status_code == 201
    assert hold_events() == ["Put on hold: Shopify total 608.96 USD differs from the computed total 608.94 USD by 0.02"]


def test_a_total_price_that_is_not_an_amount_is_400(client, shopify):
    response = send(client, sample(total_price="lots"))

    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["body", "total_price"]
    assert not Order.objects.exists()


# --- internationalised email addresses


@pytest.mark.parametrize("email", ["josé@exämple.com", "用户@例子.广告", "ana@xn--exmple-cua.com"])
def test_an_internationalised_email_is_accepted_and_kept(client, shopify, email):
    order = sample(email=email)

    response = send(client, order)

    assert response.status_code == 201, response.content
    assert Order.objects.get().customer.email == email


# --- the console: the secret is write-only


def test_the_channel_form_keeps_the_secret_when_left_blank_replaces_or_removes_it(shopify):
    def save(**data):
        values = {"name": shopify.name, "code": shopify.code, "kind": shopify.kind, "default_currency": "USD"}
        values["is_active"] = True
        form = ChannelForm(data={**values, **data}, instance=shopify)
        assert form.is_valid(), form.errors
        form.save()
        shopify.refresh_from_db()
        return shopify.webhook_secret

    assert "shpss" not in ChannelForm(instance=shopify).as_p()  # never shown back
    assert save(webhook_secret="") == SECRET
    assert save(webhook_secret=" new-secret ") == "new-secret"
    assert save(clear_webhook_secret="on") == ""


def test_the_channel_page_does_not_show_the_secret(admin_client, shopify, settings):
    settings.OMS_BASE_URL = "https://oms.example.com/"
    response = admin_client.get(f"/admin/orders/channel/{shopify.pk}/change/")

    assert response.status_code == 200
    assert SECRET not in response.content.decode()
    # the whole URL to register in Shopify
    assert "https://oms.example.com/api/v1/webhooks/shopify/shopify-us/orders-create" in response.content.decode()
    assert admin_client.get("/admin/orders/channel/add/").status_code == 200


@pytest.mark.parametrize("who", ["Operations associate", "Returns associate"])
def test_who_may_only_view_a_channel_does_not_see_its_secret(client, roles, role_user, shopify, who):
    client.force_login(role_user(who))

    response = client.get(f"/admin/orders/channel/{shopify.pk}/change/")

    assert response.status_code == 200
    assert "Shopify US" in response.content.decode()
    assert SECRET not in response.content.decode()


# --- whatever arrives: a 2xx or a 4xx, never a 500, and a refusal writes nothing

PROPERTY = settings(
    max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
BASE = {key: value for key, value in SAMPLE.items() if key != "fulfillments"}  # mutations go where it matters
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.text(max_size=20)
    | st.sampled_from(["", "-1.00", "1e9999", "NaN", "0.001", "\x00", "\ud800", "2026-13-45T25:00:00", "a" * 300])
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


@st.composite
def mutated_orders(draw):
    """The sample order with a few of its parts deleted or replaced by any JSON value."""
    order = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from([p for p in paths(order) if p]))
        parent = order
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return order


def check(response, before):
    event(f"HTTP {response.status_code}")  # shown by --hypothesis-show-statistics
    assert response.status_code < 500
    if response.status_code == 201:
        assert written()[0] == before[0] + 1
    else:
        assert written() == before, f"a {response.status_code} wrote rows"
    if response.status_code >= 400:
        assert response.json()["detail"]


@PROPERTY
@given(order=mutated_orders())
def test_any_mutation_of_the_sample_gets_a_2xx_or_a_4xx_and_a_refusal_writes_nothing(client, shopify, order):
    before = written()

    check(send(client, order), before)


@PROPERTY
@given(body=st.binary(max_size=300) | json_values.map(lambda value: json.dumps(value).encode()))
def test_any_signed_body_at_all_gets_a_4xx(client, shopify, body):
    before = written()

    response = send(client, body=body)

    assert 400 <= response.status_code < 500
    check(response, before)
