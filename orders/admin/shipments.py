"""The shipments' console (registered from orders, since its actions call the order workflow): the shipment
list and page, buying, printing and voiding labels, marking shipped, tracking by hand, packing slips.

Thin by design: shipments change only through the order workflow (``orders.services``) and the label
services; every action reports each success or refusal, and actions that need input go through a small
form page. Labels are served by the console (with a permission check), never from a public media URL.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from rangefilter.filters import DateRangeFilterBuilder

from oms_core.console import ReadOnlyAdmin, int_or_404, safe_next
from oms_core.console import plural as _plural
from shipping import documents
from shipping.admin import shipment_badge, tracking_links
from shipping.exceptions import ShippingError
from shipping.forms import ChangeCarrierForm, TrackingEventForm, VoidLabelForm
from shipping.models import CarrierService, Parcel, Shipment, ShipmentStatus
from shipping.services import quote_for, render_shipment_label, start_label_batch, zone_between
from shipping.services.labels import PRINTABLE

from .. import selectors as order_selectors
from .. import services as workflow
from ..exceptions import OrderError

MAX_BULK_SHIPMENTS = 500  # as orders' MAX_BULK_ORDERS: actions work one shipment at a time
MAX_PACKING_SLIPS = 50  # rendered in the request; more belongs in a batch
TRACKABLE = (ShipmentStatus.IN_TRANSIT, ShipmentStatus.EXCEPTION)


# --- shipments ---------------------------------------------------------------------

# action -> what the form page says, who may, which form asks for input (None: just a confirmation).
SHIPMENT_ACTIONS = {
    "buy": {"title": "Buy labels for", "permission": "shipping.print_labels", "form": None},
    "print": {"title": "Print the labels of", "permission": "shipping.print_labels", "form": None},
    "ship": {"title": "Mark shipped", "permission": "shipping.ship_shipment", "form": None},
    "void": {"title": "Void the labels of", "permission": "shipping.print_labels", "form": VoidLabelForm},
    "track": {
        "title": "Record a tracking event for",
        "permission": "shipping.record_tracking",
        "form": TrackingEventForm,
    },
    "slips": {"title": "Packing slips for", "permission": "shipping.view_shipment", "form": None},
    "carrier": {
        "title": "Change the carrier of",
        "permission": "shipping.override_carrier",
        "form": ChangeCarrierForm,
        "single": True,
    },
}


def shipment_action_url(action: str, shipments, next_url: str = "") -> str:
    ids = ",".join(str(getattr(s, "pk", s)) for s in shipments)
    url = f"{reverse('admin:shipping_shipment_act', args=[action])}?ids={ids}"
    return f"{url}&next={next_url}" if next_url else url


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "order_link",
        "warehouse_code",
        "service_display",
        "status_badge",
        "parcel_count",
        "tracking_display",
        "estimated_delivery",
        "cost_display",
        "created_at",
    )
    list_display_links = ("number",)
    list_filter = (
        "status",
        "warehouse",
        "service__vendor",
        ("created_at", DateRangeFilterBuilder(title="created")),
    )
    list_select_related = ("warehouse", "service__vendor")
    search_fields = ("number",)  # shows the box; get_search_results does the matching
    search_help_text = "Shipment number, order number or tracking number."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    ordering = ("-created_at", "-id")
    actions = (
        "buy_labels_selected",
        "print_labels_selected",
        "ship_selected",
        "void_labels_selected",
        "packing_slips_selected",
        "record_tracking_selected",
    )
    change_form_template = "admin/shipping/shipment/change_form.html"
    fieldsets = (
        (
            "Shipment",
            {
                "fields": (
                    ("number", "status_badge"),
                    ("order_link", "warehouse"),
                    ("service", "zone", "cost_display"),
                    ("promised_date", "ship_date", "estimated_delivery"),
                    ("created_at", "shipped_at", "delivered_at"),
                )
            },
        ),
        ("Ship to", {"fields": ("ship_to_display",)}),
        ("Carrier choice", {"fields": ("choice_reason",)}),
        ("Label", {"fields": (("label_format", "label_link"), ("label_rendered_at", "label_error"))}),
    )
    readonly_fields = (
        "number",
        "status_badge",
        "order_link",
        "warehouse",
        "service",
        "zone",
        "cost_display",
        "promised_date",
        "ship_date",
        "estimated_delivery",
        "created_at",
        "shipped_at",
        "delivered_at",
        "ship_to_display",
        "choice_reason",
        "label_format",
        "label_link",
        "label_rendered_at",
        "label_error",
    )

    # --- columns ------------------------------------------------------------------
    @admin.display(description="order", ordering="order_number")
    def order_link(self, shipment: Shipment):
        url = reverse("admin:orders_order_change", args=[shipment.order_id])
        return format_html('<a href="{}">{}</a>', url, shipment.order_number)

    @admin.display(description="warehouse", ordering="warehouse__code")
    def warehouse_code(self, shipment: Shipment):
        return shipment.warehouse.code

    @admin.display(description="carrier service", ordering="service__vendor__name")
    def service_display(self, shipment: Shipment):
        return str(shipment.service) if shipment.service_id else "—"

    @admin.display(description="status", ordering="status")
    def status_badge(self, shipment: Shipment):
        return shipment_badge(shipment.status)

    @admin.display(description="parcels")
    def parcel_count(self, shipment: Shipment):
        return len(shipment.parcels.all())

    @admin.display(description="tracking")
    def tracking_display(self, shipment: Shipment):
        return tracking_links(shipment) or "—"

    @admin.display(description="cost", ordering="shipping_cost")
    def cost_display(self, shipment: Shipment):
        if shipment.shipping_cost is None:
            return "—"
        return f"{shipment.shipping_cost:,.2f} {shipment.currency}"

    @admin.display(description="address")
    def ship_to_display(self, shipment: Shipment):
        address = order_selectors.ship_to_address(shipment.ship_to or {})
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in address.lines))

    @admin.display(description="label")
    def label_link(self, shipment: Shipment):
        if shipment.status not in PRINTABLE:
            return "no label bought"
        url = reverse("admin:shipping_shipment_label", args=[shipment.pk])
        text = "Download label" if shipment.label_file else "Render and download label"
        return format_html('<a href="{}" id="label-download">{} ({})</a>', url, text, shipment.label_format.upper())

    # --- querysets ----------------------------------------------------------------
    def get_queryset(self, request):
        return super().get_queryset(request).select_related("warehouse", "service__vendor").prefetch_related("parcels")

    def get_search_results(self, request, queryset, search_term):
        """A shipment or order number (its prefix, or the order's digits), or a parcel's tracking number."""
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = Q(number__startswith=term.upper()) | Q(
            pk__in=Parcel.objects.filter(tracking_number__in={term, term.upper()}).values("shipment_id")
        )
        if order_selectors.ORDER_NUMBER_RE.match(term):
            digits = "".join(char for char in term if char.isdigit())
            matches |= Q(order_number=workflow.format_order_number(int(digits)))
        return queryset.filter(matches), False

    # --- permissions --------------------------------------------------------------
    def has_print_labels_permission(self, request) -> bool:
        return request.user.has_perm("shipping.print_labels")

    def has_ship_shipment_permission(self, request) -> bool:
        return request.user.has_perm("shipping.ship_shipment")

    def has_record_tracking_permission(self, request) -> bool:
        return request.user.has_perm("shipping.record_tracking")

    def has_override_carrier_permission(self, request) -> bool:
        return request.user.has_perm("shipping.override_carrier")

    # --- bulk actions -------------------------------------------------------------
    @admin.action(description="Buy labels", permissions=["print_labels"])
    def buy_labels_selected(self, request, queryset):
        if not self._too_many(request, queryset):
            self._apply_each(request, "buy", list(queryset.order_by("pk")), {})

    @admin.action(description="Print labels (one PDF)", permissions=["print_labels"])
    def print_labels_selected(self, request, queryset):
        if self._too_many(request, queryset):
            return None
        return self._print_labels(request, list(queryset.order_by("pk")), request.get_full_path())

    @admin.action(description="Mark shipped (the carrier has the parcels)", permissions=["ship_shipment"])
    def ship_selected(self, request, queryset):
        if not self._too_many(request, queryset):
            self._apply_each(request, "ship", list(queryset.order_by("pk")), {})

    @admin.action(description="Void labels…", permissions=["print_labels"])
    def void_labels_selected(self, request, queryset):
        return self._redirect_to_form(request, "void", queryset)

    @admin.action(description="Packing slips (PDF)", permissions=["view"])
    def packing_slips_selected(self, request, queryset):
        return self._packing_slips(request, list(queryset.order_by("pk")[: MAX_PACKING_SLIPS + 1]), None)

    @admin.action(description="Record a tracking event…", permissions=["record_tracking"])
    def record_tracking_selected(self, request, queryset):
        return self._redirect_to_form(request, "track", queryset)

    def _too_many(self, request, queryset) -> bool:
        if queryset.order_by()[: MAX_BULK_SHIPMENTS + 1].count() > MAX_BULK_SHIPMENTS:
            self.message_user(
                request,
                f"Select at most {MAX_BULK_SHIPMENTS} shipments at a time; narrow the list with filters first.",
                messages.ERROR,
            )
            return True
        return False

    def _redirect_to_form(self, request, action: str, queryset) -> HttpResponseRedirect | None:
        if self._too_many(request, queryset):
            return None
        return HttpResponseRedirect(shipment_action_url(action, queryset.order_by("pk").values_list("pk", flat=True)))

    # --- doing it -----------------------------------------------------------------
    def _apply_each(self, request, action: str, shipments: list[Shipment], data: dict) -> int:
        done = sum(self._apply(request, action, shipment, data) for shipment in shipments)
        if len(shipments) > 1:
            self.message_user(request, f"{done} of {len(shipments)} shipments done.", messages.INFO)
        return done

    def _apply(self, request, action: str, shipment: Shipment, data: dict) -> bool:
        """Call the order workflow for one shipment and tell the operator what happened."""
        actor = request.user
        try:
            if action == "buy":
                shipment = workflow.buy_labels(shipment_id=shipment.pk, actor=actor)
                numbers = list(shipment.parcels.exclude(tracking_number=None).values_list("tracking_number", flat=True))
                message = f"{shipment}: label bought from {shipment.service}, tracking {', '.join(numbers)}."
            elif action == "ship":
                workflow.ship_shipment(shipment_id=shipment.pk, actor=actor)
                message = f"{shipment} shipped: the carrier has it."
            elif action == "void":
                workflow.void_label(shipment_id=shipment.pk, reason=data["reason"], actor=actor)
                message = f"{shipment}: label voided; it waits for a new label."
            elif action == "carrier":
                shipment = workflow.override_carrier(
                    shipment_id=shipment.pk, service_id=data["service"], reason=data["reason"], actor=actor
                )
                message = (
                    f"{shipment}: now {shipment.service} at {shipment.shipping_cost} {shipment.currency}, "
                    f"arriving {shipment.estimated_delivery:%a %d %b}."
                )
            elif action == "track":
                message = self._record_tracking(shipment, data, actor=actor)
            else:
                raise PermissionDenied
        except OrderError as refusal:
            text = str(refusal)
            self.message_user(request, text if str(shipment) in text else f"{shipment}: {text}", messages.ERROR)
            return False
        self.message_user(request, message, messages.SUCCESS)
        return True

    @staticmethod
    def _record_tracking(shipment: Shipment, data: dict, *, actor) -> str:
        """The same scan for every parcel of the shipment (all of them or none). Raises OrderError."""
        recorded, current = workflow.record_shipment_tracking(
            shipment_id=shipment.pk,
            status=data["status"],
            occurred_at=data["occurred_at"],
            actor=actor,
            description=data.get("description", ""),
            location=data.get("location", ""),
        )
        label = ShipmentStatus(data["status"]).label.lower()
        if not recorded:
            return f"{shipment}: {label} at that time was already recorded; nothing changed."
        now = current.get_status_display().lower()
        return f"{shipment}: {label} recorded for {_plural(recorded, 'parcel')}; the shipment is {now}."

    def _print_labels(self, request, shipments: list[Shipment], back_url: str):
        """One document with the labels of every selected shipment that has them; the others are named."""
        printable = [s for s in shipments if s.status in PRINTABLE]
        for shipment in shipments:
            if shipment.status not in PRINTABLE:
                self.message_user(
                    request,
                    f"{shipment} is {shipment.get_status_display().lower()}: no label to print"
                    + (" (buy it first)." if shipment.status == ShipmentStatus.AWAITING_LABEL else "."),
                    messages.ERROR,
                )
        if not printable:
            return HttpResponseRedirect(back_url)
        zpl = all(s.label_format == Shipment.LabelFormat.ZPL for s in printable)
        try:
            batch = start_label_batch(
                shipment_ids=[s.pk for s in printable],
                actor=request.user,
                label_format=Shipment.LabelFormat.ZPL if zpl else Shipment.LabelFormat.PDF,
            )
        except ShippingError as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return HttpResponseRedirect(back_url)
        self.message_user(
            request,
            f"{batch}: the labels of {_plural(len(printable), 'shipment')} are rendering into one "
            f"{'ZPL file' if zpl else 'PDF'}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:shipping_labelbatch_change", args=[batch.pk]))

    def _packing_slips(self, request, shipments: list[Shipment], back_url: str | None):
        if len(shipments) > MAX_PACKING_SLIPS:
            self.message_user(
                request,
                f"Packing slips are made for at most {MAX_PACKING_SLIPS} shipments at a time.",
                messages.ERROR,
            )
            return HttpResponseRedirect(back_url) if back_url else None
        slips = order_selectors.packing_slips_for([s.pk for s in shipments])
        if not slips:
            self.message_user(request, "No shipments were selected.", messages.WARNING)
            return HttpResponseRedirect(back_url) if back_url else None
        pdf = documents.render_packing_slip_pdf(slips)
        response = HttpResponse(pdf, content_type="application/pdf")
        name = shipments[0].number if len(shipments) == 1 else f"{timezone.localdate():%Y-%m-%d}-{len(shipments)}"
        response["Content-Disposition"] = f'inline; filename="packing-slips-{name}.pdf"'
        return response

    # --- the action page (input forms, and one-click buttons on the order and shipment pages) ---
    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("act/<str:action>/", view(self.act_view), name="shipping_shipment_act"),
            path("<path:object_id>/label/", view(self.label_view), name="shipping_shipment_label"),
        ]
        return custom + super().get_urls()

    def _carrier_choices(self, shipment: Shipment) -> tuple[list[tuple[int, str]], list[str]]:
        """Active services with this shipment's price and delivery date now; and those that cannot take it."""
        weights = [parcel.weight_kg for parcel in shipment.parcels.all()]
        try:
            zone = shipment.zone or zone_between(
                shipment.warehouse, shipment.ship_to.get("postal_code", ""), shipment.ship_to.get("country", "US")
            )
            options, refusals = quote_for(warehouse=shipment.warehouse, zone=zone, parcel_weights=weights)
        except ShippingError as error:
            services = CarrierService.objects.filter(is_active=True, vendor__is_active=True).select_related("vendor")
            return [(s.pk, str(s)) for s in services], [f"Prices unavailable: {error}"]
        current = shipment.service_id
        choices = [
            (
                option.service_id,
                f"{option.label}: {option.price} {shipment.currency}, arrives {option.eta:%a %d %b}"
                + (" (current)" if option.service_id == current else ""),
            )
            for option in sorted(options, key=lambda o: (o.price, o.eta))
        ]
        return choices, [f"{refusal.label}: {refusal.reason}" for refusal in refusals]

    def act_view(self, request: HttpRequest, action: str):
        """Ask for what an action needs (or a confirmation), then apply it to the listed shipments."""
        spec = SHIPMENT_ACTIONS.get(action)
        if spec is None:
            raise Http404
        if not request.user.has_perm(spec["permission"]):
            raise PermissionDenied
        raw_ids = request.POST.get("ids") or request.GET.get("ids") or ""
        ids = [int(pk) for pk in raw_ids.split(",") if pk.strip().isdigit()][:MAX_BULK_SHIPMENTS]
        shipments = list(self.get_queryset(request).filter(pk__in=ids).order_by("pk"))
        next_url = safe_next(request, reverse("admin:shipping_shipment_changelist"))
        if not shipments:
            self.message_user(request, "No shipments were selected.", messages.WARNING)
            return HttpResponseRedirect(next_url)
        if spec.get("single") and len(shipments) != 1:
            self.message_user(request, "Choose one shipment at a time for this.", messages.ERROR)
            return HttpResponseRedirect(next_url)
        form = None
        unavailable: list[str] = []
        form_class = spec["form"]
        if form_class is ChangeCarrierForm:
            choices, unavailable = self._carrier_choices(shipments[0])
            initial = {"service": shipments[0].service_id}
            form = ChangeCarrierForm(request.POST or None, service_choices=choices, initial=initial)
        elif form_class is TrackingEventForm:
            form = TrackingEventForm(request.POST or None, initial={"occurred_at": timezone.localtime()})
        elif form_class is not None:
            form = form_class(request.POST or None)
        if request.method == "POST" and (form is None or form.is_valid()):
            data = form.cleaned_data if form is not None else {}
            if action == "print":
                return self._print_labels(request, shipments, next_url)
            if action == "slips":
                return self._packing_slips(request, shipments, next_url)
            self._apply_each(request, action, shipments, data)
            return HttpResponseRedirect(next_url)
        count = len(shipments)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{spec['title']} {_plural(count, 'shipment') if count > 1 else shipments[0]}",
            "action": action,
            "shipments": [{"shipment": s, "badge": shipment_badge(s.status)} for s in shipments],
            "form": form,
            "media": self.media + form.media if form is not None else self.media,
            "unavailable": unavailable,
            "ids": ",".join(str(s.pk) for s in shipments),
            "next_url": next_url,
            "submit_label": spec["title"].removesuffix(" for").removesuffix(" of"),
        }
        return TemplateResponse(request, "admin/shipping/shipment/act.html", context)

    # --- the shipment page ----------------------------------------------------------
    def shipment_tools(self, request, shipment: Shipment, next_url: str) -> list[dict]:
        """The buttons this user may press for this shipment in its status."""
        status = shipment.status
        user = request.user
        tools = []

        def add(action: str, label: str, *, post: bool, danger: bool = False) -> None:
            tools.append(
                {
                    "action": action,
                    "label": label,
                    "post": post,
                    "danger": danger,
                    "url": reverse("admin:shipping_shipment_act", args=[action])
                    if post
                    else shipment_action_url(action, [shipment], next_url),
                }
            )

        if user.has_perm("shipping.print_labels"):
            if status == ShipmentStatus.AWAITING_LABEL and shipment.service_id:
                add("buy", "Buy label", post=True)
            if status in PRINTABLE:
                add("print", "Print label", post=True)
        if status == ShipmentStatus.AWAITING_LABEL and user.has_perm("shipping.override_carrier"):
            add("carrier", "Change carrier", post=False)
        if status == ShipmentStatus.LABEL_CREATED and user.has_perm("shipping.ship_shipment"):
            add("ship", "Mark shipped", post=True)
        if status in TRACKABLE and user.has_perm("shipping.record_tracking"):
            add("track", "Record tracking event", post=False)
        if status != ShipmentStatus.CANCELLED:
            add("slips", "Packing slip", post=True)
        if status == ShipmentStatus.LABEL_CREATED and user.has_perm("shipping.print_labels"):
            add("void", "Void label", post=False, danger=True)
        return tools

    def change_view(self, request, object_id, form_url="", extra_context=None):
        shipment = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if shipment is not None:
            here = reverse("admin:shipping_shipment_change", args=[shipment.pk])
            vendor = shipment.service.vendor if shipment.service_id else None
            extra_context.update(
                {
                    "shipment_tools": self.shipment_tools(request, shipment, here),
                    "here": here,
                    "shipment_lines": list(shipment.lines.all()),
                    "parcels": [
                        {
                            "parcel": parcel,
                            "url": vendor.tracking_url(parcel.tracking_number) if vendor else "",
                        }
                        for parcel in shipment.parcels.all()
                    ],
                    "carrier_options": [
                        {**option, "chosen": option.get("service_id") == shipment.service_id}
                        for option in shipment.options or []
                    ],
                    "tracking_events": list(shipment.tracking_events.all()),
                    "label_batches": list(shipment.label_batches.order_by("-created_at")[:10]),
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)

    # --- the label file -------------------------------------------------------------
    def label_view(self, request, object_id):
        """The shipment's labels (PDF inline, ZPL as a text file); rendered now when the file is missing."""
        shipment = get_object_or_404(self.get_queryset(request), pk=int_or_404(object_id))
        if not self.has_view_permission(request, shipment):
            raise PermissionDenied
        here = reverse("admin:shipping_shipment_change", args=[shipment.pk])
        if shipment.status not in PRINTABLE:
            self.message_user(request, f"{shipment} has no label: buy it first.", messages.ERROR)
            return HttpResponseRedirect(here)
        stored = bool(shipment.label_file) and shipment.label_file.storage.exists(shipment.label_file.name)
        if not stored:
            if not self.has_print_labels_permission(request):
                self.message_user(
                    request, f"The label of {shipment} is not rendered yet; try again in a minute.", messages.WARNING
                )
                return HttpResponseRedirect(here)
            try:
                rendered = render_shipment_label(shipment_id=shipment.pk)
            except (ShippingError, ValueError) as error:
                self.message_user(request, f"The label of {shipment} could not be rendered: {error}", messages.ERROR)
                return HttpResponseRedirect(here)
            if rendered is None:
                self.message_user(request, f"{shipment} no longer has a label (voided meanwhile).", messages.ERROR)
                return HttpResponseRedirect(here)
            shipment = rendered
        zpl = shipment.label_file.name.endswith(".zpl")
        response = FileResponse(
            shipment.label_file.open("rb"),
            as_attachment=zpl,
            filename=f"{shipment.number}.{'zpl' if zpl else 'pdf'}",
            content_type="text/plain; charset=utf-8" if zpl else "application/pdf",
        )
        response["Cache-Control"] = "private, no-store"
        return response
