"""The shipping console: carriers and their services, rate cards and transit times, the delivery promise
tool, tracking events and label batches.

Thin by design: rate cards change through the rate-card service, labels through the label services, and
tracking events are written only by the order workflow. The shipments' console (orders/admin/shipments.py)
is the order workflow's, as its actions are; it uses this module's badge and tracking links.
"""

from __future__ import annotations

import datetime as dt
import io

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, F, Q
from django.http import FileResponse, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from rangefilter.filters import DateRangeFilterBuilder

from oms_core.console import ReadOnlyAdmin, badge, form_page, int_or_404, person_field, plural
from oms_core.csvfiles import csv_writer

from . import selectors
from .exceptions import ShippingError
from .forms import PromiseForm, RateCardUploadForm
from .models import (
    CarrierService,
    LabelBatch,
    Lane,
    Rate,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
    TransitTime,
    Vendor,
)
from .promise import PromiseError, quote_promise
from .services.labels import resume_label_batch
from .services.ratecards import RateCardError, import_rate_card
from .services.vendors import issue_vendor_token

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


def _clear_rate_cache_after_commit() -> None:
    transaction.on_commit(selectors.clear_rate_cache)


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
        token = None
        if request.method == "POST":
            token = issue_vendor_token(vendor)
            self.log_change(request, vendor, "Issued a new tracking webhook token (the previous one stopped working).")
        response = form_page(
            self,
            request,
            "admin/shipping/vendor/token.html",
            title=f"Webhook token for {vendor}",
            vendor=vendor,
            original=vendor,
            token=token,
            submit_label="Issue the token",
            submit_id="issue-token",
            back_url=reverse("admin:shipping_vendor_change", args=[vendor.pk]),
        )
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
        return form_page(
            self,
            request,
            "admin/shipping/carrierservice/import_rates.html",
            title=f"Import a rate card for {service}",
            form=form,
            original=service,
            service=service,
            row_errors=row_errors,
            refusal=refusal,
            current_cells=service.rates.count(),
            submit_label="Check and import",
            back_url=here,
        )

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
        return form_page(
            self,
            request,
            "admin/shipping/promise.html",
            title="Delivery promise",
            form=form,
            promise=promise,
            shipments=[self._promise_shipment(s) for s in promise.shipments] if promise else [],
        )

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
                text += f"; {plural(resumed.queued, 'part')} queued again (the rendered ones are kept)"
            if resumed.rendering:
                text += f"; {plural(resumed.rendering, 'part')} still being rendered by a worker, left to it"
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


@admin.register(Lane)
class LaneAdmin(ReadOnlyAdmin):
    """Promise accuracy: delivered on or before the promised date, per lane (worst first), vendor, warehouse, week.

    Lanes are written by deliveries and the nightly refresh (``shipping.lanes``); nobody edits them here.
    """

    list_display = (
        "lane",
        "vendor",
        "service",
        "deliveries",
        "hit_display",
        "transit_median",
        "transit_percentile",
        "promised_days",
    )
    list_filter = ("vendor", "warehouse")
    search_fields = ("destination_zip3", "warehouse__code", "service__name")
    list_select_related = ("warehouse", "service", "vendor")
    list_per_page = 100
    change_list_template = "admin/shipping/lane/change_list.html"

    def get_queryset(self, request):
        return selectors.lanes_worst_first()

    def get_ordering(self, request):
        return [F("hit").asc(nulls_last=True), "-deliveries", "warehouse__code", "destination_zip3", "service__code"]

    @admin.display(description="lane", ordering="destination_zip3")
    def lane(self, lane: Lane) -> str:
        return f"{lane.warehouse.code} → {lane.destination_zip3}xx"

    @admin.display(description="on time", ordering="hit")
    def hit_display(self, lane: Lane):
        return _hit_cell(lane.hit_rate, lane.on_time, lane.promised)

    @admin.display(description="promised transit days")
    def promised_days(self, lane: Lane) -> str:
        if lane.learned_days is None:
            return f"rate card (learned after {settings.SHIPPING_LANE_MIN_DELIVERIES} deliveries)"
        return f"{lane.learned_days} (learned, p{settings.SHIPPING_LANE_PERCENTILE})"

    def changelist_view(self, request, extra_context=None):
        goal = settings.SHIPPING_PROMISE_HIT_GOAL
        since = timezone.localdate() - dt.timedelta(days=settings.SHIPPING_LANE_WINDOW_DAYS)
        overall = selectors.overall_hit_rate(since=since)
        extra_context = {
            **(extra_context or {}),
            "title": "Promise accuracy",
            "goal": goal,
            "since": since,
            "overall": overall,
            "overall_meets": overall.meets(goal),
            "groups": [
                (title, [(row, row.meets(goal)) for row in selectors.hit_rates(since=since, by=by)])
                for title, by in (("By vendor", "vendor"), ("By warehouse", "warehouse"), ("By week", "week"))
            ],
        }
        return super().changelist_view(request, extra_context)


def _hit_cell(rate, on_time: int, promised: int):
    if rate is None:
        return "no promised date"
    below = rate < settings.SHIPPING_PROMISE_HIT_GOAL
    return format_html(
        '<span class="oms-hit {}">{} %</span> <span class="oms-muted">({} of {})</span>',
        "oms-hit-below" if below else "oms-hit-met",
        rate,
        on_time,
        promised,
    )
