"""An order's shipping facts stay what its shipments add up to, through every step of the shipping workflow.

``recomputed()`` adds the shipments up again in Python, from scratch, the
way the cockpit defines its facts (shipments not cancelled; late: left on a
later local day than the planned pickup day); each step compares the table
with it, and the day rollups with the facts added up by day in Python
(``rollups_recomputed``).
"""

import datetime as dt
import math
from decimal import Decimal

import pytest
from django.utils import timezone

from orders import services
from orders.cockpit import Period, kpis_for
from orders.models import DeliveredOrdersDay, OrderShippingFacts, OrderStatus, ShippedOrdersDay
from shipping.models import CarrierService, Shipment, ShipmentStatus
from tests.factories import OrderFactory, ProductFactory, WarehouseFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("carriers")]


def recomputed() -> dict[int, dict]:
    """Every order's facts, added up in Python from its shipments."""
    facts: dict[int, dict] = {}
    for shipment in Shipment.objects.exclude(status=ShipmentStatus.CANCELLED).select_related("order").order_by("pk"):
        order = shipment.order
        row = facts.setdefault(
            shipment.order_id,
            {
                "order": (order.channel_id, order.currency, order.grand_total, order.placed_at, order.promised_date),
                "goods_left": order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED),
                "order_delivered": order.status == OrderStatus.DELIVERED,
                "live": 0,
                "late": 0,
                "cost": None,
                "shipped": None,
                "delivered": None,
            },
        )
        row["live"] += 1
        if shipment.shipped_at and shipment.ship_date and timezone.localdate(shipment.shipped_at) > shipment.ship_date:
            row["late"] += 1
        if shipment.shipping_cost is not None:
            row["cost"] = (row["cost"] or Decimal("0")) + shipment.shipping_cost
        for key, moment in (("shipped", shipment.shipped_at), ("delivered", shipment.delivered_at)):
            if moment is not None and (row[key] is None or moment > row[key]):
                row[key] = moment
    return facts


def stored() -> dict[int, dict]:
    return {
        facts.order_id: {
            "order": (facts.channel_id, facts.currency, facts.grand_total, facts.placed_at, facts.promised_date),
            "goods_left": facts.goods_left,
            "order_delivered": facts.delivered,
            "live": facts.live_shipments,
            "late": facts.late_shipments,
            "cost": facts.shipping_cost,
            "shipped": facts.last_shipped_at,
            "delivered": facts.last_delivered_at,
        }
        for facts in OrderShippingFacts.objects.all()
    }


def whole_hours(earlier: dt.datetime, later: dt.datetime) -> int:
    return math.floor(round((later - earlier).total_seconds()) / 3600)


def rollups_recomputed(facts: dict[int, dict]) -> tuple[dict, dict]:
    """The day rollups added up in Python from the facts: shipped orders by the local day their last shipment
    left, channel, currency and whole hours to ship; delivered ones by their last arrival's day, channel, hours."""
    shipped: dict[tuple, list] = {}
    delivered: dict[tuple, list] = {}
    for row in facts.values():
        channel, currency, grand_total, placed, promised = row["order"]
        if row["goods_left"] and row["shipped"]:
            key = (timezone.localdate(row["shipped"]), channel, currency, whole_hours(placed, row["shipped"]))
            sums = shipped.setdefault(key, [0, 0, 0, Decimal("0.00"), Decimal("0.00")])
            for index, value in enumerate(
                (1, row["late"] == 0, row["live"] > 1, row["cost"] or Decimal("0.00"), grand_total)
            ):
                sums[index] += value
        if row["order_delivered"] and row["delivered"]:
            day = timezone.localdate(row["delivered"])
            sums = delivered.setdefault((day, channel, whole_hours(placed, row["delivered"])), [0, 0])
            sums[0] += 1
            sums[1] += promised is None or day <= promised
    return shipped, delivered


def rollups_stored() -> tuple[dict, dict]:
    """The day rollups' rows with orders in them (a row whose orders all moved away is left at zero)."""
    assert (
        not ShippedOrdersDay.objects.filter(orders=0).exclude(on_time=0, split=0, shipping_cost=0, revenue=0).exists()
    )
    assert not DeliveredOrdersDay.objects.filter(orders=0).exclude(on_time=0).exists()
    return (
        {
            (row.day, row.channel_id, row.currency, row.hours): [
                row.orders,
                row.on_time,
                row.split,
                row.shipping_cost,
                row.revenue,
            ]
            for row in ShippedOrdersDay.objects.exclude(orders=0)
        },
        {
            (row.day, row.channel_id, row.hours): [row.orders, row.on_time]
            for row in DeliveredOrdersDay.objects.exclude(orders=0)
        },
    )


def assert_facts_current() -> dict[int, dict]:
    """The facts are what the shipments add up to, and the day rollups what the facts add up to."""
    expected = recomputed()
    assert stored() == expected
    assert rollups_stored() == rollups_recomputed(expected)
    return expected


@pytest.fixture
def shirt(db):
    return ProductFactory(sku="TEE-1", weight_kg="0.400")


@pytest.fixture
def mug(db):
    return ProductFactory(sku="MUG-1", weight_kg="0.600")


def allocated_order(order_to, lines, **fields):
    order = order_to("NYC", lines, **fields)
    services.allocate_order(order_id=order.pk, actor="test")
    order.refresh_from_db()
    return order


def scan(shipment, status, at):
    return services.record_tracking(
        tracking_number=shipment.parcels.get().tracking_number,
        status=status,
        occurred_at=at,
        actor="test",
        source="admin",
    )


def test_the_facts_follow_a_split_order_from_its_shipments_to_its_delivery(
    sites, stock, order_to, shirt, mug, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    stock(sites["ATL"], mug, 5)
    order = allocated_order(order_to, [(shirt, 2), (mug, 1)], promised_date=dt.date(2026, 11, 26))
    monday_morning = timezone.make_aware(dt.datetime(2026, 11, 23, 9, 0))

    atl, ewr = services.create_shipments(order_id=order.pk, actor="test", now=monday_morning)
    facts = assert_facts_current()[order.pk]
    assert (facts["live"], facts["cost"], facts["shipped"]) == (2, Decimal("30.00"), None)  # two-day, $15 each

    services.override_carrier(
        shipment_id=ewr.pk, service_id=CarrierService.objects.get(code="OVERNIGHT").pk, reason="VIP", actor="test"
    )
    assert assert_facts_current()[order.pk]["cost"] == Decimal("55.00")

    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=atl.pk, actor="test")
        services.buy_labels(shipment_id=ewr.pk, actor="test")
    assert_facts_current()
    services.void_label(shipment_id=ewr.pk, reason="printer jam", actor="test")
    assert_facts_current()
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=ewr.pk, actor="test")

    atl.refresh_from_db()
    first_left = timezone.make_aware(dt.datetime.combine(atl.ship_date, dt.time(15, 0)))
    services.ship_shipment(shipment_id=atl.pk, actor="test", now=first_left)
    facts = assert_facts_current()[order.pk]
    assert (facts["shipped"], facts["late"], facts["goods_left"]) == (first_left, 0, False)  # partially shipped

    ewr.refresh_from_db()
    late_left = timezone.make_aware(dt.datetime.combine(ewr.ship_date + dt.timedelta(days=2), dt.time(10, 0)))
    services.ship_shipment(shipment_id=ewr.pk, actor="test", now=late_left)
    facts = assert_facts_current()[order.pk]
    assert (facts["shipped"], facts["late"], facts["goods_left"]) == (late_left, 1, True)

    scan(atl, "exception", late_left + dt.timedelta(hours=1))
    assert_facts_current()
    arrived = late_left + dt.timedelta(days=1)
    scan(atl, "delivered", arrived)
    assert assert_facts_current()[order.pk]["delivered"] == arrived
    scan(ewr, "delivered", arrived + dt.timedelta(hours=3))
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    facts = assert_facts_current()[order.pk]
    assert (facts["delivered"], facts["order_delivered"]) == (arrived + dt.timedelta(hours=3), True)
    assert scan(ewr, "delivered", arrived + dt.timedelta(hours=3)).event is None  # a replay
    assert_facts_current()


def test_the_cockpit_counts_an_order_the_workflow_shipped(
    sites, stock, order_to, shirt, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    order = allocated_order(order_to, [(shirt, 1)], promised_date=None)
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    services.ship_shipment(shipment_id=shipment.pk, actor="test")

    kpis = kpis_for(Period.last_7_days(), now=timezone.now() + dt.timedelta(minutes=1))

    assert kpis.time_to_ship.orders == 1
    assert kpis.shipping_cost[0].cost == Decimal("8.00")  # ground, no promise to keep


def test_an_order_marked_delivered_by_hand_is_delivered_in_its_facts(
    sites, stock, order_to, shirt, django_capture_on_commit_callbacks
):
    stock(sites["EWR"], shirt, 5)
    order = allocated_order(order_to, [(shirt, 1)])
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    services.ship_shipment(shipment_id=shipment.pk, actor="test")
    assert assert_facts_current()[order.pk]["order_delivered"] is False

    services.mark_delivered(order_id=order.pk, actor="test")

    assert assert_facts_current()[order.pk]["order_delivered"] is True


def test_cancelling_the_order_takes_its_facts_away(sites, stock, order_to, shirt, django_capture_on_commit_callbacks):
    stock(sites["EWR"], shirt, 5)
    order = allocated_order(order_to, [(shirt, 1)])
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    assert order.pk in assert_facts_current()

    services.cancel_order(order_id=order.pk, reason="customer asked", actor="test")

    assert order.pk not in assert_facts_current()


def test_refreshing_every_order_adds_up_shipments_written_without_the_services(db):
    warehouse = WarehouseFactory()
    now = timezone.now().replace(microsecond=0)
    orders = [OrderFactory(status=OrderStatus.SHIPPED) for _ in range(3)]

    def shipment(order, status, cost, shipped=None, delivered=None, ship_date=None):
        return Shipment.objects.create(
            number=f"SH-{Shipment.objects.count() + 1}",
            order=order,
            order_number=order.number,
            warehouse=warehouse,
            status=status,
            ship_to={},
            ship_date=ship_date,
            shipped_at=shipped,
            delivered_at=delivered,
            shipping_cost=cost,
        )

    shipment(orders[0], ShipmentStatus.DELIVERED, Decimal("4.10"), now - dt.timedelta(days=3), now, now.date())
    shipment(orders[0], ShipmentStatus.IN_TRANSIT, None, now - dt.timedelta(days=1), None, now.date() - dt.timedelta(3))
    shipment(orders[0], ShipmentStatus.CANCELLED, Decimal("99.00"))
    shipment(orders[1], ShipmentStatus.CANCELLED, Decimal("5.00"))
    shipment(orders[2], ShipmentStatus.AWAITING_LABEL, Decimal("7.25"))
    OrderShippingFacts.objects.create(  # stale: its only shipment was cancelled since
        order=orders[1],
        channel_id=orders[1].channel_id,
        currency="USD",
        grand_total=orders[1].grand_total,
        placed_at=orders[1].placed_at,
        goods_left=False,
        delivered=False,
        live_shipments=1,
        late_shipments=0,
    )

    assert services.refresh_all_shipping_facts() == 2

    facts = assert_facts_current()[orders[0].pk]
    assert {key: facts[key] for key in ("goods_left", "live", "late", "cost", "shipped", "delivered")} == {
        "goods_left": True,
        "live": 2,
        "late": 1,
        "cost": Decimal("4.10"),
        "shipped": now - dt.timedelta(days=1),
        "delivered": now,
    }
    assert orders[1].pk not in stored()


def test_the_command_computes_every_orders_facts_again_from_the_shipments(db):
    import io

    from django.core.management import call_command

    # given an order whose shipment was written behind the services' back: it has no facts yet
    order = OrderFactory(status=OrderStatus.SHIPPED)
    Shipment.objects.create(
        number="SH-1",
        order=order,
        order_number=order.number,
        warehouse=WarehouseFactory(),
        status=ShipmentStatus.IN_TRANSIT,
        ship_to={},
        shipped_at=timezone.now(),
        shipping_cost=Decimal("6.40"),
    )
    assert not OrderShippingFacts.objects.filter(order=order).exists()

    # when an operator runs the command
    out = io.StringIO()
    call_command("refresh_shipping_facts", stdout=out)

    # then the order has its facts, and the command says how many orders have them
    facts = OrderShippingFacts.objects.get(order=order)
    assert (facts.live_shipments, facts.shipping_cost) == (1, Decimal("6.40"))
    assert "computed again: 1 orders with a shipment" in out.getvalue()
