"""An operations associate changes an order's ship-to address and one of its lines in a real browser, and sees
the new promise and the timeline entries.

The "Edit items" summary is photographed into OMS_TEST_ARTIFACTS (default: the test's tmp_path); with
OMS_UPDATE_SCREENSHOTS=1 it is also written to docs/screenshots/edit-items.png.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from orders import services
from orders.models import Order, OrderLine, OrderStatus
from tests.factories import ProductFactory, UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"
MAX_SCREENSHOT_BYTES = 400_000


@pytest.fixture
def artifacts(tmp_path) -> Path:
    directory = Path(os.environ.get("OMS_TEST_ARTIFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def nyc_order(sites, stock, order_to, carriers):  # noqa: F811
    """Two tees to New York reserved at Edison, promised nothing yet; Dallas has tees too."""
    tee = ProductFactory(sku="TEE-1", name="Organic cotton tee", price="25.00")
    stock(sites["EWR"], tee, 10)
    stock(sites["DAL"], tee, 10)
    order = order_to("NYC", [(tee, 2)])
    Order.objects.filter(pk=order.pk).update(subtotal="50.00", grand_total="50.00", promised_date=None)
    return services.allocate_order(order_id=order.pk, actor="test")


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_be_visible()


def promised_by(page):
    return page.locator("dt", has_text="Promised by").locator("xpath=following-sibling::dd[1]")


def test_an_associate_changes_the_address_and_a_line_and_sees_the_new_promise_and_the_timeline(
    live_server, page, roles, nyc_order, artifacts
):
    order = nyc_order
    UserFactory(username="noor", first_name="Noor", last_name="Haddad", role="Operations associate")
    sign_in(page, live_server, "noor")
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    expect(promised_by(page)).to_have_text("—")

    # the customer moved to Dallas: the address is changed from the order page
    page.click("a[data-action=change-address]")
    page.fill("#id_line1", "1500 Marilla St")
    page.fill("#id_city", "Dallas")
    page.fill("#id_state", "TX")
    page.fill("#id_postal_code", "75201")
    page.fill("#id_reason", "Customer moved")
    page.click("#content-main [type=submit]")

    # the order is routed from Dallas now and promised a date, and the timeline says so, in her name
    expect(page.locator("ul.messagelist")).to_contain_text(f"{order.number}: ship-to address changed; reserved at DAL")
    order.refresh_from_db()
    day = order.promised_date
    assert day is not None
    expect(promised_by(page)).to_have_text(f"{day:%a} {day.day} {day:%b %Y}")
    changed = page.locator("#timeline .timeline-entry", has_text="Ship-to address changed")
    expect(changed).to_contain_text("re-routed EWR → DAL")
    expect(changed.locator(".timeline-who")).to_have_text("Noor Haddad")
    # the customer is emailed the change once
    expect(page.locator("#timeline .timeline-message", has_text="was changed")).to_have_count(1)

    # then she makes it 3 tees: the summary comes first, nothing changed yet
    line = OrderLine.objects.get(order=order)
    page.click("a[data-action=edit-items]")
    page.fill(f"#id_line_{line.pk}", "3")
    page.fill("#id_reason", "Customer wants one more")
    page.click("#content-main [type=submit]")
    summary = page.locator("#edit-summary")
    expect(summary).to_contain_text("2 → 3")
    expect(page.locator("#new-total")).to_have_text("75.00 USD")
    expect(page.locator("#new-promise")).to_be_visible()
    expect(summary).to_contain_text("1 unit reserved")
    assert OrderLine.objects.get(pk=line.pk).quantity == 2
    shot = artifacts / "edit-items.png"
    page.screenshot(path=str(shot), full_page=False, animations="disabled", caret="hide")
    assert shot.stat().st_size < MAX_SCREENSHOT_BYTES
    if os.environ.get("OMS_UPDATE_SCREENSHOTS"):
        shutil.copyfile(shot, Path(settings.BASE_DIR) / "docs" / "screenshots" / "edit-items.png")

    # and confirms: the page shows the new total, the promise, and the timeline entry
    page.click("#content-main [type=submit]")
    expect(page.locator("ul.messagelist")).to_contain_text(f"{order.number}: TEE-1 2 → 3; new total 75.00 USD")
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED and OrderLine.objects.get(pk=line.pk).quantity == 3
    day = order.promised_date
    expect(promised_by(page)).to_have_text(f"{day:%a} {day.day} {day:%b %Y}")
    edited = page.locator("#timeline .timeline-entry", has_text="Items edited")
    expect(edited).to_contain_text("Items edited: TEE-1 2 → 3; total 50.00 → 75.00 USD")
    expect(edited.locator(".timeline-who")).to_have_text("Noor Haddad")
    expect(page.locator("#timeline .timeline-message", has_text="was changed")).to_have_count(2)
