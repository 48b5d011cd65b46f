"""The channels' API: place, read and cancel orders, read stock. Each channel signs in with its own key.

Every refusal is a 4xx whose body names the field: 400 bad input, 401 no or
unknown key, 404 not this channel's order, 409 a conflict (an external id
reused for a different order, a cancel too late). A 400 lists every error of
the request at once, each with ``loc`` (``["body", "lines", 1, "sku"]``) and
``path``, the JSON path as the client wrote it (``lines[1].sku``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, NotRequired, TypeVar

from celery import current_app
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from ninja import Router, Schema
from ninja.responses import Status
from ninja.security import HttpBearer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, field_validator
from pydantic import ValidationError as SchemaError
from typing_extensions import TypedDict  # pydantic reads NotRequired from it before Python 3.12

from inventory import selectors as stock
from inventory.geo import UnknownPostalCode, coordinates
from inventory.models import Product
from oms_core.api import FieldErrorsOut, Money, MoneyOut, PlainText, field_error
from oms_core.emails import normalize_address, validate_email_address
from shipping.models import ShipmentStatus, TrackingEvent

from .. import services
from ..exceptions import CancellationRefused, EditRefused, IntakeConflict, InvalidTransition, OrderChanged, OrderError
from ..models import Channel, Order, OrderEvent, OrderIntake, OrderStatus
from ..payments.gateways import GATEWAYS
from ..services import status_links
from ..services.channels import authenticate_api_key
from ..services.intake import placed_at_problem

router = Router(tags=["orders"])

MAX_LINES = 500


class ChannelKey(HttpBearer):
    """`Authorization: Bearer <key>`: a key issued to the channel in the console (Channels → API keys)."""

    def authenticate(self, request: HttpRequest, token: str) -> Channel | None:
        row = authenticate_api_key(token)
        return row.channel if row is not None else None


# --- input -----------------------------------------------------------------------------


def text(*, max_length: int, min_length: int = 0) -> type[str]:
    """Text as the API takes it: stripped, within these lengths, and plain (no control characters)."""
    constraints = StringConstraints(strip_whitespace=True, min_length=min_length or None, max_length=max_length)
    return Annotated[str, constraints, PlainText]


Text = text(max_length=200)
RequiredText = text(min_length=1, max_length=200)
# The fields the business checks read, named so that a body with schema errors can have its valid ones checked.
Sku = text(min_length=1, max_length=64)
CurrencyCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$"), PlainText
]
CountryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$"), PlainText
]
PostalCode = text(min_length=1, max_length=20)
GatewayCode = text(min_length=1, max_length=30)
ExternalId = text(min_length=1, max_length=100)
EmailText = text(min_length=3, max_length=254)
Phone = text(max_length=40)
City = text(min_length=1, max_length=100)
State = text(max_length=50)
Reason = text(min_length=1, max_length=500)
# Path parameters: plain text too (a NUL in an order number is a 400, not a failed query).
ORDER_NUMBER_EXAMPLE = "SO-0001042"  # ORDER_NUMBER_PREFIX and the order's id
OrderNumber = Annotated[str, PlainText, Field(json_schema_extra={"example": ORDER_NUMBER_EXAMPLE})]
PathSku = Annotated[str, PlainText, Field(json_schema_extra={"example": "TEE-1"})]


# The order of the docs (and of docs/reference/api.md): its SKUs are the demo's and the tests'.
ORDER_EXAMPLE = {
    "external_id": "WEB-1001",
    "customer": {"name": "Zoë Álvarez", "email": "zoe@example.com", "phone": "+1 212 555 0100"},
    "shipping_address": {
        "name": "Zoë Álvarez",
        "line1": "350 5th Ave",
        "city": "New York",
        "state": "NY",
        "postal_code": "10118",
        "country": "US",
    },
    "billing_address": None,
    "lines": [{"sku": "TEE-1", "quantity": 2, "unit_price": "24.00"}],
    "currency": "USD",
    "shipping_total": "5.99",
    "tax_total": "3.99",
    "discount_total": "0.00",
    "payment": {"gateway": "test_card", "token": "tok_approve"},
}


class _Strict(BaseModel):
    # A misspelt field is an error, not silently dropped data. Plain pydantic models, not ninja's Schema: the
    # input is JSON, not ORM objects, and Schema's attribute getter (which, with extra="forbid", also validates
    # everything twice) was a tenth of the time of an order. Strict: a JSON value of the type the schema names
    # (a quantity is a number, not "2"; a time is a string, not a Unix timestamp), as clients made from it send.
    model_config = ConfigDict(extra="forbid", strict=True)


class CustomerIn(_Strict):
    name: RequiredText
    email: EmailText = Field(
        description="Internationalised addresses are welcome: a UTF-8 local part (RFC 6531), an IDN domain.",
        json_schema_extra={"format": "idn-email"},
    )
    phone: Phone = ""
    accepts_marketing: bool = False

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = normalize_address(value)
        try:
            validate_email_address(value)
        except DjangoValidationError:
            raise ValueError("not a valid email address") from None
        return value


class AddressIn(_Strict):
    name: RequiredText
    company: Text = ""
    line1: RequiredText
    line2: Text = ""
    city: City
    state: State = ""
    postal_code: PostalCode
    country: CountryCode = "US"
    phone: Phone = ""


class LineIn(_Strict):
    sku: Sku
    quantity: int = Field(ge=1, le=100_000)
    unit_price: Money


class PaymentIn(_Strict):
    gateway: GatewayCode
    token: Text = ""


class OrderIn(_Strict):
    external_id: ExternalId
    customer: CustomerIn
    shipping_address: AddressIn
    billing_address: AddressIn | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    currency: CurrencyCode
    shipping_total: Money = Decimal("0.00")
    tax_total: Money = Decimal("0.00")
    discount_total: Money = Decimal("0.00")
    promised_date: dt.date | None = None
    po_number: str = Field(
        default="",
        max_length=50,
        description="The customer's own reference for the order (a business customer's purchase order number): "
        "printed on the packing slip, the pick list and the label.",
    )
    placed_at: dt.datetime | None = Field(
        default=None,
        description="When the channel took the order, with a time zone offset; now when left out. Refused when "
        "more than a few minutes (10, ORDER_PLACED_AT_MAX_FUTURE_MINUTES) ahead of the OMS's clock, or more than "
        "a year (365 days, ORDER_PLACED_AT_MAX_AGE_DAYS) ago.",
    )
    payment: PaymentIn | None = None

    @field_validator("placed_at")
    @classmethod
    def _placed_at(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return value
        if value.tzinfo is None:
            raise ValueError("needs a time zone offset, e.g. 2026-11-25T14:03:00Z")
        problem = placed_at_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    model_config = ConfigDict(json_schema_extra={"examples": [ORDER_EXAMPLE]})


class CancelIn(_Strict):
    reason: Reason

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "The customer changed their mind."}]})


def inline_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema with its definitions written in place (OpenAPI resolves ``$ref`` from its root)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(
                    {**definitions[ref.removeprefix("#/$defs/")], **{k: v for k, v in node.items() if k != "$ref"}}
                )
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


class CancelLineIn(_Strict):
    sku: Sku
    quantity: int = Field(ge=1, le=100_000, description="Units of this SKU to cancel.")


class CancellationIn(_Strict):
    lines: list[CancelLineIn] = Field(min_length=1, max_length=MAX_LINES)
    reason: Reason

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"lines": [{"sku": "TEE-1", "quantity": 1}], "reason": "Customer asked."}]}
    )


class EditLineIn(_Strict):
    sku: Sku = Field(description="A SKU on the order changes that line; a SKU not on it adds a line.")
    quantity: int = Field(ge=0, le=100_000, description="The line's units after the edit (0 removes the line).")
    unit_price: Money | None = Field(
        default=None, description="A new line's price (the product's price when left out); a line keeps its own."
    )


class EditIn(_Strict):
    lines: list[EditLineIn] = Field(default_factory=list, max_length=MAX_LINES)
    shipping_address: AddressIn | None = Field(
        default=None, description="A new ship-to address (until a label is bought); send lines in another edit."
    )
    shipping_total: Money | None = Field(default=None, description="The order's new shipping, as at intake.")
    tax_total: Money | None = Field(
        default=None, description="The order's new tax, as at intake; left out, it follows the goods."
    )
    discount_total: Money | None = Field(
        default=None, description="The order's new discount, as at intake; left out, it follows the goods."
    )
    expected_version: int | None = Field(
        default=None, description="The `version` an earlier edit answered: refused (409) when the order moved on."
    )
    reason: Reason

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lines": [{"sku": "TEE-1", "quantity": 3}, {"sku": "MUG-1", "quantity": 1}],
                    "reason": "Customer called.",
                }
            ]
        }
    )


# The endpoints read their bodies themselves (every error at once); the docs still show what they take.
ORDER_SCHEMA = inline_schema(OrderIn)
CANCEL_SCHEMA = inline_schema(CancelIn)
CANCELLATION_SCHEMA = inline_schema(CancellationIn)
EDIT_SCHEMA = inline_schema(EditIn)


# --- output ----------------------------------------------------------------------------


class DifferenceOut(BaseModel):
    path: str = Field(description="Where the orders differ, as a JSON path: `lines[0].quantity`.")
    existing: Any = Field(description="The value in the order already placed.")
    received: Any = Field(description="The value in this request.")


class ConflictOut(BaseModel):
    detail: str
    order: str | None = Field(default=None, description="The order concerned: `SO-0001042`.")
    differences: list[DifferenceOut] = Field(default=[], description="For an external id reused: what differs.")


class TotalsOut(BaseModel):
    subtotal: MoneyOut
    shipping: MoneyOut
    tax: MoneyOut
    discount: MoneyOut
    grand_total: MoneyOut


class CustomerOut(BaseModel):
    name: str
    email: str


class AddressOut(BaseModel):
    name: str
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str
    country: str


class LineOut(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: MoneyOut
    quantity_shipped: int
    quantity_returned: int
    quantity_cancelled: int = Field(description="Units cancelled before they shipped (`quantity` is what is left).")


class TrackingLinkOut(BaseModel):
    number: str
    url: str = Field(description="The carrier's tracking page; empty when the carrier has none.")


class ShipmentOut(BaseModel):
    number: str
    status: ShipmentStatus
    warehouse: str
    carrier: str | None
    service: str | None
    estimated_delivery: dt.date | None
    shipped_at: dt.datetime | None
    delivered_at: dt.datetime | None
    tracking: list[TrackingLinkOut]


class TimelineEntryOut(TypedDict):
    at: dt.datetime
    status: str
    description: str
    location: NotRequired[str]  # carrier scans only
    tracking_number: NotRequired[str]  # carrier scans only


class OrderOut(BaseModel):  # built from order_body()'s dict
    number: str
    external_id: str
    po_number: str = Field(default="", description="The customer's own reference (PO number); empty when none.")
    channel: str
    status: OrderStatus
    placed_at: dt.datetime
    currency: str
    totals: TotalsOut
    customer: CustomerOut
    shipping_address: AddressOut
    lines: list[LineOut]
    shipments: list[ShipmentOut]
    timeline: list[TimelineEntryOut]
    status_url: str = Field(
        description="The customer's status page of the order: the link every email about it carries (no login)."
    )


class CancelledLineOut(BaseModel):
    sku: str
    cancelled: int = Field(description="Units cancelled by this request.")
    remaining: int = Field(description="Units the line has left (shipped ones included).")


class CancellationOut(BaseModel):
    order: str
    status: str = Field(
        description="The order's status right after the cancellation (`cancelled` when nothing was left)."
    )
    lines: list[CancelledLineOut]
    total_before: MoneyOut
    grand_total: MoneyOut = Field(description="The order's new total.")
    currency: str
    reason: str


class EditedLineOut(BaseModel):
    sku: str
    before: int = Field(description="Units before the edit (0: a line added).")
    after: int = Field(description="Units after the edit (0: the line removed).")
    unit_price: MoneyOut


class EditPaymentOut(BaseModel):
    increase: MoneyOut = Field(description="Asked of the payment on top of its authorisation (a higher total).")
    reduce: MoneyOut = Field(description="Released from the authorisation (a lower total).")
    refund: MoneyOut = Field(description="Refunded: money captured beyond the new total.")


class EditStockOut(BaseModel):
    reserved: int
    released: int
    waiting: int = Field(description="Units of the order waiting for stock after the edit.")


class EditOut(BaseModel):
    order: str
    status: str = Field(description="The order's status right after the edit.")
    lines: list[EditedLineOut]
    address_changed: bool
    total_before: MoneyOut
    grand_total: MoneyOut = Field(description="The order's new total.")
    currency: str
    promised_before: dt.date | None
    promised_date: dt.date | None = Field(description="The delivery date promised now.")
    stock: EditStockOut | None
    payment: EditPaymentOut | None
    reason: str
    version: int = Field(description="The order's version now: send it as `expected_version` with the next edit.")


class StockWarehouseOut(Schema):
    warehouse: str
    name: str
    available: int


class StockOut(Schema):
    sku: str
    name: str
    available: int
    warehouses: list[StockWarehouseOut]


# --- endpoints -------------------------------------------------------------------------


@router.post(
    "/orders",
    auth=ChannelKey(),
    response={200: OrderOut, 201: OrderOut, 400: FieldErrorsOut, 401: FieldErrorsOut, 409: ConflictOut},
    summary="Place an order",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": ORDER_SCHEMA}}}},
)
def place(request: HttpRequest):
    """Place an order from the signed-in channel.

    Idempotent on `external_id`: sending the same order again returns it
    with 200; sending a different order under an id already used is a 409
    that lists each difference by its JSON path. A new order is 201; it is
    routed to warehouses in the background and its status moves on from
    `received`.

    Bad input is a 400 listing **every** error at once, each with `loc`
    (`["body", "lines", 1, "sku"]`), `path` (`lines[1].sku`, as the body
    has it) and `msg`: the body's shape (missing, misspelt or malformed
    fields) and the business rules (an unknown or inactive SKU, a US postal
    code that is not a ZIP code, a currency other than the channel's, an
    unknown payment gateway), the rules checked on every part of the body
    that is well formed. Nothing is written.
    """
    channel: Channel = request.auth
    payload, errors, raw = _read_body(request, OrderIn)
    if payload is None:
        checked = _checkable_parts(raw)
        products = stock.active_products(sku for _, sku in checked.skus) if checked.skus else {}
        return Status(400, {"detail": errors + _refusals(channel, checked, products)})
    products = stock.active_products(line.sku for line in payload.lines)
    errors = _refusals(channel, _parts(payload), products)
    if errors:
        return Status(400, {"detail": errors})
    try:
        order, created = services.place_order(
            channel=channel,
            data=_order_data(payload),
            actor=f"channel: {channel.name}",
            source=OrderIntake.Source.API,
            products=products,
        )
    except IntakeConflict as conflict:
        return Status(
            409, {"detail": str(conflict), "order": conflict.order.number, "differences": conflict.differences}
        )
    except OrderError as refusal:
        return Status(400, {"detail": [_error((), str(refusal))]})
    if not created:
        return Status(200, order_body(_fetch(channel, order.number)))
    # Just made: its lines and its one timeline event are in hand, and it has no shipments. Routing runs in a
    # worker after commit, unless tasks run in-process (CELERY_TASK_ALWAYS_EAGER): then it has moved on already.
    if current_app.conf.task_always_eager:
        order.refresh_from_db(fields=["status"])
        return Status(201, order_body(order, lines=order.placed_lines, shipments=[]))
    return Status(201, order_body(order, lines=order.placed_lines, shipments=[], events=[order.placed_event]))


@router.get(
    "/orders/{number}",
    auth=ChannelKey(),
    response={200: OrderOut, 400: FieldErrorsOut, 401: FieldErrorsOut, 404: FieldErrorsOut},
    summary="Read an order",
)
def read(request: HttpRequest, number: OrderNumber):
    """The order's status, lines, shipments with tracking, and its customer-facing timeline."""
    order = _fetch(request.auth, number)
    if order is None:
        return Status(404, _not_found(number))
    return Status(200, order_body(order))


@router.post(
    "/orders/{number}/cancel",
    auth=ChannelKey(),
    response={200: OrderOut, 400: FieldErrorsOut, 401: FieldErrorsOut, 404: FieldErrorsOut, 409: ConflictOut},
    summary="Cancel an order",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": CANCEL_SCHEMA}}}},
)
def cancel(request: HttpRequest, number: OrderNumber):
    """Cancel an order before anything has shipped; its stock goes back on sale and the customer is told.

    Cancelling an order already cancelled returns it unchanged (200), so a
    retried request is safe. Once something has shipped the answer is 409.
    """
    channel: Channel = request.auth
    payload, errors, _ = _read_body(request, CancelIn)
    if payload is None:
        return Status(400, {"detail": errors})
    order = _fetch(channel, number)
    if order is None:
        return Status(404, _not_found(number))
    if order.status != OrderStatus.CANCELLED:
        try:
            services.cancel_order(order_id=order.pk, reason=payload.reason, actor=f"channel: {channel.name}")
        except InvalidTransition:
            status = OrderStatus(Order.objects.get(pk=order.pk).status).label.lower()
            return Status(
                409,
                {
                    "detail": f"Order {number} is {status}: only orders not yet shipped can be cancelled.",
                    "order": number,
                },
            )
        order = _fetch(channel, number)
    return Status(200, order_body(order))


IDEMPOTENCY_HEADER = "Idempotency-Key"


@router.post(
    "/orders/{number}/cancellations",
    auth=ChannelKey(),
    response={
        201: CancellationOut,
        400: FieldErrorsOut,
        401: FieldErrorsOut,
        404: FieldErrorsOut,
        409: ConflictOut,
    },
    summary="Cancel some items of an order",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": CANCELLATION_SCHEMA}}},
        "parameters": [
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                "description": "Your id for this cancellation: sending it again returns the first answer.",
            }
        ],
    },
)
def cancel_items(request: HttpRequest, number: OrderNumber):
    """Cancel some units of some lines before they ship; the rest of the order carries on.

    Reserved stock goes back on sale, the totals are computed again (tax
    and discount in proportion to the goods, shipping kept), the payment's
    authorisation is reduced (or money captured beyond the new total
    refunded) and the customer is emailed. Cancelling every unit left
    cancels the order. Send an `Idempotency-Key` header: the same key again
    returns the first answer (201, same body) and cancels nothing more; the
    same key with other lines is a 409.

    A 400 names the field: `lines[1].quantity` when more units are asked
    than can be cancelled (shipped, or packed in a shipment: cancel the
    shipment first), `lines[0].sku` for a SKU not on the order; nothing is
    written. A 409 when the order has nothing left to cancel.
    """
    channel: Channel = request.auth
    key = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
    payload, errors, _ = _read_body(request, CancellationIn)
    if not key or len(key) > 100:
        errors = [field_error(("header", IDEMPOTENCY_HEADER), "Send a key of 1 to 100 characters."), *errors]
    if errors:
        return Status(400, {"detail": errors})
    order = _fetch(channel, number)
    if order is None:
        return Status(404, _not_found(number))
    lines = list(order.lines.all())
    quantities, index_of, errors = {}, {}, []
    for index, wanted in enumerate(payload.lines):
        line = next((line for line in lines if line.sku == wanted.sku), None)
        if line is None:
            errors.append(_error(("lines", index, "sku"), f"SKU {wanted.sku!r} is not on order {number}."))
        elif line.pk in quantities:
            errors.append(_error(("lines", index, "sku"), f"SKU {wanted.sku!r} is listed twice; list it once."))
        else:
            quantities[line.pk], index_of[line.pk] = wanted.quantity, index
    if errors:
        return Status(400, {"detail": errors})
    try:
        result = services.cancel_lines(
            order_id=order.pk,
            quantities=quantities,
            reason=payload.reason,
            actor=f"channel: {channel.name}",
            idempotency_key=key,
        )
    except CancellationRefused as refusal:
        if not refusal.problems:
            return Status(409, {"detail": str(refusal), "order": number})
        return Status(
            400,
            {
                "detail": [
                    _error(("lines", index_of[line_id], "quantity"), message)
                    for line_id, message in refusal.problems.items()
                ]
            },
        )
    asked = sorted((wanted.sku, wanted.quantity) for wanted in payload.lines)
    body = cancellation_body(order, result.event)
    if result.replayed and sorted((line["sku"], line["cancelled"]) for line in body["lines"]) != asked:
        return Status(
            409,
            {"detail": f"{IDEMPOTENCY_HEADER} {key!r} was used for another cancellation of {number}.", "order": number},
        )
    return Status(201, body)


def cancellation_body(order: Order, event: OrderEvent) -> dict:
    """A cancellation as the API answers it, from its timeline entry (so that a replay answers the same)."""
    data = event.data
    return {
        "order": order.number,
        "status": data.get("status") or data.get("to"),
        "lines": [
            {"sku": line["sku"], "cancelled": line["cancelled"], "remaining": line["after"]} for line in data["lines"]
        ],
        "total_before": f"{Decimal(str(data['total_before'])):.2f}",
        "grand_total": f"{Decimal(str(data['total_after'])):.2f}",
        "currency": order.currency,
        "reason": data["reason"],
    }


@router.post(
    "/orders/{number}/edits",
    auth=ChannelKey(),
    response={201: EditOut, 400: FieldErrorsOut, 401: FieldErrorsOut, 404: FieldErrorsOut, 409: ConflictOut},
    summary="Edit an order's items or its ship-to address",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": EDIT_SCHEMA}}},
        "parameters": [
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                "description": "Your id for this edit: sending it again returns the first answer.",
            }
        ],
    },
)
def edit(request: HttpRequest, number: OrderNumber):
    """Change an order before it ships: line quantities (0 removes a line), new lines, or the ship-to address.

    `lines` lists the lines that change, each by SKU with its units after the edit; a SKU not on the order is
    a new line (at `unit_price`, else the product's price). The totals are computed again as at intake: the
    `shipping_total`, `tax_total` and `discount_total` you send are taken as sent; left out, tax and discount
    follow the goods and shipping stays. Units taken off go back on sale, units added are reserved at once (or
    wait for stock: the order is backordered), the promised date is computed again, and the payment follows:
    a higher total is authorised on top (declined: the order is held for its payment), a lower one released or
    refunded. A new `shipping_address` (until a label is bought) must have a ZIP code whose city and state
    agree; the order is routed, quoted and promised again from it. The customer gets one email with the change
    and the date. Send the address and the lines as two edits.

    Send an `Idempotency-Key` header: the same key again returns the first answer (201, same body) and changes
    nothing more. Bad input is a 400 listing every error, each naming its field (`lines[1].quantity` when
    fewer units are asked than are shipped or packed, `lines[0].sku` for an unknown SKU,
    `shipping_address.city` when it is not the ZIP code's); nothing is written. A 409 when the order can no
    longer change (shipped, cancelled, a label bought) or moved on since `expected_version`.
    """
    channel: Channel = request.auth
    key = (request.headers.get(IDEMPOTENCY_HEADER) or "").strip()
    payload, errors, _ = _read_body(request, EditIn)
    if not key or len(key) > 100:
        errors = [field_error(("header", IDEMPOTENCY_HEADER), "Send a key of 1 to 100 characters."), *errors]
    if payload is not None:
        if not payload.lines and payload.shipping_address is None:
            errors.append(_error(("lines",), "Send the lines that change, or a new shipping_address."))
        if payload.lines and payload.shipping_address is not None:
            errors.append(_error(("shipping_address",), "Send the address and the lines as two edits."))
        if payload.shipping_address is not None and payload.shipping_address.country == "US":
            try:
                coordinates(payload.shipping_address.postal_code, "US")
            except UnknownPostalCode:
                postal_code = payload.shipping_address.postal_code
                errors.append(_error(("shipping_address", "postal_code"), f"{postal_code!r} is not a US ZIP code."))
    if errors:
        return Status(400, {"detail": errors})
    order = _fetch(channel, number)
    if order is None:
        return Status(404, _not_found(number))
    actor = f"channel: {channel.name}"
    try:
        if payload.shipping_address is not None:
            changed = services.change_shipping_address(
                order_id=order.pk,
                address=services.AddressData(**payload.shipping_address.model_dump()),
                reason=payload.reason,
                actor=actor,
                expected_version=payload.expected_version,
                idempotency_key=key,
            )
            body = edit_body(order.pk, changed.event, address_changed=True)
        else:
            totals = {
                name: getattr(payload, name)
                for name in ("shipping_total", "tax_total", "discount_total")
                if getattr(payload, name) is not None
            }
            result = services.edit_lines(
                order_id=order.pk,
                changes=[
                    {"sku": line.sku, "quantity": line.quantity, "unit_price": line.unit_price}
                    for line in payload.lines
                ],
                totals=totals,
                reason=payload.reason,
                actor=actor,
                expected_version=payload.expected_version,
                idempotency_key=key,
            )
            body = edit_body(order.pk, result.event, address_changed=False)
            asked = sorted((line.sku, line.quantity) for line in payload.lines)
            if result.replayed and sorted((line["sku"], line["after"]) for line in body["lines"]) != asked:
                return Status(
                    409,
                    {"detail": f"{IDEMPOTENCY_HEADER} {key!r} was used for another edit of {number}.", "order": number},
                )
    except EditRefused as refusal:
        if not refusal.problems:
            return Status(409, {"detail": str(refusal), "order": number})
        return Status(
            400, {"detail": [_error(_edit_loc(where), message) for where, message in refusal.problems.items()]}
        )
    except OrderChanged as refusal:
        return Status(409, {"detail": str(refusal), "order": number})
    except DjangoValidationError as invalid:
        return Status(
            400,
            {
                "detail": [
                    _error(("shipping_address", name), message)
                    for name, messages in invalid.message_dict.items()
                    for message in messages
                ]
            },
        )
    except OrderError as refusal:
        return Status(409, {"detail": str(refusal), "order": number})
    return Status(201, body)


def _edit_loc(where: str) -> tuple:
    """A service's field (``changes[1].quantity``, ``city``, ``tax_total``) as the body's path."""
    if where.startswith("changes"):
        rest = where.removeprefix("changes")
        if not rest:
            return ("lines",)
        index, _, name = rest.removeprefix("[").partition("]")
        return ("lines", int(index), *([name.removeprefix(".")] if name else []))
    if where in ("shipping_total", "tax_total", "discount_total"):
        return (where,)
    return ("shipping_address", where)


def edit_body(order_id: int, event: OrderEvent, *, address_changed: bool) -> dict:
    """An edit as the API answers it, from its timeline entry (so that a replay answers the same)."""
    order = Order.objects.get(pk=order_id)
    data = event.data

    def money(value) -> str:
        return f"{Decimal(str(value)):.2f}"

    def day(value):
        return dt.date.fromisoformat(str(value)[:10]) if value else None

    payment = data.get("payment")
    return {
        "order": order.number,
        "status": order.status,
        "lines": [
            {
                "sku": line["sku"],
                "before": line["before"],
                "after": line["after"],
                "unit_price": money(line["unit_price"]),
            }
            for line in data.get("lines", [])
        ],
        "address_changed": address_changed,
        "total_before": money(data.get("total_before", order.grand_total)),
        "grand_total": money(data.get("total_after", order.grand_total)),
        "currency": order.currency,
        "promised_before": day(data.get("promised_before")),
        "promised_date": day(data.get("promised_after")),
        "stock": data.get("stock"),
        "payment": {name: money(payment.get(name, 0)) for name in ("increase", "reduce", "refund")}
        if payment
        else None,
        "reason": data["reason"],
        "version": services.order_version(order),
    }


@router.get(
    "/stock/{sku}",
    auth=ChannelKey(),
    response={200: StockOut, 400: FieldErrorsOut, 401: FieldErrorsOut, 404: FieldErrorsOut},
    summary="Stock of a SKU",
)
def stock_of(request: HttpRequest, sku: PathSku):
    """Units of the SKU this channel can sell now, per warehouse and in total.

    What is reserved for orders and what is held back from this channel
    (safety stock) is already taken off; inactive warehouses and warehouses
    this channel is never routed to are left out.
    """
    product = Product.objects.filter(sku=sku, is_active=True).first()
    if product is None:
        return Status(404, {"detail": [field_error(("path", "sku"), f"Unknown SKU {sku!r}.")]})
    rows = stock.channel_stock(product, channel_id=request.auth.pk)
    return Status(
        200,
        {
            "sku": product.sku,
            "name": product.name,
            "available": sum(row.available for row in rows),
            "warehouses": [
                {"warehouse": r.warehouse_code, "name": r.warehouse_name, "available": r.available} for r in rows
            ],
        },
    )


# --- helpers ---------------------------------------------------------------------------


M = TypeVar("M", bound=BaseModel)


def _read_body(request: HttpRequest, model: type[M]) -> tuple[M | None, list[dict], object]:
    """The JSON body as ``model`` (one validation, straight from the bytes); else None, every error, the raw JSON.

    The raw JSON (None when the body is not JSON) lets the caller check the parts of a bad body that are good.
    """
    body = request.body
    try:
        return model.model_validate_json(body), [], None
    except SchemaError as invalid:
        problems = invalid.errors(include_url=False, include_context=False, include_input=False)
    if not body.strip():
        return None, [_error((), "The body is empty: send the JSON object.")], None
    if any(problem["type"] == "json_invalid" for problem in problems):
        return None, [_error((), f"Not valid JSON: {problems[0]['msg'].removeprefix('Invalid JSON: ')}.")], None
    errors = [_error(problem["loc"], problem["msg"].removeprefix("Value error, ")) for problem in problems]
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):  # pydantic read it; a stricter parser may not
        raw = None
    return None, errors, raw


def _error(loc, message: str) -> dict:
    return field_error(("body", *loc), message)


@dataclass(frozen=True)
class _Checkable:
    """The parts of an order the business rules look at."""

    currency: str | None
    postal_codes: list[tuple[str, str, str]]  # (address key, country, postal code)
    skus: list[tuple[int, str]]  # (line index, SKU)
    gateway: str | None


def _parts(payload: OrderIn) -> _Checkable:
    addresses = (("shipping_address", payload.shipping_address), ("billing_address", payload.billing_address))
    return _Checkable(
        currency=payload.currency,
        postal_codes=[(key, address.country, address.postal_code) for key, address in addresses if address],
        skus=[(index, line.sku) for index, line in enumerate(payload.lines)],
        gateway=payload.payment.gateway if payload.payment is not None else None,
    )


_VALID = {kind: TypeAdapter(kind) for kind in (Sku, CurrencyCode, CountryCode, PostalCode, GatewayCode)}


def _valid(kind, container: object, key: str, default: object = None) -> str | None:
    """``container[key]`` as the schema reads it (stripped, upper-cased...), or None when it is missing or bad."""
    if not isinstance(container, dict):
        return None
    value = container.get(key, default)
    if value is None:
        return None
    try:
        return _VALID[kind].validate_python(value)
    except SchemaError:
        return None


def _checkable_parts(raw: object) -> _Checkable:
    """The well-formed parts of a body that failed the schema: the rules are checked on these too."""
    if not isinstance(raw, dict):
        return _Checkable(None, [], [], None)
    postal_codes = []
    for key in ("shipping_address", "billing_address"):
        address = raw.get(key)
        country, postal_code = _valid(CountryCode, address, "country", "US"), _valid(PostalCode, address, "postal_code")
        if country and postal_code:
            postal_codes.append((key, country, postal_code))
    lines = raw.get("lines")
    skus = []
    if isinstance(lines, list) and len(lines) <= MAX_LINES:
        skus = [(index, sku) for index, line in enumerate(lines) if (sku := _valid(Sku, line, "sku"))]
    return _Checkable(
        currency=_valid(CurrencyCode, raw, "currency"),
        postal_codes=postal_codes,
        skus=skus,
        gateway=_valid(GatewayCode, raw.get("payment"), "gateway"),
    )


def _refusals(channel: Channel, order: _Checkable, products: dict[str, Product]) -> list[dict]:
    """What the schema cannot see: the channel's currency, real postal codes, known SKUs, known gateways."""
    errors = []
    if order.currency is not None and order.currency != channel.default_currency.upper():
        errors.append(
            _error(("currency",), f"{channel.name} sells in {channel.default_currency.upper()}, not {order.currency}.")
        )
    for key, country, postal_code in order.postal_codes:
        if country == "US":
            try:
                coordinates(postal_code, "US")
            except UnknownPostalCode:
                errors.append(_error((key, "postal_code"), f"{postal_code!r} is not a US ZIP code."))
    for index, sku in order.skus:
        if sku not in products:
            errors.append(_error(("lines", index, "sku"), f"Unknown SKU {sku!r}."))
    if order.gateway is not None and order.gateway not in GATEWAYS:
        errors.append(
            _error(("payment", "gateway"), f"Unknown gateway {order.gateway!r}; known: {', '.join(sorted(GATEWAYS))}.")
        )
    return errors


def _order_data(payload: OrderIn) -> services.OrderData:
    def address(data: AddressIn | None) -> services.AddressData | None:
        return services.AddressData(**data.model_dump()) if data is not None else None

    return services.OrderData(
        external_id=payload.external_id,
        customer=services.CustomerData(**payload.customer.model_dump()),
        shipping_address=address(payload.shipping_address),
        billing_address=address(payload.billing_address),
        lines=[
            services.LineData(sku=line.sku, quantity=line.quantity, unit_price=line.unit_price)
            for line in payload.lines
        ],
        currency=payload.currency,
        shipping_total=payload.shipping_total,
        tax_total=payload.tax_total,
        discount_total=payload.discount_total,
        promised_date=payload.promised_date,
        po_number=payload.po_number,
        placed_at=payload.placed_at,
        payment=services.PaymentData(**payload.payment.model_dump()) if payload.payment else None,
    )


def _not_found(number: str) -> dict:
    return {"detail": [field_error(("path", "number"), f"No order {number} from this channel.")]}


def _fetch(channel: Channel, number: str) -> Order | None:
    return (
        Order.objects.filter(channel=channel, number=number)
        .select_related("channel", "customer", "shipping_address")
        .prefetch_related("lines", "shipments__parcels", "shipments__service__vendor", "shipments__warehouse")
        .first()
    )


# What a customer may see of the timeline: status moves (never holds or their reasons) and carrier scans.
CUSTOMER_STATUS_TEXT = {
    OrderStatus.RECEIVED: "Order received",
    OrderStatus.ALLOCATED: "Being prepared",
    OrderStatus.BACKORDERED: "Waiting for stock",
    OrderStatus.PARTIALLY_SHIPPED: "Partly shipped",
    OrderStatus.SHIPPED: "Shipped",
    OrderStatus.DELIVERED: "Delivered",
    OrderStatus.CANCELLED: "Cancelled",
}


def order_body(order: Order, *, lines=None, shipments=None, events=None) -> dict:
    """The order as the API shows it; ``lines``, ``shipments`` and timeline ``events`` when the caller has them."""
    shipments = list(order.shipments.all()) if shipments is None else shipments
    lines = order.lines.all() if lines is None else lines
    address = order.shipping_address
    return {
        "number": order.number,
        "external_id": order.external_id,
        "po_number": order.po_number,
        "channel": order.channel.code,
        "status": order.status,
        "placed_at": order.placed_at,
        "currency": order.currency,
        "totals": {
            "subtotal": str(order.subtotal),
            "shipping": str(order.shipping_total),
            "tax": str(order.tax_total),
            "discount": str(order.discount_total),
            "grand_total": str(order.grand_total),
        },
        "customer": {"name": order.customer.name, "email": order.customer.email},
        "shipping_address": {
            "name": address.name,
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "state": address.state,
            "postal_code": address.postal_code,
            "country": address.country,
        },
        "lines": [
            {
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
                "quantity_shipped": line.quantity_shipped,
                "quantity_returned": line.quantity_returned,
                "quantity_cancelled": line.quantity_cancelled,
            }
            for line in lines
        ],
        "shipments": [_shipment_body(shipment) for shipment in shipments],
        "timeline": _customer_timeline(order, shipments, events),
        "status_url": status_links.status_url(order),  # made now if no email has carried it yet
    }


def _shipment_body(shipment) -> dict:
    vendor = shipment.service.vendor if shipment.service_id else None
    return {
        "number": shipment.number,
        "status": shipment.status,
        "warehouse": shipment.warehouse.code,
        "carrier": vendor.name if vendor else None,
        "service": shipment.service.name if shipment.service_id else None,
        "estimated_delivery": shipment.estimated_delivery.isoformat() if shipment.estimated_delivery else None,
        "shipped_at": shipment.shipped_at.isoformat() if shipment.shipped_at else None,
        "delivered_at": shipment.delivered_at.isoformat() if shipment.delivered_at else None,
        "tracking": [
            {"number": parcel.tracking_number, "url": vendor.tracking_url(parcel.tracking_number) if vendor else ""}
            for parcel in shipment.parcels.all()
            if parcel.tracking_number
        ],
    }


def _customer_timeline(order: Order, shipments, events=None) -> list[dict]:
    entries = []
    if events is None:
        events = order.events.filter(kind__in=[OrderEvent.Kind.PLACED, OrderEvent.Kind.STATUS_CHANGED])
    for event in events:
        status = OrderStatus.RECEIVED if event.kind == OrderEvent.Kind.PLACED else event.data.get("to")
        if event.data.get("from") == OrderStatus.ON_HOLD:
            continue  # released from a hold: the customer never saw the hold
        if status in CUSTOMER_STATUS_TEXT:
            entries.append({"at": event.created_at, "status": status, "description": CUSTOMER_STATUS_TEXT[status]})
    scans = TrackingEvent.objects.filter(shipment__in=shipments).order_by("occurred_at", "id") if shipments else []
    for scan in scans:
        entries.append(
            {
                "at": scan.occurred_at,
                "status": scan.status,
                "description": scan.description or scan.get_status_display(),
                "location": scan.location,
                "tracking_number": scan.tracking_number,
            }
        )
    entries.sort(key=lambda entry: entry["at"])
    for entry in entries:
        entry["at"] = entry["at"].isoformat()
    return entries
