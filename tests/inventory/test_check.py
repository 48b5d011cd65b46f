"""The daily inventory check: finds each kind of problem, stores a report, emails ops."""

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection

from inventory import services as inventory
from inventory.models import InventoryFinding, StockLevel
from orders import services as order_services
from orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db
Kind = InventoryFinding.Kind


def kinds(run) -> dict[str, int]:
    return run.summary["totals"]


def errors(run) -> int:
    return run.findings.filter(severity=InventoryFinding.Severity.ERROR).count()


def test_a_healthy_warehouse_has_no_errors(sites, stock, products, order_to):
    a = products[0]
    stock(sites["DAL"], a, 10)
    order = order_to("DFW", [(a, 3)])
    order_services.allocate_order(order_id=order.pk, actor="system")
    order_services.record_shipment(order_id=order.pk, shipped={order.lines.get().pk: 2}, actor="warehouse")

    run = inventory.run_inventory_check(triggered_by="test", email=False)

    assert errors(run) == 0
    assert run.finished_at is not None and run.duration_ms is not None


def test_a_level_changed_without_a_movement_is_reported(sites, stock, products):
    level = stock(sites["DAL"], products[0], 10)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE inventory_stocklevel SET on_hand = on_hand + 7 WHERE id = %s", [level.pk])

    run = inventory.run_inventory_check(triggered_by="test", email=False)

    finding = run.findings.get(kind=Kind.LEDGER_MISMATCH)
    assert finding.subject == level
    assert "on hand 17, ledger sums to 10" in finding.message


def test_allocations_that_disagree_or_outlive_their_order_are_reported(sites, stock, products, order_to):
    a = products[0]
    stock(sites["DAL"], a, 10)
    order = order_to("DFW", [(a, 3)])
    order_services.allocate_order(order_id=order.pk, actor="system")
    # corrupt: the order is marked cancelled behind the services' back, and a level drifts
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    StockLevel.objects.filter(warehouse=sites["DAL"], product=a).update(allocated=5)

    run = inventory.run_inventory_check(triggered_by="test", email=False)

    assert kinds(run)[Kind.STALE_ALLOCATION] == 1
    assert kinds(run)[Kind.ALLOCATION_MISMATCH] == 1
    stale = run.findings.get(kind=Kind.STALE_ALLOCATION)
    assert stale.subject == order
    assert "is cancelled but still holds 3 units" in stale.message


def test_below_reorder_point_and_fillable_backorders_are_reported(sites, stock, products, order_to):
    a, b = products[:2]
    low = stock(sites["DAL"], a, 3)
    StockLevel.objects.filter(pk=low.pk).update(reorder_point=5)
    order = order_to("DFW", [(b, 2)])
    order_services.allocate_order(order_id=order.pk, actor="system")  # nothing anywhere: backordered
    # stock arrives in Reno; its backorder fill is queued after commit, which has not run yet
    inventory.receive_stock(warehouse_id=sites["RNO"].pk, product_id=b.pk, quantity=4, actor="x")

    run = inventory.run_inventory_check(triggered_by="test", email=False)

    assert errors(run) == 0
    assert run.findings.get(kind=Kind.BELOW_REORDER_POINT).subject == low
    fillable = run.findings.get(kind=Kind.BACKORDER_FILLABLE)
    assert fillable.subject == order


def test_large_count_variances_are_reported(sites, stock, products):
    stock(sites["DAL"], products[0], 40)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor="counter")
    inventory.record_counts(count_id=count.pk, counted={count.lines.get().pk: 30}, actor="counter")
    inventory.submit_cycle_count(count_id=count.pk, actor="counter")
    inventory.approve_cycle_count(count_id=count.pk, actor="manager")

    run = inventory.run_inventory_check(triggered_by="test", email=False)

    assert "off by -10" in run.findings.get(kind=Kind.COUNT_VARIANCE).message


def test_summary_is_emailed_to_ops(settings, sites, stock, products):
    settings.OPS_EMAILS = ["ops@example.com"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    level = stock(sites["DAL"], products[0], 3)
    StockLevel.objects.filter(pk=level.pk).update(reorder_point=5)

    run = inventory.run_inventory_check(triggered_by="test")

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ops@example.com"]
    assert "Inventory check: 1 finding" in message.subject
    assert "Below reorder point: 1" in message.body
    assert f"/admin/inventory/inventorycheckrun/{run.pk}/change/" in message.body


def test_the_command_runs_the_same_check(capsys, sites, stock, products):
    stock(sites["DAL"], products[0], 3)

    call_command("inventory_check", "--no-email")

    out = capsys.readouterr().out
    assert "Inventory check: 0 findings" in out


def test_the_check_is_scheduled_daily_at_six():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["daily-inventory-check"]
    assert entry["task"] == "inventory.tasks.run_inventory_check"
    assert entry["schedule"].hour == {6} and entry["schedule"].minute == {0}
