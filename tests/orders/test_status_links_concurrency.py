"""One live status link an order under real parallel transactions (PostgreSQL): two emails (or an email and the API)
that make an order's first link at the same moment."""

import pytest
from django.db import transaction

from orders.models import OrderStatusLink
from orders.services import status_links
from tests.factories import OrderFactory
from tests.notifications.test_concurrency import run_in_parallel

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_transactions_making_an_order_s_first_link_at_once_agree_on_one():
    orders = [OrderFactory() for _ in range(5)]

    def make_links():
        with transaction.atomic():
            return status_links.status_urls(order.pk for order in orders)

    first, second = run_in_parallel(make_links, make_links)

    assert first == second
    assert len(first) == 5
    assert OrderStatusLink.objects.count() == 5
