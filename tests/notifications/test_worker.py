"""With a real Celery worker on the broker (filesystem or Redis): placing an order delivers the confirmation."""

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from notifications.models import Message
from tests.factories import ChannelFactory, ProductFactory
from tests.notifications.conftest import child_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PLACE_ORDER = """
import django
django.setup()
from decimal import Decimal
from orders import services
from orders.models import Channel
data = services.OrderData(
    external_id="W-1",
    customer=services.CustomerData(name="Ana Worker", email="ana.worker@example.com"),
    shipping_address=services.AddressData(name="Ana Worker", line1="1 Elm St", city="Reno", postal_code="89501"),
    lines=[services.LineData(sku="WRK-1", quantity=1, unit_price=Decimal("12.00"))],
)
order, created = services.place_order(channel=Channel.objects.get(code="worker-web"), data=data, actor="test")
print(order.number)
"""


def broker_url(kind: str) -> str:
    if kind == "filesystem":
        return "filesystem://"
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("set CELERY_BROKER_URL=redis://... to run against Redis")
    return url


@pytest.mark.parametrize("broker", ["filesystem", "redis"])
def test_placing_an_order_delivers_the_confirmation_through_the_worker(broker, smtp_sink, tmp_path):
    # given a worker on the broker, sending mail to the SMTP sink
    ChannelFactory(code="worker-web", name="Web")
    ProductFactory(sku="WRK-1", name="Worker widget")
    queue = f"test-notif-{uuid.uuid4().hex[:8]}"
    env = child_env(tmp_path, smtp_sink.port, CELERY_BROKER_URL=broker_url(broker), CELERY_TASK_DEFAULT_QUEUE=queue)
    celery = [sys.executable, "-m", "celery", "-A", "oms_site"]
    worker = subprocess.Popen(  # noqa: S603 - fixed argv
        [*celery, "worker", "--pool=solo", "-Q", queue, "--without-mingle", "--without-gossip", "-l", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # when an order is placed in another process (its tasks go to the broker after commit)
        placed = subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "-c", textwrap.dedent(PLACE_ORDER)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert placed.returncode == 0, placed.stderr
        number = placed.stdout.strip().splitlines()[-1]

        # then the worker sends the confirmation, then (no stock: routed to backorder) the delay notice
        delivered = smtp_sink.wait_for(2, timeout=90)
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    subjects = sorted(m.subject for m in delivered)
    assert subjects == sorted(
        [f"Northwind OMS: we received your order {number}", f"Part of your order {number} is delayed"]
    ), output
    assert all(m.rcpt_tos == ["ana.worker@example.com"] for m in delivered)
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}
    assert "Traceback" not in output, output
