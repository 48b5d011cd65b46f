"""Every non-trivial read of orders, with related rows loaded."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections import defaultdict

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from inventory.models import Allocation, StockLevel
from shipping.documents import (
    PackingSlipData,
    PackingSlipLine,
    PickBin,
    PickInstruction,
    PickItem,
    PickListData,
    PickWarehouse,
    PostalAddress,
)
from shipping.models import UNSHIPPED_STATUSES, Shipment, ShipmentLine, ShipmentStatus
from shipping.services.labels import warehouse_address

from .business_models import MAX_LOGO_BYTES, BusinessProfile
from .models import OPEN_STATUSES, Customer, Hold, Order, OrderEvent, OrderLine, OrderStatus
from .payments.models import PaymentTransaction
from .returns.models import OPEN_RETURN_STATUSES, ReturnRequest

ORDER_NUMBER_RE = re.compile(rf"^(?:{re.escape(settings.ORDER_NUMBER_PREFIX)})?\d{{1,10}}$", re.IGNORECASE)


def order_list() -> QuerySet[Order]:
    """Orders with what a list row shows (channel, customer) joined in."""
    return Order.objects.select_related("channel", "customer")


def with_open_shipment_status(orders) -> list[Order]:
    """The orders, each with ``open_shipment_status`` set, in one query over these orders' shipments.

    ``open_shipment_status`` is the status of the order's least advanced shipment that has not left the
    warehouse (awaiting label before label created), or None. For the order list's fulfilment column:
    the page's rows only (a correlated subquery in the list's query would also run for the rows a deep
    page skips), one indexed query whatever the page's length.
    """
    orders = list(orders)
    if not orders:
        return orders
    rank = {ShipmentStatus.AWAITING_LABEL: 0, ShipmentStatus.LABEL_CREATED: 1}
    least_advanced: dict[int, str] = {}
    for order_id, status in Shipment.objects.filter(
        order_id__in=[order.pk for order in orders], status__in=UNSHIPPED_STATUSES
    ).values_list("order_id", "status"):
        if order_id not in least_advanced or rank[status] < rank[least_advanced[order_id]]:
            least_advanced[order_id] = status
    for order in orders:
        order.open_shipment_status = least_advanced.get(order.pk)
    return orders


def with_line_units(orders) -> list[Order]:
    """The orders, each with ``units`` (the sum of its lines' quantities) and ``units_shipped``, in one query.

    For the order list's items and fulfilment progress: the page's rows only, through the lines' order index.
    """
    orders = list(orders)
    if not orders:
        return orders
    totals = {
        row["order_id"]: (row["units"], row["shipped"])
        for row in OrderLine.objects.filter(order_id__in=[order.pk for order in orders])
        .order_by()
        .values("order_id")
        .annotate(units=Sum("quantity"), shipped=Sum("quantity_shipped"))
    }
    for order in orders:
        order.units, order.units_shipped = totals.get(order.pk, (0, 0))
    return orders


def promise_state(order: Order, now: dt.datetime | None = None) -> str:
    """ "late", "at-risk" or "": where the order stands against its promise, as filter_late / filter_at_risk say."""
    if order.promised_date is None or order.status not in OPEN_STATUSES:
        return ""
    today, horizon = _promise_window(now)
    if order.promised_date < today:
        return "late"
    if order.promised_date <= horizon:
        return "at-risk"
    return ""


def order_detail(order_id: int) -> Order:
    return Order.objects.select_related("channel", "customer", "shipping_address", "billing_address").get(pk=order_id)


def order_history(order_id: int) -> QuerySet[OrderEvent]:
    """The order's timeline newest first, with each event's user loaded (the order page's History)."""
    return OrderEvent.objects.filter(order_id=order_id).select_related("actor").order_by("-created_at", "-id")


# Up to this many customers matching a name are looked up first and passed as
# a list, which the planner estimates well; more, and the name is joined.
NAME_SEARCH_CUSTOMER_LIMIT = 500


def search_orders(queryset: QuerySet[Order], term: str) -> QuerySet[Order]:
    """Narrow ``queryset`` to orders matching one search term.

    An order number (with or without its prefix) matches exactly; an email
    matches the customer's email; a channel order id matches exactly;
    anything else matches customer names containing the term. Each branch is
    served by an index, so search stays fast on millions of orders.
    """
    term = term.strip()
    if not term:
        return queryset
    if ORDER_NUMBER_RE.match(term):
        digits = re.sub(r"\D", "", term)
        number = f"{settings.ORDER_NUMBER_PREFIX}{int(digits):07d}"
        return queryset.filter(Q(number=number) | Q(external_id=term))
    if "@" in term:
        return queryset.filter(customer__email=term.lower())
    if Order.objects.filter(external_id=term).exists():
        return queryset.filter(external_id=term)
    matching = Customer.objects.filter(name__icontains=term).order_by()
    customer_ids = list(matching.values_list("pk", flat=True)[: NAME_SEARCH_CUSTOMER_LIMIT + 1])
    if len(customer_ids) <= NAME_SEARCH_CUSTOMER_LIMIT:
        return queryset.filter(customer_id__in=customer_ids)
    # A common name: newest-first through the date index, checking membership.
    return queryset.filter(customer__in=matching.values("pk"))


def order_with_number(term: str) -> int | None:
    """The id of the one order a search term names by its number exactly (any case), else None.

    None when the term is not a whole order number, or when the list's search would also find another
    order (its channel order id is the same text): then the list shows them all.
    """
    number = term.strip().upper()
    if not number.startswith(settings.ORDER_NUMBER_PREFIX.upper()) or not ORDER_NUMBER_RE.match(number):
        return None
    found = list(search_orders(Order.objects.all(), number).order_by().values_list("pk", "number")[:2])
    if len(found) == 1 and found[0][1].upper() == number:
        return found[0][0]
    return None


def _promise_window(now: dt.datetime | None = None) -> tuple[dt.date, dt.date]:
    now = now or timezone.now()
    today = timezone.localdate(now)
    horizon = timezone.localdate(now + dt.timedelta(hours=settings.ORDER_AT_RISK_HOURS))
    return today, horizon


def filter_late(queryset: QuerySet[Order], now: dt.datetime | None = None) -> QuerySet[Order]:
    """Open orders whose promised delivery date has passed."""
    today, _ = _promise_window(now)
    return queryset.filter(status__in=OPEN_STATUSES, promised_date__lt=today)


def filter_at_risk(queryset: QuerySet[Order], now: dt.datetime | None = None) -> QuerySet[Order]:
    """Open orders promised within the at-risk window (24 h by default), not yet late."""
    today, horizon = _promise_window(now)
    return queryset.filter(status__in=OPEN_STATUSES, promised_date__gte=today, promised_date__lte=horizon)


# --- the order list's queues: each a filter of the list and a tab with its count ------------------------------
def _authorised():
    return PaymentTransaction.objects.filter(
        order=OuterRef("pk"), kind=PaymentTransaction.Kind.AUTHORISE, status=PaymentTransaction.Status.SUCCEEDED
    )


def filter_awaiting_payment(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """Received orders with a payment gateway whose payment is not authorised yet: routing waits for it.

    The same rule as ``orders.payments.services.awaiting_authorisation``, as a filter.
    """
    return queryset.filter(status=OrderStatus.RECEIVED).exclude(payment_gateway="").exclude(Exists(_authorised()))


def filter_to_route(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """Received orders that routing may take now: no gateway, or their payment is authorised.

    Held and cancelled orders are not received; orders awaiting payment are that queue's.
    """
    return queryset.filter(Q(payment_gateway="") | Exists(_authorised()), status=OrderStatus.RECEIVED)


def filter_to_pick(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """Allocated orders with no open (unshipped) shipment yet: their reserved goods wait to be picked."""
    open_shipments = Shipment.objects.filter(order=OuterRef("pk"), status__in=UNSHIPPED_STATUSES)
    return queryset.filter(status=OrderStatus.ALLOCATED).exclude(Exists(open_shipments))


def filter_to_ship(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """Allocated or partly shipped orders with a shipment whose label is bought and that has not left yet."""
    labelled = Shipment.objects.filter(status=ShipmentStatus.LABEL_CREATED).values("order_id")
    return queryset.filter(status__in=[OrderStatus.ALLOCATED, OrderStatus.PARTIALLY_SHIPPED], pk__in=labelled)


def filter_on_hold(queryset: QuerySet[Order]) -> QuerySet[Order]:
    return queryset.filter(status=OrderStatus.ON_HOLD)


def filter_returns_open(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """Orders with a return someone still has to work (``OPEN_RETURN_STATUSES``), whatever the order's status."""
    return queryset.filter(pk__in=ReturnRequest.objects.filter(status__in=OPEN_RETURN_STATUSES).values("order_id"))


# The queues the list's tabs count, by key, in the tabs' order.
ORDER_QUEUES = {
    "to_route": filter_to_route,
    "to_pick": filter_to_pick,
    "to_ship": filter_to_ship,
    "late": filter_late,
    "on_hold": filter_on_hold,
    "awaiting_payment": filter_awaiting_payment,
    "returns_open": filter_returns_open,
}
# Counts are exact up to this many rows; past it, "10,000+".
QUEUE_COUNT_CAP = 10_000
# How long the console keeps capped counts (the list's tabs, the home's queue): a page a second costs one count.
CAPPED_COUNTS_CACHE_SECONDS = 30


def count_label(count: int | None) -> str:
    """A capped count as the console shows it: "10,000+" past the cap, blank for none."""
    if count is None:
        return ""
    if count > QUEUE_COUNT_CAP:
        return f"{QUEUE_COUNT_CAP:,}+"
    return f"{count:,}"


def queue_counts(cap: int = QUEUE_COUNT_CAP) -> dict[str, int]:
    """How many orders each of ``ORDER_QUEUES`` holds, counted exactly up to ``cap + 1``, in one query."""
    return capped_counts({key: narrow(Order.objects.all()) for key, narrow in ORDER_QUEUES.items()}, cap=cap)


def capped_counts(querysets: dict[str, QuerySet], *, cap: int = QUEUE_COUNT_CAP) -> dict[str, int]:
    """Each queryset's row count, exact up to ``cap``; ``cap + 1`` means more. One statement for all of them.

    Each count reads at most ``cap + 1`` rows (``SELECT COUNT(*) FROM (… LIMIT cap + 1)``), through the
    index its filter uses, so no count scans a big table.
    """
    if not querysets:
        return {}
    parts, params = [], []
    for queryset in querysets.values():
        sql, sql_params = queryset.order_by().values("pk")[: cap + 1].query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) capped)")
        params.extend(sql_params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(parts)}", params)
        row = cursor.fetchone()
    return {key: int(count) for key, count in zip(querysets, row, strict=True)}


def late_orders(now: dt.datetime | None = None) -> QuerySet[Order]:
    return filter_late(order_list(), now)


def at_risk_orders(now: dt.datetime | None = None) -> QuerySet[Order]:
    return filter_at_risk(order_list(), now)


def on_hold_orders() -> QuerySet[Order]:
    return order_list().filter(status=OrderStatus.ON_HOLD)


def estimated_row_count(model) -> int | None:
    """PostgreSQL's planner estimate of a table's rows, or None elsewhere.

    Used instead of COUNT(*) for unfiltered lists of big tables.
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    if not row or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


# --- Shipping documents and the order's shipments (orders may read shipping; shipping never reads orders) ---


def order_shipments(order_id: int) -> list[Shipment]:
    """The order's shipments, oldest first, with warehouse, service, vendor and parcels loaded."""
    return list(
        Shipment.objects.filter(order_id=order_id)
        .select_related("warehouse", "service__vendor")
        .prefetch_related("parcels")
        .order_by("created_at", "id")
    )


def units_waiting_for_shipment(order_id: int) -> int:
    """Reserved units of the order not yet in an open (unshipped) shipment."""
    reserved = Allocation.objects.filter(order_id=order_id).aggregate(n=Sum("quantity"))["n"] or 0
    packed = (
        ShipmentLine.objects.filter(shipment__order_id=order_id, shipment__status__in=UNSHIPPED_STATUSES).aggregate(
            n=Sum("quantity")
        )["n"]
        or 0
    )
    return max(reserved - packed, 0)


def pick_list_for(order_ids: list[int], *, now: dt.datetime | None = None) -> PickListData:
    """A wave pick list: the orders' reserved units, by warehouse, then bin, then SKU.

    Each SKU in a bin is one pick line with its total and the orders it is
    for. Bins come from the stock level of the SKU in that warehouse (none:
    picked last). Returns shipping.documents.PickListData.
    """
    allocations = list(
        Allocation.objects.filter(order_id__in=order_ids)
        .select_related("warehouse", "order_line", "order")
        .order_by("warehouse__code", "pk")
    )
    pairs = {(a.warehouse_id, a.product_id) for a in allocations}
    bins: dict[tuple[int, int], str] = {}
    if pairs:
        levels = StockLevel.objects.filter(
            warehouse_id__in={w for w, _ in pairs}, product_id__in={p for _, p in pairs}
        ).values_list("warehouse_id", "product_id", "bin_location")
        bins = {(w, p): location for w, p, location in levels}
    # warehouse -> bin -> sku -> [name, units, order numbers]
    grouped: dict[int, dict[str, dict[str, list]]] = defaultdict(lambda: defaultdict(dict))
    warehouses = {}
    for allocation in allocations:
        warehouses[allocation.warehouse_id] = allocation.warehouse
        location = bins.get((allocation.warehouse_id, allocation.product_id), "")
        item = grouped[allocation.warehouse_id][location].setdefault(
            allocation.order_line.sku, [allocation.order_line.name, 0, set()]
        )
        item[1] += allocation.quantity
        item[2].add(allocation.order.number)
    orders = len({a.order_id for a in allocations})
    instructions = _pick_instructions({a.order for a in allocations})
    numbers_at: dict[int, set[str]] = defaultdict(set)
    for allocation in allocations:
        numbers_at[allocation.warehouse_id].add(allocation.order.number)
    return PickListData(
        title=f"Pick list: {orders} order{'s' if orders != 1 else ''}",
        generated_at=timezone.localtime(now or timezone.now()),
        warehouses=[
            PickWarehouse(
                code=warehouse.code,
                name=warehouse.name,
                bins=[
                    PickBin(
                        bin_location=location,
                        items=[
                            PickItem(sku=sku, name=name, quantity=units, order_numbers=sorted(numbers))
                            for sku, (name, units, numbers) in items.items()
                        ],
                    )
                    for location, items in grouped[warehouse.pk].items()
                ],
                instructions=[i for i in instructions if i.order_number in numbers_at[warehouse.pk]],
            )
            for warehouse in sorted(warehouses.values(), key=lambda w: w.code)
        ],
    )


def _pick_instructions(orders: set[Order]) -> list[PickInstruction]:
    """The orders' business customers' packing instructions and PO numbers, by order number (one query)."""
    profiles = {
        profile.customer_id: profile
        for profile in BusinessProfile.objects.filter(customer_id__in={o.customer_id for o in orders}).select_related(
            "customer"
        )
    }
    found = []
    for order in sorted(orders, key=lambda o: o.number or ""):
        profile = profiles.get(order.customer_id)
        text = profile.packing_instructions if profile else ""
        if text or order.po_number:
            customer = profile.customer.name if profile else ""
            found.append(PickInstruction(order.number, customer, order.po_number, text))
    return found


def logo_data_uri(profile: BusinessProfile) -> str:
    """The profile's slip logo as a data: URI (the documents render offline), or "" when it has none or it is
    gone from storage."""
    if not profile.slip_logo:
        return ""
    try:
        with profile.slip_logo.open("rb") as logo:
            content = logo.read(MAX_LOGO_BYTES + 1)
    except OSError:
        return ""
    kind = "png" if profile.slip_logo.name.lower().endswith(".png") else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(content).decode()}"


def packing_slips_for(shipment_ids: list[int]) -> list[PackingSlipData]:
    """One packing slip per shipment (in the order given): its lines, what was ordered, bins, tracking.

    Returns a list of shipping.documents.PackingSlipData.
    """
    shipments = {
        shipment.pk: shipment
        for shipment in Shipment.objects.filter(pk__in=shipment_ids)
        .select_related("warehouse", "service__vendor", "order__customer__business_profile")
        .prefetch_related("parcels", "lines__order_line")
    }
    pairs = {(s.warehouse_id, line.product_id) for s in shipments.values() for line in s.lines.all()}
    bins = {}
    if pairs:
        bins = {
            (w, p): location
            for w, p, location in StockLevel.objects.filter(
                warehouse_id__in={w for w, _ in pairs}, product_id__in={p for _, p in pairs}
            ).values_list("warehouse_id", "product_id", "bin_location")
        }
    slips = []
    logos: dict[int, str] = {}  # each business customer's logo read from storage once for the batch
    for pk in shipment_ids:
        shipment = shipments.get(pk)
        if shipment is None:
            continue
        service = shipment.service
        profile = getattr(shipment.order.customer, "business_profile", None)
        if profile is not None and profile.pk not in logos:
            logos[profile.pk] = logo_data_uri(profile)
        slips.append(
            PackingSlipData(
                order_number=shipment.order_number,
                placed_at=timezone.localdate(shipment.order.placed_at),
                ship_to=ship_to_address(shipment.ship_to),
                ship_from=warehouse_address(shipment.warehouse),
                lines=[
                    PackingSlipLine(
                        sku=line.sku,
                        name=line.name,
                        quantity_ordered=line.order_line.quantity,
                        quantity_in_shipment=line.quantity,
                        bin_location=bins.get((shipment.warehouse_id, line.product_id), ""),
                    )
                    for line in shipment.lines.all()
                ],
                shipment_reference=shipment.number,
                vendor_name=service.vendor.name if service else "",
                service_name=service.name if service else "",
                tracking_numbers=[p.tracking_number for p in shipment.parcels.all() if p.tracking_number],
                brand_name=(profile.slip_brand_name if profile else "") or settings.OMS_BRAND_NAME,
                po_number=shipment.order.po_number if profile is None or profile.slip_shows_po_number else "",
                packing_instructions=profile.packing_instructions if profile else "",
                brand_colour=profile.slip_brand_colour if profile else "",
                brand_logo=logos[profile.pk] if profile else "",
            )
        )
    return slips


def ship_to_address(snapshot: dict) -> PostalAddress:
    """A shipment's address snapshot as the documents print it."""
    fields = ("name", "company", "line1", "line2", "city", "state", "postal_code", "phone")
    return PostalAddress(**{name: snapshot.get(name, "") for name in fields}, country=snapshot.get("country") or "US")


# --- what messages show of an order ------------------------------------------
def order_snapshot(
    order: Order, *, lines: list[OrderLine] | None = None, customer: Customer | None = None, for_ops: bool = False
) -> dict:
    """What every order message can show of an order, as it is now (JSON-ready): the snapshot a message keeps."""
    customer = customer or order.customer
    lines = list(order.lines.all()) if lines is None else lines
    address = order.shipping_address
    snapshot = {
        "order": {
            "id": order.pk,
            "number": order.number,
            "status": order.status,
            "external_id": order.external_id,
            "placed_at": order.placed_at,
            "currency": order.currency,
            "subtotal": order.subtotal,
            "shipping_total": order.shipping_total,
            "tax_total": order.tax_total,
            "discount_total": order.discount_total,
            "grand_total": order.grand_total,
            "promised_date": order.promised_date,
        },
        "customer": {
            "name": customer.name,
            "first_name": (customer.name.split() or [""])[0],
            "email": customer.email,
        },
        "shipping_address": {
            "name": address.name,
            "company": address.company,
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "state": address.state,
            "postal_code": address.postal_code,
            "country": address.country,
        },
        "lines": [line_snapshot(line) for line in lines if line.quantity or not line.quantity_cancelled],
        "expected_delivery": order.promised_date,
    }
    if for_ops:
        snapshot["order"]["admin_url"] = admin_url(order)
    return snapshot


def line_snapshot(line: OrderLine) -> dict:
    """One line of an order snapshot."""
    return {
        "sku": line.sku,
        "name": line.name,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "line_total": line.line_total,
        "quantity_allocated": line.quantity_allocated,
        "quantity_shipped": line.quantity_shipped,
        "quantity_backordered": line.quantity_unallocated,
    }


def admin_url(order: Order) -> str:
    """The absolute link to the order's page in the console (for ops messages)."""
    return f"{settings.OMS_BASE_URL.rstrip('/')}{reverse('admin:orders_order_change', args=[order.pk])}"


# --- typed holds and shipment changes ------------------------------------------------------------------------------
def open_hold_of_shipment(shipment_id: int) -> Hold | None:
    """The shipment's open hold, if any, with who put it on."""
    return Hold.objects.filter(shipment_id=shipment_id, released_at__isnull=True).select_related("placed_by").first()


def open_order_hold(order_id: int) -> Hold | None:
    """The order's open hold on the whole order, if any, with who put it on."""
    return (
        Hold.objects.filter(order_id=order_id, shipment__isnull=True, released_at__isnull=True)
        .select_related("placed_by")
        .first()
    )


def merge_candidates(shipment: Shipment) -> QuerySet[Shipment]:
    """The other shipments of the shipment's order still waiting for their label: what it may merge into."""
    return (
        Shipment.objects.filter(order_id=shipment.order_id, status=Shipment.Status.AWAITING_LABEL)
        .exclude(pk=shipment.pk)
        .order_by("pk")
    )


def open_shipment_holds(order_id: int) -> list[Hold]:
    """The open holds on the order's shipments, oldest first, with the shipment and who put them on."""
    return list(
        Hold.objects.filter(order_id=order_id, shipment__isnull=False, released_at__isnull=True)
        .select_related("shipment", "placed_by")
        .order_by("placed_at", "pk")
    )


def held_shipment_ids(order_id: int) -> set[int]:
    """The order's shipments on hold now."""
    return set(
        Hold.objects.filter(order_id=order_id, shipment__isnull=False, released_at__isnull=True).values_list(
            "shipment_id", flat=True
        )
    )


def open_holds_for_api(order_id: int) -> list[dict]:
    """The order's open holds as a channel may see them: the type and where (the order or which shipment) and since
    when; never the reason or who (ops' words, not the customer's). Oldest first."""
    return [
        {"type": hold_type, "shipment": shipment_number, "since": placed_at}
        for hold_type, shipment_number, placed_at in Hold.objects.filter(order_id=order_id, released_at__isnull=True)
        .order_by("placed_at", "pk")
        .values_list("hold_type", "shipment__number", "placed_at")
    ]
