"""`make run`'s demo logins: the role users and a web store API key that works, the same on every run."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import ChannelFactory, ProductFactory, WarehouseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def embedded(settings, tmp_path, roles):
    settings.DEBUG = True
    settings.VAR_DIR = tmp_path
    ChannelFactory(code="webstore", name="Web store")
    ProductFactory(sku="TEE-1")


def printed_key() -> str:
    out = StringIO()
    call_command("create_demo_logins", stdout=out)
    return re.search(r"Bearer (oms_\S+?)'", out.getvalue()).group(1)


def test_the_demo_api_key_works_and_is_the_same_on_the_next_run(client, embedded, tmp_path):
    key = printed_key()

    assert client.get("/api/v1/stock/TEE-1", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert printed_key() == key
    assert (tmp_path / "demo_api_key.txt").stat().st_mode & 0o077 == 0


def test_a_revoked_demo_key_is_replaced(embedded):
    from orders.models import ChannelApiKey

    first = printed_key()
    ChannelApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")

    assert printed_key() != first


def printed(*args) -> str:
    out = StringIO()
    call_command("create_demo_logins", *args, stdout=out)
    return out.getvalue()


def test_the_printed_links_are_where_the_console_is_served(embedded, settings):
    settings.OMS_BASE_URL = "http://127.0.0.1:8765"

    out = printed()

    assert "Demo login:  http://127.0.0.1:8765/admin/" in out
    assert "http://127.0.0.1:8765/api/v1/stock/<sku>" in out and "docs: http://127.0.0.1:8765/api/v1/docs" in out
    assert "demo store (the delivery-date snippet on a product page): http://127.0.0.1:8765/demo-store/" in out
    assert ":8000" not in out


def test_an_explicit_url_wins(embedded):
    out = printed("--url", "http://localhost:9001/")

    assert "Demo login:  http://localhost:9001/admin/" in out
    assert ":8000" not in out


def test_runembedded_serves_where_the_printed_links_point(settings, monkeypatch):
    from oms_site.management.commands import runembedded

    class FakeProcess:  # the Celery worker and beat: not started here
        pid = 4242

        def __init__(self, *args, **kwargs):
            pass

        def terminate(self):
            pass

        def wait(self, timeout=None):
            return 0

    served = []
    monkeypatch.delenv("RUN_MAIN", raising=False)
    monkeypatch.setattr(runembedded.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(runembedded, "call_command", lambda name, addrport: served.append((name, addrport)))
    settings.OMS_BASE_URL = "http://127.0.0.1:8765"
    out = StringIO()

    call_command("runembedded", stdout=out)
    call_command("runembedded", "0.0.0.0:9000", stdout=out)

    assert served == [("runserver", "127.0.0.1:8765"), ("runserver", "0.0.0.0:9000")]
    assert "The console: http://127.0.0.1:8765/admin/" in out.getvalue()


def test_a_demo_seeded_before_warehouse_clocks_gets_its_zones_and_nothing_else_changes(embedded, settings):
    # the demo's Reno, as a database seeded before warehouses had a time zone holds it; a real warehouse that
    # shares Edison's code elsewhere, and a demo warehouse an operator already set
    reno = WarehouseFactory(code="RNO", city="Reno", time_zone=settings.TIME_ZONE, processing_days=1)
    elsewhere = WarehouseFactory(code="EWR", city="Newark", time_zone=settings.TIME_ZONE, processing_days=1)
    set_by_hand = WarehouseFactory(code="DAL", city="Dallas", time_zone="America/Denver", processing_days=2)

    call_command("create_demo_logins", stdout=StringIO())

    reno.refresh_from_db(), elsewhere.refresh_from_db(), set_by_hand.refresh_from_db()
    assert (reno.time_zone, reno.processing_days) == ("America/Los_Angeles", 0)
    assert (elsewhere.time_zone, elsewhere.processing_days) == (settings.TIME_ZONE, 1)
    assert (set_by_hand.time_zone, set_by_hand.processing_days) == ("America/Denver", 2)
