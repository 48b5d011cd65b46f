"""Each procedure on the console page it governs: the hold review shows the hold procedure, the receive page
the receiving procedure, the count pages the counting procedure.

``GOVERNED_PAGES`` names the pages a procedure may govern and how to recognise each from the request (the
admin URL's name, and for the order pages what they show). ``procedure_on_page`` is a context processor:
every console page gets ``oms_procedure`` when a procedure governs it and the user may read the manual, and
``templates/admin/base_site.html`` shows it above the page. No page of another app has to be edited for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse

ON_HOLD = "on_hold"  # orders.models.OrderStatus.ON_HOLD, compared as the query string and the column hold it


def _is_hold_review(request: HttpRequest, url_name: str, kwargs: dict) -> bool:
    """The on-hold list, the page of an order on hold, and the hold and release forms."""
    if url_name == "orders_order_changelist":
        return request.GET.get("status__exact") == ON_HOLD or request.GET.get("queue") == ON_HOLD
    if url_name == "orders_order_act":
        return kwargs.get("action") in {"hold", "release"}
    if url_name == "orders_order_change":
        from orders.models import Order  # the top layer reads every app; imported here, as models load first

        return Order.objects.filter(pk=kwargs.get("object_id"), status=ON_HOLD).exists()
    return False


def _is_receiving(request: HttpRequest, url_name: str, kwargs: dict) -> bool:
    return url_name == "inventory_stocklevel_receive"


def _is_counting(request: HttpRequest, url_name: str, kwargs: dict) -> bool:
    return url_name.startswith("inventory_cyclecount_") and not url_name.endswith(("_delete", "_history"))


@dataclass(frozen=True)
class GovernedPage:
    label: str
    matches: Callable[[HttpRequest, str, dict], bool]


GOVERNED_PAGES: dict[str, GovernedPage] = {
    "hold_review": GovernedPage("Hold review: the on-hold list, an order on hold, hold and release", _is_hold_review),
    "receiving": GovernedPage("Receiving: the receive stock page", _is_receiving),
    "counting": GovernedPage("Cycle counts: the count list and each count's page", _is_counting),
}


def governed_page_choices() -> list[tuple[str, str]]:
    return [(key, page.label) for key, page in GOVERNED_PAGES.items()]


def governed_page(request: HttpRequest) -> str:
    """The key of the governed page the request shows, or ``""``."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.namespace != "admin" or not match.url_name:
        return ""
    for key, page in GOVERNED_PAGES.items():
        if page.matches(request, match.url_name, match.kwargs):
            return key
    return ""


def procedure_on_page(request: HttpRequest) -> dict:
    """Context processor: ``oms_procedure`` (the procedure, its rendered text, its page) on a governed page."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.namespace != "admin":
        return {}  # pages outside the console (the customer's status page, the API) never look at the user
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff or not user.has_perm("oms_site.view_manual"):
        return {}
    key = governed_page(request)
    if not key:
        return {}
    from .markdown import render_markdown
    from .models import Procedure

    procedure = Procedure.objects.select_related("updated_by").filter(governs=key).first()
    if procedure is None:
        return {}
    return {
        "oms_procedure": {
            "procedure": procedure,
            "html": render_markdown(procedure.body),
            "url": reverse("admin:manual_procedure", args=[procedure.slug]),
        }
    }
