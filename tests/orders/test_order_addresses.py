"""An order keeps the addresses it was placed with; the customer's address book is separate."""

import importlib
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection

from orders import services
from orders.exceptions import OrderError, ReasonRequired
from orders.models import Address, Customer, Order, OrderEvent, OrderStatus
from orders.services import AddressData, CustomerData, LineData, OrderData
from shipping.models import Shipment
from tests.factories import AddressFactory, CustomerFactory, OrderFactory, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("orders.migrations.0009_order_addresses_channel_brand_variants")


def placed(channel, *, email="ana@example.com"):
    ProductFactory(sku="TEE-M")
    data = OrderData(
        external_id="W-1",
        customer=CustomerData(name="Ana Lima", email=email),
        shipping_address=AddressData(
            name="Ana Lima", line1="1 Elm St", city="Columbus", state="OH", postal_code="43215"
        ),
        lines=[LineData(sku="TEE-M", quantity=1, unit_price=Decimal("25.00"))],
    )
    order, _ = services.place_order(channel=channel, data=data, actor=None, route=False)
    return Order.objects.select_related("shipping_address", "customer").get(pk=order.pk)


def new_home(**fields) -> AddressData:
    values = {"name": "Ana Lima", "line1": "9 Oak Ave", "city": "Dayton", "state": "OH", "postal_code": "45402"}
    return AddressData(**{**values, **fields})


def test_a_placed_order_has_its_own_address_outside_the_address_book(channel):
    order = placed(channel)

    assert order.shipping_address.customer_id is None
    assert not order.customer.addresses.exists()


def test_editing_the_address_book_never_changes_an_order(channel):
    # given an order, and its customer's address book holding the same address
    order = placed(channel)
    book = AddressFactory(customer=order.customer, line1="1 Elm St", postal_code="43215")

    # when the book entry is edited
    book.line1 = "77 Moved Rd"
    book.save()

    # then the order still ships where it was placed to
    assert Order.objects.get(pk=order.pk).shipping_address.line1 == "1 Elm St"


def test_changing_the_ship_to_address_writes_a_new_row_and_says_so(channel):
    order = placed(channel)
    manager = UserFactory(username="mia")
    old = order.shipping_address

    services.change_shipping_address(order_id=order.pk, address=new_home(), reason="customer moved", actor=manager)

    order.refresh_from_db()
    assert (order.shipping_address.line1, order.shipping_address.postal_code) == ("9 Oak Ave", "45402")
    assert Address.objects.get(pk=old.pk).line1 == "1 Elm St"  # the old row stays as it was
    assert order.shipping_address.customer_id is None
    event = order.events.get(kind=OrderEvent.Kind.ADDRESS_CHANGED)
    assert event.actor_name == "mia"
    assert "1 Elm St" in event.message and "9 Oak Ave" in event.message and "customer moved" in event.message


def test_a_ship_to_change_needs_a_reason_and_valid_fields(channel):
    order = placed(channel)

    with pytest.raises(ReasonRequired):
        services.change_shipping_address(order_id=order.pk, address=new_home(), reason=" ", actor=None)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        services.change_shipping_address(order_id=order.pk, address=new_home(country="USA"), reason="typo", actor=None)
    assert "country" in refused.value.message_dict
    assert Order.objects.get(pk=order.pk).shipping_address_id == order.shipping_address_id


def test_a_ship_to_change_is_refused_once_a_label_is_bought_or_it_shipped(channel):
    order = placed(channel)
    Shipment.objects.create(
        number="SH-1",
        order=order,
        order_number=order.number,
        warehouse=_warehouse(),
        ship_to={"line1": "1 Elm St"},
        status=Shipment.Status.LABEL_CREATED,
    )

    with pytest.raises(OrderError, match="SH-1"):
        services.change_shipping_address(order_id=order.pk, address=new_home(), reason="moved", actor=None)

    shipped = OrderFactory(status=OrderStatus.SHIPPED)
    with pytest.raises(OrderError, match="shipped"):
        services.change_shipping_address(order_id=shipped.pk, address=new_home(), reason="moved", actor=None)


def _warehouse():
    from tests.factories import WarehouseFactory

    return WarehouseFactory(code="EWR")


def test_the_migration_gives_orders_their_own_rows_and_keeps_the_book():
    # given rows as they were before: two orders of one customer on one shared address row, a book-only entry
    customer = CustomerFactory(email="kim@example.com")
    shared = AddressFactory(customer=customer, line1="5 Shared St")
    spare = AddressFactory(customer=customer, line1="8 Book Only Rd")
    first = OrderFactory(customer=customer, shipping_address=shared, billing_address=shared)
    second = OrderFactory(customer=customer, shipping_address=shared)

    # when the data step of the migration runs
    migration.detach_order_addresses(None, SimpleNamespace(connection=connection))

    # then the orders keep their row, now outside the book, and the book has one copy of it and its own entry
    assert Address.objects.get(pk=shared.pk).customer_id is None
    assert {Order.objects.get(pk=o.pk).shipping_address_id for o in (first, second)} == {shared.pk}
    book = Customer.objects.get(pk=customer.pk).addresses.order_by("line1")
    assert [a.line1 for a in book] == ["5 Shared St", "8 Book Only Rd"]
    assert spare.pk in {a.pk for a in book}

    # and backwards, the order's row belongs to the customer again
    migration.reattach_order_addresses(None, SimpleNamespace(connection=connection))
    assert Address.objects.get(pk=shared.pk).customer_id == customer.pk
