"""Change address from the order page: a form filled with the current address, the service, the timeline.

And the other way round: editing the customer's address book on the customer page never moves an order.
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from orders import services
from orders.models import Address, Order, OrderStatus
from shipping.models import Shipment
from tests.factories import AddressFactory, ChannelFactory, OrderFactory, ProductFactory, UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = pytest.mark.django_db

ADDRESS = ("name", "company", "line1", "line2", "city", "state", "postal_code", "country", "phone")
NEW_ADDRESS = {
    "name": "Zoë Álvarez",
    "company": "",
    "line1": "400 Broad St",
    "line2": "Apt 5",
    "city": "Columbus",
    "state": "OH",
    "postal_code": "43215",
    "country": "us",
    "phone": "",
}


def place(external_id: str = "WEB-1") -> Order:
    ProductFactory(sku="TEE-M", name="Tee M")
    data = services.OrderData(
        external_id=external_id,
        customer=services.CustomerData(name="Zoë Álvarez", email="zoe@example.com"),
        shipping_address=services.AddressData(
            name="Zoë Álvarez", line1="12 Oak Ave", city="Columbus", state="OH", postal_code="43215"
        ),
        lines=[services.LineData(sku="TEE-M", quantity=1, unit_price=Decimal("24.00"))],
    )
    order, _ = services.place_order(channel=ChannelFactory(code="webstore"), data=data, actor="channel: webstore")
    return order


def address_of(order: Order) -> tuple:
    address = Order.objects.select_related("shipping_address").get(pk=order.pk).shipping_address
    return (address.pk, *(getattr(address, name) for name in ADDRESS))


def book_of(customer) -> list[tuple]:
    return list(customer.addresses.order_by("pk").values_list("pk", *ADDRESS))


def order_page(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def address_form(order: Order) -> str:
    return reverse("admin:orders_order_change_address", args=[order.pk])


@pytest.fixture
def ops(client, superuser):
    client.force_login(superuser)
    return client


def test_change_address_is_prefilled_changes_the_order_and_names_the_change_on_the_timeline(ops):
    order = place()
    AddressFactory(customer=order.customer, line1="9 Book Rd")
    book = book_of(order.customer)

    page = ops.get(order_page(order)).content.decode()
    assert f'href="{address_form(order)}" class="oms-action" data-action="change-address"' in page
    form = ops.get(address_form(order)).content.decode()
    assert 'value="12 Oak Ave"' in form and 'value="Columbus"' in form and 'value="43215"' in form

    response = ops.post(address_form(order), {**NEW_ADDRESS, "reason": "Customer moved"}, follow=True)

    assert response.redirect_chain[-1][0] == order_page(order)
    html = response.content.decode()
    assert f"{order.number}: ship-to address changed" in html
    assert "Ship-to address changed from Zoë Álvarez, 12 Oak Ave, Columbus, OH 43215 to " in html
    assert "Zoë Álvarez, 400 Broad St, Columbus, OH 43215" in html and ": Customer moved" in html
    address = Order.objects.get(pk=order.pk).shipping_address
    assert (address.line1, address.line2, address.country, address.customer) == ("400 Broad St", "Apt 5", "US", None)
    assert book_of(order.customer) == book  # the address book is not touched
    history = ops.get(reverse("admin:orders_order_history", args=[order.pk])).content.decode()
    assert '<tr data-kind="address_changed">' in history and ">boss</td>" in history


def test_field_errors_show_on_the_form_and_nothing_changes(ops):
    order = place()
    before = address_of(order)

    response = ops.post(address_form(order), {**NEW_ADDRESS, "line1": "  ", "country": "USA", "reason": ""})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("This field is required.") == 2  # line 1 and the reason
    assert "Ensure this value has at most 2 characters (it has 3)." in html
    assert 'class="form-row errors field-line1"' in html and 'class="form-row errors field-reason"' in html
    assert address_of(order) == before


def test_refused_once_a_label_is_bought_with_the_reason_as_a_message(ops, sites, stock, products, order_to, carriers):  # noqa: F811 - the shipping fixture
    stock(sites["EWR"], products[0], 5)
    order = order_to("NYC", [(products[0], 1)])
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    services.buy_labels(shipment_id=shipment.pk, actor="test")
    before = address_of(order)

    response = ops.post(address_form(order), {**NEW_ADDRESS, "reason": "Customer moved"}, follow=True)

    assert response.redirect_chain[-1][0] == order_page(order)
    assert (
        f"Order {order.number} already has shipment {shipment.number} with a label made out to the old address; "
        "cancel the shipment first." in response.content.decode()
    )
    assert address_of(order) == before
    assert Shipment.objects.get(pk=shipment.pk).ship_to["line1"] == before[ADDRESS.index("line1") + 1]


def test_a_shipped_order_offers_no_change_and_refuses_one(ops):
    order = OrderFactory(status=OrderStatus.SHIPPED)
    before = address_of(order)

    assert 'data-action="change-address"' not in ops.get(order_page(order)).content.decode()
    response = ops.post(address_form(order), {**NEW_ADDRESS, "reason": "Customer moved"}, follow=True)

    assert f"Order {order.number} is shipped: its address can change only before it ships." in (
        response.content.decode()
    )
    assert address_of(order) == before


def test_associates_and_managers_may_change_an_address(client):
    order = place()
    for role in ("Operations associate", "Operations manager"):
        client.force_login(UserFactory(username=role.split()[-1].lower(), role=role))

        assert 'data-action="change-address"' in client.get(order_page(order)).content.decode(), role
        assert client.get(address_form(order)).status_code == 200, role


def test_without_the_permission_there_is_no_button_and_the_form_is_refused(client):
    order = place()
    client.force_login(UserFactory(username="wes", role="Warehouse staff"))

    assert 'data-action="change-address"' not in client.get(order_page(order)).content.decode()
    assert client.get(address_form(order)).status_code == 403
    assert client.post(address_form(order), {**NEW_ADDRESS, "reason": "x"}).status_code == 403


def customer_form(customer, book: list[dict]) -> dict:
    """The customer page's form as a browser sends it: the customer's fields and every address-book row."""
    data = {
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "addresses-TOTAL_FORMS": str(len(book)),
        "addresses-INITIAL_FORMS": str(sum(1 for row in book if row.get("id"))),
        "addresses-MIN_NUM_FORMS": "0",
        "addresses-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(book):
        data.update({f"addresses-{index}-{name}": value for name, value in row.items()})
        data[f"addresses-{index}-customer"] = str(customer.pk)
    return data


def test_editing_the_customers_address_book_never_changes_an_orders_address(client):
    order = place()
    customer = order.customer
    before = address_of(order)
    client.force_login(UserFactory(username="maria", role="Operations manager"))
    page = reverse("admin:orders_customer_change", args=[customer.pk])
    as_placed = dict(zip(ADDRESS, before[1:], strict=True))

    # a book entry that reads exactly like the order's address is added, then edited
    added = client.post(page, customer_form(customer, [{"id": "", **as_placed}]))
    assert added.status_code == 302, added.content.decode()
    entry = customer.addresses.get()
    edited = client.post(
        page, customer_form(customer, [{"id": str(entry.pk), **as_placed, "line1": "77 Elm St", "city": "Dayton"}])
    )
    assert edited.status_code == 302, edited.content.decode()

    entry.refresh_from_db()
    assert (entry.line1, entry.city) == ("77 Elm St", "Dayton")
    assert address_of(order) == before
    assert Address.objects.get(pk=before[0]).customer is None
    customer_page = client.get(page).content.decode()
    assert "12 Oak Ave" in customer_page  # where the order ships, shown beside the book
