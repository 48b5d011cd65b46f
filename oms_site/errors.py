"""The console's own error pages: 403, 404, 500 and a refused form (CSRF), in the console's look.

Each says in plain words what happened, who is signed in, and offers the way back: the page the person
came from and the console's home. Wired in urls.py (handler403/404/500) and settings (CSRF_FAILURE_VIEW).

A person who may use the console also gets its sidebar (``oms_site/nav.py``), so the lists they may open are one
click away, as on every console page. The 500 page keeps it off: the sidebar reads the person's permissions and
each console's tools from the database, which may be what broke, and a page that reports a fault must do as
little as it can (a failure there would also cost the page the person's name: see ``_render``).
"""

from __future__ import annotations

import logging

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template import loader
from django.urls import Resolver404, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from oms_core.console import person_name
from orders.status_page import form_refused

from .nav import nav_groups

logger = logging.getLogger(__name__)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(request, "403.html", status=403, title="You cannot open this page")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # Our own "not found" messages name what was missing; the resolver's list the URL patterns tried.
    own = isinstance(exception, Http404) and not isinstance(exception, Resolver404)
    detail = exception.args[0] if own and exception.args and isinstance(exception.args[0], str) else ""
    return _render(request, "404.html", status=404, title="Page not found", detail=detail)


def server_error(request: HttpRequest) -> HttpResponse:
    return _render(request, "500.html", status=500, title="Something went wrong")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name == "order_status_return":
        return form_refused(request, token=match.kwargs["token"])  # a customer: their page's look, not the console's
    return _render(request, "403_csrf.html", status=403, title="The form was not accepted", reason=reason)


def _render(request: HttpRequest, template_name: str, *, status: int, **extra) -> HttpResponse:
    extra["status"] = status
    template = loader.get_template(template_name)
    try:
        context = {**_context(request, sidebar=status != 500), **extra}
        return HttpResponse(template.render(context, request), status=status)
    except Exception:
        # The page that reports a failure must not fail in turn (the database may be what broke, and the
        # signed-in user is read from it): log why, then render without the request.
        if status != 500:
            raise
        logger.exception("The error page could not be rendered with the request; rendering it without")
        return HttpResponse(template.render({**_anonymous_context(), **extra}), status=status)


def _context(request: HttpRequest, *, sidebar: bool) -> dict:
    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    has_permission = admin.site.has_permission(request)  # signed in to the console (second factor given, if owed)
    context = {
        **_anonymous_context(),
        "has_permission": has_permission,  # the header's user tools
        "person": person_name(user) if signed_in else "",
        "back_url": _previous_page(request),
    }
    if sidebar and has_permission:
        # The same groups as every console page (OpsAdminSite.each_context): only the lists this person may open.
        context["is_nav_sidebar_enabled"] = True
        context["oms_nav"] = nav_groups(admin.site.get_app_list(request), request.path)
    return context


def _anonymous_context() -> dict:
    return {
        "site_header": admin.site.site_header,
        "site_title": admin.site.site_title,
        "home_url": reverse("admin:index"),
        "is_popup": False,
        "is_nav_sidebar_enabled": False,
    }


def _previous_page(request: HttpRequest) -> str:
    """Where the person came from, when that is a page of this site and not this very page."""
    referer = request.META.get("HTTP_REFERER", "")
    if not referer or referer == request.build_absolute_uri():
        return ""
    if not url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    return referer
