"""The operations cockpit's numbers, each checked against a value worked out by hand on a small data set.

The data set (``world``) is a dozen orders placed over the last week across two
channels (Web store, Marketplace) and two warehouses (EAST, WEST), with their
shipments, holds, returns and order errors, plus a few older orders. Times are
local wall-clock times in America/Phoenix: it has no daylight saving (so the
hours between two times never move) and is UTC-7, so an evening there is the
next day in UTC, which catches any day counted in UTC instead of locally.

T is today; "T-3 19:00" is three days ago at 19:00; NOW is T 12:00. The
period measured is the last 7 days: T-6 00:00 to NOW; the previous period is
T-13 00:00 to T-7 12:00.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rangefilter.filters import DateRangeFilter

from inventory.models import Allocation, StockLevel
from orders.cockpit import Figure, ListLink, Percentiles, Period, Rate, ShippingCost, charts_for, kpis_for, links
from orders.cockpit.periods import local_midnight
from orders.models import Order, OrderEvent, OrderLine, OrderStatus
from orders.returns.models import OrderErrorCase, ReturnRequest
from orders.services import refresh_all_shipping_facts, refresh_shipping_facts
from shipping.models import CarrierService, Shipment, ShipmentStatus, Vendor
from tests.factories import (
    AddressFactory,
    ChannelFactory,
    CustomerFactory,
    ProductFactory,
    UserFactory,
    WarehouseFactory,
)

pytestmark = pytest.mark.django_db
S = OrderStatus
SS = ShipmentStatus
PHOENIX = "America/Phoenix"


# --- the data set ------------------------------------------------------------------------------
@dataclass
class World:
    today: dt.date
    now: dt.datetime
    web: object
    mkt: object
    east: object
    west: object
    orders: dict

    def at(self, days_ago: int, hour: int, minute: int = 0) -> dt.datetime:
        return local(self.today - dt.timedelta(days=days_ago), hour, minute)

    def day(self, days_ago: int) -> dt.date:
        return self.today - dt.timedelta(days=days_ago)

    def week(self, **filters) -> Period:
        return Period.last_7_days(today=self.today, **filters)


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=timezone.get_default_timezone())


@pytest.fixture
def phoenix(settings):
    """The ops zone set to Phoenix, and the shipping facts and day rollups computed in it, as after changing
    ``TIME_ZONE`` and running ``manage.py refresh_shipping_facts`` (the figures then read the rollups)."""
    settings.TIME_ZONE = PHOENIX
    refresh_all_shipping_facts()


@pytest.fixture
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


def make_order(number, channel, status, placed, total, promised=None, currency="USD") -> Order:
    return Order.objects.create(
        number=number,
        channel=channel,
        external_id=number,
        customer=CustomerFactory(),
        shipping_address=AddressFactory(customer=None),
        status=status,
        currency=currency,
        subtotal=Decimal(total),
        grand_total=Decimal(total),
        promised_date=promised,
        placed_at=placed,
    )


def make_shipment(number, order, warehouse, service, status, ship_date, shipped, delivered, cost, currency="USD"):
    """A shipment as the shipping services leave it, its order's shipping facts refreshed as they do."""
    shipment = Shipment.objects.create(
        number=number,
        order=order,
        order_number=order.number,
        warehouse=warehouse,
        service=service,
        status=status,
        ship_to={},
        promised_date=order.promised_date,
        ship_date=ship_date,
        shipped_at=shipped,
        delivered_at=delivered,
        shipping_cost=None if cost is None else Decimal(cost),
        currency=currency,
        created_at=order.placed_at + dt.timedelta(hours=1),
    )
    refresh_shipping_facts([order.pk])
    return shipment


def reserve(order, warehouse) -> None:
    product = ProductFactory()
    line = OrderLine.objects.create(
        order=order,
        product=product,
        sku=product.sku,
        name=product.name,
        quantity=1,
        unit_price=order.grand_total,
        quantity_allocated=1,
    )
    Allocation.objects.create(order=order, order_line=line, warehouse=warehouse, product=product, quantity=1)


def hold_event(order, at, reason, actor=None, to=S.ON_HOLD, came_from=S.RECEIVED, cause=None):
    cause_data = {} if cause is None else {"cause": cause}
    OrderEvent.objects.create(
        order=order,
        kind=OrderEvent.Kind.STATUS_CHANGED,
        message=f"Put on hold: {reason}" if to == S.ON_HOLD else "Released from hold",
        actor=actor,
        actor_name=actor.username if actor else "system: routing",
        data={"from": came_from, "to": to, "reason": reason, **cause_data},
        created_at=at,
    )


@pytest.fixture
def world(phoenix, fresh_cache) -> World:
    today = timezone.localdate()
    w = World(
        today=today,
        now=local(today, 12),
        web=ChannelFactory(code="web", name="Web store"),
        mkt=ChannelFactory(code="mkt", name="Marketplace"),
        east=WarehouseFactory(code="EAST"),
        west=WarehouseFactory(code="WEST"),
        orders={},
    )
    at, day = w.at, w.day
    fast = CarrierService.objects.create(
        vendor=Vendor.objects.create(code="fast", name="Fast Freight"), code="GROUND", name="Ground", max_weight_kg=30
    )
    post = CarrierService.objects.create(
        vendor=Vendor.objects.create(code="post", name="Parcel Post"), code="GROUND", name="Ground", max_weight_kg=30
    )
    web, mkt, east, west = w.web, w.mkt, w.east, w.west

    def order(number, *args, **kwargs):
        w.orders[number] = make_order(number, *args, **kwargs)
        return w.orders[number]

    # number, channel, status, placed, grand total, promised delivery date
    o1 = order("O1", web, S.DELIVERED, at(6, 9), "100.00", day(3))
    o2 = order("O2", web, S.DELIVERED, at(6, 20), "50.00", day(4))
    o3 = order("O3", mkt, S.DELIVERED, at(5, 8), "200.00", day(1))
    o4 = order("O4", mkt, S.SHIPPED, at(4, 10), "80.00", day(-1), currency="EUR")
    o5 = order("O5", web, S.SHIPPED, at(2, 9), "60.00", day(-2))
    o6 = order("O6", web, S.ALLOCATED, at(0, 8), "40.00", day(-3))
    order("O7", mkt, S.BACKORDERED, at(1, 14), "30.00", day(0))
    o8 = order("O8", web, S.ON_HOLD, at(2, 11), "500.00", day(1))
    o9 = order("O9", mkt, S.ON_HOLD, at(1, 10), "70.00", day(-1))
    order("O10", web, S.CANCELLED, at(3, 10), "90.00", day(-2))
    o11 = order("O11", web, S.PARTIALLY_SHIPPED, at(5, 12), "110.00", day(2))
    o12 = order("O12", mkt, S.DELIVERED, at(3, 7), "120.00", day(1))
    order("O13", web, S.BACKORDERED, at(20, 9), "25.00", day(15))
    p1 = order("P1", web, S.DELIVERED, at(10, 9), "150.00", day(7))
    p2 = order("P2", mkt, S.DELIVERED, at(7, 11), "45.00", day(4))
    order("P3", web, S.CANCELLED, at(7, 13), "999.00")  # after 12:00 on T-7: in neither period
    order("P4", web, S.CANCELLED, at(13, 0, 30), "55.00")

    # number, order, warehouse, service, status, planned pickup, shipped, delivered, cost
    make_shipment("S1", o1, east, fast, SS.DELIVERED, day(5), at(5, 11), at(4, 15), "10.00")
    make_shipment("S2", o2, east, fast, SS.DELIVERED, day(5), at(4, 10), at(3, 10), "8.00")
    make_shipment("S3a", o3, east, fast, SS.DELIVERED, day(5), at(5, 16), at(4, 12), "12.00")
    make_shipment("S3b", o3, west, post, SS.DELIVERED, day(4), at(4, 9), at(2, 9), "15.00")
    make_shipment("S4", o4, west, post, SS.IN_TRANSIT, day(3), at(3, 22), None, "9.00", currency="EUR")
    make_shipment("S5", o5, east, fast, SS.IN_TRANSIT, day(2), at(1, 9), None, "7.00")
    make_shipment("S5x", o5, west, post, SS.CANCELLED, None, None, None, "7.50")
    make_shipment("S11a", o11, east, post, SS.IN_TRANSIT, day(4), at(4, 12), None, "5.00")
    make_shipment("S11b", o11, west, post, SS.AWAITING_LABEL, None, None, None, None)
    make_shipment("S12", o12, west, post, SS.DELIVERED, day(3), at(3, 19), at(1, 18), "11.00")
    make_shipment("SP1", p1, east, fast, SS.DELIVERED, day(9), at(9, 9), at(8, 9), "6.50")
    make_shipment("SP2", p2, east, fast, SS.DELIVERED, day(6), at(6, 10), at(5, 10), "6.00")

    reserve(o6, east)
    reserve(o9, west)

    operator = UserFactory(username="dana")
    hold_event(o8, at(2, 11, 5), "Credit check: rule 'Large order': 500.00 USD is over 400.00")
    hold_event(o9, at(1, 10, 30), "Payment declined by test_card: insufficient funds", came_from=S.ALLOCATED)
    hold_event(o9, at(1, 11), "", actor=operator, to=S.ALLOCATED, came_from=S.ON_HOLD)
    hold_event(o9, at(1, 12), "Customer asked us to wait for a second parcel", actor=operator, came_from=S.ALLOCATED)

    for number, returned, reason, opened in (
        ("R1", o1, "damaged", at(3, 10)),
        ("R2", o3, "wrong_item", at(1, 9)),
        ("R3", p1, "damaged", at(2, 10)),
        ("R4", p1, "no_longer_wanted", at(8, 12)),  # before the period
    ):
        ReturnRequest.objects.create(number=number, order=returned, reason=reason, created_at=opened)

    for erred, cause, warehouse, vendor, opened in (
        (o2, "pick_error", east, fast.vendor, at(3, 12)),
        (o3, "carrier_damage", west, post.vendor, at(2, 9)),
        (p1, "pick_error", east, fast.vendor, at(9, 12)),  # before the period
    ):
        OrderErrorCase.objects.create(
            order=erred, kind="wrong_item", root_cause=cause, warehouse=warehouse, vendor=vendor, created_at=opened
        )

    old = WarehouseFactory(code="OLD", is_active=False)
    sku_a, sku_b = ProductFactory(sku="SKU-A"), ProductFactory(sku="SKU-B")
    for warehouse, product, on_hand, reorder_point in (
        (east, sku_a, 3, 5),  # low
        (east, sku_b, 10, 5),
        (west, sku_a, 5, 5),  # low: at the reorder point
        (west, sku_b, 0, 0),  # no reorder point set
        (old, sku_a, 1, 4),  # an inactive warehouse
    ):
        StockLevel.objects.create(warehouse=warehouse, product=product, on_hand=on_hand, reorder_point=reorder_point)
    return w


def by_key(parts) -> dict:
    return {part.key: part.value for part in parts}


# --- periods ---------------------------------------------------------------------------------
def test_a_running_period_ends_now_and_the_previous_one_at_the_same_clock_time(phoenix):
    today = dt.date(2025, 3, 12)
    now = local(today, 15, 30)

    window, previous = Period.last_7_days(today=today).windows(now)

    assert (window.start, window.end) == (local(dt.date(2025, 3, 6), 0), now)
    assert (previous.start, previous.end) == (local(dt.date(2025, 2, 27), 0), local(dt.date(2025, 3, 5), 15, 30))
    assert window.days == [dt.date(2025, 3, 6) + dt.timedelta(days=n) for n in range(7)]


def test_a_past_custom_period_is_whole_days_and_its_previous_is_as_long(phoenix):
    period = Period.custom(dt.date(2025, 3, 1), dt.date(2025, 3, 10))

    window, previous = period.windows(local(dt.date(2025, 4, 1), 9))

    # 10 days: 1 to 10 March, and the 10 days before: 19 to 28 February (2025 is not a leap year)
    assert (window.start, window.end) == (local_midnight(dt.date(2025, 3, 1)), local_midnight(dt.date(2025, 3, 11)))
    assert (previous.start, previous.end) == (local_midnight(dt.date(2025, 2, 19)), local_midnight(dt.date(2025, 3, 1)))


def test_period_from_a_query_string_names_the_parameter_that_is_wrong():
    today = dt.date(2025, 3, 12)
    assert Period.from_query({}, today=today) == Period.last_7_days(today=today)
    assert Period.from_query({"period": "today", "channel": "4"}, today=today) == Period.today(
        today=today, channel_id=4
    )
    assert Period.from_query({"period": "custom", "start": "2025-01-01", "end": "2025-01-31", "warehouse": "2"}) == (
        Period.custom(dt.date(2025, 1, 1), dt.date(2025, 1, 31), warehouse_id=2)
    )
    with pytest.raises(ValueError, match=r"^end: "):
        Period.from_query({"period": "custom", "start": "2025-02-01", "end": "2025-01-31"})
    with pytest.raises(ValueError, match=r"^start: "):
        Period.from_query({"period": "custom", "start": "1 Feb", "end": "2025-01-31"})
    with pytest.raises(ValueError, match=r"^channel: "):
        Period.from_query({"channel": "web"})
    with pytest.raises(ValueError, match=r"^period: "):
        Period.from_query({"period": "fortnight"})


# --- the key figures -------------------------------------------------------------------------
def test_orders_placed_and_revenue_beside_the_previous_period(world):
    kpis = kpis_for(world.week(), now=world.now)

    # placed from T-6 00:00 to NOW: O1..O12 = 12 (P2, T-7 11:00, is the previous period's; O13 is older).
    # Previous (T-13 00:00 to T-7 12:00): P1, P2, P4 = 3; P3 (T-7 13:00) is after the previous period's end.
    assert (kpis.orders_placed.value, kpis.orders_placed.previous) == (12, 3)
    # USD, not cancelled: O1 100 + O2 50 + O3 200 + O5 60 + O6 40 + O7 30 + O8 500 + O9 70 + O11 110 + O12 120
    # = 1280.00 (O10, cancelled, and O4, in EUR, left out). Previous: P1 150 + P2 45 = 195.00 (P4 cancelled).
    # EUR: O4 80.00; none before.
    assert [(a.currency, a.value, a.previous) for a in kpis.revenue] == [
        ("EUR", Decimal("80.00"), Decimal("0.00")),
        ("USD", Decimal("1280.00"), Decimal("195.00")),
    ]


def test_awaiting_fulfilment_by_age_late_at_risk_backorders_and_holds(world):
    kpis = kpis_for(world.week(), now=world.now)

    # Open now: O6 (4 h old), O7 (22 h), O9 (26 h), O8 (49 h), O11 (120 h), O13 (20 days) = 6.
    assert kpis.awaiting_fulfilment.value == 6
    # under 1 day: O6, O7; 1-2: O9; 2-3: O8; 3 and more: O11, O13
    assert {key: figure.value for key, figure in by_key(kpis.awaiting_by_age).items()} == {
        "0-1": 2,
        "1-2": 1,
        "2-3": 1,
        "3+": 2,
    }
    # late (open, promised before T): O8 (T-1), O11 (T-2), O13 (T-15) = 3
    assert kpis.late.value == 3
    # at risk (open, promised T or T+1 with the 24 h window): O7 (T), O9 (T+1) = 2; O6 (T+3) is not
    assert kpis.at_risk.value == 2
    # backordered: O7, O13; on hold: O8, O9
    assert (kpis.backorders.value, kpis.on_hold.value) == (2, 2)
    # O8's hold came from a credit rule; O9 was held for its payment, released, then held by an operator:
    # its current hold is the operator's.
    assert {key: figure.value for key, figure in by_key(kpis.holds_by_reason).items()} == {
        "credit_check": 1,
        "payment": 0,
        "operator": 1,
        "channel": 0,
        "exchange": 0,
        "other": 0,
    }


def test_a_hold_is_counted_by_the_cause_its_entry_records_before_its_words(phoenix, fresh_cache, client, superuser):
    now = timezone.now()
    operator = UserFactory()
    channel = ChannelFactory()
    for number, reason, actor, cause in (
        ("H1", "Rule 'Large order' matched", None, "credit_check"),
        ("H2", "Card declined", operator, "payment"),  # the recorded cause wins over who wrote it
        ("H3", "Credit check: looked at by hand", None, "operator"),
        ("H4", "Payment declined by the marketplace", None, "channel"),  # the sales channel's, not a payment
        ("H5", "Payment declined by test_card: card expired", None, None),  # written before causes: its words
        ("H6", "Fraud review", operator, None),
    ):
        order = make_order(number, channel, S.ON_HOLD, now - dt.timedelta(hours=3), "10.00")
        hold_event(order, now - dt.timedelta(hours=2), reason, actor=actor, cause=cause)

    kpis = kpis_for(Period.last_7_days(), now=now)

    holds = by_key(kpis.holds_by_reason)
    assert {key: figure.value for key, figure in holds.items()} == {
        "credit_check": 1,
        "payment": 2,
        "operator": 2,
        "channel": 1,
        "exchange": 0,
        "other": 0,
    }
    client.force_login(superuser)
    for key, figure in holds.items():
        assert client.get(figure.link.url).context["cl"].result_count == figure.value, key


def test_on_time_ship_rate_split_rate_and_time_to_ship(world):
    kpis = kpis_for(world.week(), now=world.now)

    # Shipped orders (all goods left, last shipment left from T-6 00:00 to NOW): O1, O2, O3, O4, O5, O12, P2 = 7.
    # O11 is only partly shipped, P1 left at T-9. Late: O2 (left T-4, pickup planned T-5) and O5 (T-1, planned
    # T-2; its cancelled shipment does not count). O4 left T-3 22:00 local (T-2 in UTC), planned T-3: on time.
    # 5 of 7 = 71.428...% -> 71.4
    assert (kpis.on_time_ship.numerator, kpis.on_time_ship.denominator) == (5, 7)
    assert kpis.on_time_ship.percent == Decimal("71.4")
    assert kpis.on_time_ship.misses.value == 2
    # more than one shipment not cancelled: O3 only (O5's second one is cancelled): 1 of 7 = 14.285...% -> 14.3
    assert (kpis.split_shipments.numerator, kpis.split_shipments.denominator) == (1, 7)
    assert kpis.split_shipments.percent == Decimal("14.3")
    # hours placed -> last shipment left: O12 7:00->19:00 = 12, P2 T-7 11:00->T-6 10:00 = 23, O5 = 24,
    # O3 T-5 8:00->T-4 9:00 = 25, O1 T-6 9:00->T-5 11:00 = 26, O4 T-4 10:00->T-3 22:00 = 36,
    # O2 T-6 20:00->T-4 10:00 = 38. Sorted 12 23 24 25 26 36 38:
    # median = the 4th = 25; 90th: position 0.9 x 6 = 5.4 -> 36 + 0.4 x (38 - 36) = 36.8
    assert kpis.time_to_ship == Percentiles(7, 25.0, 36.8, kpis.time_to_ship.link)


def test_on_time_delivery_rate_and_time_to_delivery(world):
    kpis = kpis_for(world.week(), now=world.now)

    # Delivered orders whose last shipment arrived from T-6 00:00 to NOW: O1 (T-4), O2 (T-3), O3 (T-2, its
    # later shipment), O12 (T-1), P2 (T-5) = 5; P1 arrived at T-8. Late: O2 only (promised T-4).
    # O12 arrived T-1 18:00 local (T in UTC), promised T-1: on time. 4 of 5 = 80.0%
    assert (kpis.on_time_delivery.numerator, kpis.on_time_delivery.denominator) == (4, 5)
    assert kpis.on_time_delivery.percent == Decimal("80.0")
    assert kpis.on_time_delivery.misses.value == 1
    # hours placed -> last arrival: P2 T-7 11:00->T-5 10:00 = 47, O1 T-6 9:00->T-4 15:00 = 54,
    # O12 T-3 7:00->T-1 18:00 = 59, O2 T-6 20:00->T-3 10:00 = 62, O3 T-5 8:00->T-2 9:00 = 73.
    # median = 59; 90th: position 0.9 x 4 = 3.6 -> 62 + 0.6 x (73 - 62) = 68.6
    assert kpis.time_to_delivery == Percentiles(5, 59.0, 68.6, kpis.time_to_delivery.link)


def test_an_order_with_no_planned_pickup_or_promised_date_cannot_be_late(phoenix):
    today = timezone.localdate()
    now = local(today, 12)
    order = make_order("N1", ChannelFactory(), S.DELIVERED, local(today, 1), "10.00", promised=None)
    make_shipment(
        "N1-1", order, WarehouseFactory(code="N"), None, SS.DELIVERED, None, local(today, 2), local(today, 3), "1.00"
    )

    kpis = kpis_for(Period.today(today=today), now=now)

    # shipped 1 h after placing, delivered 2 h after: both on time, for want of a date to miss
    assert (kpis.on_time_ship.numerator, kpis.on_time_ship.denominator) == (1, 1)
    assert (kpis.on_time_delivery.numerator, kpis.on_time_delivery.denominator) == (1, 1)
    assert (kpis.time_to_ship.median_hours, kpis.time_to_delivery.median_hours) == (1.0, 2.0)


def test_returns_rate_and_top_return_reasons(world):
    kpis = kpis_for(world.week(), now=world.now)

    # Opened from T-6 to NOW: R1 (T-3), R2 (T-1), R3 (T-2, on P1 delivered before the period); R4 is at T-8.
    # Over the 5 delivered orders: 3 / 5 = 60.0%
    assert (kpis.returns_rate.numerator, kpis.returns_rate.denominator) == (3, 5)
    assert kpis.returns_rate.percent == Decimal("60.0")
    # damaged: R1, R3; wrong item: R2
    assert [(part.key, part.value.value) for part in kpis.return_reasons] == [("damaged", 2), ("wrong_item", 1)]


def test_order_error_rate_by_cause(world):
    kpis = kpis_for(world.week(), now=world.now)

    # Shipments handed to a carrier from T-6 to NOW: S1, S2, S3a, S3b, S4, S5, S11a, S12, SP2 = 9
    # (SP1 left at T-9; S5x was cancelled, S11b has not left). Errors opened then: O2's pick error (T-3) and
    # O3's carrier damage (T-2); P1's (T-9) is older. 2 / 9 = 22.2...% -> 22.2; each cause 1 / 9 -> 11.1
    assert (kpis.order_errors.numerator, kpis.order_errors.denominator) == (2, 9)
    assert kpis.order_errors.percent == Decimal("22.2")
    assert {
        key: (rate.numerator, rate.denominator, rate.percent)
        for key, rate in by_key(kpis.order_errors_by_cause).items()
    } == {
        "pick_error": (1, 9, Decimal("11.1")),
        "carrier_damage": (1, 9, Decimal("11.1")),
        "stock_error": (0, 9, Decimal("0.0")),
        "other": (0, 9, Decimal("0.0")),
    }


def test_low_stock_counts_levels_at_or_under_a_set_reorder_point_in_active_warehouses(world):
    kpis = kpis_for(world.week(), now=world.now)

    # EAST SKU-A 3 <= 5 and WEST SKU-A 5 <= 5; not EAST SKU-B (10 > 5), WEST SKU-B (no reorder point),
    # OLD SKU-A (the warehouse is inactive).
    assert kpis.low_stock.value == 2


def test_shipping_cost_per_order_and_as_a_share_of_revenue(world):
    kpis = kpis_for(world.week(), now=world.now)

    # The 7 shipped orders' shipments not cancelled, by currency.
    # USD: O1 10.00 + O2 8.00 + O3 (12.00 + 15.00) + O5 7.00 (not its cancelled 7.50) + O12 11.00 + P2 6.00
    # = 69.00 over 6 orders = 11.50; grand totals 100 + 50 + 200 + 60 + 120 + 45 = 575.00; 69 / 575 = 12.0%.
    # EUR: O4 9.00, 1 order, 80.00 sold: 11.25% -> 11.3 (half up).
    usd, eur = sorted(kpis.shipping_cost, key=lambda cost: cost.currency != "USD")
    assert (usd.orders, usd.cost, usd.revenue) == (6, Decimal("69.00"), Decimal("575.00"))
    assert (usd.per_order, usd.share_of_revenue_percent) == (Decimal("11.50"), Decimal("12.0"))
    assert (eur.orders, eur.cost, eur.per_order, eur.revenue) == (1, Decimal("9.00"), Decimal("9.00"), Decimal("80.00"))
    assert eur.share_of_revenue_percent == Decimal("11.3")


def test_a_warehouse_keeps_the_orders_it_ships_or_holds_stock_for(world):
    kpis = kpis_for(world.week(warehouse_id=world.east.pk), now=world.now)

    # EAST's orders: a shipment not cancelled from EAST (O1, O2, O3, O5, O11, P1, P2) or stock reserved there (O6).
    # Placed now: O1, O2, O3, O5, O6, O11 = 6; before: P1, P2 = 2.
    assert (kpis.orders_placed.value, kpis.orders_placed.previous) == (6, 2)
    # USD 100 + 50 + 200 + 60 + 40 + 110 = 560.00; before 150 + 45 = 195.00
    assert [(a.currency, a.value, a.previous) for a in kpis.revenue] == [("USD", Decimal("560.00"), Decimal("195.00"))]
    # open: O6 (under a day), O11 (5 days, late: promised T-2)
    assert (kpis.awaiting_fulfilment.value, kpis.late.value, kpis.on_hold.value) == (2, 1, 0)
    # shipped: O1, O2, O3, O5, P2; on time O1, O3, P2 (O3's WEST shipment counts with the order): 3 of 5
    assert (kpis.on_time_ship.numerator, kpis.on_time_ship.denominator) == (3, 5)
    # delivered: O1, O2, O3, P2; on time but O2: 3 of 4. Returns of EAST's orders: R1, R2, R3: 3 of 4.
    assert (kpis.on_time_delivery.numerator, kpis.on_time_delivery.denominator) == (3, 4)
    assert (kpis.returns_rate.numerator, kpis.returns_rate.denominator) == (3, 4)
    # EAST's shipments shipped: S1, S2, S3a, S5, S11a, SP2 = 6; errors at EAST: O2's = 1 -> 16.7%
    assert (kpis.order_errors.numerator, kpis.order_errors.denominator, kpis.order_errors.percent) == (
        1,
        6,
        Decimal("16.7"),
    )
    assert kpis.low_stock.value == 1  # EAST SKU-A


def test_a_channel_keeps_its_own_orders(world):
    kpis = kpis_for(world.week(channel_id=world.mkt.pk), now=world.now)

    # Marketplace: placed O3, O4, O7, O9, O12 = 5; before: P2 = 1
    assert (kpis.orders_placed.value, kpis.orders_placed.previous) == (5, 1)
    # USD 200 + 30 + 70 + 120 = 420.00, before 45.00; EUR O4 80.00
    assert [(a.currency, a.value, a.previous) for a in kpis.revenue] == [
        ("EUR", Decimal("80.00"), Decimal("0.00")),
        ("USD", Decimal("420.00"), Decimal("45.00")),
    ]
    # shipped O3, O4, O12, P2, all on time; split: O3, 1 of 4 = 25.0%
    assert (kpis.on_time_ship.numerator, kpis.on_time_ship.denominator) == (4, 4)
    assert kpis.split_shipments.percent == Decimal("25.0")
    # open: O7 (at risk, backordered), O9 (at risk, on hold by an operator)
    assert (kpis.awaiting_fulfilment.value, kpis.at_risk.value, kpis.backorders.value) == (2, 2, 1)
    assert by_key(kpis.holds_by_reason)["operator"].value == 1
    # errors on Marketplace orders: O3's; its shipments shipped: S3a, S3b, S4, S12, SP2 = 5 -> 20.0%
    assert (kpis.order_errors.numerator, kpis.order_errors.denominator) == (1, 5)


def test_today_is_compared_with_yesterday_until_the_same_time(world):
    kpis = kpis_for(Period.today(today=world.today), now=world.now)

    # today until 12:00: O6 (8:00); yesterday until 12:00: O9 (10:00), not O7 (14:00)
    assert (kpis.orders_placed.value, kpis.orders_placed.previous) == (1, 1)


# --- the lists behind the figures -------------------------------------------------------------
def figures_with_lists(kpis) -> list[tuple[str, int, ListLink]]:
    """Every (name, count, list) pair of the figures: counts, rates' two sides and misses, percentiles' orders."""
    pairs = []

    def visit(name, value):
        if isinstance(value, Figure) and value.link:
            pairs.append((name, value.value, value.link))
            if value.previous_link:
                pairs.append((f"{name}.previous", value.previous, value.previous_link))
        elif isinstance(value, Rate):
            pairs.append((f"{name}.numerator", value.numerator, value.numerator_link))
            pairs.append((f"{name}.denominator", value.denominator, value.denominator_link))
            if value.misses:
                visit(f"{name}.misses", value.misses)
        elif isinstance(value, Percentiles | ShippingCost):
            pairs.append((name, value.orders, value.link))
        elif isinstance(value, tuple):
            for item in value:
                visit(f"{name}.{getattr(item, 'key', getattr(item, 'currency', ''))}", getattr(item, "value", item))

    for name, value in vars(kpis).items():
        visit(name, value)
    return pairs


@pytest.mark.parametrize("scope", ["all", "channel", "warehouse"])
def test_each_list_counts_what_its_figure_says(world, client, superuser, scope):
    filters = {"channel": {"channel_id": world.mkt.pk}, "warehouse": {"warehouse_id": world.east.pk}}
    client.force_login(superuser)
    pairs = figures_with_lists(kpis_for(world.week(**filters.get(scope, {})), now=world.now))

    # Every figure has its list. The open orders' ages are left to test_cockpit_links.py: the list measures them
    # from the real clock, these figures from NOW (T 12:00).
    assert {name.split(".")[0] for name, _, _ in pairs} == {
        "orders_placed",
        "awaiting_fulfilment",
        "awaiting_by_age",
        "late",
        "at_risk",
        "backorders",
        "on_hold",
        "holds_by_reason",
        "on_time_ship",
        "on_time_delivery",
        "time_to_ship",
        "time_to_delivery",
        "split_shipments",
        "returns_rate",
        "return_reasons",
        "order_errors",
        "order_errors_by_cause",
        "low_stock",
        "shipping_cost",
    }
    for name, count, link in pairs:
        if name.startswith("awaiting_by_age."):
            continue
        response = client.get(link.url)
        assert response.status_code == 200, (name, link.url)
        assert response.context["cl"].result_count == count, (name, link.url)


def test_lookups_on_the_orders_own_fields_narrow_the_order_list(world, client, superuser):
    client.force_login(superuser)
    kpis = kpis_for(world.week(), now=world.now)
    usd = next(amount for amount in kpis.revenue if amount.currency == "USD")

    # USD orders placed in the period, not cancelled: O1 O2 O3 O5 O6 O7 O8 O9 O11 O12 = 10
    assert client.get(usd.link.url).context["cl"].result_count == 10
    # open orders: O6 O7 O8 O9 O11 O13 = 6
    assert client.get(kpis.awaiting_fulfilment.link.url).context["cl"].result_count == 6


def test_a_link_names_the_lists_own_parameters(world):
    kpis = kpis_for(world.week(warehouse_id=world.east.pk), now=world.now)
    first, last = world.day(6).isoformat(), world.today.isoformat()

    assert kpis.on_time_ship.misses.link.params == {
        "shipped__range__gte": first,
        "shipped__range__lte": last,
        "warehouse": str(world.east.pk),
        "ship_by": "late",
    }
    assert by_key(kpis.return_reasons)["damaged"].link.url.startswith(
        "/admin/returns/returnrequest/?created_at__range__gte="
    )
    assert kpis.low_stock.link.params == {
        "stock": "low",
        "reorder_point__gt": "0",
        "warehouse__is_active__exact": "1",
        "warehouse__id__exact": str(world.east.pk),
    }


def sidebar(response) -> dict[str, list[tuple[str, bool]]]:
    """The list's filters of choices as the sidebar shows them: title -> (choice, selected); date ranges left out."""
    cl = response.context["cl"]
    return {
        str(spec.title): [(str(choice["display"]), choice["selected"]) for choice in spec.choices(cl)]
        for spec in cl.filter_specs
        if not isinstance(spec, DateRangeFilter)
    }


def test_a_cockpit_filter_shows_in_the_sidebar_only_while_it_narrows_the_list(world, client, superuser):
    client.force_login(superuser)
    kpis = kpis_for(world.week(warehouse_id=world.east.pk), now=world.now)
    first, last = world.day(6).isoformat(), world.today.isoformat()

    narrowed = sidebar(client.get(kpis.on_time_ship.misses.link.url))
    plain = sidebar(client.get(reverse(links.ORDERS)))

    assert narrowed["last shipment left"] == [("All", False), (f"{first} to {last}", True)]
    assert narrowed["left by the planned pickup day"] == [("All", False), ("A shipment left late", True)]
    assert narrowed["warehouse (ships or reserves)"] == [("All", False), ("Ships from or reserved at EAST", True)]
    assert "last shipment left" not in plain and "warehouse (ships or reserves)" not in plain
    # the everyday ones are always there
    assert [choice for choice, _ in plain["hold reason"]] == [
        "All",
        "Credit rule",
        "Payment",
        "Put on hold by an operator",
        "Sales channel",
        "Exchange waiting for its return",
        "Other",
    ]
    assert [choice for choice, _ in plain["open for"]] == [
        "All",
        "Under 1 day",
        "1–2 days",
        "2–3 days",
        "3 days and more",
    ]


@pytest.mark.parametrize(
    "query",
    [
        "ship_by=soon",
        "shipped__range__gte=2025-01-10&shipped__range__lte=2025-01-01",
        "delivered__range__gte=yesterday&delivered__range__lte=2025-01-01",
        "shipped__range__gte=2025-01-01",
        "status__in=open",
        "warehouse=EAST",
        "hold_reason=fraud",
        "backlog_age=9",
    ],
)
def test_a_value_the_order_list_cannot_read_sends_it_back_with_an_error(client, superuser, query):
    client.force_login(superuser)

    response = client.get(f"{reverse(links.ORDERS)}?{query}")

    assert response.status_code == 302
    assert response.url.endswith("?e=1")


# --- the charts ------------------------------------------------------------------------------
def test_orders_per_day_by_channel(world):
    chart = charts_for(world.week(), now=world.now)["orders_per_day"]

    assert chart.labels == tuple(world.day(n).isoformat() for n in range(6, -1, -1))
    # Web store: O1 and O2 (T-6; O2 at 20:00 local is T-5 in UTC), O11 (T-5), O10 (T-3), O5 and O8 (T-2), O6 (T)
    # Marketplace: O3 (T-5), O4 (T-4), O12 (T-3), O7 and O9 (T-1)
    assert [(d.label, d.data) for d in chart.datasets] == [
        ("Marketplace", (0, 1, 1, 1, 0, 2, 0)),
        ("Web store", (2, 1, 0, 1, 2, 0, 1)),
    ]


def test_time_to_ship_histogram(world):
    chart = charts_for(world.week(), now=world.now)["time_to_ship"]

    # hours 12 23 24 25 26 36 38: 12 and 23 in 12-24 h (12 included), 24..38 in 1-2 days
    assert chart.datasets[0].data == (0, 2, 5, 0, 0, 0)


def test_on_time_rates_by_warehouse_and_by_vendor(world):
    charts = charts_for(world.week(), now=world.now)

    by_warehouse = charts["on_time_by_warehouse"]
    assert by_warehouse.labels == ("EAST", "WEST")
    # EAST shipped S1 S2 S3a S5 S11a SP2, late S2 and S5: 4/6 = 66.7; WEST S3b S4 S12 all on time.
    # Delivered EAST S1 S2 S3a SP2, late S2 (its order promised T-4): 3/4 = 75.0; WEST S3b S12: 2/2.
    assert [d.data for d in by_warehouse.datasets] == [
        (Decimal("66.7"), Decimal("100.0")),
        (Decimal("75.0"), Decimal("100.0")),
        (6, 3),
        (4, 2),
    ]
    by_vendor = charts["on_time_by_vendor"]
    assert by_vendor.labels == ("Fast Freight", "Parcel Post")
    # Fast Freight shipped S1 S2 S3a S5 SP2, late S2 S5: 3/5 = 60.0; Parcel Post S3b S4 S11a S12: 4/4.
    # Delivered: Fast Freight S1 S2 S3a SP2: 3/4; Parcel Post S3b S12: 2/2.
    assert [d.data for d in by_vendor.datasets] == [
        (Decimal("60.0"), Decimal("100.0")),
        (Decimal("75.0"), Decimal("100.0")),
        (5, 4),
        (4, 2),
    ]


def test_shipping_cost_per_order_by_day(world):
    chart = charts_for(world.week(), now=world.now)["shipping_cost_per_day"]

    # by the day the order's last shipment left: P2 T-6 6.00; O1 T-5 10.00; O2 and O3 T-4 (8 + 27) / 2 = 17.50;
    # O12 T-3 11.00 (19:00 local); O5 T-1 7.00. EUR: O4 T-3 9.00 (22:00 local).
    assert [(d.label, d.data) for d in chart.datasets] == [
        ("Shipping cost per order (EUR)", (None, None, None, Decimal("9.00"), None, None, None)),
        (
            "Shipping cost per order (USD)",
            (Decimal("6.00"), Decimal("10.00"), Decimal("17.50"), Decimal("11.00"), None, Decimal("7.00"), None),
        ),
    ]


def test_backlog_age_by_status(world):
    chart = charts_for(world.week(), now=world.now)["backlog_age"]

    # O6 allocated 4 h; O7 backordered 22 h, O13 20 days; O9 on hold 26 h, O8 49 h; O11 partly shipped 120 h
    # (exactly 5 days: the 5-7 bucket)
    assert {d.key: d.data for d in chart.datasets} == {
        "received": (0, 0, 0, 0, 0, 0),
        "allocated": (1, 0, 0, 0, 0, 0),
        "backordered": (1, 0, 0, 0, 0, 1),
        "on_hold": (0, 1, 1, 0, 0, 0),
        "partially_shipped": (0, 0, 0, 0, 1, 0),
    }


def test_a_chart_is_data_for_chartjs_and_for_csv(world):
    chart = charts_for(world.week(), now=world.now)["shipping_cost_per_day"]

    drawn = chart.chartjs()
    assert drawn["type"] == "line"
    assert drawn["data"]["datasets"][1]["data"] == [6.0, 10.0, 17.5, 11.0, None, 7.0, None]
    rows = chart.csv_rows()
    assert rows[0] == ["Shipping cost per order", "Shipping cost per order (EUR)", "Shipping cost per order (USD)"]
    assert rows[3] == [world.day(4).isoformat(), "", "17.50"]


def test_the_figures_are_json_ready(world):
    data = kpis_for(world.week(), now=world.now).as_data()

    decoded = json.loads(json.dumps(data))
    assert decoded["on_time_ship"]["percent"] == "71.4"
    assert decoded["orders_placed"]["link"]["url"].startswith("/admin/orders/order/?placed_at__range__gte=")
    assert decoded["shipping_cost"][1]["per_order"] == "11.50"


# --- cost and cache --------------------------------------------------------------------------
def add_orders(count: int, channel, warehouses, service, now: dt.datetime) -> None:
    """``count`` orders of every kind the figures read: shipped twice and delivered, returned, erred, held."""
    for n in range(count):
        placed = now - dt.timedelta(days=2, hours=n % 24)
        number = f"Q{Order.objects.count() + 1}"
        status = (S.DELIVERED, S.ON_HOLD, S.BACKORDERED)[n % 3]
        order = make_order(number, channel, status, placed, "20.00", (now + dt.timedelta(days=n % 3 - 1)).date())
        if status == S.DELIVERED:
            for index, warehouse in enumerate(warehouses):
                make_shipment(
                    f"{number}-{index}",
                    order,
                    warehouse,
                    service,
                    SS.DELIVERED,
                    placed.date(),
                    placed + dt.timedelta(hours=5),
                    placed + dt.timedelta(hours=30),
                    "3.00",
                )
            ReturnRequest.objects.create(order=order, reason="damaged", created_at=placed + dt.timedelta(days=1))
            OrderErrorCase.objects.create(order=order, kind="late", root_cause="other", created_at=placed)
        elif status == S.ON_HOLD:
            hold_event(order, placed, "Payment declined by test_card: card expired")
        else:
            reserve(order, warehouses[0])


def queries(call) -> int:
    """The statements that read (on PostgreSQL the cockpit also turns JIT off and on around them)."""
    with CaptureQueriesContext(connection) as captured:
        call()
    return sum(1 for query in captured.captured_queries if query["sql"].lstrip().upper().startswith(("SELECT", "WITH")))


@pytest.mark.parametrize("scope", ["all", "warehouse"])
def test_the_number_of_queries_does_not_grow_with_the_orders(phoenix, scope):
    now = timezone.now()
    channel = ChannelFactory()
    warehouses = [WarehouseFactory(code="Q1"), WarehouseFactory(code="Q2")]
    service = CarrierService.objects.create(
        vendor=Vendor.objects.create(code="q", name="Q"), code="GROUND", name="Ground", max_weight_kg=30
    )
    period = Period.last_30_days(warehouse_id=warehouses[0].pk if scope == "warehouse" else None)

    add_orders(5, channel, warehouses, service, now)
    few = queries(lambda: kpis_for(period, now=now)), queries(lambda: charts_for(period, now=now))
    add_orders(45, channel, warehouses, service, now)
    many_kpis = kpis_for(period, now=now)
    many = queries(lambda: kpis_for(period, now=now)), queries(lambda: charts_for(period, now=now))

    # a warehouse keeps the delivered orders (shipped from both) and the backordered (stock reserved at the
    # first), not those on hold: every third of 50 is held (n = 1, 4, ... 49: 17)
    assert many_kpis.orders_placed.value == (50 if scope == "all" else 50 - 17)
    assert many_kpis.on_time_delivery.denominator == 17  # every third of 50, from the first
    assert many == few
    # key figures: placed, open orders, holds, shipped orders, delivered orders, shipments, returns, errors, stock;
    # charts: orders per day, the backlog, shipped orders, shipments; and without a warehouse, whether the day
    # rollups are in the ops zone (one read each)
    assert few == ((10, 5) if scope == "all" else (9, 4))


def test_figures_are_kept_briefly_and_fresh_computes_them_again(fresh_cache, settings, django_assert_num_queries):
    settings.COCKPIT_CACHE_SECONDS = 60
    period = Period.last_7_days()
    first = kpis_for(period)

    with django_assert_num_queries(0):
        again = kpis_for(period)
    assert again.computed_at == first.computed_at
    assert queries(lambda: kpis_for(period, fresh=True)) > 0
    assert queries(lambda: charts_for(period)) > 0
    with django_assert_num_queries(0):
        charts_for(period)
    # another filter is another entry
    assert queries(lambda: kpis_for(period.with_filter(channel_id=ChannelFactory().pk))) > 0


def test_the_charts_read_the_summaries_the_key_figures_just_read(fresh_cache, settings):
    settings.COCKPIT_CACHE_SECONDS = 60
    period = Period.last_30_days()
    kpis_for(period)

    # only orders per day and the backlog: the shipped orders' and the shipments' summaries are the figures'
    assert queries(lambda: charts_for(period)) == 2


def test_a_cache_of_zero_seconds_computes_every_time(fresh_cache, settings):
    settings.COCKPIT_CACHE_SECONDS = 0
    period = Period.last_7_days()
    kpis_for(period)

    assert queries(lambda: kpis_for(period)) > 0
