"""Real parallel transactions on PostgreSQL: the last units are never sold twice, nothing deadlocks."""

import threading

import pytest
from django.db import connection, connections
from django.db.models import Sum

from inventory import services as inventory
from inventory.models import Allocation, InventoryFinding, SafetyStockRule, StockLevel, StockMovement
from orders import services as order_services
from orders.models import OrderStatus
from tests.factories import ChannelFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_in_parallel(calls):
    """Start every call at the same moment, each in its own thread and connection."""
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


def test_workers_racing_for_the_last_units_allocate_exactly_what_exists(sites, stock, products, order_to, settings):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    a, b = products[:2]
    stock(sites["DAL"], a, 5)
    stock(sites["ATL"], a, 3)
    stock(sites["DAL"], b, 4)
    # 12 orders want 2 × A each (24 units, 8 exist); half also want B, in either line order.
    orders = []
    for index in range(12):
        lines = [(a, 2), (b, 1)] if index % 2 else [(b, 1), (a, 2)]
        orders.append(order_to("DFW", lines if index % 3 else [(a, 2)]))

    errors = run_in_parallel(
        [lambda order=order: order_services.allocate_order(order_id=order.pk, actor="worker") for order in orders]
    )

    assert errors == []
    levels = {
        (lvl.warehouse.code, lvl.product.sku): lvl for lvl in StockLevel.objects.select_related("warehouse", "product")
    }
    assert levels[("DAL", "SKU-A")].allocated == 5
    assert levels[("ATL", "SKU-A")].allocated == 3
    assert levels[("DAL", "SKU-B")].allocated <= 4
    allocated_a = Allocation.objects.filter(product=a).aggregate(t=Sum("quantity"))["t"]
    assert allocated_a == 8
    statuses = [order.status for order in type(orders[0]).objects.filter(pk__in=[o.pk for o in orders])]
    assert statuses.count(OrderStatus.ALLOCATED) <= 4
    assert set(statuses) <= {OrderStatus.ALLOCATED, OrderStatus.BACKORDERED}
    for level in levels.values():
        ledger = StockMovement.objects.filter(warehouse=level.warehouse, product=level.product).aggregate(
            t=Sum("quantity")
        )
        assert ledger["t"] == level.on_hand

    run = inventory.run_inventory_check(triggered_by="test", email=False)
    assert run.findings.filter(severity=InventoryFinding.Severity.ERROR).count() == 0

    # then corrupt a level on purpose: the check reports exactly that
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_stocklevel SET on_hand = on_hand + 2 WHERE id = %s", [levels[("ATL", "SKU-A")].pk]
        )
    run = inventory.run_inventory_check(triggered_by="test", email=False)
    mismatches = list(run.findings.filter(kind=InventoryFinding.Kind.LEDGER_MISMATCH))
    assert [f.object_id for f in mismatches] == [str(levels[("ATL", "SKU-A")].pk)]


def test_receipts_cancellations_and_allocations_together_do_not_deadlock(sites, stock, products, order_to, settings):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    a, b = products[:2]
    for site in ("DAL", "ATL"):
        stock(sites[site], a, 4)
        stock(sites[site], b, 4)
    placed = [order_to("DFW", [(a, 1), (b, 1)]) for _ in range(6)]
    for order in placed[:3]:
        order_services.allocate_order(order_id=order.pk, actor="setup")

    calls = [lambda o=o: order_services.cancel_order(order_id=o.pk, reason="race", actor="ops") for o in placed[:3]]
    calls += [lambda o=o: order_services.allocate_order(order_id=o.pk, actor="worker") for o in placed[3:]]
    calls += [
        lambda site=site, product=product: inventory.receive_stock(
            warehouse_id=sites[site].pk, product_id=product.pk, quantity=2, actor="dock"
        )
        for site in ("DAL", "ATL")
        for product in (a, b)
    ]
    errors = run_in_parallel(calls)

    assert errors == []
    run = inventory.run_inventory_check(triggered_by="test", email=False)
    assert run.findings.filter(severity=InventoryFinding.Severity.ERROR).count() == 0
    assert StockLevel.objects.aggregate(t=Sum("on_hand"))["t"] == 4 * 4 + 4 * 2


def test_approving_a_count_while_orders_allocate_keeps_the_numbers_true(sites, stock, products, order_to, settings):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    a = products[0]
    stock(sites["DAL"], a, 10)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor="counter")
    inventory.record_counts(count_id=count.pk, counted={count.lines.get().pk: 7}, actor="counter")  # 3 missing
    inventory.submit_cycle_count(count_id=count.pk, actor="counter")
    orders = [order_to("DFW", [(a, 2)]) for _ in range(4)]

    calls = [lambda o=o: order_services.allocate_order(order_id=o.pk, actor="worker") for o in orders]
    calls.append(lambda: inventory.approve_cycle_count(count_id=count.pk, actor="manager"))
    errors = run_in_parallel(calls)

    # The approval either landed (7 on hand) or was refused because it would strand allocations.
    assert all(type(error).__name__ == "InsufficientStock" for error in errors), [repr(e) for e in errors]
    level = StockLevel.objects.get(warehouse=sites["DAL"], product=a)
    assert level.on_hand in (7, 10)
    assert level.allocated <= level.on_hand
    run = inventory.run_inventory_check(triggered_by="test", email=False)
    assert run.findings.filter(severity=InventoryFinding.Severity.ERROR).count() == 0


def test_racing_batches_allocate_exactly_what_exists(sites, stock, products, order_to, settings):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    a = products[0]
    stock(sites["DAL"], a, 7)
    stock(sites["RNO"], a, 5)
    orders = [order_to("DFW", [(a, 1)]) for _ in range(20)]
    batches = [orders[i::4] for i in range(4)]

    errors = run_in_parallel(
        [
            lambda batch=batch: order_services.allocate_orders(order_ids=[o.pk for o in batch], actor="wave")
            for batch in batches
        ]
    )

    assert errors == []
    assert Allocation.objects.aggregate(t=Sum("quantity"))["t"] == 12
    statuses = list(type(orders[0]).objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True))
    assert statuses.count(OrderStatus.ALLOCATED) == 12
    assert statuses.count(OrderStatus.BACKORDERED) == 8
    run = inventory.run_inventory_check(triggered_by="test", email=False)
    assert run.findings.filter(severity=InventoryFinding.Severity.ERROR).count() == 0


def test_racing_batches_never_reserve_a_channels_safety_stock(sites, stock, products, order_to, settings):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    a = products[0]
    marketplace = ChannelFactory(code="amazon")
    stock(sites["DAL"], a, 9)
    SafetyStockRule.objects.create(channel=marketplace, product=a, quantity=4)  # the marketplace may take 5
    orders = [order_to("DFW", [(a, 1)], channel=marketplace) for _ in range(12)]
    batches = [orders[i::4] for i in range(4)]

    errors = run_in_parallel(
        [
            lambda batch=batch: order_services.allocate_orders(order_ids=[o.pk for o in batch], actor="wave")
            for batch in batches
        ]
    )

    assert errors == []
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=a).allocated == 5
    assert Allocation.objects.aggregate(t=Sum("quantity"))["t"] == 5
    statuses = list(type(orders[0]).objects.filter(pk__in=[o.pk for o in orders]).values_list("status", flat=True))
    assert (statuses.count(OrderStatus.ALLOCATED), statuses.count(OrderStatus.BACKORDERED)) == (5, 7)
    run = inventory.run_inventory_check(triggered_by="test", email=False)
    assert run.findings.filter(severity=InventoryFinding.Severity.ERROR).count() == 0
