"""Two-factor sign-in: managers and superusers need a code after the password; recovery codes; a reset."""

import re

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


@pytest.fixture
def enforced(settings):
    settings.TWO_FACTOR_ENFORCED = True
    settings.TWO_FACTOR_REQUIRED_ROLES = ["Operations manager"]


def code_of(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def sign_in(client, username):
    return client.post("/admin/login/?next=/admin/orders/order/", {"username": username, "password": PASSWORD})


def test_a_manager_without_a_device_sets_one_up_and_gets_recovery_codes(client, roles, enforced):
    UserFactory(username="mia", role="Operations manager")

    # the password alone leads to the setup page, not the console
    response = sign_in(client, "mia")
    assert response.status_code == 302
    assert client.get("/admin/orders/order/").status_code == 302
    setup = client.get("/admin/two-factor/setup/?next=/admin/orders/order/")
    assert "<svg" in setup.text and "Key:" in setup.text

    # the right code turns it on and shows ten recovery codes once
    device = TOTPDevice.objects.get(user__username="mia")
    done = client.post("/admin/two-factor/setup/?next=/admin/orders/order/", {"code": code_of(device)})
    assert done.status_code == 302
    codes_page = client.get(done["Location"])
    codes = re.findall(r"<li><code>(\w+)</code></li>", codes_page.text)
    assert len(codes) == 10
    assert client.get("/admin/two-factor/recovery-codes/").status_code == 302  # not shown twice

    # and the console opens
    assert client.get("/admin/orders/order/").status_code == 200


def test_a_wrong_setup_code_is_refused_and_the_next_try_must_wait(client, roles, enforced):
    UserFactory(username="mia", role="Operations manager")
    sign_in(client, "mia")
    client.get("/admin/two-factor/setup/")
    device = TOTPDevice.objects.get(user__username="mia")

    assert "does not match" in client.post("/admin/two-factor/setup/", {"code": "000000"}).text
    assert "wait a few seconds" in client.post("/admin/two-factor/setup/", {"code": code_of(device)}).text
    device.refresh_from_db()
    assert not device.confirmed


def test_a_manager_cannot_reach_the_console_without_the_code(client, roles, enforced):
    manager = UserFactory(username="mia", role="Operations manager")
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)

    login = sign_in(client, "mia")
    assert login.status_code == 302
    # every console page sends them to the code page
    for url in ("/admin/", "/admin/orders/order/", "/admin/orders/channel/"):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0].startswith("/admin/two-factor/"), url
        assert "Two-factor sign-in" in response.text

    right = client.post("/admin/two-factor/?next=/admin/orders/order/", {"code": code_of(device)})
    assert right["Location"] == "/admin/orders/order/"
    assert client.get("/admin/orders/order/").status_code == 200


def test_a_wrong_code_is_refused(client, roles, enforced):
    manager = UserFactory(username="mia", role="Operations manager")
    device = TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    sign_in(client, "mia")
    wrong = f"{(int(code_of(device)) + 1) % 1_000_000:06d}"

    assert "not right" in client.post("/admin/two-factor/", {"code": wrong}).text
    assert client.get("/admin/orders/order/").status_code == 302


def test_a_recovery_code_signs_in_once(client, roles, enforced):
    manager = UserFactory(username="mia", role="Operations manager")
    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    recovery = StaticDevice.objects.create(user=manager, name="Recovery codes", confirmed=True)
    StaticToken.objects.create(device=recovery, token="rescue12")

    sign_in(client, "mia")
    used = client.post("/admin/two-factor/", {"code": "rescue12"}, follow=True)
    assert "You used a recovery code; 0 left" in used.text
    client.logout()

    sign_in(client, "mia")
    assert "not right" in client.post("/admin/two-factor/", {"code": "rescue12"}).text


def test_an_associate_signs_in_with_the_password_alone(client, roles, enforced):
    UserFactory(username="ana", role="Operations associate")

    sign_in(client, "ana")

    assert client.get("/admin/orders/order/").status_code == 200


def test_with_enforcement_off_the_demo_manager_signs_in_with_the_password(client, roles, settings):
    settings.TWO_FACTOR_ENFORCED = False
    UserFactory(username="manager", role="Operations manager")

    sign_in(client, "manager")

    assert client.get("/admin/orders/order/").status_code == 200


def test_a_superuser_resets_a_users_second_factor(client, roles, enforced):
    manager = UserFactory(username="mia", role="Operations manager")
    TOTPDevice.objects.create(user=manager, name="phone", confirmed=True)
    boss = UserFactory(username="root", is_superuser=True)
    client.force_login(boss)
    session = client.session
    from django_otp import DEVICE_ID_SESSION_KEY

    device = TOTPDevice.objects.create(user=boss, name="phone", confirmed=True)
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()

    response = client.post(
        "/admin/auth/user/", {"action": "reset_two_factor", "_selected_action": [manager.pk]}, follow=True
    )

    assert "Two-factor sign-in of mia reset (1 device(s) removed)" in response.text
    assert not TOTPDevice.objects.filter(user=manager).exists()
