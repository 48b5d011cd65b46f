"""Two-factor sign-in for the console: a time-based code (TOTP) after the password, recovery codes.

Who must use it: superusers and the roles in ``TWO_FACTOR_REQUIRED_ROLES``,
when ``TWO_FACTOR_ENFORCED`` is on (production's default). Everyone else may
set it up from the user menu, and is then asked for a code as well.

The flow: the password signs the user in; the console (``OpsAdminSite``)
lets a user who needs a second factor no further than these pages until a
code is given. A user with no device yet sets one up first (a QR code for an
authenticator app, confirmed with a code) and is shown ten one-time recovery
codes. A superuser resets someone's second factor by deleting their devices
(console, "TOTP devices" and "Static devices", or ``manage.py
reset_two_factor USERNAME``); they set it up again at their next sign-in.
"""

from __future__ import annotations

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import devices_for_user, match_token, user_has_device
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_CODE_COUNT = 10
_PENDING = "oms_two_factor_pending_device"
_NEW_CODES = "oms_two_factor_new_codes"


def is_required(user) -> bool:
    """True when this user may not use the console without a second factor."""
    if not settings.TWO_FACTOR_ENFORCED or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=settings.TWO_FACTOR_REQUIRED_ROLES).exists()


def needs_code(user) -> bool:
    """True when the signed-in user must still give a code: it is required, or they set one up themselves."""
    if not user.is_authenticated or user.is_verified():
        return False
    answer = getattr(user, "_oms_needs_code", None)  # asked several times a request (the site's permission)
    if answer is None:
        answer = user._oms_needs_code = is_required(user) or user_has_device(user)
    return answer


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
        help_text="The 6-digit code your authenticator app shows, or one of your recovery codes.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.device = None

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        self.device = match_token(self.user, code)
        if self.device is None:
            raise forms.ValidationError(
                "That code is not right (or has been used). Try the current one; after several wrong codes, "
                "wait a few seconds between tries."
            )
        return code


class SetupForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )

    def __init__(self, *args, device: TOTPDevice, **kwargs):
        super().__init__(*args, **kwargs)
        self.device = device

    def clean_code(self) -> str:
        code = "".join(self.cleaned_data["code"].split())
        allowed, _ = self.device.verify_is_allowed()
        if not allowed:  # each wrong code makes the next try wait longer (django-otp's throttling)
            raise forms.ValidationError("Too many wrong codes in a row: wait a few seconds, then enter the next code.")
        if not self.device.verify_token(code):
            raise forms.ValidationError("That code does not match. Check the phone's clock and try the next code.")
        return code


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _staff_only(request: HttpRequest) -> HttpResponse | None:
    if not (request.user.is_authenticated and request.user.is_active and request.user.is_staff):
        return HttpResponseRedirect(f"{reverse('admin:login')}?next={request.get_full_path()}")
    return None


def verify(request: HttpRequest, *, site_context: dict) -> HttpResponse:
    """Ask a signed-in user for their code; a user with no device yet is sent to set one up."""
    refused = _staff_only(request)
    if refused:
        return refused
    if not user_has_device(request.user):
        return HttpResponseRedirect(f"{reverse('admin:two_factor_setup')}?next={_next_url(request)}")
    form = CodeForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        otp_login(request, form.device)
        if isinstance(form.device, StaticDevice):
            left = StaticToken.objects.filter(device=form.device).count()
            messages.warning(request, f"You used a recovery code; {left} left. Set up a new app if the phone is lost.")
        return HttpResponseRedirect(_next_url(request))
    context = {**site_context, "form": form, "next": _next_url(request), "title": "Two-factor sign-in"}
    return render(request, "admin/two_factor/verify.html", context)


def setup(request: HttpRequest, *, site_context: dict) -> HttpResponse:
    """Set up an authenticator app: a QR code, a code to confirm it, then the recovery codes (shown once)."""
    refused = _staff_only(request)
    if refused:
        return refused
    user = request.user
    if user_has_device(user) and not user.is_verified():
        return HttpResponseRedirect(f"{reverse('admin:two_factor_verify')}?next={_next_url(request)}")
    device = _pending_device(request)
    form = SetupForm(request.POST or None, device=device)
    if request.method == "POST" and form.is_valid():
        codes = _confirm(user=user, device=device)
        request.session.pop(_PENDING, None)
        otp_login(request, device)
        request.session[_NEW_CODES] = codes
        return HttpResponseRedirect(f"{reverse('admin:two_factor_codes')}?next={_next_url(request)}")
    context = {
        **site_context,
        "form": form,
        "next": _next_url(request),
        "title": "Set up two-factor sign-in",
        "qr_svg": _qr_svg(device.config_url),
        "secret": _grouped(device.bin_key),
        "required": is_required(user),
    }
    return render(request, "admin/two_factor/setup.html", context)


def recovery_codes(request: HttpRequest, *, site_context: dict) -> HttpResponse:
    """The recovery codes just made, shown once."""
    refused = _staff_only(request)
    if refused:
        return refused
    codes = request.session.pop(_NEW_CODES, None)
    if not codes:
        return HttpResponseRedirect(_next_url(request))
    context = {**site_context, "codes": codes, "next": _next_url(request), "title": "Your recovery codes"}
    return render(request, "admin/two_factor/recovery_codes.html", context)


def _pending_device(request: HttpRequest) -> TOTPDevice:
    """The unconfirmed device being set up in this session (made on the first visit)."""
    device = None
    device_id = request.session.get(_PENDING)
    if device_id:
        device = TOTPDevice.objects.filter(pk=device_id, user=request.user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=request.user, name="Authenticator app", confirmed=False)
        request.session[_PENDING] = device.pk
    return device


@transaction.atomic
def _confirm(*, user, device: TOTPDevice) -> list[str]:
    """Keep the confirmed app as the user's only one, with fresh recovery codes; returns the codes."""
    for old in devices_for_user(user, confirmed=None):
        if old.pk != device.pk or not isinstance(old, TOTPDevice):
            old.delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    recovery = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=recovery, token=code) for code in codes)
    return codes


def reset(user) -> int:
    """Delete every second-factor device of ``user`` (a superuser's reset); returns how many."""
    devices = list(devices_for_user(user, confirmed=None))
    for device in devices:
        device.delete()
    return len(devices)


def _qr_svg(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    return image.to_string(encoding="unicode")


def _grouped(key: bytes) -> str:
    from base64 import b32encode

    secret = b32encode(key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
