"""Refusals by the payment services; each is an OrderError with a message an operator can act on."""

from ..exceptions import OrderError


class PaymentError(OrderError):
    """Base class for payment refusals."""


class UnknownGateway(PaymentError):
    """An order names a gateway this installation does not have (the API answers 400 on ``payment.gateway``)."""

    field = "payment.gateway"

    def __init__(self, code: str, known):
        self.code = code
        super().__init__(f"payment.gateway: unknown gateway {code!r}; use one of {', '.join(sorted(known))}.")


class RefundRefused(PaymentError):
    """A refund of zero, less, or more than what was captured and not yet refunded."""


class IdempotencyConflict(PaymentError):
    """An idempotency key reused for a different call."""
