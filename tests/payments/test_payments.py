"""Authorise before routing, capture per shipment, void on cancel, refunds: through the order workflow."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import F

from notifications.models import Message
from orders import services
from orders.exceptions import OrderError
from orders.models import OrderEvent, OrderStatus
from orders.payments import services as payments
from orders.payments import tasks as payment_tasks
from orders.payments.exceptions import PaymentError, RefundRefused, UnknownGateway
from orders.payments.gateways import GATEWAYS, GatewayResult, get_gateway
from orders.payments.gateways.test_card import TestCardGateway
from orders.payments.models import JournalEntry, PaymentTransaction
from shipping.models import ShipmentStatus

pytestmark = pytest.mark.django_db
T = PaymentTransaction


def txns(order, kind):
    return list(T.objects.filter(order=order, kind=kind).order_by("pk"))


def test_an_order_with_a_card_is_authorised_before_it_is_routed(sites, stock, shirt, paid_order, route, sandbox):
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 2)], shipping="5.00", tax="4.00")

    order = route(order)

    assert order.status == OrderStatus.ALLOCATED
    (auth,) = txns(order, T.Kind.AUTHORISE)
    assert (auth.status, auth.amount, auth.currency) == (T.Status.SUCCEEDED, Decimal("59.00"), "USD")
    assert sandbox.payment(auth.gateway_reference).authorised == Decimal("59.00")
    messages = list(order.events.filter(kind=OrderEvent.Kind.PAYMENT).values_list("message", flat=True))
    assert messages == [f"Authorised 59.00 USD (test_card, ref {auth.gateway_reference})"]
    assert order.events.filter(kind=OrderEvent.Kind.CREDIT_CHECK, data__result="passed").exists()


def test_a_declined_card_holds_the_order_and_release_tries_again(sites, stock, shirt, paid_order, route, sandbox):
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 1)], token="tok_decline")

    order = route(order)

    assert order.status == OrderStatus.ON_HOLD
    hold = order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED).last()
    assert hold.message == "Put on hold: Payment declined by test_card: card_declined"
    assert hold.data["cause"] == "payment"
    assert Message.objects.filter(event="order_on_hold", order_id=order.pk).exists()  # ops alerted

    # when ops release it, the flow continues: a new authorisation (new key), declined again, held again
    with_release = services.release_order(order_id=order.pk, actor="ops")
    order = route(with_release)
    declined = txns(order, T.Kind.AUTHORISE)
    assert [t.status for t in declined] == [T.Status.DECLINED, T.Status.DECLINED]
    assert len({t.idempotency_key for t in declined}) == 2
    assert order.status == OrderStatus.ON_HOLD


def test_split_shipments_capture_amounts_that_sum_to_the_order_total(
    sites, stock, shirt, mug, paid_order, route, ship, sandbox
):
    stock(sites["EWR"], shirt, 5)
    stock(sites["ATL"], mug, 5)  # mugs only in Atlanta: two shipments
    order = paid_order([(shirt, 2), (mug, 3)], shipping="9.99", tax="7.13", discount="5.00")
    assert order.grand_total == Decimal("99.62")
    order = route(order)

    first, second = ship(order)

    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    captures = txns(order, T.Kind.CAPTURE)
    assert [c.status for c in captures] == [T.Status.SUCCEEDED, T.Status.SUCCEEDED]
    assert {c.shipment_id for c in captures} == {first.pk, second.pk}
    assert sum(c.amount for c in captures) == order.grand_total
    # the first to ship carries its goods plus its share of shipping, tax and discount
    mugs = next(c for c in captures if c.shipment.warehouse.code == "ATL")
    assert mugs.amount == Decimal("37.50") + Decimal("4.28") + Decimal("3.06") - Decimal("2.14")
    (payment,) = sandbox.payments()
    assert payment.captured == order.grand_total
    assert payments.refundable_amount(order) == order.grand_total
    timeline = order.events.filter(kind=OrderEvent.Kind.PAYMENT).values_list("message", flat=True)
    assert any(m.startswith(f"Captured 42.70 USD for shipment {mugs.shipment.number}") for m in timeline)


def test_a_timeout_retried_with_the_same_key_charges_once(sites, stock, shirt, paid_order, route, ship, sandbox):
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 2)], token="tok_slow")

    order = route(order)  # the authorisation times out, is retried with its key, and the order is routed
    (shipment,) = ship(order)  # so does the capture

    assert order.status == OrderStatus.ALLOCATED
    (auth,) = txns(order, T.Kind.AUTHORISE)
    (capture,) = txns(order, T.Kind.CAPTURE)
    assert (auth.status, auth.attempts) == (T.Status.SUCCEEDED, 2)
    assert (capture.status, capture.attempts, capture.amount) == (T.Status.SUCCEEDED, 2, Decimal("50.00"))
    payment = sandbox.payment(auth.gateway_reference)
    assert payment.operations == [("authorise", Decimal("50.00")), ("capture", Decimal("50.00"))]
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    failed = order.events.filter(kind=OrderEvent.Kind.PAYMENT, message__contains="failed (attempt 1)")
    assert failed.count() == 2  # the timeouts are on the timeline too
    assert JournalEntry.objects.filter(transaction=capture).count() == 1


def test_a_failing_capture_never_loses_the_shipment_and_alerts_ops(
    sites, stock, shirt, paid_order, route, ship, sandbox, settings
):
    settings.PAYMENTS_MAX_ATTEMPTS = 3
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1)]))
    sandbox.change(txns(order, T.Kind.AUTHORISE)[0].gateway_reference, token="tok_error")  # the gateway goes down

    (shipment,) = ship(order)

    shipment.refresh_from_db()
    order.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT and order.status == OrderStatus.SHIPPED
    (capture,) = txns(order, T.Kind.CAPTURE)
    assert (capture.status, capture.attempts) == (T.Status.ERROR, 3)
    alert = Message.objects.get(event="payment_problem", order_id=order.pk)
    assert "failed 3 times" in alert.context["problem"]
    assert payments.refundable_amount(order) == 0


def test_cancelling_voids_the_authorisation_and_tells_the_customer(sites, stock, shirt, paid_order, route, sandbox):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1)]))

    services.cancel_order(order_id=order.pk, reason="Customer asked", actor="ops")

    (void,) = txns(order, T.Kind.VOID)
    assert void.status == T.Status.SUCCEEDED and void.reason == "Customer asked"
    assert sandbox.payment(void.gateway_reference).voided
    assert Message.objects.filter(event="order_cancelled", order_id=order.pk).exists()


def test_refunds_never_exceed_what_was_captured(sites, stock, shirt, paid_order, route, ship, sandbox):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)]))
    ship(order)

    first = payments.refund_payment(
        order=order, amount=Decimal("20.00"), idempotency_key="RMA-1", reason="damaged", actor="ops"
    ).transaction
    again = payments.refund_payment(
        order=order, amount=Decimal("20.00"), idempotency_key="RMA-1", reason="damaged", actor="ops"
    ).transaction
    assert again.pk == first.pk and first.status == T.Status.SUCCEEDED
    assert payments.refundable_amount(order) == Decimal("30.00")
    with pytest.raises(RefundRefused, match=r"cannot refund 30.01 USD; only 30.00 USD is refundable"):
        payments.refund_payment(
            order=order, amount=Decimal("30.01"), idempotency_key="ERR-1", reason="x", actor="ops", source="order_error"
        )
    with pytest.raises(RefundRefused):
        payments.refund_payment(order=order, amount=Decimal("0"), idempotency_key="ERR-2", reason="x", actor="ops")
    payments.refund_payment(
        order=order, amount=Decimal("30.00"), idempotency_key="ERR-3", reason="late", actor="ops", source="order_error"
    )

    assert payments.refundable_amount(order) == 0
    assert sandbox.payment(first.gateway_reference).refunded == Decimal("50.00")
    refunds = order.events.filter(kind=OrderEvent.Kind.REFUND)
    assert refunds.count() == 2 and "Refunded 20.00 USD" in refunds.first().message


def test_an_order_without_a_gateway_skips_payments(sites, stock, shirt, order_to, route, ship):
    stock(sites["EWR"], shirt, 5)
    order = route(order_to("NYC", [(shirt, 1)]))
    ship(order)

    assert not T.objects.filter(order=order).exists()
    assert not JournalEntry.objects.filter(order=order).exists()
    assert not order.events.filter(kind=OrderEvent.Kind.CREDIT_CHECK).exists()


def test_an_unknown_gateway_is_an_order_error_naming_the_field(sites, stock, shirt, paid_order, route):
    assert set(GATEWAYS) == {"manual", "test_card", "channel"}
    with pytest.raises(UnknownGateway, match=r"^payment.gateway: unknown gateway 'bitcoin'"):
        get_gateway("bitcoin")
    stock(sites["EWR"], shirt, 5)

    order = route(paid_order([(shirt, 1)], gateway="bitcoin"))

    assert order.status == OrderStatus.ON_HOLD
    assert "unknown gateway 'bitcoin'" in order.events.last().message


def test_an_unauthorised_order_is_not_routed_by_the_sweep_or_by_hand(sites, stock, shirt, paid_order):
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 1)])

    services.allocate_orders(order_ids=[order.pk], actor="sweep")
    order.refresh_from_db()
    assert order.status == OrderStatus.RECEIVED
    with pytest.raises(OrderError, match="payment is not authorised yet"):
        services.allocate_order(order_id=order.pk, actor="ops")


def test_an_invoice_is_captured_as_a_receivable_and_marked_paid(sites, stock, shirt, paid_order, route, ship):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)], gateway="manual", token=""))
    ship(order)

    (capture,) = txns(order, T.Kind.CAPTURE)
    assert capture.status == T.Status.SUCCEEDED
    entry = JournalEntry.objects.get(transaction=capture)
    assert {line.account.code: line.debit for line in entry.lines.all() if line.debit} == {"1100": Decimal("50.00")}

    paid = payments.mark_paid(order_id=order.pk, actor="finance", reference="bank 4711")

    assert (paid.kind, paid.amount) == (T.Kind.SETTLE, Decimal("50.00"))
    legs = {(line.account.code, line.debit, line.credit) for line in paid.journal_entry.lines.all()}
    assert legs == {("1000", Decimal("50.00"), Decimal("0.00")), ("1100", Decimal("0.00"), Decimal("50.00"))}
    with pytest.raises(PaymentError, match="nothing is due"):
        payments.mark_paid(order_id=order.pk, actor="finance")


def test_a_channel_payment_is_taken_at_once_and_refunds_are_recorded_for_the_channel(
    sites, stock, shirt, paid_order, route, ship
):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1)], gateway="channel", token="shopify:gid://1"))
    ship(order)

    refund = payments.refund_payment(
        order=order, amount=Decimal("5.00"), idempotency_key="R1", reason="goodwill", actor="ops"
    ).transaction

    assert refund.status == T.Status.SUCCEEDED and refund.gateway_reference == "shopify:gid://1"
    assert "to be paid back through the channel" in order.events.filter(kind=OrderEvent.Kind.REFUND).get().message


def test_the_sweep_authorises_and_routes_orders_whose_task_was_lost(
    sites, stock, shirt, paid_order, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 1)])  # placed, but its routing task never ran

    with django_capture_on_commit_callbacks(execute=True):
        swept = payment_tasks.sweep_payments()

    order.refresh_from_db()
    assert swept == {"orders": 1, "payments": 0, "exports": 0}
    assert order.status == OrderStatus.ALLOCATED
    assert T.objects.get(order=order, kind=T.Kind.AUTHORISE).status == T.Status.SUCCEEDED


def test_the_test_card_gateway_binds_a_key_to_its_first_request_as_stripe_does():
    gateway = TestCardGateway()
    first = gateway.authorise(
        amount=Decimal("10.00"), currency="USD", token="tok_approve", idempotency_key="K-1", description="x"
    )
    again = gateway.authorise(
        amount=Decimal("10.00"), currency="USD", token="tok_approve", idempotency_key="K-1", description="x"
    )
    other = gateway.authorise(
        amount=Decimal("10.00"), currency="USD", token="tok_decline", idempotency_key="K-1", description="x"
    )

    assert first.succeeded and again == first
    assert not other.succeeded and other.error == "idempotency_key_reused_with_other_parameters"


class WorkerKilled(BaseException):
    """The worker's process dies (as under kill -9: nothing after this line runs)."""


class KilledAfterCapture(TestCardGateway):
    """The test card gateway, but the worker dies once after the gateway captured, before its answer is recorded."""

    __test__ = False  # not a pytest class
    kills = 1

    def capture(self, **kwargs) -> GatewayResult:
        answer = super().capture(**kwargs)
        if KilledAfterCapture.kills:
            KilledAfterCapture.kills -= 1
            raise WorkerKilled
        return answer


def test_a_worker_killed_between_the_capture_and_its_record_charges_once(
    sites, stock, shirt, paid_order, route, carriers, sandbox, monkeypatch
):
    # given a routed card order whose shipment is labelled, and a worker that dies mid-capture
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)]))
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")
    monkeypatch.setitem(GATEWAYS, "test_card", f"{__name__}.KilledAfterCapture")
    monkeypatch.setattr(KilledAfterCapture, "kills", 1)

    # when it ships: the gateway captures, and the worker dies before recording the answer
    with pytest.raises(WorkerKilled):
        services.ship_shipment(shipment_id=shipment.pk, actor="test")

    # then the shipment stands, the capture is pending under its key, and the gateway took the money once
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.IN_TRANSIT
    (capture,) = txns(order, T.Kind.CAPTURE)
    assert (capture.status, capture.attempts) == (T.Status.PENDING, 1)
    (payment,) = sandbox.payments()
    assert payment.captured == Decimal("50.00")

    # when the payments sweep runs before the call counts as lost, it leaves the call alone
    assert payment_tasks.sweep_payments() == {"orders": 0, "payments": 0, "exports": 0}

    # and once it does count as lost, the sweep makes it again with its key: the gateway answers as it did
    lost = payments.CALL_LOST_AFTER + dt.timedelta(seconds=1)
    T.objects.filter(pk=capture.pk).update(updated_at=F("updated_at") - lost)
    assert payment_tasks.sweep_payments() == {"orders": 0, "payments": 1, "exports": 0}

    capture.refresh_from_db()
    payment.refresh_from_db()
    assert (capture.status, capture.attempts) == (T.Status.SUCCEEDED, 2)
    assert payment.captured == Decimal("50.00")
    assert [op for op, _ in payment.operations].count("capture") == 1
    assert JournalEntry.objects.filter(transaction=capture).count() == 1


def test_a_call_in_flight_is_not_made_again_by_a_retry(sites, stock, shirt, paid_order, route, ship, sandbox):
    # given a refund whose call another worker is making right now (its row pending, just claimed)
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)]))
    ship(order)
    refund = T.objects.create(
        order=order,
        kind=T.Kind.REFUND,
        gateway="test_card",
        amount=Decimal("10.00"),
        currency="USD",
        idempotency_key=f"{order.number}:refund:R-1",
        attempts=1,
    )

    # when a retry comes for it
    result = payments.retry_payment(transaction_id=refund.pk)

    # then it is answered "in flight" and the gateway is not asked
    assert result.outcome == payments.Outcome.IN_FLIGHT
    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == (T.Status.PENDING, 1)
    (payment,) = sandbox.payments()
    assert payment.refunded == 0
