"""Promise accuracy by lane: deliveries recorded from tracking, percentiles and hit rates, learned days in the promise,
and the operations manager's page."""

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from oms_site.roles import OPERATIONS_ASSOCIATE, OPERATIONS_MANAGER
from shipping import lanes
from shipping.models import Lane, LaneDelivery, Parcel, Shipment, ShipmentStatus
from shipping.promise import quote_promise
from shipping.services.shipments import record_tracking_event
from tests.factories import OrderFactory, ProductFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
numbers = itertools.count(1)


def shipment_to(warehouse, service, postal_code, *, promised, status=ShipmentStatus.IN_TRANSIT, **fields):
    order = OrderFactory(lines=0)
    return Shipment.objects.create(
        number=f"{order.number}-{next(numbers)}",
        order=order,
        order_number=order.number,
        warehouse=warehouse,
        service=service,
        status=status,
        ship_to={"postal_code": postal_code, "country": "US"},
        promised_date=promised,
        **fields,
    )


def delivered(warehouse, service, postal_code, *, shipped_on, delivered_on, promised):
    """A delivery of the hand-built history: its record, as a delivery scan writes it."""
    shipment = shipment_to(warehouse, service, postal_code, promised=promised, status=ShipmentStatus.DELIVERED)
    return LaneDelivery.objects.create(
        shipment=shipment,
        warehouse=warehouse,
        destination_zip3=postal_code[:3],
        service=service,
        vendor=service.vendor,
        shipped_on=shipped_on,
        delivered_on=delivered_on,
        promised_date=promised,
        transit_days=lanes.rating.business_days_between(shipped_on, delivered_on),
        on_time=None if promised is None else delivered_on <= promised,
    )


MON = dt.date(2026, 11, 2)


def on(day: dt.date, business_days: int) -> dt.date:
    return lanes.rating.add_business_days(day, business_days)


# --- recording a delivery ----------------------------------------------------------------------------------
def test_a_delivery_scan_records_the_lane_its_transit_days_and_whether_it_was_on_time(sites, carriers):
    # given a parcel from Edison (New York time) handed over Monday and promised for Wednesday
    shipment = shipment_to(
        sites["EWR"],
        carriers["ground"],
        "10001",
        promised=dt.date(2026, 11, 4),
        shipped_at=dt.datetime(2026, 11, 2, 20, 0, tzinfo=UTC),
    )
    sites["EWR"].time_zone = "America/New_York"
    sites["EWR"].save()
    Parcel.objects.create(shipment=shipment, index=1, weight_kg="1.000", tracking_number="BF0000000001")

    # when the carrier scans it delivered on Thursday evening New York time (Friday 01:30 UTC)
    record_tracking_event(
        tracking_number="BF0000000001",
        status=ShipmentStatus.DELIVERED,
        occurred_at=dt.datetime(2026, 11, 6, 1, 30, tzinfo=UTC),
        source="webhook",
        recorded_by="test",
    )

    # then its lane has one delivery of 3 business days, one day late
    record = LaneDelivery.objects.get(shipment=shipment)
    assert (record.destination_zip3, record.shipped_on, record.delivered_on) == (
        "100",
        dt.date(2026, 11, 2),
        dt.date(2026, 11, 5),
    )
    assert record.transit_days == 3 and record.on_time is False
    lane = Lane.objects.get()
    assert (lane.deliveries, lane.promised, lane.on_time, lane.transit_percentile, lane.learned_days) == (
        1,
        1,
        0,
        3,
        None,
    )


# --- figures of a hand-built history ------------------------------------------------------------------------
def test_lane_figures_are_the_hand_computed_percentiles_and_hit_rates(sites, carriers, settings):
    settings.SHIPPING_LANE_MIN_DELIVERIES = 20
    settings.SHIPPING_LANE_PERCENTILE = 90
    ground = carriers["ground"]
    # 25 deliveries Edison → 100xx: 10 in 1 day, 10 in 2, 3 in 3, 2 in 5; promised 2 business days after pickup
    for days in [1] * 10 + [2] * 10 + [3] * 3 + [5] * 2:
        delivered(sites["EWR"], ground, "10001", shipped_on=MON, delivered_on=on(MON, days), promised=on(MON, 2))
    # 4 deliveries Reno → 100xx: 4, 5, 6, 6 days, promised in 5; one more with no promised date
    for days in (4, 5, 6, 6):
        delivered(sites["RNO"], ground, "10001", shipped_on=MON, delivered_on=on(MON, days), promised=on(MON, 5))
    delivered(sites["RNO"], ground, "10001", shipped_on=MON, delivered_on=on(MON, 7), promised=None)

    assert lanes.refresh_lanes(today=dt.date(2026, 11, 20)) == 2

    edison = Lane.objects.get(warehouse=sites["EWR"])
    # sorted: ten 1s, ten 2s, three 3s, two 5s; p50 = 13th value = 2, p90 = 23rd value (ceil 22.5) = 3
    assert (edison.deliveries, edison.transit_median, edison.transit_percentile) == (25, 2, 3)
    assert (edison.promised, edison.on_time, str(edison.hit_rate)) == (25, 20, "80.0")
    assert edison.learned_days == 3  # 25 deliveries >= 20
    reno = Lane.objects.get(warehouse=sites["RNO"])
    # sorted 4, 5, 6, 6, 7: p50 = 3rd = 6, p90 = 5th (ceil 4.5) = 7; 2 of 4 promised on time
    assert (reno.deliveries, reno.transit_median, reno.transit_percentile) == (5, 6, 7)
    assert (reno.promised, reno.on_time, str(reno.hit_rate)) == (4, 2, "50.0")
    assert reno.learned_days is None  # too few: the rate card's days


def test_old_deliveries_leave_the_window(sites, carriers, settings):
    settings.SHIPPING_LANE_WINDOW_DAYS = 30
    ground = carriers["ground"]
    delivered(sites["EWR"], ground, "10001", shipped_on=MON, delivered_on=on(MON, 1), promised=on(MON, 2))

    assert lanes.refresh_lanes(today=dt.date(2026, 11, 20)) == 1
    assert lanes.refresh_lanes(today=dt.date(2027, 1, 20)) == 0
    assert not Lane.objects.exists()


def test_the_nearest_rank_percentile():
    assert lanes.percentile([5, 1, 3, 2, 4], 90) == 5
    assert lanes.percentile([1] * 9 + [7], 90) == 1
    assert lanes.percentile([1] * 8 + [7, 7], 90) == 7
    assert lanes.percentile([2], 50) == 2


# --- the promise uses learned days ----------------------------------------------------------------------------
def test_the_promise_uses_a_lanes_learned_days_once_it_has_enough_deliveries(
    sites, stock, carriers, monday_morning, settings
):
    settings.SHIPPING_LANE_MIN_DELIVERIES = 20
    tee = ProductFactory(sku="TEE-1", weight_kg="0.400")
    stock(sites["EWR"], tee, 5)
    ground = carriers["ground"]  # the rate card: 5 business days

    def ground_eta():
        promise = quote_promise(postal_code="10001", items=[("TEE-1", 1)], now=monday_morning)
        return promise.shipments[0].cheapest.eta

    # 19 deliveries in 2 business days: still the rate card's 5 (pickup Tuesday 24 Nov + 5 = Tuesday 1 Dec)
    for _ in range(19):
        delivered(sites["EWR"], ground, "10001", shipped_on=MON, delivered_on=on(MON, 2), promised=on(MON, 5))
    lanes.refresh_lanes(today=dt.date(2026, 11, 20))
    assert ground_eta() == dt.date(2026, 12, 1)

    # the 20th: the lane has learned 2 days (Tuesday + 2 = Thursday 26 Nov)
    delivered(sites["EWR"], ground, "10001", shipped_on=MON, delivered_on=on(MON, 2), promised=on(MON, 5))
    lanes.refresh_lanes(today=dt.date(2026, 11, 20))
    assert ground_eta() == dt.date(2026, 11, 26)

    # another destination area keeps the rate card's days
    promise = quote_promise(postal_code="07030", items=[("TEE-1", 1)], now=monday_morning)
    assert promise.shipments[0].cheapest.eta == dt.date(2026, 12, 1)


# --- the operations manager's page ----------------------------------------------------------------------------
def test_the_promise_accuracy_page_lists_the_worst_lanes_first_with_hit_rates_by_vendor_warehouse_and_week(
    client, role_user, sites, carriers, monkeypatch
):
    monkeypatch.setattr(timezone, "now", lambda: dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    ground, air = carriers["ground"], carriers["2day"]
    for days in (1, 1, 1, 3):  # Edison ground: 3 of 4 on time
        delivered(sites["EWR"], ground, "10001", shipped_on=MON, delivered_on=on(MON, days), promised=on(MON, 2))
    for days in (2, 2):  # Reno two-day: both on time
        delivered(sites["RNO"], air, "90012", shipped_on=MON, delivered_on=on(MON, days), promised=on(MON, 2))
    delivered(sites["RNO"], ground, "90012", shipped_on=MON, delivered_on=on(MON, 6), promised=on(MON, 5))
    lanes.refresh_lanes()
    client.force_login(role_user(OPERATIONS_MANAGER))

    page = client.get("/admin/shipping/lane/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Promise accuracy" in html and "Goal: 97 %" in html
    # the worst lane first: Reno ground 0 %, then Edison ground 75 %, then Reno two-day 100 %
    assert html.index("RNO → 900xx") < html.index("EWR → 100xx")
    rows = list(page.context["cl"].result_list)
    assert [(lane.warehouse.code, lane.service.code) for lane in rows] == [
        ("RNO", "GROUND"),
        ("EWR", "GROUND"),
        ("RNO", "2DAY"),
    ]
    assert "0.0 %" in html and "75.0 %" in html and "100.0 %" in html
    groups = dict(page.context["groups"])
    assert [(row.label, str(row.rate)) for row, _ in groups["By vendor"]] == [
        ("Budget Freight", "60.0"),
        ("Rapid Air", "100.0"),
    ]
    assert [(row.label, str(row.rate)) for row, _ in groups["By warehouse"]] == [("RNO", "66.7"), ("EWR", "75.0")]
    # delivered in the weeks of Mon 2 Nov (1-3 days) and Mon 9 Nov (5-6 days)
    assert [(row.label, row.on_time, row.promised) for row, _ in groups["By week"]] == [
        ("2026-11-09", 0, 1),
        ("2026-11-02", 5, 6),
    ]
    assert str(page.context["overall"].rate) == "71.4"  # 5 of 7
    assert 'href="/static/shipping/promise-accuracy.css"' in html and "<style" not in html.split("<body")[1]


def test_an_operations_associate_cannot_open_the_promise_accuracy_page(client, role_user):
    client.force_login(role_user(OPERATIONS_ASSOCIATE))

    assert client.get("/admin/shipping/lane/").status_code == 403


def test_refreshing_some_lanes_leaves_the_others_alone(sites, carriers):
    ground, air = carriers["ground"], carriers["2day"]
    for warehouse, service, postal_code in (("EWR", ground, "10001"), ("RNO", air, "90012"), ("EWR", air, "90012")):
        delivered(sites[warehouse], service, postal_code, shipped_on=MON, delivered_on=on(MON, 2), promised=on(MON, 2))
    lanes.refresh_lanes(today=dt.date(2026, 11, 20))
    kept = Lane.objects.get(warehouse=sites["EWR"], destination_zip3="900")
    LaneDelivery.objects.filter(warehouse=sites["RNO"]).delete()

    lanes.refresh_lanes(
        keys=[(sites["EWR"].pk, "100", ground.pk), (sites["RNO"].pk, "900", air.pk)], today=dt.date(2026, 11, 20)
    )

    assert sorted((lane.warehouse.code, lane.destination_zip3) for lane in Lane.objects.all()) == [
        ("EWR", "100"),
        ("EWR", "900"),
    ]
    assert Lane.objects.get(warehouse=sites["EWR"], destination_zip3="900").pk == kept.pk
