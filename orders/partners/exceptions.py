"""The 3PL connections' errors."""


class PartnerError(Exception):
    """A request about a 3PL connection, release or message refused (the message says why)."""


class PayloadError(PartnerError):
    """An inbound message's payload is malformed or names what the OMS does not know; nothing is applied."""
