"""Setting up a business customer in a real Chromium: from the customer's page to its setup form and back to its
checklist, a step confirmed with who and when, and its page in the manual.

With OMS_UPDATE_SCREENSHOTS=1 the customer's page with its business setup is also written to
docs/screenshots/business-customer.png.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from orders.models import BusinessProfile, SetupCheck
from tests.browser.conftest import page  # noqa: F401  (the fixture: a fresh Chromium page)
from tests.factories import CustomerFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_sets_up_a_business_customer_and_confirms_a_step(live_server, page, roles, sites):  # noqa: F811
    # given an operations manager and a customer that is not a business customer yet
    customer = CustomerFactory(name="Acme Wholesale", email="orders@acme.example")
    UserFactory(username="manager", first_name="Maya", last_name="Lindqvist", role="Operations manager")
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")

    # when she opens the customer's page and sets it up: Dallas first, never Edison, how to pack, who to copy
    page.goto(f"{live_server.url}/admin/orders/customer/{customer.pk}/change/")
    expect(page.locator("#business-setup")).to_contain_text("Not a business customer")
    page.click("#business-setup-link")
    page.select_option("#id_kind", "wholesale")
    page.fill("#id_account_number", "AC-1001")
    page.check(f"#id_default_warehouses input[value='{sites['DAL'].pk}']")
    page.check(f"#id_excluded_warehouses input[value='{sites['EWR'].pk}']")
    page.fill("#id_packing_instructions", "One pallet per order, shrink-wrapped.\nPlain cartons only.")
    page.fill("#id_slip_brand_name", "Acme Supply Co.")
    page.fill("#id_credit_limit", "5000.00")
    page.fill("#id_payment_terms_days", "30")
    page.fill("#id_contacts-0-name", "Dock office")
    page.fill("#id_contacts-0-email", "dock@acme.example")
    page.click("input[name=_save]")

    # then she is back on the customer's page with the setup and its checklist, nothing confirmed yet
    expect(page.locator(".messagelist")).to_contain_text("Acme Wholesale is set up as a business customer.")
    expect(page.locator("#business-summary")).to_contain_text("Wholesale account, account AC-1001")
    expect(page.locator("#business-summary")).to_contain_text("net 30 · credit limit 5000.00 USD")
    expect(page.locator("#business-progress")).to_have_text("0 of 7 steps done")
    warehouses = page.locator('#business-checklist tr[data-step="warehouses"]')
    expect(warehouses).to_contain_text("default: DAL; excluded: EWR")
    expect(page.locator("#business-packing-instructions")).to_contain_text("Plain cartons only.")

    # when she confirms the warehouses step
    warehouses.locator("input[type=submit]").click()

    # then the row says done, by her, and the count follows
    warehouses = page.locator('#business-checklist tr[data-step="warehouses"]')
    expect(warehouses.locator(".business-step-state")).to_have_text("done")
    expect(warehouses).to_contain_text("Maya Lindqvist")
    expect(page.locator("#business-progress")).to_have_text("1 of 7 steps done")
    profile = BusinessProfile.objects.get(customer=customer)
    assert SetupCheck.objects.get(profile=profile, step="warehouses").done
    if os.environ.get("OMS_UPDATE_SCREENSHOTS") == "1":
        page.evaluate("() => window.scrollTo(0, document.querySelector('#business-setup').offsetTop - 70)")
        page.screenshot(
            path=str(Path(settings.BASE_DIR) / "docs" / "screenshots" / "business-customer.png"),
            animations="disabled",
            caret="hide",
        )

    # and the manual's page for the customer says the same
    page.click("#business-manual-link")
    article = page.locator(f"#customer-{customer.pk}")
    expect(article.locator("tr", has_text="Never ships from")).to_contain_text("EWR")
    expect(article).to_contain_text("One pallet per order, shrink-wrapped.")
    expect(article).to_contain_text("by Maya Lindqvist")
