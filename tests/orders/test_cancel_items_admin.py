"""Cancel some items from the order page: the form, the summary before confirming, the result; who may."""

import pytest
from django.urls import reverse

from orders import services
from orders.models import OrderEvent, OrderLine, OrderStatus

pytestmark = pytest.mark.django_db


def page(order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def form_url(order) -> str:
    return reverse("admin:orders_order_act", args=["cancel-items"]) + f"?ids={order.pk}"


@pytest.fixture
def allocated(sites, stock, products, order_to):
    """An order of 3 × SKU-A and 1 × SKU-B, everything reserved at Edison."""
    a, b = products[:2]
    stock(sites["EWR"], a, 5)
    stock(sites["EWR"], b, 5)
    order = order_to("NYC", [(a, 3), (b, 1)])
    order.subtotal = order.grand_total = a.price * 3 + b.price
    order.save()
    return services.allocate_order(order_id=order.pk, actor="test")


@pytest.fixture
def manager(client, role_user):
    client.force_login(role_user("Operations manager"))
    return client


def test_a_manager_reviews_the_summary_then_confirms_and_the_items_are_cancelled(manager, allocated):
    order = allocated
    first, _ = OrderLine.objects.filter(order=order).order_by("pk")
    assert 'data-action="cancel-items"' in manager.get(page(order)).content.decode()
    form = manager.get(form_url(order)).content.decode()
    assert f'name="line_{first.pk}"' in form and "Up to 3 of its 3 units." in form
    version = services.order_version(order)
    fields = {f"line_{first.pk}": "2", "reason": "Customer asked", "version": version, "next": page(order)}

    # the first submit shows what it will do, and changes nothing
    review = manager.post(form_url(order), fields).content.decode()
    new_total = order.grand_total - 2 * first.unit_price
    assert 'id="cancel-summary"' in review and f"{new_total} USD" in review
    assert "Stock released: 2 units" in review and "SKU-A: 3 → 1" in review
    assert OrderLine.objects.get(pk=first.pk).quantity == 3
    reviewed = f"{first.pk}:2"
    assert f'value="{reviewed}"' in review

    # the second makes it, and says so on the order page
    response = manager.post(form_url(order), {**fields, "reviewed": reviewed}, follow=True)

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == page(order)
    assert f"{order.number}: cancelled 2 × SKU-A; new total {new_total:,.2f} USD." in html
    assert OrderLine.objects.get(pk=first.pk).quantity == 1
    assert '1 <span class="oms-muted order-line-cancelled">(2 cancelled)</span>' in html
    entry = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.LINES_CANCELLED)
    assert entry.actor_name == "operations-manager"


def test_changed_units_after_the_review_are_reviewed_again(manager, allocated):
    order = allocated
    first, _ = OrderLine.objects.filter(order=order).order_by("pk")
    fields = {
        f"line_{first.pk}": "3",
        "reason": "x",
        "version": services.order_version(order),
        "reviewed": f"{first.pk}:2",
    }

    html = manager.post(form_url(order), fields).content.decode()

    assert 'id="cancel-summary"' in html and "SKU-A: 3 → 0" in html
    assert OrderLine.objects.get(pk=first.pk).quantity == 3


def test_too_many_units_is_an_error_on_the_line_and_nothing_changes(manager, allocated):
    order = allocated
    first, _ = OrderLine.objects.filter(order=order).order_by("pk")
    fields = {f"line_{first.pk}": "4", "reason": "x", "version": services.order_version(order)}

    html = manager.post(form_url(order), fields).content.decode()

    assert f'class="form-row errors field-line_{first.pk}"' in html
    assert "Ensure this value is less than or equal to 3." in html
    assert OrderLine.objects.get(pk=first.pk).quantity == 3


def test_an_order_that_moved_on_since_the_form_was_read_is_refused_on_the_form(manager, allocated):
    order = allocated
    first, _ = OrderLine.objects.filter(order=order).order_by("pk")
    seen = services.order_version(order)
    services.add_order_note(order_id=order.pk, message="Customer called", actor="ana")
    fields = {f"line_{first.pk}": "1", "reason": "x", "version": seen, "reviewed": f"{first.pk}:1"}

    html = manager.post(form_url(order), fields).content.decode()

    assert "changed since you read it" in html
    assert OrderLine.objects.get(pk=first.pk).quantity == 3
    assert not OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.LINES_CANCELLED).exists()


def test_warehouse_staff_may_not_cancel_items(client, role_user, allocated):
    order = allocated
    first, _ = OrderLine.objects.filter(order=order).order_by("pk")
    client.force_login(role_user("Warehouse staff"))

    assert 'data-action="cancel-items"' not in client.get(page(order)).content.decode()
    fields = {
        f"line_{first.pk}": "1",
        "reason": "x",
        "version": services.order_version(order),
        "reviewed": f"{first.pk}:1",
    }
    assert client.post(form_url(order), fields).status_code == 403
    assert OrderLine.objects.get(pk=first.pk).quantity == 3


def test_a_shipped_order_offers_no_cancellation(manager):
    from tests.factories import OrderFactory

    order = OrderFactory(status=OrderStatus.SHIPPED)

    assert 'data-action="cancel-items"' not in manager.get(page(order)).content.decode()
