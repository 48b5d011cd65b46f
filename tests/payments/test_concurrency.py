"""Real parallel transactions (PostgreSQL): racing refunds and capture retries never move money twice, and no
gateway call holds the order's row lock."""

import threading
from decimal import Decimal

import pytest
from django.db import OperationalError, connections, transaction

from orders import services
from orders.models import Order, OrderStatus
from orders.payments import services as payments
from orders.payments.exceptions import RefundRefused
from orders.payments.gateways import GATEWAYS, GatewayResult, PaymentGateway
from orders.payments.models import PaymentTransaction
from shipping.models import Shipment, ShipmentStatus

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
    done = [o for o in outcomes if isinstance(o, payments.PaymentResult)]
    assert len(refused) == 1 and len(done) == 1 and done[0].outcome == payments.Outcome.SUCCEEDED
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


# --- no gateway call holds the order's row lock ------------------------------------------------
class HeldGateway(PaymentGateway):
    """A card gateway whose calls, once ``answer`` is cleared, wait mid-call until the test sets it again."""

    __test__ = False  # not a pytest class
    code = "held"
    calling = threading.Event()  # set when a call reaches the gateway
    answer = threading.Event()  # cleared: calls wait for it

    def _call(self, reference: str) -> GatewayResult:
        HeldGateway.calling.set()
        assert HeldGateway.answer.wait(timeout=10), "the test never let the gateway answer"
        return GatewayResult(succeeded=True, reference=reference)

    def authorise(self, *, amount, currency, token, idempotency_key, description) -> GatewayResult:
        return self._call(f"held_{description}")

    def capture(self, *, reference, amount, currency, idempotency_key) -> GatewayResult:
        return self._call(reference)

    def void(self, *, reference, idempotency_key) -> GatewayResult:
        return self._call(reference)

    def refund(self, *, reference, amount, currency, idempotency_key) -> GatewayResult:
        return self._call(reference)


@pytest.fixture
def held(monkeypatch):
    """The held gateway, installed under its code; it answers at once until a test clears ``answer``."""
    monkeypatch.setitem(GATEWAYS, HeldGateway.code, f"{__name__}.HeldGateway")
    monkeypatch.setattr(HeldGateway, "calling", threading.Event())
    monkeypatch.setattr(HeldGateway, "answer", threading.Event())
    HeldGateway.answer.set()
    yield HeldGateway
    HeldGateway.answer.set()  # never leave a worker waiting


def in_another_worker(call) -> tuple[threading.Thread, list]:
    """Start ``call`` in a thread with its own database connection; its outcome (or error) lands in the list."""
    outcome = []

    def run():
        try:
            outcome.append(call())
        except Exception as error:  # asserted by the test
            outcome.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def the_order_row_is_free(order) -> bool:
    """Whether another transaction can lock the order's row at once (NOWAIT: an error if someone holds it)."""
    try:
        with transaction.atomic():
            Order.objects.select_for_update(nowait=True).get(pk=order.pk)
    except OperationalError:
        return False
    return True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_while_an_authorisation_is_in_flight_the_order_is_not_locked(sites, stock, shirt, paid_order, held):
    # given a received order paid through a gateway that is slow to answer
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 1)], gateway="held", token="tok")
    held.answer.clear()

    # when a worker authorises it, and the gateway has the call
    worker, outcome = in_another_worker(lambda: services.prepare_order(order_id=order.pk))
    assert held.calling.wait(timeout=10)

    # then another transaction takes the order's row lock without waiting, and sees the call pending
    assert the_order_row_is_free(order)
    assert T.objects.get(order=order, kind=T.Kind.AUTHORISE).status == T.Status.PENDING
    held.answer.set()
    worker.join(timeout=30)
    assert outcome == [True]
    auth = T.objects.get(order=order, kind=T.Kind.AUTHORISE)
    assert (auth.status, auth.attempts) == (T.Status.SUCCEEDED, 1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_order_cancelled_while_its_authorisation_is_in_flight_gets_it_voided(sites, stock, shirt, paid_order, held):
    # given a worker authorising an order, the gateway holding the call
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 1)], gateway="held", token="tok")
    held.answer.clear()
    worker, outcome = in_another_worker(lambda: services.prepare_order(order_id=order.pk))
    assert held.calling.wait(timeout=10)

    # when ops cancel the order meanwhile (nothing is authorised yet, so there is nothing to void)
    services.cancel_order(order_id=order.pk, reason="Customer asked", actor="ops")
    assert not T.objects.filter(order=order, kind=T.Kind.VOID).exists()
    held.answer.set()
    worker.join(timeout=30)

    # then the authorisation that came back is recorded, found to be for a cancelled order, and released
    assert outcome == [False]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    statuses = dict(T.objects.filter(order=order).values_list("kind", "status"))
    assert statuses == {T.Kind.AUTHORISE: T.Status.SUCCEEDED, T.Kind.VOID: T.Status.SUCCEEDED}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_shipment_ships_and_commits_before_its_capture_is_asked_for(
    sites, stock, shirt, paid_order, route, held, carriers
):
    # given an authorised order with its label bought, and a gateway slow to answer
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)], gateway="held", token="tok"))
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")
    held.calling.clear()
    held.answer.clear()

    # when the warehouse ships it, and the gateway has the capture
    worker, outcome = in_another_worker(lambda: services.ship_shipment(shipment_id=shipment.pk, actor="test"))
    assert held.calling.wait(timeout=10)

    # then the shipment has shipped for everyone to see, the capture is pending, and the order is not locked
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.IN_TRANSIT
    assert T.objects.get(order=order, kind=T.Kind.CAPTURE).status == T.Status.PENDING
    assert the_order_row_is_free(order)
    held.answer.set()
    worker.join(timeout=30)
    assert not isinstance(outcome[0], Exception), outcome
    capture = T.objects.get(order=order, kind=T.Kind.CAPTURE)
    assert (capture.status, capture.amount) == (T.Status.SUCCEEDED, Decimal("50.00"))
