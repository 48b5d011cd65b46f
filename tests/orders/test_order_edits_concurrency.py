"""Real parallel transactions on PostgreSQL: random edits, partial cancellations, routing and shipping of card
orders racing one another; whatever wins, the stock, the allocations and the money stay true.

Hypothesis draws the operations; each example runs them all at once (a thread and a connection each), then
finishes the orders (stock arrives, everything ships) and checks: captures − refunds = the final total of every
order, the ledger sums to on hand, no level is over-allocated, every allocation is a line's."""

import itertools
import threading

import pytest
from django.db import connections
from django.db.models import Sum
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from inventory import services as inventory
from inventory.exceptions import InventoryError
from inventory.models import Allocation, StockLevel, StockMovement
from orders import services, tasks
from orders.exceptions import OrderError
from orders.models import Order, OrderLine, OrderStatus
from orders.payments import services as payments
from shipping.exceptions import ShippingError
from shipping.models import Shipment
from tests.factories import ProductFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
EXPECTED = (OrderError, InventoryError, ShippingError)  # refusals: a race lost, or an edit the order no longer takes
_skus = itertools.count(1)


def run_in_parallel(calls, *, record: bool = False) -> list[Exception]:
    """Start every (name, call) at the same moment, each in its own thread and connection; the unexpected errors.

    With ``record``, how each ended (done, or refused) is a Hypothesis event: ``--hypothesis-show-statistics``
    shows the mix.
    """
    barrier = threading.Barrier(len(calls))
    errors, outcomes = [], []

    def worker(name, call):
        try:
            barrier.wait(timeout=10)
            call()
            outcomes.append(f"{name}: done")
        except EXPECTED:
            outcomes.append(f"{name}: refused")
        except Exception as error:  # collected and asserted by the test
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    for outcome in outcomes if record else ():
        event(outcome)
    return errors


def ship_everything_allocated(order_id: int) -> None:
    """Make the order's shipments, buy their labels and ship them (what is reserved and not packed yet)."""
    for shipment in services.create_shipments(order_id=order_id, actor="warehouse"):
        services.buy_labels(shipment_id=shipment.pk, actor="warehouse")
        services.ship_shipment(shipment_id=shipment.pk, actor="warehouse")


def ship_what_is_packed(order_id: int) -> None:
    for shipment in Shipment.objects.filter(order_id=order_id, status=Shipment.Status.AWAITING_LABEL):
        services.buy_labels(shipment_id=shipment.pk, actor="warehouse")
    for shipment in Shipment.objects.filter(order_id=order_id, status=Shipment.Status.LABEL_CREATED):
        services.ship_shipment(shipment_id=shipment.pk, actor="warehouse")


operation = st.one_of(
    st.tuples(st.just("edit"), st.integers(0, 1), st.integers(0, 1), st.integers(0, 4)),
    st.tuples(st.just("cancel"), st.integers(0, 1), st.integers(0, 1), st.integers(1, 2)),
    st.tuples(st.just("route"), st.integers(0, 1), st.just(0), st.just(0)),
    st.tuples(st.just("ship"), st.integers(0, 1), st.just(0), st.just(0)),
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stock_levels=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    first_lines=st.tuples(st.integers(1, 3), st.integers(0, 2)),
    operations=st.lists(operation, min_size=2, max_size=5),
)
def test_random_edits_racing_routing_and_shipping_keep_stock_and_money_true(
    sites,
    order_to,
    carriers,  # noqa: F811 - the shipping fixture
    settings,
    stock_levels,
    first_lines,
    operations,
):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    batch = next(_skus)
    products = [ProductFactory(sku=f"RACE-{batch}-{letter}", price="10.00") for letter in "AB"]
    for product, units in zip(products, stock_levels, strict=True):
        inventory.receive_stock(warehouse_id=sites["DAL"].pk, product_id=product.pk, quantity=units, actor="setup")
    orders = []
    for _ in range(2):
        wanted = [(product, units) for product, units in zip(products, first_lines, strict=True) if units]
        order = order_to("DFW", wanted, payment_gateway="test_card", payment_token="tok_approve")
        order.subtotal = order.grand_total = sum(line.line_total for line in order.lines.all())
        order.save()
        tasks.allocate_order(order.pk)  # authorised, then routed
        orders.append(Order.objects.get(pk=order.pk))

    def call(kind, which, product_index, units):
        order = orders[which]
        product = products[product_index]
        line = OrderLine.objects.filter(order=order, product=product).first()
        if kind == "edit":
            change = {"line": line.pk, "quantity": units} if line else {"sku": product.sku, "quantity": max(units, 1)}
            return lambda: services.edit_lines(order_id=order.pk, changes=[change], reason="race", actor="ops")
        if kind == "cancel":
            if line is None:
                return lambda: None
            return lambda: services.cancel_lines(
                order_id=order.pk, quantities={line.pk: units}, reason="race", actor="ops"
            )
        if kind == "route":
            return lambda: services.allocate_orders(order_ids=[order.pk], actor="worker")
        return lambda: ship_everything_allocated(order.pk)

    # when the operations race one another
    assert run_in_parallel([(op[0], call(*op)) for op in operations], record=True) == []

    # and then the orders are finished: the stock they wait for arrives, everything left ships
    for product in products:
        inventory.receive_stock(warehouse_id=sites["DAL"].pk, product_id=product.pk, quantity=20, actor="restock")
    for order in orders:
        order.refresh_from_db()
        if order.status in (OrderStatus.BACKORDERED, OrderStatus.PARTIALLY_SHIPPED):
            services.allocate_order(order_id=order.pk, actor="restock")
        ship_what_is_packed(order.pk)
        order.refresh_from_db()
        if order.status in (OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED):
            ship_everything_allocated(order.pk)

    # then every order is shipped or cancelled, and its money is its final total
    for order in orders:
        order.refresh_from_db()
        assert order.status in (OrderStatus.SHIPPED, OrderStatus.CANCELLED), (order, order.status)
        kept = payments.captured_amount(order) - payments.refunded_amount(order)
        final = order.grand_total if order.status == OrderStatus.SHIPPED else 0
        assert kept == final, (order, kept, final, operations)
        for line in OrderLine.objects.filter(order=order):
            assert line.quantity_allocated <= line.quantity - line.quantity_shipped
    # the ledger sums to on hand, nothing is over-allocated, and every allocation is an order line's
    for level in StockLevel.objects.filter(product__in=products):
        moved = StockMovement.objects.filter(warehouse=level.warehouse, product=level.product).aggregate(
            total=Sum("quantity")
        )["total"]
        assert moved == level.on_hand
        assert 0 <= level.allocated <= level.on_hand
        reserved = Allocation.objects.filter(warehouse=level.warehouse, product=level.product).aggregate(
            total=Sum("quantity")
        )["total"]
        assert level.allocated == (reserved or 0)


def test_two_edits_from_the_same_version_leave_exactly_one_winner(sites, order_to, settings):
    # given an allocated card order read by two operators at once (the same version)
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    batch = next(_skus)
    tee = ProductFactory(sku=f"RACE-{batch}-T", price="10.00")
    inventory.receive_stock(warehouse_id=sites["DAL"].pk, product_id=tee.pk, quantity=10, actor="setup")
    order = order_to("DFW", [(tee, 1)], payment_gateway="test_card", payment_token="tok_approve")
    order.subtotal = order.grand_total = 10
    order.save()
    tasks.allocate_order(order.pk)
    line = OrderLine.objects.get(order=order)
    version = services.order_version(order)
    won, lost = [], []

    def edit(units):
        try:
            services.edit_lines(
                order_id=order.pk,
                changes=[{"line": line.pk, "quantity": units}],
                reason="race",
                actor="ops",
                expected_version=version,
            )
            won.append(units)
        except OrderError as refusal:
            lost.append(str(refusal))

    # when both confirm their edit at the same moment
    assert run_in_parallel([("edit", lambda: edit(3)), ("edit", lambda: edit(5))]) == []

    # then one edit stands, the other is refused as the order moved on, and stock and money follow the winner
    assert len(won) == 1 and len(lost) == 1 and "changed since you read it" in lost[0]
    order.refresh_from_db()
    line.refresh_from_db()
    assert line.quantity == line.quantity_allocated == won[0]
    assert order.grand_total == 10 * won[0]
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=tee).allocated == won[0]
    assert payments.authorised_amount(order) == order.grand_total
