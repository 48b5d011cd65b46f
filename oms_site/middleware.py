"""A staff session ends after a configurable time without a request (STAFF_SESSION_IDLE_MINUTES)."""

from __future__ import annotations

import time

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
