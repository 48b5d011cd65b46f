"""Receive and inspect a return in a real browser: the RMA page → Receive → Inspect → stock and timeline."""

import pytest
from playwright.sync_api import expect

from inventory.models import StockLevel, StockMovement
from orders.returns import services
from orders.returns.models import ReturnStatus
from tests.factories import UserFactory
from tests.returns.conftest import carrier, lines_of, mug, shipped_order, shirt  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_returns_associate_receives_and_inspects_a_return(live_server, page, roles, sites, shipped_order, shirt):  # noqa: F811
    # given a shipped order whose customer returned 2 damaged tees (authorised by the policy at once)
    order = shipped_order()
    rma = services.open_return(
        order_id=order.pk, lines={lines_of(order)["TEE-1"]: 2}, reason="damaged", actor="customer service"
    )
    assert rma.status == ReturnStatus.AUTHORISED
    UserFactory(username="rosa", role="Returns associate")

    # when Rosa logs in and opens the return from the queue
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "rosa")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/returns/returnrequest/?status__exact=authorised")
    page.click(f"text={rma.number}")
    expect(page.locator(".field-status_badge .oms-badge")).to_have_text("Authorised")

    # receives both tees at Edison
    page.click("a[data-step=receive]")
    row = page.locator("#returns-lines tr[data-sku='TEE-1']")
    expect(row.locator("input")).to_have_value("2")
    page.select_option("#id_warehouse", label=str(sites["EWR"]))
    page.click("input[name=confirm]")
    expect(page.locator("ul.messagelist")).to_contain_text(f"{rma.number} received.")
    expect(page.locator(".field-status_badge .oms-badge")).to_have_text("Received")

    # inspects: one back on sale, one written off; first forgetting the reason
    page.click("a[data-step=inspect]")
    row = page.locator("#returns-lines tr[data-sku='TEE-1']")
    row.locator("input[name^=restock_]").fill("1")
    row.locator("input[name^=writeoff_]").fill("1")
    page.click("input[name=confirm]")
    expect(page.locator(".errornote")).to_contain_text("Nothing was changed.")
    expect(page.locator("ul.errorlist")).to_contain_text("TEE-1: a reason is required to write off 1.")
    page.locator("#returns-lines tr[data-sku='TEE-1'] input[name^=reason_]").fill("crushed box, torn")
    page.click("input[name=confirm]")

    # then the page shows the return inspected, with what went where, and the refund step next
    expect(page.locator("ul.messagelist")).to_contain_text(f"{rma.number} inspected; stock updated.")
    expect(page.locator(".field-status_badge .oms-badge")).to_have_text("Inspected")
    line_row = page.locator("#rma-lines tr[data-sku='TEE-1']")
    expect(line_row).to_contain_text("crushed box, torn")
    expect(line_row).to_contain_text("8.00")  # one unit's cost written off
    expect(page.locator("a[data-step=refund]")).to_be_visible()

    # and the ledger and the timeline say the same
    rma.refresh_from_db()
    assert rma.status == ReturnStatus.INSPECTED
    assert StockLevel.objects.get(warehouse=sites["EWR"], product=shirt).on_hand == 1
    assert sorted(StockMovement.objects.filter(reference=rma.number).values_list("kind", "quantity")) == [
        ("return_restock", 1),
        ("return_restock", 1),
        ("write_off", -1),
    ]
    assert set(order.events.filter(kind="return", actor_name="rosa").values_list("data__to", flat=True)) == {
        ReturnStatus.RECEIVED,
        ReturnStatus.INSPECTED,
    }
