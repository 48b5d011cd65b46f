"""An operator in a real browser: log in, find an order, hold it, see it on the timeline."""

import pytest
from playwright.sync_api import expect

from orders.models import OrderEvent, OrderStatus
from tests.factories import CustomerFactory, OrderFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_finds_an_order_puts_it_on_hold_and_sees_the_event(live_server, page, roles):
    # given an operations associate and a few orders
    UserFactory(username="olivia", role="Operations associate")
    target = OrderFactory(status=OrderStatus.ALLOCATED, customer=CustomerFactory(name="Marguerite Okafor"))
    OrderFactory.create_batch(3, status=OrderStatus.ALLOCATED)

    # when she logs in
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    expect(page.locator("#panel-on_hold")).to_be_visible()

    # finds the order by the customer's name
    page.goto(f"{live_server.url}/admin/orders/order/")
    page.fill("#searchbar", "Okafor")
    page.press("#searchbar", "Enter")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(target.number)
    rows.first.locator("th a").click()
    expect(page.locator("#content > h2")).to_have_text(target.number)

    # puts it on hold with a reason
    page.click("a[data-action=hold]")
    page.select_option("#id_hold_type", "customer_request")
    page.fill("#id_reason", "Customer asked us to wait for a new address")
    page.click("input[type=submit][value^='Put on hold']")

    # then she is back on the order, told it worked, and the timeline shows it with her name
    expect(page.locator("ul.messagelist")).to_contain_text(f"{target.number} put on a customer request hold.")
    last_event = page.locator("#timeline .timeline-entry").first  # newest first
    expect(last_event).to_contain_text("Put on hold: Customer asked us to wait for a new address")
    expect(last_event).to_contain_text("olivia")
    expect(page.locator(".oms-badge").first).to_have_text("On hold")
    target.refresh_from_db()
    assert target.status == OrderStatus.ON_HOLD
    assert target.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED, actor_name="olivia").count() == 1
