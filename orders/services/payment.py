"""The order's side of its payment: what the workflow does with payments' answers.

Payments (``orders.payments.services``) talks to the gateway and answers;
the order workflow decides here:

- before routing, an order is credit-checked and its payment authorised
  (``prepare_order``): a decline, a gateway that failed every try, an
  unknown gateway or a credit rule puts it on hold (ops are alerted); a
  gateway that was unavailable is asked again later, through the order's
  routing; an authorisation that came back after the order was cancelled
  is released;
- a capture, void or refund that did not go through (``follow_up``) is made
  again later with its key or, declined or failed on every try, goes to ops.

No gateway is called inside these services' transactions: each decision is
its own short transaction that locks the order and re-reads it first.
"""

from __future__ import annotations

from django.db import transaction

from .. import events
from ..models import Order, OrderEvent, OrderStatus
from ..payments import alerts, credit
from ..payments import services as payments
from ..payments.exceptions import PaymentError
from ..payments.models import PaymentTransaction
from ..payments.services import Outcome, PaymentResult
from . import business
from ._common import enqueue, hold, lock_order

SYSTEM = payments.SYSTEM
T = PaymentTransaction
# The tasks that ask a gateway again (by name: the tasks import these services).
RETRY_PAYMENT_TASK = "orders.payments.tasks.retry_payment"
RETRY_AUTHORISATION_TASK = "orders.payments.tasks.retry_authorisation"


# --- before routing ------------------------------------------------------------------
def ready_to_route(order_ids: list[int], *, authorise: bool, actor=SYSTEM) -> list[int]:
    """Of these received orders, those that may be routed now; each is credit-checked (and authorised) first.

    For routing in batches: the routing task takes the other waiting orders
    along with its own, and the sweep takes those whose task was lost. With
    ``authorise=False`` orders with a gateway are left to their own task (no
    gateway call in someone else's batch). With no active credit rule, an
    order without a gateway needs nothing, and costs nothing here.
    """
    if not order_ids:
        return []
    has_rules = credit.active_rules().exists()
    gateway_of = dict(Order.objects.filter(pk__in=order_ids).values_list("pk", "payment_gateway"))
    ready = []
    for order_id in order_ids:
        if order_id not in gateway_of:
            continue
        gateway = gateway_of[order_id]
        needs_nothing = not gateway and not has_rules
        may_prepare = authorise or not gateway
        if needs_nothing or (may_prepare and prepare_order(order_id=order_id, actor=actor)):
            ready.append(order_id)
    return ready


def prepare_order(*, order_id: int, actor=SYSTEM) -> bool:
    """Authorise (with a gateway) and credit-check a received order; True when it may be routed now.

    Credit control runs on every order, gateway or not; an order with no
    gateway has no authorisation, and (to keep its timeline and its cost as
    they were) reads only the rules when none is active and records a credit
    check only when a rule fires. A declined authorisation or a credit rule
    that fires puts the order on hold naming the decline or the rule (ops
    are alerted). Releasing it runs this again: a declined payment is tried
    again with a new key, rules already reviewed are not. A gateway timeout
    is retried later with the same key; after ``PAYMENTS_MAX_ATTEMPTS`` tries
    the order is held. Cancelling a held order voids its authorisation.
    """
    gateway = Order.objects.filter(pk=order_id).values_list("payment_gateway", flat=True).first()
    if gateway is None:
        return True  # no such order: routing says so
    rules = None
    if not gateway:
        rules = list(credit.active_rules())
        if not rules:
            return True  # no gateway and no credit rule: nothing to do
    elif not _authorised(order_id, actor=actor):
        return False
    return _credit_check(order_id, rules=rules, actor=actor)


def _authorised(order_id: int, *, actor) -> bool:
    """Authorise the order's payment and act on the answer; True once it is (or the order stopped waiting)."""
    try:
        result = payments.authorise(order_id=order_id, actor=actor)
    except PaymentError as refusal:  # an unknown gateway: nothing was asked
        _hold_waiting(order_id, reason=events.payment_refused_reason(refusal), actor=actor)
        return False
    if result is None:
        return True  # no longer received (held, cancelled, routed): routing decides
    if result.outcome == Outcome.SUCCEEDED:
        return _release_if_cancelled(order_id, actor=actor)
    if result.outcome == Outcome.RETRY:
        enqueue(RETRY_AUTHORISATION_TASK, order_id, countdown=result.retry_in)
    elif result.outcome in (Outcome.DECLINED, Outcome.GAVE_UP):
        reason = events.payment_hold_reason(result.transaction)
        _hold_waiting(order_id, reason=reason, actor=actor, answered=result.transaction)
    return False  # in flight: the process making the call acts on its answer


def _hold_waiting(order_id: int, *, reason: str, actor, answered: PaymentTransaction | None = None) -> None:
    """Hold an order still waiting to be routed, for its payment; one moved meanwhile is left as it is.

    ``answered``: the authorisation whose answer holds it; a later one (the
    order released and tried again meanwhile) answers for the order instead.
    """
    with transaction.atomic(durable=True):
        order = lock_order(order_id)
        if order.status != OrderStatus.RECEIVED:
            return
        if answered is not None and T.objects.filter(order=order, kind=T.Kind.AUTHORISE, pk__gt=answered.pk).exists():
            return
        hold(order, reason=reason, actor=actor, cause="payment")


def _release_if_cancelled(order_id: int, *, actor) -> bool:
    """After a successful authorisation: an order cancelled during the call gets its authorisation voided."""
    with transaction.atomic(durable=True):
        order = lock_order(order_id)
        if order.status != OrderStatus.CANCELLED:
            return True
        void = open_void(order, actor=actor, reason=events.AUTHORISED_AFTER_CANCEL)
    make_call(void, actor=actor)
    return False


def _credit_check(order_id: int, *, rules, actor) -> bool:
    """Run the credit rules on a received order once; a rule that fires holds it for review."""
    with transaction.atomic(durable=True):
        order = lock_order(order_id)
        if order.status != OrderStatus.RECEIVED:
            return True
        if order.events.filter(kind=OrderEvent.Kind.CREDIT_CHECK).exists():
            return True  # checked before: held, reviewed and released by ops
        order = Order.objects.select_related("customer__business_profile", "shipping_address", "billing_address").get(
            pk=order.pk
        )
        # the rules, then a business customer's own credit limit (same hold type: credit rule)
        fired = credit.evaluate(order, rules=rules) + business.credit_limit_fired(order)
        if not fired:
            if order.payment_gateway:  # without one: no entry, evaluated again if routed again while received
                events.credit_check_passed(order, actor=actor)
            return True
        events.credit_check_failed(order, fired=fired, actor=actor)
        hold(order, reason=events.credit_hold_reason(fired), actor=actor, cause="credit_check")
        return False


# --- captures and voids, opened with the shipment or the cancellation -------------------
def open_capture(order: Order, shipment, *, actor) -> PaymentTransaction | None:
    """Open the capture of a shipment's share as it ships (the caller holds the order's lock); made after commit.

    A capture that cannot even be tried is on the timeline and goes to ops;
    the shipment ships regardless.
    """
    try:
        return payments.open_capture(order=order, shipment=shipment, actor=actor)
    except PaymentError as refusal:  # an unknown gateway, a reused key
        events.capture_not_attempted(order, refusal=refusal, actor=actor)
        alerts.payment_problem(
            order=order,
            problem=f"Capture for shipment {shipment.number} not attempted",
            detail=str(refusal),
            occurrence=f"capture:{shipment.number}",
        )
        return None


def open_void(order: Order, *, actor, reason: str) -> PaymentTransaction | None:
    """Open the release of a cancelled order's authorisation (the caller holds the order's lock); made after commit."""
    try:
        return payments.open_void(order=order, actor=actor, reason=reason)
    except PaymentError as refusal:
        alerts.payment_problem(
            order=order, problem="Void not attempted", detail=str(refusal), occurrence=f"void:{order.pk}"
        )
        return None


def make_call(txn: PaymentTransaction | None, *, actor) -> PaymentResult | None:
    """Make an opened call, after its transaction committed, and follow its answer up."""
    if txn is None:
        return None
    result = payments.make_call(transaction_id=txn.pk, actor=actor)
    follow_up(result)
    hold_for_increase(result, actor=actor)
    return result


# --- after an answer ---------------------------------------------------------------------
def follow_up(result: PaymentResult | None) -> None:
    """A capture, void or refund that did not go through: ask again later with its key, or tell ops.

    A gateway that was unavailable is asked again after its backoff; a
    decline, or a failure on every try, is ops' (the ``payment_problem``
    alert). Successes and calls in flight need nothing.
    """
    if result is None:
        return
    txn = result.transaction
    if result.outcome == Outcome.RETRY:
        enqueue(RETRY_PAYMENT_TASK, txn.pk, countdown=result.retry_in)
    elif result.outcome in (Outcome.DECLINED, Outcome.GAVE_UP):
        outcome = "declined" if result.outcome == Outcome.DECLINED else f"failed {txn.attempts} times"
        with transaction.atomic():
            alerts.payment_problem(
                order=txn.order,
                problem=f"{txn.get_kind_display()} of {txn.amount:,.2f} {txn.currency} {outcome}",
                detail=f"{txn.error}. Gateway: {txn.gateway}; idempotency key {txn.idempotency_key}.",
                occurrence=f"txn:{txn.pk}:{txn.status}",
            )


# Orders a declined increase holds: not yet shipping (a partly shipped order cannot be held; ops get the alert).
HOLDABLE_FOR_INCREASE = (OrderStatus.RECEIVED, OrderStatus.ALLOCATED, OrderStatus.BACKORDERED)


def hold_for_increase(result: PaymentResult | None, *, actor) -> None:
    """An increase of the authorisation (items added) declined, or failed every try: the order is held for its
    payment, naming the gateway's answer; ops release it once the customer pays the difference another way."""
    if result is None or result.transaction.kind != T.Kind.INCREMENT:
        return
    if result.outcome not in (Outcome.DECLINED, Outcome.GAVE_UP):
        return
    txn = result.transaction
    with transaction.atomic(durable=True):
        order = lock_order(txn.order_id)
        if order.status not in HOLDABLE_FOR_INCREASE:
            return
        answer = f"declined by {txn.gateway}: {txn.error}" if result.outcome == Outcome.DECLINED else txn.error
        reason = f"Payment: the further {txn.amount:,.2f} {txn.currency} for the order's new total was {answer}"
        hold(order, reason=reason, actor=actor, cause="payment")


def retry_payment(*, transaction_id: int, actor=SYSTEM) -> PaymentResult | None:
    """Make a failed (or lost) capture, void or refund again with its key, and follow the answer up."""
    result = payments.retry_payment(transaction_id=transaction_id, actor=actor)
    if result is not None and result.transaction.kind != T.Kind.AUTHORISE:
        follow_up(result)
        hold_for_increase(result, actor=actor)
    return result


def capture_again(*, transaction_id: int, actor, reason: str = "") -> PaymentTransaction:
    """Capture again what a declined capture left (``payments.capture_again``), and follow the answer up."""
    txn = payments.capture_again(transaction_id=transaction_id, actor=actor, reason=reason)
    follow_up(PaymentResult.of(txn))
    return txn
