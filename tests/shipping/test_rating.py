"""Zones, business days and the carrier choice, on hand-built rate cards (pure functions)."""

import datetime as dt
from decimal import Decimal

import pytest

from shipping import rating
from shipping.rating import ServiceTerms

MON = dt.date(2026, 11, 23)


def terms(service_id, code, *, transit, price, vendor="V", max_kg="30", fuel="0", cutoff=dt.time(17, 0)):
    return ServiceTerms(
        service_id=service_id,
        vendor_id=1,
        vendor_code=vendor.lower(),
        vendor_name=vendor,
        code=code,
        name=code.title(),
        max_weight_kg=Decimal(max_kg),
        pickup_cutoff=cutoff,
        fuel_surcharge_percent=Decimal(fuel),
        transit_days=dict.fromkeys(range(2, 9), transit),
        rates={zone: [(Decimal("5"), Decimal(price)), (Decimal(max_kg), Decimal(price) * 2)] for zone in range(2, 9)},
    )


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute))


@pytest.mark.parametrize(
    ("km", "zone"), [(10, 2), (241, 2), (242, 3), (500, 4), (1500, 5), (2000, 6), (2500, 7), (2897, 8), (4500, 8)]
)
def test_zone_bands_follow_the_mileage_chart(km, zone):
    assert rating.zone_for_distance(km) == zone


def test_business_days_skip_weekends_and_holidays():
    friday = dt.date(2026, 11, 27)
    assert rating.add_business_days(friday, 1) == dt.date(2026, 11, 30)
    assert rating.add_business_days(MON, 2, frozenset({dt.date(2026, 11, 24)})) == dt.date(2026, 11, 26)
    assert rating.add_business_days(MON, 0) == MON


def test_pickup_waits_for_the_warehouse_cutoff_and_processing_days():
    cutoff = dt.time(15, 0)
    before = rating.pickup_date(at(MON, 9), warehouse_cutoff=cutoff, processing_days=1, service_cutoff=dt.time(17, 0))
    after = rating.pickup_date(at(MON, 16), warehouse_cutoff=cutoff, processing_days=1, service_cutoff=dt.time(17, 0))
    saturday = rating.pickup_date(
        at(dt.date(2026, 11, 28), 9), warehouse_cutoff=cutoff, processing_days=0, service_cutoff=dt.time(17, 0)
    )
    assert before == dt.date(2026, 11, 24)
    assert after == dt.date(2026, 11, 25)
    assert saturday == dt.date(2026, 11, 30)


def test_same_day_processing_misses_a_passed_carrier_pickup():
    early_pickup = rating.pickup_date(
        at(MON, 13), warehouse_cutoff=dt.time(15, 0), processing_days=0, service_cutoff=dt.time(12, 0)
    )
    assert early_pickup == dt.date(2026, 11, 24)


def quote(services, weights=("2",), now=None):
    return rating.quote(
        services,
        zone=5,
        parcel_weights=[Decimal(w) for w in weights],
        now=now or at(MON, 9),
        warehouse_cutoff=dt.time(15, 0),
        processing_days=1,
    )


def test_price_is_the_weight_break_cell_per_parcel_plus_fuel_surcharge():
    options, _ = quote([terms(1, "GROUND", transit=3, price="10.00", fuel="12.5")], weights=("2", "7"))
    assert options[0].price == Decimal("33.75")  # (10 + 20) × 1.125


def test_eta_is_pickup_plus_transit_business_days():
    options, _ = quote([terms(1, "GROUND", transit=3, price="10")])
    # Monday 09:00, one processing day: pickup Tuesday; three business days: Friday.
    assert options[0].ship_date == dt.date(2026, 11, 24)
    assert options[0].eta == dt.date(2026, 11, 27)


def test_a_parcel_over_the_service_limit_is_refused_with_a_reason():
    options, refusals = quote([terms(1, "LIGHT", transit=3, price="10", max_kg="5")], weights=("6",))
    assert options == []
    assert "6 kg" in refusals[0].reason


SERVICES = [
    terms(1, "GROUND", transit=5, price="8"),
    terms(2, "2DAY", transit=2, price="15"),
    terms(3, "OVERNIGHT", transit=1, price="40"),
]


def test_the_cheapest_service_that_meets_the_promise_wins():
    options, _ = quote(SERVICES)
    chosen, reason = rating.choose(options, promised_date=dt.date(2026, 11, 26))  # Thursday
    assert chosen.service_code == "2DAY"
    assert "cheapest of 2 of 3" in reason


def test_a_loose_promise_takes_the_cheapest():
    options, _ = quote(SERVICES)
    chosen, _ = rating.choose(options, promised_date=dt.date(2026, 12, 10))
    assert chosen.service_code == "GROUND"


def test_when_no_service_meets_the_promise_the_fastest_wins():
    options, _ = quote(SERVICES, now=at(MON, 16))  # after cut-off: pickup Wednesday, overnight Thursday
    chosen, reason = rating.choose(options, promised_date=dt.date(2026, 11, 24))
    assert chosen.service_code == "OVERNIGHT"
    assert reason.startswith("no service arrives by the promised")


def test_equal_dates_break_ties_on_price():
    options, _ = quote(
        [terms(1, "A", transit=2, price="20", vendor="X"), terms(2, "B", transit=2, price="12", vendor="Y")]
    )
    assert rating.fastest(options).service_code == "B"


UTC = dt.UTC


@pytest.mark.parametrize(
    ("now", "processing_days", "service_cutoff", "cutoff"),
    [
        # before the warehouse's 15:00 cut-off: until it
        (dt.datetime(2026, 11, 23, 11, 0), 1, dt.time(17, 0), dt.datetime(2026, 11, 23, 15, 0)),
        # after it: until tomorrow's
        (dt.datetime(2026, 11, 23, 15, 0), 1, dt.time(17, 0), dt.datetime(2026, 11, 24, 15, 0)),
        # Friday evening and the weekend: until Monday's
        (dt.datetime(2026, 11, 27, 18, 0), 1, dt.time(17, 0), dt.datetime(2026, 11, 30, 15, 0)),
        (dt.datetime(2026, 11, 29, 9, 0), 1, dt.time(17, 0), dt.datetime(2026, 11, 30, 15, 0)),
        # same-day packing and a 12:00 pickup: the service's cut-off comes first
        (dt.datetime(2026, 11, 23, 11, 0), 0, dt.time(12, 0), dt.datetime(2026, 11, 23, 12, 0)),
        # ... and once it has passed, tomorrow's pickup holds until tomorrow's pickup cut-off
        (dt.datetime(2026, 11, 23, 13, 0), 0, dt.time(12, 0), dt.datetime(2026, 11, 24, 12, 0)),
    ],
)
def test_the_cut_off_is_the_first_instant_the_pickup_day_moves(now, processing_days, service_cutoff, cutoff):
    now = now.replace(tzinfo=UTC)
    terms = {"warehouse_cutoff": dt.time(15, 0), "processing_days": processing_days, "service_cutoff": service_cutoff}

    found = rating.order_by(now, **terms)

    assert found == cutoff.replace(tzinfo=UTC)
    before = rating.pickup_date(found - dt.timedelta(seconds=1), **terms)
    assert before == rating.pickup_date(now, **terms)  # an order a second before still gets the same day
    assert rating.pickup_date(found, **terms) != before


def test_the_cut_off_skips_holidays():
    holidays = frozenset({dt.date(2026, 12, 25)})
    thursday_evening = dt.datetime(2026, 12, 24, 16, 0, tzinfo=UTC)

    found = rating.order_by(
        thursday_evening,
        warehouse_cutoff=dt.time(15, 0),
        processing_days=1,
        service_cutoff=dt.time(17, 0),
        holidays=holidays,
    )

    assert found == dt.datetime(2026, 12, 28, 15, 0, tzinfo=UTC)  # not Christmas, not the weekend
