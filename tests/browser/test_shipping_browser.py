"""The warehouse path in a real browser: order → create shipments → buy and print labels → batch done → shipped."""

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from orders import services
from orders.models import OrderStatus
from shipping.models import LabelBatch, Shipment, ShipmentStatus, Vendor
from shipping.selectors import clear_rate_cache
from tests.factories import ProductFactory, UserFactory
from tests.shipping.conftest import make_service

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_warehouse_staff_ship_an_order_from_its_page(live_server, page, roles, sites, stock, order_to):
    # given a carrier, stock at Edison and an order to New York with its units reserved there
    clear_rate_cache()
    make_service(
        Vendor.objects.create(
            code="rapid", name="Rapid Air", tracking_url_template="https://rapid.example/t/{tracking_number}"
        ),
        "2DAY",
        transit=2,
        prices="15.00",
    )
    shirt = ProductFactory(sku="TEE-1", name="Tee", weight_kg="0.400")
    stock(sites["EWR"], shirt, 10)
    order = order_to("NYC", [(shirt, 3)])
    services.allocate_order(order_id=order.pk, actor="test")
    UserFactory(username="wanda", role="Warehouse staff")

    # when Wanda logs in and opens the order
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "wanda")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    expect(page.locator("#order-shipments")).to_contain_text("No shipments yet.")

    # creates the shipment
    page.click("button[data-action=create-shipments]")
    expect(page.locator("ul.messagelist")).to_contain_text(
        f"Made 1 shipment for {order.number}: {order.number}-1 (EWR, Rapid Air 2Day)"
    )
    row = page.locator(f"#order-shipments tr[data-shipment='{order.number}-1']")
    expect(row).to_contain_text("Awaiting label")

    # buys the label
    page.click("button[data-action=buy-labels]")
    expect(page.locator("ul.messagelist")).to_contain_text("label bought from Rapid Air 2Day")
    expect(row).to_contain_text("Label created")
    tracking = Shipment.objects.get(order=order).parcels.get().tracking_number
    expect(row.locator(f"a[href='https://rapid.example/t/{tracking}']")).to_have_text(tracking)

    # prints it: the batch page shows the batch done and offers the file
    page.click("button[data-action=print-labels]")
    batch = LabelBatch.objects.get()
    expect(page).to_have_url(f"{live_server.url}/admin/shipping/labelbatch/{batch.pk}/change/")
    expect(page.locator("#batch-status")).to_have_text("Done")
    expect(page.locator("#batch-progress-text")).to_have_text("1 of 1 label (100%)")
    download = page.locator("#batch-download")
    expect(download).to_be_visible()
    pdf = page.request.get(f"{live_server.url}{download.get_attribute('href')}")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")

    # goes back to the order and marks it shipped
    page.click("#batch-shipments a.oms-order-link")
    page.click("button[data-action=mark-shipped]")

    # then the order shows Shipped, the shipment is in transit, and the timeline names her
    expect(page.locator("ul.messagelist")).to_contain_text(f"{order.number}-1 shipped: the carrier has it.")
    expect(page.locator(".field-status_display .oms-badge")).to_have_text("Shipped")
    expect(row).to_contain_text("In transit")
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    assert Shipment.objects.get(order=order).status == ShipmentStatus.IN_TRANSIT
    assert order.events.filter(actor_name="wanda").count() >= 3  # created, label bought, shipped


def test_the_batch_page_follows_a_rendering_batch_until_it_is_done(live_server, page, roles):
    # given a batch still rendering (its chunks are rendered by a worker elsewhere)
    UserFactory(username="wanda", role="Warehouse staff")
    batch = LabelBatch.objects.create(status=LabelBatch.Status.RENDERING, label_count=4, rendered_count=1)
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "wanda")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/shipping/labelbatch/{batch.pk}/change/")
    expect(page.locator("#batch-progress-text")).to_have_text("1 of 4 labels (25%)")
    expect(page.locator("#batch-waiting")).to_be_visible()

    # when the worker gets on, the bar follows without a reload
    LabelBatch.objects.filter(pk=batch.pk).update(rendered_count=3)
    expect(page.locator("#batch-progress-text")).to_have_text("3 of 4 labels (75%)")

    # and when it is done the page reloads itself with the download
    batch.refresh_from_db()
    batch.file.save("done.pdf", ContentFile(b"%PDF-1.7 test"), save=False)
    LabelBatch.objects.filter(pk=batch.pk).update(status=LabelBatch.Status.DONE, rendered_count=4, file=batch.file.name)
    expect(page.locator("#batch-download")).to_be_visible()
    expect(page.locator("#batch-status")).to_have_text("Done")
