"""HTTP entry points for shipping: the delivery promise a store shows at checkout."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from oms_core.api import FieldErrorsOut, MoneyOut, PlainText, field_error

from .promise import PromiseError, quote_promise

router = Router(tags=["shipping"])

Sku = Annotated[str, Field(min_length=1, max_length=64), PlainText]
Quantity = Annotated[int, Field(ge=1, le=100_000)]


class PromiseOptionOut(Schema):
    service_id: int
    vendor: str
    service: str
    code: str
    zone: int
    price: MoneyOut
    ship_date: dt.date
    eta: dt.date
    transit_days: int


class PromiseShipmentOut(Schema):
    warehouse: str
    warehouse_name: str
    items: dict[str, int]
    parcels: list[str]
    fastest: PromiseOptionOut | None
    cheapest: PromiseOptionOut | None
    chosen: PromiseOptionOut | None = Field(
        None, description="The service carrier choice would buy: the cheapest by the store's target, else the cheapest."
    )


class DateCostOut(Schema):
    date: dt.date | None
    cost: MoneyOut | None
    order_by: dt.datetime | None = Field(
        None, description="The cut-off: an order placed before this instant gets this date (the countdown's end)."
    )


class PromiseOut(Schema):
    postal_code: str
    items: dict[str, int]
    deliverable: bool
    earliest: DateCostOut
    cheapest: DateCostOut
    chosen: DateCostOut = Field(
        description="What the order would get (the storefront's date): the service carrier choice would buy, "
        "the cheapest arriving by the store's target (the cheapest when there is none)."
    )
    shipments: list[PromiseShipmentOut]
    unavailable: dict[str, int]
    routing: str


@router.get(
    "/promise",
    response={200: PromiseOut, 400: FieldErrorsOut, 401: FieldErrorsOut},
    summary="Delivery promise for a basket",
)
def promise(
    request: HttpRequest,
    postal_code: Annotated[str, Field(min_length=1, max_length=20, json_schema_extra={"example": "10001"}), PlainText],
    sku: Annotated[list[Sku], Query(min_length=1, example=["TEE-1"])],
    qty: Annotated[list[Quantity], Query(example=[1])] = [],  # noqa: B006 - ninja reads the default, never mutates it
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", json_schema_extra={"example": "US"}), PlainText] = "US",
):
    """The earliest delivery date and its cost (and the cheapest option) for these SKUs to a postal code.

    Repeat `sku` and `qty` in pairs: `?postal_code=10001&sku=A&qty=2&sku=B&qty=1`
    (a missing `qty` counts as 1). The warehouses are those routing would
    use now; the answer agrees with what allocation and carrier choice do.
    """
    quantities = list(qty or [])
    if len(quantities) > len(sku):
        return Status(400, {"detail": [field_error(("query", "qty"), "More qty values than sku values.")]})
    quantities += [1] * (len(sku) - len(quantities))
    try:
        answer = quote_promise(
            postal_code=postal_code,
            items=list(zip(sku, quantities, strict=True)),
            country=country,
            channel_id=getattr(request.auth, "pk", None),  # the asking channel's routing rules, as its orders get
        )
    except PromiseError as error:
        return Status(400, {"detail": [field_error(("query", *_parameter(error.field)), error.message)]})
    return Status(200, answer.as_dict())


def _parameter(field: str) -> tuple[str | int, ...]:
    """``"qty[1]"`` as ``("qty", 1)``: the parameter and which of its values."""
    name, _, index = field.partition("[")
    return (name, int(index.rstrip("]"))) if index.rstrip("]").isdigit() else (field,)
