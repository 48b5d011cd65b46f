"""Real parallel transactions (PostgreSQL): racing refunds and capture retries never move money twice."""

import threading
from decimal import Decimal

import pytest
from django.db import connections

from orders.payments import services as payments
from orders.payments.exceptions import RefundRefused
from orders.payments.models import PaymentTransaction

T = PaymentTransaction


def race(*calls):
    """Run the calls in parallel threads, each on its own connection; their outcomes in order."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = call()
        except RefundRefused as refusal:
            outcomes[index] = refusal
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_refunds_racing_for_the_whole_amount_refund_it_once(sites, stock, shirt, paid_order, route, ship, sandbox):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)]))
    ship(order)

    outcomes = race(
        lambda: payments.refund_payment(
            order=order, amount=Decimal("50.00"), idempotency_key="A", reason="a", actor="a"
        ),
        lambda: payments.refund_payment(
            order=order, amount=Decimal("50.00"), idempotency_key="B", reason="b", actor="b"
        ),
    )

    refused = [o for o in outcomes if isinstance(o, RefundRefused)]
    done = [o for o in outcomes if isinstance(o, T)]
    assert len(refused) == 1 and len(done) == 1 and done[0].status == T.Status.SUCCEEDED
    assert T.objects.filter(order=order, kind=T.Kind.REFUND).count() == 1
    (payment,) = sandbox.payments()
    assert payment.refunded == Decimal("50.00")
    assert payments.refundable_amount(order) == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_retrying_one_failed_capture_charge_once(
    sites, stock, shirt, paid_order, route, ship, sandbox, settings
):
    settings.PAYMENTS_MAX_ATTEMPTS = 1  # no background retry: the two workers below are the retries
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)]))
    (payment,) = sandbox.payments()
    sandbox.change(payment.reference, token="tok_error")  # the gateway goes down
    ship(order)
    capture = T.objects.get(order=order, kind=T.Kind.CAPTURE)
    assert capture.status == T.Status.ERROR
    sandbox.change(payment.reference, token="tok_approve")  # the gateway is back

    race(
        lambda: payments.retry_payment(transaction_id=capture.pk),
        lambda: payments.retry_payment(transaction_id=capture.pk),
    )

    capture.refresh_from_db()
    payment.refresh_from_db()
    assert (capture.status, capture.attempts) == (T.Status.SUCCEEDED, 2)
    assert payment.captured == Decimal("50.00")
    assert [op for op, _ in payment.operations].count("capture") == 1
