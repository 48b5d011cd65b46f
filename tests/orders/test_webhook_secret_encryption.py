"""A channel's webhook secret is kept encrypted (OMS_SECRET_KEYS), still checks Shopify's signatures, and rotates.

What a database dump, a backup or a read-only SQL user sees of the secret is
a Fernet token; the console keeps the secret write-only; a key is rotated by
putting a new one first and running ``rotate_secrets``.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from oms_core import crypto
from orders.models import Channel
from tests.factories import ChannelFactory, ProductFactory
from tests.orders import test_shopify as webhook

pytestmark = pytest.mark.django_db
OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def stored_secret(channel: Channel) -> str:
    """The column as the database holds it (what a dump or a backup shows)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secret FROM orders_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def catalogue(db):
    for sku in ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"):
        ProductFactory(sku=sku, name=f"iPod nano {sku[8:].lower()}")


def channel_form(**changes) -> dict:
    values = {"name": "Shopify US", "code": "shopify-us", "kind": "web_store", "default_currency": "USD"}
    return {**values, "is_active": "on", **changes}


def test_a_secret_entered_in_the_console_is_stored_encrypted_and_still_checks_signatures(
    admin_client, client, catalogue
):
    response = admin_client.post("/admin/orders/channel/add/", channel_form(webhook_secret=webhook.SECRET))

    assert response.status_code == 302
    channel = Channel.objects.get()
    stored = stored_secret(channel)
    assert webhook.SECRET not in stored and stored.startswith("gAAAAA")  # a Fernet token
    assert channel.webhook_secret == webhook.SECRET
    assert webhook.send(client).status_code == 201
    assert webhook.send(client, webhook.sample(id=2), secret="not-it").status_code == 401
    page = admin_client.get(f"/admin/orders/channel/{channel.pk}/change/").content.decode()
    assert webhook.SECRET not in page and stored not in page
    assert "A secret is set (kept encrypted); leave blank to keep it." in page


def test_a_key_is_rotated_by_putting_a_new_one_first_and_running_rotate_secrets(client, catalogue, settings):
    settings.OMS_SECRET_KEYS = [OLD_KEY]
    channel = ChannelFactory(code="shopify-us", name="Shopify US", webhook_secret=webhook.SECRET)
    made_with_old = stored_secret(channel)

    settings.OMS_SECRET_KEYS = [NEW_KEY, OLD_KEY]  # the new key first; the old one still opens what it made
    assert webhook.send(client).status_code == 201
    call_command("rotate_secrets")

    assert stored_secret(channel) != made_with_old
    settings.OMS_SECRET_KEYS = [NEW_KEY]  # the old key gone
    Channel.objects.get(pk=channel.pk)
    assert Fernet(NEW_KEY).decrypt(stored_secret(channel).encode()).decode() == webhook.SECRET
    assert webhook.send(client, webhook.sample(id=2)).status_code == 201


def test_rotate_secrets_says_what_it_did_and_names_what_no_key_opens(settings, capsys):
    settings.OMS_SECRET_KEYS = [OLD_KEY]
    on_old = ChannelFactory(code="a", webhook_secret="secret-a")
    ChannelFactory(code="b", webhook_secret="")
    settings.OMS_SECRET_KEYS = [NEW_KEY, OLD_KEY]
    ChannelFactory(code="c", webhook_secret="secret-c")

    call_command("rotate_secrets", "--dry-run")
    assert "orders.Channel.webhook_secret: 1 would be re-encrypted" in capsys.readouterr().out
    call_command("rotate_secrets")
    assert "1 re-encrypted with the newest key of OMS_SECRET_KEYS, 1 already on it." in capsys.readouterr().out

    settings.OMS_SECRET_KEYS = [Fernet.generate_key().decode()]  # every key lost
    with pytest.raises(CommandError, match="open with no key"):
        call_command("rotate_secrets")
    assert f"2 opened by no key (ids {on_old.pk}, " in capsys.readouterr().out


def test_a_secret_no_key_opens_refuses_webhooks_and_survives_an_edit_of_its_channel(
    admin_client, client, catalogue, settings, caplog
):
    settings.OMS_SECRET_KEYS = [OLD_KEY]
    channel = ChannelFactory(code="shopify-us", name="Shopify US", webhook_secret=webhook.SECRET)
    settings.OMS_SECRET_KEYS = [NEW_KEY]  # the key it was made with was dropped before rotating

    assert webhook.send(client).status_code == 401
    assert "its webhook secret opens with no key of OMS_SECRET_KEYS" in caplog.text  # what ops sees in the log
    page = admin_client.get(f"/admin/orders/channel/{channel.pk}/change/").content.decode()
    assert "no key of OMS_SECRET_KEYS opens it" in page
    keys_inline = {"api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"}
    renamed = admin_client.post(
        f"/admin/orders/channel/{channel.pk}/change/", channel_form(name="Shopify USA", **keys_inline)
    )
    assert renamed.status_code == 302

    settings.OMS_SECRET_KEYS = [NEW_KEY, OLD_KEY]  # the key put back: the secret was kept as it was
    assert Channel.objects.get(pk=channel.pk).name == "Shopify USA"
    assert webhook.send(client).status_code == 201


def test_without_oms_secret_keys_the_key_comes_from_secret_key_and_survives_its_rotation(settings):
    settings.OMS_SECRET_KEYS = []
    channel = ChannelFactory(code="shop", webhook_secret="s3cret")

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "x" * 40, [settings.SECRET_KEY]

    assert Channel.objects.get(pk=channel.pk).webhook_secret == "s3cret"
    settings.SECRET_KEY_FALLBACKS = []
    assert isinstance(Channel.objects.get(pk=channel.pk).webhook_secret, crypto.UnreadableSecret)


def test_a_key_that_is_not_a_fernet_key_is_refused_without_showing_it(settings):
    settings.OMS_SECRET_KEYS = [NEW_KEY, "hunter2"]

    with pytest.raises(ImproperlyConfigured) as refused:
        crypto.encrypt("x")

    assert "key 2 is not a Fernet key" in str(refused.value) and "hunter2" not in str(refused.value)


def test_rotate_secrets_new_key_prints_a_key_that_works(settings, capsys):
    call_command("rotate_secrets", "--new-key")

    settings.OMS_SECRET_KEYS = capsys.readouterr().out.strip()  # as the environment gives it: one string
    assert crypto.decrypt(crypto.encrypt("secret")) == "secret"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_the_secrets_kept_in_clear():
    executor = MigrationExecutor(connection)
    executor.migrate([("orders", "0012_order_address_permission")])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders_channel (code, name, kind, default_currency, is_active, webhook_secret, brand_name,"
            " sender_email, reply_to_email, support_email, store_url, logo_url)"
            " VALUES ('old', 'Old', 'web_store', 'USD', %s, 'kept-in-clear', '', '', '', '', '', '')",
            [True],
        )
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

        channel = Channel.objects.get(code="old")
        assert stored_secret(channel).startswith("gAAAAA")
        assert channel.webhook_secret == "kept-in-clear"
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
