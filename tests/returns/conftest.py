"""A shipped order to return: two SKUs from Edison to New York, with a discount, tax and shipping."""

from decimal import Decimal

import pytest

from orders import services
from orders.models import Order
from shipping.models import Vendor
from shipping.selectors import clear_rate_cache
from tests.factories import ProductFactory
from tests.shipping.conftest import make_service


@pytest.fixture
def carrier(db):
    clear_rate_cache()
    vendor = Vendor.objects.create(
        code="rapid", name="Rapid Air", tracking_url_template="https://rapid.example/t/{tracking_number}"
    )
    yield make_service(vendor, "2DAY", transit=2, prices="15.00")
    clear_rate_cache()


@pytest.fixture
def shirt(db):
    return ProductFactory(sku="TEE-1", name="Tee", price=Decimal("20.00"), unit_cost=Decimal("8.00"), weight_kg="0.4")


@pytest.fixture
def mug(db):
    return ProductFactory(sku="MUG-1", name="Mug", price=Decimal("10.00"), unit_cost=Decimal("3.00"), weight_kg="0.6")


def ship(order: Order) -> Order:
    """Route, make the shipment, buy its label and hand it to the carrier, as the warehouse does."""
    services.allocate_order(order_id=order.pk, actor="test")
    for shipment in services.create_shipments(order_id=order.pk, actor="test"):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
        services.ship_shipment(shipment_id=shipment.pk, actor="test")
    order.refresh_from_db()
    return order


@pytest.fixture
def shipped_order(sites, stock, order_to, carrier, shirt, mug):
    """SO-…: 3 × TEE-1 at 20.00 and 2 × MUG-1 at 10.00 = 80.00, discount 8.00, tax 7.20, shipping 10.00,
    paid 89.20; shipped from Edison (EWR), which had 3 tees and 5 mugs."""

    def make(**fields):
        stock(sites["EWR"], shirt, 3)
        stock(sites["EWR"], mug, 5)
        order = order_to("NYC", [(shirt, 3), (mug, 2)], **fields)
        Order.objects.filter(pk=order.pk).update(
            subtotal=Decimal("80.00"),
            discount_total=Decimal("8.00"),
            tax_total=Decimal("7.20"),
            shipping_total=Decimal("10.00"),
            grand_total=Decimal("89.20"),
        )
        return ship(order)

    return make


def lines_of(order: Order) -> dict[str, int]:
    """The order's line ids by SKU."""
    return dict(order.lines.values_list("sku", "pk"))
