"""Every payment write: authorise, capture per shipment, void, refund, capture again, mark paid.

Payments answers; the order workflow decides. A function that talks to a
gateway returns a ``PaymentResult``: succeeded (authorised, captured,
voided, refunded), declined with the gateway's reason, unavailable (ask
again in ``retry_in`` seconds, or given up after ``PAYMENTS_MAX_ATTEMPTS``
tries), or in flight (another process is making that very call). A call
that cannot be made at all (an unknown gateway, a key reused for another
call, a refund above what was captured) raises a ``PaymentError``. Holding
the order, routing it, asking again later and alerting ops are the order
workflow's (``orders.services.payment``), which this module never imports.

No gateway is called while the order's row is locked. A call is opened
(the order locked, its ``PaymentTransaction`` row written ``pending`` under
its idempotency key, committed), made with no lock held, then recorded (the
order locked again and the row re-read: an answer already recorded
stands). The key goes to the gateway with the call, so a call made again,
after a timeout or a crash between the call and its record, gets the first
call's answer: nothing is charged twice. A call still pending after
``CALL_LOST_AFTER`` was lost with its process and is made again. Each recorded
answer is an entry on the order's timeline (``orders.events``) and, for
money that moved, a journal entry.

The workflow opens a shipment's capture and a cancelled order's void in its
own transaction (``open_capture``, ``open_void``: the row saying money is
to move commits with the shipment or the cancellation) and makes the call
after commit (``make_call``). Orders with no ``payment_gateway`` make no
gateway call.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from .. import events
from ..models import Order, OrderLine, OrderStatus
from . import accounting
from .amounts import ZERO, CaptureSplit, cents, split_capture
from .exceptions import IdempotencyConflict, PaymentError, RefundRefused, UnknownGateway
from .gateways import GatewayResult, GatewayUnavailable, get_gateway
from .models import PaymentTransaction

SYSTEM = "system: payments"
T = PaymentTransaction
# A call pending this long after it started was lost with its process (gateway calls time out well before):
# it is made again, with its key.
CALL_LOST_AFTER = dt.timedelta(minutes=5)


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"  # authorised, captured, voided or refunded
    DECLINED = "declined"  # the gateway said no: final for this key (the reason is its words)
    RETRY = "retry"  # the gateway was unavailable: ask again, with the same key, in ``retry_in`` seconds
    GAVE_UP = "gave_up"  # the gateway was unavailable on every try
    IN_FLIGHT = "in_flight"  # another process is making this call now


@dataclass(frozen=True)
class PaymentResult:
    """Payments' answer about one gateway call, for the order workflow to act on."""

    outcome: Outcome
    transaction: PaymentTransaction
    retry_in: int | None = None

    @property
    def reason(self) -> str:
        """The gateway's words for a decline or a failure ("" after a success)."""
        return self.transaction.error

    @classmethod
    def of(cls, txn: PaymentTransaction) -> PaymentResult:
        """The answer a transaction row gives as it stands."""
        if txn.status == T.Status.SUCCEEDED:
            return cls(Outcome.SUCCEEDED, txn)
        if txn.status == T.Status.DECLINED:
            return cls(Outcome.DECLINED, txn)
        if txn.status == T.Status.PENDING:
            return cls(Outcome.IN_FLIGHT, txn)
        if txn.attempts < settings.PAYMENTS_MAX_ATTEMPTS:
            return cls(Outcome.RETRY, txn, retry_in=backoff(txn.attempts))
        return cls(Outcome.GAVE_UP, txn)


def _lock_order(order_id: int) -> Order:
    """Lock the order's row as the order workflow does (FOR NO KEY UPDATE): the order is always locked first."""
    return Order.objects.select_for_update(no_key=True).get(pk=order_id)


# --- reads ---------------------------------------------------------------------
def _sum(order: Order, kind: str, statuses) -> Decimal:
    total = T.objects.filter(order=order, kind=kind, status__in=statuses).aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def captured_amount(order: Order) -> Decimal:
    return _sum(order, T.Kind.CAPTURE, [T.Status.SUCCEEDED])


def refunded_amount(order: Order) -> Decimal:
    """Refunds done, plus those in flight (a timed-out refund may have gone through)."""
    return _sum(order, T.Kind.REFUND, [T.Status.SUCCEEDED, T.Status.PENDING, T.Status.ERROR])


# Refunds opened because the order's total went down (items cancelled, the order edited); a return's
# refund is not one: the goods came back, the order's total stays.
ADJUSTMENT_SOURCES = ("items cancelled", "order edited")


def adjustment_refunded_amount(order: Order) -> Decimal:
    """What was refunded (or is being refunded) because the order's total went down: edits and items cancelled.

    The order's captures must come to its total plus this, so that money given
    back by an edit is taken again when a later edit raises the total.
    """
    total = T.objects.filter(
        order=order,
        kind=T.Kind.REFUND,
        source__in=ADJUSTMENT_SOURCES,
        status__in=[T.Status.SUCCEEDED, T.Status.PENDING, T.Status.ERROR],
    ).aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def refundable_amount(order: Order) -> Decimal:
    """What can still be refunded: captured minus refunded (refunds in flight count as refunded)."""
    return max(captured_amount(order) - refunded_amount(order), ZERO)


def authorisation(order: Order) -> PaymentTransaction | None:
    return T.objects.filter(order=order, kind=T.Kind.AUTHORISE, status=T.Status.SUCCEEDED).order_by("-pk").first()


def awaiting_authorisation(orders: list[Order]) -> set[int]:
    """Ids of received orders with a gateway whose payment is not authorised yet (they must not be routed)."""
    candidates = {order.pk for order in orders if order.payment_gateway and order.status == OrderStatus.RECEIVED}
    if not candidates:
        return set()
    done = T.objects.filter(order_id__in=candidates, kind=T.Kind.AUTHORISE, status=T.Status.SUCCEEDED)
    return candidates - set(done.values_list("order_id", flat=True))


def backoff(attempts: int) -> int:
    """Seconds to wait before asking a gateway again after ``attempts`` failed tries."""
    return settings.PAYMENTS_RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)


def authorisations_to_wait_for(order_ids: list[int]) -> set[int]:
    """Of these orders, those whose authorisation is in flight, or failed less than its backoff ago."""
    now = timezone.now()
    calls = T.objects.filter(
        order_id__in=order_ids, kind=T.Kind.AUTHORISE, status__in=[T.Status.ERROR, T.Status.PENDING]
    )
    return {
        order_id
        for order_id, status, attempts, updated_at in calls.values_list("order_id", "status", "attempts", "updated_at")
        if (status == T.Status.PENDING and updated_at > now - CALL_LOST_AFTER)
        or (status == T.Status.ERROR and updated_at + dt.timedelta(seconds=backoff(attempts)) > now)
    }


def payments_to_retry() -> list[int]:
    """Captures, voids and refunds to make again: in error with tries to spare, or pending past ``CALL_LOST_AFTER``."""
    stale = timezone.now() - CALL_LOST_AFTER
    return list(
        T.objects.filter(
            Q(status=T.Status.ERROR, attempts__lt=settings.PAYMENTS_MAX_ATTEMPTS)
            | Q(status=T.Status.PENDING, updated_at__lt=stale)
        )
        .filter(~Q(kind=T.Kind.AUTHORISE))
        .values_list("pk", flat=True)[:500]
    )


def orders_to_authorise() -> list[int]:
    """Received orders with a gateway and no authorisation yet (their routing task was lost)."""
    authorised = T.objects.filter(kind=T.Kind.AUTHORISE, status=T.Status.SUCCEEDED).values("order_id")
    return list(
        Order.objects.filter(status=OrderStatus.RECEIVED)
        .exclude(payment_gateway="")
        .exclude(pk__in=authorised)
        .order_by("placed_at", "pk")
        .values_list("pk", flat=True)[:500]
    )


# --- one gateway call: opened, made with no lock held, recorded ------------------------
def _actor_fields(actor) -> dict:
    user = actor if getattr(actor, "is_authenticated", False) else None
    name = user.get_username() if user else (actor if isinstance(actor, str) and actor else "system")
    return {"actor": user, "actor_name": name}


def _open(
    *,
    order: Order,
    kind: str,
    amount: Decimal,
    key: str,
    actor,
    shipment=None,
    source: str = "",
    reason: str = "",
    breakdown: dict | None = None,
) -> PaymentTransaction:
    """The row of one gateway call, written pending (the caller holds the order's lock); a key used before, its row.

    Raises UnknownGateway before anything is written, and IdempotencyConflict
    for a key already used for another call.
    """
    get_gateway(order.payment_gateway)
    txn = T.objects.filter(idempotency_key=key).first()
    if txn is not None:
        if txn.order_id != order.pk or txn.kind != kind or txn.amount != amount:
            raise IdempotencyConflict(
                f"Idempotency key {key!r} was already used for {txn} on order {txn.order_id}; use a new key."
            )
        return txn
    return T.objects.create(
        order=order,
        shipment=shipment,
        kind=kind,
        gateway=order.payment_gateway,
        amount=amount,
        currency=order.currency,
        idempotency_key=key,
        source=source,
        reason=reason,
        breakdown=breakdown or {},
        **_actor_fields(actor),
    )


@dataclass(frozen=True)
class _Call:
    """What one try of a gateway call needs, read under the order's lock before the call."""

    transaction_id: int
    attempt: int
    reference: str  # the payment's reference at the gateway (captures, voids, refunds)
    token: str  # the customer's payment method (authorisations)
    description: str


def _claim(order: Order, txn: PaymentTransaction) -> _Call | None:
    """Take a try of the call (the caller holds the order's lock); None when it is answered or in flight elsewhere."""
    if txn.status in (T.Status.SUCCEEDED, T.Status.DECLINED):
        return None
    if txn.status == T.Status.PENDING and txn.attempts and txn.updated_at > timezone.now() - CALL_LOST_AFTER:
        return None
    reference = ""
    if txn.kind != T.Kind.AUTHORISE:
        auth = authorisation(order)
        reference = auth.gateway_reference if auth else txn.gateway_reference
    txn.attempts += 1
    txn.status = T.Status.PENDING
    txn.save(update_fields=["attempts", "status", "updated_at"])
    return _Call(txn.pk, txn.attempts, reference, order.payment_token, order.number)


def _ask(txn: PaymentTransaction, call: _Call) -> tuple[GatewayResult | None, str, bool]:
    """Call the gateway (no lock held): its answer, or None and why it could not answer; and whether it settles."""
    try:
        gateway = get_gateway(txn.gateway)
    except UnknownGateway as refusal:  # the gateway left the settings after the call was opened
        return None, str(refusal), False
    key = txn.idempotency_key
    try:
        if txn.kind == T.Kind.AUTHORISE:
            answer = gateway.authorise(
                amount=txn.amount,
                currency=txn.currency,
                token=call.token,
                idempotency_key=key,
                description=call.description,
            )
        elif txn.kind == T.Kind.CAPTURE:
            answer = gateway.capture(
                reference=call.reference, amount=txn.amount, currency=txn.currency, idempotency_key=key
            )
        elif txn.kind == T.Kind.VOID:
            answer = gateway.void(reference=call.reference, idempotency_key=key)
        elif txn.kind == T.Kind.REDUCE:
            answer = gateway.reduce(
                reference=call.reference, amount=txn.amount, currency=txn.currency, idempotency_key=key
            )
        elif txn.kind == T.Kind.INCREMENT:
            answer = gateway.increment(
                reference=call.reference, amount=txn.amount, currency=txn.currency, idempotency_key=key
            )
        else:
            answer = gateway.refund(
                reference=call.reference, amount=txn.amount, currency=txn.currency, idempotency_key=key
            )
    except GatewayUnavailable as failure:
        return None, str(failure), gateway.settles_at_capture
    return answer, "", gateway.settles_at_capture


@transaction.atomic(durable=True)
def _record(call: _Call, answer: GatewayResult | None, failure: str, *, settles: bool, actor) -> PaymentTransaction:
    """Record a try's answer (the order locked again); an answer already recorded for the key stands."""
    order_id = T.objects.filter(pk=call.transaction_id).values_list("order_id", flat=True).get()
    order = _lock_order(order_id)
    txn = T.objects.select_for_update(of=("self",)).select_related("shipment").get(pk=call.transaction_id)
    txn.order = order
    if txn.status in (T.Status.SUCCEEDED, T.Status.DECLINED):
        return txn  # another try with this key was answered first: the gateway gave it the same answer
    if answer is None and (txn.status != T.Status.PENDING or txn.attempts != call.attempt):
        return txn  # a later try owns the row; this one's failure tells nothing new
    if answer is None:
        txn.status, txn.error = T.Status.ERROR, failure
    else:
        txn.status = T.Status.SUCCEEDED if answer.succeeded else T.Status.DECLINED
        txn.gateway_reference = answer.reference or call.reference
        txn.error = "" if answer.succeeded else (answer.error or "declined")
    txn.save()
    if txn.status == T.Status.SUCCEEDED:
        events.payment_succeeded(txn, actor=actor, note=answer.note)
        accounting.journal_transaction(txn, settles=settles)
    elif txn.status == T.Status.DECLINED:
        events.payment_declined(txn, actor=actor)
    else:
        events.payment_failed(txn, actor=actor)
    return txn


def _make(txn: PaymentTransaction, call: _Call, *, actor) -> PaymentResult:
    answer, failure, settles = _ask(txn, call)
    return PaymentResult.of(_record(call, answer, failure, settles=settles, actor=actor))


def make_call(*, transaction_id: int, actor=SYSTEM) -> PaymentResult | None:
    """Make an opened call, or one that failed, with its key; None when there is no such transaction.

    The order is locked only to claim the try and to record its answer,
    never during the call. A call answered already, or in flight in another
    process, is not made (its answer as it stands).
    """
    with transaction.atomic(durable=True):
        order_id = T.objects.filter(pk=transaction_id).values_list("order_id", flat=True).first()
        if order_id is None:
            return None
        order = _lock_order(order_id)
        txn = T.objects.select_for_update().get(pk=transaction_id)
        call = _claim(order, txn)
        if call is None:
            return PaymentResult.of(txn)
    return _make(txn, call, actor=actor)


# --- authorisation, before routing --------------------------------------------------
def authorise(*, order_id: int, actor=SYSTEM) -> PaymentResult | None:
    """Authorise a received order's payment for its total; None when it has no gateway or is not received.

    An order authorised already answers with that authorisation. After a
    decline the next call (the order released by ops) tries a new key; after
    a failure, the same key. Raises UnknownGateway (a PaymentError) for a
    gateway this installation does not have.
    """
    with transaction.atomic(durable=True):
        order = _lock_order(order_id)
        if order.status != OrderStatus.RECEIVED or not order.payment_gateway:
            return None
        auth = authorisation(order)
        if auth is not None:
            return PaymentResult.of(auth)
        declined = T.objects.filter(order=order, kind=T.Kind.AUTHORISE, status=T.Status.DECLINED).count()
        txn = _open(
            order=order,
            kind=T.Kind.AUTHORISE,
            amount=order.grand_total,
            key=f"{order.number}:authorise:{declined + 1}",
            actor=actor,
            source="intake",
        )
        call = _claim(order, txn)
        if call is None:
            return PaymentResult.of(txn)
    return _make(txn, call, actor=actor)


# --- capture per shipment ---------------------------------------------------------
def _live_captures(order: Order):
    """Captures that took money or may have (succeeded, pending, in error); a declined one took nothing.

    What a declined capture left rolls into the order's later captures (the
    last takes the rest) or is captured again by ops (``capture_again``).
    """
    return T.objects.filter(order=order, kind=T.Kind.CAPTURE).exclude(status=T.Status.DECLINED)


def capture_split_for(order: Order, shipment) -> CaptureSplit:
    """This shipment's capture: its goods plus a share of shipping, tax and discount; the last takes the rest.

    The rest is the order's total plus what edits and cancellations refunded,
    less what was captured: captures less those refunds come to the total.
    """
    value = sum(
        (line.quantity * line.order_line.unit_price for line in shipment.lines.select_related("order_line")), ZERO
    )
    is_last = not OrderLine.objects.filter(order_id=order.pk, quantity_shipped__lt=F("quantity")).exists()
    previous = [CaptureSplit.from_dict(txn.breakdown) for txn in _live_captures(order).exclude(shipment_id=shipment.pk)]
    return split_capture(
        grand_total=order.grand_total + adjustment_refunded_amount(order),
        subtotal=order.subtotal,
        shipping_total=order.shipping_total,
        tax_total=order.tax_total,
        discount_total=order.discount_total,
        value=value,
        is_last=is_last,
        previous=previous,
    )


def open_capture(*, order: Order, shipment, actor) -> PaymentTransaction | None:
    """Open the capture of a shipment's share as it ships, and journal its shipping cost; the call comes after commit.

    The caller ships the shipment holding the order's lock. None when there
    is nothing to capture (no gateway, nothing left); raises PaymentError
    when it cannot be tried (an unknown gateway, a key reused).
    """
    if not order.payment_gateway:
        return None
    accounting.journal_shipping_cost(order=order, shipment=shipment)
    split = capture_split_for(order, shipment)
    if split.amount <= 0:
        return None
    return _open(
        order=order,
        kind=T.Kind.CAPTURE,
        amount=split.amount,
        key=f"{order.number}:capture:{shipment.number}",
        actor=actor,
        shipment=shipment,
        source="shipment",
        breakdown=split.as_dict(),
    )


def capture_again(*, transaction_id: int, actor, reason: str = "") -> PaymentTransaction:
    """Capture again, with a new idempotency key, what a declined capture left uncollected; returns its row.

    Takes the declined amount, less whatever later captures already took
    (the last shipment takes the rest of the order); refuses when nothing is
    left. Asking twice for the same declined capture returns the first try.
    """
    with transaction.atomic(durable=True):
        order_id = T.objects.filter(pk=transaction_id).values_list("order_id", flat=True).first()
        if order_id is None:
            raise PaymentError(f"No payment transaction {transaction_id}.")
        order = _lock_order(order_id)
        declined = T.objects.select_related("shipment").get(pk=transaction_id)
        if declined.kind != T.Kind.CAPTURE or declined.status != T.Status.DECLINED:
            raise PaymentError(
                f"Order {order}: transaction {declined.pk} is a {declined.get_kind_display().lower()} "
                f"({declined.get_status_display().lower()}); only a declined capture can be captured again."
            )
        key = f"{order.number}:capture-again:{declined.pk}"
        txn = T.objects.filter(idempotency_key=key).first()
        if txn is None:
            txn = _open_capture_again(order, declined, key=key, actor=actor, reason=reason)
        call = _claim(order, txn)
        if call is None:
            return txn
    return _make(txn, call, actor=actor).transaction


def _open_capture_again(order: Order, declined: PaymentTransaction, *, key: str, actor, reason: str):
    live = [CaptureSplit.from_dict(txn.breakdown) for txn in _live_captures(order)]
    left = order.grand_total - sum((split.amount for split in live), ZERO)
    amount = min(declined.amount, left)
    if amount <= 0:
        raise PaymentError(
            f"Order {order}: nothing is left to capture for transaction {declined.pk}; "
            f"captures of {order.grand_total - left:,.2f} {order.currency} already cover the order."
        )
    was = CaptureSplit.from_dict(declined.breakdown) if declined.breakdown else CaptureSplit(amount, amount, ZERO, ZERO)
    shipping = max(min(was.shipping, order.shipping_total - sum((s.shipping for s in live), ZERO), amount), ZERO)
    tax = max(min(was.tax, order.tax_total - sum((s.tax for s in live), ZERO), amount - shipping), ZERO)
    split = CaptureSplit(amount=amount, goods=amount - shipping - tax, shipping=shipping, tax=tax)
    return _open(
        order=order,
        kind=T.Kind.CAPTURE,
        amount=amount,
        key=key,
        actor=actor,
        shipment=declined.shipment,
        source="ops",
        reason=(reason or "").strip() or f"capture again (transaction {declined.pk} was declined)",
        breakdown=split.as_dict(),
    )


# --- void on cancel -----------------------------------------------------------------
def open_void(*, order: Order, actor, reason: str = "") -> PaymentTransaction | None:
    """Open the release of an order's authorisation (the caller cancels it, holding its lock); the call comes after.

    None when there is nothing to release (no gateway, no authorisation, or
    money already captured); raises PaymentError when it cannot be tried.
    """
    if not order.payment_gateway:
        return None
    auth = authorisation(order)
    if auth is None or captured_amount(order) > 0:
        return None
    return _open(
        order=order,
        kind=T.Kind.VOID,
        amount=auth.amount,
        key=f"{order.number}:void:{auth.pk}",
        actor=actor,
        source="cancel",
        reason=reason,
    )


# --- items cancelled: the authorisation reduced, or the excess refunded ---------------------------
def authorisation_in_flight(order: Order) -> bool:
    """Whether the order's authorisation is being asked (pending, or failed and to be asked again)."""
    return T.objects.filter(order=order, kind=T.Kind.AUTHORISE, status__in=[T.Status.PENDING, T.Status.ERROR]).exists()


def authorised_amount(order: Order) -> Decimal:
    """What the order's authorisation still holds: its amount plus the increases granted, less the reductions
    made or in flight (0: none). An increase counts once the gateway granted it."""
    auth = authorisation(order)
    if auth is None:
        return ZERO
    reduced = _sum(order, T.Kind.REDUCE, [T.Status.SUCCEEDED, T.Status.PENDING, T.Status.ERROR])
    return auth.amount + _sum(order, T.Kind.INCREMENT, [T.Status.SUCCEEDED]) - reduced


def increment_in_flight(order: Order) -> bool:
    """Whether an increase of the order's authorisation is being asked (pending, or failed and to be asked again)."""
    return T.objects.filter(order=order, kind=T.Kind.INCREMENT, status__in=[T.Status.PENDING, T.Status.ERROR]).exists()


@dataclass(frozen=True)
class Adjustment:
    """What a new order total does to its payment: release ``reduce`` of the authorisation, refund ``refund``,
    or authorise ``increase`` more (a higher total)."""

    reduce: Decimal = ZERO
    refund: Decimal = ZERO
    increase: Decimal = ZERO

    @property
    def moves(self) -> bool:
        return bool(self.reduce or self.refund or self.increase)


def adjustment_for(order: Order, *, new_total: Decimal) -> Adjustment:
    """The payment moves that bring an order's payment down to ``new_total`` (nothing written).

    The order owes its new total plus what edits and cancellations refunded
    already (returns aside: their goods came back): captures less those refunds
    come to the total. Money captured beyond what is owed is refunded; what is
    authorised beyond the larger of what is owed and what is captured is
    released. A total the authorisation cannot cover asks the gateway for the
    difference (``increase``). An order not yet authorised needs nothing: it is
    authorised for its total as it then stands.
    """
    if not order.payment_gateway:
        return Adjustment()
    captured, refunded = captured_amount(order), adjustment_refunded_amount(order)
    owed = new_total + refunded
    refund = min(max(captured - owed, ZERO), refundable_amount(order))
    held = authorised_amount(order)
    if held <= 0:
        return Adjustment(refund=cents(refund))
    reduce = max(held - max(owed, captured), ZERO)
    increase = max(owed - held, ZERO) if refund == 0 else ZERO
    return Adjustment(reduce=cents(reduce), refund=cents(refund), increase=cents(increase))


def open_adjustment(
    *, order: Order, adjustment: Adjustment, key: str, actor, reason: str, source: str = "items cancelled"
) -> list[PaymentTransaction]:
    """Open the calls of an ``Adjustment`` (the caller holds the order's lock); they are made after commit.

    ``key`` names the change (the same key opens the same calls); ``source`` says what asked (shown in the
    journal and the payment's page). Raises PaymentError when a call cannot be tried (an unknown gateway).
    """
    opened = []
    if adjustment.increase > 0:
        opened.append(
            _open(
                order=order,
                kind=T.Kind.INCREMENT,
                amount=adjustment.increase,
                key=f"{order.number}:increment:{key}",
                actor=actor,
                source=source,
                reason=reason,
            )
        )
    if adjustment.reduce > 0:
        opened.append(
            _open(
                order=order,
                kind=T.Kind.REDUCE,
                amount=adjustment.reduce,
                key=f"{order.number}:reduce:{key}",
                actor=actor,
                source=source,
                reason=reason,
            )
        )
    if adjustment.refund > 0:
        _check_refund(order, adjustment.refund)
        opened.append(
            _open(
                order=order,
                kind=T.Kind.REFUND,
                amount=adjustment.refund,
                key=f"{order.number}:refund:{key}",
                actor=actor,
                source=source,
                reason=reason,
            )
        )
    return opened


# --- refunds --------------------------------------------------------------------------
def refund_payment(
    *, order: Order, amount: Decimal, idempotency_key: str, reason: str, actor, source: str = "return"
) -> PaymentResult:
    """Refund ``amount`` of what was captured; journals the refund. Safe to repeat with the same key.

    Raises RefundRefused (an OrderError) for an amount of zero or less, or
    more than ``refundable_amount``, before anything is written. A refund in
    error is tried again (same key); one in flight elsewhere is left to it.
    """
    with transaction.atomic(durable=True):
        order = _lock_order(order.pk)
        amount = cents(Decimal(amount))
        key = f"{order.number}:refund:{idempotency_key}"
        if not idempotency_key or len(key) > T._meta.get_field("idempotency_key").max_length:
            raise RefundRefused(
                f"Order {order}: an idempotency key of 1 to 90 characters is required (got {idempotency_key!r})."
            )
        txn = T.objects.filter(idempotency_key=key).first()
        if txn is None or txn.amount != amount or txn.kind != T.Kind.REFUND:
            _check_refund(order, amount)
            txn = _open(
                order=order,
                kind=T.Kind.REFUND,
                amount=amount,
                key=key,
                actor=actor,
                source=source,
                reason=(reason or "").strip(),
            )
        call = _claim(order, txn)
        if call is None:
            return PaymentResult.of(txn)
    return _make(txn, call, actor=actor)


def _check_refund(order: Order, amount: Decimal) -> None:
    if amount <= 0:
        raise RefundRefused(f"Order {order}: a refund must be more than 0.00 {order.currency} (got {amount}).")
    refundable = refundable_amount(order)
    if amount > refundable:
        raise RefundRefused(
            f"Order {order}: cannot refund {amount:,.2f} {order.currency}; only {refundable:,.2f} "
            f"{order.currency} is refundable (captured {captured_amount(order):,.2f}, "
            f"refunded {refunded_amount(order):,.2f})."
        )


# --- manual orders: marked paid by ops ---------------------------------------------------
@transaction.atomic(durable=True)
def mark_paid(*, order_id: int, actor, reference: str = "") -> PaymentTransaction:
    """Record that an invoiced (manual) order's amount due was received; journals it to cash.

    Due is what was invoiced (captured) less refunds made while it was
    unpaid, less what was received: the order's receivables balance.
    """
    order = _lock_order(order_id)
    if order.payment_gateway != "manual":
        raise PaymentError(f"Order {order} is not paid by invoice; only manual orders are marked paid.")
    settled = _sum(order, T.Kind.SETTLE, [T.Status.SUCCEEDED])
    due = accounting.receivable_balance(order)
    if due <= 0:
        raise PaymentError(
            f"Order {order}: nothing is due (invoiced {captured_amount(order):,.2f}, "
            f"refunded {refunded_amount(order):,.2f}, paid {settled:,.2f})."
        )
    count = T.objects.filter(order=order, kind=T.Kind.SETTLE).count()
    txn = T.objects.create(
        order=order,
        kind=T.Kind.SETTLE,
        gateway=order.payment_gateway,
        amount=due,
        currency=order.currency,
        status=T.Status.SUCCEEDED,
        idempotency_key=f"{order.number}:settle:{count + 1}",
        gateway_reference=(reference or "").strip(),
        source="ops",
        attempts=1,
        **_actor_fields(actor),
    )
    events.payment_succeeded(txn, actor=actor)
    accounting.journal_transaction(txn, settles=True)
    return txn


# --- retries ---------------------------------------------------------------------------
def retry_payment(*, transaction_id: int, actor=SYSTEM) -> PaymentResult | None:
    """Make a capture, void or refund that failed (or was lost in flight) again, with the same key.

    None for no such transaction; an authorisation answers as it stands (it
    is made again through the order's routing).
    """
    txn = T.objects.filter(pk=transaction_id).first()
    if txn is None:
        return None
    if txn.kind == T.Kind.AUTHORISE:
        return PaymentResult.of(txn)
    return make_call(transaction_id=transaction_id, actor=actor)
