"""A carrier whose API is down or refuses to quote takes out its own services, never the choice among the others."""

import datetime as dt

import pytest

from orders import services
from orders.models import OrderEvent
from shipping.carriers import CarrierError
from shipping.carriers.table_rate import TableRateAdapter
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


class DownAdapter(TableRateAdapter):
    """The table-rate carrier with its rating API unreachable."""

    def rate(self, **kwargs):
        raise CarrierError(f"{self.vendor.name}: rating API timed out after 10 s")


@pytest.fixture
def rapid_is_down(settings, carriers):
    settings.SHIPPING_CARRIER_ADAPTERS = {**settings.SHIPPING_CARRIER_ADAPTERS, "down": f"{__name__}.DownAdapter"}
    rapid = carriers["2day"].vendor
    rapid.adapter = "down"
    rapid.save(update_fields=["adapter"])
    return rapid


def test_an_order_ships_with_the_carrier_that_answers_and_the_timeline_says_why_the_other_is_missing(
    sites, stock, order_to, carriers, rapid_is_down, monday_morning
):
    shirt = ProductFactory(sku="TEE-1", weight_kg="0.400")
    stock(sites["EWR"], shirt, 5)
    order = order_to("NYC", [(shirt, 1)], promised_date=dt.date(2026, 12, 4))
    services.allocate_order(order_id=order.pk, actor="test")

    (shipment,) = services.create_shipments(order_id=order.pk, actor="test", now=monday_morning)

    assert shipment.service == carriers["ground"]
    event = order.events.filter(kind=OrderEvent.Kind.SHIPMENT).get()
    assert {r["service"]: r["reason"] for r in event.data["refused"]} == {
        f"Rapid Air {name}": "no quote from the carrier: Rapid Air: rating API timed out after 10 s"
        for name in ("2Day", "Overnight")
    }
