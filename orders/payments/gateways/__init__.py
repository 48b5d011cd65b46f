"""Payment gateways by code. ``GATEWAYS`` maps each code an order may name to its adapter class.

Shipped: ``manual`` (invoice / bank transfer), ``test_card`` (outcomes by
token, see ``test_card.py``; on only with DEBUG or ``PAYMENTS_TEST_CARD=true``)
and ``channel`` (the sales channel took the money). A real provider is a ``PaymentGateway`` subclass (see ``base.py``)
added to ``settings.PAYMENT_GATEWAYS``.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from ..exceptions import UnknownGateway
from .base import GatewayResult, GatewayUnavailable, PaymentGateway

# code -> dotted path of the adapter class; `code in GATEWAYS` validates an order's gateway.
GATEWAYS: dict[str, str] = dict(settings.PAYMENT_GATEWAYS)


def get_gateway(code: str) -> PaymentGateway:
    """The adapter for ``code``; raises UnknownGateway (an OrderError naming ``payment.gateway``)."""
    path = GATEWAYS.get(code)
    if path is None:
        raise UnknownGateway(code, GATEWAYS)
    return import_string(path)()


__all__ = ["GATEWAYS", "GatewayResult", "GatewayUnavailable", "PaymentGateway", "get_gateway"]
