"""Refunds: computed and shown before they are confirmed, recorded, then settled through the payments gateway.

The amount for returned units: unit price × quantity, less the line's share
of the order's discount, plus its share of the tax, less the restocking fee
(a % of the goods after discount), plus the order's shipping once when the
return is our error. Never more than the customer paid less what was
already refunded, nor (for an order paid through a gateway) than the gateway
can still refund. All money movement goes through ``settle_refund``, which
calls the gateway with no lock held.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from ... import events
from ...exceptions import OrderError
from ...models import Order, OrderLine
from ...payments import services as payments
from ...payments.amounts import cents
from ...payments.models import PaymentTransaction as T
from ...services import follow_up, notify
from ...services._common import lock_order_of
from .. import selectors
from ..exceptions import ReturnError
from ..models import (
    OrderErrorCase,
    Refund,
    ReturnRequest,
    ReturnResolution,
    ReturnStatus,
    SettlementMethod,
    StoreCredit,
)
from ._common import lock_return

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class QuoteLine:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    goods: Decimal
    discount: Decimal
    tax: Decimal
    fee: Decimal

    @property
    def total(self) -> Decimal:
        return self.goods - self.discount + self.tax - self.fee


@dataclass(frozen=True)
class RefundQuote:
    """What a refund would be, and why: shown to the associate before they confirm it."""

    currency: str
    lines: list[QuoteLine]
    fee_percent: Decimal
    shipping: Decimal
    paid: Decimal
    already_refunded: Decimal
    gateway_refundable: Decimal | None
    notes: list[str] = field(default_factory=list)
    goodwill: bool = False  # an amount alone (no units): limited only by what was paid
    exchange: Decimal = ZERO  # an exchange: the part of the returned goods' value that paid for the replacement

    @property
    def goods(self) -> Decimal:
        return sum((line.goods for line in self.lines), ZERO)

    @property
    def discount(self) -> Decimal:
        return sum((line.discount for line in self.lines), ZERO)

    @property
    def tax(self) -> Decimal:
        return sum((line.tax for line in self.lines), ZERO)

    @property
    def fee(self) -> Decimal:
        return sum((line.fee for line in self.lines), ZERO)

    @property
    def computed(self) -> Decimal:
        return max(self.goods - self.discount + self.tax - self.fee + self.shipping - self.exchange, ZERO)

    @property
    def paid_remaining(self) -> Decimal:
        return max(self.paid - self.already_refunded, ZERO)

    @property
    def amount(self) -> Decimal:
        """The most that may be refunded: the computed amount, capped by what was paid and what the gateway holds."""
        caps = [self.paid_remaining] if self.goodwill else [self.computed, self.paid_remaining]
        if self.gateway_refundable is not None:
            caps.append(max(self.gateway_refundable, ZERO))
        return min(caps)

    @property
    def capped_by(self) -> str:
        if self.amount == self.computed and not self.goodwill:
            return ""
        if self.amount == self.paid_remaining:
            return (
                f"capped at what the customer paid ({self.paid}) less what was already refunded "
                f"({self.already_refunded})"
            )
        return f"capped at what the payment gateway can still refund ({self.gateway_refundable})"

    def breakdown(self) -> dict:
        return {
            "lines": [
                {
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": str(line.unit_price),
                    "goods": str(line.goods),
                    "discount": str(line.discount),
                    "tax": str(line.tax),
                    "fee": str(line.fee),
                }
                for line in self.lines
            ],
            "goods": str(self.goods),
            "discount": str(self.discount),
            "tax": str(self.tax),
            "restocking_fee_percent": str(self.fee_percent),
            "restocking_fee": str(self.fee),
            "shipping": str(self.shipping),
            "exchange": str(self.exchange),
            "computed": str(self.computed),
            "paid": str(self.paid),
            "already_refunded": str(self.already_refunded),
            "gateway_refundable": str(self.gateway_refundable) if self.gateway_refundable is not None else None,
            "maximum": str(self.amount),
            "capped_by": self.capped_by,
            "goodwill": self.goodwill,
        }


def _gateway_refundable(order: Order) -> Decimal | None:
    if not order.payment_gateway:
        return None
    return Decimal(payments.refundable_amount(order))


def _shares(order: Order, unit_price: Decimal, quantity: int) -> tuple[Decimal, Decimal, Decimal]:
    """What ``quantity`` units at ``unit_price`` were on the order: goods, their share of its discount and of its
    tax (in proportion to the goods' part of the subtotal)."""
    # half a cent rounds up, as in payments (its captures and this refund must agree to the cent)
    goods = cents(unit_price * quantity)
    share = goods / order.subtotal if order.subtotal > 0 else Decimal("0")
    return goods, cents(order.discount_total * share), cents(order.tax_total * share)


def exchange_offset(order: Order, line, quantity: int) -> Decimal:
    """The part of what ``quantity`` returned units of ``line`` (a return line) cost the customer that paid for
    their replacement: goods less their discount share plus their tax share, × the replacement's price over the
    unit's (at most 1: a dearer replacement's difference is charged on its own order). Zero for a line that is
    refunded, not exchanged."""
    if line.replacement_unit_price is None or line.unit_price <= 0:
        return ZERO
    goods, discount, tax = _shares(order, line.unit_price, quantity)
    part = min(line.replacement_unit_price, line.unit_price) / line.unit_price
    return cents((goods - discount + tax) * part)


def _quote(
    order: Order,
    items: list[tuple[OrderLine | object, int]],
    *,
    fee_percent: Decimal,
    our_error: bool,
    exchange: Decimal = ZERO,
):
    lines = []
    for line, quantity in items:
        goods, discount, tax = _shares(order, line.unit_price, quantity)
        fee = ZERO if our_error else cents((goods - discount) * fee_percent / 100)
        lines.append(QuoteLine(line.sku, line.name, quantity, line.unit_price, goods, discount, tax, fee))
    notes = []
    shipping = ZERO
    goodwill = not items
    if goodwill:
        notes.append("No units chosen: an amount alone, up to what the customer paid and was not refunded.")
    elif our_error and order.shipping_total > 0:
        if selectors.shipping_already_refunded(order.pk):
            notes.append("The order's shipping was already refunded.")
        else:
            shipping = order.shipping_total
    return RefundQuote(
        currency=order.currency,
        lines=lines,
        fee_percent=ZERO if our_error else fee_percent,
        shipping=shipping,
        paid=order.grand_total,
        already_refunded=selectors.refunded_total(order.pk),
        gateway_refundable=_gateway_refundable(order),
        notes=notes,
        goodwill=goodwill,
        exchange=exchange,
    )


def quote_return_refund(rma: ReturnRequest) -> RefundQuote:
    """The refund for a return's received units (asked-for units before they arrive).

    For an exchange, each exchanged line's units paid for their
    replacement in proportion to its price (``exchange_offset``: what they
    cost the customer, discount and tax included, × replacement price ÷
    unit price, at most all of it): only the rest is refunded (a dearer
    replacement's difference was charged on its own order). Lines returned
    without a variant are refunded as usual.
    """
    received = rma.status not in (ReturnStatus.REQUESTED, ReturnStatus.AUTHORISED)
    items = [
        (line, line.quantity_received if received else line.quantity)
        for line in rma.lines.all()
        if (line.quantity_received if received else line.quantity)
    ]
    exchange = sum((exchange_offset(rma.order, line, quantity) for line, quantity in items), ZERO)
    return _quote(rma.order, items, fee_percent=rma.restocking_fee_percent, our_error=rma.our_error, exchange=exchange)


def quote_error_refund(order: Order, lines: dict[int, int]) -> RefundQuote:
    """The refund for units of an order we got wrong: no fee, shipping refunded once."""
    order_lines = {line.pk: line for line in order.lines.all()}
    items = []
    for line_id, quantity in sorted(lines.items()):
        if not quantity:
            continue
        line = order_lines.get(int(line_id))
        if line is None:
            raise ReturnError(f"Order {order} has no line {line_id}.")
        if quantity < 0 or quantity > line.quantity:
            raise ReturnError(f"{line.sku}: refund between 0 and {line.quantity} units, not {quantity}.")
        items.append((line, quantity))
    return _quote(order, items, fee_percent=ZERO, our_error=True)


def check_amount(quote: RefundQuote, amount: Decimal | None, what: str) -> Decimal:
    """The amount to refund (default: the most allowed); refuses one above it or not above zero."""
    maximum = quote.amount
    if amount is None:
        amount = maximum
    amount = cents(Decimal(amount))
    if amount <= 0:
        if maximum <= 0:
            raise ReturnError(f"{what}: nothing is left to refund ({quote.capped_by or 'the computed amount is 0'}).")
        raise ReturnError(f"{what}: a refund must be more than 0.00 {quote.currency}.")
    if amount > maximum:
        why = f" ({quote.capped_by})" if quote.capped_by else f" (computed {quote.computed})"
        raise ReturnError(
            f"{what}: a refund of {amount} {quote.currency} is more than the most allowed, "
            f"{maximum} {quote.currency}{why}."
        )
    return amount


def record_refund(
    *,
    order: Order,
    amount: Decimal,
    quote: RefundQuote,
    actor,
    reason: str,
    rma: ReturnRequest | None = None,
    error_case: OrderErrorCase | None = None,
) -> Refund:
    """Write the refund row (pending) and its timeline event; the caller holds the order lock."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    reference = rma.number if rma else str(error_case)
    refund = Refund.objects.create(
        order=order,
        rma=rma,
        error_case=error_case,
        amount=amount,
        currency=order.currency,
        breakdown={**quote.breakdown(), "amount": str(amount)},
        reason=reason,
        idempotency_key=f"refund:{reference}:{uuid.uuid4().hex[:16]}",
        confirmed_by=user,
        confirmed_by_name=user.get_username() if user else (actor if isinstance(actor, str) and actor else "system"),
    )
    events.refund_confirmed(refund, quote=quote, actor=actor)
    return refund


def confirm_return_refund(*, rma_id: int, actor, amount: Decimal | None = None) -> Refund:
    """Confirm the refund of an inspected return (default: the most allowed; less for a partial refund).

    Records the refund and moves the return to refunded (one transaction),
    then settles it through the gateway (``settle_refund``). Refuses an
    amount above the quote, which never exceeds what was paid.
    """
    with transaction.atomic(durable=True):
        rma = lock_return(rma_id)
        order = rma.order
        if rma.status != ReturnStatus.INSPECTED:
            raise ReturnError(
                f"Return {rma} is {rma.get_status_display().lower()}; refunds are confirmed after inspection."
            )
        quote = quote_return_refund(rma)
        amount = check_amount(quote, amount, f"Return {rma}")
        refund = record_refund(
            order=order, amount=amount, quote=quote, actor=actor, reason=f"Return {rma.number}", rma=rma
        )
        events.return_refunded(rma, refund=refund, actor=actor)
    return settle_refund(refund_id=refund.pk, actor=actor)


# How a refund settled through each kind of gateway was paid back (any other gateway: the customer's card).
GATEWAY_METHODS = {"channel": SettlementMethod.SALES_CHANNEL, "manual": SettlementMethod.BANK_TRANSFER}
# What the customer's "refund issued" email says the money went back to, by how it was paid back.
CUSTOMER_METHOD_WORDS = {
    SettlementMethod.ORIGINAL_PAYMENT: "original payment method",
    SettlementMethod.SALES_CHANNEL: "original payment method",
    SettlementMethod.BANK_TRANSFER: "bank account",
    SettlementMethod.STORE_CREDIT: "store credit",
}


def _stamp_settled(refund: Refund, *, actor, method: str, reference: str, note: str) -> None:
    """Mark the (locked) refund settled now, by ``actor``, with how it was paid back and its reference."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    refund.status = Refund.Status.SETTLED
    refund.settle_note = note
    refund.settled_at = timezone.now()
    refund.settled_by = user
    refund.settled_by_name = user.get_username() if user else (actor if isinstance(actor, str) and actor else "system")
    refund.settlement_method = method
    refund.settlement_reference = reference[: Refund._meta.get_field("settlement_reference").max_length]
    refund.save(
        update_fields=[
            "status",
            "settle_note",
            "settled_at",
            "settled_by",
            "settled_by_name",
            "settlement_method",
            "settlement_reference",
        ]
    )


def settle_refund(*, refund_id: int, actor) -> Refund:
    """Settle a recorded (or failed) refund through the order's gateway; a settled one is left as it is.

    The gateway is called with no lock held (``payments.refund_payment``,
    with the refund's idempotency key), then the refund is locked again and
    the answer recorded, unless another settling recorded it first. On
    success the refund records who settled it, when, how and the gateway's
    reference, the customer is emailed (for a return) and the timeline says
    so; a refusal marks it failed with the gateway's words; a gateway that
    has not answered leaves it recorded, to settle (asked again in the
    background). An order without a gateway leaves it recorded, to settle
    by hand (``mark_refund_settled``). A return whose customer chose store
    credit is settled at once as a ``StoreCredit`` record (its SC-… number
    is the settlement reference), with no gateway call.
    """
    with transaction.atomic(durable=True):
        refund = lock_order_of(Refund, refund_id, missing=ReturnError(f"No refund with id {refund_id}."))
        order = refund.order
        if refund.status == Refund.Status.SETTLED:
            return refund
        if takes_store_credit(refund):
            credit = _issue_store_credit(refund)
            note = f"Issued as store credit {credit.number}."
            _stamp_settled(
                refund, actor=actor, method=SettlementMethod.STORE_CREDIT, reference=credit.number, note=note
            )
            events.refund_settled(refund, actor=actor, how=note)
            _tell_customer(refund)
            return refund
        if not order.payment_gateway:
            _note_unsettled(refund, status=Refund.Status.PENDING, note=events.refund_settle_note(order), actor=actor)
            return refund
    result = None
    try:
        result = payments.refund_payment(
            order=order,
            amount=refund.amount,
            idempotency_key=refund.idempotency_key,
            reason=refund.reason,
            actor=actor,
            source=refund.source,
        )
    except OrderError as refusal:
        status, note = Refund.Status.FAILED, events.refund_settle_note(order, refusal=refusal)
    else:
        txn = result.transaction
        note = events.refund_settle_note(order, txn=txn)
        status = {T.Status.SUCCEEDED: Refund.Status.SETTLED, T.Status.DECLINED: Refund.Status.FAILED}.get(
            txn.status, Refund.Status.PENDING
        )
    with transaction.atomic(durable=True):
        refund = lock_order_of(Refund, refund_id, missing=ReturnError(f"No refund with id {refund_id}."))
        if refund.status == Refund.Status.SETTLED:
            return refund  # another settling recorded it meanwhile (the gateway answered it once)
        if status == Refund.Status.SETTLED:
            method = GATEWAY_METHODS.get(order.payment_gateway, SettlementMethod.ORIGINAL_PAYMENT)
            _stamp_settled(refund, actor=actor, method=method, reference=txn.gateway_reference, note=note)
            events.refund_settled(refund, actor=actor, how=note)
            _tell_customer(refund)
        else:
            _note_unsettled(refund, status=status, note=note, actor=actor)
    follow_up(result)
    return refund


def _note_unsettled(refund: Refund, *, status: str, note: str, actor) -> None:
    """Keep why the (locked) refund is not settled; the timeline says so when it failed or its status changed."""
    previous = refund.status
    refund.status = status
    refund.settle_note = note
    refund.save(update_fields=["status", "settle_note"])
    if status == Refund.Status.FAILED or previous != status:
        events.refund_not_settled(refund, actor=actor)


def settles_by_hand(refund: Refund) -> bool:
    """Whether the refund is paid back by someone outside the gateway (then marked settled), not through it."""
    return not refund.order.payment_gateway and not takes_store_credit(refund)


def takes_store_credit(refund: Refund) -> bool:
    """Whether the refund is for a return whose customer chose store credit: settled as a store credit record."""
    return bool(refund.rma_id) and refund.rma.resolution == ReturnResolution.STORE_CREDIT


def _issue_store_credit(refund: Refund) -> StoreCredit:
    """Record the store credit that settles ``refund`` (locked by the caller), numbered SC-…, for its customer."""
    credit = StoreCredit.objects.create(
        customer_id=refund.order.customer_id,
        order=refund.order,
        refund=refund,
        amount=refund.amount,
        currency=refund.currency,
    )
    credit.number = f"SC-{credit.pk:07d}"
    credit.save(update_fields=["number"])
    return credit


@transaction.atomic(durable=True)
def mark_refund_settled(*, refund_id: int, method: str, reference: str, actor, note: str = "") -> Refund:
    """Record that a refund was paid back outside the gateway: how (``method``), its reference, who and when.

    For refunds of orders paid outside a gateway (recorded, to settle). Writes
    the timeline entry and emails the customer (for a return). Refuses a
    refund already settled, saying when, how and by whom, and a refund of an
    order paid through a gateway (it is settled through the gateway).
    """
    method = (method or "").strip()
    reference = (reference or "").strip()
    note = (note or "").strip()
    if method not in SettlementMethod.values:
        choices = ", ".join(label.lower() for label in SettlementMethod.labels)
        raise ReturnError(f"Say how the refund was paid back ({choices}); got {method or 'nothing'}.")
    if not reference:
        raise ReturnError(
            "A settlement reference is required: the bank transfer's, the cheque number, the credit code…"
        )
    limit = Refund._meta.get_field("settlement_reference").max_length
    if len(reference) > limit:
        raise ReturnError(f"A settlement reference has at most {limit} characters (got {len(reference)}).")
    refund = lock_order_of(Refund, refund_id, missing=ReturnError(f"No refund with id {refund_id}."))
    order = refund.order
    if refund.status == Refund.Status.SETTLED:
        raise ReturnError(
            f"{refund} for {refund.cause} is already settled ({refund.settlement_summary}); it cannot be settled "
            "twice. Nothing was changed."
        )
    if not settles_by_hand(refund):
        raise ReturnError(
            f"Order {order} was paid through {order.payment_gateway}: settle the refund through the gateway "
            "(the refunds list's action), not by hand."
        )
    note_kept = events.paid_back_note(method=method, reference=reference, note=note)
    _stamp_settled(refund, actor=actor, method=method, reference=reference, note=note_kept)
    events.refund_settled_by_hand(refund, actor=actor, note=note)
    _tell_customer(refund)
    return refund


def _tell_customer(refund: Refund) -> None:
    """Email the customer that a return's refund was issued (an order error's refund has its own messages)."""
    if not refund.rma_id:
        return
    rma = refund.rma
    notify.return_refunded(
        refund.order,
        rma={
            "number": rma.number,
            "refund_amount": refund.amount,
            "refund_id": refund.pk,
            "lines": [
                {"sku": line.sku, "name": line.name, "quantity": line.quantity_received}
                for line in rma.lines.all()
                if line.quantity_received
            ],
            "method": CUSTOMER_METHOD_WORDS.get(refund.settlement_method, ""),
        },
    )
