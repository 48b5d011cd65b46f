"""A warehouse user imports stock receipts from a CSV file in a real browser: upload, dry run, confirm."""

import pytest
from playwright.sync_api import expect

from inventory.models import StockLevel, StockMovement
from tests.factories import ProductFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = """warehouse,sku,quantity,reference,note
EWR,TEE-1,12,PO-77,pallet 1
EWR,NOPE-9,3,PO-77,
DAL,TEE-1,-4,PO-77,
"""


def test_warehouse_staff_import_receipts_seeing_the_bad_rows_before_anything_is_written(
    live_server, page, roles, sites, tmp_path
):
    tee = ProductFactory(sku="TEE-1", name="Tee")
    UserFactory(username="wes", role="Warehouse staff")
    upload = tmp_path / "receipts.csv"
    upload.write_text(CSV, encoding="utf-8")

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "wes")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/inventory/importjob/upload/stock_receipt/")
    page.set_input_files("input[type=file]", str(upload))
    page.click("input[value='Upload and check']")

    # the dry run: one receipt would be made, the two bad rows named by row and field; nothing written yet
    expect(page.locator("#import-status")).to_have_attribute("data-status", "dry_run_done")
    expect(page.locator("#count-created")).to_have_text("1")
    errors = page.locator("#import-errors")
    expect(errors).to_contain_text("NOPE-9")
    expect(errors.locator("tr", has_text="quantity")).to_contain_text("4")
    assert not StockMovement.objects.exists()

    page.click("#confirm-import")

    expect(page.locator("#import-done")).to_contain_text("Imported: 1")
    assert StockLevel.objects.get(warehouse=sites["EWR"], product=tee).on_hand == 12
    assert list(StockMovement.objects.values_list("kind", "quantity", "reference")) == [("receipt", 12, "PO-77")]
