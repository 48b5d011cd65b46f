"""Cut-offs on each warehouse's own clock: its time zone (DST included), its processing days, weekends.

The operations team's zone (settings.TIME_ZONE) is UTC in these tests, so a
warehouse that read its cut-off in UTC would give other days than the ones
asserted here.
"""

import datetime as dt
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from orders import services
from orders.services.channels import rotate_publishable_key
from shipping.promise import quote_promise
from tests.conftest import make_warehouse
from tests.factories import ChannelFactory, ProductFactory

pytestmark = pytest.mark.django_db

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
LOS_ANGELES = zoneinfo.ZoneInfo("America/Los_Angeles")
UTC = dt.UTC


def at(zone, *fields) -> dt.datetime:
    return dt.datetime(*fields, tzinfo=zone)


@pytest.fixture
def tee(db):
    return ProductFactory(sku="TEE-1", weight_kg="0.400")


@pytest.fixture
def edison(stock, tee):
    warehouse = make_warehouse("EWR", "08817", time_zone="America/New_York", processing_days=0)
    stock(warehouse, tee, 50)
    return warehouse


@pytest.fixture
def reno(stock, tee):
    warehouse = make_warehouse("RNO", "89501", time_zone="America/Los_Angeles", processing_days=0)
    stock(warehouse, tee, 50)
    return warehouse


def ground(postal_code: str, now: dt.datetime):
    """The promise's cheapest (5-day ground) shipment option for one tee: its pickup day and its order-by."""
    promise = quote_promise(postal_code=postal_code, items=[("TEE-1", 1)], now=now)
    (shipment,) = promise.shipments
    return shipment.cheapest.ship_date, promise.cheapest_order_by


# --- the time zone field ------------------------------------------------------------------------


def test_a_new_warehouse_is_in_the_operations_teams_zone(settings, db):
    settings.TIME_ZONE = "America/Chicago"

    warehouse = make_warehouse("DAL", "75201")

    assert warehouse.time_zone == "America/Chicago"


def test_an_unknown_time_zone_is_refused_naming_the_field(db):
    warehouse = make_warehouse("DAL", "75201")
    warehouse.time_zone = "America/Gotham"

    with pytest.raises(ValidationError) as refusal:
        warehouse.full_clean()

    assert "America/Gotham is not an IANA time zone name" in refusal.value.message_dict["time_zone"][0]


# --- 14:59 against 15:01, processing days, the weekend ------------------------------------------------


@pytest.mark.usefixtures("carriers")
def test_a_minute_before_the_cut_off_in_reno_ships_today_a_minute_after_tomorrow(reno):
    # Monday 23 Nov 2026: 14:59 in Reno is 22:59 UTC, long after 15:00 UTC.
    before = at(LOS_ANGELES, 2026, 11, 23, 14, 59)
    after = at(LOS_ANGELES, 2026, 11, 23, 15, 1)

    assert ground("90012", before) == (dt.date(2026, 11, 23), at(LOS_ANGELES, 2026, 11, 23, 15, 0))
    assert ground("90012", after) == (dt.date(2026, 11, 24), at(LOS_ANGELES, 2026, 11, 24, 15, 0))


@pytest.mark.usefixtures("carriers")
def test_the_same_instant_is_before_edisons_cut_off_and_after_renos_noon(edison, reno):
    # 19:30 UTC on Monday 23 Nov: 14:30 in Edison (ships today), 11:30 in Reno.
    reno.daily_cutoff = dt.time(11, 0)
    reno.save()
    instant = at(UTC, 2026, 11, 23, 19, 30)

    assert ground("10001", instant)[0] == dt.date(2026, 11, 23)  # New York: from Edison
    assert ground("90012", instant)[0] == dt.date(2026, 11, 24)  # Los Angeles: from Reno, past its 11:00


@pytest.mark.usefixtures("carriers")
def test_one_processing_day_ships_the_next_working_day_zero_the_same_day(reno):
    morning = at(LOS_ANGELES, 2026, 11, 23, 9, 0)
    assert ground("90012", morning)[0] == dt.date(2026, 11, 23)

    reno.processing_days = 1
    reno.save()

    assert ground("90012", morning)[0] == dt.date(2026, 11, 24)


@pytest.mark.usefixtures("carriers")
def test_after_fridays_cut_off_and_at_the_weekend_the_parcel_leaves_on_monday(reno):
    friday_evening = at(LOS_ANGELES, 2026, 11, 27, 15, 1)
    saturday = at(LOS_ANGELES, 2026, 11, 28, 10, 0)

    for moment in (friday_evening, saturday):
        assert ground("90012", moment) == (dt.date(2026, 11, 30), at(LOS_ANGELES, 2026, 11, 30, 15, 0))


# --- across the daylight saving changes --------------------------------------------------------


@pytest.mark.usefixtures("carriers")
def test_the_cut_off_follows_new_york_into_summer_time(edison):
    # 19:30 UTC is 14:30 EST on Monday 8 March 2027 (before the cut-off) but 15:30 EDT on Monday 15 March.
    assert ground("10001", at(UTC, 2027, 3, 8, 19, 30))[0] == dt.date(2027, 3, 8)
    assert ground("10001", at(UTC, 2027, 3, 15, 19, 30))[0] == dt.date(2027, 3, 16)

    # an order on the Sunday of the change waits for Monday's 15:00, which is 19:00 UTC now, not 20:00
    sunday = at(NEW_YORK, 2027, 3, 14, 1, 30)  # EST, half an hour before the clocks go forward
    pickup, order_by = ground("10001", sunday)
    assert pickup == dt.date(2027, 3, 15)
    assert order_by == at(UTC, 2027, 3, 15, 19, 0)


@pytest.mark.usefixtures("carriers")
def test_the_cut_off_follows_los_angeles_back_into_winter_time(reno):
    # 22:30 UTC is 15:30 PDT on Friday 30 Oct 2026 (after the cut-off) but 14:30 PST on Monday 2 Nov.
    assert ground("90012", at(UTC, 2026, 10, 30, 22, 30))[0] == dt.date(2026, 11, 2)
    assert ground("90012", at(UTC, 2026, 11, 2, 22, 30))[0] == dt.date(2026, 11, 2)

    # on the Sunday of the change Monday's 15:00 is 23:00 UTC, an hour later than the Friday before
    sunday = at(LOS_ANGELES, 2026, 11, 1, 1, 30, 0).replace(fold=1)  # the second 01:30, PST
    pickup, order_by = ground("90012", sunday)
    assert pickup == dt.date(2026, 11, 2)
    assert order_by == at(UTC, 2026, 11, 2, 23, 0)
    assert ground("90012", at(LOS_ANGELES, 2026, 10, 30, 9, 0))[1] == at(UTC, 2026, 10, 30, 22, 0)


# --- the promise API, the storefront and routing agree ----------------------------------------------


@pytest.mark.usefixtures("carriers")
def test_the_promise_api_the_storefront_and_routing_give_the_same_day(
    client, channel_key, reno, tee, order_to, monkeypatch
):
    # given 14:30 in Reno on Monday 23 Nov 2026 (22:30 UTC: past 15:00 on the operations team's clock)
    now = at(UTC, 2026, 11, 23, 22, 30)
    monkeypatch.setattr(timezone, "now", lambda: now)
    store = rotate_publishable_key(
        channel_id=ChannelFactory(code="northwind", allowed_origins="https://shop.example").pk, actor="test"
    )

    # when a channel, the store's page and then the order itself ask for a tee to Los Angeles
    api = client.get(
        "/api/v1/promise", {"postal_code": "90012", "sku": ["TEE-1"], "qty": ["1"]}, headers=channel_key.headers
    ).json()
    storefront = client.get(
        "/api/v1/storefront/promise",
        {"key": store.publishable_key, "zip": "90012", "sku": "TEE-1"},
        headers={"Origin": "https://shop.example"},
    ).json()
    order = order_to("LAX", [(tee, 1)], promised_date=dt.date.fromisoformat(storefront["date"]))
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")

    # then all three leave Reno today and arrive on the same day
    assert api["shipments"][0]["cheapest"]["ship_date"] == shipment.ship_date.isoformat() == "2026-11-23"
    assert api["cheapest"]["date"] == storefront["date"] == shipment.estimated_delivery.isoformat() == "2026-11-30"
    assert dt.datetime.fromisoformat(storefront["order_by"]) == at(LOS_ANGELES, 2026, 11, 23, 15, 0)
