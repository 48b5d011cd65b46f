"""The returns domain's errors: order errors (OrderError), so the console reports them the same way."""

from ..exceptions import OrderError


class ReturnError(OrderError):
    """A return, refund or error case step was refused; the message says why and what to do."""
