"""The customer's page of an order, from the link in every email about it: no login, in the channel's brand.

It shows what the emails show and no more: the order's number and status in
a customer's words, the expected delivery, each shipment (carrier, service,
tracking links, the carrier's scans, its items), the order's items, the city
and country it goes to, and how to reach support. No street address, no email
address, no payment, no internal notes or timeline.

Within the return window the page also offers the return form
(``orders.returns.services.return_options``): the customer picks lines,
quantities and a reason, and a refund, an exchange or store credit as the
policy allows; the form posts (with CSRF) to the same token's address
(``status_return``), which opens the return through
``request_return``. The page lists the order's returns, each with its label
behind the same token (``status_return_label``).

An unknown, tampered or revoked token gets the same plain 404 by the same
path (one query by the token's SHA-256, live links only), for every view
here. Requests are counted per client address in Django's cache: over
ORDER_STATUS_PAGE_RATE_LIMIT a minute, 429.

The page asks nothing of another site: its Content-Security-Policy allows
images, styles and scripts from the OMS only, and the channel's logo (an
image on the store's own site, as the emails show it) is fetched by the OMS
and served behind the page's token (``status_logo``), kept in the cache.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import logging
import re
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from notifications.rendering import brand
from oms_core import public_http
from oms_core.ratelimit import WINDOW_SECONDS, over_limit
from shipping.models import Shipment, ShipmentStatus, TrackingEvent

from .models import Order, OrderStatus, OrderStatusLink
from .returns import services as returns
from .returns.exceptions import ReturnError, SelfServiceRefused
from .returns.models import ReturnRequest, ReturnResolution, ReturnStatus
from .returns.services.labels import LABELLED
from .returns.services.returns import held_for_exchange
from .returns.views import label_response
from .services.notify import channel_brand
from .services.status_links import digest

S = OrderStatus
# The status in a customer's words: a headline and what it means for them. A hold is never shown: the page
# says what the order was doing before it (held_from_status).
CUSTOMER_STATUS = {
    S.RECEIVED: ("Order received", "We have your order and are getting it ready."),
    S.ALLOCATED: ("Being prepared", "Your items are set aside and being packed."),
    S.BACKORDERED: ("Waiting for stock", "Some items are not in stock yet; we send them as soon as they arrive."),
    S.PARTIALLY_SHIPPED: ("Partly shipped", "Part of your order is on its way; the rest follows."),
    S.SHIPPED: ("On its way", "Everything has left our warehouse."),
    S.DELIVERED: ("Delivered", "Your order has been delivered."),
    S.CANCELLED: ("Cancelled", "This order was cancelled."),
}
SHIPMENT_WORDS = {
    ShipmentStatus.AWAITING_LABEL: "Being packed",
    ShipmentStatus.LABEL_CREATED: "Packed, waiting for the carrier",
    ShipmentStatus.IN_TRANSIT: "In transit",
    ShipmentStatus.DELIVERED: "Delivered",
    ShipmentStatus.EXCEPTION: "Delayed: the carrier reported a problem",
}
R = ReturnStatus
# A return's status in a customer's words.
RETURN_WORDS = {
    R.REQUESTED: "Requested: we are reviewing it, and email you the return label once it is approved.",
    R.AUTHORISED: "Approved: print the label, stick it on the parcel and send it back.",
    R.RECEIVED: "Received: we are checking the items.",
    R.INSPECTED: "Checked: your refund or credit follows.",
    R.REFUNDED: "Refunded.",
    R.CLOSED: "Closed.",
    R.REJECTED: "Not accepted: we have written to you about it.",
}
COLOR = re.compile(r"#[0-9a-fA-F]{3,8}")
CHANNEL_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
RATE_WINDOW_SECONDS = WINDOW_SECONDS
# Nothing from another site: the page's own policy, stricter than the console's (which allows https images).
PAGE_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "object-src 'none'",
    )
)
# The channel's logo, fetched by the OMS: raster images only (an SVG can carry script), small, kept a while.
LOGO_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
LOGO_MAX_BYTES = 512 * 1024
LOGO_TIMEOUT_SECONDS = 5
LOGO_KEEP_SECONDS = 60 * 60
LOGO_RETRY_SECONDS = 5 * 60
logger = logging.getLogger(__name__)


@dataclass
class ShipmentView:
    number: str
    status: str
    carrier: str
    service: str
    estimated_delivery: dt.date | None
    delivered_at: dt.datetime | None
    tracking: list[dict] = field(default_factory=list)
    scans: list[TrackingEvent] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)


def _headers(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "private, no-store"
    # The token never leaves in a Referer to another site (the carriers'); a same-origin form post keeps its
    # Origin header, which CSRF checking reads.
    response["Referrer-Policy"] = "same-origin"
    if response.get("Content-Type", "").startswith("text/html"):
        response["Content-Security-Policy"] = PAGE_POLICY
    return response


def _over_limit(request: HttpRequest) -> bool:
    """Count this request against its client address; True when over the limit of the current minute."""
    return over_limit(request, scope="order-status-page", limit=settings.ORDER_STATUS_PAGE_RATE_LIMIT)


def _live_order(token: str) -> Order | None:
    """The order whose live link has this token (one query by its digest), with what the page shows loaded."""
    link = (
        OrderStatusLink.objects.filter(token_digest=digest(token), revoked_at__isnull=True)
        .select_related("order__channel", "order__shipping_address")
        .first()
    )
    return link.order if link else None


def _shipments(order: Order) -> list[ShipmentView]:
    queryset = (
        Shipment.objects.filter(order=order)
        .exclude(status=ShipmentStatus.CANCELLED)
        .select_related("service__vendor")
        .prefetch_related(
            "parcels",
            "lines",
            Prefetch("tracking_events", queryset=TrackingEvent.objects.order_by("-occurred_at", "-id")),
        )
        .order_by("created_at", "id")
    )
    views = []
    for shipment in queryset:
        vendor = shipment.service.vendor if shipment.service_id else None
        views.append(
            ShipmentView(
                number=shipment.number,
                status=SHIPMENT_WORDS.get(shipment.status, shipment.get_status_display()),
                carrier=vendor.name if vendor else "",
                service=shipment.service.name if shipment.service_id else "",
                estimated_delivery=shipment.estimated_delivery,
                delivered_at=shipment.delivered_at,
                tracking=[
                    {"number": number, "url": vendor.tracking_url(number) if vendor else ""}
                    for number in (parcel.tracking_number for parcel in shipment.parcels.all())
                    if number
                ],
                scans=list(shipment.tracking_events.all()),
                items=[{"name": line.name, "quantity": line.quantity} for line in shipment.lines.all()],
            )
        )
    return views


def _returns(order: Order) -> list[dict]:
    """The order's returns as the customer sees them: number, status, what they chose, items, label."""
    views = []
    for rma in (
        ReturnRequest.objects.filter(order=order)
        .select_related("replacement_order")
        .prefetch_related("lines__replacement_product")
        .order_by("created_at", "id")
    ):
        replacement = rma.replacement_order
        views.append(
            {
                "number": rma.number,
                "status": RETURN_WORDS.get(rma.status, rma.get_status_display()),
                "resolution": rma.get_resolution_display(),
                "items": [
                    {
                        "name": line.name,
                        "quantity": line.quantity,
                        "instead": line.replacement_product.name if line.replacement_product_id else "",
                    }
                    for line in rma.lines.all()
                ],
                "replacement": _replacement_words(replacement) if replacement else "",
                "has_label": rma.status in LABELLED,
            }
        )
    return views


def _replacement_words(replacement: Order) -> str:
    if replacement.status == S.ON_HOLD and not held_for_exchange(replacement):
        return "Your replacement is waiting for our team to check it; we will be in touch."
    if replacement.status == S.ON_HOLD and replacement.held_from_status == S.BACKORDERED:
        return "Your replacement is waiting for stock; it ships once it is in and we have your return."
    if replacement.status == S.ON_HOLD:
        return "Your replacement is set aside and ships as soon as we receive your return."
    if replacement.status in (S.SHIPPED, S.DELIVERED, S.PARTIALLY_SHIPPED):
        return f"Your replacement has shipped (order {replacement.number})."
    if replacement.status == S.CANCELLED:
        return "The replacement was cancelled."
    return f"Your replacement is being prepared (order {replacement.number})."


def page_context(order: Order) -> dict:
    """What the page shows of ``order`` (its brand as its emails have it)."""
    status = order.status_beneath_hold
    headline, meaning = CUSTOMER_STATUS.get(status, CUSTOMER_STATUS[S.RECEIVED])
    address = order.shipping_address
    done = status in (S.DELIVERED, S.CANCELLED)
    own = channel_brand(order.channel)[0]
    return {
        "brand": brand(own),
        # the channel's own colour in the stylesheet's address (the CSP allows no inline style); blank: the OMS's
        "brand_color": own["color"].lstrip("#") if CHANNEL_COLOR.fullmatch(own.get("color", "")) else "",
        "order": order,
        "headline": headline,
        "meaning": meaning,
        "expected_delivery": None if done else order.promised_date,
        "destination": ", ".join(part for part in (address.city, address.country) if part),
        "shipments": _shipments(order),
        "items": [
            {
                "name": line.name,
                "sku": line.sku,
                "quantity": line.quantity,
                "shipped": line.quantity_shipped,
                "cancelled": line.quantity_cancelled,
            }
            for line in order.lines.all()
        ],
        "returns": _returns(order),
        "return_options": returns.return_options(order),
        "exchange": ReturnResolution.EXCHANGE,
    }


@require_GET
def status_page(request: HttpRequest, token: str) -> HttpResponse:
    """The order's page, a plain 404 for a token that opens none, 429 over the rate limit."""
    if _over_limit(request):
        return _too_many(request)
    order = _live_order(token)
    if order is None:
        return _not_found(request)
    context = page_context(order)
    context.update(token=token, opened=request.GET.get("opened", ""), form=return_form(context["return_options"]))
    return _headers(render(request, "status_page/order.html", context))


def return_form(options: returns.ReturnOptions, posted=None, error_field: str = "", error: str = "") -> dict:
    """The return form as the template draws it: each returnable line with its choices, what was chosen (a
    refused form keeps the customer's choices), and the refusal beside the field it names."""
    posted = posted or {}

    def error_for(name: str) -> str:
        return error if error_field == name else ""

    lines = []
    for line in options.lines:
        if not line.returnable:
            continue
        chosen_qty = posted.get(f"qty-{line.line_id}", "0")
        chosen_variant = posted.get(f"variant-{line.line_id}", "")
        lines.append(
            {
                "option": line,
                "quantities": [(n, str(n) == chosen_qty) for n in range(line.returnable + 1)],
                "variants": [(v, str(v.product_id) == chosen_variant) for v in line.variants],
                "qty_error": error_for(f"qty-{line.line_id}"),
                "variant_error": error_for(f"variant-{line.line_id}"),
            }
        )
    resolution = posted.get("resolution", ReturnResolution.REFUND)
    return {
        "lines": lines,
        "reasons": [(value, label, value == posted.get("reason")) for value, label in options.reasons],
        "resolutions": [(value, label, value == resolution) for value, label in options.resolutions],
        "note": posted.get("note", ""),
        "error": error,
        "field_error": {
            name: error_for(name) for name in ("lines", "reason", "resolution", "note", "form") if error_for(name)
        },
    }


def _not_found(request: HttpRequest) -> HttpResponse:
    return _headers(render(request, "status_page/not_found.html", status=404))


def _too_many(request: HttpRequest) -> HttpResponse:
    response = render(request, "status_page/too_many.html", status=429)
    response["Retry-After"] = str(RATE_WINDOW_SECONDS)
    return _headers(response)


def _whole_number(value: str, field_name: str, what: str) -> int:
    try:
        return int(value.strip() or "0")
    except ValueError:
        raise SelfServiceRefused(field_name, f"{what}: enter a whole number.") from None


def return_form_input(post) -> dict:
    """The return form's fields as ``request_return`` takes them; SelfServiceRefused names a field that is not
    even of the right kind (a quantity that is not a number, an item or variant id that is not one)."""
    quantities: dict[int, int] = {}
    exchange: dict[int, int] = {}
    for key in post:
        prefix, _, line_id = key.partition("-")
        if prefix not in ("qty", "variant"):
            continue
        if not line_id.isdigit():
            raise SelfServiceRefused(key, "This form does not match the order: reload the page and try again.")
        value = post.get(key, "")
        if prefix == "qty":
            quantities[int(line_id)] = _whole_number(value, key, "Quantity")
        elif value.strip():
            exchange[int(line_id)] = _whole_number(value, key, "Exchange")
    return {
        "quantities": quantities,
        "exchange": exchange,
        "reason": post.get("reason", ""),
        "resolution": post.get("resolution", ""),
        "note": post.get("note", ""),
    }


@require_POST
def status_return(request: HttpRequest, token: str) -> HttpResponse:
    """Open the return the page's form asks for; the page again naming the refused field (400), or back to the
    page showing the return. The same token check (a plain 404) and rate limit as the page."""
    if _over_limit(request):
        return _too_many(request)
    order = _live_order(token)
    if order is None:
        return _not_found(request)
    try:
        wanted = return_form_input(request.POST)
        rma = returns.request_return(order_id=order.pk, actor=returns.CUSTOMER, **wanted)
    except ReturnError as refusal:  # a SelfServiceRefused names its field; any other refusal is the form's
        context = page_context(order)
        field_name = refusal.field if isinstance(refusal, SelfServiceRefused) else "form"
        form = return_form(context["return_options"], request.POST, field_name, str(refusal))
        context.update(token=token, form=form)
        return _headers(render(request, "status_page/order.html", context, status=400))
    url = reverse("order_status_page", args=[token])
    return redirect(f"{url}?opened={rma.number}#returns", permanent=False)


def form_refused(request: HttpRequest, *, token: str) -> HttpResponse:
    """The return form was refused before it was read (its CSRF token missing or stale): the customer's own page
    saying so, with the way back to their order (the CSRF failure view sends the return form's refusals here).
    A token that opens no page gets the same rate limit and plain 404 as every other route of the page."""
    if _over_limit(request):
        return _too_many(request)
    if _live_order(token) is None:
        return _not_found(request)
    back = reverse("order_status_page", args=[token])
    return _headers(render(request, "status_page/form_refused.html", {"back": back}, status=403))


@require_GET
def status_return_label(request: HttpRequest, token: str, number: str) -> HttpResponse:
    """The return label PDF of one of the order's returns, behind the page's own token (a plain 404 otherwise)."""
    if _over_limit(request):
        return _too_many(request)
    order = _live_order(token)
    rma = ReturnRequest.objects.filter(order=order, number=number).first() if order is not None else None
    if rma is None or rma.status not in LABELLED:
        return _not_found(request)
    return _headers(label_response(rma.pk))


@require_GET
def status_logo(request: HttpRequest, token: str) -> HttpResponse:
    """The logo of the order's channel (as its emails show it), served by the OMS so that the page asks no other
    site; a plain 404 for a token that opens no page, or when the channel has no logo the OMS could fetch."""
    if _over_limit(request):
        return _too_many(request)
    order = _live_order(token)
    address = brand(channel_brand(order.channel)[0]).get("logo_url", "") if order is not None else ""
    logo = channel_logo(address) if address else None
    if logo is None:
        return _not_found(request)
    kind, body = logo
    response = _headers(HttpResponse(body, content_type=kind))
    response["Cache-Control"] = "private, max-age=86400"  # the browser keeps it: a reload asks nothing
    return response


def channel_logo(address: str) -> tuple[str, bytes] | None:
    """The image at a channel's logo address, as (content type, bytes), or None when it is no small raster
    image. Kept in the cache an hour (a failure five minutes), so the store's site is asked once in a while."""
    key = "status-page-logo:" + hashlib.sha256(address.encode()).hexdigest()
    kept = cache.get(key)
    if kept is None:
        kept = _download_logo(address) or ("", b"")
        cache.set(key, kept, timeout=LOGO_KEEP_SECONDS if kept[0] else LOGO_RETRY_SECONDS)
    return kept if kept[0] else None


def _download_logo(address: str) -> tuple[str, bytes] | None:
    """Fetch the logo (http or https only, a short timeout); None, with a warning in the log, when it fails."""
    if urlsplit(address).scheme not in ("http", "https"):
        logger.warning("Channel logo %s: not an http(s) address", address[:200])
        return None
    request = urllib.request.Request(address, headers={"Accept": ", ".join(sorted(LOGO_TYPES))})  # noqa: S310
    opener = public_http.opener(allow_private=settings.OMS_LOGO_FETCH_PRIVATE)
    try:
        with opener.open(request, timeout=LOGO_TIMEOUT_SECONDS) as answer:
            kind = answer.headers.get_content_type()
            body = answer.read(LOGO_MAX_BYTES + 1)
    except (OSError, ValueError, http.client.HTTPException) as error:
        logger.warning("Channel logo %s could not be fetched: %s", address[:200], error)
        return None
    if kind not in LOGO_TYPES or len(body) > LOGO_MAX_BYTES:
        logger.warning("Channel logo %s is no PNG, JPEG, GIF or WebP of at most 512 KB (%s)", address[:200], kind)
        return None
    return kind, body


@require_GET
def brand_css(request: HttpRequest) -> HttpResponse:
    """The brand colour as a stylesheet (the CSP allows no inline style): ``?color=rrggbb`` (the channel's), else
    OMS_BRAND_COLOR; anything but a plain colour is ignored."""
    asked = "#" + request.GET.get("color", "")
    color = asked.lower() if CHANNEL_COLOR.fullmatch(asked) else settings.OMS_BRAND_COLOR
    color = color if COLOR.fullmatch(color) else "#0f4c5c"
    response = HttpResponse(f":root {{ --brand: {color}; }}\n", content_type="text/css")
    response["Cache-Control"] = "public, max-age=3600"
    return response
