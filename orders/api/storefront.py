"""The storefront's API: what a store's own pages ask from the visitor's browser, with the channel's publishable key.

``GET /api/v1/storefront/promise`` is the delivery date a product page shows
("Order within 3 h 12 min — arrives Thu 5 Dec"), from the same delivery
promise as the channels' ``GET /api/v1/promise`` (``shipping.promise``: the
routing allocation would do and the carrier pricing the shipment would get).

The publishable key (``pk_…``) is public by design: it sits in the store's
page. So it can do nothing but this read, and:

- a browser page may read the answer only from the channel's allowed origins
  (CORS: ``Access-Control-Allow-Origin`` names the origin when it is allowed;
  any other ``Origin`` is a 403 without CORS headers); a request without
  ``Origin`` (the OMS's own pages, curl) is answered without CORS headers;
- requests are counted per client address (STOREFRONT_PROMISE_RATE_LIMIT a
  minute, in Django's cache): over it, 429 with ``Retry-After``;
- an unknown, rotated or revoked key is a 401 naming ``key``.

Every refusal names its field as the rest of the API does (``loc``, ``path``,
``msg``); bad input writes nothing (nothing here writes).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from oms_core.api import FieldErrorsOut, control_character_problem, field_error
from oms_core.origins import normalize_origin
from oms_core.ratelimit import WINDOW_SECONDS, over_limit
from shipping.promise import Promise, PromiseError, quote_promise

from ..models import Channel
from ..services.channels import channel_for_publishable_key

router = Router(tags=["storefront"])

US_ZIP = re.compile(r"\d{5}(-\d{4})?", re.ASCII)
COUNTRY = re.compile(r"[A-Za-z]{2}", re.ASCII)
MAX_SKUS = 20
MAX_QUANTITY = 100_000
RATE_SCOPE = "storefront-promise"


class StorefrontPromiseOut(Schema):
    zip: str = Field(description="The postal code as the promise read it (a ZIP+4 is its five digits).")
    deliverable: bool = Field(description="False when no warehouse can supply the items or no service carries them.")
    date: dt.date | None = Field(
        description="The delivery date of the service the order gets: the cheapest arriving by the store's "
        "delivery target (the cheapest of all when there is none), from the warehouse(s) of least landed cost."
    )
    order_by: dt.datetime | None = Field(
        description="The cut-off: an order placed before this instant arrives on `date` (the countdown's end)."
    )
    service: str | None = Field(description="The carrier service that makes the date, e.g. 'Budget Freight Ground'.")
    now: dt.datetime = Field(description="The OMS's clock when it answered: count down from here, not the browser's.")


class Refusal(Exception):
    """A request answered with ``status`` and one error naming ``loc``."""

    def __init__(self, status: int, loc: tuple, message: str) -> None:
        super().__init__(message)
        self.status, self.loc, self.message = status, loc, message


@router.get(
    "/storefront/promise",
    response={
        200: StorefrontPromiseOut,
        400: FieldErrorsOut,
        401: FieldErrorsOut,
        403: FieldErrorsOut,
        429: FieldErrorsOut,
    },
    summary="Delivery date for a product page (publishable key)",
)
def storefront_promise(
    request: HttpRequest,
    response: HttpResponse,
    key: Annotated[str, Query(description="The channel's publishable key, pk_….", example="pk_…")] = "",
    zip: Annotated[str, Query(description="The visitor's ZIP code.", example="10001")] = "",
    sku: Annotated[list[str], Query(description="The SKU(s) on the page; repeat in pairs with qty.")] = [],  # noqa: B006
    qty: Annotated[list[str], Query(description="Units of each sku, 1 when left out.")] = [],  # noqa: B006
    country: Annotated[str, Query(description="ISO 3166-1 alpha-2.", example="US")] = "US",
):
    """When the visitor's order would arrive, and until when to order for that date.

    `?key=pk_…&zip=10001&sku=TEE-1&qty=2`: the date the service the order
    would get delivers from the warehouse(s) routing would use now, the cut-off that
    makes it (`order_by`), the service, and the OMS's clock (`now`). Called
    by the snippet `/static/storefront/delivery-promise.js` from the store's
    page; a page of another origin than the channel's allowed ones gets a
    403 and no CORS headers.
    """
    response["Vary"] = "Origin"
    # Never from a cache: the body carries the server's clock, which the snippet counts down from.
    response["Cache-Control"] = "no-store"
    if over_limit(request, scope=RATE_SCOPE, limit=settings.STOREFRONT_PROMISE_RATE_LIMIT):
        response["Retry-After"] = str(WINDOW_SECONDS)
        return Status(429, {"detail": [field_error(["query"], "Too many requests from this address: wait a minute.")]})
    try:
        channel = _channel(key)
        _allow_origin(request, channel, response)
        items, postal_code, country = _read(zip, sku, qty, country)
        try:
            promise = quote_promise(
                postal_code=postal_code, items=items, country=country, channel_id=channel.pk, now=timezone.now()
            )
        except PromiseError as error:
            message = error.message.replace("postal_code", "zip")
            raise Refusal(400, ("query", *_parameter(error.field)), message) from None
    except Refusal as refusal:
        return Status(refusal.status, {"detail": [field_error(refusal.loc, refusal.message)]})
    return Status(200, answer(promise))


def answer(promise: Promise) -> dict:
    """The storefront's answer from a promise: the date of the service the order gets, its cut-off and its name."""
    body = {
        "zip": promise.postal_code,
        "deliverable": promise.deliverable,
        "date": None,
        "order_by": None,
        "service": None,
        "now": timezone.now(),
    }
    if promise.deliverable:
        last = max(promise.shipments, key=lambda shipment: shipment.chosen.eta)  # the date is when it arrives
        body.update(date=promise.chosen_date, order_by=promise.chosen_order_by, service=last.chosen.label)
    return body


def _channel(key: str) -> Channel:
    channel = channel_for_publishable_key(key.strip())
    if channel is None:
        raise Refusal(
            401,
            ("query", "key"),
            "Missing, unknown or revoked publishable key: copy the channel's current pk_… key from the console.",
        )
    return channel


def _allow_origin(request: HttpRequest, channel: Channel, response: HttpResponse) -> None:
    """Name the page's origin in the CORS header when the channel allows it; refuse any other origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return  # not a cross-origin browser request: the OMS's own pages, a server, curl
    try:
        allowed = normalize_origin(origin) in channel.origins
    except ValueError:
        allowed = False
    if not allowed:
        raise Refusal(
            403,
            ("header", "Origin"),
            f"Origin {origin[:100]!r} is not one of channel {channel.code}'s allowed origins (set in the console).",
        )
    response["Access-Control-Allow-Origin"] = origin


def _read(zip_code: str, skus: list[str], quantities: list[str], country: str) -> tuple[list, str, str]:
    """The items, ZIP and country as the promise takes them; Refusal(400) naming the first bad parameter."""
    zip_code, country = zip_code.strip(), country.strip().upper()
    for name, value in (("zip", zip_code), ("country", country), *(("sku", s) for s in skus)):
        problem = control_character_problem(value)
        if problem is not None:
            raise Refusal(400, ("query", name), f"{name} {problem}.")
    if not COUNTRY.fullmatch(country):
        raise Refusal(400, ("query", "country"), "country must be a two-letter code, e.g. US.")
    if not zip_code:
        raise Refusal(400, ("query", "zip"), "zip is required: the visitor's ZIP code, e.g. 10001.")
    if (country == "US" and not US_ZIP.fullmatch(zip_code)) or len(zip_code) > 20:
        raise Refusal(400, ("query", "zip"), f"zip {zip_code[:20]!r} is not a ZIP code: five digits, e.g. 10001.")
    if not skus:
        raise Refusal(400, ("query", "sku"), "sku is required: the SKU shown on the page, e.g. sku=TEE-1.")
    if len(skus) > MAX_SKUS:
        raise Refusal(400, ("query", "sku"), f"At most {MAX_SKUS} sku values, not {len(skus)}.")
    if len(quantities) > len(skus):
        raise Refusal(400, ("query", "qty"), "More qty values than sku values.")
    counts = []
    for index, text in enumerate(quantities):
        if not text.strip().isdigit() or not 1 <= int(text) <= MAX_QUANTITY:
            raise Refusal(
                400, ("query", "qty", index), f"qty[{index}] must be a whole number from 1 to {MAX_QUANTITY:,}."
            )
        counts.append(int(text))
    counts += [1] * (len(skus) - len(counts))
    return [(s.strip(), n) for s, n in zip(skus, counts, strict=True)], zip_code, country


def _parameter(field: str) -> tuple[str | int, ...]:
    """The promise's field as this endpoint's parameter: ``"sku[1]"`` as ``("sku", 1)``, postal_code as zip."""
    name, _, index = field.partition("[")
    name = "zip" if name == "postal_code" else name
    return (name, int(index.rstrip("]"))) if index.rstrip("]").isdigit() else (name,)
