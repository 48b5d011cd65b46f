"""A real Celery worker rides out a Redis restart under load and keeps consuming tasks.

The worker runs as production starts it (prefork, acks late, remote control on) against a private
redis-server this test starts, kills (SIGTERM, as `systemctl restart redis` does) and starts again
on the same port while tasks are being published. One task holds a pool slot across the restart
(an unacknowledged message) while a free slot waits on the queue: the shape in which kombu 5.7.0
made the worker exit (docs/operations/workers.md, "Known upstream issue").
"""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu.exceptions import OperationalError

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("redis-server") is None,
        reason="needs redis-server (Debian: apt-get install redis-server) to restart a private broker",
    ),
]

# Imported by the worker (`--include`): one task records that it ran, one holds a pool slot.
PROBE_TASKS = """
import os
import time

import redis
from celery import shared_task

_probe = None


def probe():
    global _probe
    if _probe is None:
        _probe = redis.Redis.from_url(os.environ["PROBE_REDIS_URL"], socket_timeout=5)
    return _probe


@shared_task
def record(number):
    probe().sadd("recorded", number)


@shared_task
def hold(release_file):
    probe().set("holding", 1)
    deadline = time.monotonic() + 120
    while not os.path.exists(release_file) and time.monotonic() < deadline:
        time.sleep(0.05)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int, log: Path) -> subprocess.Popen:
    server = subprocess.Popen(  # noqa: S603 - fixed argv
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],  # noqa: S607
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return server
        except redis.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.05)


def wait_for(condition, *, seconds: float, worker: subprocess.Popen) -> bool:
    """Poll until the condition holds, the deadline passes or the worker exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and worker.poll() is None:
        try:
            if condition():
                return True
        except redis.ConnectionError:
            pass
        time.sleep(0.1)
    return False


class Publisher(threading.Thread):
    """Publishes `record(n)` for n = 0, 1, 2, ... until stopped; a publish the broker refuses is skipped."""

    def __init__(self, app: Celery, queue: str):
        super().__init__(daemon=True)
        self.app, self.queue = app, queue
        self.next_number = 0
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            with suppress(OperationalError, redis.ConnectionError):
                self.app.send_task("broker_restart_probe.record", (self.next_number,), queue=self.queue, retry=False)
            self.next_number += 1
            self.stopping.wait(0.05)


def test_worker_keeps_consuming_after_redis_restarts_under_load(tmp_path, monkeypatch):
    # given a private Redis, a production-shaped worker consuming a stream of tasks from it
    port = free_port()
    redis_log = tmp_path / "redis.log"
    server = start_redis(port, redis_log)
    broker_url = f"redis://127.0.0.1:{port}/0"
    probe = redis.Redis(port=port, db=1, socket_timeout=1)
    (tmp_path / "broker_restart_probe.py").write_text(PROBE_TASKS)
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "oms_site.settings",
        "CELERY_BROKER_URL": broker_url,
        "PROBE_REDIS_URL": f"redis://127.0.0.1:{port}/1",
        "OMS_VAR_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    worker_log = tmp_path / "worker.log"
    worker = subprocess.Popen(  # noqa: S603 - fixed argv
        [
            *(sys.executable, "-m", "celery", "-A", "oms_site", "worker"),
            *("--include", "broker_restart_probe", "--pool", "prefork", "--concurrency", "3"),
            *("-Q", queue, "--without-mingle", "--without-gossip", "-l", "INFO"),
        ],
        cwd=ROOT,
        env=env,
        stdout=worker_log.open("w"),  # a file, not a pipe nobody reads while the worker logs every task
        stderr=subprocess.STDOUT,
    )
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery prefers it to the broker it is given
    sender = Celery("broker-restart-test", broker=broker_url, set_as_current=False)
    sender.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)
    publisher = Publisher(sender, queue)
    release_file = tmp_path / "release"
    failure = None
    try:
        publisher.start()
        assert wait_for(lambda: probe.scard("recorded") >= 5, seconds=60, worker=worker), "the worker never started"
        # one slot holds an unacknowledged task across the restart, the free ones keep taking the stream
        sender.send_task("broker_restart_probe.hold", args=(str(release_file),), queue=queue)
        assert wait_for(lambda: probe.get("holding"), seconds=20, worker=worker), "the holding task never started"
        recorded = probe.scard("recorded")
        assert wait_for(lambda: probe.scard("recorded") >= recorded + 5, seconds=20, worker=worker)

        # when Redis restarts (its data gone: no persistence) while tasks keep coming
        server.terminate()
        server.wait(timeout=20)
        server = start_redis(port, redis_log)
        published_after_restart = publisher.next_number

        # then the worker is still running and consumes tasks published after the restart
        def consumed_after_restart():
            return any(int(n) >= published_after_restart for n in probe.smembers("recorded"))

        assert wait_for(consumed_after_restart, seconds=30, worker=worker), "no task published after the restart ran"
        assert worker.poll() is None, "the worker exited"
    except AssertionError as exc:
        failure = exc
    finally:
        publisher.stopping.set()
        publisher.join(timeout=5)
        release_file.touch()
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        server.terminate()
        server.wait(timeout=20)
    output = worker_log.read_text()
    assert failure is None, f"{failure}\n{output}"
    assert "Unrecoverable error" not in output, output
