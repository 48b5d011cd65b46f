"""The customer's page of an order, from the link in every email about it: no login, in the channel's brand.

It shows what the emails show and no more: the order's number and status in
a customer's words, the expected delivery, each shipment (carrier, service,
tracking links, the carrier's scans, its items), the order's items, the city
and country it goes to, and how to reach support. No street address, no email
address, no payment, no internal notes or timeline.

An unknown, tampered or revoked token gets the same plain 404 by the same
path (one query by the token's SHA-256, live links only). Requests are
counted per client address in Django's cache: over ORDER_STATUS_PAGE_RATE_LIMIT
a minute, 429.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.core.cache import cache
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from notifications.rendering import brand
from shipping.models import Shipment, ShipmentStatus, TrackingEvent

from .models import Order, OrderStatus, OrderStatusLink
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
COLOR = re.compile(r"#[0-9a-fA-F]{3,8}")
RATE_WINDOW_SECONDS = 60


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
    response["Referrer-Policy"] = "no-referrer"  # the token never leaves in a Referer (the carriers' sites)
    return response


def _over_limit(request: HttpRequest) -> bool:
    """Count this request against its client address; True when over the limit of the current minute."""
    address = get_client_ip_address(request) or "unknown"
    window = int(timezone.now().timestamp()) // RATE_WINDOW_SECONDS
    key = f"order-status-page:{address}:{window}"
    cache.add(key, 0, timeout=RATE_WINDOW_SECONDS * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=RATE_WINDOW_SECONDS * 2)
        count = 1
    return count > settings.ORDER_STATUS_PAGE_RATE_LIMIT


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


def page_context(order: Order) -> dict:
    """What the page shows of ``order`` (its brand as its emails have it)."""
    status = order.held_from_status if order.status == S.ON_HOLD and order.held_from_status else order.status
    headline, meaning = CUSTOMER_STATUS.get(status, CUSTOMER_STATUS[S.RECEIVED])
    address = order.shipping_address
    done = status in (S.DELIVERED, S.CANCELLED)
    return {
        "brand": brand(channel_brand(order.channel)[0]),
        "order": order,
        "headline": headline,
        "meaning": meaning,
        "expected_delivery": None if done else order.promised_date,
        "destination": ", ".join(part for part in (address.city, address.country) if part),
        "shipments": _shipments(order),
        "items": [
            {"name": line.name, "sku": line.sku, "quantity": line.quantity, "shipped": line.quantity_shipped}
            for line in order.lines.all()
        ],
    }


@require_GET
def status_page(request: HttpRequest, token: str) -> HttpResponse:
    """The order's page, a plain 404 for a token that opens none, 429 over the rate limit."""
    if _over_limit(request):
        response = render(request, "status_page/too_many.html", status=429)
        response["Retry-After"] = str(RATE_WINDOW_SECONDS)
        return _headers(response)
    order = _live_order(token)
    if order is None:
        return _headers(render(request, "status_page/not_found.html", status=404))
    return _headers(render(request, "status_page/order.html", page_context(order)))


@require_GET
def brand_css(request: HttpRequest) -> HttpResponse:
    """The brand colour as a stylesheet (the CSP allows no inline style): OMS_BRAND_COLOR, a plain colour."""
    color = settings.OMS_BRAND_COLOR if COLOR.fullmatch(settings.OMS_BRAND_COLOR) else "#0f4c5c"
    response = HttpResponse(f":root {{ --brand: {color}; }}\n", content_type="text/css")
    response["Cache-Control"] = "public, max-age=3600"
    return response
