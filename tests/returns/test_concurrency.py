"""Real parallel transactions on PostgreSQL: nothing returned or refunded twice, no deadlock with allocation."""

import threading
from decimal import Decimal

import pytest

from inventory import services as inventory
from inventory.models import StockLevel
from orders import services as order_services
from orders.models import Order, OrderLine, OrderStatus
from orders.returns import services
from orders.returns.exceptions import ReturnError
from orders.returns.models import Refund, ReturnRequest, ReturnStatus
from orders.returns.services import Inspection
from tests.imports.test_concurrency import _another_session_waits_for_our_lock
from tests.inventory.test_concurrency import run_in_parallel
from tests.returns.conftest import lines_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_associates_returning_the_same_units_at_once_open_one_return(shipped_order, settings):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]

    errors = run_in_parallel(
        [
            lambda: services.open_return(order_id=order.pk, lines={tee: 2}, reason="other", actor="ann"),
            lambda: services.open_return(order_id=order.pk, lines={tee: 2}, reason="other", actor="bob"),
        ]
    )

    assert ReturnRequest.objects.count() == 1
    assert len(errors) == 1 and isinstance(errors[0], ReturnError)
    assert "at most 1 can be returned" in str(errors[0])


def test_two_confirmations_of_one_refund_at_once_refund_once(shipped_order, settings):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    order = shipped_order()
    rma = services.open_return(order_id=order.pk, lines={lines_of(order)["MUG-1"]: 2}, reason="damaged", actor="t")
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor="t")
    services.inspect_return(rma_id=rma.pk, results={rma.lines.get().pk: Inspection(restock=2)}, actor="t")

    errors = run_in_parallel([lambda: services.confirm_return_refund(rma_id=rma.pk, actor="ann")] * 2)

    assert len(errors) == 1 and "refunds are confirmed after inspection" in str(errors[0])
    assert list(Refund.objects.values_list("amount", flat=True)) == [Decimal("29.80")]
    assert OrderLine.objects.get(pk=lines_of(order)["MUG-1"]).quantity_returned == 2


def test_an_inspection_restocking_in_line_order_and_an_allocation_locking_in_key_order_both_complete(
    shipped_order, sites, stock, shirt, mug, order_to, settings, monkeypatch
):
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    stock(sites["EWR"], mug, 1)  # the mug's level first: its key is lower than the tee's, the opposite of line order
    order = shipped_order()
    stock(sites["EWR"], shirt, 2)
    lines = lines_of(order)
    rma = services.open_return(
        order_id=order.pk, lines={lines["TEE-1"]: 1, lines["MUG-1"]: 1}, reason="other", actor="t"
    )
    services.authorise_return(rma_id=rma.pk, actor="t")
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=None, actor="t")
    assert [line.sku for line in rma.lines.order_by("pk")] == ["TEE-1", "MUG-1"]
    levels = {lvl.product_id: lvl.pk for lvl in StockLevel.objects.filter(warehouse=sites["EWR"])}
    assert levels[mug.pk] < levels[shirt.pk]
    other = order_to("NYC", [(shirt, 1), (mug, 1)])

    # after the first restock the allocation starts; the inspection goes on once the allocation waits for it
    first_restocked, seen_waiting = threading.Event(), []
    restock = inventory.restock_return

    def restock_then_let_the_allocation_in(**kwargs):
        movement = restock(**kwargs)
        if not first_restocked.is_set():
            first_restocked.set()
            seen_waiting.append(_another_session_waits_for_our_lock())
        return movement

    monkeypatch.setattr(inventory, "restock_return", restock_then_let_the_allocation_in)

    def allocate():
        assert first_restocked.wait(timeout=10)
        order_services.allocate_order(order_id=other.pk, actor="worker")

    errors = run_in_parallel(
        [
            lambda: services.inspect_return(
                rma_id=rma.pk, results={line.pk: Inspection(restock=1) for line in rma.lines.all()}, actor="t"
            ),
            allocate,
        ]
    )

    assert errors == []
    assert seen_waiting == [True]
    assert ReturnRequest.objects.get(pk=rma.pk).status == ReturnStatus.INSPECTED
    assert Order.objects.get(pk=other.pk).status == OrderStatus.ALLOCATED


def test_a_customer_asking_twice_at_once_for_an_exchange_opens_one_return_and_reserves_one_replacement(
    shipped_order, sites, stock, shirt, settings
):
    from orders.returns.exceptions import SelfServiceRefused
    from orders.returns.models import VariantGroup
    from tests.factories import ProductFactory

    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]
    large = ProductFactory(sku="TEE-2", name="Tee, large", price=Decimal("20.00"))
    stock(sites["DAL"], large, 5)
    VariantGroup.objects.create(name="Tee").products.add(shirt, large)

    def ask():
        return services.request_return(
            order_id=order.pk,
            quantities={tee: 2},
            reason="other",
            resolution="exchange",
            exchange={tee: large.pk},
        )

    errors = run_in_parallel([ask, ask])

    assert len(errors) == 1 and isinstance(errors[0], SelfServiceRefused)
    assert errors[0].field == f"qty-{tee}"
    (rma,) = ReturnRequest.objects.all()
    assert rma.replacement_order.status == OrderStatus.ON_HOLD
    assert Order.objects.count() == 2  # the order and one replacement
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=large).allocated == 2
