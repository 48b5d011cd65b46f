"""A broker outage delays background work; it never fails a request whose order is committed."""

import pytest
from kombu.exceptions import OperationalError

from orders.models import Order
from tests.api.conftest import api, goods, order_payload  # noqa: F401 - fixtures

ORDERS = "/api/v1/orders"


@pytest.fixture
def broker_down(monkeypatch):
    """Every task publication fails as kombu reports a refused connection (tasks are not run in-process)."""
    from celery.app.task import Task

    from oms_site.celery import app

    def refuse(task, *args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(Task, "apply_async", refuse)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = eager


def test_an_order_placed_while_the_broker_is_down_is_a_201_and_its_replay_a_200(api, goods, broker_down, caplog):  # noqa: F811
    # when a channel posts an order while the broker refuses connections
    first = api.post(ORDERS, order_payload("WEB-OUTAGE"))

    # then the order is committed and the channel told so; the failure to publish is logged for ops
    assert first.status_code == 201, first.content
    assert Order.objects.filter(external_id="WEB-OUTAGE").exists()
    assert "Broker unavailable" in caplog.text

    # and the channel's retry of the same order is the 200 of a replay
    again = api.post(ORDERS, order_payload("WEB-OUTAGE"))
    assert again.status_code == 200, again.content
    assert Order.objects.filter(external_id="WEB-OUTAGE").count() == 1


@pytest.fixture
def redis_broker_not_running(settings):
    """The Celery app and the wake-up flags point at a Redis address where nothing listens (tasks are published)."""
    import socket

    from oms_core import wakeups
    from oms_site.celery import app

    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"redis://127.0.0.1:{port}/0"
    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url, app.conf.task_always_eager = url, False
    app._after_fork()  # drop the connection pools made for the old broker (what Celery does in a forked child)
    settings.WAKEUP_REDIS_URL = url
    wakeups.forget_clients()
    yield
    app.conf.broker_url, app.conf.task_always_eager = saved
    app._after_fork()
    wakeups.forget_clients()


@pytest.mark.slow
def test_orders_posted_to_a_stopped_redis_broker_are_201s_with_nothing_lost(api, goods, redis_broker_not_running):  # noqa: F811
    # when a channel posts three orders while Redis (broker and wake-up flags) is down
    answers = [api.post(ORDERS, order_payload(f"WEB-DOWN-{n}")).status_code for n in range(3)]

    # then each is committed and answered 201, and a retry is the 200 of a replay
    assert answers == [201, 201, 201]
    assert Order.objects.filter(external_id__startswith="WEB-DOWN-").count() == 3
    assert api.post(ORDERS, order_payload("WEB-DOWN-0")).status_code == 200
