"""Placing orders: idempotent on (channel, external id), then routed after commit.

A new order is written the same way on every database: one read (a new
order id, the customer by email, whether the external id is taken), then
its rows (customer, addresses, order, lines, timeline entry, intake record,
confirmation) written together by ``_statement.OneStatement``: one SQL
statement on PostgreSQL, one INSERT a table in a transaction on SQLite.
The ORM writing the same rows (one transaction, ``bulk_create`` for the
lines, nothing read back) cost 1.57 times the CPU per order of gunicorn and
PostgreSQL together in ``bench/intake.py`` (medians of interleaved runs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from inventory.models import Product
from notifications import services as notifications
from oms_core import wakeups
from oms_core.sql import columns, from_row

from .. import events
from ..business_models import CONTACT_EVENTS, BusinessContact, BusinessProfile
from ..exceptions import IntakeConflict, OrderError
from ..models import Address, Channel, Customer, Order, OrderEvent, OrderIntake, OrderLine, normalize_email
from . import business, notify
from ._common import ALLOCATE_TASK, CENT, task_named
from ._statement import OneStatement, SkippedOnConflict
from .fulfilment import wake_routing


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
class PaymentData:
    """How the customer paid: the gateway's code and its token for the payment method."""

    gateway: str
    token: str = ""


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
    payment: PaymentData | None = None
    extra: dict = field(default_factory=dict)
    po_number: str = ""  # the customer's own reference (a business customer's purchase order number)


def placed_at_problem(placed_at: dt.datetime, *, now: dt.datetime | None = None) -> str | None:
    """Why a channel's "placed at" cannot be taken, or None when it can.

    A little ahead of the OMS's clock is allowed (clocks drift:
    ``ORDER_PLACED_AT_MAX_FUTURE_MINUTES``); further ahead, or longer ago than
    ``ORDER_PLACED_AT_MAX_AGE_DAYS``, is a wrong clock or a wrong year. The
    intakes that take the time from the channel (the API, the Shopify webhook)
    refuse it naming their field.
    """
    now = now or timezone.now()
    ahead = dt.timedelta(minutes=settings.ORDER_PLACED_AT_MAX_FUTURE_MINUTES)
    oldest = dt.timedelta(days=settings.ORDER_PLACED_AT_MAX_AGE_DAYS)
    try:
        too_late, too_early = placed_at > now + ahead, placed_at < now - oldest
    except (OverflowError, TypeError):  # beyond the calendar's ends, or a time without a zone
        return "must be a date and time with a time zone offset, within the calendar"
    clock = now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if too_late:
        minutes = settings.ORDER_PLACED_AT_MAX_FUTURE_MINUTES
        return f"is in the future: more than {minutes} minutes after the OMS's clock ({clock})"
    if too_early:
        return f"is more than {settings.ORDER_PLACED_AT_MAX_AGE_DAYS} days before the OMS's clock ({clock})"
    return None


def canonical_payload(data: OrderData) -> dict:
    """The order as the channel sent it, normalised so that equal orders compare equal.

    Emails are lower-cased, codes upper-cased, text stripped and money
    rounded to cents; a missing billing address is the shipping address.
    """

    def clean(value):  # what asdict() then cleaning would give, without asdict()'s deep copies
        fields = getattr(type(value), "__dataclass_fields__", None)
        if fields is not None:
            return {name: clean(getattr(value, name)) for name in fields}
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [clean(item) for item in value]
        if isinstance(value, Decimal):
            return str(Decimal(value).quantize(CENT))
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, str):
            return value.strip()
        return value

    payload = clean(data)
    payload["customer"]["email"] = normalize_email(payload["customer"]["email"])
    payload["currency"] = payload["currency"].upper()
    for key in ("shipping_address", "billing_address"):
        if payload[key]:
            payload[key]["country"] = payload[key]["country"].upper()
    if payload["billing_address"] is None:
        payload["billing_address"] = payload["shipping_address"]
    payload.pop("placed_at")  # when a retry is sent is not part of the order
    if not payload["po_number"]:
        payload.pop("po_number")  # orders sent before the field existed compare equal to their retries
    return payload


def fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def payload_differences(old, new, path: str = "") -> list[dict]:
    """Where two canonical payloads differ, as JSON paths with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(old.keys() | new.keys()):
            found += payload_differences(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        found = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            found += payload_differences(a, b, f"{path}[{index}]")
        return found
    if old != new:
        return [{"path": path, "existing": old, "received": new}]
    return []


def format_order_number(pk: int) -> str:
    """The human-friendly order number for a primary key, e.g. SO-0001042."""
    return f"{settings.ORDER_NUMBER_PREFIX}{pk:07d}"


def _new_customer(data: CustomerData) -> Customer:
    return Customer(
        email=normalize_email(data.email),
        name=data.name.strip(),
        phone=data.phone,
        accepts_marketing=data.accepts_marketing,
    )


def order_address(data: AddressData) -> Address:
    """The order's own copy of an address: no customer, so editing the address book never changes it."""
    return Address(
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


def place_order(
    *,
    channel: Channel,
    data: OrderData,
    actor,
    route: bool = True,
    source: str = OrderIntake.Source.ADMIN,
    products: dict[str, Product] | None = None,
) -> tuple[Order, bool]:
    """Record an order from a channel; idempotent on (channel, external id).

    Returns ``(order, created)``. A second call with an external id the
    channel already used and the same order returns the existing order
    untouched; with a different order it raises IntakeConflict naming the
    differences. Writes the ``placed`` timeline event and the confirmation's
    outbox row and, after commit, has it routed (``route=False`` leaves it
    received). Raises OrderError for an unknown SKU or an order with no
    lines. ``products`` (SKU -> Product) saves looking them up again when the
    caller has.

    The rows are written together (``_statement``: one statement on
    PostgreSQL, one transaction on SQLite) after one read that reserves the
    order's id and finds the customer and any order already placed under the
    external id. Outside a transaction the write is its own; inside one, a
    savepoint keeps a failure contained.
    """
    payload = canonical_payload(data)
    digest = fingerprint(payload)
    reserved = _reserve(channel, data)
    if reserved.taken:
        existing = _existing(channel, data.external_id, payload, digest)
        if existing is not None:
            return existing, False
    if not data.lines:
        raise OrderError("An order needs at least one line.")
    skus = {line.sku for line in data.lines}
    if products is None or not skus <= products.keys():
        products = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    unknown = sorted(skus - products.keys())
    if unknown:
        raise OrderError(f"Unknown SKU: {', '.join(unknown)}.")
    intake = OrderIntake(source=source, fingerprint=digest, payload=payload)
    # After commit, the routing and sending drains are woken, in one round trip.
    with wakeups.together():
        try:
            try:
                order = _place(
                    channel=channel, data=data, products=products, actor=actor, intake=intake, reserved=reserved
                )
            except SkippedOnConflict:
                # Another order created this customer since the read: read again, use the customer as stored.
                reserved = _reserve(channel, data)
                existing = _existing(channel, data.external_id, payload, digest) if reserved.taken else None
                if existing is not None:
                    return existing, False
                order = _place(
                    channel=channel, data=data, products=products, actor=actor, intake=intake, reserved=reserved
                )
            if route:
                _route_after_commit(order)
        except IntegrityError:
            # A concurrent request placed the same external id first: theirs stands.
            existing = _existing(channel, data.external_id, payload, digest)
            if existing is not None:
                return existing, False
            if reserved.customer is None or Customer.objects.filter(pk=reserved.customer.pk).exists():
                raise
            # The customer read was merged into another (and deleted) meanwhile: read again, write again.
            reserved = _reserve(channel, data)
            order = _place(channel=channel, data=data, products=products, actor=actor, intake=intake, reserved=reserved)
            if route:
                _route_after_commit(order)
    return order, True


def _place(
    *, channel: Channel, data: OrderData, products: dict[str, Product], actor, intake: OrderIntake, reserved
) -> Order:
    order, message_ids = _write(
        channel=channel, data=data, products=products, actor=actor, intake=intake, reserved=reserved
    )
    if message_ids:
        transaction.on_commit(partial(notifications.dispatch_messages, message_ids=message_ids))
    return order


# The roles of the business contacts who get a copy of the order confirmation.
CONFIRMATION_ROLES = sorted(role for role, covered in CONTACT_EVENTS.items() if "order_received" in covered)


@dataclass(frozen=True)
class _Reserved:
    order_id: int
    customer: Customer | None  # the customer with this email, if there is one
    taken: bool  # an order was placed under this external id already
    contacts: bool = False  # the customer is a business customer with a contact who gets the confirmation


def _reserve(channel: Channel, data: OrderData) -> _Reserved:
    """One read: a new order id, the customer by email, whether the external id is used.

    The id comes from the order table's sequence, as an insert would take
    it: PostgreSQL's ``nextval`` in the read itself, SQLite's counter bumped
    just before (``_next_sqlite_id``). An id taken and not used is a gap.
    """
    quote = connection.ops.quote_name
    customer_columns, names = columns(Customer, "c")
    roles = ", ".join(["%s"] * len(CONFIRMATION_ROLES))
    if connection.vendor == "postgresql":
        new_id, id_params = "nextval(%s)", [_order_sequence()]
    else:
        new_id, id_params = "%s", [_next_sqlite_id(Order)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {new_id}, EXISTS (SELECT 1 FROM {quote(Order._meta.db_table)} "
            f"WHERE {quote('channel_id')} = %s AND {quote('external_id')} = %s), "
            f"EXISTS (SELECT 1 FROM {quote(BusinessContact._meta.db_table)} AS bc "
            f"JOIN {quote(BusinessProfile._meta.db_table)} AS bp ON bp.{quote('id')} = bc.{quote('profile_id')} "
            f"WHERE bp.{quote('customer_id')} = c.{quote('id')} AND bc.{quote('role')} IN ({roles})), "
            f"{customer_columns} "
            f"FROM (SELECT 1) AS one LEFT JOIN {quote(Customer._meta.db_table)} AS c ON c.{quote('email')} = %s",
            [*id_params, channel.pk, data.external_id, *CONFIRMATION_ROLES, normalize_email(data.customer.email)],
        )
        order_id, taken, contacts, *customer_row = cursor.fetchone()
    found = customer_row[0] is not None
    customer = from_row(Customer, names, customer_row) if found else None
    return _Reserved(order_id=order_id, customer=customer, taken=bool(taken), contacts=bool(contacts))


@cache
def _order_sequence() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [Order._meta.db_table, Order._meta.pk.column])
        return cursor.fetchone()[0]


def _next_sqlite_id(model) -> int:
    """Take the next id of a SQLite table, as ``nextval`` takes it on PostgreSQL: never given out again.

    Django's SQLite keys are AUTOINCREMENT: the highest id the table ever
    had is its row in ``sqlite_sequence``, which an insert of a lower id
    leaves alone. Bumping that row takes an id (the row is made first if
    it went, as a flush removes it).
    """
    table, pk = model._meta.db_table, model._meta.pk.column
    quote = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO sqlite_sequence (name, seq) SELECT %s, (SELECT COALESCE(MAX({quote(pk)}), 0) "
            f"FROM {quote(table)}) WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = %s)",
            [table, table],
        )
        cursor.execute("UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = %s RETURNING seq", [table])
        return cursor.fetchone()[0]


def _write(
    *, channel: Channel, data: OrderData, products: dict[str, Product], actor, intake: OrderIntake, reserved: _Reserved
) -> tuple[Order, list[int]]:
    """The new order's rows, written together; returns the order and its confirmation's outbox ids."""
    statement = OneStatement()
    customer = reserved.customer
    refs: dict[str, str] = {}
    if customer is None:
        customer = _new_customer(data.customer)
        # A customer created meanwhile by another order: no row here, so nothing is written (SkippedOnConflict);
        # the caller reads the customer as stored and writes again.
        refs["customer_id"] = statement.add([customer], on_conflict="(email) DO NOTHING")
    shipping_address = order_address(data.shipping_address)
    addresses = {"shipping_address_id": statement.add([shipping_address])}
    billing_address = shipping_address
    if data.billing_address:
        billing_address = order_address(data.billing_address)
        addresses["billing_address_id"] = statement.add([billing_address])
    else:
        addresses["billing_address_id"] = addresses["shipping_address_id"]
    order = _build_order(
        channel=channel,
        data=data,
        customer=customer,
        shipping_address=shipping_address,
        billing_address=billing_address,
        pk=reserved.order_id,
    )
    statement.add([order], refs={**refs, **addresses})
    lines, event = _build_contents(order=order, channel=channel, data=data, products=products, actor=actor)
    statement.add(lines)
    statement.add([event])
    intake.order = order
    statement.add([intake])
    # notifications: the confirmation, and a copy for each business contact whose role covers it (their
    # addresses read only for a customer the reserving read found has such contacts)
    contacts = business.confirmation_contacts(customer.pk) if reserved.contacts else []
    messages = notifications.build_messages(notify.order_received_messages(order, lines=lines, contacts=contacts))
    if messages:
        statement.add(messages)
    statement.execute()
    order.placed_lines, order.placed_event = lines, event
    return order, [message.pk for message in messages]


def order_totals(
    *, lines: list[tuple[Decimal, int]], shipping_total: Decimal, tax_total: Decimal, discount_total: Decimal
) -> dict[str, Decimal]:
    """An order's totals from its lines' (unit price, quantity) and the channel's shipping, tax and discount.

    The subtotal is the lines' sum; the grand total adds shipping and tax and takes the discount off, never
    below zero. Every total to the cent. Intake and a cancellation of some items (``amendments``) use this.
    """
    subtotal = sum((Decimal(price) * quantity for price, quantity in lines), Decimal("0"))
    grand_total = subtotal + Decimal(shipping_total) + Decimal(tax_total) - Decimal(discount_total)
    return {
        "subtotal": subtotal.quantize(CENT),
        "shipping_total": Decimal(shipping_total).quantize(CENT),
        "tax_total": Decimal(tax_total).quantize(CENT),
        "discount_total": Decimal(discount_total).quantize(CENT),
        "grand_total": max(grand_total, Decimal("0")).quantize(CENT),
    }


def _build_order(
    *, channel: Channel, data: OrderData, customer: Customer, shipping_address, billing_address, pk=None
) -> Order:
    totals = order_totals(
        lines=[(line.unit_price, line.quantity) for line in data.lines],
        shipping_total=data.shipping_total,
        tax_total=data.tax_total,
        discount_total=data.discount_total,
    )
    return Order(
        pk=pk,
        number=format_order_number(pk) if pk is not None else None,
        channel=channel,
        external_id=data.external_id,
        customer=customer,
        shipping_address=shipping_address,
        billing_address=billing_address,
        currency=data.currency.upper(),
        **totals,
        promised_date=data.promised_date,
        po_number=data.po_number.strip(),
        payment_gateway=data.payment.gateway if data.payment else "",
        payment_token=data.payment.token if data.payment else "",
        placed_at=data.placed_at or timezone.now(),
    )


def _build_contents(
    *, order: Order, channel: Channel, data: OrderData, products: dict[str, Product], actor
) -> tuple[list[OrderLine], OrderEvent]:
    """The order's lines and its ``placed`` event, not yet saved (the order must have its id)."""
    lines = [
        OrderLine(
            order=order,
            product=products[line.sku],
            sku=line.sku,
            name=products[line.sku].name,
            quantity=line.quantity,
            unit_price=Decimal(line.unit_price).quantize(CENT),
        )
        for line in data.lines
    ]
    return lines, events.order_received(order, channel=channel, actor=actor, save=False)


def _route_after_commit(order: Order) -> None:
    """An order with a gateway gets its own task (its payment is authorised first); others wake the drain."""
    if order.payment_gateway:
        transaction.on_commit(lambda: wakeups.publish(task_named(ALLOCATE_TASK), order.pk))
    else:
        transaction.on_commit(wake_routing)


def _existing(channel: Channel, external_id: str, payload: dict, digest: str) -> Order | None:
    """The order already placed with this external id, if any; a different order under it is a conflict."""
    existing = Order.objects.filter(channel=channel, external_id=external_id).select_related("intake").first()
    if existing is None:
        return None
    intake = getattr(existing, "intake", None)  # orders seeded or placed before intakes were kept have none
    if intake is not None and intake.fingerprint != digest:
        raise IntakeConflict(order=existing, differences=payload_differences(intake.payload, payload))
    return existing
