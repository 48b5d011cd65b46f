"""Invoice / bank transfer: nothing is charged; the capture is the amount due, ops mark it paid."""

from __future__ import annotations

from decimal import Decimal

from .base import GatewayResult, PaymentGateway


class ManualGateway(PaymentGateway):
    code = "manual"
    label = "Invoice / bank transfer"
    settles_at_capture = False

    def authorise(self, *, amount, currency, token, idempotency_key, description) -> GatewayResult:
        return GatewayResult(succeeded=True, reference=f"INV-{description}")

    def capture(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> GatewayResult:
        return GatewayResult(succeeded=True, reference=reference)

    def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        return GatewayResult(succeeded=True, reference=reference)

    def increment(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> GatewayResult:
        return GatewayResult(succeeded=True, reference=reference)

    def refund(self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str) -> GatewayResult:
        # Paid back by bank transfer by finance; recorded here so accounting and the refundable amount agree.
        return GatewayResult(succeeded=True, reference=reference)
