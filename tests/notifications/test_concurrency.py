"""Exactly once under real parallel transactions (PostgreSQL): two runs of the send task for the same rows."""

import threading

import pytest
from django.db import connection

from notifications import services, tasks
from notifications.models import Message
from orders.services import notify
from tests.notifications.factories import realistic_order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_parallel(*targets) -> list:
    """Start every target at the same moment, each in its own thread and database connection."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)

    def work(index: int):
        try:
            barrier.wait(timeout=30)
            results[index] = targets[index]()
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def queued(orders) -> list[int]:
    return services.queue_messages(
        messages=[
            services.Outgoing("order_received", o.customer.email, notify.order_snapshot(o), order_id=o.pk)
            for o in orders
        ],
        dispatch=False,  # the threads below are the tasks
    )


def test_the_send_task_twice_at_once_for_one_row_sends_one_message(smtp_sink):
    [message_id] = queued([realistic_order()])

    results = run_in_parallel(lambda: tasks.send_messages([message_id]), lambda: tasks.send_messages([message_id]))

    assert sorted(results) == [0, 1]
    assert len(smtp_sink.messages) == 1
    assert Message.objects.get(pk=message_id).status == Message.Status.SENT


def test_four_runs_racing_over_a_batch_send_each_message_once(smtp_sink):
    ids = queued([realistic_order() for _ in range(40)])

    results = run_in_parallel(*[lambda: tasks.send_messages(ids)] * 4)

    assert sum(results) == 40
    delivered = smtp_sink.messages
    assert len(delivered) == 40
    assert len({m.message_id for m in delivered}) == 40
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


def test_a_task_racing_a_claim_of_any_due_rows_sends_each_message_once(smtp_sink):
    ids = queued([realistic_order() for _ in range(30)])

    results = run_in_parallel(
        lambda: tasks.send_messages(ids),
        lambda: services.send_messages(limit=50).sent,  # what a task dispatched by the sweep does
    )

    assert sum(results) == 30
    assert len(smtp_sink.messages) == 30
    assert len({m.message_id for m in smtp_sink.messages}) == 30
