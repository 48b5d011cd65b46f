"""The operations manual in a real Chromium: a reader opens it from the sidebar, follows the contents to a
section and to a procedure, with no Content-Security-Policy refusal on the way (the fixture checks that).

With OMS_UPDATE_SCREENSHOTS=1 it also writes docs/screenshots/manual.png, as tests/browser/test_screenshots.py
writes the console's other screenshots.
"""

import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from oms_site import roles as role_table
from oms_site.manual import services
from oms_site.manual.sections import sections_for
from shipping.models import CarrierService, TransitTime, Vendor
from tests.browser.conftest import page  # noqa: F401  (the fixture: a fresh Chromium page)
from tests.factories import UserFactory, WarehouseFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = Path(settings.BASE_DIR) / "docs" / "screenshots" / "manual.png"


def test_a_reader_follows_the_manuals_contents_to_a_section_and_a_procedure(live_server, page, roles):  # noqa: F811
    manager = UserFactory(username="maya", first_name="Maya", last_name="Lindqvist", role=role_table.OPERATIONS_MANAGER)
    olivia = UserFactory(username="olivia", first_name="Olivia", last_name="Chen", role=role_table.OPERATIONS_ASSOCIATE)
    WarehouseFactory(code="DAL", name="Dallas")
    vendor = Vendor.objects.create(code="rapid", name="Rapid Air", tracking_prefix="RA", tracking_digits=10)
    service = CarrierService.objects.create(vendor=vendor, code="2DAY", name="Two day", max_weight_kg=Decimal("30"))
    for zone in range(2, 9):
        TransitTime.objects.create(service=service, zone=zone, business_days=2 if zone < 6 else 3)
    services.create_procedure(
        slug="hold-review",
        title="Reviewing held orders",
        governs="hold_review",
        body="## Every morning\n\n1. Open the **on-hold** list.\n2. Read why each order is held.",
        actor=manager,
    )

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")

    # the sidebar's Manual group opens the contents
    page.locator("#oms-nav a[data-model='oms_site.manual']").click()
    expect(page.locator("#manual-contents")).to_be_visible()
    expect(page.locator("#manual-contents li")).to_have_count(len(sections_for(olivia)))

    # the contents beside the page lead to a section, written from the configuration
    page.locator("#manual-toc a", has_text="Vendors and services").click()
    expect(page).to_have_url(f"{live_server.url}/admin/manual/carriers/")
    expect(page.locator("#transit-rapid tr[data-service='2DAY']")).to_contain_text("3")
    expect(page.locator("#manual-toc a.current")).to_have_text("Vendors and services")

    # and to the state diagram, drawn on the server
    page.locator("#manual-toc a", has_text="Order states and transitions").click()
    diagram = page.locator("#order-diagram")
    expect(diagram).to_be_visible()
    assert diagram.bounding_box()["width"] > 400
    if os.environ.get("OMS_UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(SCREENSHOT), animations="disabled", caret="hide")
        assert SCREENSHOT.stat().st_size < 300_000

    # the procedures, and one of them
    page.locator("#manual-toc a", has_text="Standard operating procedures").click()
    page.locator("#procedure-list a", has_text="Reviewing held orders").click()
    expect(page.locator("#procedure-text h2")).to_have_text("Every morning")
    expect(page.locator("#procedure-edit")).to_have_count(0)  # an associate reads; only managers write

    # the on-hold list shows the procedure, folded until opened
    page.goto(f"{live_server.url}/admin/orders/order/?status__exact=on_hold")
    shown = page.locator("#procedure-on-page")
    expect(shown).to_contain_text("Procedure: Reviewing held orders")
    expect(shown.locator(".manual-procedure")).to_be_hidden()
    shown.locator("summary").click()
    expect(shown.locator(".manual-procedure")).to_contain_text("Read why each order is held.")
