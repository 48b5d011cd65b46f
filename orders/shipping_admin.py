"""The shipping console (registered from orders, since its actions call the order workflow): carriers and
rate cards, shipments and their labels, label batches, the promise tool.

Thin by design: shipments, tracking events and batches change only through
the order workflow (``orders.services``) and the label services; every
action reports each success or refusal, and actions that need input go
through a small form page. Labels are served by the console (with a
permission check), never from a public media URL.
"""

from __future__ import annotations

import io

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from rangefilter.filters import DateRangeFilterBuilder

from oms_core.console import person_field
from oms_core.csvfiles import csv_writer
from shipping import documents, selectors
from shipping.exceptions import ShippingError
from shipping.forms import ChangeCarrierForm, PromiseForm, RateCardUploadForm, TrackingEventForm, VoidLabelForm
from shipping.models import (
    CarrierService,
    LabelBatch,
    Parcel,
    Rate,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
    TransitTime,
    Vendor,
)
from shipping.promise import PromiseError, quote_promise
from shipping.services import quote_for, render_shipment_label, start_label_batch, zone_between
from shipping.services.labels import PRINTABLE, resume_label_batch
from shipping.services.ratecards import RateCardError, import_rate_card

from . import selectors as order_selectors
from . import services as workflow
from .api.carriers import issue_vendor_token
from .exceptions import OrderError

MAX_BULK_SHIPMENTS = 500  # as orders' MAX_BULK_ORDERS: actions work one shipment at a time
MAX_PACKING_SLIPS = 50  # rendered in the request; more belongs in a batch

SHIPMENT_STATUS_COLOURS = {
    ShipmentStatus.AWAITING_LABEL: "#b45309",
    ShipmentStatus.LABEL_CREATED: "#1d4ed8",
    ShipmentStatus.IN_TRANSIT: "#0f766e",
    ShipmentStatus.DELIVERED: "#15803d",
    ShipmentStatus.EXCEPTION: "#b91c1c",
    ShipmentStatus.CANCELLED: "#6b7280",
}
BATCH_STATUS_COLOURS = {
    LabelBatch.Status.QUEUED: "#475569",
    LabelBatch.Status.RENDERING: "#1d4ed8",
    LabelBatch.Status.DONE: "#15803d",
    LabelBatch.Status.FAILED: "#b91c1c",
}
TRACKABLE = (ShipmentStatus.IN_TRANSIT, ShipmentStatus.EXCEPTION)


def badge(key: str, colour: str, label: str) -> str:
    return format_html('<span class="oms-badge oms-badge-{}" style="background:{}">{}</span>', key, colour, label)


def shipment_badge(status: str) -> str:
    return badge(status, SHIPMENT_STATUS_COLOURS.get(status, "#475569"), ShipmentStatus(status).label)


def tracking_links(shipment: Shipment) -> str:
    """The shipment's tracking numbers, each linked to the vendor's tracking page when it has one."""
    vendor = shipment.service.vendor if shipment.service_id else None
    numbers = [parcel.tracking_number for parcel in shipment.parcels.all() if parcel.tracking_number]
    if not numbers:
        return ""
    return format_html_join(
        mark_safe("<br>"),
        "{}",
        (
            (
                format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, number)
                if (url := vendor.tracking_url(number) if vendor else "")
                else number,
            )
            for number in numbers
        ),
    )


def safe_next(request: HttpRequest, default: str) -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or default
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return default
    return next_url


def int_or_404(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _clear_rate_cache_after_commit() -> None:
    transaction.on_commit(selectors.clear_rate_cache)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services and tasks: those who may view look, nobody edits."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- vendors ---------------------------------------------------------------------


class CarrierServiceInline(admin.TabularInline):
    model = CarrierService
    extra = 0
    fields = ("code", "name", "max_weight_kg", "pickup_cutoff", "fuel_surcharge_percent", "is_active")
    show_change_link = True


@admin.register(Vendor)
class VendorAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "adapter", "is_active", "service_count", "webhook_token_status", "contact_email")
    list_filter = ("is_active", "adapter")
    search_fields = ("name", "code")
    inlines = (CarrierServiceInline,)
    actions = ("issue_webhook_token_selected",)
    change_form_template = "admin/shipping/vendor/change_form.html"
    fieldsets = (
        (None, {"fields": (("code", "name"), ("adapter", "is_active"))}),
        ("Account and contact", {"fields": ("account_number", ("contact_name", "contact_email", "contact_phone"))}),
        (
            "Tracking",
            {"fields": ("tracking_url_template", ("tracking_prefix", "tracking_digits"), "webhook_token_status")},
        ),
    )
    readonly_fields = ("webhook_token_status",)

    @admin.display(description="services", ordering="service_total")
    def service_count(self, vendor: Vendor):
        return vendor.service_total

    @admin.display(description="webhook token")
    def webhook_token_status(self, vendor: Vendor):
        return "issued" if vendor.webhook_token_hash else "none"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(service_total=Count("services"))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        _clear_rate_cache_after_commit()  # active flags and services take part in every quote

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        _clear_rate_cache_after_commit()

    # --- the webhook token --------------------------------------------------------
    def has_issue_webhook_token_permission(self, request) -> bool:
        return request.user.has_perm("shipping.issue_webhook_token")

    @admin.action(description="Issue a new webhook token…", permissions=["issue_webhook_token"])
    def issue_webhook_token_selected(self, request, queryset):
        vendors = list(queryset[:2])
        if len(vendors) != 1:
            self.message_user(request, "Select exactly one vendor to issue a token for.", messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:shipping_vendor_token", args=[vendors[0].pk]))

    def get_urls(self):
        token = path(
            "<path:object_id>/webhook-token/",
            self.admin_site.admin_view(self.token_view),
            name="shipping_vendor_token",
        )
        return [token, *super().get_urls()]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_issue_token"] = obj is not None and self.has_issue_webhook_token_permission(request)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def token_view(self, request, object_id):
        """Confirm, then issue the vendor's tracking webhook token and show it this once."""
        if not self.has_issue_webhook_token_permission(request):
            raise PermissionDenied
        vendor = get_object_or_404(Vendor, pk=int_or_404(object_id))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Webhook token for {vendor}",
            "vendor": vendor,
            "original": vendor,
            "token": None,
        }
        if request.method == "POST":
            context["token"] = issue_vendor_token(vendor)
            self.log_change(request, vendor, "Issued a new tracking webhook token (the previous one stopped working).")
        response = TemplateResponse(request, "admin/shipping/vendor/token.html", context)
        response["Cache-Control"] = "no-store"  # the token is shown once: no copy in any cache
        return response


# --- carrier services and their rate cards ---------------------------------------


class TransitTimeInline(admin.TabularInline):
    model = TransitTime
    extra = 0
    fields = ("zone", "business_days")


class RateInline(admin.TabularInline):
    model = Rate
    verbose_name = "rate cell"
    verbose_name_plural = "rate card"
    extra = 0
    fields = ("zone", "max_weight_kg", "price")


@admin.register(CarrierService)
class CarrierServiceAdmin(admin.ModelAdmin):
    list_display = (
        "service_name",
        "vendor",
        "code",
        "max_weight_kg",
        "pickup_cutoff",
        "fuel_surcharge_percent",
        "zone_count",
        "rate_count",
        "is_active",
    )
    list_display_links = ("service_name",)
    list_filter = ("is_active", "vendor")
    list_select_related = ("vendor",)
    search_fields = ("name", "code", "vendor__name", "vendor__code")
    inlines = (TransitTimeInline, RateInline)
    change_form_template = "admin/shipping/carrierservice/change_form.html"
    fields = (
        ("vendor", "code", "name"),
        ("max_weight_kg", "pickup_cutoff", "fuel_surcharge_percent"),
        "is_active",
    )

    @admin.display(description="service", ordering="name")
    def service_name(self, service: CarrierService):
        return service.name

    @admin.display(description="zones served", ordering="zone_total")
    def zone_count(self, service: CarrierService):
        return service.zone_total

    @admin.display(description="rate cells", ordering="rate_total")
    def rate_count(self, service: CarrierService):
        return service.rate_total

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                zone_total=Count("transit_times", distinct=True),
                rate_total=Count("rates", distinct=True),
            )
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        _clear_rate_cache_after_commit()  # quotes see the edited card now, not after the cache expires

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        _clear_rate_cache_after_commit()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        _clear_rate_cache_after_commit()

    # --- permissions for the card tools ------------------------------------------
    def has_import_rates_permission(self, request) -> bool:
        """Replacing a card adds and changes rate cells (and transit times when the file has them)."""
        user = request.user
        return all(
            user.has_perm(name) for name in ("shipping.add_rate", "shipping.change_rate", "shipping.change_transittime")
        )

    def has_promise_permission(self, request) -> bool:
        return request.user.has_perm("shipping.view_carrierservice")

    def console_tools(self, request) -> list[dict]:
        """Pages that are not a model's list, shown with the shipping app on the console's index."""
        if not self.has_promise_permission(request):
            return []
        return [{"name": "Delivery promise", "url": reverse("admin:shipping_promise"), "key": "promise"}]

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("promise/", view(self.promise_view), name="shipping_promise"),
            path("<path:object_id>/import-rates/", view(self.import_rates_view), name="shipping_carrierservice_import"),
            path("<path:object_id>/rates.csv", view(self.export_rates_view), name="shipping_carrierservice_export"),
        ]
        return custom + super().get_urls()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_import_rates"] = self.has_import_rates_permission(request)
            context["can_export_rates"] = request.user.has_perm("shipping.view_rate")
        return super().render_change_form(request, context, add, change, form_url, obj)

    def import_rates_view(self, request, object_id):
        """Upload a CSV rate card; every bad row is listed and nothing is imported, or the card is replaced."""
        if not self.has_import_rates_permission(request):
            raise PermissionDenied
        service = get_object_or_404(CarrierService.objects.select_related("vendor"), pk=int_or_404(object_id))
        here = reverse("admin:shipping_carrierservice_change", args=[service.pk])
        row_errors = []
        refusal = ""
        if request.method == "POST":
            form = RateCardUploadForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    result = import_rate_card(
                        service_id=service.pk, content=form.cleaned_data["file"].read(), actor=request.user
                    )
                except RateCardError as error:
                    row_errors = error.errors
                    refusal = str(error)
                except ShippingError as error:
                    refusal = str(error)
                else:
                    self.log_change(request, service, f"Imported a rate card: {result.summary}")
                    self.message_user(request, f"{service}: imported {result.summary}", messages.SUCCESS)
                    return HttpResponseRedirect(here)
        else:
            form = RateCardUploadForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Import a rate card for {service}",
            "original": service,
            "service": service,
            "form": form,
            "row_errors": row_errors,
            "refusal": refusal,
            "current_cells": service.rates.count(),
            "next_url": here,
        }
        return TemplateResponse(request, "admin/shipping/carrierservice/import_rates.html", context)

    def export_rates_view(self, request, object_id):
        """The service's card as CSV, in the import's columns: edit it in a sheet and import it back."""
        if not request.user.has_perm("shipping.view_rate"):
            raise PermissionDenied
        service = get_object_or_404(CarrierService.objects.select_related("vendor"), pk=int_or_404(object_id))
        transit = dict(service.transit_times.values_list("zone", "business_days"))
        out = io.StringIO()
        writer = csv_writer(out, lineterminator="\n")  # numbers as numbers; any text guarded
        writer.writerow(["zone", "max_weight_kg", "price", "transit_days"])
        for zone, weight, price in service.rates.order_by("zone", "max_weight_kg").values_list(
            "zone", "max_weight_kg", "price"
        ):
            writer.writerow([zone, weight, price, transit.get(zone, "")])
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        filename = f"rates-{service.vendor.code}-{service.code}.csv".lower()
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    # --- the delivery promise tool -----------------------------------------------
    def promise_view(self, request):
        """When and for how much a basket would arrive at a postal code, from the warehouses routing would use."""
        if not self.has_promise_permission(request):
            raise PermissionDenied
        promise = None
        form = PromiseForm(request.GET or None)
        if request.GET and form.is_valid():
            data = form.cleaned_data
            try:
                promise = quote_promise(postal_code=data["postal_code"], items=data["items"], country=data["country"])
            except PromiseError as error:
                self._promise_error_on_form(form, error)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Delivery promise",
            "form": form,
            "promise": promise,
            "shipments": [self._promise_shipment(s) for s in promise.shipments] if promise else [],
        }
        return TemplateResponse(request, "admin/shipping/promise.html", context)

    @staticmethod
    def _promise_error_on_form(form: PromiseForm, error: PromiseError) -> None:
        """Put the service's refusal on the field it names: the postal code, or the SKU line at fault."""
        if error.field == "postal_code":
            form.add_error("postal_code", error.message)
            return
        name, _, rest = error.field.partition("[")
        if name in {"sku", "qty"} and rest.rstrip("]").isdigit():
            index = int(rest.rstrip("]"))
            lines = getattr(form, "item_line_numbers", [])
            where = f"line {lines[index]}: " if index < len(lines) else ""
            message = error.message.split(": ", 1)[-1] if error.message.startswith(f"{error.field}") else error.message
            form.add_error("items", f"{where}{message}")
            return
        form.add_error("items" if name in {"sku", "qty"} else None, error.message)

    @staticmethod
    def _promise_shipment(shipment) -> dict:
        fastest, cheapest = shipment.fastest, shipment.cheapest
        return {
            "shipment": shipment,
            "weight": sum(shipment.parcel_weights),
            "options": [
                {
                    "option": option,
                    "fastest": fastest is not None and option.service_id == fastest.service_id,
                    "cheapest": cheapest is not None and option.service_id == cheapest.service_id,
                }
                for option in sorted(shipment.options, key=lambda o: (o.eta, o.price))
            ],
        }


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


@admin.register(TrackingEvent)
class TrackingEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "tracking_number", "shipment_link", "status_badge", "description", "location")
    list_display_links = ("occurred_at",)
    list_filter = ("status", "source", ("occurred_at", DateRangeFilterBuilder(title="when")))
    list_select_related = ("shipment",)
    search_fields = ("tracking_number", "shipment__number")
    search_help_text = "Tracking number or shipment number (exact)."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    ordering = ("-occurred_at", "-id")
    fields = (
        ("shipment_link", "tracking_number"),
        ("status_badge", "occurred_at"),
        "description",
        "location",
        ("source", "recorded_by", "created_at"),
    )
    readonly_fields = (
        "shipment_link",
        "tracking_number",
        "status_badge",
        "occurred_at",
        "description",
        "location",
        "source",
        "recorded_by",
        "created_at",
    )

    @admin.display(description="shipment", ordering="shipment__number")
    def shipment_link(self, event: TrackingEvent):
        url = reverse("admin:shipping_shipment_change", args=[event.shipment_id])
        return format_html('<a href="{}">{}</a>', url, event.shipment.number)

    @admin.display(description="status", ordering="status")
    def status_badge(self, event: TrackingEvent):
        return shipment_badge(event.status)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(
            Q(tracking_number__in={term, term.upper()}) | Q(shipment__number__in={term, term.upper()})
        ), False


# --- label batches -------------------------------------------------------------------


@admin.register(LabelBatch)
class LabelBatchAdmin(ReadOnlyAdmin):
    list_display = (
        "__str__",
        "status_badge",
        "progress",
        "label_format",
        "created_by_name",
        "created_at",
        "finished_at",
        "download",
    )
    list_filter = ("status", "label_format")
    list_select_related = ("created_by",)
    list_per_page = 50
    ordering = ("-created_at", "-id")
    fields = (
        ("status_badge", "progress"),
        ("label_format", "created_by_name"),
        ("created_at", "finished_at", "heartbeat_at"),
        "error",
    )
    readonly_fields = (
        "status_badge",
        "progress",
        "label_format",
        "created_by_name",
        "created_at",
        "finished_at",
        "heartbeat_at",
        "error",
    )
    change_form_template = "admin/shipping/labelbatch/change_form.html"
    created_by_name = person_field("created_by")  # a name, not a link to a user page only superusers may open
    actions = ["resume_rendering"]

    def has_print_labels_permission(self, request) -> bool:
        return request.user.has_perm("shipping.print_labels")

    @admin.action(description="Resume rendering", permissions=["print_labels"])
    def resume_rendering(self, request, queryset):
        """Render the unfinished parts of each batch again now; the parts already rendered are kept."""
        for batch in queryset.order_by("pk"):
            try:
                resumed = resume_label_batch(batch_id=batch.pk, actor=request.user)
            except ShippingError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
                continue
            batch.refresh_from_db()
            text = f"{batch}: rendering resumed at {batch.rendered_count} of {batch.label_count} labels"
            if resumed.queued:
                text += f"; {_plural(resumed.queued, 'part')} queued again (the rendered ones are kept)"
            if resumed.rendering:
                text += f"; {_plural(resumed.rendering, 'part')} still being rendered by a worker, left to it"
            if not resumed.queued and not resumed.rendering:
                text += "; every part is rendered, joining them"
            self.log_change(request, batch, text)
            self.message_user(request, text + ".", messages.SUCCESS)

    @admin.display(description="status", ordering="status")
    def status_badge(self, batch: LabelBatch):
        return badge(batch.status, BATCH_STATUS_COLOURS[batch.status], batch.get_status_display())

    @admin.display(description="labels rendered")
    def progress(self, batch: LabelBatch):
        return f"{batch.rendered_count} of {batch.label_count} ({batch.progress_percent}%)"

    @admin.display(description="file")
    def download(self, batch: LabelBatch):
        if batch.status != LabelBatch.Status.DONE or not batch.file:
            return "—"
        return format_html('<a href="{}">Download</a>', reverse("admin:shipping_labelbatch_download", args=[batch.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("<path:object_id>/status/", view(self.status_view), name="shipping_labelbatch_status"),
            path("<path:object_id>/download/", view(self.download_view), name="shipping_labelbatch_download"),
        ]
        return custom + super().get_urls()

    @staticmethod
    def status_data(batch: LabelBatch) -> dict:
        finished = batch.status in (LabelBatch.Status.DONE, LabelBatch.Status.FAILED)
        done = batch.status == LabelBatch.Status.DONE and bool(batch.file)
        return {
            "id": batch.pk,
            "status": batch.status,
            "status_label": batch.get_status_display(),
            "rendered": batch.rendered_count,
            "total": batch.label_count,
            "percent": batch.progress_percent,
            "finished": finished,
            "error": batch.error,
            "download_url": reverse("admin:shipping_labelbatch_download", args=[batch.pk]) if done else "",
        }

    def status_view(self, request, object_id):
        """The batch's progress as JSON; the batch page polls it while the labels render."""
        batch = get_object_or_404(LabelBatch, pk=int_or_404(object_id))
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        response = JsonResponse(self.status_data(batch))
        response["Cache-Control"] = "no-store"
        return response

    def download_view(self, request, object_id):
        batch = get_object_or_404(LabelBatch, pk=int_or_404(object_id))
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        here = reverse("admin:shipping_labelbatch_change", args=[batch.pk])
        if batch.status != LabelBatch.Status.DONE or not batch.file:
            self.message_user(request, f"{batch} is {batch.get_status_display().lower()}: no file yet.", messages.ERROR)
            return HttpResponseRedirect(here)
        if not batch.file.storage.exists(batch.file.name):
            self.message_user(request, f"The file of {batch} is gone; print the labels again.", messages.ERROR)
            return HttpResponseRedirect(here)
        zpl = batch.label_format == Shipment.LabelFormat.ZPL
        response = FileResponse(
            batch.file.open("rb"),
            as_attachment=zpl,
            filename=f"labels-batch-{batch.pk}.{'zpl' if zpl else 'pdf'}",
            content_type="text/plain; charset=utf-8" if zpl else "application/pdf",
        )
        response["Cache-Control"] = "private, no-store"
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if batch is not None:
            extra_context.update(
                {
                    "batch_status": self.status_data(batch),
                    "batch_shipments": list(
                        batch.shipments.select_related("warehouse", "service__vendor").order_by("warehouse__code", "pk")
                    ),
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)
