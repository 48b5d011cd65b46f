"""A card gateway for tests and demos: outcomes come from the card token, nothing leaves the machine.

Tokens (``Order.payment_token``):

==============  ==========================================================
``tok_approve``  every call succeeds
``tok_decline``  the authorisation is declined (``card_declined``)
``tok_error``    every call fails with a gateway error (retried, never succeeds)
``tok_slow``     every call does its work, then times out the first time it is
                 made with an idempotency key; a retry with the same key gets
                 the first call's result (as Stripe does), so nothing is
                 charged twice
other            declined (``invalid_token``)
==============  ==========================================================

Like a real provider it keeps its own record, the ``SANDBOX``: results by
idempotency key, and per payment what is authorised, captured and
refunded, refusing to capture more than is authorised or refund more than
is captured. The record lives in the process's memory (thread-safe), which
is what tests and the embedded demo need.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from decimal import Decimal

from .base import GatewayResult, GatewayUnavailable, PaymentGateway

APPROVE, DECLINE, ERROR, SLOW = "tok_approve", "tok_decline", "tok_error", "tok_slow"
ZERO = Decimal("0.00")


@dataclass
class SandboxPayment:
    token: str
    currency: str
    authorised: Decimal = ZERO
    captured: Decimal = ZERO
    refunded: Decimal = ZERO
    voided: bool = False
    operations: list[tuple[str, Decimal]] = field(default_factory=list)


class Sandbox:
    """The test gateway's side of the story: what it did, by idempotency key and by payment."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results: dict[str, GatewayResult] = {}
        self.tokens: dict[str, str] = {}  # the token each key was first used with
        self.payments: dict[str, SandboxPayment] = {}
        self.timed_out: set[str] = set()
        self._ids = itertools.count(1)

    def reset(self) -> None:
        with self.lock:
            self.results.clear()
            self.tokens.clear()
            self.payments.clear()
            self.timed_out.clear()

    def run(self, key: str, token: str, operation) -> GatewayResult:
        """Do ``operation`` once per key; a slow token times out on the first call with a key."""
        with self.lock:
            if token == ERROR:
                raise GatewayUnavailable("test card gateway: processing error (tok_error)")
            if key in self.results:
                if self.tokens[key] != token:  # as Stripe: a key is bound to the request it was first sent with
                    return GatewayResult(succeeded=False, error="idempotency_key_reused_with_other_parameters")
                return self.results[key]
            result = operation()
            self.results[key] = result
            self.tokens[key] = token
            if token == SLOW and key not in self.timed_out:
                self.timed_out.add(key)
                raise GatewayUnavailable("test card gateway: timed out (tok_slow); the call went through")
            return result

    def new_reference(self) -> str:
        return f"pi_test_{next(self._ids):06d}"


SANDBOX = Sandbox()


class TestCardGateway(PaymentGateway):
    __test__ = False  # not a pytest class
    code = "test_card"
    label = "Test card"

    def __init__(self, sandbox: Sandbox = SANDBOX):
        self.sandbox = sandbox

    def _payment(self, reference: str) -> SandboxPayment | None:
        return self.sandbox.payments.get(reference)

    def authorise(self, *, amount, currency, token, idempotency_key, description) -> GatewayResult:
        def operation() -> GatewayResult:
            if token not in (APPROVE, SLOW):
                return GatewayResult(succeeded=False, error="card_declined" if token == DECLINE else "invalid_token")
            reference = self.sandbox.new_reference()
            self.sandbox.payments[reference] = SandboxPayment(
                token=token, currency=currency, authorised=amount, operations=[("authorise", amount)]
            )
            return GatewayResult(succeeded=True, reference=reference)

        return self.sandbox.run(idempotency_key, token, operation)

    def capture(self, *, reference, amount, currency, idempotency_key) -> GatewayResult:
        payment = self._payment(reference)

        def operation() -> GatewayResult:
            if payment is None or payment.voided:
                return GatewayResult(succeeded=False, reference=reference, error="no such authorisation")
            if payment.captured + amount > payment.authorised:
                return GatewayResult(succeeded=False, reference=reference, error="amount exceeds authorisation")
            payment.captured += amount
            payment.operations.append(("capture", amount))
            return GatewayResult(succeeded=True, reference=reference)

        return self.sandbox.run(idempotency_key, payment.token if payment else APPROVE, operation)

    def void(self, *, reference, idempotency_key) -> GatewayResult:
        payment = self._payment(reference)

        def operation() -> GatewayResult:
            if payment is None:
                return GatewayResult(succeeded=False, reference=reference, error="no such authorisation")
            payment.voided = True
            payment.operations.append(("void", payment.authorised - payment.captured))
            return GatewayResult(succeeded=True, reference=reference)

        return self.sandbox.run(idempotency_key, payment.token if payment else APPROVE, operation)

    def refund(self, *, reference, amount, currency, idempotency_key) -> GatewayResult:
        payment = self._payment(reference)

        def operation() -> GatewayResult:
            if payment is None:
                return GatewayResult(succeeded=False, reference=reference, error="no such payment")
            if payment.refunded + amount > payment.captured:
                return GatewayResult(succeeded=False, reference=reference, error="amount exceeds captured")
            payment.refunded += amount
            payment.operations.append(("refund", amount))
            return GatewayResult(succeeded=True, reference=reference)

        return self.sandbox.run(idempotency_key, payment.token if payment else APPROVE, operation)
