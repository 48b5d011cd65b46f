"""The channels' variant → SKU table in the console: edited by hand, imported from CSV, used by the Shopify webhook."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from orders.models import ChannelVariant, Order
from tests.factories import ChannelFactory, ProductFactory, UserFactory
from tests.orders import test_shopify as webhook

pytestmark = pytest.mark.django_db
IMPORT_URL = "/admin/orders/channelvariant/import/"
LIST_URL = "/admin/orders/channelvariant/"


@pytest.fixture
def store(db):
    return {
        "us": ChannelFactory(code="shopify-us", name="Shopify US", webhook_secret=webhook.SECRET),
        "eu": ChannelFactory(code="shopify-eu", name="Shopify EU"),
        "tee": ProductFactory(sku="TEE-M", name="Organic tee M"),
        "mug": ProductFactory(sku="MUG-1", name="Mug"),
    }


def upload(client, text: str, name: str = "variants.csv"):
    file = SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")
    return client.post(IMPORT_URL, {"file": file})


def refused_rows(page: str) -> list[str]:
    """The report's refused rows, as the page shows them."""
    import html
    import re

    found = re.search(r'<ul class="oms-errors" id="refused-rows">(.*?)</ul>', page, re.S)
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1))] if found else []


# --- by hand


def test_a_variant_is_added_in_the_console_with_its_product_found_by_autocomplete(admin_client, store):
    form = admin_client.get("/admin/orders/channelvariant/add/").content.decode()
    assert 'data-ajax--url="/admin/autocomplete/"' in form  # the product is searched for, not scrolled to
    found = admin_client.get(
        "/admin/autocomplete/",
        {"app_label": "orders", "model_name": "channelvariant", "field_name": "product", "term": "TEE"},
    ).json()
    assert [result["id"] for result in found["results"]] == [str(store["tee"].pk)]

    response = admin_client.post(
        "/admin/orders/channelvariant/add/",
        {
            "channel": store["us"].pk,
            "variant_id": "gid://shopify/ProductVariant/44712345678901",  # as Shopify's admin shows it
            "product": store["tee"].pk,
            "title": "Organic tee - M",
        },
    )

    assert response.status_code == 302, response.content
    variant = ChannelVariant.objects.get()
    assert (variant.channel, variant.variant_id, variant.product, variant.title) == (
        store["us"],
        "44712345678901",  # as the webhook sends it
        store["tee"],
        "Organic tee - M",
    )
    assert LogEntry.objects.get(object_id=str(variant.pk)).action_flag == ADDITION


def test_the_same_variant_twice_on_a_channel_is_refused_in_the_form(admin_client, store):
    ChannelVariant.objects.create(channel=store["us"], variant_id="4471", product=store["tee"])

    response = admin_client.post(
        "/admin/orders/channelvariant/add/",
        {"channel": store["us"].pk, "variant_id": "4471", "product": store["mug"].pk, "title": ""},
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert ChannelVariant.objects.count() == 1


def test_the_list_filters_by_channel_and_finds_a_variant_by_its_id_or_its_sku(admin_client, store):
    ChannelVariant.objects.create(channel=store["us"], variant_id="4471", product=store["tee"], title="Tee M")
    ChannelVariant.objects.create(channel=store["eu"], variant_id="9902", product=store["mug"], title="Mug")

    def listed(**query) -> set[str]:
        response = admin_client.get(LIST_URL, query)
        assert response.status_code == 200
        return {variant.variant_id for variant in response.context["cl"].result_list}

    assert listed() == {"4471", "9902"}
    assert listed(channel__id__exact=store["eu"].pk) == {"9902"}
    assert listed(q="4471") == {"4471"}
    assert listed(q="MUG-1") == {"9902"}
    page = admin_client.get(LIST_URL).content.decode()
    assert 'data-action="import-variants"' in page and "TEE-M" in page


# --- from CSV


def test_a_csv_import_writes_each_good_row_and_names_each_refused_row_and_field(admin_client, store):
    ChannelVariant.objects.create(channel=store["us"], variant_id="1001", product=store["mug"], title="old")
    ChannelVariant.objects.create(channel=store["us"], variant_id="1002", product=store["tee"], title="Tee")
    text = "\n".join(
        [
            "channel,variant_id,sku,title",
            "shopify-us,4471,TEE-M,Organic tee - M",  # row 2: new
            "shopify-us,4472,XX,Ghost",  # row 3: no such product
            "shopify-us,1001,TEE-M,",  # row 4: a known variant now sells another SKU (title kept)
            "shopify-us,1002,TEE-M,Tee",  # row 5: already so
            "shopify-mx,4473,MUG-1,",  # row 6: no such channel
            ",,MUG-1,",  # row 7: no channel, no variant id
            "shopify-eu,gid://shopify/ProductVariant/4471,MUG-1,Mug",  # row 8: the same id on another channel
            "shopify-us,4471,MUG-1,",  # row 9: row 2's variant again
        ]
    )

    response = upload(admin_client, text)

    assert response.status_code == 200
    page = response.content.decode()
    assert refused_rows(page) == [
        "row 3: sku 'XX' is not a product",
        "row 6: channel 'shopify-mx' is not a channel (known: shopify-eu, shopify-us)",
        "row 7: channel is required",
        "row 7: variant_id is required",
        "row 9: variant_id variant 4471 of shopify-us is on row 2 already; keep one row per variant",
    ]
    assert "2 variants added, 1 changed, 1 already so, 4 rows refused." in page
    table = {
        (variant.channel.code, variant.variant_id): (variant.product.sku, variant.title)
        for variant in ChannelVariant.objects.select_related("channel", "product")
    }
    assert table == {
        ("shopify-us", "4471"): ("TEE-M", "Organic tee - M"),
        ("shopify-us", "1001"): ("TEE-M", "old"),
        ("shopify-us", "1002"): ("TEE-M", "Tee"),
        ("shopify-eu", "4471"): ("MUG-1", "Mug"),
    }
    # who did what is in each variant's history
    changed = ChannelVariant.objects.get(channel=store["us"], variant_id="1001")
    (entry,) = LogEntry.objects.filter(object_id=str(changed.pk))
    assert (entry.action_flag, entry.user.username) == (CHANGE, "admin")
    assert "variants.csv" in entry.change_message
    assert LogEntry.objects.filter(action_flag=ADDITION).count() == 2


def test_a_file_without_the_columns_is_refused_whole(admin_client, store):
    response = upload(admin_client, "channel,variant,sku\nshopify-us,4471,TEE-M\n")

    page = response.content.decode()
    assert "The file was refused; nothing was written." in page
    assert "variant_id: missing column" in page
    assert not ChannelVariant.objects.exists()


def test_who_may_only_view_variants_gets_no_import(client, store):
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_channelvariant"))
    client.force_login(viewer)

    assert 'data-action="import-variants"' not in client.get(LIST_URL).content.decode()
    assert client.get(IMPORT_URL).status_code == 403
    assert upload(client, "channel,variant_id,sku\nshopify-us,4471,TEE-M\n").status_code == 403
    assert not ChannelVariant.objects.exists()


def test_an_imported_mapping_places_the_next_shopify_order_whose_lines_have_no_sku(admin_client, client, store):
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        ProductFactory(sku=sku)
    order = webhook.sample()
    for item in order["line_items"]:
        item["sku"] = ""
    assert webhook.send(client, order).status_code == 400  # nothing maps them yet
    text = "channel,variant_id,sku\n" + "".join(
        f"shopify-us,{item['variant_id']},{sku}\n"
        for item, sku in zip(order["line_items"], ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"), strict=True)
    )
    upload(admin_client, text)

    response = webhook.send(client, order)  # Shopify's retry

    assert response.status_code == 201, response.content
    placed = Order.objects.get()
    assert [line.sku for line in placed.lines.all()] == ["IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"]
