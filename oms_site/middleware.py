"""The console's middleware: idle staff sessions end; the Content-Security-Policy header, built once."""

from __future__ import annotations

import time
from dataclasses import asdict

from csp.constants import HEADER as CSP_HEADER
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode

LAST_SEEN = "oms_last_seen"
# The time of the last request is written at most this often, not on every request.
_TOUCH_SECONDS = 60


class StaffSessionTimeoutMiddleware:
    """Log a staff user out when their previous request is older than the idle limit, and say why."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            now = int(time.time())
            last_seen = request.session.get(LAST_SEEN)
            idle_limit = settings.STAFF_SESSION_IDLE_MINUTES * 60
            if last_seen is not None and now - last_seen > idle_limit:
                logout(request)
                hours = settings.STAFF_SESSION_IDLE_MINUTES / 60
                idle = f"{hours:g} hours" if hours >= 1 else f"{settings.STAFF_SESSION_IDLE_MINUTES} minutes"
                messages.info(request, f"You were signed out after {idle} without activity. Please sign in again.")
                login = reverse("admin:login")
                return HttpResponseRedirect(f"{login}?{urlencode({'next': request.get_full_path()})}")
            if last_seen is None or now - last_seen >= _TOUCH_SECONDS:
                request.session[LAST_SEEN] = now
        return self.get_response(request)


def locked_out(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """The page a locked-out sign-in gets (429): why, for how long, and who can unlock it."""
    from axes.helpers import get_client_username, get_cool_off, get_failure_limit
    from django.shortcuts import render

    cool_off = get_cool_off(request)
    minutes = round(cool_off.total_seconds() / 60) if cool_off else None
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "username": get_client_username(request, credentials) or "",
        "lockout_minutes": minutes,
    }
    return render(request, "admin/locked_out.html", context, status=429)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware, with the policy text kept between responses that use it as configured.

    django-csp builds the header anew for every response; nearly every response (all of the API's) has
    no nonce and no per-view change, so the text is the same each time: built once per policy setting,
    it costs the request nothing. Anything else (a nonce, a view's decorator) goes through django-csp.
    """

    _OWN = ("_csp_config", "_csp_update", "_csp_replace", "_csp_exempt")
    _cached: tuple[object, str] | None = None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", None)
        plain = (
            getattr(request, "_csp_nonce", None) is None
            and not getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
            and not (policy or {}).get("EXCLUDE_URL_PREFIXES")
            and not any(hasattr(response, name) for name in self._OWN)
            and CSP_HEADER not in response
            and not (settings.DEBUG and response.status_code in (404, 500))
        )
        if not plain:
            return super().process_response(request, response)
        cached = ContentSecurityPolicyMiddleware._cached
        if cached is None or cached[0] is not policy:
            text = build_policy(**asdict(self.get_policy_parts(request=request, response=response)))
            cached = ContentSecurityPolicyMiddleware._cached = (policy, text)
        if cached[1]:
            response[CSP_HEADER] = cached[1]
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
