"""Signing in to the console: wrong passwords lock an account and an address; idle sessions end."""

import time

import pytest
from axes.models import AccessAttempt

from oms_site.middleware import LAST_SEEN
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
RIGHT = "correct-horse-battery"


def sign_in(client, username, password, address="203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_an_account_locks_after_the_configured_failures_and_the_right_password_is_refused(client, roles, settings):
    settings.AXES_FAILURE_LIMIT = 5
    UserFactory(username="mia", role="Operations manager")

    for attempt in range(4):
        assert sign_in(client, "mia", f"guess-{attempt}").status_code == 200  # the form again, with its error

    locked = sign_in(client, "mia", "guess-5")
    assert locked.status_code == 429
    assert "Sign-in is locked" in locked.text and "15 minutes" in locked.text

    # the right password, even from another address, does not get in while the account is locked
    refused = sign_in(client, "mia", RIGHT, address="198.51.100.9")
    assert refused.status_code == 429
    assert "_auth_user_id" not in client.session


def test_one_address_guessing_many_accounts_is_locked_out(client, roles, settings):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="ana", role="Operations associate")

    for name in ("bob", "cy", "di"):
        sign_in(client, name, "guess", address="192.0.2.50")

    assert sign_in(client, "ana", RIGHT, address="192.0.2.50").status_code == 429
    # another address is not affected
    assert sign_in(client, "ana", RIGHT, address="192.0.2.51").status_code == 302


def test_a_manager_unlocks_an_account_in_the_console(client, roles, settings):
    settings.AXES_FAILURE_LIMIT = 2
    UserFactory(username="wes", role="Warehouse staff")
    manager = UserFactory(username="mia", role="Operations manager")
    for _ in range(2):
        sign_in(client, "wes", "guess")
    assert sign_in(client, "wes", RIGHT).status_code == 429

    # the manager sees the locked sign-in and deletes its record
    client.force_login(manager)
    listing = client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "wes" in listing.text
    (attempt,) = AccessAttempt.objects.filter(username="wes")
    unlocked = client.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert unlocked.status_code == 302
    client.logout()

    assert sign_in(client, "wes", RIGHT).status_code == 302


def test_an_associate_cannot_unlock_accounts(client, roles):
    client.force_login(UserFactory(username="ana", role="Operations associate"))

    assert client.get("/admin/axes/accessattempt/").status_code == 403


def test_a_staff_session_ends_after_the_idle_time_and_says_why(client, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 480
    client.force_login(UserFactory(username="mia", is_superuser=True))
    assert client.get("/admin/").status_code == 200

    # when the last request was more than 8 hours ago
    session = client.session
    session[LAST_SEEN] = int(time.time()) - 8 * 3600 - 5
    session.save()
    response = client.get("/admin/orders/order/", follow=True)

    # then the user is signed out, back on the sign-in page, told why
    assert response.redirect_chain[0][0].startswith("/admin/login/?next=")
    assert "signed out after 8 hours without activity" in response.text
    assert "_auth_user_id" not in client.session


def test_a_session_within_the_idle_time_goes_on(client, settings):
    settings.STAFF_SESSION_IDLE_MINUTES = 480
    client.force_login(UserFactory(username="mia", is_superuser=True))
    client.get("/admin/")
    session = client.session
    session[LAST_SEEN] = int(time.time()) - 7 * 3600
    session.save()

    assert client.get("/admin/").status_code == 200


def test_changing_the_password_ends_the_users_other_sessions(client):
    user = UserFactory(username="mia", is_superuser=True)
    client.force_login(user)
    assert client.get("/admin/").status_code == 200

    user.set_password("a-new-long-passphrase")
    user.save()

    assert client.get("/admin/").status_code == 302
