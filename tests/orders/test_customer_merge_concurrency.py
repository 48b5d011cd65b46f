"""A merge racing an order placed for the duplicate, in real parallel transactions on PostgreSQL: no order is
left pointing at a deleted customer, and no order is lost."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import Client

from orders.models import Customer, Order
from orders.services import customers as services
from tests.api.conftest import goods, order_payload  # noqa: F401 - the API's fixtures
from tests.factories import CustomerFactory, OrderFactory, UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - the API's routing needs them

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DUPLICATE_EMAIL = "zoe.alvarez@example.com"  # the payload's customer, lower-cased as stored


def wait_for_lock_waiters(count: int, *, deadline: float = 15.0) -> None:
    """Poll until ``count`` other sessions of this database wait on a lock (or fail at the deadline)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.02)  # polling with a deadline, not a timing assumption
    raise AssertionError(f"{count} sessions never waited on a lock")


def run(target, results, key):
    def body():
        try:
            results[key] = target()
        except Exception as error:  # collected and asserted below
            results[key] = error
        finally:
            connections.close_all()

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def test_an_order_placed_for_the_duplicate_during_a_merge_is_neither_orphaned_nor_lost(channel_key, goods):  # noqa: F811
    keep = CustomerFactory(name="Zoë Álvarez", email="zoe@work.example")
    duplicate = CustomerFactory(name="Zoë Álvarez", email=DUPLICATE_EMAIL)
    earlier = OrderFactory(customer=duplicate)
    manager = UserFactory(username="manager", is_superuser=True)
    results: dict = {}
    holding, release = threading.Event(), threading.Event()

    def hold_earlier_order():
        # Another service working on the duplicate's order keeps the merge waiting, customers locked.
        with transaction.atomic():
            Order.objects.select_for_update().get(pk=earlier.pk)
            holding.set()
            assert release.wait(timeout=20)
        return "released"

    def merge():
        return services.merge_customers(keep_id=keep.pk, duplicate_id=duplicate.pk, actor=manager)

    def place():
        response = Client().post(
            "/api/v1/orders",
            order_payload(external_id="WEB-RACE-1"),
            content_type="application/json",
            headers=channel_key.headers,
        )
        return response.status_code

    holder = run(hold_earlier_order, results, "holder")
    assert holding.wait(timeout=10)
    merger = run(merge, results, "merge")
    wait_for_lock_waiters(1)  # the merge holds both customers and waits for the earlier order
    placer = run(place, results, "place")
    wait_for_lock_waiters(2)  # the new order's check of its customer waits for the merge
    release.set()
    for thread in (holder, merger, placer):
        thread.join(timeout=30)

    assert results["holder"] == "released"
    assert not isinstance(results["merge"], Exception), results["merge"]
    assert results["place"] in (200, 201), results["place"]
    assert not Customer.objects.filter(pk=duplicate.pk).exists()
    earlier.refresh_from_db()
    assert earlier.customer_id == keep.pk
    placed = Order.objects.get(external_id="WEB-RACE-1")  # not lost: placed once
    assert Customer.objects.filter(pk=placed.customer_id).exists()  # not orphaned
    assert placed.customer.email == DUPLICATE_EMAIL  # under the email as sent, for the next merge
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM orders_order o LEFT JOIN orders_customer c ON c.id = o.customer_id WHERE c.id IS NULL"
        )
        assert cursor.fetchone()[0] == 0


def test_an_order_committed_before_the_merge_takes_the_locks_moves_with_it(channel_key, goods):  # noqa: F811
    keep = CustomerFactory(email="zoe@work.example")
    duplicate = CustomerFactory(email=DUPLICATE_EMAIL)
    manager = UserFactory(username="manager", is_superuser=True)
    results: dict = {}
    start = threading.Barrier(2)

    def merge():
        start.wait(timeout=10)
        return services.merge_customers(keep_id=keep.pk, duplicate_id=duplicate.pk, actor=manager)

    def place():
        start.wait(timeout=10)
        return (
            Client()
            .post(
                "/api/v1/orders",
                order_payload(external_id="WEB-RACE-2"),
                content_type="application/json",
                headers=channel_key.headers,
            )
            .status_code
        )

    threads = [run(merge, results, "merge"), run(place, results, "place")]
    for thread in threads:
        thread.join(timeout=30)

    assert not isinstance(results["merge"], Exception), results["merge"]
    assert results["place"] in (200, 201)
    placed = Order.objects.get(external_id="WEB-RACE-2")
    # Whichever came first: the order is on the kept customer (placed before) or a new one with its email (after).
    assert placed.customer_id == keep.pk or placed.customer.email == DUPLICATE_EMAIL
    assert not Customer.objects.filter(pk=duplicate.pk).exists()
