"""The sending drain: every due outbox row, a batch at a time, woken (with Redis) instead of a task per batch."""

import datetime as dt

import pytest
from django.utils import timezone

from notifications import services, tasks
from notifications.models import Message
from notifications.tasks import send_due_messages as drain_task
from orders.services import notify
from tests.notifications.factories import realistic_order
from tests.oms_core.conftest import FakeTask, own_queue, redis_flags, tasks_published  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db
Status = Message.Status


@pytest.fixture
def next_drain(monkeypatch):
    """The drain's task as a wake publishes it: recorded, not run."""
    drain = FakeTask("notifications.tasks.send_due_messages")
    monkeypatch.setattr(tasks, "send_due_messages", drain)
    return drain


@pytest.fixture
def per_batch(monkeypatch):
    """The per-batch send task as ``dispatch_messages`` publishes it: recorded, not run."""
    task = FakeTask("notifications.tasks.send_messages")
    monkeypatch.setattr(tasks, "send_messages", task)
    return task


def confirmations(count: int) -> tuple[list[int], list[str]]:
    """``count`` order confirmations queued (their own tasks never ran): the row ids and the recipients."""
    orders = [realistic_order() for _ in range(count)]
    return [notify.order_received(order)[0] for order in orders], [order.customer.email for order in orders]


def status_of(ids: list[int]) -> list[str]:
    found = dict(Message.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [found[pk] for pk in ids]


def test_one_drain_sends_every_due_row_a_batch_at_a_time(smtp_sink, settings, next_drain):
    # given seven due confirmations and batches of three
    settings.NOTIFICATIONS_BATCH_SIZE = 3
    ids, recipients = confirmations(7)

    # when the drain's task runs once
    sent = drain_task()

    # then all seven went out, each once, and no other drain was woken (the last batch was not full)
    assert sent == 7
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == sorted(recipients)
    assert status_of(ids) == [Status.SENT] * 7
    assert next_drain.published == []


def test_rows_not_yet_due_wait(smtp_sink, next_drain):
    # given two due confirmations and one whose retry is due in ten minutes
    ids, recipients = confirmations(3)
    later = timezone.now() + dt.timedelta(minutes=10)
    Message.objects.filter(pk=ids[2]).update(attempts=1, next_attempt_at=later)

    # when the drain runs
    report = services.send_due_messages()

    # then only the due ones went out; the retry is still pending, untried
    assert report.sent == 2
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == sorted(recipients[:2])
    assert status_of(ids) == [Status.SENT, Status.SENT, Status.PENDING]
    assert Message.objects.get(pk=ids[2]).attempts == 1


def test_after_its_batches_the_drain_stops_and_wakes_another(smtp_sink, settings, monkeypatch, next_drain):
    # given seven due rows, batches of three, and a drain allowed one batch before other tasks get their turn
    settings.NOTIFICATIONS_BATCH_SIZE = 3
    monkeypatch.setattr(services.sending, "DRAIN_BATCHES", 1)
    ids, _ = confirmations(7)

    # when the drain runs, it sends the oldest three and wakes another
    assert services.send_due_messages().sent == 3
    assert status_of(ids) == [Status.SENT] * 3 + [Status.PENDING] * 4
    assert len(next_drain.published) == 1

    # and that one does the same
    assert services.send_due_messages().sent == 3
    assert len(next_drain.published) == 2

    # and the last, with one row left, sends it and wakes nobody
    assert services.send_due_messages().sent == 1
    assert len(next_drain.published) == 2
    assert status_of(ids) == [Status.SENT] * 7
    assert len(smtp_sink.messages) == 7


def test_without_redis_each_batch_of_rows_gets_its_own_task(settings, next_drain, per_batch):
    # given tasks run in-process (no wake-up flags) and batches of three
    settings.NOTIFICATIONS_BATCH_SIZE = 3
    ids, _ = confirmations(7)

    # when the rows are dispatched after commit
    services.dispatch_messages(message_ids=ids)

    # then three send tasks were published, with the rows in batches; the drain was not woken
    assert per_batch.published == [(ids[0:3],), (ids[3:6],), (ids[6:],)]
    assert next_drain.published == []


@pytest.mark.usefixtures("redis_flags")
def test_with_redis_a_burst_of_commits_wakes_one_drain_which_sends_everything(smtp_sink, next_drain, per_batch):
    # given tasks published to a broker, wake-up flags in Redis, and three commits' rows
    ids, recipients = confirmations(3)

    # when each commit dispatches its row
    for message_id in ids:
        services.dispatch_messages(message_ids=[message_id])

    # then one drain was woken, and no per-batch task published
    assert len(next_drain.published) == 1
    assert per_batch.published == []

    # when the drain's task runs, it sends all three
    assert drain_task() == 3
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == sorted(recipients)

    # and a commit after it started wakes a new one
    [late], _ = confirmations(1)
    services.dispatch_messages(message_ids=[late])
    assert len(next_drain.published) == 2
