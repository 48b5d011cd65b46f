"""A process killed mid-batch: nothing is lost, and only the message it was sending can arrive twice
(with the same Message-ID, so receivers show it once)."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

from notifications import services
from notifications.models import Message
from orders.services import notify
from tests.notifications.conftest import child_env
from tests.notifications.factories import realistic_order

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_sender_killed_mid_send_loses_nothing_and_repeats_only_the_message_in_flight(smtp_sink, tmp_path, settings):
    # given five committed messages, and an SMTP server that holds its reply to the third
    orders = [realistic_order() for _ in range(5)]
    ids = services.queue_messages(
        messages=[
            services.Outgoing("order_received", o.customer.email, notify.order_snapshot(o), order_id=o.pk)
            for o in orders
        ],
        dispatch=False,
    )
    smtp_sink.handler.stall_at = 3

    # when a sending process is killed (SIGKILL) while it waits for the server to accept the third
    sender = subprocess.Popen(  # noqa: S603 - fixed argv
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from notifications.services import send_messages; "
            f"send_messages(message_ids={ids!r})",
        ],
        cwd=ROOT,
        # one SMTP connection: the claim is sent strictly in id order (several lanes split it)
        env=child_env(tmp_path, smtp_sink.port, NOTIFICATIONS_SMTP_CONNECTIONS="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert smtp_sink.handler.stalled.wait(timeout=60), sender.communicate(timeout=10)[0]
    finally:
        sender.kill()
        sender.communicate(timeout=30)
    smtp_sink.handler.release.set()

    statuses = dict(Message.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == ["sent", "sent", "sending", "sending", "sending"]

    # and, once the dead process's lease has expired, the sweep recovers its rows and they are sent
    later = timezone.now() + dt.timedelta(seconds=settings.NOTIFICATIONS_LEASE_SECONDS + 1)
    assert services.recover_interrupted(now=later) == {"requeued": 2, "resent": 1, "failed": 0}
    assert services.send_messages(message_ids=ids).sent == 3

    # then every message arrived; only the one in flight twice, both copies with the same Message-ID
    delivered = smtp_sink.wait_for(6)
    message_ids = [m.message_id for m in delivered]
    rows = {m.pk: m for m in Message.objects.filter(pk__in=ids)}
    assert sorted(set(message_ids)) == sorted(rows[pk].message_id for pk in ids)
    assert len(delivered) == 6
    assert message_ids.count(rows[ids[2]].message_id) == 2
    assert all(rows[pk].status == "sent" for pk in ids)
