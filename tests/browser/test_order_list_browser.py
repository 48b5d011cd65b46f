"""Ops staff work a queue from the order list in a real browser: tabs, a saved view, and the list on a phone.

Screenshots of the list as each role sees it, at 1440 × 900 and at 390 × 844, go to the directory in
OMS_TEST_ARTIFACTS (default: the test's tmp_path); with OMS_UPDATE_SCREENSHOTS=1 the operations manager's
are also written to docs/screenshots/order-list.png and order-list-phone.png.
"""

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from oms_site.roles import ROLES
from orders.models import OrderLine, OrderStatus
from tests.factories import ChannelFactory, CustomerFactory, OrderFactory, UserFactory

S = OrderStatus
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct-horse-battery"

# How many lines the text of an element takes: its text's boxes, grouped where they overlap vertically.
LINES_OF = """
(element) => {
  const rects = [];
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    if (!walker.currentNode.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(walker.currentNode);
    for (const rect of range.getClientRects()) if (rect.width > 0) rects.push(rect);
  }
  rects.sort((a, b) => a.top - b.top);
  let lines = 0, bottom = -Infinity;
  for (const rect of rects) {
    if (rect.top >= bottom - 1) { lines += 1; bottom = rect.bottom; } else { bottom = Math.max(bottom, rect.bottom); }
  }
  return lines;
}
"""


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def artifacts(tmp_path) -> Path:
    directory = Path(os.environ.get("OMS_TEST_ARTIFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def orders():
    """Two held orders, two big orders from the EU store, and others."""
    today = timezone.localdate()
    eu = ChannelFactory(code="eu-store", name="EU store", default_currency="EUR")
    return {
        "held": [
            OrderFactory(status=S.ON_HOLD, held_from_status=S.RECEIVED, customer=CustomerFactory(name="Hana Held")),
            OrderFactory(status=S.ON_HOLD, held_from_status=S.ALLOCATED, customer=CustomerFactory(name="Hugo Hold")),
        ],
        "eu": [
            OrderFactory(channel=eu, currency="EUR", customer=CustomerFactory(name="Élodie Fontaine-Moreau")),
            OrderFactory(channel=eu, currency="EUR", status=S.ALLOCATED, promised_date=today - dt.timedelta(days=1)),
        ],
        "other": [
            OrderFactory(status=S.RECEIVED, customer=CustomerFactory(name="Bartholomew Featherstonehaugh-Smythe")),
            OrderFactory(status=S.ALLOCATED, promised_date=today),
            shipped(OrderFactory(status=S.SHIPPED, lines=2), all_lines=True),
            shipped(OrderFactory(status=S.PARTIALLY_SHIPPED, lines=2), all_lines=False),
        ],
    }


def shipped(order, *, all_lines: bool):
    """The order's lines shipped: all of them, or the first only."""
    lines = order.lines.order_by("pk")
    for line in lines if all_lines else lines[:1]:
        OrderLine.objects.filter(pk=line.pk).update(quantity_shipped=line.quantity)
    return order


def sign_in(page, live_server, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/orders/order/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#result_list")).to_be_visible()


def tab(page, label: str):
    return page.locator(".oms-tabs a.oms-tab", has_text=label)


def test_an_associate_works_the_on_hold_tab_and_saves_a_view_of_her_own(live_server, page, roles, orders):
    # given an operations associate at her desk
    page.set_viewport_size(DESKTOP)
    UserFactory(username="olivia", role="Operations associate")
    sign_in(page, live_server, "olivia")
    expect(tab(page, "On hold")).to_contain_text("2")

    # when she clicks the "On hold" tab
    tab(page, "On hold").click()

    # then she sees only the held orders, and that tab is the one marked
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.locator(".field-status_display")).to_have_text(["On hold", "On hold"])
    expect(tab(page, "On hold")).to_have_attribute("aria-current", "page")
    expect(page.locator(".oms-tabs a.oms-tab-active")).to_have_count(1)

    # when she lists the EU store's orders and saves that list as "Big EU orders"
    page.locator(".oms-tabs a", has_text="All orders").click()
    page.locator("#changelist-filter a", has_text="EU store").click()
    expect(rows).to_have_count(2)
    page.fill("#oms-view-name", "Big EU orders")
    page.click("text=Save this view")

    # then it is her tab, with its count, marked, and the list is still the EU store's
    expect(page.locator("ul.messagelist")).to_contain_text("Saved the view “Big EU orders”")
    saved = tab(page, "Big EU orders")
    expect(saved).to_contain_text("2")
    expect(saved).to_have_attribute("aria-current", "page")
    expect(rows).to_have_count(2)
    expect(rows.locator(".field-channel")).to_have_text(["EU store", "EU store"])

    # and another tab, then hers again, lists the same orders
    tab(page, "On hold").click()
    expect(rows).to_have_count(2)
    saved.click()
    expect(rows.locator(".field-channel")).to_have_text(["EU store", "EU store"])


def test_on_a_phone_a_row_shows_number_customer_status_and_promise_each_on_one_line(live_server, page, roles, orders):
    # given an associate on a phone
    page.set_viewport_size(PHONE)
    UserFactory(username="olivia", role="Operations associate")

    # when she opens the order list
    sign_in(page, live_server, "olivia")

    # then each row shows the number, the customer, the status and the promised date, each on one line
    for row in page.locator("#result_list tbody tr").all():
        for column in ("number", "customer_name", "status_display", "promised"):
            cell = row.locator(f".field-{column}")
            expect(cell).to_be_visible()
            assert cell.evaluate(LINES_OF) == 1, f"{column} of {row.inner_text()!r} wraps"
        for column in ("placed", "items", "fulfilment", "channel", "total_display"):
            expect(row.locator(f".field-{column}")).to_be_hidden()
    number = page.locator("#result_list tbody tr .field-number a").first
    assert number.inner_text().startswith("SO-0")

    # and the page does not scroll sideways; the tabs scroll inside their own strip
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    strip = page.locator(".oms-tabs")
    assert strip.evaluate("(e) => e.scrollWidth > e.clientWidth && getComputedStyle(e).overflowX === 'auto'")
    expect(tab(page, "Returns open")).to_be_attached()


def test_screenshots_of_the_list_for_each_role(live_server, page, roles, orders, artifacts):
    # given one user in each role
    users = {role: UserFactory(username=role.lower().replace(" ", "-"), role=role).username for role in ROLES}

    for role, username in users.items():
        # when each opens the order list, on a desk and on a phone
        for size, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
            page.set_viewport_size(size)
            sign_in(page, live_server, username)
            expect(tab(page, "On hold")).to_be_visible()
            path = artifacts / f"order-list-{username}-{suffix}.png"
            page.screenshot(path=str(path), animations="disabled", caret="hide")
            # then the page fits the screen's width
            assert page.evaluate("document.documentElement.scrollWidth") <= size["width"], (role, suffix)
            assert path.stat().st_size > 0

    if os.environ.get("OMS_UPDATE_SCREENSHOTS") == "1":
        docs = Path(settings.BASE_DIR) / "docs" / "screenshots"
        shutil.copyfile(artifacts / "order-list-operations-manager-desktop.png", docs / "order-list.png")
        shutil.copyfile(artifacts / "order-list-operations-manager-phone.png", docs / "order-list-phone.png")
