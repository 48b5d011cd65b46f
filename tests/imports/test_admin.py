"""The console's CSV imports, through the test client: upload → dry run → confirm, and who may do it."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from inventory.models import ImportJob, StockLevel
from orders.models import Order

from .conftest import ORDER_HEADER, csv_text, order_row

pytestmark = pytest.mark.django_db


def upload(client, kind: str, text: str, **fields):
    file = SimpleUploadedFile("upload.csv", text.encode("utf-8"), content_type="text/csv")
    return client.post(reverse("admin:inventory_importjob_upload", args=[kind]), {"file": file, **fields})


def test_a_manager_imports_orders_from_the_order_list(client, catalogue, role_user, django_capture_on_commit_callbacks):
    client.force_login(role_user("Operations manager"))
    order_list = client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert 'data-action="import-orders"' in order_list
    assert client.get(reverse("admin:inventory_importjob_upload", args=["order"])).status_code == 200
    text = csv_text(
        ORDER_HEADER,
        order_row("W-1", channel=""),
        order_row("W-2", channel="", quantity="lots", email="b@example.com"),
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, "order", text, channel=catalogue["channel"].pk)

    job = ImportJob.objects.get()
    job_url = reverse("admin:inventory_importjob_change", args=[job.pk])
    assert response.status_code == 302 and response["Location"] == job_url
    page = client.get(job_url).content.decode()
    assert "would be created" in page
    assert 'id="import-preview"' in page and "W-1" in page
    assert "&#x27;lots&#x27; is not a whole number above 0" in page  # the bad row, with its reason
    assert 'id="confirm-import"' in page
    assert page.index('id="confirm-import"') < page.index('id="importjob_form"')  # its own form, not nested
    assert not Order.objects.exists()
    status = client.get(reverse("admin:inventory_importjob_status", args=[job.pk])).json()
    assert (status["status"], status["processed"], status["total"], status["created"]) == ("dry_run_done", 2, 2, 1)
    errors_csv = client.get(reverse("admin:inventory_importjob_errors", args=[job.pk])).content.decode()
    assert errors_csv.splitlines()[1].startswith("3,quantity,")

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(reverse("admin:inventory_importjob_confirm", args=[job.pk]))

    assert confirmed.status_code == 302
    assert list(Order.objects.values_list("external_id", flat=True)) == ["W-1"]
    page = client.get(job_url).content.decode()
    assert "Imported: 1 order created, 0 already there, 1 refused." in page


def test_warehouse_staff_import_receipts_from_the_stock_list(
    client, catalogue, role_user, django_capture_on_commit_callbacks
):
    client.force_login(role_user("Warehouse staff"))
    stock_list = client.get(reverse("admin:inventory_stocklevel_changelist")).content.decode()
    assert 'data-action="import-receipts"' in stock_list

    with django_capture_on_commit_callbacks(execute=True):
        upload(client, "stock_receipt", csv_text("warehouse,sku,quantity,reference", "DAL,TEE-M,12,ASN-7"))
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:inventory_importjob_confirm", args=[job.pk]))

    assert StockLevel.objects.get(warehouse__code="DAL", product__sku="TEE-M").on_hand == 12
    assert client.get(reverse("admin:inventory_importjob_changelist")).status_code == 200


def test_a_bad_header_is_shown_on_the_upload_page_and_nothing_is_queued(client, catalogue, superuser):
    client.force_login(superuser)

    response = upload(client, "stock_receipt", csv_text("warehouse,sku,qty", "DAL,TEE-M,1"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "quantity, reference" in page and "missing columns" in page
    assert "qty" in page and "unknown column" in page
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("role", "orders_allowed", "receipts_allowed"),
    [
        ("Operations manager", True, True),
        ("Operations associate", True, False),
        ("Warehouse staff", False, True),
        ("Returns associate", False, False),
    ],
)
def test_only_the_roles_that_own_an_import_may_upload_or_confirm_it(
    client, catalogue, role_user, orders_allowed, receipts_allowed, role, dry_run
):
    order_job = dry_run("order", csv_text(ORDER_HEADER, order_row("W-1")))
    receipt_job = dry_run("stock_receipt", csv_text("warehouse,sku,quantity,reference", "DAL,MUG,1,R"))
    client.force_login(role_user(role))

    for kind, job, allowed in (("order", order_job, orders_allowed), ("stock_receipt", receipt_job, receipts_allowed)):
        page = client.get(reverse("admin:inventory_importjob_upload", args=[kind]))
        assert page.status_code == (200 if allowed else 403), kind
        assert upload(client, kind, "anything").status_code == (200 if allowed else 403), kind
        confirm = client.post(reverse("admin:inventory_importjob_confirm", args=[job.pk]))
        assert confirm.status_code == (302 if allowed else 403), kind
        job.refresh_from_db()
        assert (job.status == ImportJob.Status.DRY_RUN_DONE) == (not allowed), kind

    order_list = client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert ('data-action="import-orders"' in order_list) == orders_allowed


@pytest.mark.parametrize(
    ("role", "sees_jobs"),
    [
        ("Operations manager", True),
        ("Operations associate", True),
        ("Warehouse staff", True),
        ("Returns associate", False),
    ],
)
def test_the_job_pages_open_for_the_roles_that_import(client, catalogue, role_user, dry_run, role, sees_jobs):
    bad = dry_run("stock_receipt", csv_text("warehouse,sku,quantity,reference", "DAL,NOPE,1,R"))
    client.force_login(role_user(role))
    expected = 200 if sees_jobs else 403

    assert client.get(reverse("admin:inventory_importjob_changelist")).status_code == expected
    page = client.get(reverse("admin:inventory_importjob_change", args=[bad.pk]))
    assert page.status_code == expected
    assert client.get(reverse("admin:inventory_importjob_status", args=[bad.pk])).status_code == expected
    if sees_jobs:
        assert "unknown SKU &#x27;NOPE&#x27;" in page.content.decode()
        assert 'id="nothing-to-import"' in page.content.decode()


def test_a_running_job_shows_a_progress_bar_that_updates_with_or_without_javascript(client, superuser, catalogue):
    job = ImportJob.objects.create(
        kind="order", file_name="big.csv", content="", total_rows=10_000, processed_rows=2_400
    )
    client.force_login(superuser)

    page = client.get(reverse("admin:inventory_importjob_change", args=[job.pk])).content.decode()

    assert '<progress id="import-progress" max="10000" value="2400">24%</progress>' in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert reverse("admin:inventory_importjob_status", args=[job.pk]) in page  # what the script polls
    assert 'id="confirm-import"' not in page
