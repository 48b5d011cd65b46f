"""A card gateway for tests and demos: outcomes come from the card token, nothing leaves the machine.

Tokens (``Order.payment_token``):

==============  ==========================================================
``tok_approve``  every call succeeds
``tok_decline``  the authorisation is declined (``card_declined``)
``tok_error``    every call fails with a gateway error (retried, never succeeds)
``tok_no_more``  authorises, captures and refunds, but declines an increase of
                 the authorisation (``card_declined``)
``tok_slow``     every call does its work, then times out the first time it is
                 made with an idempotency key; a retry with the same key gets
                 the first call's result (as Stripe does), so nothing is
                 charged twice
other            declined (``invalid_token``)
==============  ==========================================================

Like a real provider it keeps its own record: each request's answer by
idempotency key (``SandboxCall``), and per payment what is authorised,
captured and refunded (``SandboxPayment``), refusing to capture more than
is authorised (or anything once voided) or to refund more than is captured.
The record is in the database, so the web process that captures sees the
authorisation a Celery worker made, as it would at a real provider. It is
written in the caller's transaction, so it is kept exactly when the
caller's ``PaymentTransaction`` row is.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

from django.db import IntegrityError, transaction

from ..models import SandboxCall, SandboxPayment
from .base import GatewayResult, GatewayUnavailable, PaymentGateway

APPROVE, DECLINE, ERROR, SLOW = "tok_approve", "tok_decline", "tok_error", "tok_slow"
DECLINE_MORE = "tok_no_more"  # authorised once, but an increase is declined
ZERO = Decimal("0.00")


def _answer(call: SandboxCall) -> GatewayResult:
    return GatewayResult(succeeded=call.succeeded, reference=call.reference, error=call.error, note=call.note)


def _run(*, key: str, kind: str, token: str, operation: Callable[[], tuple[GatewayResult, Decimal]]) -> GatewayResult:
    """Do ``operation`` once per idempotency key and keep its answer; a slow token times out the first time.

    ``operation`` returns the answer and the amount it moved. A timeout is
    raised only after the work is kept (outside the savepoint), as a
    provider that did the work and whose reply was lost.
    """
    if token == ERROR:
        raise GatewayUnavailable("test card gateway: processing error (tok_error)")
    answered: GatewayResult | None = None
    try:
        with transaction.atomic():
            call = SandboxCall.objects.select_for_update().filter(idempotency_key=key).first()
            if call is None:
                answered, amount = operation()
                SandboxCall.objects.create(
                    idempotency_key=key,
                    kind=kind,
                    token=token,
                    reference=answered.reference,
                    amount=amount,
                    succeeded=answered.succeeded,
                    error=answered.error,
                    note=answered.note,
                )
    except IntegrityError:  # another process answered this key meanwhile: its answer stands, this one is undone
        answered, call = None, SandboxCall.objects.get(idempotency_key=key)
    if answered is not None:
        if token == SLOW:
            raise GatewayUnavailable("test card gateway: timed out (tok_slow); the call went through")
        return answered
    if call.token != token:  # as Stripe: a key is bound to the request it was first sent with
        return GatewayResult(succeeded=False, error="idempotency_key_reused_with_other_parameters")
    return _answer(call)


def _token_of(reference: str) -> str:
    """The card token of a payment (unknown payments answer as an approving card would: "no such …")."""
    return SandboxPayment.objects.filter(reference=reference).values_list("token", flat=True).first() or APPROVE


def _locked(reference: str) -> SandboxPayment | None:
    return SandboxPayment.objects.select_for_update().filter(reference=reference).first()


class TestCardGateway(PaymentGateway):
    __test__ = False  # not a pytest class
    code = "test_card"
    label = "Test card"

    def authorise(self, *, amount, currency, token, idempotency_key, description) -> GatewayResult:
        def operation() -> tuple[GatewayResult, Decimal]:
            if token not in (APPROVE, SLOW, DECLINE_MORE):
                return GatewayResult(
                    succeeded=False, error="card_declined" if token == DECLINE else "invalid_token"
                ), amount
            payment = SandboxPayment.objects.create(
                reference=f"pi_test_{uuid.uuid4().hex[:16]}", token=token, currency=currency, authorised=amount
            )
            return GatewayResult(succeeded=True, reference=payment.reference), amount

        return _run(key=idempotency_key, kind="authorise", token=token, operation=operation)

    def capture(self, *, reference, amount, currency, idempotency_key) -> GatewayResult:
        def operation() -> tuple[GatewayResult, Decimal]:
            payment = _locked(reference)
            if payment is None or payment.voided:
                return GatewayResult(succeeded=False, reference=reference, error="no such authorisation"), amount
            if payment.captured + amount > payment.authorised:
                return GatewayResult(succeeded=False, reference=reference, error="amount exceeds authorisation"), amount
            payment.captured += amount
            payment.save(update_fields=["captured"])
            return GatewayResult(succeeded=True, reference=reference), amount

        return _run(key=idempotency_key, kind="capture", token=_token_of(reference), operation=operation)

    def void(self, *, reference, idempotency_key) -> GatewayResult:
        def operation() -> tuple[GatewayResult, Decimal]:
            payment = _locked(reference)
            if payment is None:
                return GatewayResult(succeeded=False, reference=reference, error="no such authorisation"), ZERO
            payment.voided = True
            payment.save(update_fields=["voided"])
            return GatewayResult(succeeded=True, reference=reference), payment.authorised - payment.captured

        return _run(key=idempotency_key, kind="void", token=_token_of(reference), operation=operation)

    def reduce(self, *, reference, amount, currency, idempotency_key) -> GatewayResult:
        def operation() -> tuple[GatewayResult, Decimal]:
            payment = _locked(reference)
            if payment is None or payment.voided:
                return GatewayResult(succeeded=False, reference=reference, error="no such authorisation"), amount
            if payment.authorised - amount < payment.captured:
                return GatewayResult(succeeded=False, reference=reference, error="amount exceeds uncaptured"), amount
            payment.authorised -= amount
            payment.save(update_fields=["authorised"])
            return GatewayResult(succeeded=True, reference=reference), amount

        return _run(key=idempotency_key, kind="reduce", token=_token_of(reference), operation=operation)

    def increment(self, *, reference, amount, currency, idempotency_key) -> GatewayResult:
        def operation() -> tuple[GatewayResult, Decimal]:
            payment = _locked(reference)
            if payment is None or payment.voided:
                return GatewayResult(succeeded=False, reference=reference, error="no such authorisation"), amount
            if payment.token == DECLINE_MORE:
                return GatewayResult(succeeded=False, reference=reference, error="card_declined"), amount
            payment.authorised += amount
            payment.save(update_fields=["authorised"])
            return GatewayResult(succeeded=True, reference=reference), amount

        return _run(key=idempotency_key, kind="increment", token=_token_of(reference), operation=operation)

    def refund(self, *, reference, amount, currency, idempotency_key) -> GatewayResult:
        def operation() -> tuple[GatewayResult, Decimal]:
            payment = _locked(reference)
            if payment is None:
                return GatewayResult(succeeded=False, reference=reference, error="no such payment"), amount
            if payment.refunded + amount > payment.captured:
                return GatewayResult(succeeded=False, reference=reference, error="amount exceeds captured"), amount
            payment.refunded += amount
            payment.save(update_fields=["refunded"])
            return GatewayResult(succeeded=True, reference=reference), amount

        return _run(key=idempotency_key, kind="refund", token=_token_of(reference), operation=operation)
