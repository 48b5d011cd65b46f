"""The console's index: the order queue, late, at-risk and on-hold orders."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders.models import OrderStatus
from tests.factories import OrderFactory, UserFactory

S = OrderStatus
pytestmark = pytest.mark.django_db


@pytest.fixture
def dashboard(client, superuser):
    def render():
        client.force_login(superuser)
        response = client.get(reverse("admin:index"))
        assert response.status_code == 200
        return response

    return render


def test_queue_counts_every_status_and_links_to_the_filtered_list(client, dashboard):
    OrderFactory.create_batch(3, status=S.RECEIVED)
    OrderFactory.create_batch(2, status=S.ON_HOLD)
    OrderFactory(status=S.DELIVERED)

    response = dashboard()

    queue = {item["status"]: item for item in response.context["dashboard"]["queue"]}
    assert set(queue) == set(S.values)
    assert (queue[S.RECEIVED]["count"], queue[S.ON_HOLD]["count"], queue[S.SHIPPED]["count"]) == (3, 2, 0)
    assert response.context["dashboard"]["total"] == 6
    listed = client.get(queue[S.ON_HOLD]["url"])
    assert len(listed.context["cl"].result_list) == 2
    assert queue[S.ON_HOLD]["url"] in response.content.decode()


def test_big_queues_show_the_cap_and_the_counts_are_kept_half_a_minute(client, dashboard, monkeypatch):
    monkeypatch.setattr("orders.selectors.QUEUE_COUNT_CAP", 2)
    OrderFactory.create_batch(3, status=S.RECEIVED)
    OrderFactory(status=S.ON_HOLD)

    first = dashboard()
    OrderFactory(status=S.ON_HOLD)  # within the half-minute the counts are kept
    second = dashboard()

    page = first.content.decode()
    queue = {item["status"]: item for item in first.context["dashboard"]["queue"]}
    assert (queue[S.RECEIVED]["count_label"], queue[S.ON_HOLD]["count_label"]) == ("2+", "1")
    assert first.context["dashboard"]["total_label"] == "3+"
    assert '<span class="oms-tile-count">2+</span>' in page
    assert {item["status"]: item["count"] for item in second.context["dashboard"]["queue"]}[S.ON_HOLD] == 1


def test_late_at_risk_and_on_hold_panels(client, dashboard):
    today = timezone.localdate()
    late = OrderFactory(status=S.BACKORDERED, promised_date=today - dt.timedelta(days=2))
    at_risk = OrderFactory(status=S.ALLOCATED, promised_date=today + dt.timedelta(days=1))
    held = OrderFactory(status=S.ON_HOLD, promised_date=today + dt.timedelta(days=6))
    OrderFactory(status=S.DELIVERED, promised_date=today - dt.timedelta(days=9))
    OrderFactory(status=S.RECEIVED, promised_date=today + dt.timedelta(days=6))

    response = dashboard()

    panels = {panel["key"]: panel for panel in response.context["dashboard"]["panels"]}
    assert [o.number for o in panels["late"]["orders"]] == [late.number]
    assert [o.number for o in panels["at_risk"]["orders"]] == [at_risk.number]
    assert [o.number for o in panels["on_hold"]["orders"]] == [held.number]
    assert panels["late"]["count"] == 1
    html = response.content.decode()
    for order in (late, at_risk, held):
        assert reverse("admin:orders_order_change", args=[order.pk]) in html
    listed = client.get(panels["late"]["url"])
    assert [o.number for o in listed.context["cl"].result_list] == [late.number]


def test_the_dashboard_is_not_shown_to_users_who_cannot_see_orders(client):
    client.force_login(UserFactory(username="nobody"))

    response = client.get(reverse("admin:index"))

    assert response.status_code == 200
    assert response.context["dashboard"] is None
    assert "Order queue" not in response.content.decode()


def test_dashboard_query_count_does_not_grow_with_orders(client, superuser):
    client.force_login(superuser)
    client.get(reverse("admin:index"))  # the session's first request records when it was seen: not measured
    stale = timezone.localdate() - dt.timedelta(days=1)
    OrderFactory(status=S.ON_HOLD, promised_date=stale)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("admin:index"))
    OrderFactory.create_batch(30, status=S.ON_HOLD, promised_date=stale)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("admin:index"))

    assert len(many.captured_queries) == len(few.captured_queries)


def test_the_dashboard_counts_open_returns_refunds_to_settle_payment_problems_and_failed_exports(client, superuser):
    from django.utils import timezone

    from orders.payments.models import ExportBatch, PaymentTransaction
    from orders.returns.models import Refund, ReturnRequest
    from tests.factories import OrderFactory

    order = OrderFactory()
    rma = ReturnRequest.objects.create(order=order, reason="damaged", number="RMA-1", status="received")
    ReturnRequest.objects.create(order=order, reason="other", number="RMA-2", status="closed")
    Refund.objects.create(order=order, rma=rma, amount=5, currency="USD", idempotency_key="r-1")
    PaymentTransaction.objects.create(
        order=order,
        kind="capture",
        gateway="test_card",
        amount=5,
        currency="USD",
        idempotency_key="c-1",
        status="error",
    )
    ExportBatch.objects.create(export_date=timezone.localdate(), csv_content="x", json_body="{}", status="failed")
    client.force_login(superuser)

    response = client.get("/admin/")

    page = response.content.decode()
    counts = {item["key"]: item["count"] for item in response.context["dashboard"]["attention"]}
    assert counts == {
        "delay-notices-sent": 0,
        "delay-notices-to-review": 0,
        "shipping-cost-at-risk": 0,
        "open-returns": 1,
        "refunds-to-settle": 1,
        "payment-problems": 1,
        "failed-exports": 1,
    }
    assert 'data-attention="open-returns"' in page and "Failed accounting exports" in page


def test_the_warehouse_sees_no_money_on_the_dashboard(client, roles):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="wh", role="Warehouse staff"))

    keys = [item["key"] for item in client.get("/admin/").context["dashboard"]["attention"]]

    assert "payment-problems" not in keys and "failed-exports" not in keys and "refunds-to-settle" not in keys


def test_each_attention_count_opens_a_list_of_as_many(client, superuser):
    from orders.payments.models import PaymentTransaction
    from tests.factories import OrderFactory

    # given captures that went wrong, one that went through, and an authorisation
    order = OrderFactory()
    for n, (kind, status) in enumerate(
        [("capture", "error"), ("capture", "declined"), ("capture", "succeeded"), ("authorise", "declined")]
    ):
        PaymentTransaction.objects.create(
            order=order,
            kind=kind,
            gateway="test_card",
            amount=5,
            currency="USD",
            idempotency_key=f"k-{n}",
            status=status,
        )
    client.force_login(superuser)

    # when each count of the home page's attention items is followed to its list
    for item in client.get("/admin/").context["dashboard"]["attention"]:
        listed = client.get(item["url"])

        # then the list holds as many rows as the count said
        assert listed.status_code == 200, item["url"]
        assert listed.context["cl"].result_count == item["count"], (item["key"], item["url"])
