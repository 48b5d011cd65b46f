"""HTTP entry points for shipping: the delivery promise a store shows at checkout."""

from __future__ import annotations

from typing import Annotated

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.responses import Status

from oms_core.api import PlainText

from .promise import PromiseError, quote_promise

router = Router(tags=["shipping"])


class PromiseOptionOut(Schema):
    service_id: int
    vendor: str
    service: str
    code: str
    zone: int
    price: str
    ship_date: str
    eta: str
    transit_days: int


class PromiseShipmentOut(Schema):
    warehouse: str
    warehouse_name: str
    items: dict[str, int]
    parcels: list[str]
    fastest: PromiseOptionOut | None
    cheapest: PromiseOptionOut | None


class DateCostOut(Schema):
    date: str | None
    cost: str | None


class PromiseOut(Schema):
    postal_code: str
    items: dict[str, int]
    deliverable: bool
    earliest: DateCostOut
    cheapest: DateCostOut
    shipments: list[PromiseShipmentOut]
    unavailable: dict[str, int]
    routing: str


class ErrorOut(Schema):
    detail: list[dict]


@router.get("/promise", response={200: PromiseOut, 400: ErrorOut}, summary="Delivery promise for a basket")
def promise(
    request: HttpRequest,
    postal_code: Annotated[str, PlainText],
    sku: Query[list[Annotated[str, PlainText]]],
    qty: Query[list[int]] = [],  # noqa: B006 - ninja reads the default, never mutates it
    country: Annotated[str, PlainText] = "US",
):
    """The earliest delivery date and its cost (and the cheapest option) for these SKUs to a postal code.

    Repeat `sku` and `qty` in pairs: `?postal_code=10001&sku=A&qty=2&sku=B&qty=1`
    (a missing `qty` counts as 1). The warehouses are those routing would
    use now; the answer agrees with what allocation and carrier choice do.
    """
    quantities = list(qty or [])
    if len(quantities) > len(sku):
        return Status(400, {"detail": [{"loc": ["query", "qty"], "msg": "More qty values than sku values."}]})
    quantities += [1] * (len(sku) - len(quantities))
    try:
        answer = quote_promise(postal_code=postal_code, items=list(zip(sku, quantities, strict=True)), country=country)
    except PromiseError as error:
        return Status(400, {"detail": [{"loc": ["query", error.field], "msg": error.message}]})
    return Status(200, answer.as_dict())
