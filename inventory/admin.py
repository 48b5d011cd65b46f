"""The inventory console: SKUs, warehouses, stock, the ledger, routing rules, cycle counts, checks.

Thin by design: every change of stock goes through a service and a ledger
movement, so on hand and allocated are read-only everywhere. Forms collect
input; refusals (InventoryError) come back to the operator on the form or
as a message, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Abs
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from rangefilter.filters import DateRangeFilterBuilder

from oms_core.console import (
    Done,
    FormAction,
    FormActionsMixin,
    ReadOnlyAdmin,
    admin_change_url,
    admin_link,
    badge,
    int_or_none,
    person_field,
    plural,
)

from . import selectors, services
from .exceptions import InventoryError
from .forms import (
    AdjustStockForm,
    ApproveCycleCountForm,
    ReceiveStockForm,
    RecordCountsForm,
    RejectCycleCountForm,
    StartCycleCountForm,
    TransferStockForm,
)
from .imports.admin import ImportJobAdmin  # noqa: F401  (CSV imports: registers their console)
from .models import (
    Allocation,
    CycleCount,
    InventoryCheckRun,
    InventoryFinding,
    Product,
    RoutingExclusion,
    SafetyStockRule,
    StockLevel,
    StockMovement,
    Warehouse,
)

RECENT_MOVEMENTS = 25
WAREHOUSE_STOCK_ROWS = 200
RUN_PAGE_FINDINGS = 200

COUNT_STATUS_COLOURS = {
    CycleCount.Status.OPEN: "#1d4ed8",
    CycleCount.Status.SUBMITTED: "#b45309",
    CycleCount.Status.APPROVED: "#15803d",
    CycleCount.Status.REJECTED: "#6b7280",
}
SEVERITY_COLOURS = {
    InventoryFinding.Severity.ERROR: "#b91c1c",
    InventoryFinding.Severity.WARNING: "#b45309",
    InventoryFinding.Severity.INFO: "#1d4ed8",
}


def low_stock_badge() -> str:
    return badge("low", "#b91c1c", "Low")


# --- SKUs and warehouses ------------------------------------------------------


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "weight_kg", "is_active")
    list_filter = ("is_active",)
    search_fields = ("sku", "name")
    change_form_template = "admin/inventory/product/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        product = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if product is not None and request.user.has_perm("inventory.view_stocklevel"):
            extra_context["stock_rows"] = self._stock_by_warehouse(product.pk)
        if product is not None and request.user.has_perm("inventory.view_stockmovement"):
            extra_context["movements"] = list(selectors.recent_movements(product, limit=RECENT_MOVEMENTS))
            extra_context["movements_of_one_sku"] = True
            extra_context["movements_url"] = (
                f"{reverse('admin:inventory_stockmovement_changelist')}?product__id__exact={product.pk}"
            )
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _stock_by_warehouse(product_id: int) -> list[dict]:
        """Every active warehouse (and any inactive one still holding a level), with the SKU's level there."""
        levels = {
            level.warehouse_id: level for level in selectors.stock_levels_with_low_flag().filter(product_id=product_id)
        }
        return [
            {"warehouse": warehouse, "level": levels.get(warehouse.pk)}
            for warehouse in Warehouse.objects.order_by("code")
            if warehouse.is_active or warehouse.pk in levels
        ]


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "city",
        "state",
        "postal_code",
        "priority",
        "time_zone",
        "daily_cutoff",
        "processing_days",
        "handling_cost",
        "daily_order_capacity",
        "is_active",
    )
    list_filter = ("is_active", "state")
    search_fields = ("code", "name", "city", "postal_code")
    fieldsets = (
        (None, {"fields": (("code", "name"), "is_active")}),
        (
            "Location",
            {
                "fields": ("address_line1", ("city", "state"), ("postal_code", "country"), ("latitude", "longitude")),
                "description": "Latitude and longitude are looked up from the postal code when you save.",
            },
        ),
        (
            "Routing",
            {
                "fields": (
                    "priority",
                    ("time_zone", "daily_cutoff"),
                    "processing_days",
                    "handling_cost",
                    "daily_order_capacity",
                ),
                "description": "The cut-off is the warehouse's wall clock in its time zone, daylight saving included.",
            },
        ),
        ("Shipping", {"fields": ("label_format",)}),
    )
    readonly_fields = ("latitude", "longitude")
    change_form_template = "admin/inventory/warehouse/change_form.html"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        warehouse_id = int_or_none(object_id)
        extra_context = dict(extra_context or {})
        if warehouse_id is not None and request.user.has_perm("inventory.view_stocklevel"):
            extra_context.update(self._stock_context(warehouse_id))
        if warehouse_id is not None and request.user.has_perm("inventory.add_cyclecount"):
            extra_context["start_count_url"] = f"{reverse('admin:inventory_cyclecount_add')}?warehouse={warehouse_id}"
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _stock_context(warehouse_id: int) -> dict:
        """The warehouse's stock, low-stock rows first, capped; the full list is one link away."""
        levels = selectors.stock_levels_with_low_flag().filter(warehouse_id=warehouse_id)
        totals = levels.aggregate(levels=Count("pk"), low=Count("pk", filter=Q(on_hand__lte=F("reorder_point"))))
        list_url = f"{reverse('admin:inventory_stocklevel_changelist')}?warehouse__id__exact={warehouse_id}"
        return {
            "stock_levels": list(levels.order_by("-low_stock", "product__sku")[:WAREHOUSE_STOCK_ROWS]),
            "stock_total": totals["levels"],
            "stock_low_total": totals["low"],
            "stock_list_url": list_url,
            "stock_low_url": f"{list_url}&stock=low",
        }


# --- stock levels and the three stock verbs ----------------------------------


class StockFilter(admin.SimpleListFilter):
    title = "stock"
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return [
            ("low", "Low (at or below reorder point)"),
            ("out", "Out of stock (none available)"),
            ("available", "Available"),
        ]

    def queryset(self, request, queryset):
        return selectors.filter_stock(queryset, self.value())


def receive(_, data: dict, actor) -> str:
    warehouse, product, quantity = data["warehouse"], data["product"], data["quantity"]
    services.receive_stock(
        warehouse_id=warehouse.pk,
        product_id=product.pk,
        quantity=quantity,
        reference=data["reference"],
        reason=data["note"],
        actor=actor,
    )
    reference = f" ({data['reference']})" if data["reference"] else ""
    return f"Received {quantity} × {product.sku} at {warehouse.code}{reference}."


def adjust(_, data: dict, actor) -> str:
    warehouse, product, quantity = data["warehouse"], data["product"], data["quantity"]
    services.adjust_stock(
        warehouse_id=warehouse.pk, product_id=product.pk, quantity=quantity, reason=data["reason"], actor=actor
    )
    return f"Adjusted {product.sku} at {warehouse.code} by {quantity:+d}: {data['reason']}"


def transfer(_, data: dict, actor) -> str:
    source, target, product, quantity = data["from_warehouse"], data["to_warehouse"], data["product"], data["quantity"]
    out, _ = services.transfer_stock(
        from_warehouse_id=source.pk,
        to_warehouse_id=target.pk,
        product_id=product.pk,
        quantity=quantity,
        reason=data["reason"],
        actor=actor,
    )
    return f"Transferred {quantity} × {product.sku} from {source.code} to {target.code} ({out.reference})."


def _stock_change(title: str, button: str, permission: str, form, apply) -> FormAction:
    """A receipt, an adjustment or a transfer: one form, one service call; a refusal stays on the form."""
    return FormAction(
        title=title,
        button=button,
        permission=permission,
        form=form,
        apply=apply,
        on_rows=False,
        refusal_on_form=True,
        url_name=f"inventory_stocklevel_{apply.__name__}",
        template="admin/inventory/stock_change.html",
    )


STOCK_ACTIONS = {
    "receive": _stock_change("Receive stock", "Receive stock", "inventory.receive_stock", ReceiveStockForm, receive),
    "adjust": _stock_change("Adjust stock", "Adjust", "inventory.adjust_stock", AdjustStockForm, adjust),
    "transfer": _stock_change("Transfer stock", "Transfer", "inventory.transfer_stock", TransferStockForm, transfer),
}


@admin.register(StockLevel)
class StockLevelAdmin(FormActionsMixin, admin.ModelAdmin):
    list_display = (
        "warehouse_code",
        "sku",
        "product_name",
        "on_hand",
        "allocated",
        "available_display",
        "low_marker",
        "reorder_at",
        "bin_location",
    )
    list_display_links = ("sku",)
    list_filter = ("warehouse", "warehouse__is_active", StockFilter)
    list_select_related = ("warehouse", "product")
    search_fields = ("product__sku", "bin_location")
    search_help_text = "SKU or bin."
    list_per_page = 100
    fields = (
        ("warehouse", "product"),
        ("on_hand", "allocated", "available_display"),
        ("reorder_point", "bin_location"),
        "updated_at",
    )
    # Quantities change only through a movement (receive, adjust, transfer, count...).
    readonly_fields = ("warehouse", "product", "on_hand", "allocated", "available_display", "updated_at")
    change_list_template = "admin/inventory/stocklevel/change_list.html"
    change_form_template = "admin/inventory/stocklevel/change_form.html"

    @admin.display(description="warehouse", ordering="warehouse__code")
    def warehouse_code(self, level: StockLevel):
        return level.warehouse.code

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, level: StockLevel):
        return level.product.sku

    @admin.display(description="product", ordering="product__name")
    def product_name(self, level: StockLevel):
        return level.product.name

    @admin.display(description="available", ordering="available_quantity")
    def available_display(self, level: StockLevel):
        return level.available_quantity

    @admin.display(description="reorder at", ordering="reorder_point")
    def reorder_at(self, level: StockLevel):
        return level.reorder_point

    @admin.display(description="low", ordering="low_stock", empty_value="")
    def low_marker(self, level: StockLevel):
        return low_stock_badge() if level.low_stock else ""

    def get_queryset(self, request):
        return selectors.stock_levels_with_low_flag()

    # Levels are created by the services on first movement and never deleted.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # --- buttons ----------------------------------------------------------------
    def stock_tools(self, request, level: StockLevel | None = None) -> list[dict]:
        """The receive / adjust / transfer buttons this user may use, prefilled for a level."""
        tools = []
        for action, spec in STOCK_ACTIONS.items():
            if not request.user.has_perm(spec.permission):
                continue
            url = self.form_action_url(action)
            if level is not None:
                here = reverse("admin:inventory_stocklevel_change", args=[level.pk])
                url = f"{url}?level={level.pk}&next={here}"
            tools.append({"action": action, "label": spec.button, "url": url})
        if level is None and request.user.has_perm("inventory.import_stock_receipts"):  # CSV imports
            url = reverse("admin:inventory_importjob_upload", args=["stock_receipt"])
            tools.append({"action": "import-receipts", "label": "Import stock receipts (CSV)", "url": url})
        return tools

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "stock_tools": self.stock_tools(request)})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        level = self.get_object(request, object_id)
        if level is not None:
            extra_context["stock_tools"] = self.stock_tools(request, level)
            if request.user.has_perm("inventory.view_stockmovement"):
                extra_context["movements"] = selectors.level_movements(level, limit=RECENT_MOVEMENTS)
                extra_context["movements_of_one_sku"] = True
                extra_context["movements_url"] = (
                    f"{reverse('admin:inventory_stockmovement_changelist')}"
                    f"?product__id__exact={level.product_id}&warehouse__id__exact={level.warehouse_id}"
                )
        return super().change_view(request, object_id, form_url, extra_context)

    # --- the stock change forms -------------------------------------------------
    form_actions = STOCK_ACTIONS
    refusals = (InventoryError,)

    def get_urls(self):
        view = self.admin_site.admin_view(self.form_action_view)
        custom = [
            path(f"{action}/", view, {"action": action}, name=spec.url_name) for action, spec in STOCK_ACTIONS.items()
        ]
        return custom + super().get_urls()

    def form_action_form_kwargs(self, request, spec, rows) -> dict:
        """The SKU box searches as you type (it needs the console); on the way in, the form is prefilled from the
        query (a level's page prefills its warehouse and SKU)."""
        kwargs = {"admin_site": self.admin_site}
        if request.method != "POST":
            kwargs["initial"] = self._initial(request, spec, self._level_from_query(request))
        return kwargs

    def form_action_context(self, request, spec, rows, form) -> dict:
        return {"level": self._level_from_query(request)}

    @staticmethod
    def _level_from_query(request) -> StockLevel | None:
        level_id = int_or_none(request.GET.get("level"))
        if level_id is None:
            return None
        return selectors.stock_levels_with_low_flag().filter(pk=level_id).first()

    @staticmethod
    def _initial(request, spec: FormAction, level: StockLevel | None) -> dict:
        initial = {key: value for key, value in request.GET.items() if key not in {"level", "next"}}
        if level is not None:
            warehouse_key = "from_warehouse" if spec is STOCK_ACTIONS["transfer"] else "warehouse"
            initial.update({warehouse_key: level.warehouse_id, "product": level.product_id})
        return initial


# --- the ledger and the reservations -----------------------------------------


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = (
        "time",
        "kind",
        "warehouse_code",
        "sku",
        "signed_quantity",
        "reason_or_reference",
        "order_display",
        "actor_name",
    )
    list_filter = ("kind", "warehouse", ("created_at", DateRangeFilterBuilder(title="date")))
    list_select_related = ("warehouse", "product", "order")
    search_fields = ("product__sku", "reference")
    search_help_text = "SKU or reference."
    # The ledger only grows: no exact COUNT(*) of the whole table, no facet counts.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    fields = (
        ("created_at", "actor_name"),
        ("warehouse", "product"),
        ("kind", "quantity"),
        "reason",
        "reference",
        ("order", "cycle_count"),
    )
    change_list_template = "admin/inventory/stockmovement/change_list.html"

    @admin.display(description="time", ordering="created_at")
    def time(self, movement: StockMovement):
        return f"{timezone.localtime(movement.created_at):%Y-%m-%d %H:%M}"

    @admin.display(description="warehouse", ordering="warehouse__code")
    def warehouse_code(self, movement: StockMovement):
        return movement.warehouse.code

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, movement: StockMovement):
        return movement.product.sku

    @admin.display(description="quantity", ordering="quantity")
    def signed_quantity(self, movement: StockMovement):
        css = "oms-qty-in" if movement.quantity > 0 else "oms-qty-out"
        return format_html('<span class="{}">{}</span>', css, f"{movement.quantity:+d}")

    @admin.display(description="reason / reference")
    def reason_or_reference(self, movement: StockMovement):
        text = " · ".join(part for part in (movement.reason, movement.reference) if part)
        return text if len(text) <= 90 else f"{text[:89]}…"

    @admin.display(description="order", ordering="order__number")
    def order_display(self, movement: StockMovement):
        return admin_link(movement.order)


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = ("order_display", "line_sku", "warehouse_code", "quantity", "created_at")
    list_filter = ("warehouse",)
    list_select_related = ("order", "order_line", "warehouse")
    search_fields = ("order__number", "product__sku")
    search_help_text = "Order number or SKU."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    ordering = ("-created_at", "-id")
    fields = (("order", "order_line"), ("warehouse", "product"), "quantity", "created_at")
    change_list_template = "admin/inventory/allocation/change_list.html"

    @admin.display(description="order", ordering="order__number")
    def order_display(self, allocation: Allocation):
        return admin_link(allocation.order)

    @admin.display(description="SKU", ordering="order_line__sku")
    def line_sku(self, allocation: Allocation):
        return allocation.order_line.sku

    @admin.display(description="warehouse", ordering="warehouse__code")
    def warehouse_code(self, allocation: Allocation):
        return allocation.warehouse.code


# --- routing rules -------------------------------------------------------------


@admin.register(SafetyStockRule)
class SafetyStockRuleAdmin(admin.ModelAdmin):
    list_display = ("channel", "warehouse", "product", "quantity", "note")
    list_filter = ("channel", "warehouse")
    list_select_related = ("channel", "warehouse", "product")
    autocomplete_fields = ("channel", "product")
    search_fields = ("product__sku", "note")


@admin.register(RoutingExclusion)
class RoutingExclusionAdmin(admin.ModelAdmin):
    list_display = ("warehouse", "channel", "destination_state", "reason")
    list_filter = ("warehouse", "channel", "destination_state")
    list_select_related = ("warehouse", "channel")
    autocomplete_fields = ("channel",)
    search_fields = ("destination_state", "reason")


# --- cycle counts --------------------------------------------------------------


def start_count(_, data: dict, actor) -> Done:
    count = services.start_cycle_count(
        warehouse_id=data["warehouse"].pk,
        product_ids=[product.pk for product in data["products"]] or None,
        bin_prefix=data["bin_prefix"],
        note=data["note"],
        actor=actor,
    )
    message = f"{count} started with {plural(count.lines.count(), 'line')}."
    return Done(message, reverse("admin:inventory_cyclecount_change", args=[count.pk]))


CYCLE_COUNT_ACTIONS = {
    "start": FormAction(
        title="Start a cycle count",
        button="Start the count",
        permission="inventory.add_cyclecount",
        form=StartCycleCountForm,
        apply=start_count,
        on_rows=False,
        refusal_on_form=True,
        url_name="inventory_cyclecount_add",
        note="The count lists the warehouse's SKUs (in the bins and SKUs you choose). Staff type what they count; "
        "a manager approves, and only then are the differences posted to the ledger.",
    )
}


@admin.register(CycleCount)
class CycleCountAdmin(FormActionsMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "warehouse_code",
        "status_badge",
        "line_count",
        "counted_lines",
        "total_variance",
        "created_by_name",
        "created_at",
    )
    list_display_links = ("id",)
    list_filter = ("status", "warehouse")
    list_select_related = ("warehouse", "created_by")
    list_per_page = 50
    fields = (
        ("warehouse", "status_badge"),
        "note",
        ("created_by_name", "created_at"),
        "submitted_at",
        ("decided_by_name", "decided_at"),
        "rejection_reason",
    )
    readonly_fields = (
        "warehouse",
        "status_badge",
        "note",
        "created_by_name",
        "created_at",
        "submitted_at",
        "decided_by_name",
        "decided_at",
        "rejection_reason",
    )
    # names, not links to user pages only superusers may open
    created_by_name = person_field("created_by")
    decided_by_name = person_field("decided_by")
    change_list_template = "admin/inventory/cyclecount/change_list.html"
    change_form_template = "admin/inventory/cyclecount/change_form.html"

    @admin.display(description="warehouse", ordering="warehouse__code")
    def warehouse_code(self, count: CycleCount):
        return count.warehouse.code

    @admin.display(description="status", ordering="status")
    def status_badge(self, count: CycleCount):
        return badge(count.status, COUNT_STATUS_COLOURS[count.status], count.get_status_display())

    @admin.display(description="lines", ordering="line_count")
    def line_count(self, count: CycleCount):
        return count.line_count

    @admin.display(description="counted", ordering="counted_line_count")
    def counted_lines(self, count: CycleCount):
        return count.counted_line_count

    @admin.display(description="total |variance|", ordering="abs_variance")
    def total_variance(self, count: CycleCount):
        return count.abs_variance

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                line_count=Count("lines"),
                counted_line_count=Count("lines", filter=Q(lines__counted_quantity__isnull=False)),
                abs_variance=Sum(Abs(F("lines__counted_quantity") - F("lines__expected_quantity"))),
            )
        )

    # --- permissions ------------------------------------------------------------
    # The count page is never a model form: counts are recorded, submitted and
    # decided through the services below.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_record_permission(self, request) -> bool:
        return request.user.has_perm("inventory.change_cyclecount")

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm("inventory.approve_cyclecount")

    # --- views ------------------------------------------------------------------
    form_actions = CYCLE_COUNT_ACTIONS
    refusals = (InventoryError,)

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path(f"<path:object_id>/{step}/", view(require_POST(handler)), name=f"inventory_cyclecount_{step}")
            for step, handler in (
                ("record", self.record_view),
                ("approve", self.approve_view),
                ("reject", self.reject_view),
            )
        ]
        return custom + super().get_urls()

    def add_view(self, request, form_url="", extra_context=None):
        """Start a count: which warehouse, which bins or SKUs. The service lists the lines."""
        return self.form_action_view(request, "start")

    def form_action_form_kwargs(self, request, spec, rows) -> dict:
        """The SKU box searches as you type (it needs the console); a link may prefill the form (a warehouse)."""
        return {"admin_site": self.admin_site, **({} if request.method == "POST" else {"initial": request.GET.dict()})}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        count = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if count is not None:
            valuation = selectors.count_valuation(count)
            lines = valuation.lines
            can_record = count.status == CycleCount.Status.OPEN and self.has_record_permission(request)
            can_decide = count.status == CycleCount.Status.SUBMITTED and self.has_approve_permission(request)
            extra_context.update(
                {
                    "count_lines": lines,
                    "valuation": valuation,
                    "record_form": RecordCountsForm(lines=lines) if can_record else None,
                    "approve_form": ApproveCycleCountForm(required=valuation.needs_confirmation)
                    if can_decide
                    else None,
                    "reject_form": RejectCycleCountForm() if can_decide else None,
                    "can_decide": can_decide,
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def record_view(self, request, object_id):
        """Save the typed counts (only the changed ones); with "_submit", hand the count in for approval."""
        if not self.has_record_permission(request):
            raise PermissionDenied
        count = get_object_or_404(CycleCount, pk=int_or_none(object_id) or 0)
        here = reverse("admin:inventory_cyclecount_change", args=[count.pk])
        form = RecordCountsForm(request.POST, lines=count.lines.select_related("product"))
        if not form.is_valid():
            for name, errors in form.errors.items():
                label = form.fields[name].label if name in form.fields else ""
                self.message_user(request, f"{label}: {' '.join(errors)}", messages.ERROR)
            return HttpResponseRedirect(here)
        counted = form.changed_counts()
        try:
            if counted:
                services.record_counts(count_id=count.pk, counted=counted, actor=request.user)
                self.message_user(
                    request, f"Recorded {len(counted)} count{'s' if len(counted) != 1 else ''}.", messages.SUCCESS
                )
            if "_submit" in request.POST:
                services.submit_cycle_count(count_id=count.pk, actor=request.user)
                self.message_user(request, f"{count} submitted for approval.", messages.SUCCESS)
            elif not counted:
                self.message_user(request, "No counts changed.", messages.INFO)
        except InventoryError as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
        return HttpResponseRedirect(here)

    def approve_view(self, request, object_id):
        """Approve a submitted count: the service posts each variance as a correction.

        Above CYCLE_COUNT_CONFIRM_VALUE the service wants the "I have checked
        these variances" box ticked, and says so when it is not.
        """
        if not self.has_approve_permission(request):
            raise PermissionDenied
        count = get_object_or_404(CycleCount, pk=int_or_none(object_id) or 0)
        form = ApproveCycleCountForm(request.POST)
        checked = form.is_valid() and form.cleaned_data["variances_checked"]
        try:
            movements = services.approve_cycle_count(count_id=count.pk, actor=request.user, variances_checked=checked)
        except InventoryError as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
        else:
            posted = len(movements)
            self.message_user(
                request,
                f"{count} approved: {posted} correction{'s' if posted != 1 else ''} posted to the ledger.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:inventory_cyclecount_change", args=[count.pk]))

    def reject_view(self, request, object_id):
        """Reject a submitted count with a reason; nothing is posted."""
        if not self.has_approve_permission(request):
            raise PermissionDenied
        count = get_object_or_404(CycleCount, pk=int_or_none(object_id) or 0)
        form = RejectCycleCountForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Give a reason (up to 200 characters) to reject the count.", messages.ERROR)
        else:
            try:
                services.reject_cycle_count(count_id=count.pk, reason=form.cleaned_data["reason"], actor=request.user)
            except InventoryError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                self.message_user(request, f"{count} rejected.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:inventory_cyclecount_change", args=[count.pk]))


# --- the daily check -----------------------------------------------------------


class RecentRunFilter(admin.SimpleListFilter):
    """The last few runs (there is one a day: listing them all would not fit)."""

    title = "check run"
    parameter_name = "run"
    shown = 15

    def lookups(self, request, model_admin):
        return [(str(run.pk), str(run)) for run in InventoryCheckRun.objects.order_by("-started_at")[: self.shown]]

    def queryset(self, request, queryset):
        run_id = int_or_none(self.value())
        return queryset if run_id is None else queryset.filter(run_id=run_id)


def finding_links(finding: InventoryFinding) -> dict:
    """A finding's warehouse, SKU and subject as ops name them, each with its console page."""
    subject = finding.content_type
    subject_url = admin_change_url(subject.app_label, subject.model, finding.object_id) if subject else None
    return {
        "warehouse_url": (
            reverse("admin:inventory_warehouse_change", args=[finding.warehouse_id]) if finding.warehouse_id else None
        ),
        "product_url": reverse("admin:inventory_product_change", args=[finding.product_id])
        if finding.product_id
        else None,
        "subject_url": subject_url,
        # Runs stored before subjects were named say only "<model> #<id>".
        "subject_label": finding.data.get("subject")
        or (f"{finding.content_type.name} #{finding.object_id}" if finding.content_type_id else ""),
    }


# What other apps offer to do beside a finding of a kind: kind → steps(request, findings, back_url), which answers
# {finding id: step}. A step is a button posting to another console's action ({"label", "url", "ids", "next"}) or a
# quiet note ({"note"}). The other kinds are acted on from the subject's own page (a count, a stock level).
FindingSteps = Callable[[HttpRequest, list[InventoryFinding], str], dict[int, dict]]
FINDING_STEPS: dict[str, FindingSteps] = {}


def offer_finding_steps(kind: str, steps: FindingSteps) -> None:
    """Let an app above inventory put its step beside the check's findings of ``kind`` (orders: "Allocate now")."""
    FINDING_STEPS[kind] = steps


def finding_steps(request: HttpRequest, findings: list[InventoryFinding], *, back_url: str) -> dict[int, dict]:
    """The step beside each finding that has one the user may take, asked of the apps that offer them."""
    steps: dict[int, dict] = {}
    for kind, offered in FINDING_STEPS.items():
        of_kind = [finding for finding in findings if finding.kind == kind]
        if of_kind:
            steps.update(offered(request, of_kind, back_url))
    return steps


@admin.register(InventoryCheckRun)
class InventoryCheckRunAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "started_at", "took", "finding_count", "triggered_by")
    list_filter = ("triggered_by",)
    fields = (("started_at", "finished_at"), ("took", "finding_count"), "triggered_by")
    readonly_fields = ("took",)
    change_list_template = "admin/inventory/inventorycheckrun/change_list.html"
    change_form_template = "admin/inventory/inventorycheckrun/change_form.html"

    @admin.display(description="took", ordering="duration_ms")
    def took(self, run: InventoryCheckRun):
        return run.took or "—"

    # Running the check reads every level; the same gate as correcting stock.
    def has_run_permission(self, request) -> bool:
        return request.user.has_perm("inventory.adjust_stock")

    def get_urls(self):
        run = path(
            "run/", self.admin_site.admin_view(require_POST(self.run_view)), name="inventory_inventorycheckrun_run"
        )
        return [run, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(
            request, {**(extra_context or {}), "can_run_check": self.has_run_permission(request)}
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra_context = dict(extra_context or {})
        if run is not None:
            findings_url = f"{reverse('admin:inventory_inventoryfinding_changelist')}?run={run.pk}"
            labels = dict(InventoryFinding.Kind.choices)
            findings = list(
                run.findings.select_related("warehouse", "product", "content_type").order_by("severity", "kind", "id")[
                    :RUN_PAGE_FINDINGS
                ]
            )
            here = reverse("admin:inventory_inventorycheckrun_change", args=[run.pk])
            steps = finding_steps(request, findings, back_url=here)
            extra_context.update(
                {
                    "can_run_check": self.has_run_permission(request),
                    "totals": [
                        {"label": labels.get(kind, kind), "count": total, "url": f"{findings_url}&kind__exact={kind}"}
                        for kind, total in run.summary.get("totals", {}).items()
                        if total
                    ],
                    "findings": [
                        {
                            "finding": finding,
                            "severity": self._severity_badge(finding),
                            **finding_links(finding),
                            "action": steps.get(finding.pk),
                        }
                        for finding in findings
                    ],
                    "findings_url": findings_url,
                    "findings_cap": RUN_PAGE_FINDINGS,
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _severity_badge(finding: InventoryFinding) -> str:
        return badge(finding.severity, SEVERITY_COLOURS[finding.severity], finding.get_severity_display())

    def run_view(self, request):
        """Run the inventory check now, in this request, and open its report."""
        if not self.has_run_permission(request):
            raise PermissionDenied
        run = services.run_inventory_check(triggered_by=request.user.get_username())
        found = run.finding_count
        self.message_user(
            request,
            f"Inventory check done, took {run.took}: {found} finding{'s' if found != 1 else ''}.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:inventory_inventorycheckrun_change", args=[run.pk]))


@admin.register(InventoryFinding)
class InventoryFindingAdmin(ReadOnlyAdmin):
    list_display = ("severity_badge", "kind", "message", "warehouse_code", "sku", "subject_link", "run")
    list_filter = (RecentRunFilter, "kind", "severity")
    list_select_related = ("run", "warehouse", "product", "content_type")
    search_fields = ("message",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    fields = (("run", "severity", "kind"), "message", ("warehouse", "product"), "subject_link", "data")

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, finding: InventoryFinding):
        return InventoryCheckRunAdmin._severity_badge(finding)

    @admin.display(description="warehouse", ordering="warehouse__code")
    def warehouse_code(self, finding: InventoryFinding):
        if not finding.warehouse_id:
            return None
        return format_html('<a href="{}">{}</a>', finding_links(finding)["warehouse_url"], finding.warehouse.code)

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, finding: InventoryFinding):
        if not finding.product_id:
            return None
        return format_html('<a href="{}">{}</a>', finding_links(finding)["product_url"], finding.product.sku)

    @admin.display(description="subject")
    def subject_link(self, finding: InventoryFinding):
        links = finding_links(finding)
        if links["subject_url"] is None:
            return links["subject_label"] or None
        return format_html('<a href="{}">{}</a>', links["subject_url"], links["subject_label"])
