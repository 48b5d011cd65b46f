"""Changing an order's ship-to address (``amendments.change_shipping_address``): the address checked (ZIP, city
and state agree, or a manager's recorded override), the order routed again from the new address, its promise
computed again, one email with the new address and date; in the console and as a service."""

import pytest
from django.db import transaction
from django.urls import reverse

from inventory.models import Allocation, StockLevel
from notifications.models import Message
from orders import services
from orders.exceptions import EditRefused, OrderError
from orders.models import Order, OrderEvent, OrderStatus
from orders.partners import services as partners
from orders.services.shipping import cancel_open_shipments
from shipping.models import Shipment
from tests.partners.conftest import connection  # noqa: F401 - the 3PL's connection
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = pytest.mark.django_db


def dallas(**fields) -> services.AddressData:
    values = {"name": "Ana Lima", "line1": "1500 Marilla St", "city": "Dallas", "state": "TX", "postal_code": "75201"}
    return services.AddressData(**{**values, **fields})


@pytest.fixture
def nyc_order(sites, stock, products, order_to):
    """An order to New York of 2 × SKU-A, reserved at Edison (EWR); Dallas (DAL) has the SKU too."""
    stock(sites["EWR"], products[0], 5)
    stock(sites["DAL"], products[0], 5)
    order = order_to("NYC", [(products[0], 2)])
    return services.allocate_order(order_id=order.pk, actor="test")


def test_the_zip_code_must_exist_and_agree_with_city_and_state():
    assert services.address_problems(dallas()) == {}
    assert services.address_problems(dallas(city="dallas ")) == {}  # case and spaces aside
    assert set(services.address_problems(dallas(postal_code="00000"))) == {"postal_code"}
    assert set(services.address_problems(dallas(postal_code="7520"))) == {"postal_code"}
    assert set(services.address_problems(dallas(state="OK"))) == {"state"}
    assert set(services.address_problems(dallas(city="Houston"))) == {"city"}
    assert "75201 is Dallas, TX" in services.address_problems(dallas(city="Houston"))["city"]
    assert services.address_problems(dallas(postal_code="75201-1234")) == {}
    assert services.address_problems(dallas(country="DE", postal_code="10115", state="")) == {}


def test_a_new_address_is_routed_again_promised_again_and_emailed_once(
    nyc_order,
    sites,
    products,
    carriers,  # noqa: F811 - the shipping fixture
    django_capture_on_commit_callbacks,
):
    order = nyc_order
    Order.objects.filter(pk=order.pk).update(promised_date=None)  # promised nothing yet: the change promises
    assert set(Allocation.objects.filter(order=order).values_list("warehouse__code", flat=True)) == {"EWR"}

    with django_capture_on_commit_callbacks(execute=True):
        result = services.change_shipping_address(
            order_id=order.pk, address=dallas(), reason="Customer moved", actor="ana"
        )

    # the stock moved to the warehouse nearest the new address, through the reservations (no stock movement)
    assert result.warehouses_before == ("EWR",) and result.warehouses_after == ("DAL",)
    assert StockLevel.objects.get(warehouse=sites["EWR"], product=products[0]).allocated == 0
    assert StockLevel.objects.get(warehouse=sites["DAL"], product=products[0]).allocated == 2
    order.refresh_from_db()
    assert order.status == OrderStatus.ALLOCATED and order.promised_date == result.promised_after
    assert order.promised_date is not None
    event = result.event
    assert event.kind == OrderEvent.Kind.ADDRESS_CHANGED and event.actor_name == "ana"
    assert "re-routed EWR → DAL" in event.message
    assert f"promised none → {order.promised_date.isoformat()}" in event.message
    (email,) = Message.objects.filter(order_id=order.pk, event="order_changed")
    assert email.context["address_changed"] is True
    assert email.context["shipping_address"]["city"] == "Dallas"
    assert email.context["expected_delivery"] == order.promised_date.isoformat()


def test_a_shipment_waiting_for_its_label_is_cancelled_and_its_units_routed_again(nyc_order, carriers):  # noqa: F811 - the shipping fixture
    order = nyc_order
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")

    result = services.change_shipping_address(order_id=order.pk, address=dallas(), reason="Moved", actor="ana")

    assert Shipment.objects.get(pk=shipment.pk).status == Shipment.Status.CANCELLED
    assert f"shipment {shipment.number} (no label yet) cancelled" in result.event.message
    assert result.warehouses_after == ("DAL",)


def test_an_address_that_does_not_agree_is_refused_naming_the_field(nyc_order, role_user):
    order = nyc_order
    before = Order.objects.get(pk=order.pk).shipping_address_id

    with pytest.raises(EditRefused) as refusal:
        services.change_shipping_address(
            order_id=order.pk, address=dallas(city="Houston"), reason="Moved", actor=role_user("Operations associate")
        )
    assert set(refusal.value.problems) == {"city"}
    # an associate may not override it
    with pytest.raises(EditRefused) as refusal:
        services.change_shipping_address(
            order_id=order.pk,
            address=dallas(city="Houston"),
            reason="Moved",
            actor=role_user("Operations associate"),
            override=True,
        )
    assert "only a manager" in str(refusal.value)
    assert Order.objects.get(pk=order.pk).shipping_address_id == before


def test_a_manager_may_override_and_the_override_is_recorded(nyc_order, role_user):
    manager = role_user("Operations manager")

    result = services.change_shipping_address(
        order_id=nyc_order.pk,
        address=dallas(city="Uptown Dallas"),
        reason="USPS knows it",
        actor=manager,
        override=True,
    )

    assert "address check overridden" in result.event.message and "Uptown Dallas" in result.event.message
    assert set(result.event.data["override"]) == {"city"}
    assert result.event.actor_name == manager.username


def address_form(order) -> str:
    return reverse("admin:orders_order_change_address", args=[order.pk])


def test_in_the_console_a_mismatch_lands_on_its_field_and_only_managers_see_the_override(client, nyc_order, role_user):
    order = nyc_order
    fields = {
        "name": "Ana Lima",
        "line1": "1500 Marilla St",
        "city": "Houston",
        "state": "TX",
        "postal_code": "75201",
        "country": "US",
        "reason": "Moved",
    }
    client.force_login(role_user("Operations associate"))
    form = client.get(address_form(order)).content.decode()
    assert 'name="override"' not in form
    html = client.post(address_form(order), fields).content.decode()
    assert "ZIP code 75201 is Dallas, TX, not &#x27;Houston&#x27;." in html
    assert 'class="form-row errors field-city"' in html

    client.force_login(role_user("Operations manager"))
    assert 'name="override"' in client.get(address_form(order)).content.decode()
    response = client.post(address_form(order), {**fields, "override": "on"}, follow=True)
    assert f"{order.number}: ship-to address changed; reserved at DAL" in response.content.decode()
    assert Order.objects.get(pk=order.pk).shipping_address.city == "Houston"


def test_a_held_shipment_keeps_its_hold_an_address_change_is_refused_until_released(nyc_order, carriers, role_user):  # noqa: F811 - the shipping fixture
    order = nyc_order
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    hold = services.hold_shipment(
        shipment_id=shipment.pk, hold_type="fraud_review", reason="Card flagged", actor="test"
    )
    address_before = Order.objects.get(pk=order.pk).shipping_address_id

    # a new address would cancel the held shipment and route its units again, without the hold: refused
    with pytest.raises(OrderError) as refused:
        services.change_shipping_address(order_id=order.pk, address=dallas(), reason="Moved", actor="ana")
    assert f"shipment {shipment.number} is on a fraud review hold" in str(refused.value)
    assert Shipment.objects.get(pk=shipment.pk).status == Shipment.Status.AWAITING_LABEL
    assert Order.objects.get(pk=order.pk).shipping_address_id == address_before
    hold.refresh_from_db()
    assert hold.is_open

    # once the hold is released by someone allowed to, the address may change
    services.release_shipment(shipment_id=shipment.pk, actor=role_user("Operations manager"), note="Card checked")
    result = services.change_shipping_address(order_id=order.pk, address=dallas(), reason="Moved", actor="ana")
    assert result.warehouses_after == ("DAL",)


def test_a_shipment_cancelled_closes_its_open_hold(nyc_order, carriers):  # noqa: F811 - the shipping fixture
    order = nyc_order
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    hold = services.hold_shipment(
        shipment_id=shipment.pk, hold_type="fraud_review", reason="Card flagged", actor="test"
    )

    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        (cancelled,) = cancel_open_shipments(order=locked, actor="ana")

    assert cancelled.pk == shipment.pk
    hold.refresh_from_db()
    assert not hold.is_open and hold.release_note == f"shipment {shipment.number} cancelled"
    entry = OrderEvent.objects.filter(order=order, data__shipment=shipment.number).latest("pk")
    assert entry.message == f"Shipment {shipment.number} cancelled; its fraud review hold closed with it"


def test_an_address_change_waits_for_a_3pl_to_let_go_of_a_released_shipment(
    sites,
    stock,
    products,
    order_to,
    connection,  # noqa: F811 - the partner fixture
    carriers,  # noqa: F811 - the shipping fixture
):
    stock(sites["DAL"], products[0], 5)
    order = services.allocate_order(order_id=order_to("DFW", [(products[0], 1)]).pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    release, _ = partners.release_shipment(shipment_id=shipment.pk, actor="test")
    address_before = Order.objects.get(pk=order.pk).shipping_address_id

    with pytest.raises(OrderError) as refused:
        services.change_shipping_address(
            order_id=order.pk, address=dallas(line1="2000 Ross Ave"), reason="Moved", actor="ana"
        )
    assert f"Shipment {shipment.number} was released to Acme Fulfilment" in str(refused.value)
    assert "ask the 3PL to cancel the release first" in str(refused.value)
    assert Shipment.objects.get(pk=shipment.pk).status == Shipment.Status.AWAITING_LABEL
    assert Order.objects.get(pk=order.pk).shipping_address_id == address_before
    release.refresh_from_db()
    assert release.state not in ("cancel_requested", "cancelled")
