"""The sending lease is short and renewed while a lane sends (a heartbeat): a live lane keeps its rows however
long it takes, a dead one's are free a lease later, and a lane whose rows were taken over stops."""

import datetime as dt
import threading

import pytest
from django.db import close_old_connections
from django.utils import timezone

from notifications import services
from notifications.models import Message
from notifications.services import sending
from orders.services import notify
from tests.notifications.factories import realistic_order

Status = Message.Status


class SlowClock:
    """The lane's monotonic clock, a quarter lease further on at every reading: each message looks slow."""

    def __init__(self, seconds_per_reading: float):
        self.seconds, self.step = 0.0, seconds_per_reading

    def monotonic(self) -> float:
        self.seconds += self.step
        return self.seconds


def queued(count: int) -> list[int]:
    """Rows committed with no task sent for them (the test sends them)."""
    orders = [realistic_order() for _ in range(count)]
    return services.queue_messages(
        messages=[
            services.Outgoing("order_received", o.customer.email, notify.order_snapshot(o), order_id=o.pk)
            for o in orders
        ],
        dispatch=False,
    )


@pytest.mark.django_db
def test_a_lane_slower_than_its_lease_renews_it_and_sends_every_row_itself(smtp_sink, settings, monkeypatch):
    # given four rows, and a lane for which each message takes a quarter of the lease
    settings.NOTIFICATIONS_SMTP_CONNECTIONS = 1
    ids = queued(4)
    monkeypatch.setattr(sending, "time", SlowClock(settings.NOTIFICATIONS_LEASE_SECONDS / 4))
    started = timezone.now()

    # when it sends them, longer than a lease in all
    report = services.send_messages(message_ids=ids)

    # then it kept them to the end (nothing given back, nothing to recover) and each went out once
    assert (report.claimed, report.sent) == (4, 4)
    assert sorted(m.message_id for m in smtp_sink.wait_for(4)) == sorted(
        Message.objects.get(pk=pk).message_id for pk in ids
    )
    assert set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.SENT}
    assert services.recover_interrupted(now=started + dt.timedelta(hours=1)) == {
        "requeued": 0,
        "resent": 0,
        "failed": 0,
    }


@pytest.mark.django_db(transaction=True)
def test_a_lane_whose_rows_were_taken_over_sends_no_more_of_them(smtp_sink, settings, monkeypatch):
    # given three rows, and a lane stalled on the first one past its lease (the server holds its reply)
    settings.NOTIFICATIONS_SMTP_CONNECTIONS = 1
    ids = queued(3)
    smtp_sink.handler.stall_at = 1
    monkeypatch.setattr(sending, "time", SlowClock(settings.NOTIFICATIONS_LEASE_SECONDS / 4))

    def lane():
        try:
            services.send_messages(message_ids=ids)
        finally:
            close_old_connections()

    stalled_lane = threading.Thread(target=lane)
    stalled_lane.start()
    assert smtp_sink.handler.stalled.wait(timeout=30)

    # when the sweep finds the lease run out and gives the rows back, then the server answers the lane
    later = timezone.now() + dt.timedelta(seconds=settings.NOTIFICATIONS_LEASE_SECONDS + 1)
    assert services.recover_interrupted(now=later) == {"requeued": 2, "resent": 1, "failed": 0}
    smtp_sink.handler.release.set()
    stalled_lane.join(timeout=30)

    # then the lane sent none of them under its lost claim: each row went out once (the one in flight twice,
    # with the same Message-ID), whoever claimed it next
    assert not stalled_lane.is_alive()
    services.send_messages(message_ids=ids)
    rows = {m.pk: m for m in Message.objects.filter(pk__in=ids)}
    assert {row.status for row in rows.values()} == {Status.SENT}
    delivered = sorted(m.message_id for m in smtp_sink.wait_for(4))
    assert delivered == sorted([rows[ids[0]].message_id, *(row.message_id for row in rows.values())])


@pytest.mark.django_db
def test_the_sweep_sends_a_dead_workers_rows_at_once(smtp_sink, settings, django_capture_on_commit_callbacks):
    # given three rows claimed by a worker that died before sending any, its lease just run out
    settings.NOTIFICATIONS_LEASE_SECONDS, settings.NOTIFICATIONS_SWEEP_GRACE_SECONDS = 1, 60
    ids = queued(3)
    _token, rows = services.claim_messages(message_ids=ids, limit=3)
    assert len(rows) == 3
    later = timezone.now() + dt.timedelta(seconds=2)

    # when the sweep runs
    with django_capture_on_commit_callbacks(execute=True):
        outcome = services.sweep_outbox(now=later)

    # then all three go out now, not a grace period later (their task ran, and died)
    assert (outcome["resent"], outcome["requeued"], outcome["dispatched"]) == (1, 2, 3)
    assert len(smtp_sink.wait_for(3)) == 3
    assert set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.SENT}
