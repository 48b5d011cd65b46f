"""Placing orders: idempotent on (channel, external id), then routed after commit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory.models import Product

from ..exceptions import OrderError
from ..models import Address, Channel, Customer, Order, OrderEvent, OrderLine, normalize_email
from . import notify
from ._common import CENT


@dataclass(frozen=True)
class CustomerData:
    name: str
    email: str
    phone: str = ""
    accepts_marketing: bool = False


@dataclass(frozen=True)
class AddressData:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str = "US"
    state: str = ""
    line2: str = ""
    company: str = ""
    phone: str = ""


@dataclass(frozen=True)
class LineData:
    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class OrderData:
    external_id: str
    customer: CustomerData
    shipping_address: AddressData
    lines: list[LineData]
    currency: str = "USD"
    billing_address: AddressData | None = None
    shipping_total: Decimal = Decimal("0.00")
    tax_total: Decimal = Decimal("0.00")
    discount_total: Decimal = Decimal("0.00")
    promised_date: dt.date | None = None
    placed_at: dt.datetime | None = None
    extra: dict = field(default_factory=dict)


def format_order_number(pk: int) -> str:
    """The human-friendly order number for a primary key, e.g. SO-0001042."""
    return f"{settings.ORDER_NUMBER_PREFIX}{pk:07d}"


def _upsert_customer(data: CustomerData) -> Customer:
    email = normalize_email(data.email)
    customer, _ = Customer.objects.get_or_create(
        email=email,
        defaults={
            "name": data.name.strip(),
            "phone": data.phone,
            "accepts_marketing": data.accepts_marketing,
        },
    )
    return customer


def _create_address(customer: Customer, data: AddressData) -> Address:
    return Address.objects.create(
        customer=customer,
        name=data.name.strip(),
        company=data.company,
        line1=data.line1.strip(),
        line2=data.line2.strip(),
        city=data.city.strip(),
        state=data.state.strip(),
        postal_code=data.postal_code.strip(),
        country=data.country.strip().upper(),
        phone=data.phone,
    )


def place_order(*, channel: Channel, data: OrderData, actor, route: bool = True) -> tuple[Order, bool]:
    """Record an order from a channel; idempotent on (channel, external id).

    Returns ``(order, created)``. A second call with an external id the
    channel already used returns the existing order untouched. Writes the
    ``placed`` timeline event and, after commit, queues its allocation
    (``route=False`` leaves it received). Raises OrderError for an unknown
    SKU or an order with no lines.
    """
    existing = Order.objects.filter(channel=channel, external_id=data.external_id).first()
    if existing is not None:
        return existing, False
    if not data.lines:
        raise OrderError("An order needs at least one line.")
    skus = {line.sku for line in data.lines}
    products = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    unknown = sorted(skus - products.keys())
    if unknown:
        raise OrderError(f"Unknown SKU: {', '.join(unknown)}.")
    try:
        with transaction.atomic():
            order = _create_order(channel=channel, data=data, products=products, actor=actor)
            notify.order_received(order)  # notifications: the confirmation, sent after commit
            if route:
                from .. import tasks

                tasks.allocate_order.delay_on_commit(order.pk)
    except IntegrityError:
        # A concurrent request placed the same external id first: theirs stands.
        existing = Order.objects.filter(channel=channel, external_id=data.external_id).first()
        if existing is None:
            raise
        return existing, False
    return order, True


def _create_order(*, channel: Channel, data: OrderData, products: dict[str, Product], actor) -> Order:
    customer = _upsert_customer(data.customer)
    shipping_address = _create_address(customer, data.shipping_address)
    billing_address = _create_address(customer, data.billing_address) if data.billing_address else shipping_address
    subtotal = sum((Decimal(line.unit_price) * line.quantity for line in data.lines), Decimal("0"))
    grand_total = subtotal + data.shipping_total + data.tax_total - data.discount_total
    order = Order.objects.create(
        channel=channel,
        external_id=data.external_id,
        customer=customer,
        shipping_address=shipping_address,
        billing_address=billing_address,
        currency=data.currency.upper(),
        subtotal=subtotal.quantize(CENT),
        shipping_total=Decimal(data.shipping_total).quantize(CENT),
        tax_total=Decimal(data.tax_total).quantize(CENT),
        discount_total=Decimal(data.discount_total).quantize(CENT),
        grand_total=max(grand_total, Decimal("0")).quantize(CENT),
        promised_date=data.promised_date,
        placed_at=data.placed_at or timezone.now(),
    )
    order.number = format_order_number(order.pk)
    order.save(update_fields=["number"])
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product=products[line.sku],
            sku=line.sku,
            name=products[line.sku].name,
            quantity=line.quantity,
            unit_price=Decimal(line.unit_price).quantize(CENT),
        )
        for line in data.lines
    )
    OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.PLACED,
        actor=actor,
        message=f"Order placed on {channel.name} as {data.external_id}.",
        data={"channel": channel.code, "external_id": data.external_id, "grand_total": order.grand_total},
    )
    return order
