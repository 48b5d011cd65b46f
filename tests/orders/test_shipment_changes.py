"""Splitting, merging and moving shipments before their labels are bought: stock, carriers, promise, timeline."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from inventory.models import Allocation, StockLevel
from orders import services
from orders.exceptions import ShipmentChangeRefused
from orders.models import OrderDelayNotice, OrderEvent
from shipping.models import Shipment, ShipmentLine, ShipmentStatus
from tests.factories import UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("carriers")]


@pytest.fixture
def placed(sites, stock, products, order_to):
    """An order to New York of 3 × SKU-A and 1 × SKU-B, reserved at Edison and put in one shipment; Atlanta holds
    5 × SKU-A as well, Dallas none."""
    a, b = products[:2]
    stock(sites["EWR"], a, 5)
    stock(sites["EWR"], b, 5)
    stock(sites["ATL"], a, 5)
    order = order_to("NYC", [(a, 3), (b, 1)], promised_date=dt.date.today() + dt.timedelta(days=20))
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    order.refresh_from_db()
    return order, shipment


def units(shipment) -> dict[str, int]:
    return dict(ShipmentLine.objects.filter(shipment=shipment).values_list("sku", "quantity"))


def reserved(order) -> dict[tuple[str, str], int]:
    return {
        (code, sku): quantity
        for code, sku, quantity in Allocation.objects.filter(order=order).values_list(
            "warehouse__code", "product__sku", "quantity"
        )
    }


def allocated_at(warehouse, product) -> int:
    return StockLevel.objects.get(warehouse=warehouse, product=product).allocated


def line_of(order, sku):
    return order.lines.get(sku=sku)


def test_splitting_in_the_same_warehouse_makes_a_second_shipment_and_chooses_both_carriers_again(placed):
    order, shipment = placed
    ops = UserFactory(username="maria")
    line_a = line_of(order, "SKU-A")

    change = services.split_shipment(
        shipment_id=shipment.pk, quantities={line_a.pk: 1}, reason="Ship the gift separately", actor=ops
    )

    first, second = Shipment.objects.filter(order=order).order_by("pk")
    assert units(first) == {"SKU-A": 2, "SKU-B": 1} and units(second) == {"SKU-A": 1}
    assert second.warehouse_id == first.warehouse_id and second.service_id is not None
    assert first.promised_date == second.promised_date == order.promised_date  # the cockpit's copy stays right
    assert reserved(order) == {("EWR", "SKU-A"): 3, ("EWR", "SKU-B"): 1}  # no stock moved
    assert change.stock_moved == [] and [s.number for s in change.shipments] == [first.number, second.number]
    entry = OrderEvent.objects.filter(order=order, data__change="split").get()
    assert entry.actor_name == "maria"
    assert f"Shipment {first.number} split: 1 unit (1 × SKU-A) moved to new shipment {second.number}" in entry.message
    assert f"{first.number}: cheapest of" in entry.message and f"{second.number}: cheapest of" in entry.message
    assert "Reason: Ship the gift separately" in entry.message
    assert entry.data["shipments"][second.number]["chosen"]["service"] == "Ground"


def test_splitting_to_another_warehouse_releases_the_units_here_and_reserves_them_there(placed, sites, products):
    order, shipment = placed
    a = products[0]
    line_a = line_of(order, "SKU-A")

    change = services.split_shipment(
        shipment_id=shipment.pk,
        quantities={line_a.pk: 2},
        warehouse_id=sites["ATL"].pk,
        reason="Edison is short-staffed",
        actor="ops",
    )

    new = Shipment.objects.filter(order=order).order_by("pk").last()
    assert new.warehouse == sites["ATL"] and units(new) == {"SKU-A": 2}
    assert units(shipment) == {"SKU-A": 1, "SKU-B": 1}
    assert reserved(order) == {("EWR", "SKU-A"): 1, ("EWR", "SKU-B"): 1, ("ATL", "SKU-A"): 2}
    assert allocated_at(sites["EWR"], a) == 1 and allocated_at(sites["ATL"], a) == 2
    assert change.stock_moved == [{"sku": "SKU-A", "units": 2, "from": "EWR", "to": "ATL"}]
    entry = OrderEvent.objects.get(order=order, data__change="split")
    assert "Stock released and reserved: 2 × SKU-A EWR → ATL." in entry.message


def test_a_split_to_a_warehouse_without_the_stock_is_refused_and_nothing_changes(placed, sites):
    order, shipment = placed
    line_a = line_of(order, "SKU-A")
    before = (reserved(order), units(shipment), Shipment.objects.filter(order=order).count())

    with pytest.raises(ShipmentChangeRefused, match="SKU-A at DAL: 2 wanted, 0 free"):
        services.split_shipment(
            shipment_id=shipment.pk,
            quantities={line_a.pk: 2},
            warehouse_id=sites["DAL"].pk,
            reason="try Dallas",
            actor="ops",
        )

    assert (reserved(order), units(shipment), Shipment.objects.filter(order=order).count()) == before
    assert not OrderEvent.objects.filter(order=order, data__change="split").exists()


@pytest.mark.parametrize(
    ("quantities", "message"),
    [
        ({"SKU-A": 3, "SKU-B": 1}, "leaves it empty; move the whole shipment instead"),
        ({"SKU-A": 4}, "SKU-A has 3 units in it; 4 cannot be moved"),
        ({}, "enter how many units of at least one line to move"),
    ],
)
def test_a_split_that_asks_for_what_the_shipment_does_not_hold_is_refused(placed, quantities, message):
    order, shipment = placed
    wanted = {line_of(order, sku).pk: count for sku, count in quantities.items()}

    with pytest.raises(ShipmentChangeRefused, match=message):
        services.split_shipment(shipment_id=shipment.pk, quantities=wanted, reason="x", actor="ops")


def test_a_shipment_with_its_label_cannot_change_until_the_label_is_voided(placed):
    order, shipment = placed
    services.buy_labels(shipment_id=shipment.pk, actor="test")

    with pytest.raises(ShipmentChangeRefused, match="has its label already; void the label first"):
        services.split_shipment(
            shipment_id=shipment.pk, quantities={line_of(order, "SKU-A").pk: 1}, reason="x", actor="ops"
        )

    services.void_label(shipment_id=shipment.pk, reason="re-plan", actor="test")
    services.split_shipment(shipment_id=shipment.pk, quantities={line_of(order, "SKU-A").pk: 1}, reason="x", actor="o")
    assert Shipment.objects.filter(order=order).exclude(status=ShipmentStatus.CANCELLED).count() == 2


def test_a_change_against_a_shipment_that_changed_since_it_was_read_is_refused(placed):
    order, shipment = placed
    version = services.shipment_version(shipment)
    services.split_shipment(shipment_id=shipment.pk, quantities={line_of(order, "SKU-A").pk: 1}, reason="x", actor="a")

    with pytest.raises(ShipmentChangeRefused, match="changed since you looked at it"):
        services.split_shipment(
            shipment_id=shipment.pk,
            quantities={line_of(order, "SKU-A").pk: 1},
            reason="y",
            actor="b",
            expected_version=version,
        )


def test_merging_puts_the_units_back_in_one_shipment_from_its_warehouse_and_cancels_the_other(placed, sites, products):
    order, shipment = placed
    a = products[0]
    services.split_shipment(
        shipment_id=shipment.pk,
        quantities={line_of(order, "SKU-A").pk: 2},
        warehouse_id=sites["ATL"].pk,
        reason="split",
        actor="ops",
    )
    other = Shipment.objects.filter(order=order).order_by("pk").last()

    change = services.merge_shipments(
        shipment_id=other.pk, into_shipment_id=shipment.pk, reason="Customer wants one box", actor="ops"
    )

    other.refresh_from_db()
    assert other.status == ShipmentStatus.CANCELLED
    assert units(shipment) == {"SKU-A": 3, "SKU-B": 1}
    assert reserved(order) == {("EWR", "SKU-A"): 3, ("EWR", "SKU-B"): 1}
    assert allocated_at(sites["ATL"], a) == 0 and allocated_at(sites["EWR"], a) == 3
    assert change.stock_moved == [{"sku": "SKU-A", "units": 2, "from": "ATL", "to": "EWR"}]
    entry = OrderEvent.objects.get(order=order, data__change="merge")
    assert f"Shipment {other.number} merged into {shipment.number} (EWR): 2 units moved" in entry.message
    assert "Carrier chosen again" in entry.message
    # the order's facts count live shipments only
    assert order.shipping_facts.live_shipments == 1


def test_shipments_to_different_addresses_do_not_merge(placed):
    order, shipment = placed
    services.split_shipment(shipment_id=shipment.pk, quantities={line_of(order, "SKU-A").pk: 1}, reason="x", actor="o")
    other = Shipment.objects.filter(order=order).order_by("pk").last()
    Shipment.objects.filter(pk=other.pk).update(ship_to={**other.ship_to, "line1": "1 Other Street"})

    with pytest.raises(ShipmentChangeRefused, match="go to different addresses"):
        services.merge_shipments(shipment_id=other.pk, into_shipment_id=shipment.pk, reason="x", actor="ops")


def test_moving_a_shipment_reserves_its_stock_at_the_new_warehouse_and_chooses_its_carrier_from_there(
    placed, sites, stock, products
):
    order, shipment = placed
    a, b = products[:2]
    stock(sites["ATL"], b, 1)
    zone_before = shipment.zone

    services.move_shipment(shipment_id=shipment.pk, warehouse_id=sites["ATL"].pk, reason="Edison flooded", actor="ops")

    shipment.refresh_from_db()
    assert shipment.warehouse == sites["ATL"] and shipment.zone != zone_before
    assert reserved(order) == {("ATL", "SKU-A"): 3, ("ATL", "SKU-B"): 1}
    assert allocated_at(sites["EWR"], a) == 0 and allocated_at(sites["EWR"], b) == 0
    assert allocated_at(sites["ATL"], a) == 3 and allocated_at(sites["ATL"], b) == 1
    entry = OrderEvent.objects.get(order=order, data__change="move")
    assert f"Shipment {shipment.number} moved from EWR to ATL (4 units)" in entry.message
    assert shipment.choice_reason in entry.message


def test_moving_to_a_warehouse_short_of_one_sku_is_refused_naming_it(placed, sites):
    order, shipment = placed

    with pytest.raises(ShipmentChangeRefused, match="SKU-B at ATL: 1 wanted, 0 free"):
        services.move_shipment(shipment_id=shipment.pk, warehouse_id=sites["ATL"].pk, reason="x", actor="ops")

    assert reserved(order) == {("EWR", "SKU-A"): 3, ("EWR", "SKU-B"): 1}


def test_the_preview_shows_the_change_and_writes_nothing(placed, sites):
    order, shipment = placed
    events_before = OrderEvent.objects.filter(order=order).count()

    plan = services.preview_split(
        shipment_id=shipment.pk, quantities={line_of(order, "SKU-A").pk: 2}, warehouse_id=sites["ATL"].pk
    )

    assert [row.warehouse for row in plan.shipments] == ["EWR", "ATL"]
    assert plan.shipments[1].new and plan.shipments[1].units == {"SKU-A": 2}
    assert plan.shipments[1].service != "no service" and plan.shipments[1].estimated_delivery is not None
    assert plan.stock_moved == [{"sku": "SKU-A", "units": 2, "from": "EWR", "to": "ATL"}]
    assert Shipment.objects.filter(order=order).count() == 1
    assert reserved(order) == {("EWR", "SKU-A"): 3, ("EWR", "SKU-B"): 1}
    assert OrderEvent.objects.filter(order=order).count() == events_before


def test_a_change_that_makes_the_order_late_tells_the_customer_the_new_date(placed, sites, stock, products):
    order, shipment = placed
    stock(sites["RNO"], products[0], 5)
    stock(sites["RNO"], products[1], 5)
    order.promised_date = dt.date.today()  # nothing arrives today
    order.save(update_fields=["promised_date"])

    change = services.move_shipment(shipment_id=shipment.pk, warehouse_id=sites["RNO"].pk, reason="x", actor="ops")

    assert change.late and change.estimated_delivery > order.promised_date
    notice = OrderDelayNotice.objects.get(order=order)
    assert notice.cause == OrderDelayNotice.Cause.OPERATOR and notice.new_estimate is not None
    shipment.refresh_from_db()
    assert shipment.promised_date == order.promised_date


def test_stock_and_allocations_add_up_after_a_run_of_changes(placed, sites, stock, products):
    order, shipment = placed
    stock(sites["ATL"], products[1], 3)
    line_a = line_of(order, "SKU-A")
    services.split_shipment(
        shipment_id=shipment.pk, quantities={line_a.pk: 1}, warehouse_id=sites["ATL"].pk, reason="1", actor="o"
    )
    second = Shipment.objects.filter(order=order).order_by("pk").last()
    services.move_shipment(shipment_id=shipment.pk, warehouse_id=sites["ATL"].pk, reason="2", actor="o")
    services.merge_shipments(shipment_id=second.pk, into_shipment_id=shipment.pk, reason="3", actor="o")

    for line in order.lines.all():
        allocated = Allocation.objects.filter(order_line=line).aggregate(n=Sum("quantity"))["n"]
        packed = ShipmentLine.objects.filter(order_line=line, shipment__status=ShipmentStatus.AWAITING_LABEL).aggregate(
            n=Sum("quantity")
        )["n"]
        line.refresh_from_db()
        assert allocated == packed == line.quantity_allocated
    for level in StockLevel.objects.all():
        assert level.allocated == (
            Allocation.objects.filter(warehouse=level.warehouse, product=level.product).aggregate(n=Sum("quantity"))[
                "n"
            ]
            or 0
        )


# --- the store's default target, without a promised date ---------------------------------------------------------
# Monday 23 Nov 2026, 14:00 UTC: 09:00 in Edison, before every cut-off.
MONDAY = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)


@pytest.fixture
def two_day_target(sites, monkeypatch, settings):
    """The demo carriers, a two-day default target, Edison shipping the same day, the clock on Monday."""
    from django.utils import timezone

    from shipping.demo_data import ensure_demo_carriers
    from shipping.selectors import clear_rate_cache

    settings.SHIPPING_PROMISE_TARGET_DAYS = 2
    settings.SHIPPING_PROMISE_TARGET_MAX_PREMIUM = Decimal("100.00")
    monkeypatch.setattr(timezone, "now", lambda: MONDAY)
    clear_rate_cache()
    ensure_demo_carriers()
    sites["EWR"].processing_days = 0
    sites["EWR"].time_zone = "America/New_York"
    sites["EWR"].save()
    yield dt.date(2026, 11, 25)
    clear_rate_cache()


def test_a_split_without_a_promised_date_keeps_a_service_meeting_the_store_s_target(
    two_day_target, sites, stock, products, order_to
):
    # given an order to Miami with no promised date, shipped from Edison by a service arriving by the target
    a, b = products[:2]
    stock(sites["EWR"], a, 5)
    stock(sites["EWR"], b, 5)
    order = order_to("MIA", [(a, 2), (b, 1)], placed_at=MONDAY, promised_date=None)
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    assert shipment.estimated_delivery <= two_day_target
    cheapest = min(shipment.options, key=lambda option: Decimal(option["price"]))
    assert dt.date.fromisoformat(cheapest["eta"]) > two_day_target  # the target costs more

    # when a unit is split off into a shipment of its own
    services.split_shipment(
        shipment_id=shipment.pk, quantities={line_of(order, "SKU-A").pk: 1}, reason="Gift", actor="test"
    )

    # then both shipments still arrive by the store's target
    first, second = Shipment.objects.filter(order=order).order_by("pk")
    assert first.estimated_delivery <= two_day_target and second.estimated_delivery <= two_day_target
    assert "arriving by the promised Wed 25 Nov" in second.choice_reason, second.choice_reason
