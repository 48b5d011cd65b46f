"""Realistic orders for the notification tests: several lines, taxes and discounts, a customer who opted in."""

from __future__ import annotations

from decimal import Decimal

from orders.models import Order, OrderLine, OrderStatus
from orders.services import format_order_number
from tests.factories import AddressFactory, CustomerFactory, OrderFactory, ProductFactory

CATALOGUE = [
    ("TEE-NAVY-M", "Organic cotton tee, navy, M", Decimal("24.00"), 2),
    ("MUG-STONE", "Stoneware mug & saucer <set>", Decimal("18.50"), 1),
    ("SOCK-3PK", "Merino socks, 3-pack", Decimal("21.00"), 3),
]


def realistic_order(*, accepts_marketing: bool = True, status: str = OrderStatus.RECEIVED, **fields) -> Order:
    """SO-…: three lines (7 units), shipping, tax and a discount; the customer 'Zoë Álvarez-Núñez'."""
    customer = CustomerFactory(name="Zoë Álvarez-Núñez", accepts_marketing=accepts_marketing)
    address = AddressFactory(
        customer=customer,
        name="Zoë Álvarez-Núñez",
        line1="742 Evergreen Terrace",
        line2="Apt 3",
        city="Dallas",
        state="TX",
        postal_code="75201",
    )
    order = OrderFactory(customer=customer, shipping_address=address, lines=0, status=status, **fields)
    subtotal = Decimal("0")
    for sku, name, price, quantity in CATALOGUE:
        product = ProductFactory(sku=sku, name=name, price=price)
        OrderLine.objects.create(order=order, product=product, sku=sku, name=name, quantity=quantity, unit_price=price)
        subtotal += price * quantity
    order.number = format_order_number(order.pk)
    order.subtotal = subtotal
    order.shipping_total = Decimal("6.95")
    order.tax_total = Decimal("8.12")
    order.discount_total = Decimal("5.00")
    order.grand_total = subtotal + Decimal("6.95") + Decimal("8.12") - Decimal("5.00")
    order.save()
    return order


def split_shipments(order: Order) -> list[dict]:
    """Two shipments of one order from two warehouses, by two vendors, one of them in two parcels."""
    lines = list(order.lines.order_by("pk"))
    return [
        {
            "reference": "SHP-1001",
            "vendor_name": "UPS",
            "service_name": "Ground",
            "warehouse": "Dallas DC",
            "tracking_numbers": ["1Z999AA10123456784", "1Z999AA10123456795"],
            "tracking_url_template": "https://www.ups.com/track?tracknum={tracking_number}",
            "expected_delivery": "2026-12-03",
            "lines": [{"sku": lines[0].sku, "name": lines[0].name, "quantity": lines[0].quantity}],
        },
        {
            "reference": "SHP-1002",
            "vendor_name": "USPS",
            "service_name": "Priority Mail",
            "warehouse": "Reno DC",
            "tracking_numbers": ["9400111899223856928499"],
            "tracking_urls": ["https://tools.usps.com/go/TrackConfirmAction?tLabels=9400111899223856928499"],
            "lines": [{"sku": lines[1].sku, "name": lines[1].name, "quantity": lines[1].quantity}],
        },
    ]


def rma_for(order: Order, **extra) -> dict:
    line = order.lines.order_by("pk").first()
    return {
        "number": "RMA-000042",
        "lines": [{"sku": line.sku, "name": line.name, "quantity": 1}],
        "label_url": "https://labels.example.com/returns/RMA-000042.pdf",
        "return_by": "2026-12-20",
        "refund_amount": line.unit_price,
        "method": "Visa ending 4242",
        **extra,
    }
