"""The cockpit's day rollups: the figures they give equal the facts' own, whatever the window; they follow a
change of the ops time zone only once rebuilt; parallel transactions adding to the same day lose nothing.

The data set is the cockpit tests' (``tests/orders/test_cockpit.py``: hand-built orders around "today" in
Phoenix); "the facts' own" are the figures computed with the rollups set aside (their zone no longer the
ops zone), which sum the facts order by order.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from orders.cockpit import Period, charts_for, kpis_for, rollups
from orders.models import CockpitRollupZone, DeliveredOrdersDay, Order, OrderStatus, ShippedOrdersDay
from orders.services import refresh_all_shipping_facts, refresh_shipping_facts
from shipping.models import Shipment, ShipmentStatus
from tests.factories import ChannelFactory, OrderFactory, WarehouseFactory
from tests.orders import test_cockpit as cockpit_tests
from tests.orders.test_cockpit import local

pytestmark = pytest.mark.django_db
# The cockpit tests' fixtures: the ops zone (Phoenix, the rollups computed in it), the data set, a clean cache.
phoenix, world, fresh_cache = cockpit_tests.phoenix, cockpit_tests.world, cockpit_tests.fresh_cache


def figures(period: Period, now: dt.datetime) -> tuple[dict, dict]:
    kpis = kpis_for(period, now=now).as_data()
    kpis.pop("computed_at")
    return kpis, {key: chart.as_data() for key, chart in charts_for(period, now=now).items()}


def set_rollups_aside() -> None:
    CockpitRollupZone.objects.update(time_zone="Europe/Lisbon")


def test_the_figures_from_the_rollups_equal_the_facts_own_for_every_kind_of_window(world):
    today = world.today
    periods = [
        Period.today(today=today),
        world.week(),
        world.week(channel_id=world.web.pk),
        Period.last_30_days(today=today, channel_id=world.mkt.pk),
        Period.custom(today - dt.timedelta(days=9), today - dt.timedelta(days=2)),  # whole days only
        Period.custom(today - dt.timedelta(days=6), today),  # runs to today: ends now
    ]
    clocks = [world.now, local(today, 0, 30), local(today, 23, 59)]
    assert all(rollups.readable(period) for period in periods)
    from_rollups = {(period, now): figures(period, now) for period in periods for now in clocks}

    set_rollups_aside()

    assert not any(rollups.readable(period) for period in periods)
    for (period, now), expected in from_rollups.items():
        assert figures(period, now) == expected, (period, now)
    # and the figures are the data set's (tests/orders/test_cockpit.py): 7 shipped, 5 delivered this week
    kpis = kpis_for(world.week(), now=world.now)
    assert (kpis.time_to_ship.orders, kpis.time_to_delivery.orders) == (7, 5)


def test_hours_to_ship_count_whole_hours_rounded_down(phoenix):
    today = timezone.localdate()
    channel, warehouse = ChannelFactory(), WarehouseFactory()
    for number, placed, left in (
        ("W1", local(today, 1, 0), local(today, 2, 59)),
        ("W2", local(today, 1), local(today, 4)),
    ):
        order = OrderFactory(number=number, channel=channel, status=OrderStatus.SHIPPED, placed_at=placed)
        Shipment.objects.create(
            number=f"{number}-1",
            order=order,
            order_number=number,
            warehouse=warehouse,
            status=ShipmentStatus.IN_TRANSIT,
            ship_to={},
            shipped_at=left,
        )
        refresh_shipping_facts([order.pk])

    kpis = kpis_for(Period.today(today=today), now=local(today, 12))

    # 1 h 59 min counts as 1 h, 3 h as 3 h: the median of 1 and 3 is 2, the 90th percentile 1 + 0.9 x 2 = 2.8
    assert (kpis.time_to_ship.median_hours, kpis.time_to_ship.p90_hours) == (2.0, 2.8)
    assert sorted(ShippedOrdersDay.objects.values_list("hours", "orders")) == [(1, 1), (3, 1)]


def test_a_changed_time_zone_is_read_from_the_facts_until_the_command_sums_the_days_again(world, settings):
    week = world.week()
    in_phoenix = figures(week, world.now)
    # O12's last shipment left at 19:00 on T-3 in Phoenix: 02:00 on T-2 in UTC
    assert ShippedOrdersDay.objects.filter(day=world.day(3), channel=world.mkt, hours=12, orders=1).exists()

    settings.TIME_ZONE = "UTC"

    # the rollups' days are Phoenix's: the cockpit sets them aside and sums the facts
    assert not rollups.readable(week)
    kpis_for(Period.last_7_days(today=world.today), now=world.now)

    out = io.StringIO()
    call_command("refresh_shipping_facts", stdout=out)

    assert "day rollups summed again in UTC" in out.getvalue()
    assert rollups.readable(week)
    assert CockpitRollupZone.objects.get().time_zone == "UTC"
    assert ShippedOrdersDay.objects.filter(day=world.day(2), channel=world.mkt, hours=12, orders=1).exists()
    assert not ShippedOrdersDay.objects.filter(day=world.day(3), channel=world.mkt, orders__gt=0).exists()
    # read from the rebuilt rollups, the figures are the facts' own, in UTC days
    in_utc = figures(Period.last_7_days(today=world.today), world.now)
    set_rollups_aside()
    assert figures(Period.last_7_days(today=world.today), world.now) == in_utc
    assert in_utc != in_phoenix


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_transactions_adding_to_the_same_day_lose_nothing():
    """Twelve orders shipped at once, each in its own transaction, all on the same day, channel, currency and
    hour: each adds one to the same rollup row (the first inserts it), and none of the additions is lost."""
    channel, warehouse = ChannelFactory(), WarehouseFactory()
    placed = timezone.now().replace(microsecond=0) - dt.timedelta(hours=30)
    left = placed + dt.timedelta(hours=26, minutes=10)
    orders = []
    for n in range(12):
        order = OrderFactory(channel=channel, status=OrderStatus.SHIPPED, placed_at=placed, currency="USD")
        Shipment.objects.create(
            number=f"PAR-{n}",
            order=order,
            order_number=order.number,
            warehouse=warehouse,
            status=ShipmentStatus.LABEL_CREATED,
            ship_to={},
            shipping_cost=Decimal("1.25"),
        )
        orders.append(order.pk)
    refresh_shipping_facts(orders)
    assert not ShippedOrdersDay.objects.filter(orders__gt=0).exists()  # nothing has left yet
    start = threading.Barrier(len(orders))
    failures: list[BaseException] = []

    def ship(order_id: int) -> None:
        try:
            start.wait(timeout=30)
            with transaction.atomic():
                Order.objects.select_for_update().get(pk=order_id)
                Shipment.objects.filter(order_id=order_id).update(status=ShipmentStatus.IN_TRANSIT, shipped_at=left)
                refresh_shipping_facts([order_id])
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=ship, args=(order_id,)) for order_id in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not failures
    row = ShippedOrdersDay.objects.get(day=timezone.localdate(left), channel=channel, currency="USD", hours=26)
    revenue = sum(Order.objects.filter(pk__in=orders).values_list("grand_total", flat=True))
    assert (row.orders, row.on_time, row.split, row.shipping_cost, row.revenue) == (
        12,
        12,
        0,
        Decimal("15.00"),
        revenue,
    )
    # and equal to the rollups summed again from the facts
    kept = sorted(ShippedOrdersDay.objects.filter(orders__gt=0).values_list("day", "hours", "orders", "revenue"))
    refresh_all_shipping_facts()
    assert sorted(ShippedOrdersDay.objects.values_list("day", "hours", "orders", "revenue")) == kept
    assert not DeliveredOrdersDay.objects.exists()
