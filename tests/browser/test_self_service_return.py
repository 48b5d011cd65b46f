"""A customer returns an item for an exchange from their order status page on a phone, reached from a real email's
link; then the returns associate finds it in the returns queue.

A screenshot at 390 × 844 goes to OMS_TEST_ARTIFACTS (default: the test's tmp_path); with
OMS_UPDATE_SCREENSHOTS=1 it is also written to docs/screenshots/self-service-return.png.
"""

import datetime as dt
import html
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from inventory.models import StockLevel
from notifications.models import Message
from notifications.services.sending import send_messages
from orders import services
from orders.models import OrderStatus
from orders.returns.models import ReturnRequest, ReturnStatus, VariantGroup
from tests.factories import ProductFactory, UserFactory
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
def test_a_customer_exchanges_an_item_from_the_status_page_and_the_associate_finds_it(
    live_server, page, roles, sites, stock, order_to, artifacts, settings, django_capture_on_commit_callbacks
):
    # given two tees shipped from EWR and scanned on the way; the large size is a variant in stock at Dallas
    settings.OMS_BASE_URL = live_server.url
    medium = ProductFactory(sku="TEE-M", name="Organic tee, medium", price=Decimal("24.00"))
    large = ProductFactory(sku="TEE-L", name="Organic tee, large", price=Decimal("24.00"))
    VariantGroup.objects.create(name="Organic tee").products.add(medium, large)
    stock(sites["EWR"], medium, 5)
    stock(sites["DAL"], large, 3)
    order = order_to("NYC", [(medium, 2)], promised_date=timezone.localdate() + dt.timedelta(days=6))
    order.channel.brand_name, order.channel.support_email = "Northwind Outfitters", "help@northwind.example"
    order.channel.save()
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    services.ship_shipment(shipment_id=shipment.pk, actor="test")
    services.record_tracking(
        tracking_number=shipment.parcels.get().tracking_number,
        status="in_transit",
        occurred_at=timezone.now() - dt.timedelta(hours=5),
        actor="test",
        source="admin",
        description="Departed the hub",
        location="Secaucus, NJ",
    )
    UserFactory(username="rosa", role="Returns associate")

    # when the customer opens the link of the 'shipped' email on a phone, as the sender sends it
    message = Message.objects.get(order=order, event="order_shipped")
    send_messages(message_ids=[message.pk])
    (email,) = [email for email in mail.outbox if email.subject == Message.objects.get(pk=message.pk).subject]
    (html_part, _), *_ = email.alternatives
    link = html.unescape(re.search(r'<a href="([^"]+)"[^>]*>See your order</a>', html_part).group(1))
    page.set_viewport_size(PHONE)
    page.goto(link)

    # then they see the shipment and its scans
    expect(page.locator("h1")).to_have_text("On its way")
    expect(page.locator(".sp-shipment .sp-scans li")).to_have_count(1)
    expect(page.locator(".sp-shipment .sp-scans li").first).to_contain_text("Departed the hub · Secaucus, NJ")

    # and start a return: one tee, exchanged for the large one, because it is too small
    line_id = order.lines.get().pk
    form = page.locator("#return-form")
    form.scroll_into_view_if_needed()
    expect(page.locator(".sp-exchange")).to_be_hidden()  # a refund is chosen: no variant to pick
    page.select_option(f"#qty-{line_id}", "1")
    page.check("input[name=resolution][value=exchange]")
    expect(page.locator(".sp-exchange")).to_be_visible()
    page.select_option(f"#variant-{line_id}", label="Organic tee, large · 24.00 USD")
    page.select_option("#return-reason", label="Damaged")
    page.fill("#return-note", "Seam came apart after one wash")
    page.click("form.sp-form button[type=submit]")

    # then the page shows the return, authorised by the policy, its label behind the same link, the replacement
    rma = ReturnRequest.objects.get(order=order)
    card = page.locator(f"#return-{rma.number}")
    expect(card).to_contain_text(f"Return {rma.number} · Exchange")
    expect(card).to_contain_text("We have your return request.")
    expect(card).to_contain_text("Approved: print the label")
    expect(card).to_contain_text("Organic tee, medium → Organic tee, large")
    expect(card).to_contain_text("Your replacement is set aside and ships as soon as we receive your return.")
    label = card.locator("a.sp-button")
    expect(label).to_have_text("Download the return label (PDF)")
    label_url = label.get_attribute("href")
    assert label_url.startswith(link.replace(live_server.url, ""))  # behind the email's own token
    answer = page.request.get(f"{live_server.url}{label_url}")
    assert answer.status == 200 and answer.body().startswith(b"%PDF")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    path = artifacts / "self-service-return.png"
    card.scroll_into_view_if_needed()
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    assert path.stat().st_size < MAX_SCREENSHOT_BYTES
    if os.environ.get("OMS_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, Path(settings.BASE_DIR) / "docs" / "screenshots" / "self-service-return.png")

    # and the replacement is reserved at Dallas, waiting for the goods
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.AUTHORISED and rma.source == "customer"
    assert rma.replacement_order.status == OrderStatus.ON_HOLD
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=large).allocated == 1

    # when the returns associate logs in and opens the queue of returns customers opened
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "rosa")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/returns/returnrequest/?source__exact=customer")
    row = page.locator("#result_list tbody tr", has_text=rma.number)
    expect(row).to_contain_text("Customer (order status page)")
    expect(row).to_contain_text("Exchange")
    row.locator(f"text={rma.number}").click()

    # then the return reads as the customer opened it, with its replacement order
    expect(page.locator(".field-status_badge .oms-badge")).to_have_text("Authorised")
    expect(page.locator("#rma-replacement")).to_have_text(rma.replacement_order.number)
    expect(page.locator("body")).to_contain_text("1 × TEE-L")
    expect(page.locator("body")).to_contain_text("Seam came apart after one wash")
