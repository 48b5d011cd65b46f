"""Cycle counts: record, submit, approve posts corrections; counting while orders move stays exact."""

import pytest
from django.db.models import Sum

from inventory import services as inventory
from inventory.exceptions import InsufficientStock, InvalidCount
from inventory.models import CycleCount, StockLevel, StockMovement
from orders import services as order_services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def counter(db):
    return UserFactory(username="counter", role="Warehouse staff")


@pytest.fixture
def manager(db):
    return UserFactory(username="boss-of-stock", role="Operations manager")


def test_count_flow_posts_the_variance_as_a_correction(sites, stock, products, counter, manager):
    a, b = products[:2]
    dal = sites["DAL"]
    stock(dal, a, 10)
    stock(dal, b, 4)
    count = inventory.start_cycle_count(warehouse_id=dal.pk, actor=counter)
    lines = {line.product_id: line for line in count.lines.all()}

    inventory.record_counts(count_id=count.pk, counted={lines[a.pk].pk: 8, lines[b.pk].pk: 4}, actor=counter)
    inventory.submit_cycle_count(count_id=count.pk, actor=counter)
    movements = inventory.approve_cycle_count(count_id=count.pk, actor=manager)

    assert [(m.kind, m.product_id, m.quantity) for m in movements] == [(StockMovement.Kind.COUNT_CORRECTION, a.pk, -2)]
    assert StockLevel.objects.get(warehouse=dal, product=a).on_hand == 8
    count.refresh_from_db()
    assert (count.status, count.decided_by) == (CycleCount.Status.APPROVED, manager)
    assert f"{count}: counted 8, expected 10" in movements[0].reason


def test_movements_between_counting_and_approval_are_kept(sites, stock, products, order_to, counter, manager):
    a = products[0]
    dal = sites["DAL"]
    stock(dal, a, 10)
    count = inventory.start_cycle_count(warehouse_id=dal.pk, actor=counter)
    line = count.lines.get()
    inventory.record_counts(count_id=count.pk, counted={line.pk: 9}, actor=counter)  # one unit missing

    # meanwhile: an order allocates and ships 3 units, and 5 more arrive
    order = order_to("DFW", [(a, 3)])
    order_services.allocate_order(order_id=order.pk, actor="system")
    order_services.record_shipment(order_id=order.pk, shipped={order.lines.get().pk: 3}, actor="warehouse")
    stock(dal, a, 5)

    inventory.submit_cycle_count(count_id=count.pk, actor=counter)
    inventory.approve_cycle_count(count_id=count.pk, actor=manager)

    level = StockLevel.objects.get(warehouse=dal, product=a)
    assert level.on_hand == 10 - 1 - 3 + 5
    ledger = StockMovement.objects.filter(warehouse=dal, product=a).aggregate(t=Sum("quantity"))["t"]
    assert ledger == level.on_hand


def test_submit_needs_every_line_counted(sites, stock, products, counter):
    stock(sites["DAL"], products[0], 1)
    stock(sites["DAL"], products[1], 1)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor=counter)

    with pytest.raises(InvalidCount, match="not counted yet: SKU-A, SKU-B"):
        inventory.submit_cycle_count(count_id=count.pk, actor=counter)


def test_approval_that_would_strand_allocations_is_refused(sites, stock, products, order_to, counter, manager):
    a = products[0]
    stock(sites["DAL"], a, 5)
    order_services.allocate_order(order_id=order_to("DFW", [(a, 4)]).pk, actor="system")
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor=counter)
    inventory.record_counts(count_id=count.pk, counted={count.lines.get().pk: 2}, actor=counter)
    inventory.submit_cycle_count(count_id=count.pk, actor=counter)

    with pytest.raises(InsufficientStock, match="4 are allocated"):
        inventory.approve_cycle_count(count_id=count.pk, actor=manager)

    assert StockLevel.objects.get(warehouse=sites["DAL"], product=a).on_hand == 5
    count.refresh_from_db()
    assert count.status == CycleCount.Status.SUBMITTED


def test_rejected_count_posts_nothing_and_keeps_the_reason(sites, stock, products, counter, manager):
    stock(sites["DAL"], products[0], 5)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor=counter)
    inventory.record_counts(count_id=count.pk, counted={count.lines.get().pk: 1}, actor=counter)
    inventory.submit_cycle_count(count_id=count.pk, actor=counter)

    inventory.reject_cycle_count(count_id=count.pk, reason="Wrong bin counted", actor=manager)

    count.refresh_from_db()
    assert (count.status, count.rejection_reason) == (CycleCount.Status.REJECTED, "Wrong bin counted")
    assert StockMovement.objects.filter(kind=StockMovement.Kind.COUNT_CORRECTION).count() == 0
    with pytest.raises(InvalidCount):
        inventory.approve_cycle_count(count_id=count.pk, actor=manager)
