"""The customer's order status page on a phone, reached as a customer reaches it: from the link in a real email.

A screenshot at 390 × 844 goes to OMS_TEST_ARTIFACTS (default: the test's tmp_path); with
OMS_UPDATE_SCREENSHOTS=1 it is also written to docs/screenshots/order-status-page.png.
"""

import datetime as dt
import html
import os
import re
import shutil
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from notifications.models import Message
from notifications.services.sending import send_messages
from orders import services
from shipping.models import Vendor
from tests.factories import ProductFactory
from tests.orders.test_status_page import logo_host  # noqa: F401 - fixture used here
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}
MAX_SCREENSHOT_BYTES = 400_000


@pytest.fixture
def artifacts(tmp_path) -> Path:
    directory = Path(os.environ.get("OMS_TEST_ARTIFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.mark.usefixtures("carriers")
def test_a_customer_follows_the_shipped_email_to_a_page_that_fits_a_phone(
    live_server,
    page,
    sites,
    stock,
    order_to,
    artifacts,
    settings,
    django_capture_on_commit_callbacks,
    logo_host,  # noqa: F811 - the fixture imported above
):
    # given an order shipped from EWR and scanned twice on the way, its emails' links pointing at this site
    settings.OMS_BASE_URL = live_server.url
    Vendor.objects.update(tracking_url_template="https://track.example/{tracking_number}")
    shirt = ProductFactory(sku="TEE-ORGANIC-COTTON-XL", name="Organic cotton tee, extra large, forest green")
    stock(sites["EWR"], shirt, 5)
    order = order_to("NYC", [(shirt, 2)], promised_date=timezone.localdate() + dt.timedelta(days=6))
    order.channel.brand_name, order.channel.support_email = "Northwind Outfitters", "help@northwind.example"
    store_site, _ = logo_host  # the store's logo is on its own site, as its emails show it
    order.channel.logo_url = f"{store_site}/logo.png"
    order.channel.brand_color = "#7a2e0e"
    order.channel.save()
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    services.ship_shipment(shipment_id=shipment.pk, actor="test")
    tracking = shipment.parcels.get().tracking_number
    for hours, description, location in ((30, "Picked up", "Edison, NJ"), (6, "Departed the hub", "Secaucus, NJ")):
        services.record_tracking(
            tracking_number=tracking,
            status="in_transit",
            occurred_at=timezone.now() - dt.timedelta(hours=hours),
            actor="test",
            source="admin",
            description=description,
            location=location,
        )

    # when the customer opens the link of the 'shipped' email, as the sender sends it
    message = Message.objects.get(order=order, event="order_shipped")
    send_messages(message_ids=[message.pk])
    (email,) = [email for email in mail.outbox if email.subject == Message.objects.get(pk=message.pk).subject]
    (html_part, _), *_ = email.alternatives
    link = html.unescape(re.search(r'<a href="([^"]+)"[^>]*>See your order</a>', html_part).group(1))
    assert f"See your order: {link}" in email.body
    elsewhere: list[str] = []
    page.on("request", lambda request: request.url.startswith(live_server.url) or elsewhere.append(request.url))
    page.set_viewport_size(PHONE)
    page.goto(link)

    # then it shows the order, the shipment with its tracking link and scans, newest first, in the channel's brand
    expect(page.locator("h1")).to_have_text("On its way")
    logo = page.locator(".sp-brand img")
    expect(logo).to_have_attribute("alt", "Northwind Outfitters")
    # the OMS served the store's logo (a 1 × 1 image) from its own address
    expect(logo).to_have_js_property("naturalWidth", 1)
    shipment_card = page.locator(".sp-shipment")
    expect(shipment_card).to_contain_text(f"{shipment.service.vendor.name} · {shipment.service.name}")
    expect(shipment_card.locator(f'a[href="https://track.example/{tracking}"]')).to_have_text(tracking)
    expect(shipment_card.locator(".sp-scans li")).to_have_count(2)
    expect(shipment_card.locator(".sp-scans li").first).to_contain_text("Departed the hub · Secaucus, NJ")
    expect(page.locator("body")).to_contain_text("help@northwind.example")
    # the channel's colour came from its stylesheet, not an inline style
    colour = page.evaluate("getComputedStyle(document.querySelector('.sp-brand')).backgroundColor")
    assert colour == "rgb(122, 46, 14)"  # the channel's #7a2e0e, not OMS_BRAND_COLOR
    # nothing scrolls sideways, and nothing was asked of another site
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert elsewhere == []
    path = artifacts / "order-status-page.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    assert path.stat().st_size < MAX_SCREENSHOT_BYTES
    if os.environ.get("OMS_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, Path(settings.BASE_DIR) / "docs" / "screenshots" / "order-status-page.png")
