"""Who changed the configuration, when, from what to what: every tracked model's History page."""

from decimal import Decimal

import pytest

from orders.models import Channel
from orders.payments.models import CreditRule
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def submit_change_form(client, url: str, **changes):
    """Post a console change form as a person would: everything as shown, with ``changes`` typed in."""
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if getattr(field.widget, "input_type", None) == "checkbox":
            if value:
                data[name] = "on"
            continue
        data[name] = "" if value is None else value
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    data.update(changes)
    return client.post(url, data)


def test_a_managers_change_to_a_credit_rule_shows_who_when_and_from_what_to_what(client, roles):
    rule = CreditRule.objects.create(name="Big orders", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("500.00"))
    manager = UserFactory(username="mia", first_name="Mia", last_name="Berg", role="Operations manager")
    client.force_login(manager)

    response = submit_change_form(client, f"/admin/payments/creditrule/{rule.pk}/change/", threshold="750.00")
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    history = client.get(f"/admin/payments/creditrule/{rule.pk}/history/")
    assert history.status_code == 200
    text = history.text
    assert "Mia Berg" in text
    assert "500.00" in text and "750.00" in text  # threshold: 500.00 → 750.00
    assert "/admin/auth/user/" not in text  # a name, not a link a manager cannot open


def test_a_channels_webhook_secret_is_not_kept_in_its_history(client):
    channel = Channel.objects.create(code="shop", name="Shop", webhook_secret="s3cr3t-value")
    channel.name = "The Shop"
    channel.save()

    assert channel.history.count() == 2
    assert not hasattr(channel.history.first(), "webhook_secret")


def test_an_associate_who_may_only_view_rules_sees_their_history(client, roles):
    rule = CreditRule.objects.create(name="Big orders", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("500.00"))
    client.force_login(UserFactory(username="ana", role="Operations associate"))

    response = client.get(f"/admin/payments/creditrule/{rule.pk}/history/")

    assert response.status_code == 200  # associates may view credit rules, so they see who changed them
    assert "Big orders" in response.text


def test_warehouse_staff_who_may_not_view_rules_cannot_open_their_history(client, roles):
    rule = CreditRule.objects.create(name="Big orders", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("500.00"))
    client.force_login(UserFactory(username="wes", role="Warehouse staff"))

    assert client.get(f"/admin/payments/creditrule/{rule.pk}/history/").status_code == 403
