"""A realistic, deterministic demo data set, fast enough to be the scale seed.

``seed_demo(orders=N, seed=S)`` makes channels, ~50 SKUs, warehouses in four
US regions, customers at real US postal codes, and N orders spread over every
status with their lines and timelines. Rows are generated as tuples and
written with COPY on PostgreSQL (1,000,000 orders in a few minutes) or with
batched INSERTs elsewhere; nothing goes through Model.save().
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from inventory import geo
from inventory.models import Allocation, Product, StockLevel, StockMovement, Warehouse
from shipping.demo_data import ensure_demo_carriers

from .models import Address, Channel, Customer, Order, OrderEvent, OrderLine, OrderStatus
from .services import format_order_number

S = OrderStatus

# Real US postal codes (city, state, ZIP) across every region.
US_PLACES: list[tuple[str, str, str]] = [
    ("New York", "NY", "10001"),
    ("Los Angeles", "CA", "90012"),
    ("Chicago", "IL", "60601"),
    ("Houston", "TX", "77002"),
    ("Phoenix", "AZ", "85004"),
    ("Philadelphia", "PA", "19103"),
    ("San Antonio", "TX", "78205"),
    ("San Diego", "CA", "92101"),
    ("Dallas", "TX", "75201"),
    ("San Jose", "CA", "95113"),
    ("Austin", "TX", "78701"),
    ("Jacksonville", "FL", "32202"),
    ("Columbus", "OH", "43215"),
    ("Charlotte", "NC", "28202"),
    ("San Francisco", "CA", "94103"),
    ("Indianapolis", "IN", "46204"),
    ("Seattle", "WA", "98101"),
    ("Denver", "CO", "80202"),
    ("Washington", "DC", "20001"),
    ("Boston", "MA", "02108"),
    ("Nashville", "TN", "37203"),
    ("Detroit", "MI", "48226"),
    ("Portland", "OR", "97204"),
    ("Las Vegas", "NV", "89101"),
    ("Memphis", "TN", "38103"),
    ("Louisville", "KY", "40202"),
    ("Baltimore", "MD", "21202"),
    ("Milwaukee", "WI", "53202"),
    ("Albuquerque", "NM", "87102"),
    ("Tucson", "AZ", "85701"),
    ("Sacramento", "CA", "95814"),
    ("Kansas City", "MO", "64106"),
    ("Atlanta", "GA", "30303"),
    ("Miami", "FL", "33130"),
    ("Minneapolis", "MN", "55401"),
    ("New Orleans", "LA", "70112"),
    ("Tulsa", "OK", "74103"),
    ("Salt Lake City", "UT", "84111"),
    ("St. Louis", "MO", "63101"),
    ("Pittsburgh", "PA", "15222"),
    ("Cincinnati", "OH", "45202"),
    ("Raleigh", "NC", "27601"),
    ("Richmond", "VA", "23219"),
    ("Honolulu", "HI", "96813"),
    ("Anchorage", "AK", "99501"),
    ("Portland", "ME", "04101"),
    ("Burlington", "VT", "05401"),
    ("Boise", "ID", "83702"),
    ("Omaha", "NE", "68102"),
    ("Birmingham", "AL", "35203"),
]

WAREHOUSES = [
    ("EWR", "Edison NJ (Northeast)", "2 Fulfillment Way", "Edison", "NJ", "08817"),
    ("ATL", "Atlanta GA (Southeast)", "300 Logistics Pkwy", "Atlanta", "GA", "30303"),
    ("DAL", "Dallas TX (Central)", "1200 Commerce St", "Dallas", "TX", "75201"),
    ("RNO", "Reno NV (West)", "85 Distribution Dr", "Reno", "NV", "89501"),
]

CHANNELS = [
    ("webstore", "Web store", Channel.Kind.WEB_STORE),
    ("amazon", "Amazon Marketplace", Channel.Kind.MARKETPLACE),
    ("ebay", "eBay", Channel.Kind.MARKETPLACE),
    ("phone", "Phone orders", Channel.Kind.PHONE),
    ("wholesale", "Wholesale", Channel.Kind.WHOLESALE),
]
CHANNEL_WEIGHTS = [55, 25, 8, 7, 5]

PRODUCT_FAMILIES = [
    ("TEE", "Organic cotton tee", Decimal("24.00"), Decimal("0.20"), ["XS", "S", "M", "L", "XL"]),
    ("HOOD", "Fleece hoodie", Decimal("64.00"), Decimal("0.65"), ["S", "M", "L", "XL"]),
    ("CAP", "Six-panel cap", Decimal("28.00"), Decimal("0.12"), ["NAVY", "OLIVE", "BLACK"]),
    ("MUG", "Stoneware mug 12 oz", Decimal("18.00"), Decimal("0.45"), ["WHT", "BLU", "GRN"]),
    ("BTL", "Insulated bottle 750 ml", Decimal("32.00"), Decimal("0.40"), ["STEEL", "BLACK", "SAGE"]),
    ("PACK", "Daypack 22 L", Decimal("89.00"), Decimal("0.90"), ["GREY", "BLACK"]),
    ("SOCK", "Merino socks", Decimal("19.00"), Decimal("0.08"), ["S", "M", "L"]),
    ("LAMP", "Desk lamp LED", Decimal("74.00"), Decimal("1.60"), ["BLACK", "WHITE"]),
    ("NOTE", "Dot-grid notebook A5", Decimal("14.00"), Decimal("0.30"), ["RED", "BLUE", "BLACK"]),
    ("PEN", "Aluminium pen", Decimal("22.00"), Decimal("0.03"), ["SILVER", "BLACK"]),
    ("TOTE", "Canvas tote", Decimal("26.00"), Decimal("0.25"), ["NATURAL", "BLACK"]),
    ("BOARD", "Bamboo cutting board", Decimal("39.00"), Decimal("1.10"), ["M", "L"]),
    ("KNIFE", "Chef knife 8 in", Decimal("119.00"), Decimal("0.35"), ["STD"]),
    ("SPKR", "Bluetooth speaker", Decimal("99.00"), Decimal("0.70"), ["BLACK", "SAND"]),
    ("CHGR", "USB-C charger 65 W", Decimal("45.00"), Decimal("0.15"), ["STD"]),
    ("JKT", "Packable rain jacket", Decimal("129.00"), Decimal("0.45"), ["S", "M", "L", "XL"]),
    ("BEANIE", "Rib-knit beanie", Decimal("22.00"), Decimal("0.10"), ["GREY", "NAVY", "RUST"]),
    ("SHORT", "Trail shorts", Decimal("48.00"), Decimal("0.22"), ["S", "M", "L"]),
    ("SCARF", "Wool scarf", Decimal("45.00"), Decimal("0.20"), ["OAT", "CHARCOAL"]),
]

FIRST_NAMES = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Daniel",
    "Lisa",
    "Matthew",
    "Nancy",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "José",
    "Zoë",
    "Nguyễn",
    "Aaliyah",
    "Mateo",
    "Priya",
    "Wei",
    "Fatima",
    "Olivia",
    "Liam",
    "Chloé",
    "Björn",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Pérez",
    "Thompson",
    "White",
    "Harris",
    "Sánchez",
    "Clark",
    "Ramírez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "O'Brien",
]
STREETS = ["Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Blvd", "Pine St", "Elm St", "Lake Rd", "Hill St"]

# Share of each status in a long-running shop's order history.
STATUS_WEIGHTS = {
    S.RECEIVED: 2.0,
    S.ALLOCATED: 4.0,
    S.BACKORDERED: 1.5,
    S.ON_HOLD: 0.6,
    S.PARTIALLY_SHIPPED: 1.0,
    S.SHIPPED: 6.0,
    S.DELIVERED: 79.9,
    S.CANCELLED: 5.0,
}
# How long ago (hours, min..max) an order in each status was placed.
STATUS_AGE_HOURS = {
    S.RECEIVED: (0.05, 3),
    S.ALLOCATED: (1, 48),
    S.BACKORDERED: (6, 240),
    S.ON_HOLD: (2, 120),
    S.PARTIALLY_SHIPPED: (24, 144),
    S.SHIPPED: (24, 144),
    S.DELIVERED: (72, 24 * 365),
    S.CANCELLED: (2, 24 * 365),
}
HOLD_REASONS = ["Address could not be verified", "Payment review", "Customer asked to wait", "Fraud score high"]
CANCEL_REASONS = ["Customer request", "Payment declined", "Duplicate order", "Item discontinued"]
OPS_USERS = ["ops.manager", "ops.associate"]
TAX_RATE = Decimal("0.0825")
CENT = Decimal("0.01")


@dataclass
class SeedResult:
    orders: int
    lines: int
    events: int
    customers: int


def seed_demo(*, orders: int, seed: int = 1, today: dt.date | None = None, batch_size: int = 20_000) -> SeedResult:
    """Create the reference data (once) and ``orders`` more orders, deterministically.

    The same seed on an empty database gives the same rows; dates are
    relative to ``today`` (default: the local date).
    """
    rng = random.Random(seed)
    now = _anchor_now(today)
    with transaction.atomic():
        channels = _ensure_channels()
        products = _ensure_products()
        warehouses = _ensure_warehouses()
        ensure_demo_carriers()
    customer_count = 0
    line_count = 0
    event_count = 0
    writer = BulkWriter()
    customers = _make_customers(
        rng, count=min(max(50, orders // 4), 250_000), writer=writer, now=now, warehouses=warehouses
    )
    customer_count = len(customers)
    order_id = _next_id(Order)
    line_id = _next_id(OrderLine)
    event_id = _next_id(OrderEvent)
    allocation_id = _next_id(Allocation)
    reserved: dict[tuple[int, int], int] = defaultdict(int)  # (warehouse, product) -> units allocated
    remaining = orders
    first = True
    while remaining > 0:
        size = min(batch_size, remaining)
        order_rows, line_rows, event_rows, allocation_rows = [], [], [], []
        for index in range(size):
            # The first orders walk through every status so small seeds show them all.
            status = list(STATUS_WEIGHTS)[index] if first and index < len(STATUS_WEIGHTS) else None
            order_row, lines, events, warehouse = _make_order(
                rng,
                order_id=order_id,
                first_line_id=line_id,
                first_event_id=event_id,
                status=status,
                now=now,
                channels=channels,
                products=products,
                customers=customers,
            )
            order_rows.append(order_row)
            line_rows.extend(lines)
            event_rows.extend(events)
            for line in lines:
                line_pk, product_id, allocated = line[0], line[2], line[7]
                if allocated:
                    allocation_rows.append(
                        (allocation_id, order_id, line_pk, warehouse.pk, product_id, allocated, order_row[-1])
                    )
                    allocation_id += 1
                    reserved[(warehouse.pk, product_id)] += allocated
            order_id += 1
            line_id += len(lines)
            event_id += len(events)
        with transaction.atomic():
            writer.write(Order, ORDER_COLUMNS, order_rows)
            writer.write(OrderLine, LINE_COLUMNS, line_rows)
            writer.write(OrderEvent, EVENT_COLUMNS, event_rows)
            writer.write(Allocation, ALLOCATION_COLUMNS, allocation_rows)
        line_count += len(line_rows)
        event_count += len(event_rows)
        remaining -= size
        first = False
    _stock_warehouses(rng, warehouses=warehouses, products=products, reserved=reserved, now=now)
    writer.finish([Customer, Address, Order, OrderLine, OrderEvent, Allocation])
    return SeedResult(orders=orders, lines=line_count, events=event_count, customers=customer_count)


def _anchor_now(today: dt.date | None) -> dt.datetime:
    current = timezone.localtime()
    if today is None:
        return current
    return current.replace(year=today.year, month=today.month, day=today.day)


def _ensure_channels() -> list[Channel]:
    channels = []
    for code, name, kind in CHANNELS:
        channel, _ = Channel.objects.get_or_create(code=code, defaults={"name": name, "kind": kind})
        channels.append(channel)
    return channels


def _ensure_products() -> list[Product]:
    products = []
    for family, name, price, weight, variants in PRODUCT_FAMILIES:
        for variant in variants:
            product, _ = Product.objects.get_or_create(
                sku=f"{family}-{variant}",
                defaults={"name": f"{name} · {variant.title()}", "price": price, "weight_kg": weight},
            )
            products.append(product)
    return products


def _ensure_warehouses() -> list[Warehouse]:
    warehouses = []
    for code, name, line1, city, state, postal_code in WAREHOUSES:
        warehouse = Warehouse.objects.filter(code=code).first()
        if warehouse is None:
            warehouse = Warehouse(
                code=code, name=name, address_line1=line1, city=city, state=state, postal_code=postal_code
            )
            warehouse.locate()
            warehouse.save()
        warehouses.append(warehouse)
    return warehouses


def _nearest(warehouses: list[Warehouse], postal_code: str) -> Warehouse:
    point = geo.coordinates(postal_code)
    return min(warehouses, key=lambda w: geo.distance_km(point, w.coordinates))


def _stock_warehouses(rng, *, warehouses, products, reserved: dict, now) -> None:
    """Give every warehouse stock of every SKU: what orders hold plus what is free to sell.

    On hand enters the ledger as an opening receipt, so the ledger sums to on
    hand, and allocated equals the allocation rows written with the orders.
    """
    opening = now - dt.timedelta(days=400)
    with transaction.atomic():
        for warehouse in warehouses:
            for index, product in enumerate(products):
                key = (warehouse.pk, product.pk)
                level, created = StockLevel.objects.get_or_create(
                    warehouse=warehouse,
                    product=product,
                    defaults={
                        "reorder_point": rng.choice((10, 20, 25, 40)),
                        "bin_location": f"{'ABCD'[index % 4]}-{index // 4 + 1:02d}-{rng.randint(1, 5)}",
                    },
                )
                free = rng.choice((0, 12, 60, 120, 180, 250, 400, 600)) if created else 0
                added = free + reserved.get(key, 0)
                if added:
                    level.on_hand += added
                    level.allocated += reserved.get(key, 0)
                    level.save(update_fields=["on_hand", "allocated"])
                    StockMovement.objects.create(
                        warehouse=warehouse,
                        product=product,
                        kind=StockMovement.Kind.RECEIPT,
                        quantity=added,
                        reason="Opening stock (demo data)",
                        reference="DEMO",
                        actor_name="demo data",
                        created_at=opening,
                    )


def _next_id(model) -> int:
    last = model.objects.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


CUSTOMER_COLUMNS = ["id", "name", "email", "phone", "accepts_marketing", "created_at"]
ADDRESS_COLUMNS = [
    "id",
    "customer_id",
    "name",
    "company",
    "line1",
    "line2",
    "city",
    "state",
    "postal_code",
    "country",
    "phone",
]
ORDER_COLUMNS = [
    "id",
    "number",
    "channel_id",
    "external_id",
    "customer_id",
    "shipping_address_id",
    "billing_address_id",
    "status",
    "held_from_status",
    "currency",
    "subtotal",
    "shipping_total",
    "tax_total",
    "discount_total",
    "grand_total",
    "promised_date",
    "placed_at",
    "updated_at",
]
LINE_COLUMNS = [
    "id",
    "order_id",
    "product_id",
    "sku",
    "name",
    "quantity",
    "unit_price",
    "quantity_allocated",
    "quantity_shipped",
    "quantity_returned",
]
EVENT_COLUMNS = ["id", "order_id", "kind", "message", "actor_id", "actor_name", "data", "created_at"]
ALLOCATION_COLUMNS = ["id", "order_id", "order_line_id", "warehouse_id", "product_id", "quantity", "created_at"]


def _make_customers(
    rng: random.Random, *, count: int, writer: BulkWriter, now: dt.datetime, warehouses: list[Warehouse]
) -> list[tuple[int, int, Warehouse]]:
    """Create customers with one address each; returns (customer id, address id, nearest warehouse)."""
    nearest = {postal_code: _nearest(warehouses, postal_code) for _, _, postal_code in US_PLACES}
    customer_id = _next_id(Customer)
    address_id = _next_id(Address)
    pairs = []
    customer_rows, address_rows = [], []
    for _ in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        name = f"{first} {last}"
        email_local = f"{first}.{last}".lower().replace("'", "").encode("ascii", "ignore").decode() or "customer"
        email = f"{email_local}.{customer_id}@example.com"
        phone = f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
        city, state, postal_code = rng.choice(US_PLACES)
        created = now - dt.timedelta(days=rng.randint(30, 900))
        customer_rows.append((customer_id, name, email, phone, rng.random() < 0.35, created))
        address_rows.append(
            (
                address_id,
                customer_id,
                name,
                "",
                f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
                "" if rng.random() < 0.8 else f"Apt {rng.randint(1, 40)}",
                city,
                state,
                postal_code,
                "US",
                phone,
            )
        )
        pairs.append((customer_id, address_id, nearest[postal_code]))
        customer_id += 1
        address_id += 1
        if len(customer_rows) >= 20_000:
            _flush_customers(writer, customer_rows, address_rows)
    _flush_customers(writer, customer_rows, address_rows)
    return pairs


def _flush_customers(writer: BulkWriter, customer_rows: list, address_rows: list) -> None:
    with transaction.atomic():
        writer.write(Customer, CUSTOMER_COLUMNS, customer_rows)
        writer.write(Address, ADDRESS_COLUMNS, address_rows)
    customer_rows.clear()
    address_rows.clear()


def _make_order(
    rng: random.Random,
    *,
    order_id: int,
    first_line_id: int,
    first_event_id: int,
    status: str | None,
    now: dt.datetime,
    channels: list[Channel],
    products: list[Product],
    customers: list[tuple[int, int, Warehouse]],
):
    status = status or rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    low, high = STATUS_AGE_HOURS[status]
    placed_at = now - dt.timedelta(hours=rng.uniform(low, high))
    channel = rng.choices(channels, weights=CHANNEL_WEIGHTS)[0]
    customer_id, address_id, warehouse = rng.choice(customers)
    promised_date = timezone.localdate(placed_at) + dt.timedelta(days=rng.choice((2, 3, 3, 4, 5, 5, 7)))
    held_from = ""
    path = _status_path(rng, status)
    if status == S.ON_HOLD:
        held_from = path[-2]

    # Lines: 1-4 distinct SKUs, mostly single units.
    line_count = rng.choices((1, 2, 3, 4), weights=(55, 28, 12, 5))[0]
    if status == S.PARTIALLY_SHIPPED:
        line_count = max(line_count, 2)  # one line left, one still waiting
    chosen = rng.sample(products, line_count)
    lines = []
    subtotal = Decimal("0")
    for position, product in enumerate(chosen):
        quantity = rng.choices((1, 2, 3, 5), weights=(75, 17, 6, 2))[0]
        allocated, shipped = _line_quantities(status, held_from, position, line_count, quantity)
        lines.append(
            (
                first_line_id + position,
                order_id,
                product.pk,
                product.sku,
                product.name,
                quantity,
                product.price,
                allocated,
                shipped,
                0,
            )
        )
        subtotal += product.price * quantity
    shipping = Decimal("0.00") if subtotal >= 75 else rng.choice((Decimal("5.99"), Decimal("9.99")))
    tax = (subtotal * TAX_RATE).quantize(CENT)
    discount = (subtotal * Decimal("0.10")).quantize(CENT) if rng.random() < 0.12 else Decimal("0.00")
    grand_total = subtotal + shipping + tax - discount
    external_id = f"{channel.code[:3].upper()}-{order_id + 500_000}"
    number = format_order_number(order_id)
    events = _timeline(rng, order_id, first_event_id, path, placed_at, now, channel, external_id, warehouse)
    updated_at = _event_time(events[-1]) if events else placed_at
    order_row = (
        order_id,
        number,
        channel.pk,
        external_id,
        customer_id,
        address_id,
        address_id,
        status,
        held_from,
        "USD",
        subtotal,
        shipping,
        tax,
        discount,
        grand_total,
        promised_date,
        placed_at,
        updated_at,
    )
    return order_row, lines, events, warehouse


def _status_path(rng: random.Random, status: str) -> list[str]:
    """The statuses an order went through to reach ``status``."""
    if status == S.RECEIVED:
        return [S.RECEIVED]
    if status == S.ALLOCATED:
        return [S.RECEIVED, S.ALLOCATED]
    if status == S.BACKORDERED:
        return [S.RECEIVED, S.BACKORDERED]
    if status == S.ON_HOLD:
        return [S.RECEIVED, *rng.choice(([], [S.ALLOCATED], [S.BACKORDERED])), S.ON_HOLD]
    if status == S.PARTIALLY_SHIPPED:
        return [S.RECEIVED, S.ALLOCATED, S.PARTIALLY_SHIPPED]
    if status == S.SHIPPED:
        return [S.RECEIVED, S.ALLOCATED, S.SHIPPED]
    if status == S.DELIVERED:
        return [S.RECEIVED, S.ALLOCATED, S.SHIPPED, S.DELIVERED]
    return [S.RECEIVED, *rng.choice(([], [S.ALLOCATED], [S.ON_HOLD])), S.CANCELLED]


def _line_quantities(status: str, held_from: str, position: int, line_count: int, quantity: int) -> tuple[int, int]:
    """(allocated, shipped) for a line of an order in ``status``."""
    effective = held_from or status
    if effective == S.ALLOCATED:
        return quantity, 0
    if effective == S.BACKORDERED:
        # The last line waits for stock; the others are reserved.
        return (0 if position == line_count - 1 else quantity), 0
    if effective == S.PARTIALLY_SHIPPED:
        return (0, quantity) if position == 0 else (quantity, 0)
    if effective in (S.SHIPPED, S.DELIVERED):
        return 0, quantity
    return 0, 0


EVENT_GAPS_MINUTES = {
    S.ALLOCATED: (1, 20),
    S.BACKORDERED: (1, 20),
    S.ON_HOLD: (5, 240),
    S.PARTIALLY_SHIPPED: (600, 2000),
    S.SHIPPED: (600, 2000),
    S.DELIVERED: (1440, 4320),
    S.CANCELLED: (10, 600),
}


def _timeline(rng, order_id, first_event_id, path, placed_at, now, channel, external_id, warehouse) -> list[tuple]:
    events = [
        (
            first_event_id,
            order_id,
            OrderEvent.Kind.PLACED,
            f"Order placed on {channel.name} as {external_id}.",
            None,
            f"channel: {channel.code}",
            json.dumps({"channel": channel.code, "external_id": external_id}),
            placed_at,
        )
    ]
    at = placed_at
    previous = S.RECEIVED
    for target in path[1:]:
        low, high = EVENT_GAPS_MINUTES[target]
        at = min(at + dt.timedelta(minutes=rng.uniform(low, high)), now)
        message, actor = _transition_text(rng, previous, target, warehouse)
        events.append(
            (
                first_event_id + len(events),
                order_id,
                OrderEvent.Kind.STATUS_CHANGED,
                message,
                None,
                actor,
                json.dumps({"from": previous, "to": target}),
                at,
            )
        )
        previous = target
    return events


def _transition_text(rng: random.Random, previous: str, target: str, warehouse: Warehouse) -> tuple[str, str]:
    if target == S.ON_HOLD:
        return f"Put on hold: {rng.choice(HOLD_REASONS)}", rng.choice(OPS_USERS)
    if target == S.CANCELLED:
        return f"Cancelled: {rng.choice(CANCEL_REASONS)}", rng.choice(OPS_USERS)
    if target == S.ALLOCATED:
        return f"Shipped from {warehouse.code}: nearest with full stock", "system: routing"
    if target == S.BACKORDERED:
        return f"Shipped from {warehouse.code}: no warehouse had every line; backordered the rest", "system: routing"
    if target == S.DELIVERED:
        return "Shipped → Delivered", "carrier: tracking"
    return f"{S(previous).label} → {S(target).label}", "warehouse"


def _event_time(event: tuple) -> dt.datetime:
    return event[-1]


class BulkWriter:
    """Writes rows with COPY on PostgreSQL, batched INSERTs elsewhere, then fixes sequences."""

    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"

    def write(self, model, columns: list[str], rows: Iterable[tuple]) -> None:
        rows = list(rows)
        if not rows:
            return
        table = connection.ops.quote_name(model._meta.db_table)
        column_sql = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(f"COPY {table} ({column_sql}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                placeholders = ", ".join(["%s"] * len(columns))
                sql = f"INSERT INTO {table} ({column_sql}) VALUES ({placeholders})"
                cursor.executemany(sql, [self._adapt(row) for row in rows])

    @staticmethod
    def _adapt(row: tuple) -> tuple:
        ops = connection.ops
        adapted = []
        for value in row:
            if isinstance(value, dt.datetime):
                value = ops.adapt_datetimefield_value(value)
            elif isinstance(value, dt.date):
                value = ops.adapt_datefield_value(value)
            elif isinstance(value, Decimal):
                value = str(value)
            adapted.append(value)
        return tuple(adapted)

    def finish(self, models: list) -> None:
        """Move id sequences past the explicit ids and refresh planner statistics."""
        if not self.postgres:
            return
        with connection.cursor() as cursor:
            for model in models:
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))",
                    [table],
                )
            for model in models:
                cursor.execute(f"ANALYZE {model._meta.db_table}")
