"""A real Celery worker killed (`kill -9`) mid-work: the work resumes on another worker within the minute,
and nothing is done twice.

The production shape: a prefork worker and beat (the real schedule, django-celery-beat's database
scheduler) on PostgreSQL and a private redis-server. Each test gives the first worker a label batch, a
CSV import, a burst of orders to route or a batch of email, waits (polling the progress) until it is
mid-way, kills the worker's whole process group with SIGKILL (its unacknowledged tasks stay in Redis's
unacked set for the one-hour visibility timeout), starts a second worker, and measures how long after
the kill the work is finished. The bound is the lease (10-20 s) plus the sweep's period (30 s) plus
the work left: 60 s. docs/operations/background-work.md has the measured times.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parents[2]
BOUND_SECONDS = 60
pytestmark = [
    pytest.mark.postgres,  # a worker killed mid-transaction, row locks, skip-locked sweeps: PostgreSQL's
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (Debian: redis-server)"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class ProductionShape:
    """A private Redis, beat and workers on the test database; every process is ended by ``close``."""

    def __init__(self, tmp_path: Path, **env):
        self.tmp = tmp_path
        self.port = free_port()
        self.processes: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        self.redis_server = self._start(
            "redis",
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        )
        self.redis = redis.Redis(port=self.port, socket_timeout=2)
        self.wait_until(self._redis_up, seconds=10, what="Redis to start")
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
            "DJANGO_SETTINGS_MODULE": "oms_site.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.port}/0",
            "CELERY_TASK_DEFAULT_QUEUE": "celery",
            "NOTIFICATIONS_QUEUE": "",
            "OMS_VAR_DIR": str(tmp_path / "var"),
            "MEDIA_ROOT": settings.MEDIA_ROOT,  # the test reads the files the workers write
            **env,
        }

    def _redis_up(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.ConnectionError:
            return False

    def _start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = self.tmp / f"{name}-{len(self.logs)}.log"
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            argv,
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill -9 takes the pool's children too
        )
        self.processes.append(process)
        self.logs.append(log)
        return process

    def start_worker(self, name: str) -> subprocess.Popen:
        return self._start(
            name,
            [
                *(sys.executable, "-m", "celery", "-A", "oms_site", "worker", "--pool", "prefork"),
                *("--concurrency", "2", "--without-mingle", "--without-gossip", "-n", f"{name}@%h", "-l", "INFO"),
            ],
            self.env,
        )

    def start_beat(self) -> subprocess.Popen:
        return self._start(
            "beat",
            [
                *(sys.executable, "-m", "celery", "-A", "oms_site", "beat", "-l", "INFO"),
                *("--pidfile", str(self.tmp / "beat.pid"), "--schedule", str(self.tmp / "beat-schedule")),
            ],
            self.env,
        )

    def run(self, code: str) -> str:
        """Run Python code in a process of this shape (its tasks go to this Redis); returns what it printed."""
        done = subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "-c", f"import django\ndjango.setup()\n{code}"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def kill(self, process: subprocess.Popen) -> float:
        """SIGKILL the process and its children, as the kernel's OOM killer or a lost machine would."""
        os.killpg(process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        process.wait(timeout=10)
        return killed_at

    def unacked(self) -> int:
        """Tasks a worker took and never acknowledged: they wait here for Redis's visibility timeout."""
        return self.redis.hlen("unacked")

    def wait_until(self, condition, *, seconds: float, what: str) -> float:
        """Poll until ``condition()`` holds; returns the monotonic time it did. Fails naming ``what``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return time.monotonic()
            time.sleep(0.1)
        pytest.fail(f"waited {seconds:.0f} s for {what}\n{self.log_tails()}")

    def log_tails(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in self.logs if log.exists())

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def shape(tmp_path):
    production = ProductionShape(tmp_path)
    yield production
    production.close()


def report(kind: str, seconds: float) -> None:
    """The measured time, for the operations doc (shown with pytest -s or -rA)."""
    print(f"{kind}: finished {seconds:.1f} s after the worker was killed")


# --- label batches ---------------------------------------------------------------


def labelled_shipments(count: int) -> list[int]:
    """``count`` shipments with one bought label each (as buying would leave them), in one warehouse."""
    from shipping.models import CarrierService, Parcel, Shipment, ShipmentStatus, Vendor
    from tests.conftest import make_warehouse
    from tests.factories import OrderFactory

    vendor = Vendor.objects.create(code="budget", name="Budget Freight", tracking_prefix="BF", tracking_digits=10)
    service = CarrierService.objects.create(vendor=vendor, code="GROUND", name="Ground", max_weight_kg=Decimal("30"))
    warehouse = make_warehouse("EWR", "08817")
    order = OrderFactory()
    ship_to = {"name": "Zoë Müller", "line1": "12 Elm St", "city": "New York", "state": "NY", "postal_code": "10001"}
    shipments = Shipment.objects.bulk_create(
        Shipment(
            number=f"SH-{n:05d}",
            order=order,
            order_number=order.number,
            warehouse=warehouse,
            service=service,
            status=ShipmentStatus.LABEL_CREATED,
            ship_to=ship_to,
        )
        for n in range(count)
    )
    Parcel.objects.bulk_create(
        Parcel(shipment=shipment, index=1, weight_kg=Decimal("0.4"), tracking_number=f"BF{shipment.pk:010d}")
        for shipment in shipments
    )
    return [shipment.pk for shipment in shipments]


def test_a_label_batch_whose_worker_is_killed_is_finished_by_another_within_the_minute(shape):
    from shipping.models import LabelBatch, LabelBatchChunk

    # given 200 labels to print as one batch, a worker and beat
    shipment_ids = labelled_shipments(200)
    shape.start_beat()
    first = shape.start_worker("first")
    batch_id = int(
        shape.run(
            "from shipping.services import start_label_batch\n"
            f"print(start_label_batch(shipment_ids={shipment_ids!r}, actor=None).pk)"
        )
    )

    def batch() -> LabelBatch:
        return LabelBatch.objects.get(pk=batch_id)

    # when the worker is killed mid-batch, a part rendered and another being rendered
    def mid_batch() -> bool:
        parts = LabelBatchChunk.objects.filter(batch_id=batch_id)
        return parts.exclude(done_at=None).exists() and parts.filter(done_at=None).exclude(claim=None).exists()

    shape.wait_until(mid_batch, seconds=60, what="the first worker to be mid-batch")
    killed_at = shape.kill(first)
    at_kill = batch()
    kept = dict(LabelBatchChunk.objects.filter(batch_id=batch_id).exclude(done_at=None).values_list("pk", "done_at"))
    assert 0 < at_kill.rendered_count < at_kill.label_count == 200
    assert shape.unacked() > 0  # its parts wait in Redis's unacked set: only the sweep brings them back
    shape.start_worker("second")

    # then the second worker finishes the batch within the minute, from where it stopped
    finished_at = shape.wait_until(
        lambda: batch().status == LabelBatch.Status.DONE, seconds=BOUND_SECONDS + 30, what="the batch to finish"
    )
    report(f"label batch (killed at {at_kill.rendered_count}/200)", finished_at - killed_at)
    assert finished_at - killed_at <= BOUND_SECONDS, shape.log_tails()
    done = batch()
    assert (done.rendered_count, done.error) == (200, "")
    # the parts rendered before the kill were kept, not rendered again
    assert dict(LabelBatchChunk.objects.filter(pk__in=kept).values_list("pk", "done_at")) == kept
    # and the PDF has each label once, in order
    numbers = [f"BF{pk:010d}" for pk in sorted(shipment_ids)]
    pages = [page.extract_text() for page in PdfReader(done.file.path).pages]
    assert [[n for n in numbers if n in text] for text in pages] == [[n] for n in numbers]


# --- CSV imports -----------------------------------------------------------------


def test_a_csv_import_whose_worker_is_killed_is_finished_by_another_within_the_minute(shape):
    from inventory.models import ImportJob
    from orders.models import Order
    from tests.factories import ChannelFactory, ProductFactory

    # given a checked file of 1,500 orders, confirmed, a worker and beat
    ChannelFactory(code="webstore", name="Web store")
    ProductFactory(sku="TEE-M", name="Tee M", price=Decimal("19.90"))
    header = "channel,external_id,customer_name,email,ship_line1,ship_city,ship_state,ship_postal_code,sku,quantity"
    header += ",unit_price"
    rows = [f"webstore,W-{n},Ana {n},a{n}@example.com,12 Elm St,Dallas,TX,75201,TEE-M,1,19.90" for n in range(1500)]
    (shape.tmp / "orders.csv").write_text("\n".join([header, *rows]) + "\n")
    shape.start_beat()
    first = shape.start_worker("first")
    job_id = int(
        shape.run(
            "from pathlib import Path\nfrom inventory.imports.services import start_import\n"
            f"content = Path({str(shape.tmp / 'orders.csv')!r}).read_text()\n"
            "print(start_import(kind='order', file_name='orders.csv', content=content, options={}, actor=None).pk)"
        )
    )

    def job() -> ImportJob:
        return ImportJob.objects.defer("content").get(pk=job_id)

    shape.wait_until(lambda: job().status == ImportJob.Status.DRY_RUN_DONE, seconds=90, what="the dry run")
    assert job().created_count == 1500
    shape.run(f"from inventory.imports.services import confirm_import\nconfirm_import(job_id={job_id}, actor=None)")

    # when the worker is killed mid-import
    shape.wait_until(lambda: job().processed_rows >= 200, seconds=60, what="the first worker to be mid-import")
    killed_at = shape.kill(first)
    at_kill = job()
    assert at_kill.status == ImportJob.Status.IMPORTING and 0 < at_kill.processed_rows < 1500
    assert shape.unacked() > 0  # its next chunk waits in Redis's unacked set
    shape.start_worker("second")

    # then the second worker finishes the import within the minute, from the last committed chunk
    finished_at = shape.wait_until(
        lambda: job().status == ImportJob.Status.DONE, seconds=BOUND_SECONDS + 30, what="the import to finish"
    )
    report(f"CSV import (killed at {at_kill.processed_rows}/1500 rows)", finished_at - killed_at)
    assert finished_at - killed_at <= BOUND_SECONDS, shape.log_tails()
    done = job()
    assert (done.created_count, done.skipped_count, done.failed_count) == (1500, 0, 0)
    # and each row was imported once
    imported = Counter(Order.objects.values_list("external_id", flat=True))
    assert len(imported) == 1500 and set(imported.values()) == {1}


# --- routing ---------------------------------------------------------------------


def test_orders_whose_routing_worker_is_killed_are_routed_by_the_sweep_within_the_minute(shape):
    from inventory.models import StockLevel
    from inventory.services import receive_stock
    from orders.models import Order, OrderEvent, OrderStatus
    from tests.conftest import make_warehouse
    from tests.factories import AddressFactory, ChannelFactory, CustomerFactory, OrderFactory, ProductFactory

    # given 500 received orders for one unit each, stock for them all, a worker and beat
    tee = ProductFactory(sku="TEE-M", price=Decimal("19.90"))
    warehouse = make_warehouse("EWR", "08817")
    receive_stock(warehouse_id=warehouse.pk, product_id=tee.pk, quantity=500, actor="test")
    channel, customer = ChannelFactory(code="webstore"), CustomerFactory()
    for _ in range(500):
        order = OrderFactory(
            channel=channel,
            customer=customer,
            shipping_address=AddressFactory(customer=None, postal_code="10001", state="NY"),
            lines=0,
        )
        order.lines.create(product=tee, sku=tee.sku, name=tee.name, quantity=1, unit_price=tee.price)
    shape.start_beat()
    first = shape.start_worker("first")

    def received() -> int:
        return Order.objects.filter(status=OrderStatus.RECEIVED).count()

    # when the routing drain is woken and its worker killed mid-way
    shape.run("from orders.services.fulfilment import wake_routing\nwake_routing()")
    shape.wait_until(lambda: received() < 500, seconds=60, what="the first worker to route a batch")
    killed_at = shape.kill(first)
    left = received()
    assert 0 < left < 500
    assert shape.unacked() > 0  # the drain waits in Redis's unacked set
    shape.start_worker("second")

    # then the sweep routes the rest within the minute
    finished_at = shape.wait_until(lambda: received() == 0, seconds=BOUND_SECONDS + 30, what="every order routed")
    report(f"routing ({left} of 500 orders left)", finished_at - killed_at)
    assert finished_at - killed_at <= BOUND_SECONDS, shape.log_tails()
    # and each order was routed once: one routing entry each, 500 units reserved in all
    assert Order.objects.filter(status=OrderStatus.ALLOCATED).count() == 500
    routed = Counter(OrderEvent.objects.filter(data__has_key="warehouses").values_list("order_id", flat=True))
    assert len(routed) == 500 and set(routed.values()) == {1}
    assert StockLevel.objects.get(warehouse=warehouse, product=tee).allocated == 500


# --- email -----------------------------------------------------------------------


def test_email_whose_sending_worker_is_killed_is_sent_by_another_within_the_minute(tmp_path):
    from notifications import services
    from notifications.models import Message
    from orders.services import notify
    from tests.notifications.conftest import SmtpSink
    from tests.notifications.factories import realistic_order

    # given 48 committed messages, an SMTP server that holds its reply to the tenth, a worker and beat
    sink = SmtpSink(free_port()).start()
    shape = ProductionShape(tmp_path, EMAIL_URL=f"smtp://127.0.0.1:{sink.port}", NOTIFICATIONS_SMTP_CONNECTIONS="1")
    try:
        orders = [realistic_order() for _ in range(48)]
        ids = services.queue_messages(
            messages=[
                services.Outgoing("order_received", o.customer.email, notify.order_snapshot(o), order_id=o.pk)
                for o in orders
            ],
            dispatch=False,
        )
        sink.handler.stall_at = 10
        shape.start_beat()
        first = shape.start_worker("first")
        shape.run(f"from notifications.tasks import send_messages\nsend_messages.delay({ids!r})")

        # when the worker is killed while the server holds the tenth
        assert sink.handler.stalled.wait(timeout=60), shape.log_tails()
        killed_at = shape.kill(first)
        sink.handler.release.set()
        statuses = Counter(Message.objects.filter(pk__in=ids).values_list("status", flat=True))
        assert statuses["sent"] == 9 and statuses["sending"] > 0  # the rest claimed by the dead worker, or waiting
        assert shape.unacked() > 0
        shape.start_worker("second")

        # then the second worker sends the rest within the minute
        finished_at = shape.wait_until(
            lambda: not Message.objects.filter(pk__in=ids).exclude(status="sent").exists(),
            seconds=BOUND_SECONDS + 30,
            what="every message sent",
        )
        report("email (39 of 48 unsent)", finished_at - killed_at)
        assert finished_at - killed_at <= BOUND_SECONDS, shape.log_tails()
        # and each arrived once, but the one in flight at the kill: twice, with the same Message-ID
        delivered = Counter(m.message_id for m in sink.wait_for(49))
        rows = [message.message_id for message in Message.objects.filter(pk__in=ids).order_by("pk")]
        assert set(delivered) == set(rows) and sorted(delivered.values()) == [1] * 47 + [2]
        assert delivered[rows[9]] == 2
    finally:
        shape.close()
        sink.stop()
