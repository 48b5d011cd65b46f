"""Delay notices in the console, through the admin client as each role: the order page's "customer told" mark,
the Suppress action (operations managers and associates; not the warehouse), the notices' list and the home's
counts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Message
from orders import services
from orders.models import OrderDelayNotice, OrderEvent
from tests.factories import UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("carriers")]
MAY_SUPPRESS = ("Operations manager", "Operations associate")


def signed_in(client, role: str):
    user = UserFactory(username=role.lower().replace(" ", "-"), role=role, first_name="Ana", last_name="Ruiz")
    client.force_login(user)
    return user


def backordered(products, order_to):
    """An order promised for tomorrow that no warehouse can fill: its estimate is weeks away."""
    order = order_to("NYC", [(products[0], 1)], promised_date=timezone.localdate() + dt.timedelta(days=1))
    services.allocate_order(order_id=order.pk, actor="test")
    return order


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def suppress_url(order) -> str:
    return reverse("admin:orders_order_act", args=["suppress-delay-notice"])


@pytest.mark.parametrize("role", MAY_SUPPRESS)
def test_operations_suppress_the_delay_email_from_the_order_page(client, products, order_to, role):
    # given a backordered order about to miss its date, and someone from operations on its page
    order = backordered(products, order_to)
    user = signed_in(client, role)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'data-action="suppress-delay-notice"' in page

    # when they suppress its delay email, saying why
    response = client.post(
        suppress_url(order), {"ids": str(order.pk), "reason": "Called the customer, they will wait"}, follow=True
    )

    # then the notice of today's estimate is suppressed, attributed, and the sweep emails nobody
    notice = OrderDelayNotice.objects.get(order=order)
    estimate = timezone.localdate() + dt.timedelta(days=14)
    assert (notice.state, notice.new_estimate, notice.suppressed_by) == ("suppressed", estimate, user)
    assert f"{order.number}: no delay email for {estimate:%a %d %b}." in response.content.decode()
    assert services.sweep_delay_notices() == 0
    assert not Message.objects.filter(order=order, event="order_delayed").exists()
    # and the order page shows the mark, who and why, and the timeline says it
    page = text_of(client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode())
    assert f"Suppressed : promised {order.promised_date:%a %-d %b}, new estimate {estimate:%a %-d %b}" in page
    assert "by Ana Ruiz" in page and "Called the customer, they will wait" in page
    entry = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.DELAY_NOTICE)
    assert entry.message == (
        f"Delay email suppressed for the estimate {estimate:%a %d %b}: Called the customer, they will wait"
    )
    assert entry.actor == user


def test_a_suppression_needs_a_reason(client, products, order_to):
    order = backordered(products, order_to)
    signed_in(client, "Operations associate")

    response = client.post(suppress_url(order), {"ids": str(order.pk), "reason": "  "})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not OrderDelayNotice.objects.exists()


def test_warehouse_staff_may_not_suppress_a_delay_email(client, products, order_to):
    # given a late order and someone from the warehouse
    order = backordered(products, order_to)
    signed_in(client, "Warehouse staff")

    # then the page offers no Suppress, and neither the form nor a post gets through
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "suppress-delay-notice" not in page
    assert client.get(f"{suppress_url(order)}?ids={order.pk}").status_code == 403
    response = client.post(suppress_url(order), {"ids": str(order.pk), "reason": "no"})
    assert response.status_code == 403
    assert not OrderDelayNotice.objects.exists()


def test_the_order_page_shows_that_the_customer_was_told(client, products, order_to):
    # given the sweep told the customer
    order = backordered(products, order_to)
    assert services.sweep_delay_notices() == 1
    signed_in(client, "Operations associate")

    html = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    estimate = timezone.localdate() + dt.timedelta(days=14)
    assert 'data-delay-notice="sent"' in html
    assert f"Customer told : promised {order.promised_date:%a %-d %b}, new estimate {estimate:%a %-d %b}" in text_of(
        html
    )
    assert "Customer told the order will be late" in text_of(html)  # its timeline entry


def test_the_home_counts_notices_sent_and_to_review_and_links_to_them(client, products, order_to):
    # given one customer told, and one late order without a date to tell (to review)
    told = backordered(products, order_to)
    services.sweep_delay_notices()
    other = order_to("NYC", [(products[1], 1)], promised_date=timezone.localdate() + dt.timedelta(days=1))
    OrderDelayNotice.objects.create(
        order=other, cause="label_late", promised_date=other.promised_date, state="review", detail="no service"
    )
    signed_in(client, "Operations manager")

    html = client.get(reverse("admin:index")).content.decode()

    counts = dict(
        re.findall(r'data-attention="(delay-notices-[\w-]+)"><a href="[^"]*">[^<]*<span class="oms-count">(\d+)', html)
    )
    assert counts == {"delay-notices-sent": "1", "delay-notices-to-review": "1"}
    for key, number in (("delay-notices-sent", told.number), ("delay-notices-to-review", other.number)):
        url = re.search(rf'data-attention="{key}"><a href="([^"]*)"', html).group(1).replace("&amp;", "&")
        listing = client.get(url)
        assert listing.status_code == 200
        assert number in listing.content.decode()
        assert listing.context["cl"].result_count == 1


def test_the_warehouse_home_has_no_delay_counts(client):
    signed_in(client, "Warehouse staff")

    html = client.get(reverse("admin:index")).content.decode()

    assert "delay-notices" not in html


def test_the_sidebar_lists_the_delay_notices_under_messages_for_operations(client):
    signed_in(client, "Operations associate")

    groups = {group["key"]: group for group in client.get(reverse("admin:index")).context["oms_nav"]}

    assert "orders.orderdelaynotice" in [entry["key"] for entry in groups["messages"]["entries"]]
