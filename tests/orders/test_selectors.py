"""Reads that must stay fast on big tables: estimated counts and planner estimates."""

import pytest
from django.db import connection
from django.urls import reverse

from orders.admin.order_list import EstimatedCountPaginator
from orders.models import Order, OrderStatus
from orders.selectors import estimated_row_count, order_list
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def test_small_results_are_counted_exactly():
    OrderFactory.create_batch(3)

    paginator = EstimatedCountPaginator(order_list(), 50)

    assert paginator.count == 3
    assert paginator.is_estimate is False


@pytest.mark.postgres
def test_big_unfiltered_list_uses_table_statistics_not_count(monkeypatch):
    OrderFactory.create_batch(2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    assert estimated_row_count(Order) == 2
    monkeypatch.setattr(EstimatedCountPaginator, "exact_count_limit", 1)

    paginator = EstimatedCountPaginator(order_list(), 50)

    assert paginator.count == 2
    assert paginator.is_estimate is True


@pytest.mark.postgres
def test_big_filtered_list_uses_the_planner_estimate_and_says_so(client, superuser, monkeypatch):
    OrderFactory.create_batch(4, status=OrderStatus.RECEIVED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_count_limit", 0)
    client.force_login(superuser)

    response = client.get(reverse("admin:orders_order_changelist"), {"status__exact": "received"})

    assert response.context["cl"].paginator.is_estimate
    assert "about" in response.content.decode()


def test_estimate_is_not_used_on_sqlite():
    if connection.vendor == "postgresql":
        pytest.skip("SQLite behaviour")
    assert estimated_row_count(Order) is None
