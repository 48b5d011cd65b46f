"""Holds by type: on a whole order or one shipment, who may release each type, the causes' types, the migration of
the holds that were open before types, and the home's holds by type and age."""

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from orders import services
from orders.cockpit.holds import holds_by_type_and_age
from orders.events import HOLD_CAUSE_TYPES
from orders.exceptions import HoldReleaseRefused, OrderError
from orders.models import Hold, HoldType, OrderEvent, OrderStatus
from shipping.models import Shipment, ShipmentStatus
from tests.factories import OrderFactory, UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = pytest.mark.django_db
S = OrderStatus


@pytest.fixture
def manager(db):
    return UserFactory(username="olga", role="Operations manager")


@pytest.fixture
def associate(db):
    return UserFactory(username="sam", role="Operations associate")


# --- holds on a whole order -------------------------------------------------------------------------------------
def test_a_typed_hold_records_its_type_who_and_why_and_release_closes_it(manager):
    order = OrderFactory(status=S.ALLOCATED)

    services.hold_order(
        order_id=order.pk, reason="Card used from three countries", hold_type="fraud_review", actor=manager
    )

    hold = Hold.objects.get(order=order)
    assert (hold.hold_type, hold.reason, hold.placed_by, hold.shipment) == (
        "fraud_review",
        "Card used from three countries",
        manager,
        None,
    )
    assert hold.is_open and order.events.latest("created_at").data["hold_type"] == "fraud_review"

    services.release_order(order_id=order.pk, note="Cardholder confirmed", actor=manager)

    hold.refresh_from_db()
    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    assert not hold.is_open and (hold.released_by, hold.release_note) == (manager, "Cardholder confirmed")


@pytest.mark.parametrize(
    ("hold_type", "associate_may_release"),
    [
        ("fraud_review", False),
        ("credit_rule", False),
        ("address_check", True),
        ("payment", True),
        ("customer_request", True),
        ("stock", True),
    ],
)
def test_each_type_is_released_only_with_its_permission(hold_type, associate_may_release, associate, manager):
    order = OrderFactory(status=S.ALLOCATED)
    services.hold_order(order_id=order.pk, reason="check", hold_type=hold_type, actor=manager)

    if associate_may_release:
        services.release_order(order_id=order.pk, actor=associate)
    else:
        with pytest.raises(
            HoldReleaseRefused, match=f"needs the permission to release .* holds \\(orders.release_{hold_type}_hold\\)"
        ):
            services.release_order(order_id=order.pk, actor=associate)
        order.refresh_from_db()
        assert order.status == S.ON_HOLD
        services.release_order(order_id=order.pk, actor=manager)  # a manager releases every type
    order.refresh_from_db()
    assert order.status == S.ALLOCATED and not Hold.objects.filter(order=order, released_at=None).exists()


def test_the_systems_own_release_is_not_asked_for_a_permission():
    order = OrderFactory(status=S.RECEIVED)
    services.hold_order(order_id=order.pk, reason="declined", cause="payment", actor="system: payments")

    services.release_order(order_id=order.pk, actor="system: payment retry")

    assert not Hold.objects.filter(order=order, released_at=None).exists()


@pytest.mark.parametrize(("cause", "hold_type"), sorted(HOLD_CAUSE_TYPES.items()))
def test_each_existing_cause_holds_with_its_type(cause, hold_type):
    order = OrderFactory(status=S.RECEIVED)

    services.hold_order(order_id=order.pk, reason="why", cause=cause, actor="system")

    assert Hold.objects.get(order=order).hold_type == hold_type


def test_an_unknown_type_is_refused_naming_the_field():
    order = OrderFactory(status=S.ALLOCATED)

    with pytest.raises(OrderError, match="hold_type: 'vip' is not a hold type"):
        services.hold_order(order_id=order.pk, reason="x", hold_type="vip", actor="ops")

    assert not Hold.objects.exists()


def test_cancelling_a_held_order_closes_its_holds(manager):
    order = OrderFactory(status=S.RECEIVED)
    services.hold_order(order_id=order.pk, reason="x", hold_type="address_check", actor=manager)

    services.cancel_order(order_id=order.pk, reason="Customer changed their mind", actor=manager)

    hold = Hold.objects.get(order=order)
    assert not hold.is_open and hold.release_note == "order cancelled: Customer changed their mind"


# --- holds on one shipment ----------------------------------------------------------------------------------------
@pytest.fixture
def two_shipments(request, sites, stock, products, order_to):
    request.getfixturevalue("carriers")
    a, b = products[:2]
    stock(sites["EWR"], a, 5)
    stock(sites["ATL"], b, 5)
    order = order_to("NYC", [(a, 1), (b, 1)])
    services.allocate_order(order_id=order.pk, actor="test")
    shipments = services.create_shipments(order_id=order.pk, actor="test")
    return order, sorted(shipments, key=lambda s: s.warehouse.code)  # ATL, EWR


def test_a_held_shipment_gets_no_label_and_does_not_ship_while_the_rest_carries_on(two_shipments, manager):
    order, (atlanta, edison) = two_shipments

    services.hold_shipment(shipment_id=atlanta.pk, hold_type="address_check", reason="Gate code missing", actor=manager)

    with pytest.raises(OrderError, match=f"Shipment {atlanta.number} is on a address check hold"):
        services.buy_labels(shipment_id=atlanta.pk, actor="test")
    services.buy_labels(shipment_id=edison.pk, actor="test")
    services.ship_shipment(shipment_id=edison.pk, actor="test")
    order.refresh_from_db()
    assert order.status == S.PARTIALLY_SHIPPED  # the order was never held
    entry = OrderEvent.objects.filter(order=order, data__hold_type="address_check").get()
    assert entry.message == f"Shipment {atlanta.number} put on hold (address check): Gate code missing"

    services.release_shipment(shipment_id=atlanta.pk, note="Customer called back", actor=manager)
    services.buy_labels(shipment_id=atlanta.pk, actor="test")
    atlanta.refresh_from_db()
    assert atlanta.status == ShipmentStatus.LABEL_CREATED


def test_a_labelled_shipment_held_does_not_ship(two_shipments, manager):
    _order, (atlanta, _) = two_shipments
    services.buy_labels(shipment_id=atlanta.pk, actor="test")
    services.hold_shipment(shipment_id=atlanta.pk, hold_type="customer_request", reason="Hold at depot", actor=manager)

    with pytest.raises(OrderError, match="release it before you ship it"):
        services.ship_shipment(shipment_id=atlanta.pk, actor="test")


def test_a_shipment_hold_is_released_only_with_its_types_permission(two_shipments, manager, associate):
    _order, (atlanta, _) = two_shipments
    services.hold_shipment(shipment_id=atlanta.pk, hold_type="fraud_review", reason="Reship fraud?", actor=manager)

    with pytest.raises(HoldReleaseRefused, match=r"orders\.release_fraud_review_hold"):
        services.release_shipment(shipment_id=atlanta.pk, actor=associate)

    hold = services.release_shipment(shipment_id=atlanta.pk, actor=manager)
    assert hold.released_by == manager


def test_a_shipment_is_held_once_and_only_before_it_leaves(two_shipments, manager):
    _order, (atlanta, edison) = two_shipments
    services.hold_shipment(shipment_id=atlanta.pk, hold_type="stock", reason="Damaged box", actor=manager)

    with pytest.raises(OrderError, match="already on a stock hold"):
        services.hold_shipment(shipment_id=atlanta.pk, hold_type="payment", reason="x", actor=manager)
    services.buy_labels(shipment_id=edison.pk, actor="test")
    services.ship_shipment(shipment_id=edison.pk, actor="test")
    with pytest.raises(OrderError, match="only a shipment that has not left can be held"):
        services.hold_shipment(shipment_id=edison.pk, hold_type="stock", reason="x", actor=manager)


def test_a_held_shipment_may_move_but_not_split(two_shipments, manager, sites, stock, products):
    order, (atlanta, _) = two_shipments
    stock(sites["DAL"], products[1], 5)
    services.hold_shipment(shipment_id=atlanta.pk, hold_type="stock", reason="Atlanta recount", actor=manager)
    line = order.lines.get(sku=products[1].sku)

    with pytest.raises(OrderError, match="is on a stock hold; release it before splitting or merging it"):
        services.split_shipment(shipment_id=atlanta.pk, quantities={line.pk: 1}, reason="x", actor=manager)
    services.move_shipment(shipment_id=atlanta.pk, warehouse_id=sites["DAL"].pk, reason="recount", actor=manager)

    atlanta.refresh_from_db()
    assert atlanta.warehouse == sites["DAL"] and Hold.objects.get(shipment=atlanta).is_open


def test_the_open_holds_as_a_channel_may_see_them_name_type_and_place_not_the_reason(two_shipments, manager):
    from orders.selectors import open_holds_for_api

    order, (atlanta, _) = two_shipments
    services.hold_shipment(shipment_id=atlanta.pk, hold_type="address_check", reason="Gate code", actor=manager)

    (hold,) = open_holds_for_api(order.pk)

    assert hold["type"] == "address_check" and hold["shipment"] == atlanta.number and hold["since"] is not None
    assert "Gate code" not in str(hold)


# --- the migration of the holds open before types --------------------------------------------------------------
def test_the_migration_types_each_order_on_hold_from_its_latest_hold_entry(manager):
    migration = importlib.import_module("orders.migrations.0025_typed_holds")
    credit = OrderFactory(status=S.RECEIVED)
    services.hold_order(order_id=credit.pk, reason="Over the limit", cause="credit_check", actor="system: credit")
    operator = OrderFactory(status=S.ALLOCATED)
    services.hold_order(order_id=operator.pk, reason="Customer called", actor=manager)
    released = OrderFactory(status=S.ALLOCATED)
    services.hold_order(order_id=released.pk, reason="x", actor=manager)
    services.release_order(order_id=released.pk, actor=manager)
    Hold.objects.all().delete()  # as they stood before this migration: no rows

    migration.type_existing_holds(apps, None)

    rows = {hold.order_id: hold for hold in Hold.objects.all()}
    assert set(rows) == {credit.pk, operator.pk}
    assert (rows[credit.pk].hold_type, rows[credit.pk].reason, rows[credit.pk].placed_by_name) == (
        "credit_rule",
        "Over the limit",
        "system: credit",
    )
    assert (rows[operator.pk].hold_type, rows[operator.pk].placed_by) == ("customer_request", manager)
    assert rows[operator.pk].placed_at == operator.events.filter(data__to="on_hold").get().created_at


def test_orders_on_hold_written_straight_to_the_tables_get_their_typed_hold_once(manager):
    order = OrderFactory(status=S.RECEIVED)
    services.hold_order(order_id=order.pk, reason="Declined", cause="payment", actor="system: payments")
    Hold.objects.all().delete()  # as the demo's bulk history writes it: the entry, no row

    from orders.services.holds import type_untyped_holds

    assert type_untyped_holds() == 1
    assert type_untyped_holds() == 0
    assert Hold.objects.get(order=order).hold_type == "payment"


# --- the home's holds by type and age -----------------------------------------------------------------------------
def test_holds_are_counted_by_type_and_age(two_shipments, manager):
    now = timezone.now()
    _order, (atlanta, _) = two_shipments
    fresh, old = OrderFactory(status=S.ALLOCATED), OrderFactory(status=S.ALLOCATED)
    services.hold_order(order_id=fresh.pk, reason="x", hold_type="fraud_review", actor=manager)
    services.hold_order(order_id=old.pk, reason="x", hold_type="fraud_review", actor=manager)
    Hold.objects.filter(order=old).update(placed_at=now - dt.timedelta(days=4))
    services.hold_shipment(shipment_id=atlanta.pk, hold_type="address_check", reason="x", actor=manager)

    rows = {row.key: row for row in holds_by_type_and_age(now + dt.timedelta(minutes=1))}

    assert list(rows) == HoldType.values
    fraud = rows["fraud_review"]
    assert fraud.total.count == 2 and [cell.count for cell in fraud.by_age] == [1, 0, 0, 1]
    assert fraud.oldest == now - dt.timedelta(days=4)
    assert "hold_type__exact=fraud_review" in fraud.total.url and "age=over_3d" in fraud.by_age[3].url
    assert rows["address_check"].total.count == 1 and rows["address_check"].on_shipments == 1
    assert rows["payment"].total.count == 0


# --- the console ----------------------------------------------------------------------------------------------------
def signed_in(client, role):
    from oms_site.roles import ROLES  # noqa: F401 - the groups exist once roles are applied

    user = UserFactory(username=role.lower().replace(" ", "-"), role=role)
    client.force_login(user)
    return user


def test_the_home_shows_holds_by_type_and_age_with_links_to_them(client, manager):
    order = OrderFactory(status=S.ALLOCATED)
    services.hold_order(order_id=order.pk, reason="x", hold_type="payment", actor=manager)
    signed_in(client, "Operations associate")

    html = client.get("/admin/").content.decode()

    assert 'id="holds-by-type"' in html
    row = html.split('data-hold-type="payment"')[1].split("</tr>")[0]
    assert ">1</a>" in row
    listing = client.get("/admin/orders/hold/?open=yes&hold_type__exact=payment").content.decode()
    assert order.number in listing


def test_warehouse_staff_do_not_get_the_holds_panel(client):
    signed_in(client, "Warehouse staff")

    assert 'id="holds-by-type"' not in client.get("/admin/").content.decode()


def test_an_associate_puts_a_typed_hold_on_an_order_from_its_page(client):
    order = OrderFactory(status=S.ALLOCATED)
    signed_in(client, "Operations associate")
    url = f"/admin/orders/order/act/hold/?ids={order.pk}"
    assert 'name="hold_type"' in client.get(url).content.decode()

    response = client.post(
        url, {"ids": str(order.pk), "hold_type": "address_check", "reason": "No such street"}, follow=True
    )

    assert f"{order.number} put on a address check hold." in response.content.decode()
    assert Hold.objects.get(order=order).hold_type == "address_check"
    page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "On hold: Address check" in page and 'data-action="release"' in page


def test_an_associate_sees_no_release_for_a_fraud_review_and_is_refused_if_they_try(client, manager):
    order = OrderFactory(status=S.ALLOCATED)
    services.hold_order(order_id=order.pk, reason="Suspicious", hold_type="fraud_review", actor=manager)
    signed_in(client, "Operations associate")

    page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "On hold: Fraud review" in page and 'data-action="release"' not in page
    response = client.post(f"/admin/orders/order/act/release/?ids={order.pk}", {"ids": str(order.pk)}, follow=True)

    assert "needs the permission to release fraud review holds" in response.content.decode()
    order.refresh_from_db()
    assert order.status == S.ON_HOLD


@pytest.mark.usefixtures("carriers")
def test_a_shipment_is_held_and_released_from_its_page(client, two_shipments):
    order, (atlanta, _) = two_shipments
    signed_in(client, "Operations manager")
    page_url = f"/admin/shipping/shipment/{atlanta.pk}/change/"
    assert 'data-action="hold"' in client.get(page_url).content.decode()

    client.post(
        f"/admin/shipping/shipment/act/hold/?ids={atlanta.pk}",
        {"ids": str(atlanta.pk), "hold_type": "stock", "reason": "Recount the bin"},
    )

    page = client.get(page_url).content.decode()
    assert 'id="shipment-hold"' in page and "Recount the bin" in page and 'data-action="buy"' in page
    assert 'data-action="release"' in page
    order_page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert f"Shipment {atlanta.number} on hold: Stock" in order_page
    refused = client.post(
        "/admin/shipping/shipment/act/buy/", {"ids": str(atlanta.pk), "next": page_url}, follow=True
    ).content.decode()
    assert "is on a stock hold" in refused

    client.post(f"/admin/shipping/shipment/act/release/?ids={atlanta.pk}", {"ids": str(atlanta.pk), "reason": "ok"})

    assert not Hold.objects.filter(shipment=atlanta, released_at=None).exists()
    assert Shipment.objects.get(pk=atlanta.pk).status == ShipmentStatus.AWAITING_LABEL
