"""The 3PL console in a real browser: an associate reads a connection's health, finds a dead letter with its
payload, and resends it to the (simulated) 3PL, which takes it."""

import pytest
from playwright.sync_api import expect

from orders.partners.models import Direction, MessageKind, MessageStatus, PartnerMessage
from tests.factories import UserFactory
from tests.partners.conftest import connection, simulator  # noqa: F401 - fixtures used here
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_associate_reads_the_health_and_resends_a_dead_letter(live_server, page, roles, connection, simulator):  # noqa: F811
    dead = PartnerMessage.objects.create(
        connection=connection,
        direction=Direction.OUT,
        kind=MessageKind.ITEM_SYNC,
        key="item:TEE-1:resend-me",
        payload={"sku": "ACME-TEE", "name": "Tee"},
        status=MessageStatus.DEAD,
        attempts=8,
        last_error="HTTP 503 from the 3PL",
    )
    UserFactory(username="ava", role="Operations associate")

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "ava")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")

    # the health page: one row per connection, a dead letter waiting
    page.goto(f"{live_server.url}/admin/partners/partnerconnection/")
    row = page.locator("#result_list tbody tr", has_text="Acme Fulfilment")
    expect(row.locator("td.field-dead_letters")).to_have_text("1")
    expect(row.locator("td.field-oldest_unacknowledged")).to_have_text("none")

    # the dead letters: the message, its error and its payload
    page.goto(f"{live_server.url}/admin/partners/deadletter/")
    expect(page.locator("#result_list")).to_contain_text("item:TEE-1:resend-me")
    expect(page.locator("#result_list")).to_contain_text("HTTP 503 from the 3PL")
    page.goto(f"{live_server.url}/admin/partners/partnermessage/{dead.pk}/change/")
    expect(page.locator(".field-payload_display pre")).to_contain_text('"sku": "ACME-TEE"')

    # resend: the 3PL takes it, and the dead letters are empty again
    page.goto(f"{live_server.url}/admin/partners/deadletter/")
    page.check(f"input[name=_selected_action][value='{dead.pk}']")
    page.select_option("select[name=action]", "resend_selected")
    page.click("button[name=index]")
    expect(page.locator("ul.messagelist")).to_contain_text("queued again")
    expect(page.locator("#result_list")).to_have_count(0)
    dead.refresh_from_db()
    assert dead.status == MessageStatus.SENT
    assert simulator.taken == [("item:TEE-1:resend-me", "item_sync")]
