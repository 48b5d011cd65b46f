"""Every CSV upload page, with files a sheet or a hand edit gets wrong: a quote that never closes, a NUL character.

A quote left open would swallow every line after it into one cell, so the
file is refused naming the line where the quote opens. A NUL (a zero byte)
cannot be stored by PostgreSQL: its row is refused naming the row and
column, and the other rows go on. Run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inventory.models import ImportJob, StockLevel, StockMovement
from orders.models import ChannelVariant, Customer, Order
from shipping.models import CarrierService, Rate, TransitTime, Vendor
from tests.factories import ChannelFactory

from .conftest import ORDER_HEADER, csv_text, order_row

pytestmark = pytest.mark.django_db
UNCLOSED = "line 3: a quote opens here and never closes"
NUL_MESSAGE = "contains a NUL character (a zero byte), which cannot be stored"


@pytest.fixture
def service(db):
    vendor = Vendor.objects.create(code="v", name="Vendor")
    service = CarrierService.objects.create(vendor=vendor, code="GROUND", name="Ground", max_weight_kg=Decimal("30"))
    TransitTime.objects.create(service=service, zone=2, business_days=4)
    Rate.objects.create(service=service, zone=2, max_weight_kg=Decimal("30"), price=Decimal("9"))
    return service


def post_file(client, url: str, text: str, **fields):
    file = SimpleUploadedFile("sheet.csv", text.encode("utf-8"), content_type="text/csv")
    return client.post(url, {"file": file, **fields})


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def upload_url(kind: str) -> str:
    return reverse("admin:inventory_importjob_upload", args=[kind])


# --- a quote that never closes ------------------------------------------------------


def test_an_order_file_whose_quote_never_closes_is_refused_naming_the_line(admin_client, catalogue):
    text = csv_text(
        ORDER_HEADER,
        order_row("W-1"),
        order_row("W-2", name='"Zoë Müller'),  # line 3: the quote opens and never closes
        order_row("W-3"),  # line 4: read on, it would be part of W-2's customer name
    )

    response = post_file(admin_client, upload_url("order"), text)

    assert response.status_code == 200
    page = page_text(response)
    assert "The file was refused; nothing was queued." in page
    assert UNCLOSED in page
    assert not ImportJob.objects.exists()


def test_a_stock_receipt_file_whose_quote_never_closes_is_refused_naming_the_line(admin_client, catalogue):
    text = csv_text(
        "warehouse,sku,quantity,reference,note", "DAL,TEE-M,1,PO-1,", 'DAL,MUG,2,PO-1,"pallet 2', "DAL,MUG,3,PO-2,"
    )

    page = page_text(post_file(admin_client, upload_url("stock_receipt"), text))

    assert UNCLOSED in page
    assert not ImportJob.objects.exists()


def test_a_variant_file_whose_quote_never_closes_is_refused_naming_the_line(admin_client, catalogue):
    ChannelFactory(code="shopify-us", name="Shopify US")
    text = csv_text(
        "channel,variant_id,sku,title", "shopify-us,1,TEE-M,Tee", 'shopify-us,2,MUG,"Mug', "shopify-us,3,MUG,"
    )

    page = page_text(post_file(admin_client, reverse("admin:orders_channelvariant_import"), text))

    assert "The file was refused; nothing was written." in page
    assert UNCLOSED in page
    assert not ChannelVariant.objects.exists()


def test_a_rate_card_whose_quote_never_closes_is_refused_naming_the_line(admin_client, service):
    text = csv_text("zone,max_weight_kg,price", "2,1,5.00", '3,"1,6.00', "4,1,7.00")

    page = page_text(post_file(admin_client, reverse("admin:shipping_carrierservice_import", args=[service.pk]), text))

    assert UNCLOSED in page
    assert list(Rate.objects.values_list("zone", "price")) == [(2, Decimal("9.00"))]  # the old card stands


def test_a_quoted_cell_over_two_lines_is_still_one_cell(admin_client, catalogue, django_capture_on_commit_callbacks):
    text = csv_text("warehouse,sku,quantity,reference,note", 'DAL,TEE-M,1,PO-1,"pallet 1\nof 2"', "DAL,MUG,2,PO-1,")

    with django_capture_on_commit_callbacks(execute=True):
        post_file(admin_client, upload_url("stock_receipt"), text)

    job = ImportJob.objects.get()
    assert (job.created_count, job.failed_count) == (2, 0)


# --- a NUL character ---------------------------------------------------------------


def test_a_nul_in_an_order_file_refuses_its_row_naming_the_column_and_imports_the_rest(
    admin_client, catalogue, django_capture_on_commit_callbacks
):
    text = csv_text(ORDER_HEADER, order_row("W-1"), order_row("W-2", name="Zoë\x00 Müller"), order_row("W-3"))

    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(admin_client, upload_url("order"), text)

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert (job.created_count, job.failed_count) == (2, 1)
    assert [(error["row"], error["field"]) for error in job.error_rows] == [(3, "customer_name")]
    page = page_text(admin_client.get(reverse("admin:inventory_importjob_change", args=[job.pk])))
    assert NUL_MESSAGE in page
    errors_csv = admin_client.get(reverse("admin:inventory_importjob_errors", args=[job.pk])).content.decode()
    assert errors_csv.splitlines()[1].startswith('3,customer_name,"contains a NUL character')

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:inventory_importjob_confirm", args=[job.pk]))

    assert sorted(Order.objects.values_list("external_id", flat=True)) == ["W-1", "W-3"]
    assert not Customer.objects.filter(name__contains="\ufffe").exists()


def test_a_nul_in_a_stock_receipt_refuses_its_row(admin_client, catalogue, django_capture_on_commit_callbacks):
    text = csv_text("warehouse,sku,quantity,reference", "DAL,TEE-M,1,PO-1", "DAL,MUG,2,PO\x00-1")

    with django_capture_on_commit_callbacks(execute=True):
        post_file(admin_client, upload_url("stock_receipt"), text)
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("admin:inventory_importjob_confirm", args=[job.pk]))

    job.refresh_from_db()
    assert [(error["row"], error["field"]) for error in job.error_rows] == [(3, "reference")]
    assert list(StockMovement.objects.values_list("reference", flat=True)) == ["PO-1"]
    assert StockLevel.objects.get(product__sku="TEE-M").on_hand == 1


def test_a_nul_in_a_variant_file_refuses_its_row_naming_the_column(admin_client, catalogue):
    ChannelFactory(code="shopify-us", name="Shopify US")
    text = csv_text("channel,variant_id,sku,title", "shopify-us,1,TEE-M,Tee", "shopify-us,2,MU\x00G,Mug")

    page = page_text(post_file(admin_client, reverse("admin:orders_channelvariant_import"), text))

    assert f"row 3: sku {NUL_MESSAGE}" in page
    assert list(ChannelVariant.objects.values_list("variant_id", flat=True)) == ["1"]


def test_a_nul_in_a_rate_card_is_a_row_error_naming_the_column(admin_client, service):
    text = csv_text("zone,max_weight_kg,price", "2,1,5.00", "3,1,6\x00.00")

    response = post_file(admin_client, reverse("admin:shipping_carrierservice_import", args=[service.pk]), text)

    page = page_text(response)
    assert '<td class="num">3</td><td>price</td>' in page
    assert list(Rate.objects.values_list("zone", "price")) == [(2, Decimal("9.00"))]


def test_a_utf16_file_read_as_utf8_is_refused_for_what_it_is(admin_client, catalogue):
    text = "warehouse,sku,quantity,reference\nDAL,TEE-M,1,PO-1\n".encode("utf-16-le").decode("utf-8")

    page = page_text(post_file(admin_client, upload_url("stock_receipt"), text))

    assert "looks like UTF-16 text" in page
    assert not ImportJob.objects.exists()
