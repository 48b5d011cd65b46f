"""The returns domain's errors: order errors (OrderError), so the console reports them the same way."""

from ..exceptions import OrderError


class ReturnError(OrderError):
    """A return, refund or error case step was refused; the message says why and what to do."""


class SelfServiceRefused(ReturnError):
    """A return the customer asked for on the order status page was refused; ``field`` names the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
