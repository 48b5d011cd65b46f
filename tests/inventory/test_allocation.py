"""Allocation through the order workflow: routing, reservations, cancel, ship, backorder fill."""

import pytest
from django.db.models import Sum

from inventory.models import Allocation, RoutingExclusion, SafetyStockRule, StockLevel, StockMovement
from orders import services
from orders.exceptions import OrderError
from orders.models import OrderEvent, OrderStatus
from tests.factories import ChannelFactory

S = OrderStatus
pytestmark = pytest.mark.django_db


def level(warehouse, product) -> StockLevel:
    return StockLevel.objects.get(warehouse=warehouse, product=product)


def allocate(order):
    services.allocate_order(order_id=order.pk, actor="system: routing")
    order.refresh_from_db()
    return order


def test_nearest_warehouse_with_full_stock_ships_and_says_why(sites, stock, products, order_to):
    a, b = products[:2]
    for code in ("EWR", "DAL"):
        stock(sites[code], a, 5)
        stock(sites[code], b, 5)
    order = order_to("DFW", [(a, 2), (b, 1)])

    allocate(order)

    assert order.status == S.ALLOCATED
    assert set(Allocation.objects.filter(order=order).values_list("warehouse__code", flat=True)) == {"DAL"}
    assert (level(sites["DAL"], a).allocated, level(sites["EWR"], a).allocated) == (2, 0)
    event = order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED).latest("created_at")
    assert event.message == "Reserved at DAL: nearest with full stock, 0 km"
    assert event.data["warehouses"] == ["DAL"]
    assert list(order.lines.values_list("quantity_allocated", flat=True)) == [2, 1]


def test_nearer_partial_warehouse_loses_to_a_complete_one(sites, stock, products, order_to):
    a, b = products[:2]
    stock(sites["EWR"], a, 5)  # nearest to New York, but has no B
    stock(sites["ATL"], a, 5)
    stock(sites["ATL"], b, 5)
    order = order_to("NYC", [(a, 1), (b, 1)])

    allocate(order)

    assert set(Allocation.objects.filter(order=order).values_list("warehouse__code", flat=True)) == {"ATL"}
    assert order.events.latest("created_at").message == "Reserved at ATL: nearest with full stock, 1,203 km (EWR short)"


def test_split_then_backorder_what_nobody_has(sites, stock, products, order_to):
    a, b, c = products[:3]
    stock(sites["EWR"], a, 1)
    stock(sites["RNO"], b, 1)
    order = order_to("NYC", [(a, 1), (b, 1), (c, 2)])

    allocate(order)

    assert order.status == S.BACKORDERED
    picks = sorted(Allocation.objects.filter(order=order).values_list("warehouse__code", "product__sku", "quantity"))
    assert picks == [("EWR", "SKU-A", 1), ("RNO", "SKU-B", 1)]
    message = order.events.latest("created_at").message
    assert message == (
        "Reserved at EWR (1 line, 42 km) and RNO (1 line, 3,852 km): no single warehouse had every line; "
        "fewest shipments; backordered 2 × SKU-C: not in stock in any eligible warehouse"
    )


def test_daily_capacity_full_sends_the_order_to_the_next_nearest(sites, stock, products, order_to):
    a = products[0]
    dal = sites["DAL"]
    dal.daily_order_capacity = 1
    dal.save()
    for code in ("DAL", "ATL"):
        stock(sites[code], a, 10)

    first = allocate(order_to("DFW", [(a, 1)]))
    second = allocate(order_to("DFW", [(a, 1)]))

    assert Allocation.objects.get(order=first).warehouse.code == "DAL"
    assert Allocation.objects.get(order=second).warehouse.code == "ATL"
    assert "(DAL at daily capacity (1 order))" in second.events.latest("created_at").message


def test_safety_stock_is_held_back_from_the_channel_it_names(sites, stock, products, order_to):
    a = products[0]
    marketplace = ChannelFactory(code="amazon")
    stock(sites["DAL"], a, 3)
    SafetyStockRule.objects.create(channel=marketplace, product=a, quantity=2)

    market_order = allocate(order_to("DFW", [(a, 2)], channel=marketplace))
    web_order = allocate(order_to("DFW", [(a, 2)]))

    assert market_order.status == S.BACKORDERED  # may take only 1 of the 3
    assert market_order.lines.get().quantity_allocated == 1
    assert web_order.status == S.ALLOCATED
    assert level(sites["DAL"], a).allocated == 3
    assert market_order.events.latest("created_at").message == (
        "Reserved at DAL (1 line, 0 km): no warehouse had every line, nearest with the most stock; "
        "backordered 1 × SKU-A: held back at DAL by safety stock rule 'keep 2 SKU-A at every warehouse'"
    )


def test_an_order_a_safety_stock_rule_moved_to_a_farther_warehouse_names_the_rule(sites, stock, products, order_to):
    a = products[0]
    marketplace = ChannelFactory(code="amazon")
    stock(sites["DAL"], a, 5)
    stock(sites["ATL"], a, 5)
    SafetyStockRule.objects.create(channel=marketplace, warehouse=sites["DAL"], quantity=4, note="Amazon buffer")

    order = allocate(order_to("DFW", [(a, 2)], channel=marketplace))

    assert Allocation.objects.get(order=order).warehouse.code == "ATL"
    assert order.events.latest("created_at").message == (
        "Reserved at ATL: nearest with full stock, 1,158 km (DAL skipped: safety stock rule 'Amazon buffer')"
    )


def test_excluded_warehouse_is_never_used(sites, stock, products, order_to):
    a = products[0]
    stock(sites["DAL"], a, 5)
    stock(sites["ATL"], a, 5)
    RoutingExclusion.objects.create(warehouse=sites["DAL"], destination_state="TX", reason="Hazmat rules")

    order = allocate(order_to("DFW", [(a, 1)]))

    assert Allocation.objects.get(order=order).warehouse.code == "ATL"
    assert order.events.latest("created_at").message.startswith("Reserved at ATL: nearest with full stock")
    assert order.events.latest("created_at").message.endswith("(DAL excluded by rule 'Hazmat rules')")


def test_inactive_warehouse_is_never_used(sites, stock, products, order_to):
    a = products[0]
    stock(sites["DAL"], a, 5)
    stock(sites["RNO"], a, 5)
    sites["DAL"].is_active = False
    sites["DAL"].save()

    order = allocate(order_to("DFW", [(a, 1)]))

    assert Allocation.objects.get(order=order).warehouse.code == "RNO"


def test_cancel_releases_the_reserved_units(sites, stock, products, order_to):
    a = products[0]
    stock(sites["DAL"], a, 4)
    order = allocate(order_to("DFW", [(a, 3)]))

    services.cancel_order(order_id=order.pk, reason="Customer request", actor="ops")

    assert level(sites["DAL"], a).allocated == 0
    assert not Allocation.objects.filter(order=order).exists()
    assert order.lines.get().quantity_allocated == 0


def test_shipping_consumes_reservations_and_writes_the_ledger(sites, stock, products, order_to):
    a = products[0]
    stock(sites["DAL"], a, 4)
    order = allocate(order_to("DFW", [(a, 3)]))
    line = order.lines.get()

    services.record_shipment(order_id=order.pk, shipped={line.pk: 3}, actor="warehouse", reference="PKG-1")

    stock_level = level(sites["DAL"], a)
    assert (stock_level.on_hand, stock_level.allocated) == (1, 0)
    shipment = StockMovement.objects.get(kind=StockMovement.Kind.SHIPMENT)
    assert (shipment.quantity, shipment.order_id, shipment.reference) == (-3, order.pk, "PKG-1")
    assert StockMovement.objects.filter(warehouse=sites["DAL"], product=a).aggregate(t=Sum("quantity"))["t"] == 1
    assert not Allocation.objects.filter(order=order).exists()


def test_allocating_a_held_or_cancelled_order_is_refused(sites, stock, products, order_to):
    a = products[0]
    stock(sites["DAL"], a, 4)
    order = order_to("DFW", [(a, 1)], status=S.ON_HOLD)

    with pytest.raises(OrderError, match="only received, backordered or partially shipped"):
        services.allocate_order(order_id=order.pk, actor="system")
    assert level(sites["DAL"], a).allocated == 0


def test_receiving_stock_fills_waiting_backorders_oldest_first(
    sites, stock, products, order_to, django_capture_on_commit_callbacks
):
    a = products[0]
    first = allocate(order_to("DFW", [(a, 2)]))
    second = allocate(order_to("DFW", [(a, 2)]))
    assert (first.status, second.status) == (S.BACKORDERED, S.BACKORDERED)

    with django_capture_on_commit_callbacks(execute=True):
        stock(sites["ATL"], a, 3)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == S.ALLOCATED
    assert second.status == S.BACKORDERED
    assert second.lines.get().quantity_allocated == 1
    assert level(sites["ATL"], a).allocated == 3


def test_placing_an_order_routes_it_after_commit(sites, stock, products, channel, django_capture_on_commit_callbacks):
    a = products[0]
    stock(sites["EWR"], a, 5)
    data = services.OrderData(
        external_id="WEB-77",
        customer=services.CustomerData(name="Ann Lee", email="ann@example.com"),
        shipping_address=services.AddressData(
            name="Ann Lee", line1="1 Broadway", city="New York", state="NY", postal_code="10001"
        ),
        lines=[services.LineData(sku=a.sku, quantity=2, unit_price=a.price)],
    )

    with django_capture_on_commit_callbacks(execute=True):
        order, _ = services.place_order(channel=channel, data=data, actor="channel: webstore")

    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    assert Allocation.objects.get(order=order).warehouse.code == "EWR"


def test_a_batch_allocates_oldest_first_and_each_order_sees_what_the_previous_took(sites, stock, products, order_to):
    a, b = products[:2]
    stock(sites["DAL"], a, 3)
    stock(sites["RNO"], a, 2)
    stock(sites["DAL"], b, 5)
    first = order_to("DFW", [(a, 2), (b, 1)])
    second = order_to("DFW", [(a, 2)])
    third = order_to("DFW", [(a, 2)])
    held = order_to("DFW", [(b, 1)], status=S.ON_HOLD)
    orders = [third, held, first, second]

    services.allocate_orders(order_ids=[o.pk for o in orders], actor="system: wave")

    for order in orders:
        order.refresh_from_db()
    assert first.status == S.ALLOCATED
    assert Allocation.objects.get(order=first, product=a).warehouse.code == "DAL"
    # DAL has 1 A left, Reno 2: the second order ships complete from Reno
    assert second.status == S.ALLOCATED
    assert Allocation.objects.get(order=second).warehouse.code == "RNO"
    assert third.status == S.BACKORDERED
    assert third.lines.get().quantity_allocated == 1
    assert held.status == S.ON_HOLD  # skipped, untouched
    assert (level(sites["DAL"], a).allocated, level(sites["RNO"], a).allocated) == (3, 2)
    assert third.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED).get().message.startswith("Reserved at DAL (1 line")


def test_batch_query_count_does_not_grow_with_orders(sites, stock, products, order_to):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a = products[0]
    stock(sites["DAL"], a, 100)
    few = [order_to("DFW", [(a, 1)]) for _ in range(2)]
    many = [order_to("DFW", [(a, 1)]) for _ in range(20)]

    with CaptureQueriesContext(connection) as small:
        services.allocate_orders(order_ids=[o.pk for o in few], actor="wave")
    with CaptureQueriesContext(connection) as large:
        services.allocate_orders(order_ids=[o.pk for o in many], actor="wave")

    assert len(large.captured_queries) == len(small.captured_queries)


def test_a_plan_whose_stock_was_taken_meanwhile_is_planned_again(sites, stock, products, order_to, monkeypatch):
    from inventory import services as inventory_services
    from inventory.exceptions import StockChanged

    a = products[0]
    stock(sites["DAL"], a, 2)
    stock(sites["RNO"], a, 2)
    order = order_to("DFW", [(a, 2)])
    real_reserve = inventory_services.reserve
    outcomes = []

    def reserve_after_a_rival(reservation):
        if not outcomes:
            # a rival transaction empties Dallas between our plan and our reservation
            StockLevel.objects.filter(warehouse=sites["DAL"], product=a).update(on_hand=0)
        try:
            real_reserve(reservation)
        except StockChanged:
            outcomes.append("lost the race")
            raise
        outcomes.append("reserved")

    monkeypatch.setattr(inventory_services, "reserve", reserve_after_a_rival)

    services.allocate_order(order_id=order.pk, actor="system")

    assert outcomes == ["lost the race", "reserved"]
    order.refresh_from_db()
    # the rival's change was rolled back with our first attempt; the second plan stands
    assert order.status == S.ALLOCATED
    assert level(sites["DAL"], a).on_hand == 2
    assert Allocation.objects.filter(order=order).count() == 1


@pytest.mark.postgres
def test_the_best_sellers_stock_rows_are_locked_by_the_last_statement_before_commit(sites, stock, products, order_to):
    """Every allocation wants the same few levels: they are held from one statement to COMMIT, nothing between."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a, b = products[:2]
    stock(sites["DAL"], a, 10)
    stock(sites["DAL"], b, 10)
    orders = [order_to("DFW", [(a, 1), (b, 2)]) for _ in range(3)]

    with CaptureQueriesContext(connection) as captured:
        services.allocate_orders(order_ids=[o.pk for o in orders], actor="wave")

    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    locking = [
        index
        for index, sql in enumerate(statements)
        if "inventory_stocklevel" in sql and ("FOR NO KEY UPDATE" in sql or 'UPDATE "inventory_stocklevel"' in sql)
    ]
    assert locking == [len(statements) - 1]
    assert (level(sites["DAL"], a).allocated, level(sites["DAL"], b).allocated) == (3, 6)
    assert Allocation.objects.filter(order__in=orders).aggregate(t=Sum("quantity"))["t"] == 9


def test_the_sweep_routes_received_orders_whose_task_never_ran(sites, stock, products, order_to):
    import datetime as dt

    from django.utils import timezone

    a = products[0]
    stock(sites["DAL"], a, 5)
    stale = order_to("DFW", [(a, 1)], placed_at=timezone.now() - dt.timedelta(minutes=30))
    fresh = order_to("DFW", [(a, 1)])  # its own task may still be on its way

    assert services.route_waiting_orders() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, fresh.status) == (S.ALLOCATED, S.RECEIVED)
    assert stale.events.latest("created_at").actor_name == "system: routing sweep"
