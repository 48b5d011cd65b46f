"""Wake-up flags in a real Redis, and tasks that are published instead of run in-process, as in production.

The drains' tests import these fixtures (``from tests.oms_core.conftest import ...``).
"""

from __future__ import annotations

import uuid

import pytest

# A Redis database of these tests' own, so that flags never meet a developer's or another run's.
REDIS_URL = "redis://127.0.0.1:6379/11"


class FakeTask:
    """A task as the code that publishes it sees it: a name, and ``delay`` / ``apply_async`` /
    ``delay_on_commit`` that record each publication (its arguments) instead of sending it."""

    def __init__(self, name: str = "tests.fake_drain"):
        self.name = name
        self.published: list[tuple] = []

    def delay(self, *args) -> None:
        self.published.append(args)

    def apply_async(self, args=(), kwargs=None, **options) -> None:
        self.published.append(tuple(args or ()))
        self.options = options

    def delay_on_commit(self, *args) -> None:
        self.published.append(args)


@pytest.fixture
def own_queue(settings) -> str:
    """A default queue name no other test uses: flag keys include it, so flags never collide."""
    settings.CELERY_TASK_DEFAULT_QUEUE = f"test-wakeups-{uuid.uuid4().hex[:12]}"
    return settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.fixture
def tasks_published(monkeypatch, settings):
    """Tasks are published (not run eagerly) for this test; a real task reaching the broker fails the test.

    Drains are published without a countdown (they could start at once), so every wake asks Redis; the
    countdown's own tests set one.
    """
    settings.WAKEUP_DELAY_SECONDS = 0
    from celery.app.task import Task

    from oms_site.celery import app

    def refuse(task, *args, **kwargs):
        raise AssertionError(f"{task.name} would have been published to the broker")

    monkeypatch.setattr(Task, "apply_async", refuse)
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = eager


@pytest.fixture
def redis_flags(settings, own_queue, tasks_published):
    """Flags kept in Redis database 11 (the test is skipped without a Redis at 127.0.0.1:6379).

    Returns a client of that database, to look at the flags; they are deleted afterwards.
    """
    import redis

    from oms_core import wakeups

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"needs a Redis server at 127.0.0.1:6379 for the wake-up flags ({error})")
    settings.WAKEUP_REDIS_URL = REDIS_URL
    yield client
    for key in client.scan_iter(match=f"{wakeups.PREFIX}{own_queue}:*"):
        client.delete(key)
    client.close()
