"""The payment gateway interface, shaped like Stripe's PaymentIntents: authorise, then capture.

A real provider's adapter subclasses ``PaymentGateway`` and implements the
four calls (and ``reduce`` and ``increment``, where the provider can lower or raise an
authorisation),
passing ``idempotency_key`` through to the provider (Stripe: the
``Idempotency-Key`` header), so that a call retried after a timeout
returns the first call's outcome instead of charging again. Register it in
``settings.PAYMENT_GATEWAYS`` under its code. Rules for an adapter:

- return ``GatewayResult(succeeded=False, error=...)`` when the provider
  answers no (declined, amount too large): final for that key, not retried;
- raise ``GatewayUnavailable`` on a timeout, a connection error or a 5xx:
  the call is retried later with the same key;
- put timeouts on every network call, and never log card data (the order
  holds only the provider's token).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal


class GatewayUnavailable(Exception):
    """The gateway timed out or failed: the outcome is unknown, retry with the same idempotency key."""


@dataclass(frozen=True)
class GatewayResult:
    """The gateway's answer: ``reference`` is its id for the payment (a PaymentIntent id for Stripe)."""

    succeeded: bool
    reference: str = ""
    error: str = ""  # why it was declined
    note: str = ""  # anything ops should know about a success (shown on the timeline)


class PaymentGateway(ABC):
    """One payment provider. Amounts are Decimal in the order's currency."""

    code: str = ""
    label: str = ""
    # Cards and channels hold the money once captured; an invoice is a receivable until ops mark it paid.
    settles_at_capture: bool = True

    @abstractmethod
    def authorise(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str, description: str
    ) -> GatewayResult:
        """Reserve ``amount`` on the customer's payment method; the result's reference names the payment."""

    @abstractmethod
    def capture(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> GatewayResult:
        """Take ``amount`` (all or part of what is authorised and not yet captured)."""

    @abstractmethod
    def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        """Release what is authorised and not captured."""

    def reduce(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> GatewayResult:
        """Release ``amount`` of what is authorised and not captured (items cancelled; the rest stays authorised).

        The default suits a provider that, like Stripe, releases what a capture leaves once the last capture is
        made: nothing to ask now, the later captures simply take less. A provider that can lower an
        authorisation (the test card gateway) overrides this.
        """
        return GatewayResult(
            succeeded=True,
            reference=reference,
            note="the gateway keeps the authorisation; the captures take the new total and the rest is released",
        )

    def increment(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> GatewayResult:
        """Authorise ``amount`` more on the same payment (items added to the order; Stripe: incremental authorisation).

        The answer is final for the key: declined means the payment method would not take more (the order is held
        for its payment). The default suits a provider with no incremental authorisation: it declines, naming why,
        so ops take the difference another way.
        """
        return GatewayResult(
            succeeded=False,
            reference=reference,
            error=f"{self.label or self.code} cannot increase an authorisation",
        )

    @abstractmethod
    def refund(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> GatewayResult:
        """Give back ``amount`` (all or part) of what was captured."""
