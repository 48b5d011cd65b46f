"""The routing sweep (beat, every 30 s) routes what a dead worker left within the minute, and never calls a
payment gateway sooner than the payment's own retry would."""

import datetime as dt

import pytest
from django.db.models import F
from django.utils import timezone

from orders import services
from orders.models import Order, OrderStatus
from orders.payments import services as payments
from orders.payments.models import PaymentTransaction as T

pytestmark = pytest.mark.django_db


def placed_ago(order: Order, seconds: float) -> None:
    Order.objects.filter(pk=order.pk).update(placed_at=timezone.now() - dt.timedelta(seconds=seconds))


def test_the_sweep_routes_orders_left_received_for_fifteen_seconds(sites, stock, shirt, order_to):
    # given two received orders whose drain died with its worker: one placed 20 s ago, one a moment ago
    stock(sites["EWR"], shirt, 10)
    left = order_to("NYC", [(shirt, 1)])
    placed_ago(left, 20)
    fresh = order_to("NYC", [(shirt, 1)])

    # when the sweep runs
    routed = services.route_waiting_orders()

    # then the older one is routed; the fresh one is still its own task's
    assert routed == 1
    assert Order.objects.get(pk=left.pk).status == OrderStatus.ALLOCATED
    assert Order.objects.get(pk=fresh.pk).status == OrderStatus.RECEIVED


def test_the_sweep_retries_an_authorisation_only_once_its_backoff_has_passed(
    sites, stock, shirt, paid_order, sandbox, django_capture_on_commit_callbacks
):
    # given an order whose authorisation failed once a moment ago (its retry task waits out the backoff)
    stock(sites["EWR"], shirt, 10)
    order = paid_order([(shirt, 1)], token="tok_error")
    with django_capture_on_commit_callbacks(execute=False):  # the retry task is not run here
        assert services.prepare_order(order_id=order.pk) is False
    placed_ago(order, 90)
    auth = T.objects.get(order=order, kind=T.Kind.AUTHORISE)
    assert (auth.status, auth.attempts) == (T.Status.ERROR, 1)

    # when the sweep runs before the retry is due, the gateway is not called
    with django_capture_on_commit_callbacks(execute=False):
        services.route_waiting_orders()
    assert T.objects.get(pk=auth.pk).attempts == 1

    # and once the retry is overdue (its task lost with a worker), the sweep makes it
    backoff = dt.timedelta(seconds=payments.backoff(1) + 1)
    T.objects.filter(pk=auth.pk).update(updated_at=F("updated_at") - backoff)
    with django_capture_on_commit_callbacks(execute=False):
        services.route_waiting_orders()
    assert T.objects.get(pk=auth.pk).attempts == 2
