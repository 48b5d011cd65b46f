"""A returns associate in a real browser, from a shipped order to a settled refund: open the return, receive,
inspect, refund, then mark the refund settled with the bank transfer's reference."""

import pytest
from playwright.sync_api import expect

from orders.returns.models import Refund, ReturnRequest, ReturnStatus
from tests.factories import UserFactory
from tests.returns.conftest import carrier, mug, shipped_order, shirt  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_returns_associate_takes_a_return_from_the_order_to_a_settled_refund(
    live_server,
    page,
    roles,
    sites,
    shipped_order,  # noqa: F811
):
    # given a shipped order paid outside any gateway (3 tees, 2 mugs; 89.20 paid) and Rosa, a returns associate
    order = shipped_order()
    UserFactory(username="rosa", role="Returns associate")
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "rosa")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")

    # when she opens a return of one damaged tee from the order's page (damaged: authorised at once)
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    page.click("a[data-action=open-return]")
    page.locator("#returns-lines tr[data-sku='TEE-1'] input").fill("1")
    page.select_option("#id_reason", "damaged")
    page.click("input[name=confirm]")
    rma = ReturnRequest.objects.get(order=order)
    expect(page.locator("ul.messagelist")).to_contain_text(f"Return {rma.number} opened (authorised).")

    # receives it at Edison, inspects it (back on sale), and confirms the refund the page computed
    page.click("a[data-step=receive]")
    page.select_option("#id_warehouse", label=str(sites["EWR"]))
    page.click("input[name=confirm]")
    expect(page.locator(".field-status_badge .oms-badge")).to_have_text("Received")
    page.click("a[data-step=inspect]")
    expect(page.locator("#returns-lines tr[data-sku='TEE-1'] input[name^=restock_]")).to_have_value("1")
    page.click("input[name=confirm]")
    expect(page.locator(".field-status_badge .oms-badge")).to_have_text("Inspected")
    page.click("a[data-step=refund]")
    expect(page.locator("#quote-amount")).to_have_text("29.80 USD")  # 20.00 − 2.00 + 1.80 tax + 10.00 shipping
    page.click("input[name=confirm]")
    expect(page.locator("ul.messagelist")).to_contain_text(f"{rma.number}: refund of 29.80 USD recorded, to settle.")

    # the return now offers "Close return" (not a bare "Close" beside the page's own Close button)
    expect(page.locator("a[data-step=close]")).to_have_text("Close return")

    # opens the refund from the return: it names the return and shows how the amount was computed
    page.click("#rma-refunds a:has-text('29.80 USD')")
    expect(page.locator(".field-status_badge .oms-badge")).to_have_text("Recorded, to settle")
    expect(page.locator("#refund-rma")).to_have_text(rma.number)
    expect(page.locator("#refund-breakdown-lines tr[data-sku='TEE-1']")).to_contain_text("20.00")
    expect(page.locator("#refund-breakdown-totals tr[data-row=amount]")).to_contain_text("29.80 USD")

    # pays it back by bank transfer (elsewhere), then marks it settled with the transfer's reference
    page.click("a[data-action=mark-settled]")
    page.select_option("#id_method", label="Bank transfer")
    page.fill("#id_reference", "BT-2291")
    page.click("input[name=confirm]")

    # then the refund page says settled, how, with the reference, by her
    expect(page.locator("ul.messagelist")).to_contain_text("marked settled: bank transfer, reference BT-2291.")
    expect(page.locator(".field-status_badge .oms-badge")).to_have_text("Settled")
    expect(page.locator(".fieldBox.field-settlement_reference .readonly")).to_have_text("BT-2291")
    expect(page.locator(".fieldBox.field-settlement_method .readonly")).to_have_text("Bank transfer")
    expect(page.locator(".fieldBox.field-settled_by_name .readonly")).to_have_text("rosa")
    expect(page.locator("a[data-action=mark-settled]")).to_have_count(0)

    # and the records agree: the refund, the return, the order's timeline
    refund = Refund.objects.get(rma=rma)
    assert (refund.status, refund.settlement_method, refund.settlement_reference) == (
        Refund.Status.SETTLED,
        "bank_transfer",
        "BT-2291",
    )
    assert refund.settled_by.username == "rosa" and refund.settled_at is not None
    assert ReturnRequest.objects.get(pk=rma.pk).status == ReturnStatus.REFUNDED
    assert order.events.filter(kind="refund", actor_name="rosa", message__contains="reference BT-2291").exists()
