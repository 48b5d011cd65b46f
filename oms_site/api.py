"""The versioned JSON API, /api/v1/: OpenAPI schema at /api/v1/openapi.json, docs at /api/v1/docs."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from oms_core.api import field_error
from orders.api.carriers import router as carriers_router
from orders.api.channels import ChannelKey
from orders.api.channels import router as channel_router
from orders.api.shopify import router as shopify_router
from orders.api.storefront import router as storefront_router
from orders.partners.api import router as partners_router
from shipping.api import router as shipping_router

api = NinjaAPI(
    title="OMS API",
    version="1",
    description=(
        "Order management for sales channels: place, read and cancel orders, read stock, quote a delivery "
        "promise (each channel signs in with its own API key: `Authorization: Bearer oms_...`); carriers push "
        "tracking events with their own token."
    ),
    urls_namespace="api-v1",
)
api.add_router("/", channel_router)
api.add_router("/", shipping_router, auth=ChannelKey())  # the promise: a channel's question, asked with its key
api.add_router("/", carriers_router)
api.add_router("/", shopify_router)
api.add_router("/", partners_router)  # the 3PLs' signed webhooks
api.add_router("/", storefront_router)  # a store's page asks from the visitor's browser, with a publishable key


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError):
    """Bad input is a 400 naming each field by its path as the client wrote it, never a 422 or a 500.

    Each error has ``loc`` (where: ``["body", "events", 0, "status"]``), ``path`` (the same as a client
    writes it: ``events[0].status``) and ``msg``, as the channels' order intake answers.
    """
    detail = []
    for error in exc.errors:
        loc = list(error.get("loc", ()))
        if len(loc) > 1 and loc[0] == "body" and loc[1] == "payload":  # the view's parameter, not the client's
            del loc[1]
        detail.append(field_error(loc, error.get("msg", "invalid").removeprefix("Value error, ")))
    return api.create_response(request, {"detail": detail}, status=400)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError):
    """Refusals raised by the framework (a body that is not JSON, no key) in the same shape as any other."""
    if isinstance(exc, AuthenticationError):
        loc, msg = ["header", "Authorization"], "Missing or unknown credentials: send `Authorization: Bearer <key>`."
    else:
        loc, msg = ["body"], str(exc) if exc.status_code != 400 else "Not valid JSON."
    return api.create_response(request, {"detail": [field_error(loc, msg)]}, status=exc.status_code)
