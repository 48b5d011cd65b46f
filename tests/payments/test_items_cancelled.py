"""Cancelling some items of an order (``orders.services.amendments``): stock, status, totals, payment, timeline.

Here beside the payments' tests for their fixtures (card orders routed, shipped, the gateway's record)."""

from decimal import Decimal

import pytest

from inventory.models import Allocation, StockLevel
from notifications.models import Message
from orders import services
from orders.exceptions import CancellationRefused, OrderChanged, ReasonRequired
from orders.models import OrderEvent, OrderLine, OrderStatus
from orders.payments import services as payments
from orders.payments.models import JournalEntry, PaymentTransaction

pytestmark = pytest.mark.django_db
T = PaymentTransaction
S = OrderStatus


def lines_of(order):
    return list(OrderLine.objects.filter(order=order).order_by("pk"))


def allocated(warehouse, product) -> int:
    return StockLevel.objects.get(warehouse=warehouse, product=product).allocated


def written(order) -> tuple:
    """Everything a cancellation could write for an order, to show a refusal wrote nothing."""
    return (
        list(OrderLine.objects.filter(order=order).order_by("pk").values_list("quantity", "quantity_allocated")),
        OrderEvent.objects.filter(order=order).count(),
        Message.objects.filter(order_id=order.pk).count(),
        T.objects.filter(order=order).count(),
        list(Allocation.objects.filter(order=order).order_by("pk").values_list("quantity", flat=True)),
    )


def test_cancelling_reserved_units_releases_them_reprices_and_reduces_the_authorisation(
    sites, stock, shirt, mug, paid_order, route, ship, sandbox, django_capture_on_commit_callbacks
):
    # given an allocated card order of 3 shirts and a mug, with shipping, tax and a discount
    stock(sites["EWR"], shirt, 5)
    stock(sites["EWR"], mug, 5)
    order = route(paid_order([(shirt, 3), (mug, 1)], shipping="5.00", tax="8.00", discount="4.00"))
    assert order.status == S.ALLOCATED and order.grand_total == Decimal("96.50")
    assert allocated(sites["EWR"], shirt) == 3
    shirts, _ = lines_of(order)

    # when an operator cancels 2 of the shirts
    with django_capture_on_commit_callbacks(execute=True):
        result = services.cancel_lines(
            order_id=order.pk, quantities={shirts.pk: 2}, reason="Customer asked", actor="ana"
        )

    # then the 2 reserved shirts are back on sale, the line keeps 1, and the order stays allocated
    order.refresh_from_db()
    assert allocated(sites["EWR"], shirt) == 1
    shirts = OrderLine.objects.get(pk=shirts.pk)
    assert (shirts.quantity, shirts.quantity_cancelled, shirts.quantity_allocated) == (1, 2, 1)
    assert order.status == S.ALLOCATED
    # totals as intake computes them: tax and discount follow the subtotal (37.50 of 87.50), shipping stays
    assert (order.subtotal, order.tax_total, order.discount_total, order.shipping_total) == (
        Decimal("37.50"),
        Decimal("3.43"),
        Decimal("1.71"),
        Decimal("5.00"),
    )
    assert order.grand_total == Decimal("44.22")
    # the authorisation holds the new total: what is beyond it was released at the gateway
    (reduction,) = T.objects.filter(order=order, kind=T.Kind.REDUCE)
    assert reduction.status == T.Status.SUCCEEDED and reduction.amount == Decimal("52.28")
    assert sandbox.payment(reduction.gateway_reference).authorised == Decimal("44.22")
    assert not JournalEntry.objects.filter(order=order).exists()  # an authorisation moves no money
    # one timeline entry, before → after and who; one email to the customer
    entry = result.event
    assert entry.kind == OrderEvent.Kind.LINES_CANCELLED and entry.actor_name == "ana"
    assert "2 × TEE-1 (3 → 1)" in entry.message and "total 96.50 → 44.22 USD" in entry.message
    assert "Customer asked" in entry.message
    (email,) = Message.objects.filter(order_id=order.pk, event="order_lines_cancelled")
    assert email.context["cancelled"] == [{"sku": "TEE-1", "name": shirt.name, "quantity": 2}]

    # and once it ships, what was captured less what was refunded is the final total
    ship(order)
    order.refresh_from_db()
    assert order.status == S.SHIPPED
    assert payments.captured_amount(order) - payments.refunded_amount(order) == order.grand_total


def test_a_backordered_order_whose_waiting_units_are_cancelled_becomes_allocated(
    sites, stock, shirt, mug, paid_order, route
):
    # given an order whose shirt is reserved and whose mugs wait for stock
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1), (mug, 2)]))
    assert order.status == S.BACKORDERED
    _, mugs = lines_of(order)

    # when both mugs are cancelled
    result = services.cancel_lines(order_id=order.pk, quantities={mugs.pk: 2}, reason="Out of stock", actor="ana")

    # then nothing waits any more: the order is allocated, and no stock moved (the mugs were never reserved)
    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    assert allocated(sites["EWR"], shirt) == 1
    assert result.plan.released_units == 0
    assert order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED, data__to=S.ALLOCATED).exists()
    assert order.grand_total == Decimal("25.00")


def test_money_captured_beyond_the_new_total_is_refunded_and_journalled(
    sites, stock, shirt, paid_order, route, sandbox, django_capture_on_commit_callbacks
):
    # given an order whose whole total was captured up front (as a gateway capturing at checkout does)
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)]))
    auth = payments.authorisation(order)
    T.objects.create(
        order=order,
        kind=T.Kind.CAPTURE,
        gateway="test_card",
        amount=order.grand_total,
        currency="USD",
        status=T.Status.SUCCEEDED,
        idempotency_key=f"{order.number}:capture:checkout",
        gateway_reference=auth.gateway_reference,
        attempts=1,
    )
    sandbox.change(auth.gateway_reference, captured=order.grand_total)
    (shirts,) = lines_of(order)

    # when one shirt is cancelled
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_lines(order_id=order.pk, quantities={shirts.pk: 1}, reason="Customer asked", actor="ana")

    # then the difference is refunded through the gateway and journalled as every refund is
    order.refresh_from_db()
    assert order.grand_total == Decimal("25.00")
    (refund,) = T.objects.filter(order=order, kind=T.Kind.REFUND)
    assert refund.status == T.Status.SUCCEEDED and refund.amount == Decimal("25.00")
    assert sandbox.payment(auth.gateway_reference).refunded == Decimal("25.00")
    assert JournalEntry.objects.filter(transaction=refund, kind=JournalEntry.Kind.REFUND).exists()
    assert not T.objects.filter(order=order, kind=T.Kind.REDUCE).exists()  # everything authorised was captured
    assert payments.captured_amount(order) - payments.refunded_amount(order) == order.grand_total


def test_cancelling_every_unit_left_cancels_the_whole_order(sites, stock, shirt, mug, paid_order, route, sandbox):
    stock(sites["EWR"], shirt, 5)
    stock(sites["EWR"], mug, 5)
    order = route(paid_order([(shirt, 1), (mug, 1)]))
    shirts, mugs = lines_of(order)

    services.cancel_lines(order_id=order.pk, quantities={shirts.pk: 1, mugs.pk: 1}, reason="Moved", actor="ana")

    order.refresh_from_db()
    assert order.status == S.CANCELLED
    assert allocated(sites["EWR"], shirt) == 0 and allocated(sites["EWR"], mug) == 0
    (void,) = T.objects.filter(order=order, kind=T.Kind.VOID)
    assert void.status == T.Status.SUCCEEDED
    assert Message.objects.filter(order_id=order.pk, event="order_cancelled").count() == 1
    assert not Message.objects.filter(order_id=order.pk, event="order_lines_cancelled").exists()


def test_the_same_idempotency_key_cancels_once(sites, stock, shirt, paid_order, route):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 3)]))
    (shirts,) = lines_of(order)

    first = services.cancel_lines(
        order_id=order.pk, quantities={shirts.pk: 1}, reason="x", actor="ana", idempotency_key="K-1"
    )
    again = services.cancel_lines(
        order_id=order.pk, quantities={shirts.pk: 1}, reason="x", actor="ana", idempotency_key="K-1"
    )

    assert again.replayed and again.event.pk == first.event.pk
    assert OrderLine.objects.get(pk=shirts.pk).quantity == 2
    assert Message.objects.filter(order_id=order.pk, event="order_lines_cancelled").count() == 1


@pytest.mark.parametrize(
    ("ask", "error"),
    [
        (lambda line, other: {line.pk: 0}, r"Line TEE-1: the units to cancel must be a whole number of at least 1"),
        (lambda line, other: {line.pk: -1}, r"Line TEE-1: the units to cancel must be a whole number"),
        (lambda line, other: {line.pk: 4}, r"Line TEE-1: only 3 of its 3 units can be cancelled; asked to cancel 4"),
        (lambda line, other: {other.pk: 1}, r"Line \d+ is not a line of order"),
        (lambda line, other: {}, r"choose at least one item"),
    ],
)
def test_a_refused_cancellation_names_the_line_and_writes_nothing(ask, error, sites, stock, shirt, paid_order, route):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 3)]))
    other = route(paid_order([(shirt, 1)]))
    (line,) = lines_of(order)
    (other_line,) = lines_of(other)
    before = written(order)

    with pytest.raises(CancellationRefused, match=error):
        services.cancel_lines(order_id=order.pk, quantities=ask(line, other_line), reason="x", actor="ana")

    assert written(order) == before


def test_a_cancellation_against_an_order_that_moved_on_is_refused(sites, stock, shirt, paid_order, route):
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 3)])
    seen = services.order_version(order)
    order = route(order)  # routed meanwhile: its timeline moved on
    (line,) = lines_of(order)
    before = written(order)

    with pytest.raises(OrderChanged, match="changed since you read it"):
        services.cancel_lines(
            order_id=order.pk, quantities={line.pk: 1}, reason="x", actor="ana", expected_version=seen
        )
    with pytest.raises(ReasonRequired):
        services.cancel_lines(order_id=order.pk, quantities={line.pk: 1}, reason=" ", actor="ana")

    assert written(order) == before
    services.cancel_lines(
        order_id=order.pk,
        quantities={line.pk: 1},
        reason="x",
        actor="ana",
        expected_version=services.order_version(order),
    )
    assert OrderLine.objects.get(pk=line.pk).quantity == 2


def test_units_in_a_shipment_awaiting_its_label_are_not_cancelled_here(
    sites, stock, shirt, paid_order, route, carriers
):
    # given an order whose 3 shirts are packed in a shipment that waits for its label
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 3)]))
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    (line,) = lines_of(order)
    before = written(order)

    # when one is cancelled, the refusal names the shipment to cancel first, and nothing changes
    with pytest.raises(CancellationRefused, match=rf"only 0 of its 3 units .*in shipment {shipment.number}"):
        services.cancel_lines(order_id=order.pk, quantities={line.pk: 1}, reason="x", actor="ana")
    assert written(order) == before


def test_a_partly_shipped_order_keeps_at_least_one_unit(sites, stock, shirt, mug, paid_order, route, ship):
    stock(sites["EWR"], shirt, 5)
    stock(sites["ATL"], mug, 5)  # two shipments; ship the shirts, leave the mugs waiting
    order = route(paid_order([(shirt, 1), (mug, 2)]))
    shirts, mugs = lines_of(order)
    services.record_shipment(order_id=order.pk, shipped={shirts.pk: 1}, actor="warehouse", reference="BOX-1")
    order.refresh_from_db()
    assert order.status == S.PARTIALLY_SHIPPED

    with pytest.raises(CancellationRefused, match="would close a partly shipped order"):
        services.cancel_lines(order_id=order.pk, quantities={mugs.pk: 2}, reason="x", actor="ana")

    services.cancel_lines(order_id=order.pk, quantities={mugs.pk: 1}, reason="x", actor="ana")
    order.refresh_from_db()
    assert order.status == S.PARTIALLY_SHIPPED and order.subtotal == Decimal("37.50")
    assert allocated(sites["ATL"], mug) == 1


def test_an_authorisation_not_settled_refuses_the_cancellation_and_writes_nothing(sites, stock, shirt, paid_order):
    # given a received order whose authorisation failed and is to be asked again (for the old total, same key)
    stock(sites["EWR"], shirt, 5)
    order = paid_order([(shirt, 2)])
    T.objects.create(
        order=order,
        kind=T.Kind.AUTHORISE,
        gateway="test_card",
        amount=order.grand_total,
        currency="USD",
        status=T.Status.ERROR,
        idempotency_key=f"{order.number}:authorise:1",
        attempts=1,
    )
    (line,) = lines_of(order)
    before = written(order)

    with pytest.raises(CancellationRefused, match="authorisation is not settled"):
        services.cancel_lines(order_id=order.pk, quantities={line.pk: 1}, reason="x", actor="ana")

    assert written(order) == before


def test_an_increase_of_the_authorisation_in_flight_refuses_the_cancellation_and_writes_nothing(
    sites, stock, shirt, paid_order, route, sandbox
):
    # given an allocated order whose items were raised: the increase of its authorisation is still being asked
    stock(sites["EWR"], shirt, 10)
    order = route(paid_order([(shirt, 2)]))
    T.objects.create(
        order=order,
        kind=T.Kind.INCREMENT,
        gateway=order.payment_gateway,
        amount=Decimal("40.00"),
        currency="USD",
        status=T.Status.PENDING,
        idempotency_key=f"{order.number}:increment:order-edited:1",
        source="order edited",
    )
    (line,) = lines_of(order)
    before = written(order)

    # when items are cancelled before the gateway answers: refused, saying why, nothing written
    with pytest.raises(CancellationRefused) as refusal:
        services.cancel_lines(order_id=order.pk, quantities={line.pk: 1}, reason="x", actor="ana")
    assert "an increase of its payment's authorisation is being asked" in str(refusal.value)
    assert written(order) == before

    # once the gateway has answered, the cancellation goes ahead
    T.objects.filter(order=order, kind=T.Kind.INCREMENT).update(status=T.Status.SUCCEEDED)
    services.cancel_lines(order_id=order.pk, quantities={line.pk: 1}, reason="x", actor="ana")
    line.refresh_from_db()
    assert line.quantity == 1


def test_a_gateway_that_keeps_its_authorisation_answers_that_the_captures_take_the_new_total(
    sites, stock, shirt, paid_order, route, ship
):
    # given an order paid through its sales channel (a gateway with no way to lower an authorisation)
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 3)], gateway="channel", token=""))
    (line,) = lines_of(order)

    services.cancel_lines(order_id=order.pk, quantities={line.pk: 1}, reason="x", actor="ana")

    (reduction,) = T.objects.filter(order=order, kind=T.Kind.REDUCE)
    assert reduction.status == T.Status.SUCCEEDED and reduction.amount == Decimal("25.00")
    note = order.events.get(kind=OrderEvent.Kind.PAYMENT, data__transaction=reduction.pk).message
    assert note.startswith("Released from the authorisation 25.00 USD") and "the captures take the new total" in note
    ship(order)
    order.refresh_from_db()
    assert payments.captured_amount(order) == order.grand_total == Decimal("50.00")
