"""Real parallel transactions on PostgreSQL: cancelling some items while the order is routed keeps stock true."""

import threading

import pytest
from django.db import connections
from django.db.models import Sum

from inventory import services as inventory
from inventory.models import Allocation, InventoryFinding, StockLevel
from orders import services
from orders.models import OrderLine, OrderStatus

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_parallel(calls):
    """Start every call at the same moment, each in its own thread and connection; the errors they raised."""
    barrier = threading.Barrier(len(calls))
    errors = []

    def worker(call):
        try:
            barrier.wait(timeout=10)
            call()
        except Exception as error:  # collected and asserted by the test
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker hung (deadlock?)"
    return errors


def test_cancelling_the_waiting_items_while_routing_fills_them_leaves_stock_and_allocations_true(
    sites, stock, products, order_to, settings
):
    # given backordered orders: B reserved, the 2 units of A waiting; then A arrives, enough for all of them
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    a, b = products[:2]
    stock(sites["DAL"], b, 10)
    orders = [order_to("DFW", [(a, 2), (b, 1)]) for _ in range(4)]
    for order in orders:
        assert services.allocate_order(order_id=order.pk, actor="setup").status == OrderStatus.BACKORDERED
    stock(sites["DAL"], a, 8)

    # when, for each order at once, the customer cancels the A units and routing tries to fill them
    calls = []
    for order in orders:
        line_a = OrderLine.objects.get(order=order, product=a)
        calls.append(
            lambda order=order, line=line_a: services.cancel_lines(
                order_id=order.pk, quantities={line.pk: 2}, reason="race", actor="ops"
            )
        )
        calls.append(lambda order=order: services.allocate_orders(order_ids=[order.pk], actor="worker"))
    errors = run_in_parallel(calls)

    # then both happened in some order, consistently: A is cancelled and nothing of it stays reserved
    assert errors == []
    for order in orders:
        order.refresh_from_db()
        assert order.status == OrderStatus.ALLOCATED
        line_a = OrderLine.objects.get(order=order, product=a)
        assert (line_a.quantity, line_a.quantity_cancelled, line_a.quantity_allocated) == (0, 2, 0)
        assert not Allocation.objects.filter(order_line=line_a).exists()
    level_a = StockLevel.objects.get(warehouse=sites["DAL"], product=a)
    level_b = StockLevel.objects.get(warehouse=sites["DAL"], product=b)
    assert (level_a.allocated, level_a.on_hand) == (0, 8)
    assert level_b.allocated == 4 == Allocation.objects.filter(product=b).aggregate(t=Sum("quantity"))["t"]
    run = inventory.run_inventory_check(triggered_by="test", email=False)
    assert run.findings.filter(severity=InventoryFinding.Severity.ERROR).count() == 0


def test_cancelling_reserved_items_while_routing_never_over_allocates(sites, stock, products, order_to, settings):
    # given one order holding the last 3 units of A and another waiting for 3
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    a = products[0]
    stock(sites["DAL"], a, 3)
    holder = order_to("DFW", [(a, 3)])
    services.allocate_order(order_id=holder.pk, actor="setup")
    waiting = order_to("DFW", [(a, 3)])
    line = OrderLine.objects.get(order=holder)

    # when the holder gives back 2 units while the other order is routed
    errors = run_in_parallel(
        [
            lambda: services.cancel_lines(order_id=holder.pk, quantities={line.pk: 2}, reason="race", actor="ops"),
            lambda: services.allocate_order(order_id=waiting.pk, actor="worker"),
        ]
    )

    # then the other order got at most what was given back, and the level is never over-allocated
    assert errors == []
    level = StockLevel.objects.get(warehouse=sites["DAL"], product=a)
    reserved = Allocation.objects.filter(product=a).aggregate(t=Sum("quantity"))["t"]
    assert level.allocated == reserved <= level.on_hand == 3
    assert OrderLine.objects.get(order=holder).quantity_allocated == 1
    assert OrderLine.objects.get(order=waiting).quantity_allocated in (0, 2)
