"""Every credit rule holds an order naming itself; release continues the flow, cancel voids the payment."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from notifications.models import Message
from orders import services
from orders.models import OrderEvent, OrderStatus
from orders.payments.models import BlockedValue, CreditRule, PaymentTransaction
from tests.factories import AddressFactory, OrderFactory

pytestmark = pytest.mark.django_db
T = PaymentTransaction


def amount_over(order):
    CreditRule.objects.create(name="Big order", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("40.00"))
    return "order total 50.00 USD is over 40.00 USD"


def country_mismatch(order):
    order.billing_address = AddressFactory(customer=order.customer, country="CA", postal_code="M5V 2T6")
    order.save()
    CreditRule.objects.create(name="Countries differ", kind=CreditRule.Kind.COUNTRY_MISMATCH)
    return "billing country CA differs from shipping country US"


def first_order_over(order):
    CreditRule.objects.create(name="New and big", kind=CreditRule.Kind.FIRST_ORDER_OVER, threshold=Decimal("49.99"))
    return "first order of a new customer, total 50.00 USD is over 49.99 USD"


def repeated_declines(order):
    CreditRule.objects.create(name="Declines", kind=CreditRule.Kind.REPEATED_DECLINES, declines=2, window_days=7)
    for number in range(2):
        earlier = OrderFactory(customer=order.customer, payment_gateway="test_card")
        T.objects.create(
            order=earlier,
            kind=T.Kind.AUTHORISE,
            gateway="test_card",
            amount=Decimal("10.00"),
            currency="USD",
            status=T.Status.DECLINED,
            idempotency_key=f"old-{number}",
        )
    return "2 declined authorisations for this customer in the last 7 days"


def blocked_email(order):
    CreditRule.objects.create(name="Blocklist", kind=CreditRule.Kind.BLOCKED)
    blocked = BlockedValue(
        kind=BlockedValue.Kind.EMAIL, value=f" {order.customer.email.upper()} ", reason="chargebacks"
    )
    blocked.full_clean()  # as the console saves it: lower-cased, spaces dropped
    blocked.save()
    return f"email {order.customer.email} is blocked (chargebacks)"


def blocked_postal_code(order):
    CreditRule.objects.create(name="Blocklist", kind=CreditRule.Kind.BLOCKED)
    BlockedValue.objects.create(kind=BlockedValue.Kind.POSTAL_CODE, value="10001")
    return "postal code 10001 is blocked"


RULES = [amount_over, country_mismatch, first_order_over, repeated_declines, blocked_email, blocked_postal_code]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_each_rule_holds_the_order_naming_itself_and_release_continues(
    rule, sites, stock, shirt, paid_order, route, sandbox
):
    # given an order that trips the rule
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 2)])
    detail = rule(order)
    name = CreditRule.objects.get().name

    # when it is routed
    order = route(order)

    # then it is authorised, held naming the rule, and ops are alerted
    assert order.status == OrderStatus.ON_HOLD
    check = order.events.get(kind=OrderEvent.Kind.CREDIT_CHECK)
    assert check.message == f"Credit check: rule {name!r}: {detail}"
    assert check.data["result"] == "held" and check.data["rules"][0]["rule"] == name
    hold = order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED).last()
    assert hold.message == f"Put on hold: Credit check: rule {name!r}: {detail}"
    assert Message.objects.filter(event="order_on_hold", order_id=order.pk).exists()
    assert T.objects.get(order=order, kind=T.Kind.AUTHORISE).status == T.Status.SUCCEEDED
    assert order.lines.get().quantity_allocated == 0

    # when ops review it and release it, the flow continues: the rule is not asked again, the order is routed
    released = services.release_order(order_id=order.pk, actor="reviewer", note="known customer")
    order = route(released)
    assert order.status == OrderStatus.ALLOCATED
    assert order.lines.get().quantity_allocated == 2
    assert T.objects.filter(order=order, kind=T.Kind.AUTHORISE).count() == 1


def test_cancelling_a_held_order_voids_its_payment_and_tells_the_customer(sites, stock, shirt, paid_order, route):
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 2)])
    amount_over(order)
    order = route(order)
    assert order.status == OrderStatus.ON_HOLD

    services.cancel_order(order_id=order.pk, reason="Fraud suspected", actor="reviewer")

    void = T.objects.get(order=order, kind=T.Kind.VOID)
    assert void.status == T.Status.SUCCEEDED and void.reason == "Fraud suspected"
    assert Message.objects.filter(event="order_cancelled", order_id=order.pk).exists()


def test_an_order_under_every_rule_goes_straight_through(sites, stock, shirt, paid_order, route):
    CreditRule.objects.create(name="Big order", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("500.00"))
    CreditRule.objects.create(
        name="Euro only", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("1"), currency="EUR"
    )
    CreditRule.objects.create(name="Off", kind=CreditRule.Kind.BLOCKED, is_active=False)
    CreditRule.objects.create(name="Declines", kind=CreditRule.Kind.REPEATED_DECLINES, declines=1, window_days=1)
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 2)])
    BlockedValue.objects.create(kind=BlockedValue.Kind.POSTAL_CODE, value="10001")  # its rule is inactive
    old = OrderFactory(customer=order.customer)
    T.objects.create(
        order=old,
        kind=T.Kind.AUTHORISE,
        gateway="test_card",
        amount=Decimal("1.00"),
        currency="USD",
        status=T.Status.DECLINED,
        idempotency_key="long-ago",
    )
    T.objects.filter(idempotency_key="long-ago").update(created_at=timezone.now() - dt.timedelta(days=3))

    order = route(order)

    assert order.status == OrderStatus.ALLOCATED
    assert order.events.get(kind=OrderEvent.Kind.CREDIT_CHECK).message == "Credit check passed"


def test_batched_routing_and_the_sweep_never_route_an_order_past_credit_control(sites, stock, shirt):
    """The routing task takes other waiting orders along, and the sweep takes lost ones: each is credit-checked
    first, so an order a rule would hold is not routed in someone else's batch."""
    from orders.models import Order
    from tests.factories import OrderFactory

    stock(sites["EWR"], shirt, 50)
    CreditRule.objects.create(name="Big order", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("100.00"))
    big = OrderFactory(lines=0)
    small = OrderFactory(lines=0)
    for order, quantity in ((big, 10), (small, 1)):
        order.lines.create(product=shirt, sku=shirt.sku, name=shirt.name, quantity=quantity, unit_price=Decimal("25"))
        Order.objects.filter(pk=order.pk).update(grand_total=Decimal("25") * quantity)

    services.route_new_order(order_id=small.pk, actor="system: routing")

    big.refresh_from_db()
    small.refresh_from_db()
    assert small.status == OrderStatus.ALLOCATED
    assert big.status == OrderStatus.ON_HOLD  # checked in the batch: held naming the rule, not routed
    assert "Big order" in big.events.filter(kind=OrderEvent.Kind.CREDIT_CHECK).get().message


def test_the_sweep_credit_checks_the_orders_whose_task_was_lost(sites, stock, shirt):
    from orders.models import Order
    from tests.factories import OrderFactory

    stock(sites["EWR"], shirt, 50)
    CreditRule.objects.create(name="Big order", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("100.00"))
    lost = OrderFactory(lines=0, placed_at=timezone.now() - dt.timedelta(hours=1))
    lost.lines.create(product=shirt, sku=shirt.sku, name=shirt.name, quantity=10, unit_price=Decimal("25"))
    Order.objects.filter(pk=lost.pk).update(grand_total=Decimal("250"))

    services.route_waiting_orders()

    lost.refresh_from_db()
    assert lost.status == OrderStatus.ON_HOLD
