"""The order services: placing orders, hold / release / cancel, allocation, shipping."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connections, transaction

from orders import services
from orders.exceptions import InvalidTransition, OrderError, ReasonRequired
from orders.models import Customer, Order, OrderEvent, OrderLine, OrderStatus
from tests.factories import ChannelFactory, OrderFactory, ProductFactory, UserFactory

S = OrderStatus
pytestmark = pytest.mark.django_db


def order_data(external_id="WEB-1001", **overrides):
    values = {
        "external_id": external_id,
        "customer": services.CustomerData(name="Zoë Álvarez", email="Zoe.Alvarez@Example.com"),
        "shipping_address": services.AddressData(
            name="Zoë Álvarez", line1="12 Oak Ave", city="Columbus", state="OH", postal_code="43215"
        ),
        "lines": [
            services.LineData(sku="TEE-M", quantity=2, unit_price=Decimal("24.00")),
            services.LineData(sku="MUG-WHT", quantity=1, unit_price=Decimal("18.50")),
        ],
        "shipping_total": Decimal("5.99"),
        "tax_total": Decimal("5.49"),
        "discount_total": Decimal("2.00"),
        "promised_date": dt.date(2026, 12, 1),
    }
    values.update(overrides)
    return services.OrderData(**values)


@pytest.fixture
def catalogue(db):
    return [ProductFactory(sku="TEE-M", name="Tee M"), ProductFactory(sku="MUG-WHT", name="Mug white")]


@pytest.fixture
def operator(db):
    """An operations associate: may hold orders and release the holds of the types associates release."""
    return UserFactory(username="sam", role="Operations associate")


def test_place_order_records_the_order_lines_totals_and_timeline(channel, catalogue):
    order, created = services.place_order(channel=channel, data=order_data(), actor="channel: webstore")

    assert created
    assert order.number == f"SO-{order.pk:07d}"
    assert order.status == S.RECEIVED
    assert order.customer.email == "zoe.alvarez@example.com"
    assert order.shipping_address.postal_code == "43215"
    assert [(line.sku, line.quantity, line.unit_price) for line in order.lines.all()] == [
        ("TEE-M", 2, Decimal("24.00")),
        ("MUG-WHT", 1, Decimal("18.50")),
    ]
    assert order.subtotal == Decimal("66.50")
    assert order.grand_total == Decimal("66.50") + Decimal("5.99") + Decimal("5.49") - Decimal("2.00")
    placed = order.events.get()
    assert placed.kind == OrderEvent.Kind.PLACED
    assert placed.actor_name == "channel: webstore"
    assert "WEB-1001" in placed.message


def test_place_order_is_idempotent_per_channel_and_external_id(channel, catalogue):
    first, created_first = services.place_order(channel=channel, data=order_data(), actor=None)
    again, created_again = services.place_order(channel=channel, data=order_data(), actor=None)

    assert created_first and not created_again
    assert again.pk == first.pk
    assert Order.objects.count() == 1
    assert OrderLine.objects.count() == 2


def test_the_same_external_id_on_another_channel_is_another_order(channel, catalogue):
    marketplace = ChannelFactory(code="amazon")

    services.place_order(channel=channel, data=order_data(), actor=None)
    other, created = services.place_order(channel=marketplace, data=order_data(), actor=None)

    assert created
    assert other.channel == marketplace
    assert Order.objects.count() == 2


def test_returning_customer_is_matched_by_email_whatever_its_case(channel, catalogue):
    services.place_order(channel=channel, data=order_data("A"), actor=None)
    services.place_order(
        channel=channel,
        data=order_data("B", customer=services.CustomerData(name="Zoe A", email="ZOE.ALVAREZ@example.com")),
        actor=None,
    )

    assert Customer.objects.count() == 1
    assert Customer.objects.get().orders.count() == 2


def test_unknown_sku_is_refused_by_name_and_nothing_is_written(channel, catalogue):
    data = order_data(lines=[services.LineData(sku="NOPE-1", quantity=1, unit_price=Decimal("1.00"))])

    with pytest.raises(OrderError, match="Unknown SKU: NOPE-1"):
        services.place_order(channel=channel, data=data, actor=None)

    assert Order.objects.count() == 0
    assert Customer.objects.count() == 0


def test_order_without_lines_is_refused(channel, catalogue):
    with pytest.raises(OrderError, match="at least one line"):
        services.place_order(channel=channel, data=order_data(lines=[]), actor=None)


def test_hold_needs_a_reason_and_records_it_with_the_operator(operator):
    order = OrderFactory(status=S.ALLOCATED)

    with pytest.raises(ReasonRequired):
        services.hold_order(order_id=order.pk, reason="   ", actor=operator)

    services.hold_order(order_id=order.pk, reason="Address looks wrong", actor=operator)

    order.refresh_from_db()
    assert order.status == S.ON_HOLD
    event = order.events.latest("created_at")
    assert event.message == "Put on hold: Address looks wrong"
    assert event.actor == operator
    assert event.data["reason"] == "Address looks wrong"
    assert event.data["cause"] == "operator"  # what the cockpit counts holds by


@pytest.mark.parametrize("held_from", [S.RECEIVED, S.ALLOCATED, S.BACKORDERED])
def test_release_returns_the_order_to_where_it_was_held_from(held_from, operator):
    order = OrderFactory(status=held_from)
    services.hold_order(order_id=order.pk, reason="Check", actor=operator)

    services.release_order(order_id=order.pk, actor=operator, note="Checked with customer")

    order.refresh_from_db()
    assert order.status == held_from
    assert "Checked with customer" in order.events.latest("created_at").message


def test_release_of_an_order_not_on_hold_is_refused(operator):
    order = OrderFactory(status=S.ALLOCATED)

    with pytest.raises(OrderError, match="not on hold"):
        services.release_order(order_id=order.pk, actor=operator)


def test_hold_after_shipping_is_refused(operator):
    order = OrderFactory(status=S.PARTIALLY_SHIPPED)

    with pytest.raises(InvalidTransition):
        services.hold_order(order_id=order.pk, reason="too late", actor=operator)


def test_cancel_drops_allocations_and_records_the_reason(operator, sites, stock, products, order_to):
    a, b = products[:2]
    stock(sites["DAL"], a, 2)
    stock(sites["DAL"], b, 2)
    order = order_to("DFW", [(a, 2), (b, 2)])
    services.allocate_order(order_id=order.pk, actor="system: routing")

    services.cancel_order(order_id=order.pk, reason="Customer request", actor=operator)

    order.refresh_from_db()
    assert order.status == S.CANCELLED
    assert list(order.lines.values_list("quantity_allocated", flat=True)) == [0, 0]
    assert order.events.latest("created_at").message == "Cancelled: Customer request"


def test_a_cancellation_is_never_part_of_a_callers_transaction(operator, sites, stock, products, order_to):
    # given an allocated order (its payment's void is called after the cancellation commits)
    stock(sites["DAL"], products[0], 1)
    order = order_to("DFW", [(products[0], 1)])
    services.allocate_order(order_id=order.pk, actor="system: routing")

    # when a caller opens a transaction of its own around it, the cancellation refuses, and nothing changes
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        services.cancel_order(order_id=order.pk, reason="Customer request", actor=operator)

    order.refresh_from_db()
    assert order.status == S.ALLOCATED


@pytest.mark.parametrize("status", [S.PARTIALLY_SHIPPED, S.SHIPPED, S.DELIVERED, S.CANCELLED])
def test_cancel_once_anything_shipped_is_refused(status, operator):
    order = OrderFactory(status=status)

    with pytest.raises(InvalidTransition):
        services.cancel_order(order_id=order.pk, reason="Customer request", actor=operator)

    order.refresh_from_db()
    assert order.status == status


def test_shipping_part_then_the_rest_walks_partially_shipped_then_shipped_then_delivered(
    sites, stock, products, order_to
):
    a, b = products[:2]
    stock(sites["DAL"], a, 2)
    stock(sites["DAL"], b, 2)
    order = order_to("DFW", [(a, 2), (b, 2)])
    services.allocate_order(order_id=order.pk, actor="system: routing")
    first, second = order.lines.order_by("pk")

    services.record_shipment(order_id=order.pk, shipped={first.pk: 2}, actor="warehouse", reference="BOX-1")
    order.refresh_from_db()
    assert order.status == S.PARTIALLY_SHIPPED

    services.record_shipment(order_id=order.pk, shipped={second.pk: 2}, actor="warehouse", reference="BOX-2")
    order.refresh_from_db()
    assert order.status == S.SHIPPED
    assert list(order.lines.values_list("quantity_shipped", "quantity_allocated")) == [(2, 0), (2, 0)]

    services.mark_delivered(order_id=order.pk, actor="carrier: tracking")
    order.refresh_from_db()
    assert order.status == S.DELIVERED


def test_shipping_more_than_is_allocated_is_refused(sites, stock, products, order_to):
    a = products[0]
    stock(sites["DAL"], a, 1)
    order = order_to("DFW", [(a, 2)])
    services.allocate_order(order_id=order.pk, actor="system: routing")
    line = order.lines.get()

    with pytest.raises(OrderError, match="cannot ship 2, 1 allocated"):
        services.record_shipment(order_id=order.pk, shipped={line.pk: 2}, actor=None)


def test_late_orders_are_flagged_once():
    today = dt.date(2026, 11, 25)
    late = OrderFactory(status=S.ALLOCATED, promised_date=today - dt.timedelta(days=1))
    OrderFactory(status=S.ALLOCATED, promised_date=today)  # due today: not late yet
    OrderFactory(status=S.SHIPPED, promised_date=today - dt.timedelta(days=3))  # already gone

    assert services.flag_late_orders(today=today) == 1
    assert services.flag_late_orders(today=today) == 0
    assert late.events.filter(kind=OrderEvent.Kind.PROMISE_MISSED).count() == 1


def test_notes_are_attributed_and_empty_notes_refused(operator):
    order = OrderFactory()

    services.add_order_note(order_id=order.pk, message="Customer called", actor=operator)
    with pytest.raises(OrderError):
        services.add_order_note(order_id=order.pk, message=" ", actor=operator)

    note = order.events.get(kind=OrderEvent.Kind.NOTE)
    assert (note.message, note.actor_name) == ("Customer called", "sam")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_orders_create_exactly_one(catalogue):
    channel = ChannelFactory(code="webstore")
    workers = 6
    barrier = threading.Barrier(workers)
    results, errors = [], []

    def place():
        try:
            barrier.wait(timeout=10)
            results.append(services.place_order(channel=channel, data=order_data("RACE-1"), actor=None))
        except Exception as error:  # collected and asserted below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=place) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Order.objects.filter(external_id="RACE-1").count() == 1
    assert sum(created for _, created in results) == 1
    assert len({order.pk for order, _ in results}) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_hold_and_cancel_leave_one_consistent_outcome():
    order = OrderFactory(status=S.ALLOCATED)
    operator = UserFactory(username="racer")
    barrier = threading.Barrier(2)
    outcomes = {}

    def act(name, call):
        try:
            barrier.wait(timeout=10)
            call()
            outcomes[name] = "done"
        except OrderError as refusal:
            outcomes[name] = type(refusal).__name__
        finally:
            connections.close_all()

    threads = [
        threading.Thread(
            target=act, args=("hold", lambda: services.hold_order(order_id=order.pk, reason="x", actor=operator))
        ),
        threading.Thread(
            target=act, args=("cancel", lambda: services.cancel_order(order_id=order.pk, reason="y", actor=operator))
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    order.refresh_from_db()
    # Row locks serialise the two: both can succeed (hold then cancel) or the
    # cancel lands first and the hold is refused; the timeline matches.
    status_events = list(order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED).values_list("data__to", flat=True))
    assert order.status == status_events[-1]
    assert order.status in {S.CANCELLED, S.ON_HOLD}
    assert outcomes["cancel"] == "done" or order.status == S.ON_HOLD


def test_routing_a_new_order_routes_the_oldest_waiting_orders_with_it_first_come_first_served(channel, sites, stock):
    """Under load the routing task takes every waiting order in one batch, oldest first: the older order gets the
    last unit even though the newer order's task ran."""
    tee = ProductFactory(sku="TEE-M", name="Tee M")
    stock(sites["EWR"], tee, 2)
    line = [services.LineData(sku="TEE-M", quantity=2, unit_price=Decimal("24.00"))]
    older, _ = services.place_order(channel=channel, data=order_data("OLD", lines=line), actor=None, route=False)
    newer, _ = services.place_order(channel=channel, data=order_data("NEW", lines=line), actor=None, route=False)

    routed = services.route_new_order(order_id=newer.pk, actor="system: routing")

    older.refresh_from_db()
    assert older.status == S.ALLOCATED
    assert routed.status == S.BACKORDERED
    assert services.route_new_order(order_id=older.pk, actor="system: routing") is None  # its own task: nothing left
