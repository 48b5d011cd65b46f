"""Identical orders POSTed at the same moment, in real parallel transactions on PostgreSQL: one order."""

import threading

import pytest
from django.db import connections
from django.test import Client

from notifications.models import Message
from orders.models import Customer, Order
from tests.api.conftest import order_payload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
WORKERS = 6


def post_all(channel_key, payloads):
    """POST each payload from its own thread (own connection), all released at once by a barrier."""
    barrier = threading.Barrier(len(payloads))
    statuses, errors = [], []

    def post(payload):
        try:
            client = Client()
            barrier.wait(timeout=10)
            response = client.post(
                "/api/v1/orders", payload, content_type="application/json", headers=channel_key.headers
            )
            statuses.append((response.status_code, response.json()))
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(payload,)) for payload in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return statuses


def test_identical_concurrent_posts_make_one_order_one_customer_one_confirmation(channel_key, goods, sites):
    statuses = post_all(channel_key, [order_payload("RACE-1") for _ in range(WORKERS)])

    codes = sorted(code for code, _ in statuses)
    assert codes == [200] * (WORKERS - 1) + [201]
    assert len({body["number"] for _, body in statuses}) == 1
    assert Order.objects.filter(external_id="RACE-1").count() == 1
    assert Customer.objects.count() == 1
    assert Message.objects.filter(event="order_received").count() == 1


def test_concurrent_different_orders_under_one_id_keep_the_first_and_refuse_the_rest(channel_key, goods, sites):
    payloads = []
    for quantity in range(1, WORKERS + 1):
        payload = order_payload("RACE-2")
        payload["lines"][0]["quantity"] = quantity
        payloads.append(payload)

    statuses = post_all(channel_key, payloads)

    codes = sorted(code for code, _ in statuses)
    assert codes == [201] + [409] * (WORKERS - 1)
    order = Order.objects.get(external_id="RACE-2")
    winner = next(body for code, body in statuses if code == 201)
    assert order.number == winner["number"]
    for code, body in statuses:
        if code == 409:
            assert body["order"] == order.number
            assert [d["path"] for d in body["differences"]] == ["lines[0].quantity"]
