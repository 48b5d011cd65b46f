"""`make run`'s demo logins: the role users and a web store API key that works, the same on every run."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import ChannelFactory, ProductFactory

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
