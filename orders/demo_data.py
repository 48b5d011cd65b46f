"""A realistic, deterministic demo data set, fast enough to be the scale seed.

``seed_demo(orders=N, seed=S)`` makes channels, ~50 SKUs (with prices and
unit costs), warehouses in four US regions, customers at real US postal
codes (each with an address-book entry), and N orders spread over every
status with their own address rows, lines and timelines. Orders that
shipped get their shipment, parcels with tracking numbers, carrier scans and
the shipment's stock-ledger rows. These rows are generated as tuples and
written with COPY on PostgreSQL (1,000,000 orders in a few minutes) or with
batched INSERTs elsewhere; nothing goes through Model.save().

Before that bulk history, the *story* (``demo_story``) drives a few dozen
orders through the real services: card payments, captures, refunds,
returns, order errors, the journal and its export. Stock is opened first so
that the story has goods to sell; the bulk history's units are added to the
same opening receipts at the end, so the ledger sums to on hand.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from inventory import geo
from inventory.models import Allocation, Product, StockLevel, StockMovement, Warehouse, default_time_zone
from oms_core.origins import origin_of, parse_origins
from shipping import rating
from shipping.carriers.table_rate import format_tracking_number
from shipping.demo_data import ensure_demo_carriers
from shipping.models import CarrierService, Parcel, Shipment, ShipmentLine, ShipmentStatus, TrackingEvent, Vendor
from shipping.selectors import clear_rate_cache, load_service_terms
from shipping.services import split_into_parcels

from .models import Address, Channel, Customer, Order, OrderEvent, OrderLine, OrderStatus
from .services import format_order_number, refresh_all_shipping_facts
from .services.channels import new_publishable_key
from .services.holds import type_untyped_holds

if TYPE_CHECKING:
    from .demo_story import StoryResult

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

# Each ships the same day when an order is allocated before its cut-off (DEMO_CUTOFF, the ground carriers' last
# pickup), in its own time zone. Orders placed after it, or at the weekend, must arrive the next business day to
# make two business days, which only ground within about 300 miles does (zones 2-3); the sites are placed so that
# most of the population lives that close to one (bench/network.py, bench/README.md).
WAREHOUSES = [
    ("EWR", "Edison NJ (Northeast)", "2 Fulfillment Way", "Edison", "NJ", "08817", "America/New_York"),
    ("ATL", "Atlanta GA (Southeast)", "300 Logistics Pkwy", "Atlanta", "GA", "30303", "America/New_York"),
    ("DAL", "Dallas TX (Central)", "1200 Commerce St", "Dallas", "TX", "75201", "America/Chicago"),
    ("RNO", "Reno NV (West)", "85 Distribution Dr", "Reno", "NV", "89501", "America/Los_Angeles"),
    ("LAF", "Lafayette IN (Midwest)", "40 Wabash Ct", "Lafayette", "IN", "47901", "America/Indiana/Indianapolis"),
    ("IGM", "Kingman AZ (Southwest)", "2500 Airway Ave", "Kingman", "AZ", "86401", "America/Phoenix"),
    ("MCO", "Orlando FL (Florida)", "9 Landstreet Rd", "Orlando", "FL", "32801", "America/New_York"),
    ("DSM", "Des Moines IA (Plains)", "600 Army Post Rd", "Des Moines", "IA", "50309", "America/Chicago"),
    ("PDT", "Pendleton OR (Northwest)", "1 Airport Rd", "Pendleton", "OR", "97801", "America/Los_Angeles"),
    ("GJT", "Grand Junction CO (Rockies)", "2828 Walker Field Dr", "Grand Junction", "CO", "81501", "America/Denver"),
    ("MLU", "Monroe LA (Gulf)", "5400 Operations Rd", "Monroe", "LA", "71201", "America/Chicago"),
]
DEMO_CUTOFF = dt.time(18, 0)

# The demo warehouse a 3PL runs: routing reserves its stock like any other's, the 3PL (the simulator `make run`
# starts beside the web server) ships what is released to it. Not one of WAREHOUSES: the bulk history and the
# story ship only from our own sites, and a release needs the 3PL to answer.
DEMO_3PL_WAREHOUSE = ("CMH", "Columbus OH (3PL)", "4600 Alum Creek Dr", "Columbus", "OH", "43207", "America/New_York")
DEMO_3PL_CODE = "demo-3pl"
DEMO_3PL_NAME = "Buckeye Fulfilment (demo 3PL)"
DEMO_3PL_STOCK = (40, 60, 120, 80, 25)  # units per SKU, in turn

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

# What one unit of each family costs us (write-offs are valued at it): roughly 35-45 % of the price.
UNIT_COSTS = {
    "TEE": Decimal("9.10"),
    "HOOD": Decimal("25.60"),
    "CAP": Decimal("10.40"),
    "MUG": Decimal("6.30"),
    "BTL": Decimal("12.80"),
    "PACK": Decimal("37.40"),
    "SOCK": Decimal("7.20"),
    "LAMP": Decimal("31.10"),
    "NOTE": Decimal("4.90"),
    "PEN": Decimal("8.40"),
    "TOTE": Decimal("9.90"),
    "BOARD": Decimal("15.60"),
    "KNIFE": Decimal("47.60"),
    "SPKR": Decimal("41.60"),
    "CHGR": Decimal("17.10"),
    "JKT": Decimal("51.60"),
    "BEANIE": Decimal("8.10"),
    "SHORT": Decimal("19.20"),
    "SCARF": Decimal("17.60"),
}

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
# Cumulative weights, as random.choices would compute them on every call (the same draws, less work).
STATUSES = list(STATUS_WEIGHTS)
STATUS_CUM_WEIGHTS = list(accumulate(STATUS_WEIGHTS.values()))
CHANNEL_CUM_WEIGHTS = list(accumulate(CHANNEL_WEIGHTS))
LINE_COUNT_CUM_WEIGHTS = list(accumulate((55, 28, 12, 5)))
QUANTITY_CUM_WEIGHTS = list(accumulate((75, 17, 6, 2)))
OPS_USERS = ["ops.manager", "ops.associate"]
TAX_RATE = Decimal("0.0825")
CENT = Decimal("0.01")


# Shipped orders' parcels are of this size (the console shows it; rates go by weight).
PARCEL_SIZE_CM = (30, 20, 15)


@dataclass
class SeedResult:
    orders: int
    lines: int
    events: int
    customers: int
    shipments: int = 0
    story: StoryResult | None = None  # when the story was asked for (it says so when it was skipped)


def seed_demo(
    *,
    orders: int,
    seed: int = 1,
    today: dt.date | None = None,
    now: dt.datetime | None = None,
    batch_size: int = 20_000,
    story: bool = True,
) -> SeedResult:
    """Create the reference data (once), the story (on an empty database) and ``orders`` more orders.

    The same seed on an empty database gives the same rows; dates are
    relative to ``today`` (default: the local date), times to ``now``
    (default: the current time, on ``today``).
    """
    rng = random.Random(seed)
    now = timezone.localtime(now) if now else _anchor_now(today)
    with transaction.atomic():
        channels = _ensure_channels()
        products = _ensure_products()
        warehouses = _ensure_warehouses()
        ensure_demo_carriers()
    clear_rate_cache()  # quotes from here on see the rate cards as they now are, not as this process last read them
    opening = _open_stock(rng, warehouses=warehouses, products=products, now=now)
    told = None
    if story:
        from .demo_story import tell_story

        told = tell_story(seed=seed, now=now)
    writer = BulkWriter()
    customers = _make_customers(
        rng, count=min(max(50, orders // 4), 250_000), writer=writer, now=now, warehouses=warehouses
    )
    order_id = _next_id(Order)
    address_id = _next_id(Address)
    line_id = _next_id(OrderLine)
    event_id = _next_id(OrderEvent)
    allocation_id = _next_id(Allocation)
    history = ShippedHistory()
    reserved: dict[tuple[int, int], int] = defaultdict(int)  # (warehouse, product) -> units allocated
    line_count = event_count = 0
    remaining = orders
    first = True
    while remaining > 0:
        size = min(batch_size, remaining)
        address_rows, order_rows, line_rows, event_rows, allocation_rows = [], [], [], [], []
        for index in range(size):
            # The first orders walk through every status so small seeds show them all.
            status = STATUSES[index] if first and index < len(STATUSES) else None
            order_row, lines, events, customer, stamps = _make_order(
                rng,
                order_id=order_id,
                address_id=address_id,
                first_line_id=line_id,
                first_event_id=event_id,
                status=status,
                now=now,
                channels=channels,
                products=products,
                customers=customers,
            )
            warehouse = customer.warehouse
            address_rows.append((address_id, None, *customer.address))
            order_rows.append(order_row)
            line_rows.extend(lines)
            event_rows.extend(events)
            shipped_lines = []
            for line, product in zip(lines, stamps.products, strict=True):
                line_pk, allocated, shipped = line[0], line[7], line[8]
                if allocated:
                    allocation_rows.append(
                        (allocation_id, order_id, line_pk, warehouse.pk, product.pk, allocated, order_row[-1])
                    )
                    allocation_id += 1
                    reserved[(warehouse.pk, product.pk)] += allocated
                if shipped:
                    shipped_lines.append((line_pk, product, shipped))
            if shipped_lines:
                delivered_at = stamps.delivered_at
                if delivered_at is None and order_row[7] == S.PARTIALLY_SHIPPED:
                    # What did leave is usually there by now; the order waits for the rest.
                    arrived = stamps.shipped_at + dt.timedelta(hours=rng.uniform(30, 90))
                    delivered_at = arrived if arrived < now else None
                history.add(
                    order_id=order_id,
                    order_number=order_row[1],
                    warehouse=warehouse,
                    customer=customer,
                    lines=shipped_lines,
                    promised_date=order_row[15],
                    created_at=stamps.allocated_at + (stamps.shipped_at - stamps.allocated_at) / 3,
                    shipped_at=stamps.shipped_at,
                    delivered_at=delivered_at,
                )
            order_id += 1
            address_id += 1
            line_id += len(lines)
            event_id += len(events)
        with transaction.atomic():
            writer.write(Address, ADDRESS_COLUMNS, address_rows)
            writer.write(Order, ORDER_COLUMNS, order_rows)
            writer.write(OrderLine, LINE_COLUMNS, line_rows)
            writer.write(OrderEvent, EVENT_COLUMNS, event_rows)
            writer.write(Allocation, ALLOCATION_COLUMNS, allocation_rows)
            history.write(writer)
        line_count += len(line_rows)
        event_count += len(event_rows)
        remaining -= size
        first = False
    _stock_for_history(opening, reserved=reserved, shipped=history.shipped_units, now=now)
    history.finish()
    writer.finish(
        [Customer, Address, Order, OrderLine, OrderEvent, Allocation, Shipment, ShipmentLine, Parcel, TrackingEvent]
    )
    if history.count:
        writer.analyze([StockMovement, StockLevel])
        refresh_all_shipping_facts()  # the shipments were written directly: the cockpit reads their facts
    type_untyped_holds()  # the holds were written directly too: the home counts holds by type from their rows
    ensure_demo_3pl(now=now)  # after the story and the history: they ship from our own warehouses only
    return SeedResult(
        orders=orders,
        lines=line_count,
        events=event_count,
        customers=len(customers),
        shipments=history.count,
        story=told,
    )


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
    ensure_storefront_key(channels[0])
    return channels


def ensure_storefront_key(channel: Channel, base_url: str = "") -> None:
    """The web store's publishable key, and the OMS's own origin (``base_url`` or OMS_BASE_URL's) allowed."""
    origins = parse_origins("\n".join([*channel.origins, origin_of(base_url or settings.OMS_BASE_URL)]))
    if channel.publishable_key and origins == channel.origins:
        return
    channel.publishable_key = channel.publishable_key or new_publishable_key()
    channel.publishable_key_issued_at = channel.publishable_key_issued_at or timezone.now()
    channel.allowed_origins = "\n".join(origins)
    channel.save(update_fields=["publishable_key", "publishable_key_issued_at", "allowed_origins"])


def _ensure_products() -> list[Product]:
    """The catalogue; products made before unit costs were kept get theirs (a cost of 0 values nothing)."""
    products = []
    for family, name, price, weight, variants in PRODUCT_FAMILIES:
        for variant in variants:
            product, created = Product.objects.get_or_create(
                sku=f"{family}-{variant}",
                defaults={
                    "name": f"{name} · {variant.title()}",
                    "price": price,
                    "unit_cost": UNIT_COSTS[family],
                    "weight_kg": weight,
                },
            )
            if not created and not product.unit_cost:
                product.unit_cost = UNIT_COSTS[family]
                product.save(update_fields=["unit_cost"])
            products.append(product)
    return products


def demo_network_in_its_zones() -> int:
    """The demo warehouses of a database seeded before warehouses had a time zone: their real zones, and the
    same-day shipping the demo network has (``make run``'s ``create_demo_logins``; the embedded shape only, never a
    migration, which would change real warehouses that happen to share a code and a city). Those already set
    (a zone other than the default) are left alone. Returns how many changed."""
    changed = 0
    for code, _, _, city, _, _, time_zone in WAREHOUSES:
        changed += Warehouse.objects.filter(code=code, city=city, time_zone=default_time_zone()).update(
            time_zone=time_zone, processing_days=0
        )
    return changed


def ensure_demo_network() -> tuple[list[Warehouse], list[Product]]:
    """The demo warehouses, carriers and catalogue, without customers or orders (``bench/network.py``'s network)."""
    ensure_demo_carriers()
    return _ensure_warehouses(), _ensure_products()


def _ensure_warehouses() -> list[Warehouse]:
    warehouses = []
    for code, name, line1, city, state, postal_code, time_zone in WAREHOUSES:
        warehouse = Warehouse.objects.filter(code=code).first()
        if warehouse is None:
            warehouse = Warehouse(
                code=code,
                name=name,
                address_line1=line1,
                city=city,
                state=state,
                postal_code=postal_code,
                time_zone=time_zone,
                processing_days=0,
                daily_cutoff=DEMO_CUTOFF,
            )
            warehouse.locate()
            warehouse.save()
        warehouses.append(warehouse)
    return warehouses


def ensure_demo_3pl(*, now: dt.datetime | None = None):
    """The demo warehouse run by a 3PL, stocked, and its REST connection: returns the connection.

    Made once (a database seeded before it had one gets it from ``create_demo_logins``), only where the demo
    catalogue is: None on a database without it. The shared secret is generated here and kept encrypted like
    every connection's; the endpoint is the simulator's, on 127.0.0.1 at DEMO_3PL_PORT.
    """
    from .partners.models import PartnerConnection

    existing = PartnerConnection.objects.filter(code=DEMO_3PL_CODE).first()
    if existing is not None:
        return existing
    skus = [f"{family}-{variant}" for family, _, _, _, variants in PRODUCT_FAMILIES for variant in variants]
    products = list(Product.objects.filter(sku__in=skus).order_by("sku"))
    if len(products) != len(skus):
        return None
    code, name, line1, city, state, postal_code, time_zone = DEMO_3PL_WAREHOUSE
    opening_at = (now or timezone.now()) - dt.timedelta(days=400)
    with transaction.atomic():
        warehouse = Warehouse.objects.filter(code=code).first()
        if warehouse is None:
            warehouse = Warehouse(
                code=code,
                name=name,
                address_line1=line1,
                city=city,
                state=state,
                postal_code=postal_code,
                time_zone=time_zone,
                processing_days=0,
                daily_cutoff=DEMO_CUTOFF,
            )
            warehouse.locate()
            warehouse.save()
        for index, product in enumerate(products):
            level, created = StockLevel.objects.get_or_create(
                warehouse=warehouse, product=product, defaults={"reorder_point": 10}
            )
            if not created:
                continue
            units = DEMO_3PL_STOCK[index % len(DEMO_3PL_STOCK)]
            StockLevel.objects.filter(pk=level.pk).update(on_hand=F("on_hand") + units)
            StockMovement.objects.create(
                warehouse=warehouse,
                product=product,
                kind=StockMovement.Kind.RECEIPT,
                quantity=units,
                reason=OPENING_REASON,
                reference="DEMO",
                actor_name="demo data",
                created_at=opening_at,
            )
        return PartnerConnection.objects.create(
            code=DEMO_3PL_CODE,
            name=DEMO_3PL_NAME,
            warehouse=warehouse,
            kind=PartnerConnection.Kind.REST,
            endpoint=f"http://127.0.0.1:{settings.DEMO_3PL_PORT}",
            secret=secrets.token_urlsafe(32),
            ack_deadline_minutes=30,
        )


def _nearest(warehouses: list[Warehouse], postal_code: str) -> Warehouse:
    point = geo.coordinates(postal_code)
    return min(warehouses, key=lambda w: geo.distance_km(point, w.coordinates))


OPENING_REASON = "Opening stock (demo data)"


def _open_stock(rng, *, warehouses, products, now) -> dict[tuple[int, int], tuple[int, int | None]]:
    """Give every warehouse stock of every SKU that is free to sell, as an opening receipt in the ledger.

    Returns (stock level id, opening movement id or None) per (warehouse id,
    product id); the bulk history's units are added to that receipt later
    (``_stock_for_history``).
    """
    opening_at = now - dt.timedelta(days=400)
    opened = {}
    with transaction.atomic():
        for warehouse in warehouses:
            for index, product in enumerate(products):
                level, created = StockLevel.objects.get_or_create(
                    warehouse=warehouse,
                    product=product,
                    defaults={
                        "reorder_point": rng.choice((10, 20, 25, 40)),
                        "bin_location": f"{'ABCD'[index % 4]}-{index // 4 + 1:02d}-{rng.randint(1, 5)}",
                    },
                )
                free = rng.choice((0, 12, 60, 120, 180, 250, 400, 600)) if created else 0
                movement_id = None
                if free:
                    StockLevel.objects.filter(pk=level.pk).update(on_hand=F("on_hand") + free)
                    movement_id = StockMovement.objects.create(
                        warehouse=warehouse,
                        product=product,
                        kind=StockMovement.Kind.RECEIPT,
                        quantity=free,
                        reason=OPENING_REASON,
                        reference="DEMO",
                        actor_name="demo data",
                        created_at=opening_at,
                    ).pk
                opened[(warehouse.pk, product.pk)] = (level.pk, movement_id)
    return opened


def _stock_for_history(opened: dict, *, reserved: dict, shipped: dict, now: dt.datetime) -> None:
    """Add the units the bulk history holds (allocated) and shipped to each level's opening receipt.

    The shipped units leave again through the history's shipment movements,
    so the ledger sums to on hand; allocated equals the allocation rows. A
    level opened empty, or before this seed, gets a receipt of its own.
    """
    with transaction.atomic():
        for key in sorted(set(reserved) | set(shipped)):
            held, sent = reserved.get(key, 0), shipped.get(key, 0)
            if held + sent == 0:
                continue
            level_id, movement_id = opened[key]
            StockLevel.objects.filter(pk=level_id).update(on_hand=F("on_hand") + held, allocated=F("allocated") + held)
            if movement_id is not None:
                StockMovement.objects.filter(pk=movement_id).update(quantity=F("quantity") + held + sent)
                continue
            warehouse_id, product_id = key
            StockMovement.objects.create(
                warehouse_id=warehouse_id,
                product_id=product_id,
                kind=StockMovement.Kind.RECEIPT,
                quantity=held + sent,
                reason=OPENING_REASON,
                reference="DEMO",
                actor_name="demo data",
                created_at=now - dt.timedelta(days=400),
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
SHIPMENT_COLUMNS = [
    "id",
    "number",
    "order_id",
    "order_number",
    "warehouse_id",
    "service_id",
    "status",
    "ship_to",
    "promised_date",
    "estimated_delivery",
    "ship_date",
    "zone",
    "shipping_cost",
    "currency",
    "choice_reason",
    "options",
    "label_format",
    "label_file",
    "label_error",
    "created_at",
    "shipped_at",
    "delivered_at",
]
SHIPMENT_LINE_COLUMNS = ["shipment_id", "order_line_id", "product_id", "sku", "name", "quantity"]
PARCEL_COLUMNS = ["shipment_id", "index", "weight_kg", "length_cm", "width_cm", "height_cm", "tracking_number"]
TRACKING_COLUMNS = [
    "shipment_id",
    "tracking_number",
    "status",
    "description",
    "location",
    "occurred_at",
    "source",
    "recorded_by",
    "created_at",
]
MOVEMENT_COLUMNS = [
    "warehouse_id",
    "product_id",
    "kind",
    "quantity",
    "reason",
    "reference",
    "order_id",
    "actor_name",
    "created_at",
]


@dataclass(frozen=True)
class BulkCustomer:
    """A seeded customer: the address orders copy, the warehouse nearest to it, its label snapshot."""

    pk: int
    address: tuple  # ADDRESS_COLUMNS[2:]
    warehouse: Warehouse
    ship_to: str  # JSON, as a shipment keeps it

    @property
    def postal_code(self) -> str:
        return self.address[6]

    @property
    def place(self) -> str:
        return f"{self.address[4]}, {self.address[5]}"


def _make_customers(
    rng: random.Random, *, count: int, writer: BulkWriter, now: dt.datetime, warehouses: list[Warehouse]
) -> list[BulkCustomer]:
    """Create customers, each with one address-book entry (the address their orders copy)."""
    nearest = {postal_code: _nearest(warehouses, postal_code) for _, _, postal_code in US_PLACES}
    customer_id = _next_id(Customer)
    address_id = _next_id(Address)
    customers = []
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
        address = (
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
        address_rows.append((address_id, customer_id, *address))
        ship_to = json.dumps(dict(zip(SHIP_TO_KEYS, address, strict=True)), ensure_ascii=False)
        customers.append(BulkCustomer(customer_id, address, nearest[postal_code], ship_to))
        customer_id += 1
        address_id += 1
        if len(customer_rows) >= 20_000:
            _flush_customers(writer, customer_rows, address_rows)
    _flush_customers(writer, customer_rows, address_rows)
    return customers


SHIP_TO_KEYS = ("name", "company", "line1", "line2", "city", "state", "postal_code", "country", "phone")


def _flush_customers(writer: BulkWriter, customer_rows: list, address_rows: list) -> None:
    with transaction.atomic():
        writer.write(Customer, CUSTOMER_COLUMNS, customer_rows)
        writer.write(Address, ADDRESS_COLUMNS, address_rows)
    customer_rows.clear()
    address_rows.clear()


@dataclass
class Stamps:
    """When an order's steps happened, and the products of its lines (in line order)."""

    products: list[Product]
    waiting: str = ""
    allocated_at: dt.datetime | None = None
    shipped_at: dt.datetime | None = None
    delivered_at: dt.datetime | None = None


def _make_order(
    rng: random.Random,
    *,
    order_id: int,
    address_id: int,
    first_line_id: int,
    first_event_id: int,
    status: str | None,
    now: dt.datetime,
    channels: list[Channel],
    products: list[Product],
    customers: list[BulkCustomer],
):
    status = status or rng.choices(STATUSES, cum_weights=STATUS_CUM_WEIGHTS)[0]
    low, high = STATUS_AGE_HOURS[status]
    placed_at = now - dt.timedelta(hours=rng.uniform(low, high))
    channel = rng.choices(channels, cum_weights=CHANNEL_CUM_WEIGHTS)[0]
    customer = rng.choice(customers)
    warehouse = customer.warehouse
    # placed_at is ``now`` (local time) less a duration: its own date is the local date, without a conversion.
    promised_date = placed_at.date() + dt.timedelta(days=rng.choice((2, 3, 3, 4, 5, 5, 7)))
    held_from = ""
    path = _status_path(rng, status)
    if status == S.ON_HOLD:
        held_from = path[-2]

    # Lines: 1-4 distinct SKUs, mostly single units.
    line_count = rng.choices((1, 2, 3, 4), cum_weights=LINE_COUNT_CUM_WEIGHTS)[0]
    if status == S.PARTIALLY_SHIPPED:
        line_count = max(line_count, 2)  # one line left, one still waiting
    chosen = rng.sample(products, line_count)
    lines = []
    subtotal = Decimal("0")
    shipped_units = 0
    for position, product in enumerate(chosen):
        quantity = rng.choices((1, 2, 3, 5), cum_weights=QUANTITY_CUM_WEIGHTS)[0]
        allocated, shipped = _line_quantities(status, held_from, position, line_count, quantity)
        shipped_units += shipped
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
    stamps = Stamps(products=chosen)
    shipment = (f"{number}-1", shipped_units) if shipped_units else None
    # What a backordered order waits for (its last line), and where the lines before it were reserved.
    waiting = f"backordered {lines[-1][5]} × {lines[-1][3]}: not in stock in any eligible warehouse"
    if line_count > 1:
        waiting = f"Reserved at {warehouse.code}: no warehouse had every line, nearest with the most stock; {waiting}"
    stamps.waiting = waiting[:1].upper() + waiting[1:]
    events = _timeline(
        rng, order_id, first_event_id, path, placed_at, now, channel, external_id, warehouse, shipment, stamps
    )
    updated_at = _event_time(events[-1]) if events else placed_at
    order_row = (
        order_id,
        number,
        channel.pk,
        external_id,
        customer.pk,
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
    return order_row, lines, events, customer, stamps


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
# The timeline's data of each move, as JSON text (the same few strings for every order).
TRANSITION_DATA = {(a, b): json.dumps({"from": a, "to": b}) for a in S for b in S}
STAMPED = {S.ALLOCATED: "allocated_at", S.PARTIALLY_SHIPPED: "shipped_at", S.SHIPPED: "shipped_at"}
STAMPED[S.DELIVERED] = "delivered_at"


def _timeline(
    rng, order_id, first_event_id, path, placed_at, now, channel, external_id, warehouse, shipment, stamps
) -> list[tuple]:
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
        message, actor = _transition_text(rng, previous, target, warehouse, shipment, stamps.waiting)
        data = TRANSITION_DATA[(previous, target)]
        if target in (S.SHIPPED, S.PARTIALLY_SHIPPED):
            data = json.dumps({"from": previous, "to": target, "reference": shipment[0]})
        if target == S.ON_HOLD:  # an operator's hold, as events.order_held records it
            reason = message.removeprefix("Put on hold: ")
            data = json.dumps({"from": previous, "to": target, "reason": reason, "cause": "operator"})
        events.append(
            (
                first_event_id + len(events),
                order_id,
                OrderEvent.Kind.STATUS_CHANGED,
                message,
                None,
                actor,
                data,
                at,
            )
        )
        if target in STAMPED:
            setattr(stamps, STAMPED[target], at)
        previous = target
    return events


def _transition_text(
    rng: random.Random,
    previous: str,
    target: str,
    warehouse: Warehouse,
    shipment: tuple[str, int] | None,
    waiting: str,
) -> tuple[str, str]:
    """The timeline's sentence and actor for a move, in the words routing, shipping and tracking use."""
    if target == S.ON_HOLD:
        return f"Put on hold: {rng.choice(HOLD_REASONS)}", rng.choice(OPS_USERS)
    if target == S.CANCELLED:
        return f"Cancelled: {rng.choice(CANCEL_REASONS)}", rng.choice(OPS_USERS)
    if target == S.ALLOCATED:
        return f"Reserved at {warehouse.code}: nearest with full stock", "system: routing"
    if target == S.BACKORDERED:
        return waiting, "system: routing"
    if target == S.DELIVERED:
        return "Delivered: every shipment has arrived", "carrier: tracking"
    if target in (S.SHIPPED, S.PARTIALLY_SHIPPED) and shipment:
        number, units = shipment
        return f"Shipped {units} unit{'s' if units != 1 else ''} ({number})", "warehouse"
    return f"{S(previous).label} → {S(target).label}", "warehouse"


def _event_time(event: tuple) -> dt.datetime:
    return event[-1]


class ShippedHistory:
    """The bulk orders' shipments: parcels with tracking numbers, carrier scans and the ledger rows.

    Each shipped order gets one shipment from its warehouse, priced and dated
    as carrier choice would have done on the day it shipped (the cheapest
    service meeting its promised date, else the fastest), packed into parcels
    as ``create_shipment`` packs them, numbered from each vendor's own
    tracking sequence (moved past the numbers used at the end), and one
    shipment movement per SKU in the stock ledger.
    """

    def __init__(self) -> None:
        self.terms = load_service_terms(CarrierService.objects.filter(is_active=True, vendor__is_active=True))
        vendors = {vendor.pk: vendor for vendor in Vendor.objects.filter(pk__in={t.vendor_id for t in self.terms})}
        self.vendor_of = {terms.service_id: vendors[terms.vendor_id] for terms in self.terms}
        self.serials = {pk: vendor.tracking_serial for pk, vendor in vendors.items()}
        self.breaks = sorted({weight for terms in self.terms for cells in terms.rates.values() for weight, _ in cells})
        self.max_parcel_kg = Decimal(str(settings.SHIPPING_MAX_PARCEL_KG))
        self.holidays = settings.SHIPPING_HOLIDAYS
        self.tz = timezone.get_current_timezone()
        self.next_id = _next_id(Shipment)
        self.shipped_units: dict[tuple[int, int], int] = defaultdict(int)
        self.count = 0
        self._zones: dict[tuple[int, str], int] = {}
        self._parcels: dict[Decimal, tuple[Decimal, ...]] = {}
        self._choices: dict[tuple, tuple] = {}
        self._rows: dict[str, list] = {}
        self._clear()

    def _clear(self) -> None:
        self._rows = {"shipments": [], "lines": [], "parcels": [], "tracking": [], "movements": []}

    def add(
        self,
        *,
        order_id: int,
        order_number: str,
        warehouse: Warehouse,
        customer: BulkCustomer,
        lines: list[tuple[int, Product, int]],
        promised_date: dt.date | None,
        created_at: dt.datetime,
        shipped_at: dt.datetime,
        delivered_at: dt.datetime | None,
    ) -> None:
        shipment_id = self.next_id
        self.next_id += 1
        self.count += 1
        number = f"{order_number}-1"
        zone = self._zone(warehouse, customer.postal_code)
        weights = self._parcel_weights(sum((product.weight_kg * units for _, product, units in lines), Decimal("0")))
        option, ship_date, eta, reason = self._choice(zone, weights, shipped_at.date(), promised_date)
        vendor = self.vendor_of[option.service_id]
        rows = self._rows
        rows["shipments"].append(
            (
                shipment_id,
                number,
                order_id,
                order_number,
                warehouse.pk,
                option.service_id,
                ShipmentStatus.DELIVERED if delivered_at else ShipmentStatus.IN_TRANSIT,
                customer.ship_to,
                promised_date,
                eta,
                ship_date,
                zone,
                option.price,
                "USD",
                reason,
                "[]",
                warehouse.label_format,
                "",
                "",
                created_at,
                shipped_at,
                delivered_at,
            )
        )
        for line_id, product, units in lines:
            rows["lines"].append((shipment_id, line_id, product.pk, product.sku, product.name, units))
            rows["movements"].append(
                (warehouse.pk, product.pk, "shipment", -units, "", number, order_id, "warehouse", shipped_at)
            )
            self.shipped_units[(warehouse.pk, product.pk)] += units
        carrier = f"carrier: {vendor.name}"
        origin = f"{warehouse.city}, {warehouse.state}"
        for index, weight in enumerate(weights, start=1):
            self.serials[vendor.pk] += 1
            tracking_number = format_tracking_number(
                vendor.tracking_prefix, vendor.tracking_digits, self.serials[vendor.pk]
            )
            rows["parcels"].append((shipment_id, index, weight, *PARCEL_SIZE_CM, tracking_number))
            rows["tracking"].append(
                (
                    shipment_id,
                    tracking_number,
                    "in_transit",
                    "Picked up",
                    origin,
                    shipped_at,
                    "webhook",
                    carrier,
                    shipped_at,
                )
            )
            if delivered_at:
                rows["tracking"].append(
                    (
                        shipment_id,
                        tracking_number,
                        "delivered",
                        "Delivered, left at front door",
                        customer.place,
                        delivered_at,
                        "webhook",
                        carrier,
                        delivered_at,
                    )
                )

    def _zone(self, warehouse: Warehouse, postal_code: str) -> int:
        key = (warehouse.pk, postal_code)
        zone = self._zones.get(key)
        if zone is None:
            zone = self._zones[key] = rating.zone_for_distance(
                geo.distance_km(warehouse.coordinates, geo.coordinates(postal_code))
            )
        return zone

    def _parcel_weights(self, total_kg: Decimal) -> tuple[Decimal, ...]:
        weights = self._parcels.get(total_kg)
        if weights is None:
            weights = self._parcels[total_kg] = tuple(split_into_parcels(total_kg, self.max_parcel_kg))
        return weights

    def _choice(self, zone: int, weights: tuple, ship_day: dt.date, promised: dt.date | None):
        """The service carrier choice picks for parcels shipped on ``ship_day``: (option, ship date, ETA, reason).

        Without holidays the answer depends only on the weekday and the days to
        the promise, so it is worked out once per such case (rating.quote and
        rating.choose, the real thing) and its dates moved to the day.
        """
        breaks = tuple(_break_index(self.breaks, weight) for weight in weights)
        days_left = (promised - ship_day).days if promised else None
        key = (zone, breaks, ship_day if self.holidays else ship_day.weekday(), days_left)
        found = self._choices.get(key)
        if found is None:
            options, _ = rating.quote(
                self.terms,
                zone=zone,
                parcel_weights=list(weights),
                now=dt.datetime.combine(ship_day, dt.time(0, 1), tzinfo=self.tz),
                warehouse_cutoff=dt.time(23, 59),
                processing_days=0,
                holidays=self.holidays,
            )
            option, reason = rating.choose(options, promised)
            if option is None:
                raise RuntimeError(f"No demo carrier service can carry parcels of {weights} kg to zone {zone}.")
            template = reason.replace(f"{option.eta:%a %d %b}", "{eta}")
            if promised:
                template = template.replace(f"{promised:%a %d %b}", "{promised}")
            found = self._choices[key] = (
                option,
                (option.ship_date - ship_day).days,
                (option.eta - ship_day).days,
                template,
            )
        option, ship_offset, eta_offset, template = found
        eta = ship_day + dt.timedelta(days=eta_offset)
        reason = template.replace("{eta}", f"{eta:%a %d %b}")
        if promised:
            reason = reason.replace("{promised}", f"{promised:%a %d %b}")
        return option, ship_day + dt.timedelta(days=ship_offset), eta, reason

    def write(self, writer: BulkWriter) -> None:
        """Write the rows gathered so far (inside the caller's transaction, after their orders)."""
        rows = self._rows
        writer.write(Shipment, SHIPMENT_COLUMNS, rows["shipments"])
        writer.write(ShipmentLine, SHIPMENT_LINE_COLUMNS, rows["lines"])
        writer.write(Parcel, PARCEL_COLUMNS, rows["parcels"])
        writer.write(TrackingEvent, TRACKING_COLUMNS, rows["tracking"])
        writer.write(StockMovement, MOVEMENT_COLUMNS, rows["movements"])
        self._clear()

    def finish(self) -> None:
        """Move each vendor's tracking sequence past the numbers the history used."""
        for vendor_id, serial in self.serials.items():
            Vendor.objects.filter(pk=vendor_id, tracking_serial__lt=serial).update(tracking_serial=serial)


def _break_index(breaks: list[Decimal], weight: Decimal) -> int:
    """Which weight break of the rate cards a parcel falls in (rates go by it, not by the exact weight)."""
    for index, limit in enumerate(breaks):
        if weight <= limit:
            return index
    return len(breaks)


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
        self.analyze(models)

    def analyze(self, models: list) -> None:
        """Refresh the planner's statistics of tables that grew a lot."""
        if not self.postgres:
            return
        with connection.cursor() as cursor:
            for model in models:
                cursor.execute(f"ANALYZE {model._meta.db_table}")
