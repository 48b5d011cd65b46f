"""The customer's order status page: the link every email of an order carries, the page it opens, who may revoke it."""

import datetime as dt
import hashlib
import html
import http.server
import importlib
import re
import threading

import pytest
from django.apps import apps
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from notifications.models import Message
from notifications.services.sending import send_messages
from orders import services
from orders.exceptions import OrderError
from orders.models import OrderEvent, OrderStatus, OrderStatusLink
from orders.services import notify
from shipping.models import Vendor
from tests.factories import OrderFactory, UserFactory
from tests.shipping.conftest import carriers  # noqa: F401 - fixtures used here

pytestmark = pytest.mark.django_db
TRACK = "https://track.example/{tracking_number}"


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    """Each test counts its own requests (the rate limit), in memory."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sp"}}
    from django.core.cache import cache

    cache.clear()


def customer_urls(order) -> list[str]:
    """The status page address in each customer email of the order, as sent: the rows still queued go out now."""
    queued = Message.objects.filter(order=order, audience=Message.Audience.CUSTOMER, status=Message.Status.PENDING)
    send_messages(message_ids=list(queued.values_list("pk", flat=True)))
    sent = [email for email in mail.outbox if email.to == [order.customer.email]]
    return [re.search(r"See your order: (\S+)", email.body).group(1) for email in sent]


def path_of(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def token_of(url: str) -> str:
    return re.fullmatch(r".*/orders/status/([^/]+)/", url).group(1)


@pytest.fixture
def shipped(sites, stock, order_to, products, carriers, django_capture_on_commit_callbacks):  # noqa: F811
    """An order shipped from EWR with a label, handed to the carrier, and scanned once on the way."""
    Vendor.objects.update(tracking_url_template=TRACK)
    stock(sites["EWR"], products[0], 5)
    order = order_to("NYC", [(products[0], 2)], promised_date=timezone.localdate() + dt.timedelta(days=6))
    notify.order_received(order)  # the intake's confirmation
    services.allocate_order(order_id=order.pk, actor="test")
    (shipment,) = services.create_shipments(order_id=order.pk, actor="test")
    with django_capture_on_commit_callbacks(execute=True):
        services.buy_labels(shipment_id=shipment.pk, actor="test")
    services.ship_shipment(shipment_id=shipment.pk, actor="test")
    tracking = shipment.parcels.get().tracking_number
    services.record_tracking(
        tracking_number=tracking,
        status="in_transit",
        occurred_at=timezone.now(),
        actor="test",
        source="admin",
        description="Departed the sort facility",
        location="Secaucus, NJ",
    )
    order.refresh_from_db()
    return order, shipment, tracking


# --- the link ------------------------------------------------------------------------------------------------


def test_the_first_customer_email_makes_the_link_and_every_later_email_carries_the_same(shipped, settings):
    order, _, _ = shipped

    urls = customer_urls(order)

    assert len(urls) >= 3  # received, in process, shipped
    assert len(set(urls)) == 1
    assert urls[0].startswith(f"{settings.OMS_BASE_URL}/orders/status/")
    assert OrderStatusLink.objects.filter(order=order).count() == 1


def test_ops_alerts_carry_no_customer_link(order, settings):
    settings.OPS_EMAILS = ["ops@example.com"]
    notify.order_on_hold(order, reason="Fraud check", actor="test")

    (alert,) = Message.objects.filter(order=order)
    assert "status_url" not in alert.context


def test_the_database_holds_the_token_s_digest_never_the_token(shipped):
    order, _, _ = shipped
    token = token_of(customer_urls(order)[0])

    link = OrderStatusLink.objects.get(order=order)

    assert len(token) >= 43  # 32 bytes, URL-safe base64
    assert link.token_digest == hashlib.sha256(token.encode()).hexdigest()
    stored = " ".join(str(value) for value in OrderStatusLink.objects.filter(pk=link.pk).values().get().values())
    assert token not in stored
    # nor does the outbox: its rows are marked, and the address is made when each is rendered
    outbox = [str(message.context) for message in Message.objects.filter(order=order)]
    assert len(outbox) >= 3
    assert not [context for context in outbox if token in context or "/orders/status/" in context]


def test_an_email_queued_before_the_link_is_revoked_goes_out_with_the_new_link(client, order, superuser):
    notify.order_allocated(order)
    old = customer_urls(order)[0]
    notify.order_cancelled(order, reason="Customer asked")  # queued, not sent yet

    new = services.revoke_status_link(order_id=order.pk, actor=superuser)

    assert customer_urls(order) == [old, new]
    assert client.get(path_of(new)).status_code == 200


def test_the_intake_s_confirmation_carries_the_order_s_link(client, channel, product):
    data = services.OrderData(
        external_id="web-77",
        customer=services.CustomerData(name="Ann Lee", email="ann@example.com"),
        shipping_address=services.AddressData(
            name="Ann Lee", line1="1 Main St", city="Columbus", state="OH", postal_code="43215"
        ),
        lines=[services.LineData(sku=product.sku, quantity=1, unit_price=product.price)],
    )

    order, _ = services.place_order(channel=channel, data=data, actor="test")

    (url,) = customer_urls(order)
    link = OrderStatusLink.objects.get(order=order)
    assert link.token_digest == hashlib.sha256(token_of(url).encode()).hexdigest()
    assert order.number in client.get(path_of(url)).content.decode()


# --- the page ------------------------------------------------------------------------------------------------


def test_the_page_shows_status_delivery_shipment_tracking_and_items_and_nothing_private(client, shipped):
    order, shipment, tracking = shipped
    url = path_of(customer_urls(order)[0])

    response = client.get(url)

    html = response.content.decode()
    assert response.status_code == 200
    assert order.number in html
    assert "On its way" in html
    assert f"Expected delivery: <strong>{order.promised_date:%A} {order.promised_date.day}" in html
    vendor = shipment.service.vendor
    assert f"{vendor.name} · {shipment.service.name}" in html
    assert f'href="https://track.example/{tracking}"' in html
    assert "Departed the sort facility · Secaucus, NJ" in html
    line = order.lines.get()
    assert f'{line.name}</span> <span class="sp-qty">× 2' in html
    assert "Shipping to" in html and order.shipping_address.city in html
    # nothing the emails keep to themselves: the street, the postcode, the customer's email, payment, the timeline
    address = order.shipping_address
    for private in (address.line1, address.postal_code, order.customer.email, "Reserved at", "test"):
        assert private not in html, private
    assert str(order.grand_total) not in html


def test_a_held_order_shows_what_it_was_doing_not_the_hold(client, order):
    notify.order_allocated(order)
    order.status, order.held_from_status = OrderStatus.ON_HOLD, OrderStatus.ALLOCATED
    order.save(update_fields=["status", "held_from_status"])

    html = client.get(path_of(customer_urls(order)[0])).content.decode()

    assert "Being prepared" in html
    assert "hold" not in html.lower()


def test_the_page_is_not_indexed_and_leaks_no_referrer(client, order):
    notify.order_allocated(order)

    response = client.get(path_of(customer_urls(order)[0]))

    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert response["Referrer-Policy"] == "same-origin"
    assert '<meta name="robots" content="noindex, nofollow">' in response.content.decode()


def test_the_page_wears_the_channel_s_brand(client, order):
    order.channel.brand_name = "Acme Outdoors"
    order.channel.support_email = "help@acme.example"
    order.channel.save()
    notify.order_allocated(order)

    html = client.get(path_of(customer_urls(order)[0])).content.decode()

    assert "Acme Outdoors" in html
    assert 'href="mailto:help@acme.example' in html
    assert "To return an item, write to help@acme.example" in html
    assert reverse("order_status_brand_css") in html


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def logo_host():
    """Another site serving the store's logo at /logo.png (and an HTML page at /page), counting what it is asked."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            body, kind = (PNG, "image/png") if self.path == "/logo.png" else (b"<html></html>", "text/html")
            self.send_response(200 if self.path in ("/logo.png", "/page") else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


def test_the_channel_s_logo_is_served_by_the_oms_so_the_page_asks_no_other_site(client, order, logo_host):
    # given a channel whose logo is an image on the store's own site
    site, asked = logo_host
    order.channel.brand_name, order.channel.logo_url = "Acme Outdoors", f"{site}/logo.png"
    order.channel.save()
    notify.order_allocated(order)
    token = token_of(customer_urls(order)[0])

    response = client.get(reverse("order_status_page", args=[token]))

    # then the page names no other site: its logo comes from the OMS, behind the page's own token
    page = response.content.decode()
    assert site not in page
    logo_path = reverse("order_status_logo", args=[token])
    assert f'<img class="sp-logo" src="{logo_path}" alt="Acme Outdoors"' in page
    # and the browser is told to load images from the OMS only
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["img-src"] == "'self' data:"
    assert policy["default-src"] == "'self'"
    # the OMS fetches the logo once, and serves it as the image it is
    for _ in range(2):
        logo = client.get(logo_path)
        assert (logo.status_code, logo["Content-Type"], logo.content) == (200, "image/png", PNG)
    assert asked == ["/logo.png"]
    assert logo["X-Robots-Tag"] == "noindex, nofollow"


@pytest.mark.parametrize("where", ["/page", "/missing.png"])
def test_a_logo_address_that_is_no_image_gets_a_plain_404(client, order, logo_host, where):
    site, _ = logo_host
    order.channel.logo_url = f"{site}{where}"
    order.channel.save()
    notify.order_allocated(order)
    token = token_of(customer_urls(order)[0])

    assert client.get(reverse("order_status_logo", args=[token])).status_code == 404


def test_in_production_the_oms_fetches_no_logo_from_its_own_network(client, order, logo_host, settings):
    # given production settings, and a logo address a manager entered that points at the OMS's own machine
    settings.OMS_LOGO_FETCH_PRIVATE = False
    site, asked = logo_host
    order.channel.logo_url = f"{site}/logo.png"
    order.channel.save()
    notify.order_allocated(order)
    token = token_of(customer_urls(order)[0])

    # then the customer gets no image, and the server on the private address was never asked
    assert client.get(reverse("order_status_logo", args=[token])).status_code == 404
    assert asked == []


def test_the_logo_of_a_token_that_opens_no_page_is_a_plain_404(client, order, logo_host, superuser):
    site, asked = logo_host
    order.channel.logo_url = f"{site}/logo.png"
    order.channel.save()
    notify.order_allocated(order)
    token = token_of(customer_urls(order)[0])
    services.revoke_status_link(order_id=order.pk, actor=superuser)

    assert client.get(reverse("order_status_logo", args=[token])).status_code == 404
    assert client.get(reverse("order_status_logo", args=["A" * 43])).status_code == 404
    assert asked == []


def test_the_page_and_the_emails_wear_the_channel_s_own_colour(client, order, settings):
    # given a store whose colour is rust, in an OMS whose own is teal
    settings.OMS_BRAND_COLOR = "#0f4c5c"
    order.channel.brand_color = "#AA3300"
    order.channel.save()
    notify.order_allocated(order)

    url = customer_urls(order)[0]
    page = client.get(path_of(url)).content.decode()

    # then the page's colour stylesheet is the store's
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]*brand\.css[^"]*)">', page).group(1)
    assert stylesheet == reverse("order_status_brand_css") + "?color=aa3300"
    assert b"--brand: #aa3300;" in client.get(html.unescape(stylesheet)).content
    # and so is the email's banner
    (email,) = [email for email in mail.outbox if email.to == [order.customer.email]]
    (body, _), *_ = email.alternatives
    assert "background:#aa3300;" in body.lower() and "#0f4c5c" not in body


def test_a_channel_without_a_colour_wears_the_oms_s_and_a_made_up_colour_is_ignored(client, order, settings):
    settings.OMS_BRAND_COLOR = "#0f4c5c"
    notify.order_allocated(order)

    page = client.get(path_of(customer_urls(order)[0])).content.decode()

    assert f'<link rel="stylesheet" href="{reverse("order_status_brand_css")}">' in page
    for query in ("", "?color=zzz</style>", "?color=aa33"):
        css = client.get(reverse("order_status_brand_css") + query).content
        assert css == b":root { --brand: #0f4c5c; }\n", query


@pytest.mark.parametrize("colour", ["red", "#ff00", "#12345g", "#1234567"])
def test_a_channel_colour_is_six_hex_digits(order, colour):
    order.channel.brand_color = colour
    with pytest.raises(ValidationError) as refused:
        order.channel.full_clean()
    assert "A colour as #rrggbb, e.g. #0f4c5c." in refused.value.message_dict["brand_color"]


def test_the_brand_colour_is_a_stylesheet(client, settings):
    settings.OMS_BRAND_COLOR = "#aa3300"

    response = client.get(reverse("order_status_brand_css"))

    assert response["Content-Type"].startswith("text/css")
    assert b"--brand: #aa3300;" in response.content


@pytest.mark.parametrize("how", ["unknown", "tampered", "revoked"])
def test_a_token_that_opens_no_live_link_gets_the_same_plain_404(client, order, superuser, how):
    notify.order_allocated(order)
    token = token_of(customer_urls(order)[0])
    if how == "unknown":
        token = "A" * 43
    elif how == "tampered":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    else:
        services.revoke_status_link(order_id=order.pk, actor=superuser)

    response = client.get(reverse("order_status_page", args=[token]))

    assert response.status_code == 404
    html = response.content.decode()
    assert "This link does not open an order." in html
    assert order.number not in html
    assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_too_many_requests_from_one_address_get_429(client, order, settings):
    settings.ORDER_STATUS_PAGE_RATE_LIMIT = 3
    notify.order_allocated(order)
    url = path_of(customer_urls(order)[0])

    answers = [client.get(url, REMOTE_ADDR="203.0.113.7").status_code for _ in range(3)]
    wrong = client.get(reverse("order_status_page", args=["x" * 43]), REMOTE_ADDR="203.0.113.7")
    elsewhere = client.get(url, REMOTE_ADDR="198.51.100.2")

    assert answers == [200, 200, 200]
    assert wrong.status_code == 429  # guesses count too
    assert "Too many requests" in wrong.content.decode()
    assert wrong["Retry-After"] == "60"
    assert elsewhere.status_code == 200


# --- revoking ------------------------------------------------------------------------------------------------


def test_revoking_makes_a_new_link_for_later_emails_and_writes_the_timeline(client, order, superuser):
    notify.order_allocated(order)
    old = customer_urls(order)[0]

    new = services.revoke_status_link(order_id=order.pk, actor=superuser)
    notify.order_cancelled(order, reason="Customer asked")

    assert customer_urls(order) == [old, new]
    assert new != old
    assert client.get(path_of(old)).status_code == 404
    assert client.get(path_of(new)).status_code == 200
    revoked = OrderStatusLink.objects.get(order=order, revoked_at__isnull=False)
    assert revoked.revoked_by == superuser
    event = order.events.get(kind=OrderEvent.Kind.STATUS_LINK)
    assert event.message.startswith("Customer's status page link revoked")


def test_an_order_no_email_has_linked_has_nothing_to_revoke(order, superuser):
    with pytest.raises(OrderError, match="has no status page link to revoke"):
        services.revoke_status_link(order_id=order.pk, actor=superuser)


@pytest.mark.parametrize(("role", "allowed"), [("Operations associate", True), ("Warehouse staff", False)])
def test_the_console_revokes_the_link_for_who_may_hold_orders(client, order, roles, role, allowed):
    notify.order_allocated(order)
    old = path_of(customer_urls(order)[0])
    client.force_login(UserFactory(username="someone", role=role))
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    response = client.post(
        reverse("admin:orders_order_act", args=["revoke-status-link"]), {"ids": str(order.pk)}, follow=True
    )

    assert ('data-action="revoke-status-link"' in page) is allowed
    if allowed:
        assert f"{order.number}: the customer&#x27;s status link revoked" in response.content.decode()
        assert client.get(old).status_code == 404
        assert OrderStatusLink.objects.filter(order=order, revoked_at__isnull=True).count() == 1
    else:
        assert response.status_code == 403
        assert client.get(old).status_code == 200


# --- the API -------------------------------------------------------------------------------------------------


def test_the_api_returns_the_status_url_the_emails_carry(client, channel_key):
    order = OrderFactory(channel=channel_key.channel)

    first = client.get(f"/api/v1/orders/{order.number}", headers=channel_key.headers).json()
    notify.order_allocated(order)

    assert first["status_url"] == customer_urls(order)[0]
    assert client.get(path_of(first["status_url"])).status_code == 200


def test_the_console_s_email_preview_shows_the_order_s_link_and_makes_none(order):
    assert notify.preview_context(event="order_shipped", order_ref=order.number)["status_url"] == ""
    assert not OrderStatusLink.objects.exists()

    notify.order_allocated(order)
    sent = customer_urls(order)[0]

    preview = notify.preview_context(event="order_shipped", order_ref=order.number)
    assert preview["status_url"] == sent


def test_the_migration_takes_the_addresses_out_of_the_outbox_and_the_emails_still_carry_the_link(order):
    notify.order_allocated(order)
    sent = customer_urls(order)[0]
    notify.order_cancelled(order, reason="Customer asked")
    # rows written before the outbox stopped holding addresses
    for message in Message.objects.filter(order=order):
        message.context = {**message.context, "status_url": sent}
        message.context.pop("status_page", None)
        message.save(update_fields=["context"])
    Message.objects.create(key="ops:1", event="order_on_hold", order=order, recipient="ops@example.com", context={})

    importlib.import_module("orders.migrations.0019_outbox_status_page_mark").mark_instead_of_address(apps, None)

    contexts = [message.context for message in Message.objects.filter(order=order).order_by("pk")]
    assert [("status_url" in context, context.get("status_page")) for context in contexts] == [
        (False, True),
        (False, True),
        (False, None),
    ]
    assert customer_urls(order) == [sent, sent]  # the one still queued goes out with the same link


def test_the_console_s_message_page_shows_the_live_link_and_makes_none(client, order, superuser):
    notify.order_allocated(order)
    message = Message.objects.get(order=order, event="order_allocated")
    client.force_login(superuser)
    page = reverse("admin:notifications_message_change", args=[message.pk])

    before = client.get(page).content.decode()
    sent = customer_urls(order)[0]
    after = client.get(page).content.decode()

    assert "/orders/status/" not in before  # no link yet: the preview makes none
    assert OrderStatusLink.objects.filter(order=order).count() == 1  # the one the email made when it was sent
    assert sent in html.unescape(after)


def test_cancelled_items_say_so_on_the_page(client):
    order = OrderFactory(lines=2)
    kept, gone = order.lines.order_by("pk")
    kept.quantity = max(kept.quantity, 2)
    kept.quantity_cancelled, kept.quantity = 1, kept.quantity - 1
    gone.quantity_cancelled, gone.quantity = gone.quantity, 0
    kept.save(update_fields=["quantity", "quantity_cancelled"])
    gone.save(update_fields=["quantity", "quantity_cancelled"])
    notify.order_allocated(order)

    html_page = client.get(path_of(customer_urls(order)[0])).content.decode()

    assert f"× {kept.quantity} (1 cancelled)" in html_page
    assert "× 0" not in html_page
    assert f'<span>{gone.name}</span> <span class="sp-qty">cancelled</span>' in html_page
