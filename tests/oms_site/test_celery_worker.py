"""A real Celery worker, as `make run` and production start it, runs the tasks."""

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from orders.models import OrderEvent, OrderStatus
from tests.factories import OrderFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    return f"postgres://{settings['USER']}{password}@{host}:{port}/{settings['NAME']}"


def broker_url(kind: str) -> str:
    if kind == "filesystem":
        return "filesystem://"
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("set CELERY_BROKER_URL=redis://... to run against Redis")
    return url


@pytest.mark.parametrize("broker", ["filesystem", "redis"])
def test_worker_on_the_broker_runs_a_task_sent_after_commit(broker, tmp_path):
    # given a late order, committed
    late = OrderFactory(status=OrderStatus.ALLOCATED, promised_date=timezone.localdate() - dt.timedelta(days=2))
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "oms_site.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url(broker),
        "OMS_VAR_DIR": str(tmp_path),
    }
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
        # when the periodic task is sent to the broker from another process
        sender = subprocess.run(  # noqa: S603 - fixed argv
            [
                sys.executable,
                "-c",
                "import django; django.setup(); from orders.tasks import flag_late_orders; "
                f"flag_late_orders.apply_async(queue={queue!r})",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert sender.returncode == 0, sender.stderr

        # then the worker picks it up and the order's timeline shows it
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if late.events.filter(kind=OrderEvent.Kind.PROMISE_MISSED).exists():
                break
            time.sleep(0.2)
        assert late.events.filter(kind=OrderEvent.Kind.PROMISE_MISSED).count() == 1
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    assert "Traceback" not in output, output
