"""The routing drain: every received order without a payment gateway, oldest first, in batches, woken by intake."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from notifications import tasks as notification_tasks
from oms_core import wakeups
from orders import services, tasks
from orders.models import Order, OrderEvent, OrderStatus
from orders.payments.models import CreditRule, PaymentTransaction
from tests.factories import ProductFactory
from tests.oms_core.conftest import FakeTask, own_queue, redis_flags, tasks_published  # noqa: F401 - fixtures

S = OrderStatus
pytestmark = pytest.mark.django_db
DRAIN = "system: routing"


@pytest.fixture
def tee(db):
    return ProductFactory(sku="TEE-M", name="Tee M", price=Decimal("25.00"))


@pytest.fixture
def next_drain(monkeypatch):
    """The drain's task as a wake publishes it: recorded, not run."""
    drain = FakeTask("orders.tasks.route_received_orders")
    monkeypatch.setattr(tasks, "route_received_orders", drain)
    return drain


@pytest.fixture
def waiting(order_to, tee):
    """waiting(count): received orders for one tee each, placed a minute apart, oldest first."""

    def make(count: int) -> list[Order]:
        now = timezone.now()
        return [order_to("NYC", [(tee, 1)], placed_at=now - dt.timedelta(minutes=count - i)) for i in range(count)]

    return make


def statuses(orders) -> list[str]:
    found = dict(Order.objects.filter(pk__in=[o.pk for o in orders]).values_list("pk", "status"))
    return [found[o.pk] for o in orders]


def order_data(external_id: str, *, payment=None) -> services.OrderData:
    return services.OrderData(
        external_id=external_id,
        customer=services.CustomerData(name="Zoë Álvarez", email="zoe@example.com"),
        shipping_address=services.AddressData(
            name="Zoë Álvarez", line1="12 Oak Ave", city="New York", state="NY", postal_code="10001"
        ),
        lines=[services.LineData(sku="TEE-M", quantity=1, unit_price=Decimal("25.00"))],
        payment=payment,
    )


def test_every_waiting_order_is_routed_in_batches(sites, stock, tee, waiting, next_drain):
    # given five received orders and stock for all of them
    stock(sites["EWR"], tee, 10)
    orders = waiting(5)

    # when the drain runs, two orders a batch
    routed = services.route_received_orders(actor=DRAIN, batch_size=2)

    # then all five are allocated, each with its routing on the timeline, and no other drain was woken
    assert routed == 5
    assert statuses(orders) == [S.ALLOCATED] * 5
    for order in orders:
        assert order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED, actor_name=DRAIN).exists()
    assert next_drain.published == []


def test_the_oldest_order_gets_the_last_unit(sites, stock, tee, order_to, next_drain):
    # given one unit left, and two orders for it: the newer one has the lower id (ids are not arrival order)
    stock(sites["EWR"], tee, 1)
    now = timezone.now()
    newer = order_to("NYC", [(tee, 1)], placed_at=now)
    older = order_to("NYC", [(tee, 1)], placed_at=now - dt.timedelta(hours=1))

    # when the drain routes them one a batch
    services.route_received_orders(actor=DRAIN, batch_size=1)

    # then the first placed was served first
    assert statuses([older, newer]) == [S.ALLOCATED, S.BACKORDERED]


def test_orders_with_a_payment_gateway_are_left_to_their_own_task(monkeypatch, sites, stock, tee, order_to, next_drain):
    # given a card order (its payment must be authorised first) waiting before an order without a gateway
    stock(sites["EWR"], tee, 10)
    earlier = timezone.now() - dt.timedelta(hours=1)
    card = order_to("NYC", [(tee, 1)], placed_at=earlier, payment_gateway="test_card", payment_token="tok_approve")
    plain = order_to("NYC", [(tee, 1)])

    # when the drain runs with room for a single order (one batch of one)
    monkeypatch.setattr(services.fulfilment, "DRAIN_BATCHES", 1)
    routed = services.route_received_orders(actor=DRAIN, batch_size=1)

    # then that room went to the order without a gateway; the card order was neither authorised nor routed
    assert routed == 1
    assert statuses([card, plain]) == [S.RECEIVED, S.ALLOCATED]
    assert not PaymentTransaction.objects.filter(order=card).exists()


def test_an_order_held_by_a_credit_rule_is_checked_once_and_the_rest_are_routed(sites, stock, tee, waiting, next_drain):
    # given a credit rule, and the oldest of three waiting orders over its threshold
    stock(sites["EWR"], tee, 10)
    CreditRule.objects.create(name="Big order", kind=CreditRule.Kind.AMOUNT_OVER, threshold=Decimal("100.00"))
    big, *small = waiting(3)
    Order.objects.filter(pk=big.pk).update(grand_total=Decimal("250.00"))

    # when the drain runs one order a batch
    routed = services.route_received_orders(actor=DRAIN, batch_size=1)

    # then the big order is on hold naming the rule, checked once; the others are routed; the drain ended
    assert routed == 2
    assert statuses([big, *small]) == [S.ON_HOLD, S.ALLOCATED, S.ALLOCATED]
    [check] = big.events.filter(kind=OrderEvent.Kind.CREDIT_CHECK)
    assert "Big order" in check.message
    assert next_drain.published == []


def test_an_order_still_received_after_its_batch_is_not_taken_again(
    monkeypatch, sites, stock, tee, waiting, next_drain
):
    # given an order its credit check neither passes nor holds (no rule does that today: a check that cannot
    # decide yet, or an order released between the check and the routing, leaves it received)
    stock(sites["EWR"], tee, 10)
    undecided, *others = waiting(3)
    offered: list[list[int]] = []
    check = services.payment.ready_to_route

    def undecided_check(order_ids, **kwargs):
        offered.append(list(order_ids))
        return check([pk for pk in order_ids if pk != undecided.pk], **kwargs)

    monkeypatch.setattr(services.payment, "ready_to_route", undecided_check)

    # when the drain runs one order a batch
    routed = services.route_received_orders(actor=DRAIN, batch_size=1)

    # then the others are routed, the undecided order was offered once, and the drain ended without waking another
    assert routed == 2
    assert statuses([undecided, *others]) == [S.RECEIVED, S.ALLOCATED, S.ALLOCATED]
    assert offered == [[undecided.pk], [others[0].pk], [others[1].pk]]
    assert next_drain.published == []


def test_after_its_batches_the_drain_stops_and_wakes_another(monkeypatch, sites, stock, tee, waiting, next_drain):
    # given three waiting orders, and a drain allowed one batch of two before other tasks get their turn
    monkeypatch.setattr(services.fulfilment, "DRAIN_BATCHES", 1)
    stock(sites["EWR"], tee, 10)
    orders = waiting(3)

    # when the drain runs
    routed = services.route_received_orders(actor=DRAIN, batch_size=2)

    # then it routed the oldest two and woke another drain for the rest
    assert routed == 2
    assert statuses(orders) == [S.ALLOCATED, S.ALLOCATED, S.RECEIVED]
    assert len(next_drain.published) == 1

    # and when that one runs, the last order is routed
    assert services.route_received_orders(actor=DRAIN, batch_size=2) == 1
    assert statuses(orders) == [S.ALLOCATED] * 3


# --- intake wakes the drain ------------------------------------------------------------


def test_an_order_placed_without_a_gateway_is_routed_by_the_drain(
    channel, sites, stock, tee, django_capture_on_commit_callbacks, monkeypatch
):
    # given stock, and the per-order task watched
    stock(sites["EWR"], tee, 5)
    per_order = FakeTask("orders.tasks.allocate_order")
    monkeypatch.setattr(tasks, "allocate_order", per_order)

    # when an order without a gateway is placed and committed (tasks run in-process)
    with django_capture_on_commit_callbacks(execute=True):
        order, created = services.place_order(channel=channel, data=order_data("WEB-1"), actor="channel: webstore")

    # then the woken drain routed it, and no per-order task was queued
    assert created
    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    assert order.events.filter(kind=OrderEvent.Kind.STATUS_CHANGED, actor_name=DRAIN).exists()
    assert per_order.published == []


def test_an_order_placed_with_a_gateway_gets_its_own_task_which_authorises_it_first(
    channel, sites, stock, tee, django_capture_on_commit_callbacks, next_drain
):
    # given stock
    stock(sites["EWR"], tee, 5)
    card = services.PaymentData(gateway="test_card", token="tok_approve")

    # when a card order is placed and committed (its task runs in-process)
    with django_capture_on_commit_callbacks(execute=True):
        order, _ = services.place_order(channel=channel, data=order_data("WEB-2", payment=card), actor=None)

    # then its own task authorised the payment and routed it; the drain was not woken
    order.refresh_from_db()
    assert order.status == S.ALLOCATED
    authorisation = PaymentTransaction.objects.get(order=order, kind=PaymentTransaction.Kind.AUTHORISE)
    assert authorisation.status == PaymentTransaction.Status.SUCCEEDED
    assert next_drain.published == []


@pytest.mark.usefixtures("redis_flags")
def test_a_burst_of_placements_wakes_one_drain_which_routes_them_all(
    channel, sites, stock, tee, django_capture_on_commit_callbacks, monkeypatch
):
    # given tasks published to a broker (not run in-process), wake-up flags in Redis, and the drains recorded
    stock(sites["EWR"], tee, 10)
    drain_task = tasks.route_received_orders
    routing, sending = FakeTask("route"), FakeTask("send")
    monkeypatch.setattr(tasks, "route_received_orders", routing)
    monkeypatch.setattr(notification_tasks, "send_due_messages", sending)

    # when three orders without a gateway are placed, each committed on its own
    placed = []
    for number in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            placed.append(services.place_order(channel=channel, data=order_data(f"WEB-{number}"), actor=None)[0])

    # then one routing task was published (and one sending task for the three confirmations)
    assert len(routing.published) == 1
    assert len(sending.published) == 1

    # when that task runs, it routes all three
    assert drain_task() == 3
    assert statuses(placed) == [S.ALLOCATED] * 3

    # and the next placement, after it started, wakes a new drain
    with django_capture_on_commit_callbacks(execute=True):
        services.place_order(channel=channel, data=order_data("WEB-LATE"), actor=None)
    assert len(routing.published) == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("redis_flags")
def test_placed_outside_a_transaction_an_order_wakes_both_drains_in_one_round_trip(
    channel, sites, stock, tee, monkeypatch, settings
):
    # given stock (received with no backorders to fill), tasks published to a broker, wake-up flags in Redis,
    # and each round trip to Redis recorded
    settings.INVENTORY_BACKORDER_FILL_TASK = ""
    stock(sites["EWR"], tee, 5)
    routing, sending = FakeTask("route"), FakeTask("send")
    monkeypatch.setattr(tasks, "route_received_orders", routing)
    monkeypatch.setattr(notification_tasks, "send_due_messages", sending)
    round_trips = []
    send = wakeups._send
    monkeypatch.setattr(wakeups, "_send", lambda wakes: round_trips.append({w[1] for w in wakes}) or send(wakes))

    # when a request places an order (no transaction around it: it commits at once, as the API's does)
    services.place_order(channel=channel, data=order_data("WEB-ALONE"), actor=None)

    # then its confirmation's sending and its routing were woken together, each drain published once
    assert round_trips == [{"orders:route", "notifications:send"}]
    assert (len(routing.published), len(sending.published)) == (1, 1)
