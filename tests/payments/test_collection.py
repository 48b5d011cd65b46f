"""Money owed is collected once: declined captures, refunds on unpaid invoices, credit control without a gateway."""

from decimal import Decimal

import pytest
from django.urls import reverse

from orders import services
from orders.models import Order, OrderEvent, OrderStatus
from orders.payments import services as payments
from orders.payments.exceptions import PaymentError
from orders.payments.models import CreditRule, JournalEntry, PaymentTransaction
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
T = PaymentTransaction


def captures(order):
    return list(T.objects.filter(order=order, kind=T.Kind.CAPTURE).order_by("pk"))


def legs(txn):
    return {(line.account.code, line.debit, line.credit) for line in txn.journal_entry.lines.all()}


@pytest.fixture
def ship_one(django_capture_on_commit_callbacks, carriers):
    """ship_one(shipment): buy its label and ship it (after-commit work included)."""

    def run(shipment):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
        with django_capture_on_commit_callbacks(execute=True):
            services.ship_shipment(shipment_id=shipment.pk, actor="test")

    return run


def decline_captures(sandbox, order, declined: bool):
    auth = T.objects.get(order=order, kind=T.Kind.AUTHORISE)
    sandbox.change(auth.gateway_reference, voided=declined)  # the gateway answers "no such authorisation"


def test_a_declined_capture_rolls_into_the_next_shipment(
    sites, stock, shirt, mug, paid_order, route, ship_one, sandbox
):
    stock(sites["EWR"], shirt, 5)
    stock(sites["ATL"], mug, 5)  # two shipments
    order = route(paid_order([(shirt, 2), (mug, 3)], shipping="9.99", tax="7.13", discount="5.00"))
    first, second = services.create_shipments(order_id=order.pk, actor="test")

    decline_captures(sandbox, order, True)
    ship_one(first)
    decline_captures(sandbox, order, False)
    ship_one(second)

    declined, taken = captures(order)
    assert (declined.status, declined.shipment_id) == (T.Status.DECLINED, first.pk)
    assert (taken.status, taken.shipment_id, taken.amount) == (T.Status.SUCCEEDED, second.pk, Decimal("99.62"))
    assert taken.breakdown["shipping"] == "9.99" and taken.breakdown["tax"] == "7.13"
    (payment,) = sandbox.payments()
    assert payment.captured == order.grand_total == payments.captured_amount(order)
    # the later capture took it all: there is nothing left to capture again
    with pytest.raises(PaymentError, match="nothing is left to capture"):
        payments.capture_again(transaction_id=declined.pk, actor="ops")


def test_ops_capture_again_what_a_declined_capture_left(
    client, roles, sites, stock, shirt, mug, paid_order, route, ship_one, sandbox
):
    stock(sites["EWR"], shirt, 5)
    stock(sites["ATL"], mug, 5)
    order = route(paid_order([(shirt, 2), (mug, 3)], shipping="9.99", tax="7.13", discount="5.00"))
    first, second = services.create_shipments(order_id=order.pk, actor="test")
    decline_captures(sandbox, order, True)
    ship_one(first)
    decline_captures(sandbox, order, False)
    (declined,) = captures(order)
    url = reverse("admin:payments_paymenttransaction_changelist")
    action = {"action": "capture_again_selected", "_selected_action": [declined.pk]}
    client.force_login(UserFactory(username="associate", role="Operations associate"))
    client.post(url, action)
    assert len(captures(order)) == 1  # associates may not
    client.force_login(UserFactory(username="manager", role="Operations manager"))

    response = client.post(url, action, follow=True)
    client.post(url, action)  # a second click captures nothing more

    again = captures(order)[1]
    assert (again.status, again.amount, again.shipment_id) == (T.Status.SUCCEEDED, declined.amount, first.pk)
    assert again.idempotency_key != declined.idempotency_key and again.actor_name == "manager"
    assert f"{order}: captured {again.amount:,.2f} USD." in response.content.decode()
    ship_one(second)  # the last shipment takes the rest, no more
    succeeded = [c for c in captures(order) if c.status == T.Status.SUCCEEDED]
    assert len(succeeded) == 2 and sum(c.amount for c in succeeded) == order.grand_total
    (payment,) = sandbox.payments()
    assert payment.captured == order.grand_total
    with pytest.raises(PaymentError, match="only a declined capture"):
        payments.capture_again(transaction_id=again.pk, actor="ops")


def test_a_refund_on_an_unpaid_invoice_reduces_what_is_due(sites, stock, shirt, paid_order, route, ship):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)], gateway="manual", token=""))
    ship(order)  # invoiced 50.00, a receivable

    before = payments.refund_payment(order=order, amount=Decimal("20.00"), idempotency_key="r1", reason="x", actor="o")
    paid = payments.mark_paid(order_id=order.pk, actor="finance", reference="bank 4711")
    after = payments.refund_payment(order=order, amount=Decimal("5.00"), idempotency_key="r2", reason="y", actor="o")
    before, after = before.transaction, after.transaction

    # no cash came in before it was paid: the refund reduces the receivable, and only 30.00 is collected
    assert legs(before) == {("4900", Decimal("20.00"), Decimal("0.00")), ("1100", Decimal("0.00"), Decimal("20.00"))}
    assert paid.amount == Decimal("30.00")
    # once paid, a refund is paid out of cash
    assert legs(after) == {("4900", Decimal("5.00"), Decimal("0.00")), ("1000", Decimal("0.00"), Decimal("5.00"))}
    with pytest.raises(PaymentError, match="nothing is due"):
        payments.mark_paid(order_id=order.pk, actor="finance")


def test_a_refund_of_a_whole_unpaid_invoice_leaves_nothing_due(sites, stock, shirt, paid_order, route, ship):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)], gateway="manual", token=""))
    ship(order)

    payments.refund_payment(order=order, amount=Decimal("50.00"), idempotency_key="all", reason="lost", actor="o")

    with pytest.raises(PaymentError, match="nothing is due"):
        payments.mark_paid(order_id=order.pk, actor="finance")
    assert not JournalEntry.objects.filter(order=order, lines__account__code="1000").exists()


def test_credit_rules_hold_an_order_without_a_gateway(sites, stock, shirt, order_to, route):
    CreditRule.objects.create(name="Big order", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("40.00"))
    stock(sites["EWR"], shirt, 5)
    big, small = order_to("NYC", [(shirt, 2)]), order_to("NYC", [(shirt, 1)])  # no payment gateway
    Order.objects.filter(pk=big.pk).update(grand_total=Decimal("50.00"))
    Order.objects.filter(pk=small.pk).update(grand_total=Decimal("25.00"))

    big, small = route(big), route(small)

    assert big.status == OrderStatus.ON_HOLD
    assert big.events.get(data__to=OrderStatus.ON_HOLD).data["cause"] == "credit_check"
    check = big.events.get(kind=OrderEvent.Kind.CREDIT_CHECK)
    assert check.message == "Credit check: rule 'Big order': order total 50.00 USD is over 40.00 USD"
    assert small.status == OrderStatus.ALLOCATED
    assert not small.events.filter(kind=OrderEvent.Kind.CREDIT_CHECK).exists()
    assert not T.objects.filter(order__in=[big, small]).exists()  # no gateway: nothing authorised
    services.release_order(order_id=big.pk, actor="manager")  # reviewed: routed, not checked again

    assert route(big).status == OrderStatus.ALLOCATED
    assert big.events.filter(kind=OrderEvent.Kind.CREDIT_CHECK).count() == 1


def test_a_capture_again_that_is_declined_again_tells_ops(
    client, roles, settings, sites, stock, shirt, mug, paid_order, route, ship_one, sandbox
):
    from notifications.models import Message

    settings.OPS_EMAILS = ["ops@example.com"]
    stock(sites["EWR"], shirt, 5)
    stock(sites["ATL"], mug, 5)
    order = route(paid_order([(shirt, 2), (mug, 3)]))
    first, _ = services.create_shipments(order_id=order.pk, actor="test")
    decline_captures(sandbox, order, True)
    ship_one(first)
    (declined,) = captures(order)
    Message.objects.filter(event="payment_problem").delete()  # the first decline's alert: seen

    client.force_login(UserFactory(username="manager", role="Operations manager"))
    response = client.post(
        reverse("admin:payments_paymenttransaction_changelist"),
        {"action": "capture_again_selected", "_selected_action": [declined.pk]},
        follow=True,
    )

    again = captures(order)[1]
    assert again.status == T.Status.DECLINED
    assert f"{order}: capture of {again.amount:,.2f} USD declined" in response.content.decode()
    alert = Message.objects.get(event="payment_problem", order_id=order.pk)
    assert alert.recipient == "ops@example.com"
