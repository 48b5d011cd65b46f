"""Split, merge and move from the shipment page: the preview before confirming, the result, the refusals; who may."""

import datetime as dt

import pytest
from django.urls import reverse

from inventory.models import Allocation
from orders import services
from orders.models import OrderEvent
from shipping.models import Shipment, ShipmentLine, ShipmentStatus
from tests.factories import UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("carriers")]


@pytest.fixture
def placed(sites, stock, products, order_to):
    """3 × SKU-A and 1 × SKU-B to New York in one shipment from Edison; Atlanta has SKU-A too."""
    a, b = products[:2]
    stock(sites["EWR"], a, 5)
    stock(sites["EWR"], b, 5)
    stock(sites["ATL"], a, 5)
    order = order_to("NYC", [(a, 3), (b, 1)], promised_date=dt.date.today() + dt.timedelta(days=20))
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    return order, shipment


def page(shipment) -> str:
    return reverse("admin:shipping_shipment_change", args=[shipment.pk])


def act(action: str, shipment) -> str:
    return reverse("admin:shipping_shipment_act", args=[action]) + f"?ids={shipment.pk}"


def sign_in(client, role: str):
    client.force_login(UserFactory(username=role.lower().replace(" ", "-"), role=role))
    return client


@pytest.mark.parametrize(
    ("role", "may"),
    [
        ("Operations manager", True),
        ("Operations associate", True),
        ("Warehouse staff", False),
        ("Returns associate", False),
    ],
)
def test_split_and_move_are_offered_to_managers_and_associates_only(client, placed, role, may):
    _, shipment = placed
    sign_in(client, role)

    html = client.get(page(shipment)).content.decode()

    assert ('data-action="split"' in html) == may and ('data-action="move"' in html) == may
    assert 'data-action="merge"' not in html  # nothing to merge into yet
    assert (client.get(act("split", shipment)).status_code == 200) == may


def test_an_associate_previews_a_split_then_confirms_it(client, placed, sites):
    order, shipment = placed
    sign_in(client, "Operations associate")
    line_a = order.lines.get(sku="SKU-A")
    form = client.get(act("split", shipment)).content.decode()
    assert f'name="line_{line_a.pk}"' in form and "up to 3" in form
    fields = {
        "ids": str(shipment.pk),
        f"line_{line_a.pk}": "2",
        "warehouse": str(sites["ATL"].pk),
        "reason": "Edison is short-staffed",
        "version": services.shipment_version(shipment),
        "next": page(shipment),
    }

    # the first submit shows what the split does and changes nothing
    review = client.post(act("split", shipment), fields).content.decode()
    assert 'id="change-summary"' in review and "Nothing is changed yet" in review
    assert "2 × SKU-A: released at EWR, reserved at ATL" in review
    assert f"new {order.number}-2" in review and "cheapest of" in review
    assert Shipment.objects.filter(order=order).count() == 1
    reviewed = f"{sites['ATL'].pk}|{line_a.pk}:2"
    assert f'value="{reviewed}"' in review

    # the second makes it, and the shipment page says so
    response = client.post(act("split", shipment), {**fields, "reviewed": reviewed}, follow=True)

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == page(shipment)
    assert f"Shipment {shipment.number} split: 2 units (2 × SKU-A) moved to new shipment {order.number}-2" in html
    assert dict(
        Allocation.objects.filter(order=order, product__sku="SKU-A").values_list("warehouse__code", "quantity")
    ) == {
        "EWR": 1,
        "ATL": 2,
    }
    assert OrderEvent.objects.get(order=order, data__change="split").actor_name == "operations-associate"


def test_a_split_the_stock_cannot_take_is_refused_on_the_form(client, placed, sites):
    order, shipment = placed
    sign_in(client, "Operations manager")
    line_a = order.lines.get(sku="SKU-A")

    html = client.post(
        act("split", shipment),
        {
            "ids": str(shipment.pk),
            f"line_{line_a.pk}": "1",
            "warehouse": str(sites["DAL"].pk),
            "reason": "x",
            "version": services.shipment_version(shipment),
        },
    ).content.decode()

    assert "SKU-A at DAL: 1 wanted, 0 free" in html and 'id="change-summary"' not in html
    assert Shipment.objects.filter(order=order).count() == 1


def test_a_confirmation_after_the_shipment_changed_is_refused_with_the_reason(client, placed):
    order, shipment = placed
    sign_in(client, "Operations manager")
    line_a = order.lines.get(sku="SKU-A")
    version = services.shipment_version(shipment)
    services.split_shipment(shipment_id=shipment.pk, quantities={line_a.pk: 1}, reason="meanwhile", actor="other")
    fields = {
        "ids": str(shipment.pk),
        f"line_{line_a.pk}": "1",
        "warehouse": str(shipment.warehouse_id),
        "reason": "x",
        "version": version,
    }

    html = client.post(act("split", shipment), {**fields, "reviewed": f"{shipment.warehouse_id}|{line_a.pk}:1"})

    assert "changed since you looked at it" in html.content.decode()
    assert ShipmentLine.objects.get(shipment=shipment, sku="SKU-A").quantity == 2


def test_merging_from_the_page_after_a_preview(client, placed):
    order, shipment = placed
    line_a = order.lines.get(sku="SKU-A")
    services.split_shipment(shipment_id=shipment.pk, quantities={line_a.pk: 1}, reason="split", actor="ops")
    other = Shipment.objects.filter(order=order).order_by("pk").last()
    sign_in(client, "Operations manager")
    assert 'data-action="merge"' in client.get(page(other)).content.decode()
    fields = {
        "ids": str(other.pk),
        "into": str(shipment.pk),
        "reason": "One box",
        "version": services.shipment_version(other),
    }

    review = client.post(act("merge", other), fields).content.decode()
    assert f"Shipment {other.number} merged into {shipment.number}" in review and "(cancelled)" in review
    client.post(act("merge", other), {**fields, "reviewed": str(shipment.pk)})

    other.refresh_from_db()
    assert other.status == ShipmentStatus.CANCELLED
    assert dict(ShipmentLine.objects.filter(shipment=shipment).values_list("sku", "quantity")) == {
        "SKU-A": 3,
        "SKU-B": 1,
    }


def test_moving_from_the_page_after_a_preview(client, placed, sites, stock, products):
    _order, shipment = placed
    stock(sites["ATL"], products[1], 2)
    sign_in(client, "Operations manager")
    fields = {
        "ids": str(shipment.pk),
        "warehouse": str(sites["ATL"].pk),
        "reason": "Edison closed",
        "version": services.shipment_version(shipment),
    }
    form = client.get(act("move", shipment)).content.decode()
    assert "EWR —" not in form  # the warehouse it already leaves from is not offered

    review = client.post(act("move", shipment), fields).content.decode()
    assert "moved from EWR to ATL" in review and 'id="change-promise"' in review
    client.post(act("move", shipment), {**fields, "reviewed": str(sites["ATL"].pk)})

    shipment.refresh_from_db()
    assert shipment.warehouse == sites["ATL"]
