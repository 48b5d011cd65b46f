"""Queueing: rows in the caller's transaction, once per key, preferences, ops recipients, after-commit dispatch."""

import pytest
from django.db import transaction

from notifications import services
from notifications.models import Message, RecipientList
from orders.services import notify
from tests.notifications.factories import realistic_order

pytestmark = pytest.mark.django_db


def test_a_queued_row_holds_a_json_snapshot_and_is_dispatched_only_after_commit(django_capture_on_commit_callbacks):
    order = realistic_order()

    with django_capture_on_commit_callbacks() as callbacks:
        [message_id] = notify.order_received(order)

    message = Message.objects.get(pk=message_id)
    assert (message.event, message.audience, message.recipient, message.order_id) == (
        "order_received",
        "customer",
        order.customer.email,
        order.pk,
    )
    assert message.status == Message.Status.PENDING
    assert message.context["order"]["grand_total"] == "139.57"  # money stays exact, as a string
    assert [line["sku"] for line in message.context["lines"]] == ["TEE-NAVY-M", "MUG-STONE", "SOCK-3PK"]
    assert len(callbacks) == 1


def test_the_same_change_is_queued_once_and_a_repeat_leaves_the_callers_transaction_intact():
    order = realistic_order()

    with transaction.atomic():
        first = notify.order_received(order)
        again = notify.order_received(order)  # hits the unique key inside a savepoint
        order.refresh_from_db()  # the transaction is still usable

    assert len(first) == 1 and again == []
    assert Message.objects.filter(order=order, event="order_received").count() == 1


def test_a_rolled_back_change_leaves_no_message_and_sends_nothing(django_capture_on_commit_callbacks):
    order = realistic_order()

    with django_capture_on_commit_callbacks() as callbacks:
        try:
            with transaction.atomic():
                notify.order_received(order)
                raise RuntimeError("the change failed")
        except RuntimeError:
            pass

    assert not Message.objects.exists()
    assert callbacks == []


@pytest.mark.parametrize("accepts", [True, False])
def test_order_status_messages_are_queued_whatever_the_marketing_preference(accepts):
    order = realistic_order(accepts_marketing=accepts)

    in_process = notify.order_allocated(order)
    delivered = notify.order_delivered(order)
    cancelled = notify.order_cancelled(order, reason="x")

    assert (len(in_process), len(delivered), len(cancelled)) == (1, 1, 1)


def test_ops_messages_go_to_ops_emails_and_the_events_list(settings):
    settings.OPS_EMAILS = ["ops@example.com", "Lead@Example.com"]
    RecipientList.objects.update_or_create(
        event="order_on_hold", defaults={"emails": "fraud@example.com, lead@example.com\nrisk@example.com"}
    )
    order = realistic_order()

    ids = notify.order_on_hold(order, reason="Card declined twice", actor="ana")

    recipients = sorted(Message.objects.filter(pk__in=ids).values_list("recipient", flat=True))
    assert recipients == ["fraud@example.com", "lead@example.com", "ops@example.com", "risk@example.com"]


def test_a_list_can_leave_out_ops_emails(settings):
    settings.OPS_EMAILS = ["ops@example.com"]
    RecipientList.objects.update_or_create(
        event="inventory_report", defaults={"emails": "stock@example.com", "include_ops_emails": False}
    )

    assert services.ops_recipients("inventory_report") == ["stock@example.com"]
    assert services.ops_recipients("order_on_hold") == ["ops@example.com"]


def test_no_ops_recipient_queues_nothing(settings):
    settings.OPS_EMAILS = []
    order = realistic_order()

    assert notify.order_on_hold(order, reason="x") == []


def test_customer_events_are_not_ops_alerts():
    with pytest.raises(ValueError, match="not an ops event"):
        services.queue_ops_alert(event="order_received", context={})


def test_an_unknown_event_is_refused():
    with pytest.raises(LookupError, match="Unknown notification event"):
        services.queue_messages(messages=[services.Outgoing("order_teleported", "a@example.com", {})])


@pytest.mark.parametrize("keepalive, connections", [(30, 1), (0, 3)])
def test_many_rows_go_out_in_batches_over_kept_connections(
    smtp_sink, settings, django_capture_on_commit_callbacks, keepalive, connections
):
    settings.NOTIFICATIONS_BATCH_SIZE = 2
    settings.NOTIFICATIONS_SMTP_KEEPALIVE_SECONDS = keepalive
    orders = [realistic_order() for _ in range(5)]

    with django_capture_on_commit_callbacks(execute=True):
        services.queue_messages(
            messages=[
                services.Outgoing("order_received", o.customer.email, notify.order_snapshot(o), order_id=o.pk)
                for o in orders
            ]
        )

    # three tasks: one connection kept open between them, or one each
    assert len(smtp_sink.messages) == 5
    assert smtp_sink.handler.connections == connections


def test_long_keys_stay_unique_and_within_the_column():
    long_address = "x" * 200 + "@example.com"
    key = services.message_key(event="order_shipped", recipient=long_address, order_id=1, occurrence="A" * 90)

    assert len(key) <= 300
    assert key != services.message_key(event="order_shipped", recipient=long_address, order_id=1, occurrence="B" * 90)
