"""The test card gateway keeps its record where every process sees it: a payment a worker authorised is
captured, refunded or voided by the web process, with the same rules a provider applies."""

import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from notifications.models import Message
from orders import services
from orders.models import OrderStatus
from orders.payments import services as payments
from orders.payments.gateways import GatewayUnavailable
from orders.payments.gateways.test_card import TestCardGateway
from orders.payments.models import PaymentTransaction
from tests.notifications.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]
T = PaymentTransaction

# What the Celery worker does with a new order: credit check, authorise, route (tasks run in that process).
WORKER_ROUTES_THE_ORDER = """
import sys
import django
django.setup()
from orders import tasks
tasks.allocate_order(int(sys.argv[1]))
"""


def route_in_another_process(order, tmp_path) -> None:
    """Run the routing task in a separate Python process on the same database, as a Celery worker would."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "oms_site.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_TASK_ALWAYS_EAGER": "true",  # its follow-up tasks (emails) run in that process too
        "OMS_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", textwrap.dedent(WORKER_ROUTES_THE_ORDER), str(order.pk)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_authorises_and_the_web_process_captures_each_shipment_then_refunds(
    sites, stock, shirt, mug, paid_order, ship, sandbox, tmp_path
):
    # given a card order routed (and so authorised) by another process
    stock(sites["EWR"], shirt, 5)
    stock(sites["ATL"], mug, 5)  # two shipments: two partial captures
    order = paid_order([(shirt, 2), (mug, 3)], shipping="9.99", tax="7.13", discount="5.00")
    route_in_another_process(order, tmp_path)
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    (auth,) = T.objects.filter(order=order, kind=T.Kind.AUTHORISE)
    assert auth.status == T.Status.SUCCEEDED

    # when this process ships both shipments (each captures its share) and refunds part of it
    ship(order)
    refund = payments.refund_payment(
        order=order, amount=Decimal("20.00"), idempotency_key="RMA-1", reason="damaged", actor="ops"
    )

    # then every capture went through, nobody was alerted, and the gateway holds what the order says
    captures = T.objects.filter(order=order, kind=T.Kind.CAPTURE)
    assert sorted(c.status for c in captures) == [T.Status.SUCCEEDED, T.Status.SUCCEEDED]
    assert sum(c.amount for c in captures) == order.grand_total == Decimal("99.62")
    assert refund.transaction.status == T.Status.SUCCEEDED
    assert not Message.objects.filter(event="payment_problem").exists()
    payment = sandbox.payment(auth.gateway_reference)
    assert (payment.authorised, payment.captured, payment.refunded) == (
        Decimal("99.62"),
        Decimal("99.62"),
        Decimal("20.00"),
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_authorises_and_the_web_process_voids_on_cancel(sites, stock, shirt, paid_order, sandbox, tmp_path):
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 1)])
    route_in_another_process(order, tmp_path)

    services.cancel_order(order_id=order.pk, reason="Customer asked", actor="ops")

    (void,) = T.objects.filter(order=order, kind=T.Kind.VOID)
    assert void.status == T.Status.SUCCEEDED
    assert sandbox.payment(void.gateway_reference).voided


@pytest.mark.django_db
def test_the_gateway_declines_as_before_whichever_gateway_object_is_asked(sandbox):
    # authorised through one gateway object, worked through others (a new one per call, as per process)
    auth = TestCardGateway().authorise(
        amount=Decimal("50.00"), currency="USD", token="tok_approve", idempotency_key="A-1", description="SO-1"
    )
    ref = auth.reference

    def gateway():
        return TestCardGateway()

    over = gateway().capture(reference=ref, amount=Decimal("50.01"), currency="USD", idempotency_key="C-1")
    part = gateway().capture(reference=ref, amount=Decimal("30.00"), currency="USD", idempotency_key="C-2")
    rest = gateway().capture(reference=ref, amount=Decimal("20.00"), currency="USD", idempotency_key="C-3")
    more = gateway().capture(reference=ref, amount=Decimal("0.01"), currency="USD", idempotency_key="C-4")
    unknown = gateway().capture(reference="pi_nope", amount=Decimal("1.00"), currency="USD", idempotency_key="C-5")
    too_much = gateway().refund(reference=ref, amount=Decimal("50.01"), currency="USD", idempotency_key="R-1")
    refunded = gateway().refund(reference=ref, amount=Decimal("50.00"), currency="USD", idempotency_key="R-2")
    again = gateway().refund(reference=ref, amount=Decimal("50.00"), currency="USD", idempotency_key="R-2")
    declined = gateway().authorise(
        amount=Decimal("5.00"), currency="USD", token="tok_decline", idempotency_key="A-2", description="SO-2"
    )

    assert auth.succeeded and part.succeeded and rest.succeeded and refunded.succeeded
    assert (over.succeeded, over.error) == (False, "amount exceeds authorisation")
    assert (more.succeeded, more.error) == (False, "amount exceeds authorisation")
    assert (unknown.succeeded, unknown.error) == (False, "no such authorisation")
    assert (too_much.succeeded, too_much.error) == (False, "amount exceeds captured")
    assert again == refunded  # the same key answers as the first time, and refunds nothing more
    assert (declined.succeeded, declined.error) == (False, "card_declined")
    payment = sandbox.payment(ref)
    assert (payment.captured, payment.refunded) == (Decimal("50.00"), Decimal("50.00"))
    assert payment.operations == [
        ("authorise", Decimal("50.00")),
        ("capture", Decimal("30.00")),
        ("capture", Decimal("20.00")),
        ("refund", Decimal("50.00")),
    ]


@pytest.mark.django_db
def test_a_voided_authorisation_cannot_be_captured_and_a_slow_card_answers_a_retry_as_the_first_call(sandbox):
    voided = TestCardGateway().authorise(
        amount=Decimal("10.00"), currency="USD", token="tok_approve", idempotency_key="A-1", description="SO-1"
    )
    assert TestCardGateway().void(reference=voided.reference, idempotency_key="V-1").succeeded
    late = TestCardGateway().capture(
        reference=voided.reference, amount=Decimal("10.00"), currency="USD", idempotency_key="C-1"
    )
    assert (late.succeeded, late.error) == (False, "no such authorisation")

    with pytest.raises(GatewayUnavailable, match="timed out"):
        TestCardGateway().authorise(
            amount=Decimal("10.00"), currency="USD", token="tok_slow", idempotency_key="A-2", description="SO-2"
        )
    retried = TestCardGateway().authorise(
        amount=Decimal("10.00"), currency="USD", token="tok_slow", idempotency_key="A-2", description="SO-2"
    )
    assert retried.succeeded
    assert [p.reference for p in sandbox.payments()] == [voided.reference, retried.reference]  # authorised once
    with pytest.raises(GatewayUnavailable, match="tok_error"):
        TestCardGateway().authorise(
            amount=Decimal("10.00"), currency="USD", token="tok_error", idempotency_key="A-3", description="SO-3"
        )


@pytest.mark.django_db
def test_an_increase_raises_the_authorisation_once_per_key_and_a_card_may_refuse_it(sandbox):
    gateway = TestCardGateway()
    auth = gateway.authorise(
        amount=Decimal("10.00"), currency="USD", token="tok_approve", idempotency_key="A-1", description="SO-1"
    )

    # an increase lets the captures take more, once per key
    for _ in range(2):
        raised = gateway.increment(
            reference=auth.reference, amount=Decimal("5.00"), currency="USD", idempotency_key="I-1"
        )
        assert raised.succeeded
    assert sandbox.payment(auth.reference).authorised == Decimal("15.00")
    assert gateway.capture(
        reference=auth.reference, amount=Decimal("15.00"), currency="USD", idempotency_key="C-1"
    ).succeeded

    # a card that takes no more declines it; a voided payment has nothing to raise
    stingy = gateway.authorise(
        amount=Decimal("10.00"), currency="USD", token="tok_no_more", idempotency_key="A-2", description="SO-2"
    )
    refused = gateway.increment(
        reference=stingy.reference, amount=Decimal("1.00"), currency="USD", idempotency_key="I-2"
    )
    assert (refused.succeeded, refused.error) == (False, "card_declined")
    assert gateway.void(reference=stingy.reference, idempotency_key="V-2").succeeded
    gone = gateway.increment(reference=stingy.reference, amount=Decimal("1.00"), currency="USD", idempotency_key="I-3")
    assert (gone.succeeded, gone.error) == (False, "no such authorisation")
    assert sandbox.payment(stingy.reference).authorised == Decimal("10.00")


def test_a_gateway_without_incremental_authorisation_declines_naming_itself():
    from orders.payments.gateways.base import PaymentGateway

    class Plain(PaymentGateway):
        code, label = "plain", "Plain gateway"
        authorise = capture = void = refund = None

    answer = Plain.increment(
        Plain.__new__(Plain), reference="r", amount=Decimal("1.00"), currency="USD", idempotency_key="k"
    )
    assert (answer.succeeded, answer.error) == (False, "Plain gateway cannot increase an authorisation")
