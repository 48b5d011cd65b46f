"""Waking a draining task: at most one queued at a time, however many commits ask for it.

Some work arrives as many small commits (an order a request) but is done
best in batches by a task that drains everything pending: routing the
received orders, sending the due outbox rows. Publishing a task for every
commit costs the web process a broker message each and the worker a task
that finds nothing left to do. Instead, a commit *wakes* the drain:

- ``wake(task, flag)`` (after commit) sets a flag in Redis with ``SET NX``
  and publishes the task only when it set the flag;
- the task calls ``woken(flag)`` first, which clears the flag, and then
  reads what is pending.

Nothing is missed: a wake that finds the flag set knows a task is queued
whose ``woken`` (and so whose read) comes after the waker's commit. The
task is published with a short countdown (``WAKEUP_DELAY_SECONDS``), so that
under load the commits of that moment join one batch (routing 50 orders in
one transaction costs a fraction of 50 transactions of one), at the price of
that moment's wait when the system is idle. Until half that countdown has
passed, the process that published the task knows it has not started, and
wakes again without asking Redis. The flag expires
(``WAKEUP_FLAG_SECONDS``) so that a task lost with its worker does not
silence wakes for ever; the periodic sweeps remain the safety net.

Wakes inside a ``together()`` block (a request placing an order wakes both
the routing and the sending drain) are sent at the block's end, in one
round trip.

Without a Redis broker (the embedded filesystem broker, tasks run eagerly in
tests) or when Redis fails, ``wake`` simply publishes the task.

A wake never fails its caller: it runs after the commit, so the work is
stored. When the broker cannot take the task (it is down or restarting), the
failure is logged, the flag is cleared so that the next commit tries again,
and the periodic sweeps pick the work up meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)
PREFIX = "oms:wake:"


# One client (and so one connection pool) per Redis URL and process, built under a lock: the first
# requests of a threaded web process arrive together. Built twice (as functools.cache allowed), the
# client nobody kept closed its connections while other threads' wakes were still using them, and
# those wakes fell back to publishing, with a traceback in the log (seen in bench/intake.py runs).
_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def _client(url: str):
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                import redis

                client = _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    return client


def forget_clients() -> None:
    """Close and drop the Redis clients (tests; a process that changes its Redis)."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def flags_client():
    """The Redis client holding the flags (the broker's Redis), or None when wakes are not debounced."""
    from celery import current_app  # the project's app (oms_site.celery), as for shared_task

    if current_app.conf.task_always_eager:
        return None
    url = settings.WAKEUP_REDIS_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    return _client(url)


def flag_key(flag: str) -> str:
    """The Redis key of a flag: per default queue, so deployments (and test runs) sharing a Redis stay apart."""
    return f"{PREFIX}{settings.CELERY_TASK_DEFAULT_QUEUE}:{flag}"


# Drains this process published, and until when (monotonic clock) they certainly have not started: a wake
# before then needs no Redis call. Half the countdown, so that clocks a little apart do not matter.
_not_started_until: dict[str, float] = {}


_local = threading.local()  # .pending: the wakes of the current together() block


@contextmanager
def together():
    """Wakes inside the block are sent when it ends (however it ends), in one Redis round trip."""
    if getattr(_local, "pending", None) is not None:
        yield  # nested: the outer block sends them
        return
    _local.pending = []
    try:
        yield
    finally:
        pending, _local.pending = _local.pending, None
        if pending:
            _send(pending)


def wake(task, flag: str, *args) -> bool | None:
    """Publish ``task`` unless one woken by ``flag`` is already queued; True when it published.

    Inside ``together()`` the wake is sent at the block's end (None here).
    """
    client = flags_client()
    if client is None:
        return publish(task, *args)
    key = flag_key(flag)
    if time.monotonic() < _not_started_until.get(key, 0.0):
        return False  # published here a moment ago, with a countdown: it starts (and reads) after this commit
    pending = getattr(_local, "pending", None)
    if pending is not None:
        if all(queued[2] != key for queued in pending):
            pending.append((task, flag, key, args))
        return None
    return _send([(task, flag, key, args)])[0]


def _send(wakes: list[tuple]) -> list[bool]:
    """Set the wakes' flags in one round trip; publish the task of each flag that was not set already."""
    flag_seconds = settings.WAKEUP_FLAG_SECONDS
    client = None
    try:
        client = flags_client()  # held for the whole call
        with client.pipeline(transaction=False) as pipe:
            for _, _, key, _ in wakes:
                pipe.set(key, "1", nx=True, ex=flag_seconds)
            set_here = pipe.execute()
    except Exception:
        flags, tasks = ", ".join(wake[1] for wake in wakes), ", ".join(wake[0].name for wake in wakes)
        logger.warning("Wake-up flag %s unavailable; publishing %s", flags, tasks, exc_info=True)
        set_here = [True] * len(wakes)
    delay = settings.WAKEUP_DELAY_SECONDS
    published = []
    for (task, _, key, args), flagged in zip(wakes, set_here, strict=True):
        sent = bool(flagged) and publish(task, *args, countdown=delay)  # a moment for the batch to fill
        if flagged and not sent:
            _clear(client, key)  # nothing is queued: the next commit must publish again
        elif sent and delay > 0:
            _not_started_until[key] = time.monotonic() + delay / 2
        published.append(sent)
    return published


def publish(task, *args, countdown: float | None = None) -> bool:
    """Publish ``task`` after a commit; False, logged, when the broker cannot take it.

    For work already committed, whose periodic sweep resumes it: a broker outage delays it and never
    fails the request that stored it.
    """
    try:
        if countdown is None:
            task.apply_async(args)
        else:
            task.apply_async(args, countdown=countdown)
    except (OperationalError, OSError) as error:
        logger.error("Broker unavailable, %s not published (the periodic sweep resumes the work): %s", task.name, error)
        return False
    return True


def _clear(client, key: str) -> None:
    if client is None:
        return
    try:
        client.delete(key)
    except Exception:
        logger.warning("Could not clear wake-up flag %s", key, exc_info=True)


def woken(flag: str) -> None:
    """The drain task starts: the next commit must wake another one. Call before reading what is pending."""
    client = flags_client()
    if client is None:
        return
    try:
        client.delete(flag_key(flag))
    except Exception:
        logger.warning("Could not clear wake-up flag %s", flag, exc_info=True)
