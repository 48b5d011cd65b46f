"""The order page: what an operator works an order from.

``OrderPageMixin`` is the page half of ``OrderAdmin`` (orders.py); the list is order_list.py. The page is
read-only; its buttons are the console's actions, grouped as a person thinks of them (fulfil, hold, edit,
return, cancel), each shown only to who may use it. Left: the lines with where their units stand, the
shipments, the payments. Right: the customer, the addresses, the channel, the dates, the totals, the latest
notes. Above: a banner when the order is on hold, cancelled, late or at risk. Below: the timeline (orders/
timeline.py), newest first, with a box to add a note; anyone who may view the order reads it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateformat import format as format_date

from inventory.models import Allocation
from oms_core.console import person_name
from shipping.models import Shipment, ShipmentLine

from .. import selectors, services
from ..business_models import BusinessProfile
from ..exceptions import OrderError
from ..models import PRE_SHIPMENT_STATUSES, Order, OrderDelayNotice, OrderEvent, OrderStatus, OrderStatusLink
from ..payments.models import PaymentTransaction
from ..returns.admin import order_page_actions as returns_actions  # returns: open a return / order error
from ..services.amendments import AMENDABLE
from ..services.delay_notices import WATCHED_STATUSES
from ..services.fulfilment import ALLOCATABLE
from ..timeline import GROUPS, order_timeline
from .order_list import status_badge

LATEST_NOTES = 3
PO_NUMBER_PERMISSION = "orders.set_po_number"


class OrderNoteForm(forms.Form):
    """The timeline's comment box: one note, in the operator's words."""

    message = forms.CharField(
        label="Note",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Add a note for the team…"}),
        error_messages={"required": "Write the note first: an empty note is not added."},
    )


@dataclass
class ActionGroup:
    """A set of buttons with one purpose: links to an action's page, and posts (the shipping panel's tools)."""

    key: str
    title: str
    links: list[dict] = field(default_factory=list)
    posts: list[dict] = field(default_factory=list)
    danger: bool = False

    def __bool__(self) -> bool:
        return bool(self.links or self.posts)


class OrderPageMixin:
    """The order page: read-only for everyone; its buttons are actions."""

    inlines = ()  # the page draws its own sections (templates/admin/orders/order/page/)
    change_form_template = "admin/orders/order/change_form.html"
    fieldsets = ((None, {"fields": ("number",)}),)
    readonly_fields = ("number",)

    def get_object(self, request, object_id, from_field=None):
        try:
            order = selectors.order_detail(int(object_id))
        except (ValueError, Order.DoesNotExist):
            return None
        prefetch_related_objects([order], "lines")  # the actions, the returns' buttons and the page share them
        return order

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django's admin bounces a missing object to the index with a message; a link to an order that is
        # not there (a typo, an old bookmark) gets the console's "not found" page instead.
        raise Http404(f"There is no order with id {object_id}.")

    # --- History: the order's timeline ----------------------------------------
    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        """The order's history is its timeline: every event, newest first, who did it and when."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, order):
            raise PermissionDenied
        events = [
            {"event": event, "who": person_name(event.actor) if event.actor else event.actor_name}
            for event in selectors.order_history(order.pk)
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "order": order,
            "order_url": reverse("admin:orders_order_change", args=[order.pk]),
            "title": f"History of {order}",
            "events": events,
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/orders/order/history.html", context)

    # --- the page ---------------------------------------------------------------
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.admin_site.get_model_admin(Shipment).order_panel(request, obj))  # shipping
            context["page"] = self.order_page(request, obj, context)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def order_page(self, request: HttpRequest, order: Order, context: dict) -> dict:
        """Everything the page shows, read in a fixed number of queries whatever the order's size."""
        user = request.user
        panel = context.get("shipping_panel") or {}
        may_see_messages = user.has_perm("notifications.view_message")
        may_see_payments = user.has_perm("payments.view_paymenttransaction")
        timeline = order_timeline(
            order.pk,
            include_messages=may_see_messages,
            include_payments=may_see_payments,
            link_messages=may_see_messages,
            link_payments=may_see_payments,
            link_shipments=user.has_perm("shipping.view_shipment"),
        )
        notes = [entry for entry in timeline if entry.kind == "notes"][:LATEST_NOTES]
        customer_url = (
            reverse("admin:orders_customer_change", args=[order.customer_id])
            if user.has_perm("orders.view_customer")
            else ""
        )
        return {
            "status_badge": status_badge(order.status),
            "banners": self.banners(request, order),
            "action_groups": [group for group in self.action_groups(request, order, panel) if group],
            "lines": self.line_rows(order, [row["shipment"] for row in panel.get("shipments", [])]),
            "payments": self.payment_rows(order) if may_see_payments else None,
            "customer": {
                "name": order.customer.name,
                "email": order.customer.email,
                "phone": order.customer.phone,
                "url": customer_url,
                "order_count": Order.objects.filter(customer_id=order.customer_id).count(),
            },
            "timeline": timeline,
            "timeline_groups": GROUPS,
            "notes": notes,
            "note_form": context.get("note_form") or OrderNoteForm(),
            "note_url": reverse("admin:orders_order_add_note", args=[order.pk]),
            "history_url": reverse("admin:orders_order_history", args=[order.pk]),
            "delay_notices": self.delay_notice_rows(order),
            "business": self.business_facts(order),
            # where it ships from, the carrier and the account's terms are the setup's: for those who may read it
            "may_see_business_setup": user.has_perm("orders.view_businessprofile"),
        }

    def business_facts(self, order: Order) -> BusinessProfile | None:
        """The business customer's setup the order is worked by (packing, carrier, warehouses), or None."""
        return (
            BusinessProfile.objects.filter(customer_id=order.customer_id)
            .select_related("preferred_vendor", "preferred_service__vendor")
            .prefetch_related("default_warehouses", "excluded_warehouses")
            .first()
        )

    def may_be_late(self, order: Order) -> bool:
        """Whether a delay email may be on its way: the order is backordered, at risk by the list's rule, or already
        has a delay notice (the customer may hear of a later date). One query at most."""
        if OrderDelayNotice.objects.filter(order_id=order.pk, state=OrderDelayNotice.State.REVIEW).exists():
            return True  # to review: suppressing it closes it
        if order.status not in WATCHED_STATUSES or order.promised_date is None:
            return False
        if order.status == OrderStatus.BACKORDERED or selectors.promise_state(order) == "at-risk":
            return True
        return OrderDelayNotice.objects.filter(order_id=order.pk).exists()

    def delay_notice_rows(self, order: Order) -> list[dict]:
        """The "customer told" marks: each new estimate the customer was told of (or not, and why, by whom)."""
        return [
            {
                "notice": notice,
                "who": person_name(notice.suppressed_by) if notice.suppressed_by else "",
            }
            for notice in OrderDelayNotice.objects.filter(order_id=order.pk)
            .select_related("suppressed_by")
            .order_by("-created_at", "-id")
        ]

    def banners(self, request: HttpRequest, order: Order) -> list[dict]:
        """On hold (why, who, when, and Release for who may), cancelled (why), late or at risk of it."""
        banners = []
        if order.status in (OrderStatus.ON_HOLD, OrderStatus.CANCELLED):
            event = (
                OrderEvent.objects.filter(order_id=order.pk, kind=OrderEvent.Kind.STATUS_CHANGED, data__to=order.status)
                .select_related("actor")
                .order_by("-created_at", "-id")
                .first()
            )
            reason = (event.data.get("reason") or event.message) if event else ""
            hold = selectors.open_order_hold(order.pk) if order.status == OrderStatus.ON_HOLD else None
            banner = {
                "key": "hold" if order.status == OrderStatus.ON_HOLD else "cancelled",
                "title": "Cancelled"
                if order.status == OrderStatus.CANCELLED
                else (f"On hold: {hold.get_hold_type_display()}" if hold else "On hold"),
                "reason": reason,
                "who": (person_name(event.actor) if event.actor else event.actor_name) if event else "",
                "when": event.created_at if event else None,
            }
            here = reverse("admin:orders_order_change", args=[order.pk])
            # Release: for who may release the hold's type (a hold from before types were kept: who may hold).
            may_release = self.has_hold_permission(request) and (
                hold is None or request.user.has_perm(hold.release_permission)
            )
            if order.status == OrderStatus.ON_HOLD and may_release:
                banner["action"] = {
                    "label": "Release",
                    "action": "release",
                    "url": self.form_action_url("release", [order], here),
                }
            banners.append(banner)
        for hold in selectors.open_shipment_holds(order.pk):
            banners.append(
                {
                    "key": "shipment-hold",
                    "title": f"Shipment {hold.shipment.number} on hold: {hold.get_hold_type_display()}",
                    "reason": f"{hold.reason} (no label, no shipping for it; the rest of the order carries on)",
                    "who": person_name(hold.placed_by) if hold.placed_by else hold.placed_by_name,
                    "when": hold.placed_at,
                }
            )
        promise = selectors.promise_state(order)  # as the list's late / at-risk filters say, without a query
        if promise:
            if promise == "late":
                days = (timezone.localdate() - order.promised_date).days
                banners.append(
                    {
                        "key": "late",
                        "title": "Late",
                        "reason": f"Promised for {format_date(order.promised_date, 'D j M Y')}, "
                        f"{days} day{'s' if days != 1 else ''} ago, and not shipped yet.",
                    }
                )
            else:
                banners.append(
                    {
                        "key": "at-risk",
                        "title": "At risk",
                        "reason": f"Promised for {format_date(order.promised_date, 'D j M Y')} and not shipped yet.",
                    }
                )
        return banners

    def action_groups(self, request: HttpRequest, order: Order, panel: dict) -> list[ActionGroup]:
        """The page's buttons by purpose; each only for who may use it, and only when it can apply."""
        here = reverse("admin:orders_order_change", args=[order.pk])

        def link(label: str, action: str, url: str = "") -> dict:
            return {"label": label, "action": action, "url": url or self.form_action_url(action, [order], here)}

        fulfil = ActionGroup("fulfil", "Fulfil", posts=list(panel.get("tools", [])))
        hold = ActionGroup("hold", "Hold")
        edit = ActionGroup("edit", "Edit")
        after = ActionGroup("return", "Return", links=returns_actions(request, order))  # returns
        cancel = ActionGroup("cancel", "Cancel", danger=True)
        if self.has_hold_permission(request):
            if order.status in ALLOCATABLE and any(line.quantity_unallocated for line in order.lines.all()):
                fulfil.links.append(link("Allocate stock", "allocate"))
            if order.can_transition_to(OrderStatus.ON_HOLD):
                hold.links.append(link("Put on hold", "hold"))
            # Release sits in the on-hold banner, beside the reason.
        if self.has_change_address_permission(request) and order.status in PRE_SHIPMENT_STATUSES:
            url = reverse("admin:orders_order_change_address", args=[order.pk])
            edit.links.append(link("Change address", "change-address", url))
        if request.user.has_perm(PO_NUMBER_PERMISSION) and order.status in PRE_SHIPMENT_STATUSES:
            edit.links.append(link("Set the customer's PO number", "set-po-number"))
        if self.has_edit_lines_permission(request) and order.status in AMENDABLE:
            edit.links.append(link("Edit items", "edit-items"))
        if (
            self.has_hold_permission(request)
            and OrderStatusLink.objects.filter(order=order, revoked_at__isnull=True).exists()
        ):  # the customer's status page: only once an email has carried its link
            edit.links.append(link("Revoke the customer's status link", "revoke-status-link"))
        if self.has_suppress_delay_permission(request) and self.may_be_late(order):
            edit.links.append(link("Suppress the delay email", "suppress-delay-notice"))
        if self.has_cancel_permission(request) and order.can_transition_to(OrderStatus.CANCELLED):
            cancel.links.append(link("Cancel order", "cancel"))
        if self.has_cancel_permission(request) and order.status in AMENDABLE:
            cancel.links.append(link("Cancel some items", "cancel-items"))
        return [fulfil, hold, edit, after, cancel]

    def line_rows(self, order: Order, shipments: list[Shipment]) -> list[dict]:
        """Each line with where its units stand: reserved (and where), shipped, returned, and its shipments."""
        reserved: dict[int, list[tuple[str, int]]] = {}
        for line_id, code, quantity in (
            Allocation.objects.filter(order_id=order.pk)
            .order_by("warehouse__code")
            .values_list("order_line_id", "warehouse__code", "quantity")
        ):
            reserved.setdefault(line_id, []).append((code, quantity))
        by_id = {shipment.pk: shipment for shipment in shipments}
        in_shipments: dict[int, list[dict]] = {}
        if by_id:
            for line_id, shipment_id, quantity in ShipmentLine.objects.filter(shipment_id__in=by_id).values_list(
                "order_line_id", "shipment_id", "quantity"
            ):
                shipment = by_id[shipment_id]
                vendor = shipment.service.vendor if shipment.service_id else None
                in_shipments.setdefault(line_id, []).append(
                    {
                        "number": shipment.number,
                        "url": reverse("admin:shipping_shipment_change", args=[shipment.pk]),
                        "status": shipment.get_status_display(),
                        "quantity": quantity,
                        "tracking": [
                            (parcel.tracking_number, vendor.tracking_url(parcel.tracking_number) if vendor else "")
                            for parcel in shipment.parcels.all()
                            if parcel.tracking_number
                        ],
                    }
                )
        return [
            {
                "line": line,
                "reserved": reserved.get(line.pk, []),
                "shipments": in_shipments.get(line.pk, []),
                "unfilled": line.quantity_unallocated,
            }
            for line in order.lines.all()
        ]

    def payment_rows(self, order: Order) -> list[PaymentTransaction]:
        return list(PaymentTransaction.objects.filter(order_id=order.pk).order_by("created_at", "id"))

    # --- the timeline's comment box ---------------------------------------------
    def add_note_view(self, request: HttpRequest, object_id: str):
        """Add the comment box's note to the order's timeline and come back to it; an empty note is refused."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not request.user.has_perm(self.form_actions["note"].permission):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = OrderNoteForm(request.POST)
        if form.is_valid():
            try:
                services.add_order_note(order_id=order.pk, message=form.cleaned_data["message"], actor=request.user)
            except OrderError as refusal:
                form.add_error("message", str(refusal))
            else:
                self.message_user(request, f"Note added to {order}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]) + "#timeline")
        # The page again, with the note's error beside the box: drawn as the page's own GET (the change view
        # would take a POST for an edit of the order, which nobody may make).
        page_request = copy.copy(request)
        page_request.method = "GET"
        return self.change_view(page_request, object_id, extra_context={"note_form": form})

    def page_urls(self) -> list:
        """The page's own URLs, before the admin's: the timeline's comment box."""
        return [
            path(
                "<path:object_id>/note/",
                self.admin_site.admin_view(self.add_note_view),
                name="orders_order_add_note",
            )
        ]
