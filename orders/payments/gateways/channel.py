"""Paid through the sales channel (e.g. Shopify collected the money): every call succeeds at once.

Refunds are recorded here and paid back through the channel's own console.
"""

from __future__ import annotations

from decimal import Decimal

from .base import GatewayResult, PaymentGateway


class ChannelGateway(PaymentGateway):
    code = "channel"
    label = "Paid through the sales channel"

    def authorise(self, *, amount, currency, token, idempotency_key, description) -> GatewayResult:
        return GatewayResult(succeeded=True, reference=token or f"channel:{description}")

    def capture(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> GatewayResult:
        return GatewayResult(succeeded=True, reference=reference)

    def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        return GatewayResult(succeeded=True, reference=reference)

    def increment(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> GatewayResult:
        return GatewayResult(succeeded=True, reference=reference)

    def refund(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> GatewayResult:
        return GatewayResult(succeeded=True, reference=reference, note="to be paid back through the channel")
