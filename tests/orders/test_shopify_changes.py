"""Shopify's orders/updated and orders/cancelled webhooks: Shopify's own sample order placed, then changed as
Shopify sends the changes (an edit's current_quantity, discounts, several tax lines, non-ASCII, optional fields
left out); each applies through the order services or is refused with a named reason and an ops alert."""

import copy
import json

import pytest

from inventory.models import StockLevel
from notifications import rendering
from notifications.models import Message
from orders import services
from orders.exceptions import OrderChanged
from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from tests.orders.test_shopify import SAMPLE, send, shopify, sign  # noqa: F401 - the channel fixture
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = pytest.mark.django_db

UPDATED = "/api/v1/webhooks/shopify/shopify-us/orders-updated"
CANCELLED = "/api/v1/webhooks/shopify/shopify-us/orders-cancelled"


@pytest.fixture
def placed(client, shopify, sites, stock, settings, django_capture_on_commit_callbacks):  # noqa: F811
    """The sample order placed by its orders/create webhook and routed (every iPod reserved at Atlanta)."""
    from inventory.models import Product

    settings.OPS_EMAILS = ["ops@example.com"]
    for product in Product.objects.all():
        stock(sites["ATL"], product, 10)
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, SAMPLE).status_code == 201
    order = Order.objects.get()
    assert order.status == OrderStatus.ALLOCATED, order.status
    return order


def changed(**fields) -> dict:
    order = copy.deepcopy(SAMPLE)
    order.update(fields)
    return order


def post(client, url, order, topic, webhook_id="d1"):
    """POST a Shopify order to a change webhook, signed as Shopify signs it."""
    body = json.dumps(order).encode()
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id, "X-Shopify-Hmac-Sha256": sign(body)}
    return client.post(url, data=body, content_type="application/json", headers=headers)


def update(client, order, webhook_id="d1"):
    return post(client, UPDATED, order, "orders/updated", webhook_id)


def lines(order) -> list[tuple]:
    return [(line.sku, line.quantity) for line in OrderLine.objects.filter(order=order).order_by("pk")]


def alerts() -> list[str]:
    return [
        rendering.render("channel_order_refused", message.context).text
        for message in Message.objects.filter(event="channel_order_refused").order_by("pk")
    ]


@pytest.mark.usefixtures("carriers")
def test_an_edit_in_shopify_changes_quantities_totals_and_is_emailed_once(
    client, placed, django_capture_on_commit_callbacks
):
    # Shopify's order edit: 3 green, the red removed; a discount; two tax lines (state and city)
    edited = changed(
        total_discounts="25.00",
        total_tax="33.82",
        tax_lines=[
            {"price": "23.88", "rate": 0.06, "title": "State Tax"},
            {"price": "9.94", "rate": 0.025, "title": "Louisville Metro Tax"},
        ],
    )
    edited["line_items"][0]["current_quantity"] = 3
    edited["line_items"][1]["current_quantity"] = 0
    edited["line_items"][2]["current_quantity"] = 1

    with django_capture_on_commit_callbacks(execute=True):
        response = update(client, edited)

    assert response.status_code == 200, response.content
    assert response.json() == {"order": placed.number, "changed": True, "applied": ["items"]}
    order = Order.objects.get(pk=placed.pk)
    assert lines(order) == [("IPOD2008GREEN", 3), ("IPOD2008RED", 0), ("IPOD2008BLACK", 1)]
    assert (str(order.subtotal), str(order.tax_total), str(order.discount_total), str(order.grand_total)) == (
        "796.00",
        "33.82",
        "25.00",
        "804.82",
    )
    entry = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.LINES_EDITED)
    assert "IPOD2008GREEN 1 → 3" in entry.message and "IPOD2008RED removed (1 → 0)" in entry.message
    assert entry.actor_name == "channel: Shopify US (Shopify webhook)"
    assert Message.objects.filter(order_id=order.pk, event="order_changed").count() == 1
    # Shopify retries the delivery: nothing differs any more, nothing changes
    again = update(client, edited)
    assert again.json() == {"order": placed.number, "changed": False, "applied": []}
    assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.LINES_EDITED).count() == 1


@pytest.mark.usefixtures("carriers")
def test_a_new_address_in_shopify_with_non_ascii_and_optional_fields_left_out(client, placed):
    edited = changed()
    for optional in ("billing_address", "phone", "shipping_lines", "tax_lines", "discount_codes", "note"):
        edited.pop(optional, None)
    edited["shipping_address"] = {
        "first_name": "Zoë",
        "last_name": "Ñúñez",
        "address1": "Bardstown Road 1200 — Apt 3",
        "city": "Louisville",
        "zip": "40204",
        "province_code": "KY",
        "country_code": "US",
    }

    response = update(client, edited)

    assert response.status_code == 200, response.content
    assert response.json()["applied"] == ["address"]
    address = Order.objects.get(pk=placed.pk).shipping_address
    assert (address.name, address.line1, address.postal_code) == ("Zoë Ñúñez", "Bardstown Road 1200 — Apt 3", "40204")
    entry = OrderEvent.objects.get(order=placed, kind=OrderEvent.Kind.ADDRESS_CHANGED)
    assert "Zoë Ñúñez" in entry.message and entry.message.endswith(": Changed in Shopify")


def test_an_address_whose_zip_and_city_disagree_is_refused_with_an_ops_alert(client, placed):
    edited = changed()
    edited["shipping_address"] = {**SAMPLE["shipping_address"], "city": "Lexington"}

    response = update(client, edited)

    assert response.status_code == 409
    assert "ZIP code 40202 is Louisville, KY, not 'Lexington'" in response.json()["detail"]
    assert Order.objects.get(pk=placed.pk).shipping_address.city == "Louisville"
    (alert,) = alerts()
    assert f"sent a change to order 450789469 (OMS order {placed.number}, Shopify orders/updated)" in alert
    assert "Lexington" in alert


def test_an_unknown_sku_or_unreadable_body_is_refused_naming_the_field(client, placed):
    edited = changed()
    edited["line_items"].append({**SAMPLE["line_items"][0], "id": 1, "sku": "IPOD2099GOLD", "current_quantity": 1})
    response = update(client, edited)
    assert response.status_code == 409 and "unknown or inactive SKU 'IPOD2099GOLD'" in response.json()["detail"]

    bad = changed()
    bad["line_items"][0]["current_quantity"] = "three"
    response = update(client, bad, webhook_id="d2")
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["body", "line_items", 0, "current_quantity"]
    assert lines(placed) == [("IPOD2008GREEN", 1), ("IPOD2008RED", 1), ("IPOD2008BLACK", 1)]
    assert len(alerts()) == 2


def test_a_change_to_a_shipped_order_is_refused_with_an_ops_alert(client, placed):
    Order.objects.filter(pk=placed.pk).update(status=OrderStatus.SHIPPED)
    edited = changed()
    edited["line_items"][0]["current_quantity"] = 2

    response = update(client, edited)

    assert response.status_code == 409 and "can no longer change" in response.json()["detail"]
    assert len(alerts()) == 1


def test_unknown_orders_and_bad_signatures_are_refused(client, placed):
    response = update(client, changed(id=999))
    assert response.status_code == 404 and len(alerts()) == 1
    body = json.dumps(changed()).encode()
    forged = client.post(
        UPDATED,
        data=body,
        content_type="application/json",
        headers={"X-Shopify-Topic": "orders/updated", "X-Shopify-Hmac-Sha256": "bm90IGl0"},
    )
    assert forged.status_code == 401
    wrong_topic = post(client, UPDATED, changed(), "orders/create")
    assert wrong_topic.status_code == 400


def test_a_cancellation_in_shopify_cancels_the_order_once(client, placed, django_capture_on_commit_callbacks):
    cancelled = changed(cancelled_at="2026-12-06T10:00:00-05:00", cancel_reason="customer")

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, CANCELLED, cancelled, "orders/cancelled")

    assert response.status_code == 200 and response.json()["applied"] == ["cancelled"]
    order = Order.objects.get(pk=placed.pk)
    assert order.status == OrderStatus.CANCELLED
    assert OrderEvent.objects.filter(order=order, message__contains="Cancelled in Shopify (customer)").exists()
    assert sum(StockLevel.objects.values_list("allocated", flat=True)) == 0
    assert post(client, CANCELLED, cancelled, "orders/cancelled").json()["changed"] is False
    # an orders/updated carrying cancelled_at is the same cancellation
    assert update(client, cancelled).json()["changed"] is False


def test_cancelling_a_shipped_order_is_refused_with_an_ops_alert(client, placed):
    Order.objects.filter(pk=placed.pk).update(status=OrderStatus.SHIPPED)

    response = post(client, CANCELLED, changed(cancelled_at="2026-12-06T10:00:00Z"), "orders/cancelled")

    assert response.status_code == 409 and "Returns" in response.json()["detail"]
    (alert,) = alerts()
    assert "cancelled_at" in alert


@pytest.mark.usefixtures("carriers")
def test_a_change_made_in_the_oms_is_not_undone_by_shopifys_next_unrelated_update(
    client, placed, django_capture_on_commit_callbacks
):
    from orders import services

    # given the address corrected and a green iPod added in the OMS (not in Shopify)
    services.change_shipping_address(
        order_id=placed.pk,
        address=services.AddressData(
            name="Bob Norman", line1="Chestnut Street 94", city="Louisville", state="KY", postal_code="40202"
        ),
        reason="Customer called",
        actor="ana",
    )
    green = OrderLine.objects.get(order=placed, sku="IPOD2008GREEN")
    services.edit_lines(order_id=placed.pk, changes=[{"line": green.pk, "quantity": 2}], reason="Called", actor="ana")

    # when Shopify sends an update about something else (a note, its fulfilment status)
    response = update(client, changed(note="Leave at the door", fulfillment_status="partial"))

    # then nothing is undone
    assert response.json() == {"order": placed.number, "changed": False, "applied": []}
    assert Order.objects.get(pk=placed.pk).shipping_address.line1 == "Chestnut Street 94"
    assert OrderLine.objects.get(pk=green.pk).quantity == 2

    # and when Shopify itself then edits the red one, only that is applied
    edited = changed(note="Leave at the door")
    edited["line_items"][1]["current_quantity"] = 2
    with django_capture_on_commit_callbacks(execute=True):
        response = update(client, edited, webhook_id="d2")
    assert response.json()["applied"] == ["items"]
    assert lines(placed) == [("IPOD2008GREEN", 2), ("IPOD2008RED", 2), ("IPOD2008BLACK", 1)]
    # and its next unrelated update changes nothing more
    assert update(client, {**edited, "note": "Ring twice"}, webhook_id="d3").json()["changed"] is False


@pytest.mark.usefixtures("carriers")
def test_a_discount_alone_in_shopify_changes_the_totals(client, placed, django_capture_on_commit_callbacks):
    before = Order.objects.get(pk=placed.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = update(client, changed(total_discounts="10.00"), webhook_id="discount")

    assert response.status_code == 200, response.content
    assert response.json() == {"order": placed.number, "changed": True, "applied": ["items"]}
    order = Order.objects.get(pk=placed.pk)
    assert lines(order) == lines(before)
    assert order.discount_total == before.discount_total + 10
    assert order.grand_total == before.grand_total - 10
    entry = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.LINES_EDITED)
    assert entry.actor_name == "channel: Shopify US (Shopify webhook)"
    assert not alerts()


@pytest.mark.usefixtures("carriers")
def test_an_older_update_delivered_after_a_newer_one_is_not_applied(client, placed, django_capture_on_commit_callbacks):
    older = changed(updated_at="2026-12-06T10:00:00-05:00")
    older["line_items"][0]["current_quantity"] = 2
    newer = changed(updated_at="2026-12-06T10:05:00-05:00")
    newer["line_items"][0]["current_quantity"] = 3

    # Shopify delivers the newer version first, then the older one
    with django_capture_on_commit_callbacks(execute=True):
        assert update(client, newer, webhook_id="w2").json()["changed"] is True
        late = update(client, older, webhook_id="w1")

    # the older one changes nothing and the timeline says why; its retry adds nothing
    assert late.status_code == 200, late.content
    assert late.json() == {"order": placed.number, "changed": False, "applied": []}
    assert OrderLine.objects.get(order=placed, sku="IPOD2008GREEN").quantity == 3
    note = OrderEvent.objects.get(order=placed, kind=OrderEvent.Kind.NOTE)
    assert note.message.startswith(
        "An update made in the channel at 2026-12-06T10:00:00-05:00 arrived after the newer one of "
        "2026-12-06T10:05:00-05:00 was applied; it was not applied"
    )
    assert note.actor_name == "channel: Shopify US (Shopify webhook)"
    assert update(client, older, webhook_id="w1").json()["changed"] is False
    assert OrderEvent.objects.filter(order=placed, kind=OrderEvent.Kind.NOTE).count() == 1
    assert OrderEvent.objects.filter(order=placed, kind=OrderEvent.Kind.LINES_EDITED).count() == 1

    # a still newer version (in another offset) is applied
    newest = changed(updated_at="2026-12-06T15:10:00+00:00")
    newest["line_items"][0]["current_quantity"] = 4
    with django_capture_on_commit_callbacks(execute=True):
        assert update(client, newest, webhook_id="w3").json()["applied"] == ["items"]
    assert OrderLine.objects.get(order=placed, sku="IPOD2008GREEN").quantity == 4


@pytest.mark.usefixtures("carriers")
def test_an_update_applied_halfway_applies_its_items_on_shopifys_retry(
    client, placed, monkeypatch, django_capture_on_commit_callbacks
):
    edited = changed(updated_at="2026-12-06T11:00:00-05:00")
    edited["shipping_address"] = {
        "first_name": "Zoë",
        "last_name": "Ñúñez",
        "address1": "Bardstown Road 1200",
        "city": "Louisville",
        "zip": "40204",
        "province_code": "KY",
        "country_code": "US",
    }
    edited["line_items"][0]["current_quantity"] = 3
    edit_lines = services.edit_lines
    tries = []

    def changed_meanwhile(**kwargs):  # the items' step finds the order changed under it, once
        tries.append(kwargs)
        if len(tries) == 1:
            raise OrderChanged(f"Order {placed} changed since it was read; try again.")
        return edit_lines(**kwargs)

    monkeypatch.setattr(services, "edit_lines", changed_meanwhile)

    # the address is applied, then the items' step fails: Shopify is told, and retries the delivery
    with django_capture_on_commit_callbacks(execute=True):
        first = update(client, edited, webhook_id="half")
    assert first.status_code == 409, first.content
    assert "(applied first: address)" in first.json()["detail"]
    assert OrderLine.objects.get(order=placed, sku="IPOD2008GREEN").quantity == 1

    with django_capture_on_commit_callbacks(execute=True):
        retry = update(client, edited, webhook_id="half")

    # the retry applies the items it lost, and does not change the address twice
    assert retry.status_code == 200, retry.content
    assert retry.json() == {"order": placed.number, "changed": True, "applied": ["items"]}
    assert OrderLine.objects.get(order=placed, sku="IPOD2008GREEN").quantity == 3
    assert OrderEvent.objects.filter(order=placed, kind=OrderEvent.Kind.ADDRESS_CHANGED).count() == 1
    assert update(client, edited, webhook_id="half").json()["changed"] is False
