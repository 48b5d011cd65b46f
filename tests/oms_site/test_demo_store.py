"""The demo store's product page (/demo-store/): the snippet embedded as a store embeds it, on the demo channel."""

import io

import pytest
from django.core.management import call_command

from orders.models import Channel
from orders.services.channels import rotate_publishable_key
from tests.factories import ChannelFactory, ProductFactory

pytestmark = pytest.mark.django_db


def test_the_page_embeds_the_snippet_with_the_demo_channels_key(client, settings):
    settings.DEMO_STORE_ENABLED = True
    channel = ChannelFactory(code="webstore", name="Web store")
    channel = rotate_publishable_key(channel_id=channel.pk, actor="test")
    ProductFactory(sku="TEE-M", name="Organic cotton tee · M")

    page = client.get("/demo-store/").content.decode()

    assert f'data-key="{channel.publishable_key}" data-sku="TEE-M" defer' in page
    assert "/static/storefront/delivery-promise.js" in page and "/static/storefront/delivery-promise.css" in page
    assert "<script>" not in page and "style=" not in page  # the CSP's rules: no inline script or style


def test_without_a_key_the_page_says_how_to_set_it_up(client, settings):
    settings.DEMO_STORE_ENABLED = True
    ChannelFactory(code="webstore", name="Web store")
    ProductFactory(sku="TEE-M")

    page = client.get("/demo-store/").content.decode()

    assert "data-key" not in page and "Issue publishable key" in page


def test_the_page_is_off_unless_enabled(client, settings):
    settings.DEMO_STORE_ENABLED = False

    assert client.get("/demo-store/").status_code == 404


def test_the_seed_gives_the_web_store_a_key_and_allows_the_omss_own_origin(settings):
    settings.OMS_BASE_URL = "http://127.0.0.1:8765/"

    call_command("seed_demo", orders=0, story=False, stdout=io.StringIO())

    channel = Channel.objects.get(code="webstore")
    assert channel.publishable_key.startswith("pk_")
    assert channel.origins == ["http://127.0.0.1:8765"]
    # and a second seed keeps the key
    call_command("seed_demo", orders=0, story=False, stdout=io.StringIO())
    assert Channel.objects.get(code="webstore").publishable_key == channel.publishable_key
