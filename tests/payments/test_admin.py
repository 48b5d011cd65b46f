"""The payments console: payments on the order page, mark paid, credit rules, blocked values, CSV download."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.payments import accounting
from orders.payments.models import BlockedValue, CreditRule, ExportBatch, PaymentTransaction
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
T = PaymentTransaction


def test_the_order_page_lists_its_payments(admin_client, sites, stock, shirt, paid_order, route):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 1)], token="tok_slow"))

    page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    assert "payments" in page.lower()
    assert "timed out (tok_slow)" in page  # the failed first attempt
    assert T.objects.get(order=order).gateway_reference in page


def test_ops_mark_an_invoice_paid_from_the_payments_list(client, roles, sites, stock, shirt, paid_order, route, ship):
    stock(sites["EWR"], shirt, 5)
    order = route(paid_order([(shirt, 2)], gateway="manual", token=""))
    ship(order)
    capture = T.objects.get(order=order, kind=T.Kind.CAPTURE)
    url = reverse("admin:payments_paymenttransaction_changelist")
    client.force_login(UserFactory(username="associate", role="Operations associate"))
    refused = client.post(url, {"action": "mark_paid_selected", "_selected_action": [capture.pk]})
    assert not T.objects.filter(kind=T.Kind.SETTLE).exists() and refused.status_code == 200
    client.force_login(UserFactory(username="manager", role="Operations manager"))

    response = client.post(url, {"action": "mark_paid_selected", "_selected_action": [capture.pk]}, follow=True)

    settle = T.objects.get(order=order, kind=T.Kind.SETTLE)
    assert (settle.amount, settle.actor_name) == (Decimal("50.00"), "manager")
    assert f"{order}: 50.00 USD received." in response.content.decode()


def test_a_manager_adds_a_credit_rule_and_blocks_a_postal_code(client, roles):
    client.force_login(UserFactory(username="manager", role="Operations manager"))

    client.post(
        reverse("admin:payments_creditrule_add"),
        {
            "name": "Over 1k",
            "kind": "amount_over",
            "threshold": "1000.00",
            "currency": "",
            "is_active": "on",
            "declines": "2",
            "window_days": "30",
        },
    )
    client.post(
        reverse("admin:payments_blockedvalue_add"), {"kind": "postal_code", "value": " sw1a 1aa ", "reason": "x"}
    )

    assert CreditRule.objects.get().threshold == Decimal("1000.00")
    assert BlockedValue.objects.get().value == "sw1a1aa"


def test_an_amount_rule_needs_a_threshold(client, roles):
    client.force_login(UserFactory(username="manager", role="Operations manager"))

    response = client.post(
        reverse("admin:payments_creditrule_add"),
        {
            "name": "Broken",
            "kind": "amount_over",
            "threshold": "",
            "is_active": "on",
            "declines": "2",
            "window_days": "30",
        },
    )

    assert response.status_code == 200 and not CreditRule.objects.exists()


def test_a_batch_csv_downloads_as_exported(admin_client, sites, stock, shirt, paid_order, route, ship):
    stock(sites["EWR"], shirt, 5)
    ship(route(paid_order([(shirt, 1)])))
    batch = accounting.export_journal(export_date=timezone.localdate())

    response = admin_client.get(reverse("admin:payments_exportbatch_csv", args=[batch.pk]))

    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode() == ExportBatch.objects.get().csv_content
