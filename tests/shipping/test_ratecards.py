"""Rate cards from CSV: every bad row reported, nothing half-written, the whole card replaced."""

from decimal import Decimal

import pytest

from shipping.exceptions import ShippingError
from shipping.models import CarrierService, Rate, TransitTime, Vendor
from shipping.services import ratecards
from shipping.services.ratecards import RateCardError, import_rate_card, parse_rate_card


def errors_of(text: str) -> list[tuple[int, str]]:
    with pytest.raises(RateCardError) as refused:
        parse_rate_card(text)
    return [(error.row, error.field) for error in refused.value.errors]


def test_a_clean_card_parses_with_its_transit_days():
    card = parse_rate_card('zone,max_weight_kg,price,transit_days\r\n2,1,7.90,1\r\n\r\n2,5,9.40,\r\n3,"1.5",8.35,2\r\n')

    assert [(c.row, c.zone, c.max_weight_kg, c.price) for c in card.cells] == [
        (2, 2, Decimal("1"), Decimal("7.90")),
        (4, 2, Decimal("5"), Decimal("9.40")),
        (5, 3, Decimal("1.5"), Decimal("8.35")),
    ]
    assert card.transit_days == {2: 1, 3: 2}


def test_columns_may_come_in_any_order_and_case():
    card = parse_rate_card(" Price , ZONE ,max_weight_kg\n4.00,8,30\n")

    assert [(c.zone, c.max_weight_kg, c.price) for c in card.cells] == [(8, Decimal("30"), Decimal("4.00"))]


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ("1,1,5", "zone"),
        ("9,1,5", "zone"),
        ("2.5,1,5", "zone"),
        ("two,1,5", "zone"),
        ("2,0,5", "max_weight_kg"),
        ("2,-1,5", "max_weight_kg"),
        ("2,1.2345,5", "max_weight_kg"),
        ("2,NaN,5", "max_weight_kg"),
        ("2,,5", "max_weight_kg"),
        ("2,10000,5", "max_weight_kg"),
        ("2,1,0", "price"),
        ("2,1,$5", "price"),
        ("2,1,5.001", "price"),
        ("2,1,Infinity", "price"),
        ("2,1,5,0", "transit_days"),
        ("2,1,5,x", "transit_days"),
        ("2,1,5,3,extra", "row"),
    ],
)
def test_each_bad_value_is_named_with_its_row_and_field(row, field):
    assert errors_of(f"zone,max_weight_kg,price,transit_days\n2,30,9\n{row}\n") == [(3, field)]


def test_every_bad_row_is_reported_not_just_the_first():
    text = "zone,max_weight_kg,price\n1,1,5\n2,x,5\n2,1,y\n2,1,5\n2,1.0,6\n"

    # Row 4 claims zone 2 up to 1 kg even though its price is wrong: rows 5 and 6 repeat it.
    assert errors_of(text) == [
        (2, "zone"),
        (3, "max_weight_kg"),
        (4, "price"),
        (5, "max_weight_kg"),
        (6, "max_weight_kg"),
    ]


def test_a_decimal_that_is_not_a_number_gets_a_clear_message():
    with pytest.raises(RateCardError) as refused:
        parse_rate_card("zone,max_weight_kg,price\n2,1kg,5\n")

    assert str(refused.value.errors[0]) == (
        "row 2, max_weight_kg: '1kg' is not a decimal number (use a dot for decimals, no currency sign or unit)"
    )


def test_transit_days_must_agree_within_a_zone():
    assert errors_of("zone,max_weight_kg,price,transit_days\n2,1,5,1\n2,5,6,2\n") == [(3, "transit_days")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [(1, "header")]),
        ("\n\n", [(1, "header")]),
        ("zone,max_weight_kg,price\n", [(2, "row")]),
        ("zone,price\n2,5\n", [(1, "max_weight_kg")]),
        ("zone,max_weight_kg,price,cost\n2,1,5,5\n", [(1, "cost")]),
        ("zone,max_weight_kg,price,price\n2,1,5,5\n", [(1, "price")]),
    ],
    ids=["empty", "blank", "header-only", "missing-column", "unknown-column", "twice"],
)
def test_the_header_is_checked_first(text, expected):
    assert errors_of(text) == expected


def test_too_many_rows_is_refused(monkeypatch):
    monkeypatch.setattr(ratecards, "MAX_ROWS", 2)

    assert errors_of("zone,max_weight_kg,price\n2,1,5\n2,2,5\n2,3,5\n") == [(4, "file")]


def test_a_file_that_is_not_utf8_is_refused():
    with pytest.raises(RateCardError) as refused:
        ratecards.decode_upload("zone,max_weight_kg,price\n2,1,5 €\n".encode("cp1252"))

    assert refused.value.errors[0].field == "file"


@pytest.fixture
def service(db):
    vendor = Vendor.objects.create(code="v", name="Vendor")
    service = CarrierService.objects.create(vendor=vendor, code="GROUND", name="Ground", max_weight_kg=Decimal("30"))
    for zone in (2, 3):
        TransitTime.objects.create(service=service, zone=zone, business_days=4)
        Rate.objects.create(service=service, zone=zone, max_weight_kg=Decimal("30"), price=Decimal("9"))
    return service


def test_import_replaces_the_whole_card_and_updates_transit_days(service, django_capture_on_commit_callbacks):
    content = "\ufeffzone,max_weight_kg,price,transit_days\n2,1,5,2\n2,10,7,2\n4,10,8,\n".encode()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = import_rate_card(service_id=service.pk, content=content, actor="test")

    assert sorted(service.rates.values_list("zone", "max_weight_kg", "price")) == [
        (2, Decimal("1.000"), Decimal("5.00")),
        (2, Decimal("10.000"), Decimal("7.00")),
        (4, Decimal("10.000"), Decimal("8.00")),
    ]
    assert dict(service.transit_times.values_list("zone", "business_days")) == {2: 2, 3: 4}
    assert (result.cells, result.replaced, result.zones, result.zones_without_transit) == (3, 2, [2, 4], [4])
    assert "Zones 4 have no transit time" in result.summary
    assert len(callbacks) == 1  # the rate cache is dropped after commit


def test_a_bad_card_writes_nothing(service):
    with pytest.raises(RateCardError):
        import_rate_card(service_id=service.pk, content=b"zone,max_weight_kg,price\n2,1,5\n9,1,5\n", actor="test")

    assert service.rates.count() == 2
    assert set(service.rates.values_list("price", flat=True)) == {Decimal("9")}


def test_an_unknown_service_is_refused(db):
    with pytest.raises(ShippingError, match="No carrier service"):
        import_rate_card(service_id=999, content=b"zone,max_weight_kg,price\n2,1,5\n", actor="test")
