"""Publishable keys and allowed origins in the console: issued, rotated and revoked by a manager; by permission."""

import re

import pytest
from django.urls import reverse

from orders.models import Channel
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:orders_channel_changelist")


@pytest.fixture
def webstore(db):
    return ChannelFactory(code="webstore", name="Web store", allowed_origins="https://shop.example")


@pytest.fixture
def manager(client, roles, role_user):
    user = role_user("Operations manager")
    client.force_login(user)
    return user


def step_url(channel, step):
    return reverse("admin:orders_channel_publishable_key", args=[channel.pk, step])


def change_form_post(client, channel, **changes):
    """The channel's change form as the console sends it, with ``changes``."""
    page = client.get(reverse("admin:orders_channel_change", args=[channel.pk]))
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data = {name: ("on" if value is True else value) for name, value in data.items() if value is not False}
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        data.update({management.add_prefix(name): management[name].value() for name in management.fields})
    data.update(changes)
    return client.post(reverse("admin:orders_channel_change", args=[channel.pk]), data)


def test_a_manager_issues_the_key_after_a_confirmation_and_sees_what_to_paste(client, manager, webstore):
    page = client.get(reverse("admin:orders_channel_change", args=[webstore.pk])).content.decode()
    assert "Issue publishable key" in page and "No publishable key yet" in page

    confirm = client.get(step_url(webstore, "rotate"))
    assert confirm.status_code == 200 and "Issue the key" in confirm.content.decode()
    assert Channel.objects.get(pk=webstore.pk).publishable_key is None

    client.post(step_url(webstore, "rotate"))

    channel = Channel.objects.get(pk=webstore.pk)
    assert channel.publishable_key.startswith("pk_")
    page = client.get(reverse("admin:orders_channel_change", args=[webstore.pk])).content.decode()
    assert f'data-key="{channel.publishable_key}"' in page.replace("&quot;", '"')
    assert "storefront/delivery-promise.js" in page and "Rotate publishable key" in page
    # on the channel's history, by name
    last = channel.history.order_by("-history_date").first()
    assert last.history_user == manager and last.history_change_reason == "publishable key rotated"


def test_rotating_replaces_the_key_and_the_old_one_stops(client, manager, webstore):
    client.post(step_url(webstore, "rotate"))
    old = Channel.objects.get(pk=webstore.pk).publishable_key

    client.post(step_url(webstore, "rotate"))

    new = Channel.objects.get(pk=webstore.pk).publishable_key
    assert new != old
    client.logout()
    query = {"zip": "10001", "sku": "NOPE"}
    assert client.get("/api/v1/storefront/promise", {"key": old, **query}).status_code == 401
    assert client.get("/api/v1/storefront/promise", {"key": new, **query}).status_code == 400  # the key passed


def test_revoking_takes_the_key_away(client, manager, webstore):
    client.post(step_url(webstore, "rotate"))

    confirm = client.get(step_url(webstore, "revoke")).content.decode()
    assert "Revoke the key" in confirm
    response = client.post(step_url(webstore, "revoke"), follow=True)

    assert Channel.objects.get(pk=webstore.pk).publishable_key is None
    assert "revoked" in " ".join(str(m) for m in response.context["messages"])


def test_the_changelist_actions_rotate_and_revoke_the_selected_channels(client, manager, webstore):
    other = ChannelFactory(code="outlet", name="Outlet")

    client.post(CHANGELIST, {"action": "rotate_publishable_keys", "_selected_action": [webstore.pk, other.pk]})
    keys = dict(Channel.objects.values_list("code", "publishable_key"))
    assert keys["webstore"].startswith("pk_") and keys["outlet"].startswith("pk_")

    client.post(CHANGELIST, {"action": "revoke_publishable_keys", "_selected_action": [other.pk]})
    assert Channel.objects.get(pk=other.pk).publishable_key is None
    assert Channel.objects.get(pk=webstore.pk).publishable_key == keys["webstore"]


def test_an_inactive_channel_gets_no_key(client, manager, webstore):
    Channel.objects.filter(pk=webstore.pk).update(is_active=False)

    response = client.post(step_url(webstore, "rotate"), follow=True)

    assert Channel.objects.get(pk=webstore.pk).publishable_key is None
    assert "not active" in " ".join(str(m) for m in response.context["messages"])


def test_who_may_only_view_channels_cannot_change_the_key(client, roles, role_user, webstore):
    client.force_login(role_user("Operations associate"))

    assert client.get(step_url(webstore, "rotate")).status_code == 403
    assert client.post(step_url(webstore, "rotate")).status_code == 403
    assert Channel.objects.get(pk=webstore.pk).publishable_key is None


def test_allowed_origins_are_kept_as_browsers_send_them(client, manager, webstore):
    response = change_form_post(
        client, webstore, allowed_origins="HTTPS://Shop.Example/\nhttp://localhost:3000\n\nhttps://shop.example:443"
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Channel.objects.get(pk=webstore.pk).allowed_origins == "https://shop.example\nhttp://localhost:3000"


@pytest.mark.parametrize(
    ("origins", "words"),
    [
        ("https://shop.example\nshop.example", "Line 2 ('shop.example')"),
        ("https://shop.example/products", "no path"),
        ("*", "wildcard"),
        ("ftp://shop.example", "the scheme and the host"),
    ],
)
def test_a_bad_origin_is_refused_naming_its_line_and_nothing_is_saved(client, manager, webstore, origins, words):
    response = change_form_post(client, webstore, allowed_origins=origins)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["allowed_origins"]
    assert words in errors[0]
    assert Channel.objects.get(pk=webstore.pk).allowed_origins == "https://shop.example"


def test_a_revoked_api_key_says_when_and_by_whom_on_the_channels_page(client, manager, webstore):
    from orders.services.channels import issue_api_key, revoke_api_key

    row, _ = issue_api_key(channel_id=webstore.pk, name="old storefront", actor=manager)
    revoke_api_key(key_id=row.pk, actor=manager)

    page = client.get(reverse("admin:orders_channel_change", args=[webstore.pk])).content.decode()

    assert re.search(r"revoked \d{4}-\d{2}-\d{2} \d{2}:\d{2} by ", page)


def test_a_manager_gives_the_channel_its_brand_colour_and_a_bad_one_is_refused_by_name(client, manager, webstore):
    refused = change_form_post(client, webstore, brand_color="rust")

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["brand_color"] == ["A colour as #rrggbb, e.g. #0f4c5c."]
    assert Channel.objects.get(pk=webstore.pk).brand_color == ""

    saved = change_form_post(client, webstore, brand_color="#7a2e0e")

    assert saved.status_code == 302, saved.context["adminform"].form.errors
    assert Channel.objects.get(pk=webstore.pk).brand_color == "#7a2e0e"
