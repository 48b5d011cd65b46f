"""The console's screenshots in docs/screenshots/, as an operations manager sees a small seeded demo.

README.md and the user guide show these PNGs. They are written only when OMS_UPDATE_SCREENSHOTS=1 is set:
``OMS_UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_screenshots.py``; look at each
before committing it.
"""

import io
import os
import struct
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import expect

from orders.models import Order, OrderStatus
from tests.factories import UserFactory

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
WIDTH, HEIGHT = 1400, 1000
MAX_BYTES = 300_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        os.environ.get("OMS_UPDATE_SCREENSHOTS") != "1",
        reason="writes docs/screenshots/ only when OMS_UPDATE_SCREENSHOTS=1 is set",
    ),
]


def png_size(path: Path) -> tuple[int, int]:
    """A PNG's width and height, from its IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", header[16:24])


def shoot(page, name: str) -> Path:
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    assert png_size(path) == (WIDTH, HEIGHT)
    assert path.stat().st_size < MAX_BYTES, f"{name} is {path.stat().st_size:,} bytes"
    return path


def test_the_console_screenshots_of_the_demo(live_server, page, roles, tmp_path, settings):
    # given the demo as make run loads it (the story, and a few history orders), and an operations manager
    settings.ACCOUNTING_EXPORT_DIR = str(tmp_path)
    call_command("seed_demo", orders=40, seed=1, stdout=io.StringIO())
    UserFactory(username="manager", first_name="Maya", last_name="Lindqvist", role="Operations manager")
    shown = (
        Order.objects.filter(status=OrderStatus.DELIVERED, payment_gateway="test_card", shipments__isnull=False)
        .order_by("-placed_at")
        .first()
    )
    assert page.viewport_size == {"width": WIDTH, "height": HEIGHT}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # when she signs in, she lands on the dashboard: the queue by status and the panels that need her
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "manager")
    page.fill("#id_password", "correct-horse-battery")
    page.click("input[type=submit]")
    expect(page.locator("#panel-on_hold")).to_be_visible()
    expect(page.locator("#panel-on_hold")).to_contain_text("SO-")
    shoot(page, "dashboard.png")

    # the order list, newest first
    page.goto(f"{live_server.url}/admin/orders/order/")
    expect(page.locator("#result_list tbody tr").first).to_be_visible()
    assert page.locator("#result_list tbody tr").count() >= 40
    shoot(page, "orders.png")

    # and a delivered card order: its lines, shipments and timeline
    page.goto(f"{live_server.url}/admin/orders/order/{shown.pk}/change/")
    expect(page.locator("#content > h2")).to_have_text(shown.number)
    expect(page.locator(".oms-badge").first).to_have_text("Delivered")
    shoot(page, "order.png")
