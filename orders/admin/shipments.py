"""The shipments' console (on the orders side, since its actions call the order workflow): the shipment list
and page, buying, printing and voiding labels, marking shipped, tracking by hand, packing slips, the order
page's shipments.

Thin by design: shipments change only through the order workflow (``orders.services``) and the label
services; every action reports each success or refusal, and actions that need input go through the
console's form page. Labels are served by the console (with a permission check), never from a public
media URL.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from rangefilter.filters import DateRangeFilterBuilder

from oms_core.console import FormAction, FormActionsMixin, ReadOnlyAdmin, badge, int_or_404, plural, rows_table
from shipping import documents
from shipping import selectors as shipping_selectors
from shipping.admin import shipment_badge, tracking_links
from shipping.exceptions import ShippingError
from shipping.forms import ChangeCarrierForm, TrackingEventForm, VoidLabelForm
from shipping.models import UNSHIPPED_STATUSES as UNSHIPPED
from shipping.models import CarrierService, Parcel, Shipment, ShipmentCostRisk, ShipmentStatus
from shipping.services import quote_for, render_shipment_label, start_label_batch, zone_between
from shipping.services.labels import PRINTABLE

from .. import selectors as order_selectors
from .. import services as workflow
from ..exceptions import OrderError
from ..models import Order
from ..services.shipping import SHIPPABLE
from . import shipment_changes as changes

CHANGE_SHIPMENTS_PERMISSION = "orders.change_shipments"  # managers and associates (oms_site/roles.py)
CHANGE_TEMPLATE = "admin/shipping/shipment/change_shipment.html"
MAX_BULK_SHIPMENTS = 500  # as orders' MAX_BULK_ORDERS: actions work one shipment at a time
MAX_PACKING_SLIPS = 50  # rendered in the request; more belongs in a batch
TRACKABLE = (ShipmentStatus.IN_TRANSIT, ShipmentStatus.EXCEPTION)


# --- the actions: each calls the order workflow (or the label services) and says what it did -----------


def buy_label(shipment: Shipment, data: dict, actor) -> str:
    shipment = workflow.buy_labels(shipment_id=shipment.pk, actor=actor)
    numbers = list(shipment.parcels.exclude(tracking_number=None).values_list("tracking_number", flat=True))
    return f"{shipment}: label bought from {shipment.service}, tracking {', '.join(numbers)}."


def approve_cost(shipment: Shipment, data: dict, actor) -> str:
    shipment = workflow.approve_shipping_cost(shipment_id=shipment.pk, actor=actor)
    return f"{shipment}: shipping cost of {shipment.cost_risk_figures.get('cost')} {shipment.currency} approved."


def ship(shipment: Shipment, data: dict, actor) -> str:
    workflow.ship_shipment(shipment_id=shipment.pk, actor=actor)
    return f"{shipment} shipped: the carrier has it."


def void_label(shipment: Shipment, data: dict, actor) -> str:
    workflow.void_label(shipment_id=shipment.pk, reason=data["reason"], actor=actor)
    return f"{shipment}: label voided; it waits for a new label."


def change_carrier(shipment: Shipment, data: dict, actor) -> str:
    shipment = workflow.override_carrier(
        shipment_id=shipment.pk, service_id=data["service"], reason=data["reason"], actor=actor
    )
    return (
        f"{shipment}: now {shipment.service} at {shipment.shipping_cost} {shipment.currency}, "
        f"arriving {shipment.estimated_delivery:%a %d %b}."
    )


def record_tracking(shipment: Shipment, data: dict, actor) -> str:
    """The same scan for every parcel of the shipment (all of them or none)."""
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
    return f"{shipment}: {label} recorded for {plural(recorded, 'parcel')}; the shipment is {now}."


def print_labels(request: HttpRequest, shipments: list[Shipment], back_url: str) -> HttpResponse:
    """One document with the labels of every selected shipment that has them; the others are named."""
    printable = [s for s in shipments if s.status in PRINTABLE]
    for shipment in shipments:
        if shipment.status not in PRINTABLE:
            messages.error(
                request,
                f"{shipment} is {shipment.get_status_display().lower()}: no label to print"
                + (" (buy it first)." if shipment.status == ShipmentStatus.AWAITING_LABEL else "."),
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
        messages.error(request, str(refusal))
        return HttpResponseRedirect(back_url)
    messages.success(
        request,
        f"{batch}: the labels of {plural(len(printable), 'shipment')} are rendering into one "
        f"{'ZPL file' if zpl else 'PDF'}.",
    )
    return HttpResponseRedirect(reverse("admin:shipping_labelbatch_change", args=[batch.pk]))


def packing_slips(request: HttpRequest, shipments: list[Shipment], back_url: str | None) -> HttpResponse | None:
    """The selected shipments' packing slips as one PDF (at most MAX_PACKING_SLIPS: more belongs in a batch)."""
    if len(shipments) > MAX_PACKING_SLIPS:
        messages.error(request, f"Packing slips are made for at most {MAX_PACKING_SLIPS} shipments at a time.")
        return HttpResponseRedirect(back_url) if back_url else None
    slips = order_selectors.packing_slips_for([s.pk for s in shipments])
    if not slips:
        messages.warning(request, "No shipments were selected.")
        return HttpResponseRedirect(back_url) if back_url else None
    pdf = documents.render_packing_slip_pdf(slips)
    response = HttpResponse(pdf, content_type="application/pdf")
    name = shipments[0].number if len(shipments) == 1 else f"{timezone.localdate():%Y-%m-%d}-{len(shipments)}"
    response["Content-Disposition"] = f'inline; filename="packing-slips-{name}.pdf"'
    return response


def carrier_choices(shipments: list[Shipment]) -> dict:
    """The change-carrier form's services: each active one with this shipment's price and delivery date now,
    the current one first chosen; and, as its note, the services that cannot take it."""
    (shipment,) = shipments
    weights = [parcel.weight_kg for parcel in shipment.parcels.all()]
    initial = {"service": shipment.service_id}
    try:
        zone = shipment.zone or zone_between(
            shipment.warehouse, shipment.ship_to.get("postal_code", ""), shipment.ship_to.get("country", "US")
        )
        options, refusals = quote_for(warehouse=shipment.warehouse, zone=zone, parcel_weights=weights)
    except ShippingError as error:
        services = CarrierService.objects.filter(is_active=True, vendor__is_active=True).select_related("vendor")
        choices = [(s.pk, str(s)) for s in services]
        return {"service_choices": choices, "unavailable": [f"Prices unavailable: {error}"], "initial": initial}
    current = shipment.service_id
    choices = [
        (
            option.service_id,
            f"{option.label}: {option.price} {shipment.currency}, arrives {option.eta:%a %d %b}"
            + (" (current)" if option.service_id == current else ""),
        )
        for option in sorted(options, key=lambda o: (o.price, o.eta))
    ]
    unavailable = [f"{refusal.label}: {refusal.reason}" for refusal in refusals]
    return {"service_choices": choices, "unavailable": unavailable, "initial": initial}


SHIPMENT_ACTIONS = {
    "buy": FormAction(
        title="Buy labels for {rows}", button="Buy labels", permission="shipping.print_labels", apply=buy_label
    ),
    "print": FormAction(
        title="Print the labels of {rows}",
        button="Print the labels",
        permission="shipping.print_labels",
        run=print_labels,
    ),
    "approve": FormAction(
        title="Approve the shipping cost of {rows}",
        button="Approve the shipping cost",
        permission="shipping.approve_shipping_cost",
        apply=approve_cost,
    ),
    "ship": FormAction(
        title="Mark shipped {rows}", button="Mark shipped", permission="shipping.ship_shipment", apply=ship
    ),
    "void": FormAction(
        title="Void the labels of {rows}",
        button="Void the labels",
        permission="shipping.print_labels",
        form=VoidLabelForm,
        apply=void_label,
    ),
    "track": FormAction(
        title="Record a tracking event for {rows}",
        button="Record a tracking event",
        permission="shipping.record_tracking",
        form=TrackingEventForm,
        apply=record_tracking,
    ),
    "slips": FormAction(
        title="Packing slips for {rows}", button="Packing slips", permission="shipping.view_shipment", run=packing_slips
    ),
    "carrier": FormAction(
        title="Change the carrier of {rows}",
        button="Change the carrier",
        permission="shipping.override_carrier",
        form=ChangeCarrierForm,
        form_kwargs=carrier_choices,
        single=True,
        apply=change_carrier,
    ),
    # before the label: split, merge, move (a preview first, then the confirmation), and the shipment's holds
    "split": FormAction(
        title="Split {row}",
        crumb="Split",
        button="Split the shipment",
        note="The first click shows what the split does (the shipments, their carriers, the stock); "
        "nothing changes until you click again to confirm.",
        permission=CHANGE_SHIPMENTS_PERMISSION,
        form=changes.SplitShipmentForm,
        form_kwargs=lambda shipments: {"shipment": shipments[0]},
        single=True,
        refusal_on_form=True,
        template=CHANGE_TEMPLATE,
        apply=changes.split,
    ),
    "merge": FormAction(
        title="Merge {row} into another shipment",
        crumb="Merge",
        button="Merge the shipments",
        note="The first click shows what the merge does; nothing changes until you click again to confirm.",
        permission=CHANGE_SHIPMENTS_PERMISSION,
        form=changes.MergeShipmentsForm,
        form_kwargs=lambda shipments: {"shipment": shipments[0]},
        single=True,
        refusal_on_form=True,
        template=CHANGE_TEMPLATE,
        apply=changes.merge,
    ),
    "move": FormAction(
        title="Move {row} to another warehouse",
        crumb="Move",
        button="Move the shipment",
        note="The first click shows what the move does; nothing changes until you click again to confirm.",
        permission=CHANGE_SHIPMENTS_PERMISSION,
        form=changes.MoveShipmentForm,
        form_kwargs=lambda shipments: {"shipment": shipments[0]},
        single=True,
        refusal_on_form=True,
        template=CHANGE_TEMPLATE,
        apply=changes.move,
    ),
    "hold": FormAction(
        title="Put {row} on hold",
        button="Put on hold",
        note="A held shipment gets no label and does not ship; the rest of the order carries on.",
        permission="orders.hold_order",
        form=changes.HoldForm,
        single=True,
        refusal_on_form=True,
        apply=changes.hold_shipment,
    ),
    "release": FormAction(
        title="Release {row} from hold",
        button="Release",
        note="Only who may release the hold's type can release it.",
        permission="orders.hold_order",
        form=changes.ReleaseForm,
        single=True,
        refusal_on_form=True,
        apply=changes.release_shipment,
    ),
}


class CostRiskFilter(admin.SimpleListFilter):
    """Shipments by the margin guard's verdict (``cost_risk``); "awaiting approval" is what the home counts."""

    title = "shipping cost"
    parameter_name = "cost_risk"
    AWAITING = "awaiting_approval"

    def lookups(self, request, model_admin):
        return [(self.AWAITING, "At risk, awaiting approval"), (ShipmentCostRisk.APPROVED, "At risk, approved")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == self.AWAITING:
            return queryset.filter(pk__in=shipping_selectors.shipments_awaiting_cost_approval().values("pk"))
        if value == ShipmentCostRisk.APPROVED:
            return queryset.filter(cost_risk=ShipmentCostRisk.APPROVED)
        raise IncorrectLookupParameters(f"shipping cost: {value!r} is not one of {self.AWAITING}, approved")


@admin.register(Shipment)
class ShipmentAdmin(FormActionsMixin, ReadOnlyAdmin):
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
        CostRiskFilter,
        "warehouse",
        "service__vendor",
        "order__channel",
        ("created_at", DateRangeFilterBuilder(title="created")),
        ("shipped_at", DateRangeFilterBuilder(title="shipped")),
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
        "approve_shipping_cost_selected",
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
        ("Shipping cost", {"fields": (("cost_risk", "cost_risk_reasons"), ("cost_approved_by", "cost_approved_at"))}),
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
        "cost_risk",
        "cost_risk_reasons",
        "cost_approved_by",
        "cost_approved_at",
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
        cost = f"{shipment.shipping_cost:,.2f} {shipment.currency}"
        if shipment.cost_risk == ShipmentCostRisk.AT_RISK:
            return format_html("{} {}", cost, badge("cost-at-risk", "#b91c1c", "cost at risk"))
        return cost

    @admin.display(description="why")
    def cost_risk_reasons(self, shipment: Shipment):
        reasons = shipment.cost_risk_figures.get("reasons") or []
        if shipment.cost_risk == ShipmentCostRisk.WITHIN or not reasons:
            return "—"
        return "; ".join(f"shipping {reason}" for reason in reasons)

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

    def has_approve_shipping_cost_permission(self, request) -> bool:
        return request.user.has_perm("shipping.approve_shipping_cost")

    # --- the actions ----------------------------------------------------------------
    form_actions = SHIPMENT_ACTIONS
    refusals = (OrderError,)

    def selection_limit(self) -> int:
        return MAX_BULK_SHIPMENTS

    def describe_rows(self, shipments: list[Shipment]) -> str:
        return plural(len(shipments), "shipment") if len(shipments) > 1 else str(shipments[0])

    def refusal_message(self, shipment: Shipment, refusal: Exception) -> str:
        text = str(refusal)
        return text if str(shipment) in text else f"{shipment}: {text}"

    def form_action_form_kwargs(self, request, spec: FormAction, rows: list) -> dict:
        kwargs = super().form_action_form_kwargs(request, spec, rows)
        if spec.form in changes.REVIEWED_FORMS:
            kwargs["confirming"] = request.method == "POST" and bool(request.POST.get("reviewed"))
        return kwargs

    def form_action_context(self, request, spec: FormAction, rows: list, form) -> dict:
        if spec.form in changes.REVIEWED_FORMS and form is not None:
            return {"shipment": rows[0], "plan": form.plan}
        if spec.form is changes.ReleaseForm and rows:
            return {"hold": order_selectors.open_hold_of_shipment(rows[0].pk)}
        return super().form_action_context(request, spec, rows, form)

    def form_action_table(self, spec: FormAction, shipments: list[Shipment]) -> dict:
        return rows_table(
            shipments,
            headers=("Shipment", "Order", "Warehouse", "Service", "Status"),
            cells=lambda s: (s.number, s.order_number, s.warehouse.code, s.service or "—", shipment_badge(s.status)),
            key="shipment",
        )

    @admin.action(description="Buy labels", permissions=["print_labels"])
    def buy_labels_selected(self, request, queryset):
        if not self.too_many(request, queryset):
            self.apply_form_action(request, "buy", list(queryset.order_by("pk")), {})

    @admin.action(description="Approve the shipping cost at risk", permissions=["approve_shipping_cost"])
    def approve_shipping_cost_selected(self, request, queryset):
        if not self.too_many(request, queryset):
            self.apply_form_action(request, "approve", list(queryset.order_by("pk")), {})

    @admin.action(description="Print labels (one PDF)", permissions=["print_labels"])
    def print_labels_selected(self, request, queryset):
        if self.too_many(request, queryset):
            return None
        return print_labels(request, list(queryset.order_by("pk")), request.get_full_path())

    @admin.action(description="Mark shipped (the carrier has the parcels)", permissions=["ship_shipment"])
    def ship_selected(self, request, queryset):
        if not self.too_many(request, queryset):
            self.apply_form_action(request, "ship", list(queryset.order_by("pk")), {})

    @admin.action(description="Void labels…", permissions=["print_labels"])
    def void_labels_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "void", queryset)

    @admin.action(description="Packing slips (PDF)", permissions=["view"])
    def packing_slips_selected(self, request, queryset):
        return packing_slips(request, list(queryset.order_by("pk")[: MAX_PACKING_SLIPS + 1]), None)

    @admin.action(description="Record a tracking event…", permissions=["record_tracking"])
    def record_tracking_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "track", queryset)

    def get_urls(self):
        label = path(
            "<path:object_id>/label/", self.admin_site.admin_view(self.label_view), name="shipping_shipment_label"
        )
        return [*self.form_action_urls(), label, *super().get_urls()]

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
                    "url": self.form_action_url(action) if post else self.form_action_url(action, [shipment], next_url),
                }
            )

        if user.has_perm("shipping.print_labels"):
            if status == ShipmentStatus.AWAITING_LABEL and shipment.service_id:
                add("buy", "Buy label", post=True)
            if status in PRINTABLE:
                add("print", "Print label", post=True)
        if shipment.cost_risk == ShipmentCostRisk.AT_RISK and user.has_perm("shipping.approve_shipping_cost"):
            add("approve", "Approve shipping cost", post=True)
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
        hold = order_selectors.open_hold_of_shipment(shipment.pk)
        if status == ShipmentStatus.AWAITING_LABEL and user.has_perm(CHANGE_SHIPMENTS_PERMISSION):
            if hold is None:
                add("split", "Split", post=False)
                if order_selectors.merge_candidates(shipment).exists():
                    add("merge", "Merge into…", post=False)
            add("move", "Move to another warehouse", post=False)
        if user.has_perm("orders.hold_order") and status in UNSHIPPED:
            if hold is None:
                add("hold", "Put on hold", post=False)
            elif user.has_perm(hold.release_permission):
                add("release", f"Release {hold.get_hold_type_display().lower()} hold", post=False)
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
                    "shipment_hold": order_selectors.open_hold_of_shipment(shipment.pk),
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

    # --- the order page's shipments ----------------------------------------------------
    def order_panel(self, request, order: Order) -> dict:
        """The order's shipments, and the warehouse path's buttons: create, buy, print, ship."""
        if not request.user.has_perm("shipping.view_shipment"):
            return {}
        user = request.user
        here = reverse("admin:orders_order_change", args=[order.pk])
        shipments = order_selectors.order_shipments(order.pk)
        tools = []

        def tool(action: str, label: str, url: str, ids) -> None:
            tools.append({"action": action, "label": label, "url": url, "ids": ",".join(str(i) for i in ids)})

        if (
            user.has_perm("shipping.print_labels")
            and order.status in SHIPPABLE
            and order_selectors.units_waiting_for_shipment(order.pk)
        ):
            tool("create-shipments", "Create shipments", reverse("admin:orders_order_act", args=["ship"]), [order.pk])
        by_status: dict[str, list[int]] = {}
        for shipment in shipments:
            by_status.setdefault(shipment.status, []).append(shipment.pk)
        held = order_selectors.held_shipment_ids(order.pk)  # no label for a held shipment until it is released
        awaiting = [
            s.pk for s in shipments if s.status == ShipmentStatus.AWAITING_LABEL and s.service_id and s.pk not in held
        ]
        labelled = by_status.get(ShipmentStatus.LABEL_CREATED, [])
        at_risk = [s.pk for s in shipments if s.cost_risk == ShipmentCostRisk.AT_RISK and s.status in UNSHIPPED]
        if at_risk and user.has_perm("shipping.approve_shipping_cost"):
            tool("approve-cost", f"Approve shipping cost ({len(at_risk)})", self.form_action_url("approve"), at_risk)
        if awaiting and user.has_perm("shipping.print_labels"):
            tool("buy-labels", f"Buy labels ({len(awaiting)})", self.form_action_url("buy"), awaiting)
        if labelled and user.has_perm("shipping.print_labels"):
            tool("print-labels", f"Print labels ({len(labelled)})", self.form_action_url("print"), labelled)
        if labelled and user.has_perm("shipping.ship_shipment"):
            tool("mark-shipped", f"Mark shipped ({len(labelled)})", self.form_action_url("ship"), labelled)
        open_ids = [s.pk for s in shipments if s.status != ShipmentStatus.CANCELLED]
        if open_ids:
            tool("packing-slips", "Packing slips", self.form_action_url("slips"), open_ids)
        return {
            "shipping_panel": {
                "shipments": [
                    {
                        "shipment": s,
                        "url": reverse("admin:shipping_shipment_change", args=[s.pk]),
                        "badge": shipment_badge(s.status),
                        "tracking": tracking_links(s),
                        "void_url": self.form_action_url("void", [s], here)
                        if s.status == ShipmentStatus.LABEL_CREATED and user.has_perm("shipping.print_labels")
                        else "",
                    }
                    for s in shipments
                ],
                "tools": tools,
                "next": here,
            }
        }
