"""The console's home in a real Chromium: the cockpit drawn for a manager, its period picker, each role's home
at desk and phone widths, the sidebar, dark mode, and "/" to search.

Screenshots of each role's home go to OMS_TEST_ARTIFACTS (default: the test's tmp_path); with
OMS_UPDATE_SCREENSHOTS=1 the manager's at 1440 × 900 is also written to docs/screenshots/cockpit.png.
"""

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from inventory.models import CycleCount
from orders.cockpit import Period, kpis_for
from orders.models import OrderStatus
from orders.returns.models import Refund, ReturnRequest
from orders.services import refresh_all_shipping_facts
from shipping.models import Shipment, ShipmentStatus
from tests.browser.conftest import page  # noqa: F401  (the fixture: a fresh Chromium page)
from tests.factories import ChannelFactory, OrderFactory, UserFactory, WarehouseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
S = OrderStatus
DESK, PHONE = {"width": 1440, "height": 900}, {"width": 390, "height": 844}
ROLES = {
    "manager": "Operations manager",
    "associate": "Operations associate",
    "returns": "Returns associate",
    "warehouse": "Warehouse staff",
}

# The WCAG contrast ratio of an element's text against the first opaque background behind it.
CONTRAST = """(selector) => {
    const rgb = (value) => value.match(/[\\d.]+/g).map(Number);
    const luminance = ([r, g, b]) => {
        const linear = (c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
        const [R, G, B] = [r, g, b].map(linear);
        return 0.2126 * R + 0.7152 * G + 0.0722 * B;
    };
    const element = document.querySelector(selector);
    let behind = element;
    while (behind && rgb(getComputedStyle(behind).backgroundColor)[3] === 0) { behind = behind.parentElement; }
    const fg = luminance(rgb(getComputedStyle(element).color));
    const bg = luminance(rgb(getComputedStyle(behind || document.body).backgroundColor));
    return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}"""
CANVASES = """() => [...document.querySelectorAll('canvas[data-chart]')].map(
    (canvas) => [canvas.dataset.chart, canvas.dataset.drawn === 'true', canvas.clientWidth, canvas.clientHeight])"""


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("OMS_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def month_of_orders(roles):
    """Orders placed over the last four weeks in two channels, most shipped and delivered from two warehouses,
    a few returned; some open, late or on hold; a count open and labels waiting in the warehouse."""
    cache.clear()
    now = timezone.now()
    web, market = ChannelFactory(code="web", name="Web store"), ChannelFactory(code="market", name="Marketplace")
    dal, reno = WarehouseFactory(code="DAL"), WarehouseFactory(code="RNO")
    for day in range(28):
        placed = now - dt.timedelta(days=day, hours=3)
        for index in range(1 + day % 3):
            warehouse = dal if index % 2 else reno
            order = OrderFactory(channel=web if index % 2 else market, status=S.DELIVERED, placed_at=placed)
            shipped = min(placed + dt.timedelta(hours=10 + 7 * index), now - dt.timedelta(minutes=5))
            Shipment.objects.create(
                number=f"SH-{order.pk}",
                order=order,
                order_number=order.number,
                warehouse=warehouse,
                status=ShipmentStatus.DELIVERED,
                ship_to={},
                ship_date=timezone.localdate(placed),
                shipped_at=shipped,
                delivered_at=min(shipped + dt.timedelta(days=2), now),
                shipping_cost=f"{6 + index}.50",
            )
            if day % 5 == 0 and index == 0:
                rma = ReturnRequest.objects.create(
                    order=order, reason="damaged", number=f"RMA-{order.pk}", status="received"
                )
                Refund.objects.create(order=order, rma=rma, amount=5, currency="USD", idempotency_key=f"r{order.pk}")
    today = timezone.localdate()
    OrderFactory.create_batch(2, status=S.ON_HOLD, promised_date=today - dt.timedelta(days=1))
    OrderFactory.create_batch(3, status=S.ALLOCATED, promised_date=today + dt.timedelta(days=1))
    waiting = OrderFactory(status=S.ALLOCATED)
    Shipment.objects.create(
        number="SH-WAIT",
        order=waiting,
        order_number=waiting.number,
        warehouse=dal,
        status=ShipmentStatus.AWAITING_LABEL,
        ship_to={},
    )
    refresh_all_shipping_facts()  # the shipments were written without the services that keep the facts
    CycleCount.objects.create(warehouse=reno)
    for name, role in ROLES.items():
        UserFactory(username=name, role=role, first_name=name.title())
    yield
    cache.clear()


def sign_in(browser_page, live_server, username: str) -> None:
    browser_page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    browser_page.fill("#id_username", username)
    browser_page.fill("#id_password", "correct-horse-battery")
    browser_page.click("input[type=submit]")
    browser_page.wait_for_url(f"{live_server.url}/admin/")
    browser_page.wait_for_load_state()  # the page's scripts are listening


def no_horizontal_scroll(browser_page) -> bool:
    width = browser_page.evaluate("() => document.documentElement.scrollWidth")
    return width <= browser_page.viewport_size["width"]


def test_the_manager_sees_the_cockpit_drawn_and_switches_to_30_days(live_server, page, month_of_orders, artifacts):  # noqa: F811
    page.set_viewport_size(DESK)
    sign_in(page, live_server, "manager")

    # the key figures and every chart, drawn by Chart.js from the project's own static files
    expect(page.locator("#kpi-orders_placed")).to_be_visible()
    expect(page.locator("#panel-on_hold")).to_be_visible()
    expect(page.locator("#cockpit-period")).to_have_value("last_7_days")
    page.wait_for_function("() => document.querySelectorAll('canvas[data-drawn=true]').length >= 6")
    assert page.evaluate("() => typeof window.Chart") == "function"
    canvases = page.evaluate(CANVASES)
    assert len(canvases) == 6
    assert all(drawn and width > 0 and height > 0 for _, drawn, width, height in canvases), canvases
    week = kpis_for(Period.last_7_days()).orders_placed.value
    expect(page.locator("#kpi-orders_placed .oms-kpi-number")).to_have_text(f"{week:,}")
    expect(page.locator("#oms-nav-groups")).to_be_visible()  # the sidebar is open beside the home
    assert no_horizontal_scroll(page)
    page.screenshot(path=str(artifacts / "cockpit-manager-1440.png"), animations="disabled", caret="hide")
    page.screenshot(path=str(artifacts / "cockpit-manager-1440-full.png"), full_page=True, animations="disabled")
    if os.environ.get("OMS_UPDATE_SCREENSHOTS") == "1":
        page.screenshot(
            path=str(Path(settings.BASE_DIR) / "docs" / "screenshots" / "cockpit.png"),
            animations="disabled",
            caret="hide",
        )

    # when she picks the last 30 days, the address and the numbers follow
    page.select_option("#cockpit-period", "last_30_days")
    page.wait_for_url(re.compile(r"period=last_30_days"))
    assert "start=" not in page.url  # a named period sends no dates
    month = kpis_for(Period.last_30_days()).orders_placed.value
    assert month > week
    expect(page.locator("#kpi-orders_placed .oms-kpi-number")).to_have_text(f"{month:,}")
    expect(page.locator("#cockpit-period-said")).to_contain_text("Last 30 days")
    page.wait_for_function("() => document.querySelectorAll('canvas[data-drawn=true]').length >= 6")

    # a custom period shows its dates and sends them
    start, end = timezone.localdate() - dt.timedelta(days=20), timezone.localdate() - dt.timedelta(days=10)
    expect(page.locator("#cockpit-dates")).to_be_hidden()
    page.select_option("#cockpit-period", "custom")
    expect(page.locator("#cockpit-dates")).to_be_visible()
    page.fill("#cockpit-start", start.isoformat())
    page.fill("#cockpit-end", end.isoformat())
    page.click("#cockpit-filters button[type=submit]")
    page.wait_for_url(re.compile(rf"period=custom&start={start.isoformat()}&end={end.isoformat()}"))
    custom = kpis_for(Period.custom(start, end)).orders_placed.value
    expect(page.locator("#kpi-orders_placed .oms-kpi-number")).to_have_text(f"{custom:,}")

    # the figure's link opens its list
    page.click("#kpi-orders_placed .oms-kpi-number")
    expect(page).to_have_url(re.compile(r"/admin/orders/order/\?placed_at__range__gte="))


def test_at_phone_width_the_cockpit_fits_and_the_sidebar_is_a_menu(live_server, page, month_of_orders, artifacts):  # noqa: F811
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, "manager")
    page.wait_for_function("() => document.querySelectorAll('canvas[data-drawn=true]').length >= 6")

    assert no_horizontal_scroll(page), page.evaluate("() => document.documentElement.scrollWidth")
    expect(page.locator("#oms-nav-groups")).to_be_hidden()
    expect(page.locator("#oms-nav-toggle")).to_have_attribute("aria-expanded", "false")
    widths = page.evaluate(
        "() => [...document.querySelectorAll('.oms-kpi, .oms-chart')].map((e) => e.getBoundingClientRect().right)"
    )
    assert max(widths) <= 390  # cards and charts stack within the width
    page.screenshot(path=str(artifacts / "cockpit-manager-390.png"), animations="disabled", caret="hide")

    page.click("#oms-nav-toggle")
    expect(page.locator("#oms-nav-groups")).to_be_visible()
    expect(page.locator("#oms-nav-toggle")).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#oms-nav-groups [data-group=orders]")).to_contain_text("Orders")
    assert no_horizontal_scroll(page)


def test_dark_mode_keeps_the_cards_readable(live_server, page, month_of_orders, artifacts):  # noqa: F811
    page.set_viewport_size(DESK)
    sign_in(page, live_server, "manager")
    light = page.evaluate(CONTRAST, "#kpi-orders_placed .oms-kpi-title")

    page.evaluate("() => localStorage.setItem('theme', 'dark')")
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('canvas[data-drawn=true]').length >= 6")

    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    background = page.evaluate("() => getComputedStyle(document.querySelector('#kpi-orders_placed')).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    for selector in (
        "#kpi-orders_placed .oms-kpi-title",
        "#kpi-orders_placed .oms-kpi-number",
        "#kpi-orders_placed .oms-kpi-note",
        "#kpi-holds .oms-kpi-rows th",
        "#panel-late h3 a",
        ".oms-nav-group a",
        "#cockpit-period-said",
    ):
        ratio = page.evaluate(CONTRAST, selector)
        assert ratio >= 4.5, (selector, ratio)
    assert light >= 4.5
    page.screenshot(path=str(artifacts / "cockpit-manager-1440-dark.png"), animations="disabled", caret="hide")

    # "auto" follows the system's dark scheme with the same colours
    page.evaluate("() => localStorage.setItem('theme', 'auto')")
    page.emulate_media(color_scheme="dark")
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "auto"
    assert page.evaluate(CONTRAST, "#kpi-orders_placed .oms-kpi-number") >= 4.5
    assert page.evaluate(CONTRAST, ".oms-nav-group a") >= 4.5

    # and an error page keeps the console's look, readable too
    page.goto(f"{live_server.url}/admin/orders/order/999999/nothing/")
    expect(page.locator("#oms-error")).to_be_visible()
    assert page.evaluate(CONTRAST, "#oms-error p:not(.oms-error-code)") >= 4.5
    assert page.evaluate(CONTRAST, "#oms-error .oms-error-home") >= 4.5


@pytest.mark.parametrize("name", ["associate", "returns", "warehouse"])
def test_each_roles_home_at_desk_and_phone_width(live_server, page, month_of_orders, artifacts, name):  # noqa: F811
    expected = {"associate": "#cockpit", "returns": "#returns-work", "warehouse": "#warehouse-work"}[name]
    for size in (DESK, PHONE):
        page.set_viewport_size(size)
        sign_in(page, live_server, name)
        expect(page.locator(expected)).to_be_visible()
        expect(page.locator("#order-queue")).to_be_visible()
        if name != "associate":
            expect(page.locator("#cockpit")).to_have_count(0)
        assert no_horizontal_scroll(page), (name, size)
        page.screenshot(
            path=str(artifacts / f"cockpit-{name}-{size['width']}.png"), animations="disabled", caret="hide"
        )
        page.context.clear_cookies()


def test_the_slash_key_goes_to_the_search_and_lists_keep_their_width(live_server, page, month_of_orders):  # noqa: F811
    page.set_viewport_size(DESK)
    sign_in(page, live_server, "associate")

    # from the home, which has no search box, "/" opens the order list with its search focused
    page.keyboard.press("/")
    page.wait_for_url(re.compile(r"/admin/orders/order/#search$"))
    expect(page.locator("#searchbar")).to_be_focused()

    # on a list, the sidebar is folded to its button until opened: the list keeps the page's width
    expect(page.locator("#oms-nav-groups")).to_be_hidden()
    assert page.evaluate("() => document.getElementById('oms-nav').getBoundingClientRect().width") < 60
    page.click("#oms-nav-toggle")
    expect(page.locator("#oms-nav-groups")).to_be_visible()
    expect(page.locator("#oms-nav-groups a[aria-current=page]")).to_have_text("Orders")
    page.click("#oms-nav-toggle")
    expect(page.locator("#oms-nav-groups")).to_be_hidden()

    # on a page with a search box, "/" focuses it; typed into a field, "/" is just a character
    page.goto(f"{live_server.url}/admin/inventory/stocklevel/")
    page.wait_for_load_state()
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("/")
    expect(page.locator("#searchbar")).to_be_focused()
    page.keyboard.type("a/b")
    expect(page.locator("#searchbar")).to_have_value("a/b")
