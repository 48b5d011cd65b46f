"""An operator works an order from its page in a real browser: the note box, the timeline's chips, a phone, a tablet.

Screenshots of the page as each role sees it, at 1440 × 900 and at 390 × 844, go to the directory in
OMS_TEST_ARTIFACTS (default: the test's tmp_path); with OMS_UPDATE_SCREENSHOTS=1 the operations manager's
are also written to docs/screenshots/order-page.png and order-page-phone.png.
"""

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from notifications.models import Message
from orders import services
from orders.models import Customer, Order, OrderStatus
from orders.payments.models import PaymentTransaction
from tests.factories import ProductFactory, UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

S = OrderStatus
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}
PASSWORD = "correct-horse-battery"
ROLES = ("Operations manager", "Operations associate", "Returns associate", "Warehouse staff")
MAX_SCREENSHOT_BYTES = 400_000
DOCS_SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"


@pytest.fixture
def artifacts(tmp_path) -> Path:
    directory = Path(os.environ.get("OMS_TEST_ARTIFACTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def worked_order(sites, stock, order_to, carriers):  # noqa: F811
    """An order to New York for a long-named customer, its payment authorised: the tee reserved at EWR and in a
    shipment with its label bought, the mug backordered; an email sent, a note, and now on hold."""
    shirt = ProductFactory(sku="TEE-ORGANIC-COTTON-XL", name="Organic cotton tee, extra large, forest green")
    mug = ProductFactory(sku="MUG-1", name="Mug")
    stock(sites["EWR"], shirt, 10)
    order = order_to("NYC", [(shirt, 3), (mug, 1)], payment_gateway="test_card")
    Customer.objects.filter(pk=order.customer_id).update(name="Bartholomew Featherstonehaugh-Smythe")
    Order.objects.filter(pk=order.pk).update(
        subtotal=Decimal("100.00"),
        shipping_total=Decimal("15.00"),
        tax_total=Decimal("8.05"),
        grand_total=Decimal("123.05"),
    )
    PaymentTransaction.objects.create(
        order=order,
        kind=PaymentTransaction.Kind.AUTHORISE,
        gateway="test_card",
        amount=Decimal("75.00"),
        currency="USD",
        status=PaymentTransaction.Status.SUCCEEDED,
        idempotency_key=f"browser:{order.pk}",
        gateway_reference="auth_0001",
    )
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")
    Message.objects.create(
        key=f"browser:{order.pk}",
        event="order_received",
        audience=Message.Audience.CUSTOMER,
        order=order,
        recipient=order.customer.email,
        subject="We have your order",
        status=Message.Status.SENT,
        sent_at=timezone.now(),
    )
    services.add_order_note(order_id=order.pk, message="Gift: no prices on the packing slip", actor="test")
    maria = UserFactory(username="mlopez", first_name="Maria", last_name="Lopez", role="Operations manager")
    services.hold_order(order_id=order.pk, reason="Customer asked to change the size", actor=maria)
    order.refresh_from_db()
    return order


def sign_in(page, live_server, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_be_visible()


def no_horizontal_scroll(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def shoot(page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=False, animations="disabled", caret="hide")
    assert path.stat().st_size < MAX_SCREENSHOT_BYTES, f"{path.name} is {path.stat().st_size:,} bytes"


def test_an_operator_adds_a_note_from_the_box_and_sees_it_on_top_then_filters_the_notes(
    live_server, page, roles, worked_order
):
    # given an operations associate on the held order's page, on a desktop
    UserFactory(username="noor", first_name="Noor", last_name="Haddad", role="Operations associate")
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server, "noor")
    page.goto(f"{live_server.url}/admin/orders/order/{worked_order.pk}/change/")
    expect(page.locator("#content > h2")).to_have_text(worked_order.number)
    expect(page.locator(".order-banner-hold")).to_contain_text("Customer asked to change the size")
    expect(page.locator(".order-banner-hold")).to_contain_text("by Maria Lopez")
    expect(page.locator(".order-banner-hold a[data-action=release]")).to_be_visible()

    # when she types a note in the timeline's box and adds it
    page.fill("#order-note-box textarea", "Customer called back: size L instead")
    page.click("#order-note-box button[data-action=add-note]")

    # then she is back on the page, told so, and her note is the first entry of the timeline, in her name
    expect(page.locator("ul.messagelist")).to_contain_text(f"Note added to {worked_order.number}.")
    first = page.locator("#timeline .timeline-entry").first
    expect(first).to_contain_text("Customer called back: size L instead")
    expect(first.locator(".timeline-who")).to_have_text("Noor Haddad")
    second = page.locator("#timeline .timeline-entry").nth(1)
    assert first.bounding_box()["y"] < second.bounding_box()["y"]  # on top, as drawn
    expect(page.locator("#order-notes")).to_contain_text("Customer called back: size L instead")

    # and the "notes" chip shows only the notes; "all" shows everything again
    entries = page.locator("#timeline .timeline-entry")
    total = entries.count()
    page.click("#timeline .timeline-filter[data-filter=notes]")
    expect(page.locator("#timeline .timeline-filter[data-filter=notes]")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#timeline .timeline-entry:visible")).to_have_count(2)
    for index in range(total):
        entry = entries.nth(index)
        assert entry.is_visible() == (entry.get_attribute("data-kind") == "notes")
    page.click("#timeline .timeline-filter[data-filter=all]")
    expect(page.locator("#timeline .timeline-entry:visible")).to_have_count(total)


def test_an_empty_note_is_refused_beside_the_box(live_server, page, roles, worked_order):
    UserFactory(username="wanda", role="Warehouse staff")
    sign_in(page, live_server, "wanda")
    page.goto(f"{live_server.url}/admin/orders/order/{worked_order.pk}/change/")
    notes_before = worked_order.events.filter(kind="note").count()

    # a note of spaces gets past the browser's "required", not past the page
    page.fill("#order-note-box textarea", "   ")
    page.click("#order-note-box button[data-action=add-note]")

    expect(page.locator(".order-note-errors")).to_have_text("Write the note first: an empty note is not added.")
    assert worked_order.events.filter(kind="note").count() == notes_before


@pytest.mark.parametrize("role", ROLES)
def test_the_page_on_a_desktop_and_on_a_phone_actions_first_and_no_sideways_scroll(
    live_server, page, roles, worked_order, artifacts, role
):
    # given someone of this role
    username = role.lower().replace(" ", "-")
    UserFactory(username=username, first_name="Sam", last_name="Okafor", role=role)
    sign_in(page, live_server, username)
    url = f"{live_server.url}/admin/orders/order/{worked_order.pk}/change/"

    # on a desktop: two columns, the lines left of the customer
    page.set_viewport_size(DESKTOP)
    page.goto(url)
    lines, customer = page.locator("#order-lines").bounding_box(), page.locator("#order-customer").bounding_box()
    assert customer["x"] >= lines["x"] + lines["width"]
    assert abs(customer["y"] - lines["y"]) < 40
    expect(page.locator("#timeline .timeline-entry").first).to_contain_text("Put on hold")
    no_horizontal_scroll(page, DESKTOP["width"])
    shoot(page, artifacts / f"order-page-{username}.png")
    if role == "Operations manager" and os.environ.get("OMS_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(artifacts / f"order-page-{username}.png", DOCS_SCREENSHOTS / "order-page.png")

    # on a phone: the actions (if any) come before the lines, the lines before the rest; nothing scrolls sideways
    page.set_viewport_size(PHONE)
    page.goto(url)
    lines = page.locator("#order-lines").bounding_box()
    if page.locator("#order-actions").count():
        actions = page.locator("#order-actions").bounding_box()
        assert actions["y"] + actions["height"] <= lines["y"]
        for button in page.locator("#order-actions a, #order-actions button").all():
            assert button.bounding_box()["height"] >= 44
    assert page.locator("#order-customer").bounding_box()["y"] > lines["y"] + lines["height"]
    assert page.locator("#timeline").bounding_box()["y"] > lines["y"] + lines["height"]
    no_horizontal_scroll(page, PHONE["width"])
    shoot(page, artifacts / f"order-page-{username}-phone.png")
    if role == "Operations manager" and os.environ.get("OMS_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(
            artifacts / f"order-page-{username}-phone.png",
            Path(settings.BASE_DIR) / "docs/screenshots/order-page-phone.png",
        )


def test_the_shipment_page_fits_a_tablet(live_server, page, roles, worked_order, artifacts):
    # given warehouse staff on a tablet, on the order's shipment
    UserFactory(username="wanda", role="Warehouse staff")
    page.set_viewport_size(TABLET)
    sign_in(page, live_server, "wanda")
    shipment = worked_order.shipments.get()

    page.goto(f"{live_server.url}/admin/shipping/shipment/{shipment.pk}/change/")

    expect(page.locator("#shipment-parcels")).to_contain_text(shipment.parcels.get().tracking_number)
    shoot(page, artifacts / "shipment-page-tablet.png")
    buttons = page.locator(".object-tools a, .object-tools button")
    assert buttons.count() >= 3  # print, ship, packing slip, void, history
    for button in buttons.all():
        assert button.bounding_box()["height"] >= 44, button.inner_text()
    no_horizontal_scroll(page, TABLET["width"])
