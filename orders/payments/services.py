"""Every payment write: authorise (after the credit check), capture per shipment, void, refund, mark paid.

Each gateway call is a ``PaymentTransaction`` row keyed by its idempotency
key and an entry on the order's timeline. The caller holds the order's row
lock, so calls for one order never overlap; a call retried with the same key
(after a timeout) updates the same row and the gateway answers as it did the
first time, so nothing is charged twice. Orders with no ``payment_gateway``
make no gateway call; the credit rules still apply to them (``prepare_order``).

Called from the order workflow (function-local imports there, to keep the
import graph one-way): ``prepare_order`` before routing
(``orders.tasks.allocate_order``), ``capture_shipment`` when a shipment
ships, ``void_payment`` when an order is cancelled; ``refund_payment`` by
returns and order errors.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Sum

from ..models import Order, OrderEvent, OrderLine, OrderStatus
from ..services._common import lock_order
from . import accounting, alerts, credit
from .amounts import ZERO, CaptureSplit, cents, split_capture
from .exceptions import IdempotencyConflict, PaymentError, RefundRefused, UnknownGateway
from .gateways import GatewayUnavailable, get_gateway
from .models import PaymentTransaction

logger = logging.getLogger(__name__)
SYSTEM = "system: payments"
T = PaymentTransaction
VERBS = {
    T.Kind.AUTHORISE: "Authorised",
    T.Kind.CAPTURE: "Captured",
    T.Kind.VOID: "Voided the authorisation of",
    T.Kind.REFUND: "Refunded",
    T.Kind.SETTLE: "Payment received:",
}


# --- reads ---------------------------------------------------------------------
def _sum(order: Order, kind: str, statuses) -> Decimal:
    total = T.objects.filter(order=order, kind=kind, status__in=statuses).aggregate(total=Sum("amount"))["total"]
    return total or ZERO


def captured_amount(order: Order) -> Decimal:
    return _sum(order, T.Kind.CAPTURE, [T.Status.SUCCEEDED])


def refunded_amount(order: Order) -> Decimal:
    """Refunds done, plus those in flight (a timed-out refund may have gone through)."""
    return _sum(order, T.Kind.REFUND, [T.Status.SUCCEEDED, T.Status.PENDING, T.Status.ERROR])


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


# --- the one place a gateway is called -----------------------------------------
def _actor_fields(actor) -> dict:
    user = actor if getattr(actor, "is_authenticated", False) else None
    name = user.get_username() if user else (actor if isinstance(actor, str) and actor else "system")
    return {"actor": user, "actor_name": name}


def backoff(attempts: int) -> int:
    return settings.PAYMENTS_RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)


def _transact(
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
    """Make one gateway call at most once per idempotency key; the caller holds the order's lock."""
    txn = T.objects.filter(idempotency_key=key).first()
    if txn is not None:
        if txn.order_id != order.pk or txn.kind != kind or txn.amount != amount:
            raise IdempotencyConflict(
                f"Idempotency key {key!r} was already used for {txn} on order {txn.order_id}; use a new key."
            )
        if txn.status in (T.Status.SUCCEEDED, T.Status.DECLINED):
            return txn
    else:
        txn = T(
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
    return _attempt(order, txn, actor)


def _attempt(order: Order, txn: PaymentTransaction, actor) -> PaymentTransaction:
    gateway = get_gateway(txn.gateway)
    if txn.kind == T.Kind.AUTHORISE:
        reference = ""
    else:
        auth = authorisation(order)
        reference = auth.gateway_reference if auth else txn.gateway_reference
    calls = {
        T.Kind.AUTHORISE: lambda: gateway.authorise(
            amount=txn.amount,
            currency=txn.currency,
            token=order.payment_token,
            idempotency_key=txn.idempotency_key,
            description=order.number,
        ),
        T.Kind.CAPTURE: lambda: gateway.capture(
            reference=reference, amount=txn.amount, currency=txn.currency, idempotency_key=txn.idempotency_key
        ),
        T.Kind.VOID: lambda: gateway.void(reference=reference, idempotency_key=txn.idempotency_key),
        T.Kind.REFUND: lambda: gateway.refund(
            reference=reference, amount=txn.amount, currency=txn.currency, idempotency_key=txn.idempotency_key
        ),
    }
    txn.attempts += 1
    note = ""
    try:
        result = calls[txn.kind]()
    except GatewayUnavailable as failure:
        txn.status, txn.error = T.Status.ERROR, str(failure)
    else:
        txn.status = T.Status.SUCCEEDED if result.succeeded else T.Status.DECLINED
        txn.gateway_reference = result.reference or reference
        txn.error = "" if result.succeeded else (result.error or "declined")
        note = result.note if result.succeeded else ""
    txn.save()
    _record(order, txn, actor, note=note)
    if txn.status == T.Status.SUCCEEDED:
        accounting.journal_transaction(txn, settles=gateway.settles_at_capture)
    elif txn.kind != T.Kind.AUTHORISE:  # prepare_order decides what a failed authorisation means
        _follow_up(order, txn)
    return txn


def _record(order: Order, txn: PaymentTransaction, actor, note: str = "") -> OrderEvent:
    money = f"{txn.amount:,.2f} {txn.currency}"
    what = f" for shipment {txn.shipment.number}" if txn.shipment_id else ""
    label = txn.get_kind_display()
    if txn.status == T.Status.SUCCEEDED:
        message = f"{VERBS[txn.kind]} {money}{what} ({txn.gateway}, ref {txn.gateway_reference or '—'})"
        message += f": {txn.reason}" if txn.reason else ""
        message += f"; {note}" if note else ""
    elif txn.status == T.Status.DECLINED:
        message = f"{label} of {money}{what} declined by {txn.gateway}: {txn.error}"
    else:
        message = f"{label} of {money}{what} failed (attempt {txn.attempts}): {txn.error}"
    kind = OrderEvent.Kind.REFUND if txn.kind == T.Kind.REFUND else OrderEvent.Kind.PAYMENT
    data = {
        "transaction": txn.pk,
        "kind": txn.kind,
        "status": txn.status,
        "amount": txn.amount,
        "currency": txn.currency,
        "idempotency_key": txn.idempotency_key,
        "gateway_reference": txn.gateway_reference,
    }
    return OrderEvent.record(order=order, kind=kind, actor=actor, message=message, data=data)


def _follow_up(order: Order, txn: PaymentTransaction) -> None:
    """A capture, void or refund that failed: retry a timeout later with the same key, else tell ops."""
    if txn.status == T.Status.ERROR and txn.attempts < settings.PAYMENTS_MAX_ATTEMPTS:
        from . import tasks

        countdown = backoff(txn.attempts)
        transaction.on_commit(lambda: tasks.retry_payment.apply_async((txn.pk,), countdown=countdown))
        return
    outcome = "declined" if txn.status == T.Status.DECLINED else f"failed {txn.attempts} times"
    alerts.payment_problem(
        order=order,
        problem=f"{txn.get_kind_display()} of {txn.amount:,.2f} {txn.currency} {outcome}",
        detail=f"{txn.error}. Gateway: {txn.gateway}; idempotency key {txn.idempotency_key}.",
        occurrence=f"txn:{txn.pk}:{txn.status}",
    )


# --- authorisation and credit control, before routing ---------------------------
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


@transaction.atomic
def prepare_order(*, order_id: int, actor=SYSTEM) -> bool:
    """Authorise (with a gateway) and credit-check a received order; True when it may be routed now.

    Credit control runs on every order, gateway or not; an order with no
    gateway has no authorisation, and (to keep its timeline and its cost as
    they were) reads only the rules when none is active and records a credit
    check only when a rule fires. A declined authorisation or a credit rule
    that fires puts the order on hold naming the decline or the rule (ops
    are alerted). Releasing it runs this again: a declined payment is tried
    again with a new key, rules already reviewed are not. A gateway timeout is retried later with the
    same key; after ``PAYMENTS_MAX_ATTEMPTS`` tries the order is held.
    Cancelling a held order voids its authorisation (``void_payment``).
    """
    gateway = Order.objects.filter(pk=order_id).values_list("payment_gateway", flat=True).first()
    if gateway is None:
        return True  # no such order: routing says so
    rules = None
    if not gateway:
        rules = list(credit.active_rules())
        if not rules:
            return True  # no gateway and no credit rule: nothing to do
    order = lock_order(order_id)
    if order.status != OrderStatus.RECEIVED:
        return True
    from ..services.lifecycle import hold_order

    if order.payment_gateway and authorisation(order) is None:
        try:
            get_gateway(order.payment_gateway)
        except UnknownGateway as refusal:
            hold_order(order_id=order.pk, reason=f"Payment: {refusal}", actor=actor)
            return False
        declined = T.objects.filter(order=order, kind=T.Kind.AUTHORISE, status=T.Status.DECLINED).count()
        txn = _transact(
            order=order,
            kind=T.Kind.AUTHORISE,
            amount=order.grand_total,
            key=f"{order.number}:authorise:{declined + 1}",
            actor=actor,
            source="intake",
        )
        if txn.status == T.Status.DECLINED:
            hold_order(order_id=order.pk, reason=f"Payment declined by {txn.gateway}: {txn.error}", actor=actor)
            return False
        if txn.status != T.Status.SUCCEEDED:
            if txn.attempts >= settings.PAYMENTS_MAX_ATTEMPTS:
                hold_order(
                    order_id=order.pk,
                    reason=f"Payment gateway {txn.gateway} failed {txn.attempts} times: {txn.error}",
                    actor=actor,
                )
            else:
                from . import tasks

                countdown = backoff(txn.attempts)
                transaction.on_commit(lambda: tasks.retry_authorisation.apply_async((order.pk,), countdown=countdown))
            return False
    if order.events.filter(kind=OrderEvent.Kind.CREDIT_CHECK).exists():
        return True  # checked before: held, reviewed and released by ops
    order = Order.objects.select_related("customer", "shipping_address", "billing_address").get(pk=order.pk)
    fired = credit.evaluate(order, rules=rules)
    if not fired:
        if not order.payment_gateway:
            return True  # no timeline entry: evaluated again if it is routed again while received
        OrderEvent.record(
            order=order,
            kind=OrderEvent.Kind.CREDIT_CHECK,
            actor=actor,
            message="Credit check passed",
            data={"result": "passed"},
        )
        return True
    first = fired[0]
    reason = f"Credit check: rule {first.rule.name!r}: {first.detail}"
    OrderEvent.record(
        order=order,
        kind=OrderEvent.Kind.CREDIT_CHECK,
        actor=actor,
        message=reason + (f" (and {len(fired) - 1} more)" if len(fired) > 1 else ""),
        data={"result": "held", "rules": [f.as_data() for f in fired]},
    )
    hold_order(order_id=order.pk, reason=reason, actor=actor)
    return False


# --- capture per shipment ---------------------------------------------------------
def _live_captures(order: Order):
    """Captures that took money or may have (succeeded, pending, in error); a declined one took nothing.

    What a declined capture left rolls into the order's later captures (the
    last takes the rest) or is captured again by ops (``capture_again``).
    """
    return T.objects.filter(order=order, kind=T.Kind.CAPTURE).exclude(status=T.Status.DECLINED)


def capture_split_for(order: Order, shipment) -> CaptureSplit:
    """This shipment's capture: its goods plus a share of shipping, tax and discount; the last takes the rest."""
    value = sum(
        (line.quantity * line.order_line.unit_price for line in shipment.lines.select_related("order_line")), ZERO
    )
    is_last = not OrderLine.objects.filter(order_id=order.pk, quantity_shipped__lt=F("quantity")).exists()
    previous = [CaptureSplit.from_dict(txn.breakdown) for txn in _live_captures(order).exclude(shipment_id=shipment.pk)]
    return split_capture(
        grand_total=order.grand_total,
        subtotal=order.subtotal,
        shipping_total=order.shipping_total,
        tax_total=order.tax_total,
        discount_total=order.discount_total,
        value=value,
        is_last=is_last,
        previous=previous,
    )


def capture_shipment(*, order: Order, shipment, actor) -> PaymentTransaction | None:
    """Capture a shipment's share of the order as it ships; journal its shipping cost.

    Called inside ``ship_shipment`` (order locked). A failure never undoes
    the shipment: the failed transaction is recorded, a timeout is retried
    in the background with the same key, a decline alerts ops.
    """
    if not order.payment_gateway:
        return None
    accounting.journal_shipping_cost(order=order, shipment=shipment)
    split = capture_split_for(order, shipment)
    if split.amount <= 0:
        return None
    try:
        return _transact(
            order=order,
            kind=T.Kind.CAPTURE,
            amount=split.amount,
            key=f"{order.number}:capture:{shipment.number}",
            actor=actor,
            shipment=shipment,
            source="shipment",
            breakdown=split.as_dict(),
        )
    except PaymentError as refusal:  # an unknown gateway, a reused key: the shipment still ships
        OrderEvent.record(
            order=order, kind=OrderEvent.Kind.PAYMENT, actor=actor, message=f"Capture not attempted: {refusal}"
        )
        alerts.payment_problem(
            order=order,
            problem=f"Capture for shipment {shipment.number} not attempted",
            detail=str(refusal),
            occurrence=f"capture:{shipment.number}",
        )
        return None


@transaction.atomic
def capture_again(*, transaction_id: int, actor, reason: str = "") -> PaymentTransaction:
    """Capture again, with a new idempotency key, what a declined capture left uncollected.

    Takes the declined amount, less whatever later captures already took
    (the last shipment takes the rest of the order); refuses when nothing is
    left. Asking twice for the same declined capture returns the first try.
    """
    order_id = T.objects.filter(pk=transaction_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise PaymentError(f"No payment transaction {transaction_id}.")
    order = lock_order(order_id)
    declined = T.objects.select_related("shipment").get(pk=transaction_id)
    if declined.kind != T.Kind.CAPTURE or declined.status != T.Status.DECLINED:
        raise PaymentError(
            f"Order {order}: transaction {declined.pk} is a {declined.get_kind_display().lower()} "
            f"({declined.get_status_display().lower()}); only a declined capture can be captured again."
        )
    key = f"{order.number}:capture-again:{declined.pk}"
    existing = T.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing if existing.status != T.Status.ERROR else _attempt(order, existing, actor)
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
    return _transact(
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
def void_payment(*, order: Order, actor, reason: str = "") -> PaymentTransaction | None:
    """Release the authorisation of an order being cancelled (the caller holds the lock); nothing is captured yet."""
    if not order.payment_gateway:
        return None
    auth = authorisation(order)
    if auth is None or captured_amount(order) > 0:
        return None
    try:
        return _transact(
            order=order,
            kind=T.Kind.VOID,
            amount=auth.amount,
            key=f"{order.number}:void:{auth.pk}",
            actor=actor,
            source="cancel",
            reason=reason,
        )
    except PaymentError as refusal:
        alerts.payment_problem(
            order=order, problem="Void not attempted", detail=str(refusal), occurrence=f"void:{order.pk}"
        )
        return None


# --- refunds --------------------------------------------------------------------------
@transaction.atomic
def refund_payment(
    *, order: Order, amount: Decimal, idempotency_key: str, reason: str, actor, source: str = "return"
) -> PaymentTransaction:
    """Refund ``amount`` of what was captured; journals the refund. Safe to repeat with the same key.

    Raises RefundRefused (an OrderError) for an amount of zero or less, or
    more than ``refundable_amount``. A gateway timeout leaves the row in
    ``error`` and retries it in the background (still counted as refunded).
    """
    order = lock_order(order.pk)
    amount = cents(Decimal(amount))
    key = f"{order.number}:refund:{idempotency_key}"
    if not idempotency_key or len(key) > T._meta.get_field("idempotency_key").max_length:
        raise RefundRefused(
            f"Order {order}: an idempotency key of 1 to 90 characters is required (got {idempotency_key!r})."
        )
    existing = T.objects.filter(idempotency_key=key).first()
    if existing is not None and existing.amount == amount and existing.kind == T.Kind.REFUND:
        return existing if existing.status != T.Status.ERROR else _attempt(order, existing, actor)
    if amount <= 0:
        raise RefundRefused(f"Order {order}: a refund must be more than 0.00 {order.currency} (got {amount}).")
    refundable = refundable_amount(order)
    if amount > refundable:
        raise RefundRefused(
            f"Order {order}: cannot refund {amount:,.2f} {order.currency}; only {refundable:,.2f} "
            f"{order.currency} is refundable (captured {captured_amount(order):,.2f}, "
            f"refunded {refunded_amount(order):,.2f})."
        )
    return _transact(
        order=order,
        kind=T.Kind.REFUND,
        amount=amount,
        key=key,
        actor=actor,
        source=source,
        reason=(reason or "").strip(),
    )


# --- manual orders: marked paid by ops ---------------------------------------------------
@transaction.atomic
def mark_paid(*, order_id: int, actor, reference: str = "") -> PaymentTransaction:
    """Record that an invoiced (manual) order's amount due was received; journals it to cash.

    Due is what was invoiced (captured) less refunds made while it was
    unpaid, less what was received: the order's receivables balance.
    """
    order = lock_order(order_id)
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
    _record(order, txn, actor)
    accounting.journal_transaction(txn, settles=True)
    return txn


# --- retries (tasks) -----------------------------------------------------------------------
@transaction.atomic
def retry_payment(*, transaction_id: int, actor=SYSTEM) -> PaymentTransaction | None:
    """Call the gateway again, with the same key, for a capture, void or refund that failed with an error."""
    order_id = T.objects.filter(pk=transaction_id).values_list("order_id", flat=True).first()
    if order_id is None:
        return None
    order = lock_order(order_id)
    txn = T.objects.get(pk=transaction_id)
    if txn.status != T.Status.ERROR or txn.kind == T.Kind.AUTHORISE:
        return txn  # done meanwhile, or an authorisation (retried through routing)
    return _attempt(order, txn, actor)


def payments_to_retry() -> list[int]:
    """Captures, voids and refunds left in error with tries to spare (their retry task was lost)."""
    return list(
        T.objects.filter(status=T.Status.ERROR, attempts__lt=settings.PAYMENTS_MAX_ATTEMPTS)
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
