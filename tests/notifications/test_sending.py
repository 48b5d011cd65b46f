"""Sending the outbox over a real SMTP conversation (aiosmtpd): parts, retries, failures, resends, recovery."""

import datetime as dt

import pytest
from django.db.models import F
from django.utils import timezone

from notifications import services, tasks
from notifications.models import Message, MessageTemplate
from orders.services import notify
from tests.notifications.factories import realistic_order, split_shipments

pytestmark = pytest.mark.django_db
Status = Message.Status


def time_passes(message_ids, seconds: int) -> None:
    """Move the rows' clocks back instead of waiting (no sleeps in tests)."""
    Message.objects.filter(pk__in=message_ids).update(
        next_attempt_at=F("next_attempt_at") - dt.timedelta(seconds=seconds),
        created_at=F("created_at") - dt.timedelta(seconds=seconds),
    )


def test_a_message_goes_out_over_smtp_with_text_html_and_tracking_links(smtp_sink, settings):
    # given a 'shipped' message for two shipments of a split order
    settings.NOTIFICATIONS_FROM_EMAIL = "Northwind <orders@northwind.example>"
    order = realistic_order()
    [message_id] = notify.order_shipped(order, shipments=split_shipments(order))

    # when the send task runs
    sent = tasks.send_messages([message_id])

    # then the sink received one message, to the customer, with both parts and the tracking links
    assert sent == 1
    [delivered] = smtp_sink.messages
    message = Message.objects.get(pk=message_id)
    assert delivered.rcpt_tos == [order.customer.email]
    assert delivered.mail_from == "orders@northwind.example"
    assert delivered.subject == f"Part of your order {order.number} has shipped"
    assert delivered.message["To"] == order.customer.email
    assert delivered.message_id == message.message_id
    assert delivered.message["Auto-Submitted"] == "auto-generated"
    text, html = delivered.part("text/plain"), delivered.part("text/html")
    assert "Hello Zoë," in text and "Hello Zoë," in html
    for number in ("1Z999AA10123456784", "1Z999AA10123456795", "9400111899223856928499"):
        assert number in text
    assert 'href="https://www.ups.com/track?tracknum=1Z999AA10123456784"' in html
    assert 'href="https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223856928499"' in html
    # and the row says so
    assert (message.status, message.attempts, message.subject) == (Status.SENT, 1, delivered.subject)
    assert message.sent_at is not None and message.claim_token is None


def test_a_task_also_sends_other_due_rows_up_to_the_batch_size(smtp_sink, settings):
    # given three rows whose own tasks have not run yet
    settings.NOTIFICATIONS_BATCH_SIZE = 2
    ids = [notify.order_received(realistic_order())[0] for _ in range(3)]

    # when the first one's task runs
    assert tasks.send_messages(ids[:1]) == 2

    # then it sent the next one too, up to the batch size; the others' tasks find less to do
    assert [Message.objects.get(pk=pk).status for pk in ids] == [Status.SENT, Status.SENT, Status.PENDING]
    assert tasks.send_messages(ids[1:2]) == 1
    assert tasks.send_messages(ids[2:]) == 0


def test_running_the_task_again_or_twice_sends_nothing_more(smtp_sink):
    order = realistic_order()
    ids = notify.order_received(order) + notify.order_shipped(order, shipments=split_shipments(order))

    assert tasks.send_messages(ids) == 2
    assert tasks.send_messages(ids) == 0  # a duplicate delivery of the task
    assert tasks.send_messages(list(reversed(ids))) == 0

    assert len(smtp_sink.messages) == 2
    assert len({m.message_id for m in smtp_sink.messages}) == 2


def test_a_batch_goes_over_one_smtp_connection(smtp_sink):
    orders = [realistic_order() for _ in range(5)]
    ids = [notify.order_received(order)[0] for order in orders]

    report = services.send_messages(message_ids=ids)

    assert report.sent == 5
    assert len(smtp_sink.messages) == 5
    assert smtp_sink.handler.connections == 1
    # sent in key order
    assert [m.rcpt_tos[0] for m in smtp_sink.messages] == [o.customer.email for o in orders]


def test_smtp_down_then_up_the_message_arrives_once(smtp_port, django_capture_on_commit_callbacks):
    from tests.notifications.conftest import SmtpSink

    # given SMTP is down when the message is first sent
    order = realistic_order()
    [message_id] = notify.order_received(order)
    report = services.send_messages(message_ids=[message_id])
    message = Message.objects.get(pk=message_id)
    assert (report.sent, report.retrying) == (0, 1)
    assert (message.status, message.attempts) == (Status.PENDING, 1)
    assert "Connection refused" in message.last_error or "ConnectionRefusedError" in message.last_error
    assert message.next_attempt_at - timezone.now() > dt.timedelta(seconds=50)  # backoff: a minute

    # and the sweep before the backoff is over leaves it alone
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep_outbox()["dispatched"] == 0

    # when SMTP is back and the backoff has passed, the sweep sends it
    sink = SmtpSink(smtp_port).start()
    try:
        time_passes([message_id], 61)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep_outbox()["dispatched"] == 1
        with django_capture_on_commit_callbacks(execute=True):
            assert services.sweep_outbox()["dispatched"] == 0
        tasks.send_messages([message_id])

        # then it arrived exactly once
        assert len(sink.messages) == 1
        assert sink.messages[0].message_id == Message.objects.get(pk=message_id).message_id
        assert Message.objects.get(pk=message_id).status == Status.SENT
    finally:
        sink.stop()


def test_retries_back_off_and_fail_for_good_after_the_last_attempt(
    smtp_port, settings, ops_emails, django_capture_on_commit_callbacks
):
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 3
    order = realistic_order()
    [message_id] = notify.order_received(order)
    waits = []
    for _ in range(2):
        services.send_messages(message_ids=[message_id])
        message = Message.objects.get(pk=message_id)
        assert message.status == Status.PENDING
        waits.append(round((message.next_attempt_at - timezone.now()).total_seconds() / 60))
        time_passes([message_id], 3600)
    assert waits == [1, 2]  # doubling

    with django_capture_on_commit_callbacks() as callbacks:
        report = services.send_messages(message_ids=[message_id])

    message = Message.objects.get(pk=message_id)
    assert report.failed == 1
    assert (message.status, message.attempts) == (Status.FAILED, 3)
    assert message.failed_at is not None
    alert = Message.objects.get(event="message_failed")
    assert alert.recipient == "ops@example.com" and alert.order_id == order.pk
    assert alert.context["failed"]["id"] == message_id
    assert len(callbacks) == 1  # the alert is dispatched after commit


def test_a_permanent_refusal_fails_at_once_and_ops_hear_of_it(smtp_sink, ops_emails):
    order = realistic_order()
    [message_id] = notify.order_received(order)
    smtp_sink.handler.refuse = "550 5.1.1 Mailbox unavailable"
    smtp_sink.handler.refuse_to = {order.customer.email}

    report = services.send_messages(message_ids=[message_id])

    message = Message.objects.get(pk=message_id)
    assert report.failed == 1
    assert (message.status, message.attempts) == (Status.FAILED, 1)
    assert message.last_error.startswith("SMTP 550")
    # the alert, due at once, went out in the same run (the task tops its batch up with due rows)
    alert = Message.objects.get(event="message_failed")
    assert alert.status == Status.SENT
    [delivered] = smtp_sink.messages
    assert delivered.rcpt_tos == ["ops@example.com"]
    assert delivered.subject == f"[Northwind OMS] Message failed: Order received to {order.customer.email}"
    assert f"/admin/notifications/message/{message_id}/change/" in delivered.part("text/plain")


def test_a_failed_ops_alert_raises_no_further_alert(smtp_sink, ops_emails):
    order = realistic_order()
    [message_id] = notify.order_on_hold(order, reason="Fraud check")
    smtp_sink.handler.refuse = "550 no"

    services.send_messages(message_ids=[message_id])
    alert = Message.objects.get(event="message_failed")
    services.send_messages(message_ids=[alert.pk])

    assert Message.objects.filter(event="message_failed").count() == 1
    assert Message.objects.get(pk=alert.pk).status == Status.FAILED


def test_a_broken_override_fails_the_message_instead_of_retrying_it(smtp_sink):
    MessageTemplate.objects.create(event="order_received", subject="{% if %}")
    order = realistic_order()
    [message_id] = notify.order_received(order)

    report = services.send_messages(message_ids=[message_id])

    message = Message.objects.get(pk=message_id)
    assert report.failed == 1 and message.status == Status.FAILED
    assert message.last_error.startswith("Template error")
    assert smtp_sink.messages == []


def test_resending_a_failed_message_sends_it_with_a_new_message_id(smtp_sink, superuser):
    order = realistic_order()
    [message_id] = notify.order_received(order)
    smtp_sink.handler.refuse = "550 no"
    services.send_messages(message_ids=[message_id])
    first_id = Message.objects.get(pk=message_id).message_id
    smtp_sink.handler.refuse = None

    report = services.resend_messages(message_ids=[message_id], actor=superuser)
    services.send_messages(message_ids=[message_id])

    message = Message.objects.get(pk=message_id)
    assert [m.pk for m in report.resent] == [message_id]
    assert (message.status, message.generation, message.resent_by) == (Status.SENT, 1, "boss")
    [delivered] = smtp_sink.messages
    assert delivered.message_id == message.message_id != first_id


def test_pending_messages_are_not_resent():
    order = realistic_order()
    [message_id] = notify.order_received(order)

    report = services.resend_messages(message_ids=[message_id], actor="test")

    assert report.resent == [] and "pending" in report.refused[0][1]


def test_a_dead_workers_rows_are_recovered_the_one_in_flight_sent_again(smtp_sink, settings):
    # given a worker claimed three messages, sent the first, and died while sending the second
    orders = [realistic_order() for _ in range(3)]
    ids = [notify.order_received(order)[0] for order in orders]
    token, rows = services.claim_messages(message_ids=ids, limit=10)
    from notifications.services.sending import _mark_sent

    _mark_sent(rows[0], token, "subject")
    assert services.send_messages(message_ids=ids).claimed == 0  # nobody else touches live claims

    # when the lease has expired and the sweep runs
    later = timezone.now() + dt.timedelta(seconds=settings.NOTIFICATIONS_LEASE_SECONDS + 1)
    outcome = services.recover_interrupted(now=later)

    # then the one in flight is sent again (same Message-ID), the untried one is simply requeued
    assert outcome == {"requeued": 1, "resent": 1, "failed": 0}
    second, third = Message.objects.get(pk=ids[1]), Message.objects.get(pk=ids[2])
    assert (second.status, second.attempts, second.generation) == (Status.PENDING, 1, 0)
    assert "same Message-ID" in second.last_error
    assert (third.status, third.attempts) == (Status.PENDING, 0)
    assert services.send_messages(message_ids=ids).sent == 2
    assert {m.message_id for m in smtp_sink.messages} == {second.message_id, third.message_id}


def test_at_most_once_setting_marks_the_one_in_flight_failed(settings, ops_emails):
    settings.NOTIFICATIONS_RESEND_INTERRUPTED = False
    orders = [realistic_order() for _ in range(2)]
    ids = [notify.order_received(order)[0] for order in orders]
    services.claim_messages(message_ids=ids, limit=10)

    later = timezone.now() + dt.timedelta(seconds=settings.NOTIFICATIONS_LEASE_SECONDS + 1)
    outcome = services.recover_interrupted(now=later)

    assert outcome == {"requeued": 1, "resent": 0, "failed": 1}
    assert Message.objects.get(pk=ids[0]).last_error.startswith("Delivery unknown")
    assert Message.objects.get(pk=ids[1]).status == Status.PENDING
    assert Message.objects.filter(event="message_failed").count() == 1


def test_the_sweep_sends_rows_whose_task_was_lost(smtp_sink, django_capture_on_commit_callbacks):
    # given rows queued while the broker was down (their task never ran)
    order = realistic_order()
    snapshot = notify.order_snapshot(order)
    ids = services.queue_messages(
        messages=[services.Outgoing("order_received", "a@example.com", snapshot, order_id=order.pk)], dispatch=False
    )

    # a fresh row gets its grace period first
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep_outbox()["dispatched"] == 0
    time_passes(ids, 61)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep_outbox()["dispatched"] == 1

    assert [m.rcpt_tos for m in smtp_sink.messages] == [["a@example.com"]]


def test_the_embedded_shape_writes_messages_to_the_mail_folder(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    ids = [notify.order_received(realistic_order())[0] for _ in range(2)]

    assert services.send_messages(message_ids=ids).sent == 2

    # (Django names the files by connection and second: messages of one second may share a file)
    written = "".join(path.read_text() for path in tmp_path.iterdir())
    assert written.count("Content-Type: multipart/alternative") == 2


def test_the_sweep_is_scheduled_every_half_minute():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["sweep-outbox"]
    assert entry == {"task": "notifications.tasks.sweep_outbox", "schedule": 30, "options": {"expire_seconds": 30}}
