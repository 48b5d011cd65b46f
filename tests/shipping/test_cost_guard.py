"""The margin guard: shipping that costs too much for the order is flagged, counted on the home, and (when the
setting says so) its label waits for an operations manager's approval."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from orders import services
from orders.exceptions import OrderError
from orders.models import Order, OrderEvent
from shipping import margin
from shipping.models import Shipment, ShipmentStatus
from shipping.selectors import shipments_awaiting_cost_approval
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db
SHIPMENTS = reverse("admin:shipping_shipment_changelist")
MANAGER, ASSOCIATE, WAREHOUSE = "Operations manager", "Operations associate", "Warehouse staff"


@pytest.fixture
def shirt(sites, stock):
    product = ProductFactory(sku="TEE-1", weight_kg="0.400")
    stock(sites["EWR"], product, 50)
    return product


@pytest.fixture
def shipped_to_nyc(order_to, shirt, carriers, monday_morning):
    """shipped_to_nyc(goods, paid): an allocated order for New York and its one shipment, on 8.00 ground."""

    def make(goods: str, paid: str = "0.00", promised_date=None):
        order = order_to("NYC", [(shirt, 1)], promised_date=promised_date)
        Order.objects.filter(pk=order.pk).update(subtotal=Decimal(goods), shipping_total=Decimal(paid))
        services.allocate_order(order_id=order.pk, actor="test")
        (shipment,) = services.create_shipments(order_id=order.pk, actor="test", now=monday_morning)
        return order, shipment

    return make


def guard_entries(order) -> list[str]:
    return [
        event.message
        for event in order.events.filter(kind=OrderEvent.Kind.SHIPMENT).order_by("pk")
        if "shipping cost" in event.message.lower()
    ]


# --- the rule ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cost", "goods", "paid", "at_risk"),
    [
        ("8.00", "20.00", "0.00", True),  # 40% of the goods
        ("8.00", "40.00", "0.00", False),  # 20%
        ("8.00", "100.00", "2.00", True),  # 4× what the customer paid
        ("8.00", "100.00", "3.00", False),  # 2.67×
        ("8.00", "0.00", "0.00", False),  # a free replacement: nothing to compare with
    ],
)
def test_the_rule_compares_the_cost_with_the_goods_and_what_was_paid(cost, goods, paid, at_risk):
    check = margin.check_shipping_cost(
        cost=Decimal(cost),
        order_value=Decimal(goods),
        paid=Decimal(paid),
        max_share=Decimal("0.25"),
        max_multiple=Decimal("3"),
    )

    assert check.at_risk is at_risk


# --- flagging ------------------------------------------------------------------------------------------


def test_shipping_dearer_than_a_quarter_of_the_goods_is_flagged_with_its_figures(shipped_to_nyc):
    order, shipment = shipped_to_nyc(goods="20.00")

    assert shipment.shipping_cost == Decimal("8.00")
    assert shipment.cost_risk == Shipment.CostRisk.AT_RISK
    assert shipment.cost_risk_figures["cost"] == "8.00" and shipment.cost_risk_figures["order_value"] == "20.00"
    assert guard_entries(order) == [
        f"Shipping cost at risk on {shipment}: shipping costs 8.00, 40% of the order's goods (20.00); "
        "the limit is 25%. An operations manager should review it."
    ]


def test_shipping_dearer_than_three_times_what_the_customer_paid_is_flagged(shipped_to_nyc):
    order, shipment = shipped_to_nyc(goods="100.00", paid="2.00")

    assert shipment.cost_risk == Shipment.CostRisk.AT_RISK
    assert "costs 8.00, 4× the 2.00 the customer paid for shipping; the limit is 3×" in guard_entries(order)[0]


def test_the_limits_are_settings(shipped_to_nyc, settings):
    settings.SHIPPING_COST_MAX_SHARE_OF_ORDER = Decimal("0.5")
    settings.SHIPPING_COST_MAX_MULTIPLE_OF_PAID = Decimal("5")

    order, shipment = shipped_to_nyc(goods="20.00", paid="2.00")

    assert shipment.cost_risk == Shipment.CostRisk.WITHIN
    assert guard_entries(order) == []


def test_a_cheaper_carrier_takes_the_flag_off(shipped_to_nyc, carriers):
    # given a promise only the 15.00 two-day makes: 30% of 50.00
    order, shipment = shipped_to_nyc(goods="50.00", promised_date=dt.date(2026, 11, 26))
    assert shipment.service == carriers["2day"] and shipment.cost_risk == Shipment.CostRisk.AT_RISK

    # when an operator puts it on the 8.00 ground
    services.override_carrier(
        shipment_id=shipment.pk, service_id=carriers["ground"].pk, reason="customer agreed", actor="test"
    )

    shipment.refresh_from_db()
    assert shipment.cost_risk == Shipment.CostRisk.WITHIN
    assert guard_entries(order)[-1] == f"Shipping cost back within limits on {shipment}: shipping now costs 8.00."


# --- holding the label ------------------------------------------------------------------------------------


def test_by_default_the_label_is_bought_despite_the_flag(shipped_to_nyc):
    _, shipment = shipped_to_nyc(goods="20.00")

    services.buy_labels(shipment_id=shipment.pk, actor="test")

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.LABEL_CREATED
    # the money is spent: nothing is left waiting for a manager's approval
    assert not shipments_awaiting_cost_approval().filter(pk=shipment.pk).exists()


def test_when_the_guard_holds_labels_none_is_bought_until_a_manager_approves(
    shipped_to_nyc, settings, role_user, roles
):
    settings.SHIPPING_COST_GUARD_HOLDS_LABEL = True
    order, shipment = shipped_to_nyc(goods="20.00")
    assert guard_entries(order)[0].endswith("Its labels wait for an operations manager's approval.")

    with pytest.raises(OrderError) as refusal:
        services.buy_labels(shipment_id=shipment.pk, actor="test")

    assert str(refusal.value) == (
        f"Shipment {shipment}: shipping cost at risk (shipping costs 8.00, 40% of the order's goods (20.00); "
        "the limit is 25%). An operations manager must approve the cost before its label is bought."
    )
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.AWAITING_LABEL
    assert not shipment.parcels.exclude(tracking_number=None).exists()

    manager = role_user(MANAGER)
    services.approve_shipping_cost(shipment_id=shipment.pk, actor=manager)
    services.buy_labels(shipment_id=shipment.pk, actor="test")

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.LABEL_CREATED
    assert (shipment.cost_risk, shipment.cost_approved_by) == (Shipment.CostRisk.APPROVED, manager.username)
    assert guard_entries(order)[-1] == (
        f"Shipment {shipment}: shipping cost of 8.00 approved (order goods 20.00, customer paid 0.00 for shipping)."
    )


def test_a_cost_within_limits_has_nothing_to_approve(shipped_to_nyc):
    _, shipment = shipped_to_nyc(goods="100.00")

    with pytest.raises(OrderError, match="its shipping cost is within limits; there is nothing to approve"):
        services.approve_shipping_cost(shipment_id=shipment.pk, actor="test")


# --- the console ------------------------------------------------------------------------------------------


def approve_in_console(client, user, shipment):
    client.force_login(user)
    return client.post(
        SHIPMENTS, {"action": "approve_shipping_cost_selected", "_selected_action": [shipment.pk]}, follow=True
    )


def test_a_manager_approves_in_the_console(client, shipped_to_nyc, role_user, roles, settings):
    settings.SHIPPING_COST_GUARD_HOLDS_LABEL = True
    _, shipment = shipped_to_nyc(goods="20.00")

    response = approve_in_console(client, role_user(MANAGER), shipment)

    assert f"{shipment}: shipping cost of 8.00 USD approved." in [str(m) for m in response.context["messages"]]
    shipment.refresh_from_db()
    assert shipment.cost_risk == Shipment.CostRisk.APPROVED


@pytest.mark.parametrize("role", [ASSOCIATE, WAREHOUSE])
def test_associates_and_the_warehouse_may_not_approve(client, shipped_to_nyc, role_user, roles, role):
    _, shipment = shipped_to_nyc(goods="20.00")
    user = role_user(role)

    listed = approve_in_console(client, user, shipment)
    page = client.post(f"{reverse('admin:shipping_shipment_act', args=['approve'])}?ids={shipment.pk}")

    assert "approve_shipping_cost_selected" not in listed.content.decode()  # not offered
    assert page.status_code == 403
    shipment.refresh_from_db()
    assert shipment.cost_risk == Shipment.CostRisk.AT_RISK


def test_the_homes_count_opens_a_list_of_as_many_shipments(client, shipped_to_nyc, role_user, roles):
    # given two orders flagged, one approved since, and one within limits
    _, first = shipped_to_nyc(goods="20.00")
    _, second = shipped_to_nyc(goods="10.00")
    _, approved = shipped_to_nyc(goods="30.00")
    shipped_to_nyc(goods="200.00")
    services.approve_shipping_cost(shipment_id=approved.pk, actor="test")
    client.force_login(role_user(MANAGER))

    item = {i["key"]: i for i in client.get("/admin/").context["dashboard"]["attention"]}["shipping-cost-at-risk"]
    listed = client.get(item["url"])

    assert item["count"] == 2
    assert listed.status_code == 200 and listed.context["cl"].result_count == 2
    assert {s.pk for s in listed.context["cl"].result_list} == {first.pk, second.pk}


def test_the_shipment_page_says_why_and_the_managers_button_approves(client, shipped_to_nyc, role_user, roles):
    _, shipment = shipped_to_nyc(goods="20.00")
    page = reverse("admin:shipping_shipment_change", args=[shipment.pk])
    client.force_login(role_user(ASSOCIATE))
    assert 'data-action="approve"' not in client.get(page).content.decode()

    client.force_login(role_user(MANAGER))
    html = client.get(page).content.decode()
    assert "shipping costs 8.00, 40% of the order&#x27;s goods (20.00); the limit is 25%" in html
    assert 'data-action="approve"' in html and "cost at risk" in html

    client.post(reverse("admin:shipping_shipment_act", args=["approve"]), {"ids": str(shipment.pk), "next": page})

    shipment.refresh_from_db()
    assert shipment.cost_risk == Shipment.CostRisk.APPROVED
    assert 'data-action="approve"' not in client.get(page).content.decode()


def test_the_order_page_offers_the_manager_the_approval(client, shipped_to_nyc, role_user, roles):
    order, _ = shipped_to_nyc(goods="20.00")
    page = reverse("admin:orders_order_change", args=[order.pk])

    client.force_login(role_user(WAREHOUSE))
    assert 'data-action="approve-cost"' not in client.get(page).content.decode()
    client.force_login(role_user(MANAGER))
    assert "Approve shipping cost (1)" in client.get(page).content.decode()
