"""The demo store's product page (/demo-store/): the storefront snippet at work against the demo channel.

A store's page as a store would write it, served by the OMS only so that ``make run`` shows the snippet with
nothing else to install: the demo channel's publishable key and a demo SKU, the script and its optional
stylesheet from the OMS's static files. On when DEMO_STORE_ENABLED (by default in the embedded shape); a 404
otherwise.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from inventory.models import Product
from orders.models import Channel

DEMO_CHANNEL = "webstore"
DEMO_SKU = "TEE-M"


@require_GET
def product_page(request: HttpRequest) -> HttpResponse:
    """A product page of the demo channel's store, with the delivery date for the visitor's ZIP."""
    if not settings.DEMO_STORE_ENABLED:
        raise Http404("The demo store is off (DEMO_STORE_ENABLED).")
    channel = Channel.objects.filter(code=DEMO_CHANNEL, is_active=True).first()
    product = Product.objects.filter(sku=DEMO_SKU, is_active=True).first()
    response = render(
        request,
        "demo_store/product.html",
        {
            "channel": channel,
            "product": product,
            "store_name": (channel.brand_name or channel.name) if channel else "Demo store",
        },
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
