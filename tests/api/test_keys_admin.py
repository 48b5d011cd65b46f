"""Channel API keys in the console: issued with a name and shown once, listed, revoked; by permission."""

import pytest
from django.urls import reverse

from orders.models import ChannelApiKey
from tests.factories import ChannelFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def webstore(db):
    return ChannelFactory(code="webstore", name="Web store")


def issue(client, channel, name="storefront production"):
    return client.post(reverse("admin:orders_channel_issue_key", args=[channel.pk]), {"name": name})


def test_a_key_is_shown_once_stored_hashed_and_works(client, superuser, webstore, goods):
    client.force_login(superuser)

    page = client.get(reverse("admin:orders_channel_change", args=[webstore.pk]))
    assert reverse("admin:orders_channel_issue_key", args=[webstore.pk]) in page.content.decode()
    response = issue(client, webstore)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = response.context["key"]
    assert key in response.content.decode()
    row = ChannelApiKey.objects.get()
    assert (row.name, row.created_by) == ("storefront production", superuser)
    assert key not in (row.key_hash, row.prefix)
    # the channel page lists the key by its prefix only
    page = client.get(reverse("admin:orders_channel_change", args=[webstore.pk])).content.decode()
    assert row.prefix in page and key not in page
    client.logout()
    stock = client.get("/api/v1/stock/TEE-1", headers={"Authorization": f"Bearer {key}"})
    assert stock.status_code == 200


def test_a_key_needs_a_name(client, superuser, webstore):
    client.force_login(superuser)

    response = issue(client, webstore, name="")

    assert response.context["form"].errors["name"]
    assert ChannelApiKey.objects.count() == 0


def test_revoking_asks_first_then_the_key_stops_working(client, superuser, webstore, goods):
    client.force_login(superuser)
    key = issue(client, webstore).context["key"]
    row = ChannelApiKey.objects.get()
    url = reverse("admin:orders_channel_revoke_key", args=[webstore.pk, row.pk])

    confirm = client.get(url)
    assert confirm.status_code == 200 and "Revoke the key" in confirm.content.decode()
    assert ChannelApiKey.objects.get().revoked_at is None
    client.post(url)

    row.refresh_from_db()
    assert row.revoked_by == superuser
    client.logout()
    assert client.get("/api/v1/stock/TEE-1", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_staff_without_the_key_permissions_cannot_issue_or_revoke(client, superuser, webstore):
    client.force_login(superuser)
    issue(client, webstore)
    row = ChannelApiKey.objects.get()
    clerk = UserFactory(username="clerk", is_staff=True)
    client.force_login(clerk)

    assert issue(client, webstore).status_code == 403
    assert client.post(reverse("admin:orders_channel_revoke_key", args=[webstore.pk, row.pk])).status_code == 403
    assert ChannelApiKey.objects.count() == 1 and ChannelApiKey.objects.get().revoked_at is None


@pytest.mark.parametrize(
    ("role", "may_issue"),
    [("Operations manager", True), ("Operations associate", False), ("Warehouse staff", False)],
)
def test_only_managers_issue_keys(client, roles, webstore, role, may_issue):
    client.force_login(UserFactory(username="someone", role=role))

    response = issue(client, webstore)

    assert (response.status_code == 200) is may_issue
    assert ChannelApiKey.objects.count() == (1 if may_issue else 0)


def test_the_channel_page_reads_its_keys_people_in_one_query_however_many_keys(client, superuser, webstore):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from orders.services.channels import issue_api_key, revoke_api_key

    client.force_login(superuser)
    page = reverse("admin:orders_channel_change", args=[webstore.pk])

    def queries_with(keys: int) -> int:
        for n in range(keys):
            key, _ = issue_api_key(channel_id=webstore.pk, name=f"key {n}", actor=UserFactory(username=f"issuer{n}"))
            revoke_api_key(key_id=key.pk, actor=UserFactory(username=f"revoker{n}"))
        client.get(page)  # warm: the session and the site's caches
        with CaptureQueriesContext(connection) as captured:
            assert client.get(page).status_code == 200
        return len(captured)

    assert queries_with(1) == queries_with(4)
