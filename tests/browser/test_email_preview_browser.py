"""An email's HTML part as staff see it in the console: the outbox message page and the template preview."""

import pytest
from playwright.sync_api import expect

from orders.services import notify
from tests.factories import UserFactory
from tests.notifications.factories import realistic_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username)


def test_the_outbox_message_page_shows_the_html_email(live_server, page, roles):
    # given an order confirmation in the outbox
    order = realistic_order()
    [message_id] = notify.order_received(order)
    UserFactory(username="olga", role="Operations manager")

    # when an operations manager opens the message
    log_in(page, live_server, "olga")
    page.goto(f"{live_server.url}/admin/notifications/message/{message_id}/change/")

    # then the HTML part is drawn in its frame, with the order and its lines
    email = page.frame_locator("iframe[title='HTML part']")
    expect(email.locator("body")).to_contain_text(f"Order {order.number}")
    expect(email.locator("body")).to_contain_text("Stoneware mug & saucer <set>")
    # and the frame runs no script
    assert page.locator("iframe[title='HTML part']").get_attribute("sandbox") == ""


def test_the_template_preview_shows_the_html_email(live_server, page, roles):
    # given an order that had a confirmation
    order = realistic_order()
    notify.order_received(order)
    UserFactory(username="mara", role="Operations manager")

    # when an operator starts an override of the confirmation and previews it on that order
    log_in(page, live_server, "mara")
    page.goto(f"{live_server.url}/admin/notifications/messagetemplate/add/?event=order_received")
    page.fill("#id_preview_order", order.number)
    page.click("#oms-preview-button")

    # then the preview frame draws the HTML part with the order in it
    preview = page.frame_locator("iframe[name='oms-preview']")
    expect(preview.locator("#preview-subject")).to_contain_text(order.number)
    email = preview.frame_locator("#preview-html")
    expect(email.locator("body")).to_contain_text(f"Order {order.number}")
    expect(email.locator("body")).to_contain_text("Stoneware mug & saucer <set>")
    assert preview.locator("#preview-html").get_attribute("sandbox") == ""
