"""The storefront snippet on a phone: the demo store's product page asks the ZIP once and shows the delivery date.

A screenshot at 390 × 844 goes to OMS_TEST_ARTIFACTS (default: the test's tmp_path); with
OMS_UPDATE_SCREENSHOTS=1 it is also written to docs/screenshots/delivery-snippet.png.
"""

import datetime as dt
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from orders.services.channels import issue_api_key, revoke_publishable_key, rotate_publishable_key
from tests.factories import ChannelFactory, ProductFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
MAX_SCREENSHOT_BYTES = 400_000
COUNTDOWN = re.compile(r"^Order (within (\d+ h )?\d+ min|by (Mon|Tue|Wed|Thu|Fri|Sat|Sun) .+)$")


@pytest.fixture
def artifacts(tmp_path) -> Path:
    directory = Path(os.environ.get("OMS_TEST_ARTIFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def shown(day: dt.date) -> str:
    """A date as the snippet writes it: Thu 5 Dec."""
    return f"{day:%a} {day.day} {day:%b}"


@pytest.mark.usefixtures("carriers")
def test_the_demo_store_asks_the_zip_once_and_shows_the_promise_apis_date(
    live_server, page, sites, stock, artifacts, settings
):
    # given the demo channel with a publishable key and its tee in stock in New Jersey
    cache.clear()
    settings.DEMO_STORE_ENABLED = True
    # the store aims at two business days: the order gets a faster service than the cheapest, and so does the page
    settings.SHIPPING_PROMISE_TARGET_DAYS = 2
    settings.SHIPPING_PROMISE_TARGET_MAX_PREMIUM = Decimal("100.00")
    channel = ChannelFactory(code="webstore", name="Web store", brand_name="Northwind Outfitters")
    channel = rotate_publishable_key(channel_id=channel.pk, actor="test")
    _, api_key = issue_api_key(channel_id=channel.pk, name="checkout", actor="test")

    def promise_api_date(postal_code: str) -> dt.date:
        """The date the channels' promise API (GET /api/v1/promise) answers for the order the page would make."""
        answer = page.request.get(
            f"{live_server.url}/api/v1/promise",
            params={"postal_code": postal_code, "sku": "TEE-M"},
            headers={"Authorization": f"Bearer {api_key}"},
        )
        return dt.date.fromisoformat(answer.json()["chosen"]["date"])

    tee = ProductFactory(sku="TEE-M", name="Organic cotton tee · M", price="24.00", weight_kg="0.200")
    stock(sites["EWR"], tee, 5)
    elsewhere: list[str] = []
    page.on("request", lambda request: request.url.startswith(live_server.url) or elsewhere.append(request.url))
    page.set_viewport_size(PHONE)

    # when a visitor opens the product page, it asks for their ZIP
    page.goto(f"{live_server.url}/demo-store/")
    expect(page.locator("h1")).to_have_text("Organic cotton tee · M")
    zip_field = page.get_by_label("Delivery date to your ZIP code")
    expect(zip_field).to_be_visible()
    status = page.locator(".oms-dp-status")
    expect(status).to_be_hidden()

    # and they give it
    zip_field.fill("10001")
    with page.expect_response(lambda response: "/api/v1/storefront/promise" in response.url) as answered:
        page.get_by_role("button", name="Show").click()
    answer = answered.value.json()

    # then the page shows the countdown and the date the promise API answered, in a live region
    promised = dt.date.fromisoformat(answer["date"])
    expect(status).to_be_visible()
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status.locator(".oms-dp-date")).to_have_text(f"arrives {shown(promised)}")
    assert COUNTDOWN.match(status.locator(".oms-dp-countdown").inner_text())
    expect(zip_field).to_be_hidden()
    # the storefront endpoint asked again for the same ZIP, and the channels' promise API, give the same date
    again = page.request.get(
        f"{live_server.url}/api/v1/storefront/promise",
        params={"key": channel.publishable_key, "zip": "10001", "sku": "TEE-M"},
    ).json()
    assert again["date"] == answer["date"]
    assert promise_api_date("10001") == promised
    # nothing scrolls sideways, no inline style was set, and nothing was asked of another site
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate("document.querySelectorAll('[data-delivery-promise] [style]').length") == 0
    assert elsewhere == []
    path = artifacts / "delivery-snippet.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    assert path.stat().st_size < MAX_SCREENSHOT_BYTES
    if os.environ.get("OMS_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, Path(settings.BASE_DIR) / "docs" / "screenshots" / "delivery-snippet.png")

    # when they come back, the ZIP is remembered: the date at once, no question
    page.reload()
    expect(status.locator(".oms-dp-date")).to_have_text(f"arrives {shown(promised)}")
    expect(zip_field).to_be_hidden()

    # and they may change it
    page.get_by_role("button", name="Change the ZIP code (10001)").click()
    expect(zip_field).to_have_value("10001")
    zip_field.fill("90012")
    page.get_by_role("button", name="Show").click()
    west = promise_api_date("90012")
    expect(status.locator(".oms-dp-date")).to_have_text(f"arrives {shown(west)}")

    # when the key is revoked while the store's page still carries it, the page shows nothing at all
    store_page = page.request.get(f"{live_server.url}/demo-store/").text()
    assert channel.publishable_key in store_page
    revoke_publishable_key(channel_id=channel.pk, actor="test")
    page.route(f"{live_server.url}/demo-store/", lambda route: route.fulfill(body=store_page, content_type="text/html"))
    with page.expect_response(lambda response: "/api/v1/storefront/promise" in response.url) as refused:
        page.reload()
    assert refused.value.status == 401
    expect(page.locator("[data-delivery-promise]")).to_have_attribute("data-state", "none")
    expect(status).to_be_hidden()
    expect(zip_field).to_be_hidden()
