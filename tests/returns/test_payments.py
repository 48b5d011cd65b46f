"""Refunds settled through the real payments services and the test card gateway (its sandbox keeps the money)."""

from decimal import Decimal

import pytest

from orders import services as order_services
from orders.models import Order
from orders.payments import services as payments
from orders.returns import services
from orders.returns.models import Refund
from orders.returns.services import Inspection
from tests.payments.conftest import route, sandbox  # noqa: F401 - fixtures
from tests.returns.conftest import lines_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def card_order(sites, stock, order_to, carrier, shirt, mug, route, django_capture_on_commit_callbacks):  # noqa: F811
    """Paid by test card: 3 tees and 2 mugs, 89.20 with discount, tax and shipping; authorised, shipped, captured."""
    stock(sites["EWR"], shirt, 3)
    stock(sites["EWR"], mug, 5)
    order = order_to("NYC", [(shirt, 3), (mug, 2)], payment_gateway="test_card", payment_token="tok_approve")
    Order.objects.filter(pk=order.pk).update(
        subtotal=Decimal("80.00"),
        discount_total=Decimal("8.00"),
        tax_total=Decimal("7.20"),
        shipping_total=Decimal("10.00"),
        grand_total=Decimal("89.20"),
    )
    order = route(order)  # authorised, then allocated
    (shipment,) = order_services.create_shipments(order_id=order.pk, actor="test")
    order_services.buy_labels(shipment_id=shipment.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        order_services.ship_shipment(shipment_id=shipment.pk, actor="test")  # captured
    return Order.objects.get(pk=order.pk)


def test_a_return_refund_moves_the_money_through_the_gateway_once(card_order, sandbox):  # noqa: F811
    order = card_order
    assert payments.refundable_amount(order) == Decimal("89.20")
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 2}, reason="damaged", actor="t")
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor="t")
    services.inspect_return(rma_id=rma.pk, results={rma.lines.get().pk: Inspection(restock=2)}, actor="t")

    refund = services.confirm_return_refund(rma_id=rma.pk, actor="t")

    assert refund.status == Refund.Status.SETTLED and refund.amount == Decimal("29.80")
    assert payments.refundable_amount(order) == Decimal("59.40")
    assert sum(p.refunded for p in sandbox.payments()) == Decimal("29.80")
    # settling again changes nothing: the refund's key tells the gateway it is the same refund
    services.settle_refund(refund_id=refund.pk, actor="t")
    assert payments.refundable_amount(order) == Decimal("59.40")


def test_an_error_refund_above_what_the_gateway_holds_is_refused_before_anything_is_recorded(card_order):
    order = card_order
    case = services.open_error_case(order_id=order.pk, kind="late", root_cause="other", actor="t")
    services.resolve_error_case(case_id=case.pk, refund_amount=Decimal("80.00"), actor="t")
    second = services.open_error_case(order_id=order.pk, kind="late", root_cause="other", actor="t")

    with pytest.raises(Exception, match=r"more than the most allowed, 9.20 USD"):
        services.resolve_error_case(case_id=second.pk, refund_amount=Decimal("10.00"), actor="t")

    assert list(Refund.objects.values_list("amount", "status")) == [(Decimal("80.00"), Refund.Status.SETTLED)]
    assert payments.refundable_amount(order) == Decimal("9.20")
