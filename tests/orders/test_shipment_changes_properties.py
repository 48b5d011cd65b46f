"""Any sequence of splits, merges and moves keeps the books: each change is made whole or refused whole."""

import contextlib
from collections import defaultdict

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inventory.models import Allocation, StockLevel
from orders import services
from orders.exceptions import ShipmentChangeRefused
from shipping.models import Shipment, ShipmentLine, ShipmentStatus
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("carriers")]

PROPERTY = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
step = st.tuples(
    st.sampled_from(["split", "merge", "move"]),
    st.integers(0, 3),  # which shipment
    st.integers(0, 3),  # which line, or which other shipment
    st.integers(1, 3),  # how many units
    st.integers(0, 3),  # which warehouse
)


@pytest.fixture
def network(sites, stock, products):
    """Edison has plenty of both SKUs, Atlanta plenty of SKU-A, Dallas 3 × SKU-B, Reno nothing."""
    a, b = products[:2]
    stock(sites["EWR"], a, 1000)
    stock(sites["EWR"], b, 1000)
    stock(sites["ATL"], a, 1000)
    stock(sites["DAL"], b, 3)
    return [sites[code] for code in ("EWR", "ATL", "DAL", "RNO")]


def live_shipments(order) -> list[Shipment]:
    return list(Shipment.objects.filter(order=order, status=ShipmentStatus.AWAITING_LABEL).order_by("pk"))


def apply(order, warehouses, kind, which, other, units, where) -> None:
    live = live_shipments(order)
    shipment = live[which % len(live)]
    if kind == "split":
        lines = list(ShipmentLine.objects.filter(shipment=shipment).order_by("pk"))
        line = lines[other % len(lines)]
        services.split_shipment(
            shipment_id=shipment.pk,
            quantities={line.order_line_id: min(units, line.quantity)},
            warehouse_id=warehouses[where].pk,
            reason="property",
            actor="ops",
        )
    elif kind == "merge":
        target = live[other % len(live)]
        services.merge_shipments(shipment_id=shipment.pk, into_shipment_id=target.pk, reason="property", actor="ops")
    else:
        services.move_shipment(shipment_id=shipment.pk, warehouse_id=warehouses[where].pk, reason="p", actor="ops")


def assert_books_balance(order) -> None:
    """Every unit the order has reserved at a warehouse is packed in one of its live shipments from there, and
    every stock level's reserved units are its allocations, within on hand."""
    packed: dict[tuple[int, int], int] = defaultdict(int)
    for line_id, warehouse_id, quantity in ShipmentLine.objects.filter(
        shipment__order=order, shipment__status=ShipmentStatus.AWAITING_LABEL
    ).values_list("order_line_id", "shipment__warehouse_id", "quantity"):
        packed[(line_id, warehouse_id)] += quantity
    held = {
        (line_id, warehouse_id): quantity
        for line_id, warehouse_id, quantity in Allocation.objects.filter(order=order).values_list(
            "order_line_id", "warehouse_id", "quantity"
        )
    }
    assert dict(packed) == held
    for line in order.lines.all():
        assert line.quantity_allocated == line.quantity == sum(q for (lid, _), q in held.items() if lid == line.pk)
    for level in StockLevel.objects.all():
        reserved = Allocation.objects.filter(warehouse=level.warehouse, product=level.product).aggregate(
            n=Sum("quantity")
        )["n"]
        assert level.allocated == (reserved or 0) and 0 <= level.allocated <= level.on_hand


@PROPERTY
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_any_sequence_of_shipment_changes_keeps_stock_allocations_and_shipments_in_step(
    network, products, order_to, steps
):
    a, b = products[:2]
    order = order_to("NYC", [(a, 3), (b, 2)])
    services.allocate_order(order_id=order.pk, actor="setup")
    services.create_shipments(order_id=order.pk, actor="setup")

    for kind, which, other, units, where in steps:
        with contextlib.suppress(ShipmentChangeRefused):  # refused whole: nothing of it was written
            apply(order, network, kind, which, other, units, where)
        assert_books_balance(order)
        assert all(s.promised_date == order.promised_date for s in live_shipments(order))
