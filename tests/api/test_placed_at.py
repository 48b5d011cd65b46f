"""When a channel says an order was placed: a little ahead of our clock is drift, far ahead or long ago is refused.

And the routing sweep finds a lost order by when the OMS received it, whatever time the channel claimed.
"""

import datetime as dt
import json

import pytest
from django.utils import timezone

from notifications.models import Message
from orders import services
from orders.models import Customer, Order, OrderIntake, OrderStatus
from tests.api.conftest import order_payload
from tests.orders.test_shopify import sample, send, shopify  # noqa: F401 - the Shopify channel fixture

pytestmark = pytest.mark.django_db
ORDERS = "/api/v1/orders"


def written() -> tuple[int, int, int]:
    return Order.objects.count(), Customer.objects.count(), Message.objects.count()


def at(delta: dt.timedelta) -> str:
    return (timezone.now() + delta).isoformat()


@pytest.mark.parametrize(
    ("placed_at", "why"),
    [
        ("2099-01-01T00:00:00Z", "is in the future: more than 10 minutes after the OMS's clock"),
        (dt.timedelta(minutes=11), "is in the future: more than 10 minutes after the OMS's clock"),
        (-dt.timedelta(days=366), "is more than 365 days before the OMS's clock"),
        ("1999-12-31T23:59:59-05:00", "is more than 365 days before the OMS's clock"),
    ],
    ids=["2099", "eleven-minutes-ahead", "a-year-and-a-day-ago", "last-century"],
)
def test_an_order_placed_far_ahead_or_long_ago_is_400_naming_placed_at(api, goods, sites, placed_at, why):
    # a relative time is read against the clock when the test runs, not when it was collected
    placed_at = at(placed_at) if isinstance(placed_at, dt.timedelta) else placed_at
    before = written()

    response = api.post(ORDERS, order_payload(placed_at=placed_at))

    assert response.status_code == 400, response.content
    (error,) = response.json()["detail"]
    assert (error["loc"], error["path"]) == (["body", "placed_at"], "placed_at")
    assert error["msg"].startswith(why)
    assert written() == before


@pytest.mark.parametrize(
    "delta",
    [dt.timedelta(minutes=9), dt.timedelta(0), -dt.timedelta(days=364)],
    ids=["clock-nine-minutes-ahead", "now", "almost-a-year-ago"],
)
def test_an_order_placed_within_the_margins_is_taken_at_its_time(api, goods, sites, delta):
    placed_at = timezone.now() + delta

    response = api.post(ORDERS, order_payload(placed_at=placed_at.isoformat()))

    assert response.status_code == 201, response.content
    assert Order.objects.get().placed_at == placed_at


def test_the_margins_are_settings(api, goods, sites, settings):
    settings.ORDER_PLACED_AT_MAX_FUTURE_MINUTES = 1
    settings.ORDER_PLACED_AT_MAX_AGE_DAYS = 30

    ahead = api.post(ORDERS, order_payload("WEB-1", placed_at=at(dt.timedelta(minutes=2))))
    old = api.post(ORDERS, order_payload("WEB-2", placed_at=at(-dt.timedelta(days=31))))

    assert ahead.status_code == 400 and "more than 1 minutes after" in ahead.json()["detail"][0]["msg"]
    assert old.status_code == 400 and "more than 30 days before" in old.json()["detail"][0]["msg"]
    assert Order.objects.count() == 0


@pytest.mark.parametrize("created_at", ["2099-01-10T11:00:00-05:00", "2008-01-10T11:00:00-05:00"], ids=["2099", "2008"])
def test_a_shopify_order_created_far_ahead_or_long_ago_is_400_naming_created_at(client, shopify, created_at):  # noqa: F811
    before = written()

    response = send(client, sample(created_at=created_at))

    assert response.status_code == 400, response.content
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "created_at"]
    assert "the OMS's clock" in error["msg"]
    assert written() == before


def test_a_shopify_order_created_a_moment_ago_is_placed_at_that_time(client, shopify):  # noqa: F811
    created = (timezone.now() - dt.timedelta(minutes=3)).replace(microsecond=0)

    response = send(client, sample(created_at=created.astimezone(dt.timezone(dt.timedelta(hours=-5))).isoformat()))

    assert response.status_code == 201, response.content
    assert Order.objects.get().placed_at == created


# --- the routing sweep -------------------------------------------------------------------------------------------


def test_the_sweep_routes_a_lost_order_by_when_it_was_received_not_by_the_channels_clock(
    client, channel_key, goods, sites, stock, carriers
):
    # given stock, and an order from a channel whose clock runs 9 minutes ahead, received 6 minutes ago, whose
    # routing task was lost (nothing ran after its commit)
    stock(sites["EWR"], goods["tee"], 5)
    stock(sites["EWR"], goods["mug"], 5)
    response = client.post(
        ORDERS,
        json.dumps(order_payload(placed_at=at(dt.timedelta(minutes=9)))),
        content_type="application/json",
        headers=channel_key.headers,
    )
    assert response.status_code == 201, response.content
    order = Order.objects.get()
    six_minutes = dt.timedelta(minutes=6)
    Order.objects.filter(pk=order.pk).update(placed_at=order.placed_at - six_minutes)
    OrderIntake.objects.filter(order=order).update(received_at=order.intake.received_at - six_minutes)
    assert Order.objects.get().status == OrderStatus.RECEIVED

    # when the sweep looks for orders received more than 5 minutes ago and still not routed
    services.route_waiting_orders(older_than=dt.timedelta(minutes=5))

    # then it routes this one, though the channel says it was placed 3 minutes from now
    assert Order.objects.get().status == OrderStatus.ALLOCATED


def test_the_sweep_leaves_an_order_received_a_moment_ago_to_its_own_task(client, channel_key, goods, sites, stock):
    # given an order received just now that its channel says was placed an hour ago
    stock(sites["EWR"], goods["tee"], 5)
    stock(sites["EWR"], goods["mug"], 5)
    response = client.post(
        ORDERS,
        json.dumps(order_payload(placed_at=at(-dt.timedelta(hours=1)))),
        content_type="application/json",
        headers=channel_key.headers,
    )
    assert response.status_code == 201, response.content

    # when the sweep runs
    services.route_waiting_orders(older_than=dt.timedelta(minutes=5))

    # then the order is left to its own routing task, which is not lost yet
    assert Order.objects.get().status == OrderStatus.RECEIVED
