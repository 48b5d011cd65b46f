"""Waking a drain: with Redis, one task queued however many commits ask; without it, a task every time."""

import threading

import pytest
import redis

from oms_core import wakeups
from tests.oms_core.conftest import REDIS_URL, FakeTask


def test_two_wakes_publish_one_task(redis_flags):
    # given a drain nobody has woken yet
    drain = FakeTask()

    # when two commits wake it
    first = wakeups.wake(drain, "orders:route", 42)
    second = wakeups.wake(drain, "orders:route", 42)

    # then one task was published, with its arguments; the second wake found it queued
    assert (first, second) == (True, False)
    assert drain.published == [(42,)]


def test_once_the_drain_has_started_the_next_wake_publishes_again(redis_flags):
    # given a drain woken once, whose task has started (woken)
    drain = FakeTask()
    wakeups.wake(drain, "orders:route")
    wakeups.woken("orders:route")

    # when another commit wakes it, then again
    again = wakeups.wake(drain, "orders:route")
    and_again = wakeups.wake(drain, "orders:route")

    # then a second task is published (the first may have read before that commit), and only one
    assert (again, and_again) == (True, False)
    assert len(drain.published) == 2


def test_a_drain_published_with_a_countdown_is_woken_again_without_asking_redis(redis_flags, settings, monkeypatch):
    # given a drain this process published with a 10 s countdown (it cannot start before then)
    settings.WAKEUP_DELAY_SECONDS = 10
    now = [1000.0]
    monkeypatch.setattr(wakeups.time, "monotonic", lambda: now[0])
    drain = FakeTask()
    assert wakeups.wake(drain, "orders:route") is True
    assert drain.options == {"countdown": 10}

    # when its flag is gone from Redis (nobody could tell it is queued) and a commit wakes it 4 s later
    redis_flags.delete(wakeups.flag_key("orders:route"))
    now[0] += 4
    woke_early = wakeups.wake(drain, "orders:route")

    # then nothing is published: it has not started, so it will read that commit (Redis was not asked)
    assert woke_early is False
    assert redis_flags.get(wakeups.flag_key("orders:route")) is None

    # and from half the countdown on, a wake asks Redis again (clocks a little apart must not lose a commit)
    now[0] += 1.5
    assert wakeups.wake(drain, "orders:route") is True
    assert len(drain.published) == 2


def test_each_flag_wakes_its_own_drain(redis_flags):
    routing, sending = FakeTask("routing"), FakeTask("sending")

    wakeups.wake(routing, "orders:route")
    wakeups.wake(sending, "notifications:send")
    wakeups.wake(routing, "orders:route")

    assert (len(routing.published), len(sending.published)) == (1, 1)


def test_deployments_sharing_a_redis_do_not_silence_each_other(redis_flags, settings):
    # given a drain woken by a deployment on one default queue
    drain = FakeTask()
    wakeups.wake(drain, "orders:route")

    # when a deployment with another default queue (same Redis) wakes its own
    settings.CELERY_TASK_DEFAULT_QUEUE += "-other"
    try:
        woke_other = wakeups.wake(drain, "orders:route")
    finally:
        redis_flags.delete(wakeups.flag_key("orders:route"))

    # then its task is published too
    assert woke_other is True
    assert len(drain.published) == 2


def test_the_flag_expires_so_a_lost_task_does_not_silence_wakes_for_ever(redis_flags, settings):
    settings.WAKEUP_FLAG_SECONDS = 30

    wakeups.wake(FakeTask(), "orders:route")

    ttl = redis_flags.ttl(wakeups.flag_key("orders:route"))
    assert 0 < ttl <= 30


def test_the_flag_lives_in_the_configured_redis_database(redis_flags, own_queue):
    wakeups.wake(FakeTask(), "orders:route")

    key = wakeups.flag_key("orders:route")
    assert own_queue in key
    assert redis_flags.get(key) == b"1"  # database 11, as WAKEUP_REDIS_URL says
    database_0 = redis.Redis.from_url(REDIS_URL.rsplit("/", 1)[0] + "/0", socket_connect_timeout=2)
    try:
        assert database_0.exists(key) == 0
    finally:
        database_0.close()


def test_woken_clears_only_its_own_flag(redis_flags):
    wakeups.wake(FakeTask(), "orders:route")
    wakeups.wake(FakeTask(), "notifications:send")

    wakeups.woken("orders:route")

    assert redis_flags.exists(wakeups.flag_key("orders:route")) == 0
    assert redis_flags.exists(wakeups.flag_key("notifications:send")) == 1


# --- no debouncing: every wake publishes (no Redis needed) ----------------------------


def test_with_eager_tasks_every_wake_publishes(settings, own_queue):
    # given tasks run in-process (the test session's setting) and a Redis URL
    settings.WAKEUP_REDIS_URL = REDIS_URL
    drain = FakeTask()

    # when three commits wake the drain
    woke = [wakeups.wake(drain, "orders:route") for _ in range(3)]

    # then each ran it: nothing is debounced
    assert wakeups.flags_client() is None
    assert woke == [True, True, True]
    assert len(drain.published) == 3


def test_without_a_redis_broker_every_wake_publishes(settings, own_queue, tasks_published):
    # given the embedded filesystem broker
    settings.WAKEUP_REDIS_URL = "filesystem://"
    drain = FakeTask()

    # when the drain is woken twice, and its task starts
    woke = [wakeups.wake(drain, "orders:route"), wakeups.wake(drain, "orders:route")]
    wakeups.woken("orders:route")

    # then both wakes published
    assert wakeups.flags_client() is None
    assert woke == [True, True]
    assert len(drain.published) == 2


def test_when_redis_is_unreachable_every_wake_publishes(settings, own_queue, tasks_published, caplog):
    # given a Redis URL where nothing listens
    settings.WAKEUP_REDIS_URL = "redis://127.0.0.1:1/11"
    drain = FakeTask()

    # when the drain is woken twice, and its task starts
    woke = [wakeups.wake(drain, "orders:route"), wakeups.wake(drain, "orders:route")]
    wakeups.woken("orders:route")

    # then no error reached the caller, both wakes published, and the log says why
    assert woke == [True, True]
    assert len(drain.published) == 2
    assert "Wake-up flag orders:route unavailable; publishing tests.fake_drain" in caplog.text


# --- wakes sent together --------------------------------------------------------------


def test_wakes_inside_together_are_sent_when_the_block_ends(redis_flags):
    routing, sending = FakeTask("routing"), FakeTask("sending")

    # when a block wakes two drains, one of them twice
    with wakeups.together():
        woke = [
            wakeups.wake(routing, "orders:route"),
            wakeups.wake(sending, "notifications:send"),
            wakeups.wake(routing, "orders:route"),
        ]
        published_inside = len(routing.published) + len(sending.published)

    # then nothing was published inside it; at its end each drain was published once, its flag set
    assert woke == [None, None, None]
    assert published_inside == 0
    assert (routing.published, sending.published) == ([()], [()])
    assert redis_flags.exists(wakeups.flag_key("orders:route"), wakeups.flag_key("notifications:send")) == 2


def test_together_sends_its_wakes_even_when_the_block_fails(redis_flags):
    drain = FakeTask()

    with pytest.raises(RuntimeError), wakeups.together():
        wakeups.wake(drain, "orders:route")
        raise RuntimeError("after the commit, something else failed")

    assert len(drain.published) == 1


def test_a_block_inside_another_sends_with_the_outer_one(redis_flags):
    drain = FakeTask()

    with wakeups.together():
        with wakeups.together():
            wakeups.wake(drain, "orders:route")
        published_after_inner = len(drain.published)

    assert (published_after_inner, len(drain.published)) == (0, 1)


def test_together_only_skips_drains_already_queued(redis_flags):
    # given the routing drain already queued by another process
    routing, sending = FakeTask("routing"), FakeTask("sending")
    redis_flags.set(wakeups.flag_key("orders:route"), "1")

    with wakeups.together():
        wakeups.wake(routing, "orders:route")
        wakeups.wake(sending, "notifications:send")

    assert (len(routing.published), len(sending.published)) == (0, 1)


def test_together_with_redis_unreachable_publishes_every_drain(settings, own_queue, tasks_published, caplog):
    settings.WAKEUP_REDIS_URL = "redis://127.0.0.1:1/11"
    routing, sending = FakeTask("routing"), FakeTask("sending")

    with wakeups.together():
        wakeups.wake(routing, "orders:route")
        wakeups.wake(sending, "notifications:send")

    assert (len(routing.published), len(sending.published)) == (1, 1)
    assert "Wake-up flag orders:route, notifications:send unavailable; publishing routing, sending" in caplog.text


def test_requests_arriving_together_on_a_fresh_process_share_one_redis_client(
    redis_flags, settings, monkeypatch, caplog
):
    # given a web process whose first requests arrive at once, on four threads (gunicorn --threads 4),
    # and a client constructor slow enough for a second thread to arrive while the first builds it
    settings.WAKEUP_REDIS_URL = REDIS_URL.replace("127.0.0.1", "localhost")  # a URL no other test used
    wakeups.forget_clients()
    real_from_url = redis.Redis.from_url
    built, second_arrived = [], threading.Event()

    def from_url(*args, **kwargs):
        built.append(args)
        if len(built) > 1:
            second_arrived.set()
        second_arrived.wait(timeout=0.5)  # bounded: with one builder at a time nobody else comes
        return real_from_url(*args, **kwargs)

    monkeypatch.setattr(redis.Redis, "from_url", from_url)
    drain, start, results = FakeTask(), threading.Barrier(4), []

    def request():
        start.wait()
        with wakeups.together():
            wakeups.wake(drain, "orders:route")
        results.append(wakeups.flags_client())

    threads = [threading.Thread(target=request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then one client was built and all four used it; every wake reached Redis (none fell back), one task
    assert len(built) == 1
    assert all(client is results[0] for client in results)
    assert "unavailable" not in caplog.text
    assert len(drain.published) == 1
    wakeups.forget_clients()


class BrokerDown(FakeTask):
    """A task whose broker refuses the connection, as kombu reports it."""

    def apply_async(self, args=(), kwargs=None, **options) -> None:
        from kombu.exceptions import OperationalError

        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_a_wake_with_the_broker_down_does_not_fail_and_the_next_commit_tries_again(redis_flags, caplog):
    # given a broker that refuses connections
    drain = BrokerDown()

    # when a commit wakes the drain
    published = wakeups.wake(drain, "orders:route")

    # then the caller goes on (nothing published), the failure is logged, and the flag is not left set
    assert published is False
    assert "Broker unavailable" in caplog.text
    assert redis_flags.get(wakeups.flag_key("orders:route")) is None

    # and once the broker is back, the next commit publishes the drain
    drain = FakeTask()
    assert wakeups.wake(drain, "orders:route") is True


def test_a_wake_without_flags_and_the_broker_down_does_not_fail(caplog, settings):
    settings.WAKEUP_REDIS_URL = "filesystem://"

    assert wakeups.wake(BrokerDown(), "orders:route") is False
    assert "Broker unavailable" in caplog.text
