"""Edit items from the order page: the form, the summary before confirming (price, stock, promise, payment),
the result on the page and its timeline; who may."""

import pytest
from django.urls import reverse

from orders import services
from orders.models import OrderEvent, OrderLine, OrderStatus
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = pytest.mark.django_db


def page(order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def form_url(order) -> str:
    return reverse("admin:orders_order_act", args=["edit-items"]) + f"?ids={order.pk}"


@pytest.fixture
def allocated(sites, stock, products, order_to):
    """An order of 3 × SKU-A and 1 × SKU-B, everything reserved at Edison; SKU-C in stock there too."""
    a, b, c = products[:3]
    for product in (a, b, c):
        stock(sites["EWR"], product, 5)
    order = order_to("NYC", [(a, 3), (b, 1)])
    order.subtotal = order.grand_total = a.price * 3 + b.price
    order.save()
    return services.allocate_order(order_id=order.pk, actor="test")


def blank_fields(order) -> dict:
    fields = {f"line_{line.pk}": str(line.quantity) for line in OrderLine.objects.filter(order=order)}
    return {**fields, "reason": "Customer called", "version": services.order_version(order), "next": page(order)}


@pytest.mark.parametrize("role", ["Operations manager", "Operations associate"])
def test_managers_and_associates_review_the_summary_then_confirm(client, role_user, role, allocated, products):
    client.force_login(role_user(role))
    order = allocated
    first, second = OrderLine.objects.filter(order=order).order_by("pk")
    assert 'data-action="edit-items"' in client.get(page(order)).content.decode()
    form = client.get(form_url(order)).content.decode()
    assert f'name="line_{first.pk}"' in form and 'name="add_sku_1"' in form
    fields = {**blank_fields(order), f"line_{first.pk}": "1", f"line_{second.pk}": "0", "add_sku_1": "SKU-C"}
    fields["add_quantity_1"] = "2"

    # the first submit shows what it will do, and changes nothing
    review = client.post(form_url(order), fields).content.decode()
    sku_c = products[2]
    new_total = first.unit_price * 1 + sku_c.price * 2
    assert 'id="edit-summary"' in review and f"{new_total} USD" in review
    assert "SKU-A (" in review and "3 → 1" in review and "removed (1 → 0)" in review and "added, 2 at" in review
    assert "Stock: 2 units reserved, 3 released" in review
    assert 'id="new-promise"' in review
    assert OrderLine.objects.get(pk=first.pk).quantity == 3
    digest = f"{first.pk}:1:|{second.pk}:0:|SKU-C:2:"
    assert f'value="{digest}"' in review

    # the second makes it, and says so on the order page and its timeline
    response = client.post(form_url(order), {**fields, "reviewed": digest}, follow=True)

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == page(order)
    assert f"{order.number}: SKU-A 3 → 1, SKU-B 1 → 0, SKU-C added (2); new total {new_total:,.2f} USD" in html
    assert OrderLine.objects.get(pk=first.pk).quantity == 1
    entry = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.LINES_EDITED)
    assert entry.actor_name == role.lower().replace(" ", "-")
    assert "Items edited: SKU-A 3 → 1, SKU-B removed (1 → 0), SKU-C added (2)" in html


def test_too_few_units_and_an_unknown_sku_are_errors_and_nothing_changes(client, superuser, allocated, carriers):  # noqa: F811 - the shipping fixture
    client.force_login(superuser)
    order = allocated
    first, _ = OrderLine.objects.filter(order=order).order_by("pk")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")

    html = client.post(form_url(order), {**blank_fields(order), f"line_{first.pk}": "2"}).content.decode()
    assert f'class="form-row errors field-line_{first.pk}"' in html
    assert "Ensure this value is greater than or equal to 3." in html

    html = client.post(
        form_url(order), {**blank_fields(order), "add_sku_1": "NOPE", "add_quantity_1": "1"}
    ).content.decode()
    assert "unknown or inactive SKU &#x27;NOPE&#x27;" in html
    assert OrderLine.objects.filter(order=order).count() == 2


def test_an_order_that_moved_on_since_the_form_was_read_is_refused_on_the_form(client, superuser, allocated):
    client.force_login(superuser)
    order = allocated
    first, _ = OrderLine.objects.filter(order=order).order_by("pk")
    fields = {**blank_fields(order), f"line_{first.pk}": "4", "reviewed": f"{first.pk}:4:"}
    services.add_order_note(order_id=order.pk, message="Customer called", actor="ana")

    html = client.post(form_url(order), fields).content.decode()

    assert "changed since you read it" in html
    assert OrderLine.objects.get(pk=first.pk).quantity == 3


def test_warehouse_staff_and_returns_associates_may_not_edit_items(client, role_user, allocated):
    order = allocated
    first, _ = OrderLine.objects.filter(order=order).order_by("pk")
    for role in ("Warehouse staff", "Returns associate"):
        client.force_login(role_user(role))
        assert 'data-action="edit-items"' not in client.get(page(order)).content.decode()
        fields = {**blank_fields(order), f"line_{first.pk}": "4", "reviewed": f"{first.pk}:4:"}
        assert client.post(form_url(order), fields).status_code == 403
    assert OrderLine.objects.get(pk=first.pk).quantity == 3


def test_a_shipped_order_offers_no_edit(client, superuser):
    from tests.factories import OrderFactory

    client.force_login(superuser)
    order = OrderFactory(status=OrderStatus.SHIPPED)

    assert 'data-action="edit-items"' not in client.get(page(order)).content.decode()
