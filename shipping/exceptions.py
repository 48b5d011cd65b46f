"""The shipping domain's errors."""


class ShippingError(Exception):
    """A shipping operation was refused; the message says why, for an operator."""
