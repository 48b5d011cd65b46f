"""The order page's timeline (orders/timeline.py): events, emails and payment calls, merged newest first."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.models import Message
from orders import services
from orders.models import OrderEvent
from orders.payments.models import PaymentTransaction
from orders.timeline import order_timeline
from tests.factories import OrderFactory, UserFactory

pytestmark = pytest.mark.django_db


def at(minutes: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=2) + dt.timedelta(minutes=minutes)


def placed_earlier():
    """An order whose 'placed' entry is the first thing that happened to it (two hours ago)."""
    order = OrderFactory()
    OrderEvent.objects.filter(order=order).update(created_at=at(0))
    return order


def event(order, minutes: int, kind=OrderEvent.Kind.STATUS_CHANGED, message="Received → Allocated", actor="test"):
    row = OrderEvent.build(order=order, kind=kind, actor=actor, message=message)
    row.created_at = at(minutes)
    row.save()
    return row


def email(order, minutes: int, *, status=Message.Status.SENT, subject="Your order is on its way", error=""):
    return Message.objects.create(
        key=f"test:{order.pk}:{minutes}",
        event="order_shipped",
        audience=Message.Audience.CUSTOMER,
        order=order,
        recipient=order.customer.email,
        subject=subject,
        status=status,
        created_at=at(minutes - 1),
        sent_at=at(minutes) if status == Message.Status.SENT else None,
        failed_at=at(minutes) if status == Message.Status.FAILED else None,
        last_error=error,
        attempts=1,
    )


def payment(order, minutes: int, *, kind=PaymentTransaction.Kind.CAPTURE, status=PaymentTransaction.Status.SUCCEEDED):
    return PaymentTransaction.objects.create(
        order=order,
        kind=kind,
        gateway="test_card",
        amount=Decimal("42.70"),
        currency="USD",
        status=status,
        idempotency_key=f"test:{order.pk}:{minutes}",
        gateway_reference="ch_123" if status == PaymentTransaction.Status.SUCCEEDED else "",
        error="Card declined: insufficient funds" if status == PaymentTransaction.Status.DECLINED else "",
        attempts=1,
        actor_name="system: payments",
        created_at=at(minutes),
    )


def test_events_emails_and_payment_calls_merge_newest_first_each_in_its_group():
    # given an order placed 2 h ago (its factory event), then a payment call, an email, a note, in that order
    order = placed_earlier()
    payment(order, 10)
    email(order, 20)
    maria = UserFactory(username="mlopez", first_name="Maria", last_name="Lopez")
    event(order, 30, kind=OrderEvent.Kind.NOTE, message="Customer called about gift wrap", actor=maria)

    # when the timeline is read
    timeline = order_timeline(order.pk)

    # then the newest comes first, each entry in its filter group, with who did it
    assert [(entry.kind, entry.who) for entry in timeline] == [
        ("notes", "Maria Lopez"),
        ("messages", "system"),
        ("payment", "system: payments"),
        ("status", "test"),
    ]
    note, sent, capture, placed = timeline.entries
    assert note.text == "Customer called about gift wrap"
    assert sent.text == f"“Your order is on its way” to {order.customer.email}: sent."
    assert capture.text == "Capture 42.70 USD on test_card: succeeded (ref. ch_123)."
    assert placed.text == "Order placed." and placed.label == "Placed"
    assert not timeline.truncated


def test_a_failed_email_and_a_declined_call_say_why():
    order = placed_earlier()
    email(order, 5, status=Message.Status.FAILED, error="550 mailbox unavailable")
    payment(order, 6, kind=PaymentTransaction.Kind.AUTHORISE, status=PaymentTransaction.Status.DECLINED)

    declined, failed = order_timeline(order.pk).entries[:2]

    assert failed.text.endswith(": failed: 550 mailbox unavailable.")
    assert declined.text == "Authorise 42.70 USD on test_card: declined (Card declined: insufficient funds)."


def test_a_reader_who_may_not_see_emails_or_payments_gets_the_order_events_only():
    # given an order with a hold, a note, an email and a payment call
    order = OrderFactory()
    services.hold_order(order_id=order.pk, reason="Address check", actor="test")
    services.add_order_note(order_id=order.pk, message="Waiting for the customer", actor="test")
    email(order, 5)
    payment(order, 6)

    # when the timeline is read without emails and payments
    timeline = order_timeline(order.pk, include_messages=False, include_payments=False)

    # then the hold and the note are there, the email and the payment call are not
    assert [entry.text for entry in timeline] == [
        "Waiting for the customer",
        "Put on hold: Address check",
        "Order placed.",
    ]


def test_links_are_made_only_when_asked():
    order = OrderFactory()
    email(order, 5)
    payment(order, 6)

    plain = order_timeline(order.pk)
    linked = order_timeline(order.pk, link_messages=True, link_payments=True)

    assert all(entry.link == "" for entry in plain)
    assert {entry.link_text for entry in linked if entry.source != "event"} == {"view email", "view call"}
    assert all(entry.link.startswith("/admin/") for entry in linked if entry.source != "event")


def test_a_long_history_is_cut_to_the_latest_and_says_so():
    order = placed_earlier()
    for minute in range(1, 8):
        event(order, minute, message=f"step {minute}")

    timeline = order_timeline(order.pk, limit=5)

    assert [entry.text for entry in timeline] == ["step 7", "step 6", "step 5", "step 4", "step 3"]
    assert timeline.truncated


def test_the_timeline_reads_a_fixed_number_of_queries_whatever_its_length():
    small, large = OrderFactory(), OrderFactory()
    for order, count in ((small, 2), (large, 12)):
        for minute in range(count):
            event(order, minute, actor=UserFactory())
            email(order, 100 + minute)
            payment(order, 200 + minute)

    with CaptureQueriesContext(connection) as few:
        assert len(order_timeline(small.pk, link_shipments=True)) == 7
    with CaptureQueriesContext(connection) as many:
        assert len(order_timeline(large.pk, link_shipments=True)) == 37

    assert len(few.captured_queries) == len(many.captured_queries) == 4
