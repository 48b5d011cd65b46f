"""Available stock is one formula, exact after every kind of change."""

import pytest

from inventory import selectors
from orders import services as order_services

pytestmark = pytest.mark.django_db


def test_available_per_warehouse_and_in_total_follow_every_change(sites, stock, products, order_to):
    a = products[0]
    stock(sites["DAL"], a, 10)
    stock(sites["RNO"], a, 4)
    order = order_to("DFW", [(a, 3)])
    order_services.allocate_order(order_id=order.pk, actor="system")

    rows = {row.warehouse_code: row for row in selectors.stock_by_warehouse(a)}
    assert (rows["DAL"].on_hand, rows["DAL"].allocated, rows["DAL"].available) == (10, 3, 7)
    assert rows["RNO"].available == 4
    assert selectors.available_to_sell(a) == 11

    order_services.cancel_order(order_id=order.pk, reason="changed mind", actor="ops")
    assert selectors.available_to_sell(a) == 14

    sites["RNO"].is_active = False
    sites["RNO"].save()
    assert selectors.available_to_sell(a) == 10
    assert [row.warehouse_code for row in selectors.stock_by_warehouse(a)] == ["DAL"]
