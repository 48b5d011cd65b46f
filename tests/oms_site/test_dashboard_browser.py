"""The dashboard's order-queue tiles in a real Chromium: every status label shows whole, at desk and laptop widths."""

import pytest

from orders.models import OrderStatus
from tests.browser.conftest import page  # noqa: F401  (the fixture: a fresh Chromium page)
from tests.factories import OrderFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Each tile's label, as (text, the width it needs, the width it has).
LABELS = """() => [...document.querySelectorAll('.oms-tile-label')].map(
    (label) => [label.textContent.trim(), label.scrollWidth, label.clientWidth])"""


@pytest.mark.parametrize("width", [1400, 1024, 800])
def test_every_queue_tile_shows_its_whole_label(live_server, page, roles, width):  # noqa: F811
    UserFactory(username="olivia", role="Operations associate")
    OrderFactory(status=OrderStatus.PARTIALLY_SHIPPED)
    page.set_viewport_size({"width": width, "height": 900})

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    page.wait_for_selector(".oms-queue")

    labels = page.evaluate(LABELS)
    assert len(labels) == len(OrderStatus.values)
    assert "Partially shipped" in [text for text, _, _ in labels]
    cut = [text for text, needed, shown in labels if needed > shown]
    assert cut == [], f"cut at {width}px: {cut}"
