"""Real parallel transactions on PostgreSQL: a shipment change racing routing and another change leaves one winner
and stock, allocations and shipments that add up."""

import datetime as dt

import pytest
from django.db.models import Sum

from inventory.models import Allocation, StockLevel
from orders import services
from orders.exceptions import ShipmentChangeRefused
from orders.models import OrderLine, OrderStatus
from shipping.models import UNSHIPPED_STATUSES, Shipment, ShipmentLine, ShipmentStatus
from tests.orders.test_amendments_concurrency import run_in_parallel
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("carriers")]


def assert_books_balance():
    """Every level's allocated is what its allocations hold, within on hand; every line's reserved units are in
    its allocations; no open shipment packs more of a line than is reserved for it at that warehouse."""
    for level in StockLevel.objects.all():
        held = Allocation.objects.filter(warehouse=level.warehouse, product=level.product).aggregate(n=Sum("quantity"))
        assert level.allocated == (held["n"] or 0) and 0 <= level.allocated <= level.on_hand
    for line in OrderLine.objects.all():
        held = Allocation.objects.filter(order_line=line).aggregate(n=Sum("quantity"))["n"] or 0
        assert line.quantity_allocated == held
        packed = (
            ShipmentLine.objects.filter(order_line=line, shipment__status__in=UNSHIPPED_STATUSES)
            .values("shipment__warehouse_id")
            .annotate(n=Sum("quantity"))
        )
        for row in packed:
            reserved = Allocation.objects.filter(order_line=line, warehouse_id=row["shipment__warehouse_id"]).aggregate(
                n=Sum("quantity")
            )["n"]
            assert row["n"] <= (reserved or 0)


def test_a_split_racing_routing_for_the_last_units_of_a_warehouse_leaves_one_winner(
    sites, stock, products, order_to, settings
):
    # given an order shipping 2 × SKU-A from Edison, and Atlanta with the last 2 units of SKU-A, which another
    # order (nearest to Atlanta) is about to be routed for
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    a = products[0]
    stock(sites["EWR"], a, 2)
    stock(sites["ATL"], a, 2)
    first = order_to("NYC", [(a, 2)], promised_date=dt.date.today() + dt.timedelta(days=20))
    services.allocate_order(order_id=first.pk, actor="setup")
    (shipment,) = services.create_shipments(order_id=first.pk, actor="setup")
    line = first.lines.get()
    second = order_to("MIA", [(a, 2)])

    # when an operator splits one unit off to Atlanta while routing reserves Atlanta's units for the other order
    calls = [
        lambda: services.split_shipment(
            shipment_id=shipment.pk,
            quantities={line.pk: 1},
            warehouse_id=sites["ATL"].pk,
            reason="race",
            actor="ops",
        ),
        lambda: services.allocate_order(order_id=second.pk, actor="routing"),
    ]
    errors = run_in_parallel(calls)

    # then either the split went through (Atlanta kept one unit for the other order, which took the unit the split
    # freed at Edison) or routing took both of Atlanta's units and the split was refused for want of stock: never
    # both, never a unit reserved twice
    assert all(isinstance(error, ShipmentChangeRefused) for error in errors), errors
    second.refresh_from_db()
    assert second.status == OrderStatus.ALLOCATED
    assert StockLevel.objects.get(warehouse=sites["ATL"], product=a).allocated == 2
    theirs = dict(Allocation.objects.filter(order=second).values_list("warehouse__code", "quantity"))
    if errors:
        assert "SKU-A at ATL" in str(errors[0])
        assert theirs == {"ATL": 2} and Shipment.objects.filter(order=first).count() == 1
    else:
        assert theirs == {"ATL": 1, "EWR": 1} and Shipment.objects.filter(order=first).count() == 2
        assert Allocation.objects.get(order=first, warehouse=sites["ATL"]).quantity == 1
    assert_books_balance()


def test_two_changes_of_one_shipment_at_once_leave_exactly_one(sites, stock, products, order_to):
    # given one shipment of 3 × SKU-A and 1 × SKU-B from Edison, and stock to take either change at Atlanta
    a, b = products[:2]
    stock(sites["EWR"], a, 5)
    stock(sites["EWR"], b, 5)
    stock(sites["ATL"], a, 5)
    stock(sites["ATL"], b, 5)
    order = order_to("NYC", [(a, 3), (b, 1)], promised_date=dt.date.today() + dt.timedelta(days=20))
    services.allocate_order(order_id=order.pk, actor="setup")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="setup")
    version = services.shipment_version(shipment)
    line_a = order.lines.get(sku=a.sku)

    # when two operators, who both looked at it, split it and move it at the same moment
    errors = run_in_parallel(
        [
            lambda: services.split_shipment(
                shipment_id=shipment.pk,
                quantities={line_a.pk: 2},
                warehouse_id=sites["ATL"].pk,
                reason="split",
                actor="ana",
                expected_version=version,
            ),
            lambda: services.move_shipment(
                shipment_id=shipment.pk,
                warehouse_id=sites["ATL"].pk,
                reason="move",
                actor="ben",
                expected_version=version,
            ),
        ]
    )

    # then one of them happened and the other was refused with the reason
    assert len(errors) == 1 and isinstance(errors[0], ShipmentChangeRefused)
    assert "changed since you looked at it" in str(errors[0])
    live = Shipment.objects.filter(order=order).exclude(status=ShipmentStatus.CANCELLED)
    packed = ShipmentLine.objects.filter(shipment__in=live).aggregate(n=Sum("quantity"))["n"]
    assert packed == 4
    assert_books_balance()
