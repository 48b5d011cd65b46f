"""The versioned JSON API, /api/v1/: OpenAPI schema at /api/v1/openapi.json, docs at /api/v1/docs."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.errors import ValidationError

from orders.api import router as orders_router
from shipping.api import router as shipping_router

api = NinjaAPI(
    title="OMS API",
    version="1",
    description="Order management: delivery promise, carrier tracking.",
    urls_namespace="api-v1",
)
api.add_router("/", shipping_router)
api.add_router("/", orders_router)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError):
    """Bad input is a 400 naming each field by its path, never a 422 or a 500."""
    detail = [{"loc": list(error.get("loc", ())), "msg": error.get("msg", "invalid")} for error in exc.errors]
    return api.create_response(request, {"detail": detail}, status=400)
