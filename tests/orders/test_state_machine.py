"""Every legal and every illegal move of the order state machine."""

import itertools

import pytest

from orders.exceptions import InvalidTransition
from orders.models import OrderEvent, OrderStatus
from tests.factories import OrderFactory, UserFactory

S = OrderStatus

# The lifecycle as the product defines it, written out independently of
# ORDER_TRANSITIONS so that a change to the table has to agree with it.
PRE_SHIPMENT = [S.RECEIVED, S.ALLOCATED, S.BACKORDERED]
EXPECTED_LEGAL = {
    (S.RECEIVED, S.ALLOCATED),
    (S.RECEIVED, S.BACKORDERED),
    (S.ALLOCATED, S.BACKORDERED),  # a stock correction can take an allocation back
    (S.BACKORDERED, S.ALLOCATED),
    (S.ALLOCATED, S.PARTIALLY_SHIPPED),
    (S.ALLOCATED, S.SHIPPED),
    (S.BACKORDERED, S.PARTIALLY_SHIPPED),  # ship what is in stock, the rest waits
    (S.PARTIALLY_SHIPPED, S.SHIPPED),
    (S.SHIPPED, S.DELIVERED),
    *((status, S.ON_HOLD) for status in PRE_SHIPMENT),
    *((S.ON_HOLD, status) for status in PRE_SHIPMENT),
    *((status, S.CANCELLED) for status in [*PRE_SHIPMENT, S.ON_HOLD]),
}
ALL_PAIRS = list(itertools.product(S.values, S.values))


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), sorted(EXPECTED_LEGAL))
def test_legal_transition_moves_the_order_and_writes_who_did_it(current, target):
    # given an order in `current`
    order = OrderFactory(status=current)
    operator = UserFactory(username="alex")
    events_before = order.events.count()

    # when it moves to `target`
    event = order.transition_to(target, actor=operator)

    # then the status is stored and the timeline says who moved it, from where to where
    order.refresh_from_db()
    assert order.status == target
    assert order.events.count() == events_before + 1
    assert event.kind == OrderEvent.Kind.STATUS_CHANGED
    assert event.actor == operator
    assert event.actor_name == "alex"
    assert event.data["from"] == current
    assert event.data["to"] == target


@pytest.mark.django_db
@pytest.mark.parametrize(("current", "target"), [pair for pair in ALL_PAIRS if pair not in EXPECTED_LEGAL])
def test_illegal_transition_is_refused_and_changes_nothing(current, target):
    order = OrderFactory(status=current)
    events_before = order.events.count()

    with pytest.raises(InvalidTransition) as refusal:
        order.transition_to(target, actor="system: test")

    message = str(refusal.value)
    assert S(current).label.lower() in message
    assert S(target).label.lower() in message
    order.refresh_from_db()
    assert order.status == current
    assert order.events.count() == events_before


@pytest.mark.django_db
def test_hold_remembers_where_the_order_was_and_release_forgets_it():
    order = OrderFactory(status=S.BACKORDERED)

    order.transition_to(S.ON_HOLD, actor="system: test")
    order.refresh_from_db()
    assert order.held_from_status == S.BACKORDERED

    order.transition_to(S.BACKORDERED, actor="system: test")
    order.refresh_from_db()
    assert order.held_from_status == ""


@pytest.mark.django_db
def test_refusal_lists_what_the_order_can_do_instead():
    order = OrderFactory(status=S.SHIPPED)

    with pytest.raises(InvalidTransition) as refusal:
        order.transition_to(S.CANCELLED, actor=None)

    assert "it can go to: delivered" in str(refusal.value)
