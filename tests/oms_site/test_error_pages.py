"""Every console error page is the console's own: branded, the person's name, a plain explanation, the way back.

pytest-django runs with DEBUG off, as production does: Django's handlers serve these pages.
"""

import pytest
from django.conf import settings
from django.urls import reverse

from orders.models import OrderStatus
from tests.factories import OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

HOME = reverse("admin:index")


@pytest.fixture
def wanda(client):
    user = UserFactory(username="wanda", first_name="Wanda", last_name="Kim", role="Warehouse staff")
    client.force_login(user)
    return user


def assert_console_page(response, *, status: int, title: str) -> str:
    page = response.content.decode()
    assert response.status_code == status
    assert settings.OMS_BRAND_NAME in page  # the console's header, not a bare error
    assert f'data-status="{status}"' in page
    assert f"<h1>{title}</h1>" in page
    assert f'href="{HOME}" class="oms-error-home"' in page
    return page


def test_a_forbidden_page_is_the_consoles_403_with_the_persons_name_and_the_way_back(client, wanda):
    came_from = "http://testserver/admin/shipping/labelbatch/"

    response = client.get(reverse("admin:auth_user_change", args=[wanda.pk]), HTTP_REFERER=came_from)

    page = assert_console_page(response, status=403, title="You cannot open this page")
    assert "Your role does not include this page" in page
    assert "You are signed in as <strong>Wanda Kim</strong>." in page
    assert f'<a href="{came_from}" class="oms-error-back">' in page


def test_the_previous_page_is_never_another_site(client, wanda):
    response = client.get(reverse("admin:auth_user_changelist"), HTTP_REFERER="https://evil.example/phish")

    page = assert_console_page(response, status=403, title="You cannot open this page")
    assert "evil.example" not in page
    assert "oms-error-back" not in page  # no way back offered but the console home (and no inline script)
    assert "oms-error-home" in page


def test_a_missing_order_is_the_consoles_404(client, wanda):
    order = OrderFactory()
    missing = order.pk + 1000

    response = client.get(reverse("admin:orders_order_change", args=[missing]))

    page = assert_console_page(response, status=404, title="Page not found")
    assert f"There is no order with id {missing}." in page
    assert "Wanda Kim" in page


@pytest.mark.parametrize("url", ["/admin/orders/nothing-here/", "/no-such-page/"])
def test_an_unknown_address_is_the_consoles_404(client, wanda, url):
    response = client.get(url)

    page = assert_console_page(response, status=404, title="Page not found")
    assert "There is nothing at this address" in page
    assert "Resolver404" not in page and "urlpatterns" not in page


def test_a_refused_form_is_the_consoles_csrf_page_and_changes_nothing(superuser):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(superuser)
    order = OrderFactory(status=OrderStatus.RECEIVED)

    response = browser.post(reverse("admin:orders_order_act", args=["cancel"]), {"ids": str(order.pk), "reason": "x"})

    page = assert_console_page(response, status=403, title="The form was not accepted")
    assert "reload the page, and send the form again" in page
    assert "You are signed in as <strong>boss</strong>." in page
    order.refresh_from_db()
    assert order.status == OrderStatus.RECEIVED


def test_a_fault_is_the_consoles_500(client, wanda, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("oms_site.home.order_queue.order_selectors.capped_counts", broken)
    client.raise_request_exception = False

    response = client.get(HOME)

    page = assert_console_page(response, status=500, title="Something went wrong")
    assert "could not finish this page" in page
    assert "You are signed in as <strong>Wanda Kim</strong>." in page
    assert "the database went away" not in page  # the fault is logged, never shown


def test_a_stale_sign_in_form_is_the_consoles_csrf_page_without_a_name(db):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)

    response = browser.post(reverse("admin:login"), {"username": "wanda", "password": "correct-horse-battery"})

    page = assert_console_page(response, status=403, title="The form was not accepted")
    assert "You are signed in as" not in page
    assert 'id="user-tools"' not in page


# --- the sidebar: a person signed in to the console keeps the lists they may open; a fault's page stays bare ---


@pytest.mark.parametrize(
    ("url", "status", "title"),
    [
        ("/admin/auth/user/", 403, "You cannot open this page"),
        ("/admin/orders/nothing-here/", 404, "Page not found"),
        ("/no-such-page/", 404, "Page not found"),
    ],
)
def test_an_error_page_shows_the_sidebar_with_the_lists_the_person_may_open(client, wanda, url, status, title):
    response = client.get(url)

    page = assert_console_page(response, status=status, title=title)
    assert 'id="oms-nav"' in page
    assert 'data-model="inventory.cyclecount"' in page  # the warehouse's counts, theirs to open
    assert 'data-model="auth.user"' not in page and 'data-group="money"' not in page  # nothing their role lacks


def test_an_error_page_seen_signed_out_has_no_sidebar(client, db):
    response = client.get("/no-such-page/")

    page = assert_console_page(response, status=404, title="Page not found")
    assert 'id="oms-nav"' not in page


def test_the_500_page_has_no_sidebar_even_for_a_signed_in_person(client, wanda, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("oms_site.home.order_queue.order_selectors.capped_counts", broken)
    client.raise_request_exception = False

    response = client.get(HOME)

    page = assert_console_page(response, status=500, title="Something went wrong")
    assert "You are signed in as <strong>Wanda Kim</strong>." in page
    assert 'id="oms-nav"' not in page
