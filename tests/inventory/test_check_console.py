"""The daily check's report as ops read it: orders by number, SKUs and warehouses by code, each linked; the
action beside a finding that can be acted on; how long the run took, in the console and in the email."""

import re

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from inventory import services as inventory
from inventory.models import InventoryCheckRun, InventoryFinding, StockLevel, human_duration
from inventory.services.check import report_context
from notifications.rendering import render
from orders import services as order_services
from orders.models import OrderStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
Kind = InventoryFinding.Kind


def run_page(client, run) -> str:
    return client.get(reverse("admin:inventory_inventorycheckrun_change", args=[run.pk])).content.decode()


def messages_on(page: str) -> list[str]:
    return re.findall(r'<li class="(?:success|error|warning|info)">(.*?)</li>', page)


@pytest.fixture
def fillable_backorder(sites, products, order_to):
    """An order backordered on SKU-B; then Reno receives four (its fill is queued after commit, not run yet)."""
    b = products[1]
    order = order_to("DFW", [(b, 2)])
    order_services.allocate_order(order_id=order.pk, actor="system")
    inventory.receive_stock(warehouse_id=sites["RNO"].pk, product_id=b.pk, quantity=4, actor="receiving")
    order.refresh_from_db()
    assert order.status == OrderStatus.BACKORDERED
    return order


def test_a_finding_names_the_order_by_number_and_links_order_sku_and_warehouse(
    client, superuser, sites, products, fillable_backorder
):
    order, b = fillable_backorder, products[1]
    client.force_login(superuser)

    run = inventory.run_inventory_check(triggered_by="test", email=False)
    page = run_page(client, run)

    finding = run.findings.get(kind=Kind.BACKORDER_FILLABLE)
    assert finding.message == f"Order {order.number} waits for 2 × SKU-B; RNO has them free now."
    order_url = reverse("admin:orders_order_change", args=[order.pk])
    assert f'<a href="{order_url}">{order.number}</a>' in page
    assert f'<a href="{reverse("admin:inventory_product_change", args=[b.pk])}">SKU-B</a>' in page
    assert f'<a href="{reverse("admin:inventory_warehouse_change", args=[sites["RNO"].pk])}">RNO</a>' in page
    assert f"order #{order.pk}" not in page


def test_stock_level_findings_name_the_sku_and_warehouse_not_a_row_id(client, superuser, sites, stock, products):
    level = stock(sites["DAL"], products[0], 10)
    StockLevel.objects.filter(pk=level.pk).update(on_hand=17)  # behind the ledger's back
    client.force_login(superuser)

    run = inventory.run_inventory_check(triggered_by="test", email=False)
    page = run_page(client, run)

    finding = run.findings.get(kind=Kind.LEDGER_MISMATCH)
    assert finding.message == "SKU-A at DAL: on hand 17, ledger sums to 10 (difference +7)."
    level_url = reverse("admin:inventory_stocklevel_change", args=[level.pk])
    assert f'<a href="{level_url}">SKU-A at DAL</a>' in page
    assert "Stock level #" not in page and "stock level #" not in page


def test_allocate_now_beside_a_fillable_backorder_routes_it_and_says_so(
    client, superuser, sites, products, fillable_backorder
):
    order = fillable_backorder
    client.force_login(superuser)
    run = inventory.run_inventory_check(triggered_by="test", email=False)
    page = run_page(client, run)
    action = re.search(r'<form method="post" action="([^"]+)">.*?name="ids" value="(\d+)".*?>Allocate now<', page, re.S)
    assert action, "no Allocate now button beside the finding"

    response = client.post(
        action.group(1),
        {"ids": action.group(2), "next": reverse("admin:inventory_inventorycheckrun_change", args=[run.pk])},
        follow=True,
    )

    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED
    assert response.redirect_chain[-1][0] == reverse("admin:inventory_inventorycheckrun_change", args=[run.pk])
    page = response.content.decode()
    assert f"{order.number} routed: allocated." in messages_on(page)
    assert "Allocate now" not in page
    assert "now allocated" in page


def test_who_may_read_the_report_but_not_route_orders_sees_no_allocate_button_and_is_refused(
    client, fillable_backorder
):
    reader = UserFactory(username="auditor")
    reader.user_permissions.set(
        Permission.objects.filter(content_type__app_label="inventory", codename__startswith="view_")
    )
    client.force_login(reader)
    run = inventory.run_inventory_check(triggered_by="test", email=False)

    page = client.get(reverse("admin:inventory_inventorycheckrun_change", args=[run.pk]))
    refused = client.post(reverse("admin:orders_order_act", args=["allocate"]), {"ids": fillable_backorder.pk})

    assert page.status_code == 200
    assert fillable_backorder.number in page.content.decode()
    assert "Allocate now" not in page.content.decode()
    assert refused.status_code == 403
    fillable_backorder.refresh_from_db()
    assert fillable_backorder.status == OrderStatus.BACKORDERED


def test_the_run_page_says_how_long_the_check_took_in_words(client, superuser):
    run = InventoryCheckRun.objects.create(triggered_by="test", duration_ms=1234)
    client.force_login(superuser)

    page = run_page(client, run)
    listing = client.get(reverse("admin:inventory_inventorycheckrun_changelist")).content.decode()

    assert re.search(r"<label>Took:</label>\s*<div class=\"readonly\">1.2 s</div>", page)
    assert "Duration ms" not in page and "duration ms" not in page.lower()
    assert "1.2 s" in listing
    assert "Duration ms" not in listing and "1234" not in listing


def test_the_report_email_says_how_long_the_check_took_in_words():
    run = InventoryCheckRun(pk=7, triggered_by="test", duration_ms=83_400)

    email = render("inventory_report", report_context(run))

    assert "took 1 min 23 s." in email.text
    assert "took 1 min 23 s." in email.html
    assert "ms" not in email.text


@pytest.mark.parametrize(
    ("milliseconds", "words"),
    [(None, ""), (340, "340 ms"), (1234, "1.2 s"), (14_600, "15 s"), (60_000, "1 min"), (3_723_000, "1 h 2 min")],
)
def test_durations_read_as_a_person_would_say_them(milliseconds, words):
    assert human_duration(milliseconds) == words
