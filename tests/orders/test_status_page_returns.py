"""The return form on the customer's order status page: posted behind the page's token, with CSRF, and the label."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orders import services
from orders.models import OrderStatus
from orders.returns.models import ReturnRequest, ReturnStatus, VariantGroup
from orders.services.status_links import status_url
from shipping.models import Shipment
from tests.factories import ProductFactory, UserFactory
from tests.returns.conftest import carrier, lines_of, mug, shipped_order, shirt  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    """Each test counts its own requests (the rate limit), in memory."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sr"}}
    from django.core.cache import cache

    cache.clear()


def page_path(order) -> str:
    return "/" + status_url(order).split("://", 1)[1].split("/", 1)[1]


def csrf_client(path: str) -> tuple[Client, str]:
    """A browser-like client that enforces CSRF, with the token the page's form carries."""
    client = Client(enforce_csrf_checks=True)
    page = client.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    return client, token


def test_the_page_offers_the_form_within_the_window(client, shipped_order):  # noqa: F811
    order = shipped_order()
    page = client.get(page_path(order)).content.decode()
    assert "Return or exchange items" in page
    assert f'name="qty-{lines_of(order)["TEE-1"]}"' in page
    assert 'value="refund"' in page and 'value="exchange"' in page and 'value="store_credit"' not in page
    assert "<script>" not in page and "style=" not in page  # the strict CSP: nothing inline


def test_a_customer_posts_a_return_and_sees_it_with_its_label_behind_the_same_token(
    shipped_order,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    order = shipped_order()
    path = page_path(order)
    client, csrf = csrf_client(path)
    tee = lines_of(order)["TEE-1"]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"{path}return/",
            {"csrfmiddlewaretoken": csrf, f"qty-{tee}": "1", "reason": "damaged", "resolution": "refund"},
        )

    rma = ReturnRequest.objects.get(order=order)
    assert response.status_code == 302
    assert response["Location"] == f"{path}?opened={rma.number}#returns"
    assert rma.status == ReturnStatus.AUTHORISED and rma.source == "customer"
    page = client.get(response["Location"]).content.decode()
    assert f"Return {rma.number} · Refund" in page
    assert "We have your return request." in page
    label_path = f"{path}returns/{rma.number}/label.pdf"
    assert f'href="{label_path}"' in page
    label = client.get(label_path)
    assert label.status_code == 200 and label["Content-Type"] == "application/pdf"
    assert b"".join(label.streaming_content).startswith(b"%PDF")


def test_an_exchange_shows_the_replacement_waiting_for_the_return(client, shipped_order, sites, stock):  # noqa: F811
    order = shipped_order()
    large = ProductFactory(sku="TEE-2", name="Tee, large", price=Decimal("20.00"))
    stock(sites["DAL"], large, 2)
    VariantGroup.objects.create(name="Tee").products.add(order.lines.get(sku="TEE-1").product, large)
    path = page_path(order)
    tee = lines_of(order)["TEE-1"]
    assert "Tee, large · 20.00 USD" in client.get(path).content.decode()

    response = client.post(
        f"{path}return/",
        {f"qty-{tee}": "1", f"variant-{tee}": str(large.pk), "reason": "other", "resolution": "exchange"},
    )

    page = client.get(response["Location"]).content.decode()
    rma = ReturnRequest.objects.get(order=order)
    assert rma.replacement_order.status == OrderStatus.ON_HOLD
    assert "Tee → Tee, large" in page
    assert "Your replacement is set aside and ships as soon as we receive your return." in page
    assert "Download the return label" not in page  # 'other' is reviewed first: the label follows by email


def test_an_exchange_on_the_page_refunds_the_items_left_without_a_variant(client, shipped_order, sites, stock):  # noqa: F811
    order = shipped_order()
    large = ProductFactory(sku="TEE-2", name="Tee, large", price=Decimal("20.00"))
    stock(sites["DAL"], large, 2)
    VariantGroup.objects.create(name="Tee").products.add(order.lines.get(sku="TEE-1").product, large)
    path = page_path(order)
    tee, mugs = lines_of(order)["TEE-1"], lines_of(order)["MUG-1"]
    form = client.get(path).content.decode()
    assert '<option value="">No exchange: refund this item</option>' in form
    assert "With an exchange, the items you choose no variant for are refunded." in form

    response = client.post(
        f"{path}return/",
        {
            f"qty-{tee}": "1",
            f"variant-{tee}": str(large.pk),
            f"qty-{mugs}": "1",
            f"variant-{mugs}": "",
            "reason": "other",
            "resolution": "exchange",
        },
    )

    assert response.status_code == 302
    rma = ReturnRequest.objects.get(order=order)
    assert list(rma.replacement_order.lines.values_list("sku", "quantity")) == [("TEE-2", 1)]
    assert dict(rma.lines.values_list("sku", "quantity")) == {"TEE-1": 1, "MUG-1": 1}


def test_a_post_without_the_csrf_token_is_refused(shipped_order):  # noqa: F811
    order = shipped_order()
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"{page_path(order)}return/",
        {f"qty-{lines_of(order)['TEE-1']}": "1", "reason": "damaged", "resolution": "refund"},
    )
    assert response.status_code == 403
    page = response.content.decode()
    assert "The form was not accepted" in page and "Nothing was sent." in page
    assert f'href="{page_path(order)}">Back to your order</a>' in page  # the customer's page, not the console's
    assert not ReturnRequest.objects.exists()


def test_a_post_without_the_csrf_token_to_a_token_that_opens_no_page_gets_the_plain_404():
    client = Client(enforce_csrf_checks=True)

    response = client.post(f"{reverse('order_status_page', args=['A' * 43])}return/", {"reason": "damaged"})

    assert response.status_code == 404
    assert "This link does not open an order." in response.content.decode()


@pytest.mark.parametrize("how", ["unknown", "revoked"])
def test_a_post_with_a_token_that_opens_no_page_gets_the_plain_404_and_writes_nothing(client, shipped_order, how):  # noqa: F811
    order = shipped_order()
    path = page_path(order)
    if how == "revoked":
        services.revoke_status_link(order_id=order.pk, actor=UserFactory(username="boss", is_superuser=True))
    else:
        path = "/orders/status/not-a-token/"

    response = client.post(
        f"{path}return/", {f"qty-{lines_of(order)['TEE-1']}": "1", "reason": "damaged", "resolution": "refund"}
    )

    assert response.status_code == 404
    assert "This link does not open an order." in response.content.decode()
    assert not ReturnRequest.objects.exists()


def test_a_refused_form_names_the_field_keeps_the_choices_and_writes_nothing(client, shipped_order):  # noqa: F811
    order = shipped_order()
    path = page_path(order)
    tee = lines_of(order)["TEE-1"]

    response = client.post(f"{path}return/", {f"qty-{tee}": "5", "reason": "damaged", "resolution": "refund"})

    page = response.content.decode()
    assert response.status_code == 400
    assert "Tee: you can return at most 3 (3 shipped, 0 already returned or in a return). Nothing was sent." in page
    assert re.search(rf'<select name="qty-{tee}" id="qty-{tee}" aria-invalid="true"', page)
    assert '<option value="damaged" selected>' in page
    assert not ReturnRequest.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("qty-abc", "1", "This form does not match the order: reload the page and try again."),
        ("qty-{tee}", "two", "Quantity: enter a whole number."),
        ("qty-{tee}", "-1", "Tee: the quantity must be a whole number, 0 or more."),
    ],
)
def test_a_tampered_form_is_refused_by_name(client, shipped_order, field, value, message):  # noqa: F811
    order = shipped_order()
    tee = lines_of(order)["TEE-1"]
    response = client.post(
        f"{page_path(order)}return/",
        {field.format(tee=tee): value, "reason": "damaged", "resolution": "refund"},
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ReturnRequest.objects.exists()


def test_a_label_opens_only_behind_its_own_order_s_live_token(client, shipped_order):  # noqa: F811
    first, second = shipped_order(), shipped_order()
    rma = services_request(first)
    other_path = page_path(second)
    assert client.get(f"{other_path}returns/{rma.number}/label.pdf").status_code == 404
    assert client.get(f"/orders/status/not-a-token/returns/{rma.number}/label.pdf").status_code == 404
    assert client.get(f"{page_path(first)}returns/{rma.number}/label.pdf").status_code == 200


def services_request(order) -> ReturnRequest:
    from orders.returns import services as returns

    return returns.request_return(
        order_id=order.pk, quantities={lines_of(order)["MUG-1"]: 1}, reason="damaged", resolution="refund"
    )


def test_posts_count_against_the_page_s_rate_limit(client, shipped_order, settings):  # noqa: F811
    order = shipped_order()
    settings.ORDER_STATUS_PAGE_RATE_LIMIT = 2
    path = page_path(order)
    client.get(path)
    client.post(f"{path}return/", {"reason": "damaged", "resolution": "refund"})
    response = client.post(f"{path}return/", {"reason": "damaged", "resolution": "refund"})
    assert response.status_code == 429


def test_the_policy_decides_what_the_page_offers(client, shipped_order):  # noqa: F811
    from orders.returns.models import ReturnPolicy

    order = shipped_order()
    path = page_path(order)
    policy = ReturnPolicy.current()

    policy.store_credit = True
    policy.save()
    assert 'value="store_credit"' in client.get(path).content.decode()

    policy.self_service = False
    policy.save()
    page = client.get(path).content.decode()
    assert "Return or exchange items" not in page
    assert "Returns are arranged by our support team: write to us with your order number." in page
    response = client.post(
        f"{path}return/", {f"qty-{lines_of(order)['TEE-1']}": "1", "reason": "damaged", "resolution": "refund"}
    )
    assert response.status_code == 400
    assert "Returns are not opened on this page: write to our support team." in response.content.decode()
    assert not ReturnRequest.objects.exists()


def test_the_reasons_say_the_restocking_fee_the_policy_takes_before_the_customer_sends(client, shipped_order):  # noqa: F811
    from orders.returns.models import ReasonRule, ReturnPolicy

    order = shipped_order()
    policy = ReturnPolicy.current()
    ReasonRule.objects.filter(policy=policy, reason="no_longer_wanted").update(restocking_fee_percent=Decimal("15"))
    ReasonRule.objects.filter(policy=policy, reason="damaged").update(
        restocking_fee_percent=Decimal("10"), our_error=True
    )

    page = client.get(page_path(order)).content.decode()

    reasons = dict(re.findall(r'<option value="(\w+)"[^>]*>([^<]+)</option>', page))
    assert reasons["no_longer_wanted"] == "No longer wanted (15 % restocking fee)"
    assert reasons["damaged"] == "Damaged"  # our error: never a fee
    assert reasons["other"] == "Other"


def test_past_the_window_the_page_says_when_it_ended(client, shipped_order):  # noqa: F811
    from orders.returns.models import ReturnPolicy

    order = shipped_order()
    ReturnPolicy.objects.filter(pk=ReturnPolicy.current().pk).update(window_days=0)
    # not delivered: the window runs from the day it shipped, three days ago
    Shipment.objects.filter(order=order).update(shipped_at=timezone.now() - dt.timedelta(days=3))

    page = client.get(page_path(order)).content.decode()

    assert "Return or exchange items" not in page
    assert "The 0-day return window for this order ended on" in page
