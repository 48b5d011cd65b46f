"""Orders from CSV with internationalised customer emails (RFC 6531/6532): accepted and kept."""

import pytest

from orders.models import Order

from .conftest import ORDER_HEADER, csv_text, errors_at, order_row

pytestmark = pytest.mark.django_db


def test_orders_whose_customers_have_internationalised_emails_are_imported(catalogue, dry_run, confirm, superuser):
    text = csv_text(
        ORDER_HEADER,
        order_row("W-1", email="josé@exämple.com"),
        order_row("W-2", email="用户@例子.广告"),
        order_row("W-3", email="josé@exä mple.com"),
    )

    job = confirm(dry_run("order", text), superuser)

    assert errors_at(job) == {(4, "email")}
    emails = dict(Order.objects.values_list("external_id", "customer__email"))
    assert emails == {"W-1": "josé@exämple.com", "W-2": "用户@例子.广告"}
