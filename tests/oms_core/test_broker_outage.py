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
