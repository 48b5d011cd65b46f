"""Approving a cycle count: each variance's value at unit cost, the total, and a confirmation above a value."""

import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from inventory import services as inventory
from inventory.exceptions import InvalidCount
from inventory.models import CycleCount, StockMovement
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db
CORRECTION = StockMovement.Kind.COUNT_CORRECTION


@pytest.fixture
def submitted_count(sites, stock):
    """At DAL: 10 tees (12.50 each) counted as 7, 4 mugs (4.00 each) counted as 6: -37.50 and +8.00."""
    tee = ProductFactory(sku="TEE-M", unit_cost=Decimal("12.50"))
    mug = ProductFactory(sku="MUG-1", unit_cost=Decimal("4.00"))
    stock(sites["DAL"], tee, 10)
    stock(sites["DAL"], mug, 4)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor="counter")
    lines = {line.product.sku: line.pk for line in count.lines.select_related("product")}
    inventory.record_counts(count_id=count.pk, counted={lines["TEE-M"]: 7, lines["MUG-1"]: 6}, actor="counter")
    inventory.submit_cycle_count(count_id=count.pk, actor="counter")
    return count


@pytest.fixture
def manager(client, roles, role_user):
    client.force_login(role_user("Operations manager"))
    return client


def count_page(client, count) -> str:
    return client.get(reverse("admin:inventory_cyclecount_change", args=[count.pk])).content.decode()


def cell(page: str, row_marker: str, css: str = "oms-value") -> str:
    row = re.search(rf"<tr {row_marker}>(.*?)</tr>", page, re.S).group(1)
    if css:
        row = re.search(rf'<td class="num {css}">(.*?)</td>', row, re.S).group(1)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()


def test_the_count_page_shows_each_variance_in_money_and_the_total(manager, submitted_count):
    page = count_page(manager, submitted_count)

    assert cell(page, 'data-sku="TEE-M"') == "-37.50"
    assert cell(page, 'data-sku="MUG-1"') == "+8.00"
    assert cell(page, 'id="count-total-value"', css="") == "Total value of the variances -29.50"
    assert "Value (USD)" in page


def test_above_the_threshold_approving_needs_the_checkbox_and_says_so_without_it(
    manager, submitted_count, settings, sites
):
    settings.CYCLE_COUNT_CONFIRM_VALUE = "40.00"  # the variances are worth 45.50, gains and losses together
    page = count_page(manager, submitted_count)
    assert "I have checked these variances" in page
    assert re.search(r'<input type="checkbox" name="variances_checked"[^>]*required', page)
    approve = reverse("admin:inventory_cyclecount_approve", args=[submitted_count.pk])

    refused = manager.post(approve, {}, follow=True)

    assert [str(m) for m in get_messages(refused.wsgi_request)] == [
        f"The variances of {submitted_count} are worth 45.50 USD, more than 40.00 USD: "
        'tick "I have checked these variances" to approve. Nothing was posted.'
    ]
    submitted_count.refresh_from_db()
    assert submitted_count.status == CycleCount.Status.SUBMITTED
    assert not StockMovement.objects.filter(kind=CORRECTION).exists()

    approved = manager.post(approve, {"variances_checked": "on"}, follow=True)

    assert [str(m) for m in get_messages(approved.wsgi_request)] == [
        f"{submitted_count} approved: 2 corrections posted to the ledger."
    ]
    assert StockMovement.objects.filter(kind=CORRECTION).count() == 2


def test_at_or_below_the_threshold_no_checkbox_is_asked_for(manager, submitted_count, settings):
    settings.CYCLE_COUNT_CONFIRM_VALUE = "45.50"

    page = count_page(manager, submitted_count)
    approved = manager.post(reverse("admin:inventory_cyclecount_approve", args=[submitted_count.pk]), {})

    assert "I have checked these variances" not in page
    assert [str(m) for m in get_messages(approved.wsgi_request)] == [
        f"{submitted_count} approved: 2 corrections posted to the ledger."
    ]


def test_the_service_refuses_an_unconfirmed_approval_above_the_default_threshold(sites, stock):
    pricey = ProductFactory(sku="LAPTOP", unit_cost=Decimal("900.00"))
    stock(sites["DAL"], pricey, 3)
    count = inventory.start_cycle_count(warehouse_id=sites["DAL"].pk, actor="counter")
    inventory.record_counts(count_id=count.pk, counted={count.lines.get().pk: 2}, actor="counter")
    inventory.submit_cycle_count(count_id=count.pk, actor="counter")

    with pytest.raises(InvalidCount, match=r"worth 900\.00 USD, more than 500\.00 USD"):
        inventory.approve_cycle_count(count_id=count.pk, actor="manager")
    movements = inventory.approve_cycle_count(count_id=count.pk, actor="manager", variances_checked=True)

    assert [m.quantity for m in movements] == [-1]
