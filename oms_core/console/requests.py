"""What a console page reads from its request: where to go back to, which rows were selected, an id."""

from __future__ import annotations

from django.http import Http404, HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, default: str) -> str:
    """The ``next`` the page was given (POST, else GET) when it stays on this site; else ``default``."""
    next_url = request.POST.get("next") or request.GET.get("next") or default
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return default
    return next_url


def selected_ids(request: HttpRequest) -> list[int]:
    """The row ids a form page acts on, from its ``ids`` (POST, else GET: "3,5,8"); anything else is skipped."""
    raw = request.POST.get("ids") or request.GET.get("ids") or ""
    return [int(part) for part in raw.split(",") if part.strip().isdigit()]


def int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def int_or_404(value) -> int:
    """An id from a URL; anything that is not a number is a page that does not exist."""
    number = int_or_none(value)
    if number is None:
        raise Http404
    return number
