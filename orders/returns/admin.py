"""The returns associate's console: the returns queue, the RMA page and its steps, refunds, order errors,
the error-rate report and the return policy.

Thin by design: returns, refunds and error cases change only through ``orders.returns.services``; each
step is an action on the console's form page that calls one service and reports its success or refusal.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from rangefilter.filters import DateRangeFilterBuilder

from oms_core.console import (
    Done,
    FormAction,
    FormActionsMixin,
    ReadOnlyAdmin,
    badge,
    form_page,
    int_or_404,
    rows_table,
    safe_next,
)

from ..cockpit.filters import OrderWarehouseFilter
from ..exceptions import OrderError
from ..models import Order, OrderLine
from . import selectors, services
from .forms import (
    InspectForm,
    NoteForm,
    OpenErrorForm,
    OpenReturnForm,
    ReasonForm,
    ReceiveForm,
    RefundForm,
    ReportForm,
    ResolveErrorForm,
    SettleRefundForm,
    WarehouseForm,
)
from .models import (
    OPEN_RETURN_STATUSES,
    OrderErrorCase,
    ReasonRule,
    Refund,
    ReturnPolicy,
    ReturnRequest,
    ReturnStatus,
    StoreCredit,
    VariantGroup,
)
from .views import label_response

MAX_BULK_RETURNS = 200
STEP_TEMPLATE = "admin/returns/step.html"  # the one form page, with the lines' table and the refund's quote

RETURN_COLOURS = {
    ReturnStatus.REQUESTED: "#b45309",
    ReturnStatus.AUTHORISED: "#1d4ed8",
    ReturnStatus.RECEIVED: "#7c3aed",
    ReturnStatus.INSPECTED: "#0f766e",
    ReturnStatus.REFUNDED: "#15803d",
    ReturnStatus.CLOSED: "#6b7280",
    ReturnStatus.REJECTED: "#b91c1c",
}
REFUND_COLOURS = {Refund.Status.PENDING: "#b45309", Refund.Status.SETTLED: "#15803d", Refund.Status.FAILED: "#b91c1c"}

# step -> (verb, its button on the RMA page, permission, statuses it applies to). The buttons name the
# return where a bare verb could be read as leaving the page ("Close" is also the page's own back button).


def return_badge(status: str) -> str:
    return badge(status, RETURN_COLOURS.get(status, "#475569"), ReturnStatus(status).label)


def _humanize_age(created) -> str:
    hours = int((timezone.now() - created).total_seconds() // 3600)
    return f"{hours} h" if hours < 48 else f"{hours // 24} d"


def order_page_actions(request: HttpRequest, order: Order) -> list[dict]:
    """The order page's buttons into returns: open a return, open an order error (as the user may)."""
    actions = []
    shipped = any(line.quantity_shipped for line in order.lines.all())
    if shipped and request.user.has_perm("returns.add_returnrequest"):
        url = reverse("admin:returns_returnrequest_open", args=[order.pk])
        actions.append({"label": "Open return", "action": "open-return", "url": url})
    if request.user.has_perm("returns.resolve_ordererrorcase") and order.status != "cancelled":
        url = reverse("admin:returns_ordererrorcase_open", args=[order.pk])
        actions.append({"label": "Open order error", "action": "open-order-error", "url": url})
    return actions


class QueueFilter(admin.SimpleListFilter):
    """Open returns (someone still has to work them) or finished ones."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("done", "Closed or rejected")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(status__in=OPEN_RETURN_STATUSES)
        if self.value() == "done":
            return queryset.exclude(status__in=OPEN_RETURN_STATUSES)
        return queryset


# --- the return's steps, opening one, receiving many: each calls one service and says what it did -----------


def _warehouse_id(data: dict) -> int | None:
    return getattr(data.get("warehouse"), "pk", None)


def open_return(order: Order, data: dict, actor) -> Done:
    rma = services.open_return(
        order_id=order.pk, lines=data["qty"], reason=data["reason"], customer_note=data["customer_note"], actor=actor
    )
    message = f"Return {rma} opened ({rma.get_status_display().lower()})."
    return Done(message, reverse("admin:returns_returnrequest_change", args=[rma.pk]))


def authorise(rma: ReturnRequest, data: dict, actor) -> str:
    services.authorise_return(rma_id=rma.pk, actor=actor, warehouse_id=_warehouse_id(data))
    return f"{rma} authorised; the customer was emailed the return label."


def reject(rma: ReturnRequest, data: dict, actor) -> str:
    services.reject_return(rma_id=rma.pk, reason=data["reason"], actor=actor)
    return f"{rma} rejected."


def receive(rma: ReturnRequest, data: dict, actor) -> str:
    services.receive_return(rma_id=rma.pk, quantities=data["received"], warehouse_id=_warehouse_id(data), actor=actor)
    return f"{rma} received."


def receive_all(rma: ReturnRequest, data: dict, actor) -> str:
    """Every unit asked for, at the return's warehouse or the one chosen for all."""
    services.receive_return(rma_id=rma.pk, quantities=None, warehouse_id=_warehouse_id(data), actor=actor)
    return f"{rma} received."


def inspect(rma: ReturnRequest, data: dict, actor) -> str:
    results = {
        line_id: services.Inspection(
            restock=restock, write_off=data["writeoff"][line_id], reason=data["reason"][line_id]
        )
        for line_id, restock in data["restock"].items()
    }
    services.inspect_return(rma_id=rma.pk, results=results, actor=actor)
    return f"{rma} inspected; stock updated."


def refund(rma: ReturnRequest, data: dict, actor) -> str:
    made = services.confirm_return_refund(rma_id=rma.pk, amount=data["amount"], actor=actor)
    message = f"{rma}: refund of {made.amount} {made.currency} {made.get_status_display().lower()}."
    return f"{message} {made.settle_note}" if made.settle_note else message


def close(rma: ReturnRequest, data: dict, actor) -> str:
    services.close_return(rma_id=rma.pk, note=data["note"], actor=actor)
    return f"{rma} closed."


def _shipped_lines(orders: list[Order]) -> dict:
    (order,) = orders
    lines = [line for line in OrderLine.objects.filter(order=order) if line.quantity_shipped]
    return {"lines": lines, "returnable": selectors.returnable_quantities(order.pk)}


def _step(verb: str, permission: str, apply, *, form, form_kwargs=None) -> FormAction:
    """A step of the RMA page: its form page names the return; a refusal stays on the form."""
    return FormAction(
        title=f"{verb} return {{row}}",
        button=f"{verb} {{row}}",
        permission=permission,
        form=form,
        form_kwargs=form_kwargs,
        apply=apply,
        single=True,
        refusal_on_form=True,
        template=STEP_TEMPLATE,
    )


PROCESS, REFUND = "returns.process_returnrequest", "returns.refund_returnrequest"
RETURN_ACTIONS = {
    "open": FormAction(
        title="Open a return for {row}",
        button="Open return",
        permission="returns.add_returnrequest",
        form=OpenReturnForm,
        form_kwargs=_shipped_lines,
        queryset=lambda: Order.objects.select_related("customer"),
        apply=open_return,
        single=True,
        refusal_on_form=True,
        url_name="returns_returnrequest_open",
        template=STEP_TEMPLATE,
    ),
    "authorise": _step(
        "Authorise",
        PROCESS,
        authorise,
        form=WarehouseForm,
        form_kwargs=lambda rmas: {"initial": {"warehouse": rmas[0].warehouse_id}},
    ),
    "reject": _step("Reject", PROCESS, reject, form=ReasonForm),
    "receive": _step(
        "Receive",
        PROCESS,
        receive,
        form=ReceiveForm,
        form_kwargs=lambda rmas: {"lines": list(rmas[0].lines.all()), "initial": {"warehouse": rmas[0].warehouse_id}},
    ),
    "inspect": _step(
        "Inspect", PROCESS, inspect, form=InspectForm, form_kwargs=lambda rmas: {"lines": list(rmas[0].lines.all())}
    ),
    "refund": _step(
        "Refund",
        REFUND,
        refund,
        form=RefundForm,
        form_kwargs=lambda rmas: {"quote": services.quote_return_refund(rmas[0])},
    ),
    "close": _step("Close", PROCESS, close, form=NoteForm),
    "receive-selected": FormAction(
        title="Receive {rows}",
        permission=PROCESS,
        form=WarehouseForm,
        apply=receive_all,
        note="Every unit asked for is recorded as received. Returns that are not authorised are refused one by one.",
        summary="{done} of {count} {plural} received.",
        url_name="returns_returnrequest_bulk_receive",
    ),
}
# The RMA page's buttons: step → (its words, the statuses it applies to). The buttons name the return where a bare
# verb could be read as leaving the page ("Close" is also the page's own back button).
STEP_BUTTONS = {
    "authorise": ("Authorise", {ReturnStatus.REQUESTED}),
    "reject": ("Reject", {ReturnStatus.REQUESTED, ReturnStatus.AUTHORISED}),
    "receive": ("Receive", {ReturnStatus.AUTHORISED}),
    "inspect": ("Inspect", {ReturnStatus.RECEIVED}),
    "refund": ("Refund", {ReturnStatus.INSPECTED}),
    "close": ("Close return", {ReturnStatus.INSPECTED, ReturnStatus.REFUNDED}),
}


class ReturnsConsole(FormActionsMixin):
    """What the returns consoles' form pages share: OrderError is a refusal; a one-row page says what it is on."""

    refusals = (OrderError,)
    too_many_message = "Select at most {limit} {plural} at a time."

    def selection_limit(self) -> int:
        return MAX_BULK_RETURNS

    def form_action_context(self, request, spec, rows, form) -> dict:
        row = rows[0] if spec.single and rows else None
        return {
            "order": row if isinstance(row, Order) else None,
            "rma": row if isinstance(row, ReturnRequest) else None,
            "quote": getattr(form, "quote", None),
        }


# --- returns -----------------------------------------------------------------------------


@admin.register(ReturnRequest)
class ReturnRequestAdmin(ReturnsConsole, ReadOnlyAdmin):
    list_display = (
        "number",
        "order_link",
        "status_badge",
        "reason",
        "resolution",
        "source",
        "warehouse_code",
        "channel_name",
        "unit_total",
        "age",
    )
    list_display_links = ("number",)
    list_filter = (
        QueueFilter,
        "status",
        "reason",
        "source",
        "resolution",
        "warehouse",
        "order__channel",
        "our_error",
        ("created_at", DateRangeFilterBuilder(title="opened")),
        OrderWarehouseFilter,  # the cockpit's: returns of the orders a warehouse ships or reserves
    )
    list_select_related = ("order__channel", "order__customer", "warehouse")
    search_fields = ("number", "order__number", "order__customer__email")
    search_help_text = "RMA, order number or customer email."
    show_facets = admin.ShowFacets.NEVER
    ordering = ("created_at", "id")  # the queue: oldest first
    actions = ("receive_selected", "authorise_selected")
    change_form_template = "admin/returns/returnrequest/change_form.html"
    fields = (
        ("number", "status_badge"),
        ("order_link", "customer_link"),
        ("reason", "our_error", "restocking_fee_percent"),
        ("source", "resolution", "replacement_link"),
        "customer_note",
        ("warehouse", "label_link"),
        "rejection_reason",
        ("created_at", "authorised_at", "received_at", "inspected_at", "closed_at"),
    )
    readonly_fields = (
        "number",
        "status_badge",
        "order_link",
        "customer_link",
        "reason",
        "our_error",
        "restocking_fee_percent",
        "customer_note",
        "source",
        "resolution",
        "replacement_link",
        "warehouse",
        "label_link",
        "rejection_reason",
        "created_at",
        "authorised_at",
        "received_at",
        "inspected_at",
        "closed_at",
    )

    # --- columns ---------------------------------------------------------------------
    @admin.display(description="status", ordering="status")
    def status_badge(self, rma: ReturnRequest):
        return return_badge(rma.status)

    @admin.display(description="order", ordering="order__number")
    def order_link(self, rma: ReturnRequest):
        return format_html(
            '<a href="{}" class="oms-order-link">{}</a>',
            reverse("admin:orders_order_change", args=[rma.order_id]),
            rma.order.number,
        )

    @admin.display(description="customer")
    def customer_link(self, rma: ReturnRequest):
        customer = rma.order.customer
        return format_html(
            '<a href="{}">{}</a> · <a href="{}?q={}">all their orders</a>',
            reverse("admin:orders_customer_change", args=[customer.pk]),
            customer.name,
            reverse("admin:orders_order_changelist"),
            customer.email,
        )

    @admin.display(description="exchange replacement")
    def replacement_link(self, rma: ReturnRequest):
        if not rma.replacement_order_id:
            return "—"
        replacement = rma.replacement_order
        sent = ", ".join(
            f"{line.quantity} × {line.replacement_product.sku}"
            for line in rma.lines.select_related("replacement_product")
            if line.replacement_product_id
        )
        return format_html(
            '<a href="{}" id="rma-replacement">{}</a> ({}) · {}',
            reverse("admin:orders_order_change", args=[replacement.pk]),
            replacement.number,
            replacement.get_status_display().lower(),
            sent,
        )

    @admin.display(description="warehouse", ordering="warehouse__code")
    def warehouse_code(self, rma: ReturnRequest):
        return rma.warehouse.code if rma.warehouse_id else "—"

    @admin.display(description="channel", ordering="order__channel__name")
    def channel_name(self, rma: ReturnRequest):
        return rma.order.channel.name

    @admin.display(description="units", ordering="unit_total")
    def unit_total(self, rma: ReturnRequest):
        return rma.unit_total

    @admin.display(description="age", ordering="created_at")
    def age(self, rma: ReturnRequest):
        return _humanize_age(rma.created_at)

    @admin.display(description="return label")
    def label_link(self, rma: ReturnRequest):
        if rma.status not in services.labels.LABELLED:
            return "—"
        return format_html(
            '<a href="{}" id="rma-label">Return label (PDF)</a>',
            reverse("admin:returns_returnrequest_label", args=[rma.pk]),
        )

    def get_queryset(self, request):
        return selectors.return_queue()

    # --- permissions -----------------------------------------------------------------
    def has_process_permission(self, request) -> bool:
        return request.user.has_perm(PROCESS)

    # --- the steps ---------------------------------------------------------------------
    form_actions = RETURN_ACTIONS
    row_noun = ("return", "returns")

    def form_action_table(self, spec: FormAction, rmas: list[ReturnRequest]) -> dict | None:
        if spec.single:
            return None  # a step's page names its return
        return rows_table(
            rmas,
            headers=("RMA", "Order", "Status", "Warehouse", "Units"),
            cells=lambda r: (
                r.number,
                r.order.number,
                r.get_status_display(),
                r.warehouse.code if r.warehouse_id else "—",
                r.unit_total,
            ),
            key="rma",
        )

    @admin.action(description="Receive selected returns (every unit asked for)…", permissions=["process"])
    def receive_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "receive-selected", queryset)

    @admin.action(description="Authorise selected returns", permissions=["process"])
    def authorise_selected(self, request, queryset):
        for rma in queryset.order_by("pk")[:MAX_BULK_RETURNS]:
            try:
                services.authorise_return(rma_id=rma.pk, actor=request.user)
            except OrderError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                self.message_user(request, f"{rma} authorised; the customer was emailed the label.", messages.SUCCESS)

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path(
                "open/<int:object_id>/",
                view(self.form_action_view),
                {"action": "open"},
                name="returns_returnrequest_open",
            ),
            path(
                "receive/",
                view(self.form_action_view),
                {"action": "receive-selected"},
                name="returns_returnrequest_bulk_receive",
            ),
            path("<int:rma_id>/label.pdf", view(self.label_view), name="returns_returnrequest_label"),
            path("<int:object_id>/step/<str:action>/", view(self.form_action_view), name="returns_returnrequest_step"),
        ]
        return custom + super().get_urls()

    # --- the RMA page --------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        rma = get_object_or_404(ReturnRequest.objects.select_related("order__customer"), pk=int_or_404(object_id))
        extra = {
            **(extra_context or {}),
            "rma_lines": list(rma.lines.all()),
            "rma_refunds": [
                {"refund": r, "badge": badge(r.status, REFUND_COLOURS[r.status], r.get_status_display())}
                for r in rma.refunds.all()
            ],
            "rma_steps": self.available_steps(request, rma),
            "shipments_url": f"{reverse('admin:shipping_shipment_changelist')}?q={rma.order.number}",
            "customer_orders": list(selectors.customer_orders(rma.order)),
        }
        return super().change_view(request, object_id, form_url, extra)

    def available_steps(self, request, rma: ReturnRequest) -> list[dict]:
        return [
            {
                "step": step,
                "label": label,
                "url": reverse("admin:returns_returnrequest_step", args=[rma.pk, step]),
                "danger": step == "reject",
            }
            for step, (label, statuses) in STEP_BUTTONS.items()
            if rma.status in statuses and request.user.has_perm(RETURN_ACTIONS[step].permission)
        ]

    # --- the label ---------------------------------------------------------------------
    def label_view(self, request, rma_id: int):
        if not request.user.has_perm("returns.view_returnrequest"):
            raise PermissionDenied
        return label_response(rma_id)


# --- refunds -------------------------------------------------------------------------------


def breakdown_table(breakdown: dict) -> dict:
    """A refund's breakdown, as stored when it was confirmed, as a table: its lines, then its totals."""
    money = ("unit_price", "goods", "discount", "tax", "fee")
    lines = [
        {"sku": line.get("sku", ""), "quantity": line.get("quantity", ""), **{k: line.get(k, "") for k in money}}
        for line in breakdown.get("lines", [])
    ]
    fee_percent = breakdown.get("restocking_fee_percent")
    rows = [
        ("goods", "Goods", breakdown.get("goods")),
        ("discount", "Less the discount's share", breakdown.get("discount")),
        ("tax", "Tax's share", breakdown.get("tax")),
        ("fee", f"Less the restocking fee ({fee_percent} %)" if fee_percent else None, breakdown.get("restocking_fee")),
        ("shipping", "Shipping (refunded when the error is ours)", breakdown.get("shipping")),
        ("computed", "Computed", breakdown.get("computed")),
        ("paid", "The customer paid", breakdown.get("paid")),
        ("already-refunded", "Refunded before this refund", breakdown.get("already_refunded")),
        ("gateway", "The payment gateway could still refund", breakdown.get("gateway_refundable")),
        ("maximum", "Most that could be refunded", breakdown.get("maximum")),
    ]
    notes = (
        [breakdown["capped_by"][:1].upper() + breakdown["capped_by"][1:] + "."] if breakdown.get("capped_by") else []
    )
    if breakdown.get("goodwill"):
        notes.append("No units: an amount alone, up to what the customer paid and was not refunded.")
    return {
        "lines": lines,
        "totals": [
            {"key": key, "label": label or "Restocking fee", "value": value}
            for key, label, value in rows
            if value is not None
        ],
        "amount": breakdown.get("amount"),
        "notes": notes,
    }


def settled_message(refund: Refund) -> str:
    return (
        f"{refund} for {refund.cause} marked settled: {refund.get_settlement_method_display().lower()}, "
        f"reference {refund.settlement_reference}."
    )


def mark_settled(refund: Refund, data: dict, actor) -> str:
    return settled_message(services.mark_refund_settled(refund_id=refund.pk, actor=actor, **data))


SETTLE_NOTE = (
    "Pay the money back first (where the customer paid, by bank transfer, cheque or store credit), then record it "
    "here: how, and the payment's reference."
)
REFUND_ACTIONS = {
    # Mark settled: one refund, or several paid back together (one method, one reference).
    "settle": FormAction(
        title="Mark settled: {row} for {row.cause}",
        button="Mark settled",
        permission="returns.settle_refund",
        form=SettleRefundForm,
        apply=mark_settled,
        queryset=lambda: Refund.objects.select_related("order", "rma", "error_case"),
        single=True,
        refusal_on_form=True,
        note=SETTLE_NOTE,
        url_name="returns_refund_settle",
    ),
    "settle-selected": FormAction(
        title="Mark {rows} settled",
        button="Mark settled",
        permission="returns.settle_refund",
        form=SettleRefundForm,
        apply=mark_settled,
        queryset=lambda: Refund.objects.select_related("order", "rma", "error_case"),
        note=f"{SETTLE_NOTE} Every selected refund gets the same method and reference; refunds already settled, "
        "or paid through a gateway, are refused one by one.",
        summary="{done} of {count} {plural} marked settled.",
        url_name="returns_refund_bulk_settle",
    ),
}


@admin.register(Refund)
class RefundAdmin(ReturnsConsole, ReadOnlyAdmin):
    list_display = (
        "__str__",
        "status_badge",
        "cause",
        "amount",
        "currency",
        "confirmed_by_name",
        "created_at",
        "settlement_summary",
    )
    list_filter = ("status", "settlement_method", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("order", "rma", "error_case")
    search_fields = ("order__number", "rma__number", "settlement_reference")
    search_help_text = "Order number, RMA or settlement reference."
    actions = ("settle_selected", "mark_settled_selected")
    change_form_template = "admin/returns/refund/change_form.html"
    readonly_fields = (
        "order_link",
        "return_link",
        "error_case_link",
        "amount",
        "currency",
        "status_badge",
        "reason",
        "settle_note",
        "confirmed_by_name",
        "created_at",
        "settled_at",
        "settled_by_name",
        "settlement_method",
        "settlement_reference",
        "idempotency_key",
    )

    def get_fields(self, request, obj=None):
        cause = "return_link" if obj is None or obj.rma_id else "error_case_link"
        fields = [
            ("order_link", cause),
            ("amount", "currency", "status_badge"),
            "reason",
            "settle_note",
            ("confirmed_by_name", "created_at"),
        ]
        if obj is not None and obj.status == Refund.Status.SETTLED:
            fields.append(("settlement_method", "settlement_reference"))
            fields.append(("settled_by_name", "settled_at"))
        return [*fields, "idempotency_key"]

    @admin.display(description="status", ordering="status")
    def status_badge(self, refund: Refund):
        return badge(refund.status, REFUND_COLOURS[refund.status], refund.get_status_display())

    @admin.display(description="for")
    def cause(self, refund: Refund):
        return refund.cause

    @admin.display(description="settled")
    def settlement_summary(self, refund: Refund):
        return refund.settlement_summary or "—"

    @admin.display(description="order")
    def order_link(self, refund: Refund):
        return format_html(
            '<a href="{}" id="refund-order">{}</a>',
            reverse("admin:orders_order_change", args=[refund.order_id]),
            refund.order.number,
        )

    @admin.display(description="return")
    def return_link(self, refund: Refund):
        if not refund.rma_id:
            return "—"
        return format_html(
            '<a href="{}" id="refund-rma">{}</a> ({})',
            reverse("admin:returns_returnrequest_change", args=[refund.rma_id]),
            refund.rma.number,
            refund.rma.get_status_display().lower(),
        )

    @admin.display(description="order error")
    def error_case_link(self, refund: Refund):
        if not refund.error_case_id:
            return "—"
        return format_html(
            '<a href="{}" id="refund-error-case">{}</a>',
            reverse("admin:returns_ordererrorcase_change", args=[refund.error_case_id]),
            refund.error_case,
        )

    # --- permissions -----------------------------------------------------------------
    def has_settle_permission(self, request) -> bool:
        return request.user.has_perm("returns.refund_returnrequest")

    def has_mark_settled_permission(self, request) -> bool:
        return request.user.has_perm("returns.settle_refund")

    # --- the refund page ---------------------------------------------------------------
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["breakdown"] = breakdown_table(obj.breakdown or {})
            can_mark = (
                obj.status != Refund.Status.SETTLED
                and self.has_mark_settled_permission(request)
                and services.settles_by_hand(obj)
            )
            context["refund_tools"] = (
                [
                    {
                        "label": "Mark settled",
                        "action": "mark-settled",
                        "url": reverse("admin:returns_refund_settle", args=[obj.pk]),
                    }
                ]
                if can_mark
                else []
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path(
                "settle/", view(self.form_action_view), {"action": "settle-selected"}, name="returns_refund_bulk_settle"
            ),
            path(
                "<int:object_id>/settle/",
                view(self.form_action_view),
                {"action": "settle"},
                name="returns_refund_settle",
            ),
        ]
        return custom + super().get_urls()

    # --- mark settled -------------------------------------------------------------------
    form_actions = REFUND_ACTIONS

    def form_action_back_url(self, request, spec, rows, object_id) -> str:
        if object_id is None:  # several: back to the refunds still to settle
            return safe_next(
                request, f"{reverse('admin:returns_refund_changelist')}?status__exact={Refund.Status.PENDING}"
            )
        return super().form_action_back_url(request, spec, rows, object_id)

    def form_action_table(self, spec: FormAction, refunds: list[Refund]) -> dict:
        return rows_table(
            refunds,
            headers=("Refund", "For", "Order", "Amount", "Status", "Note"),
            cells=lambda r: (
                format_html('<a href="{}">#{}</a>', reverse("admin:returns_refund_change", args=[r.pk]), r.pk),
                r.cause,
                format_html(
                    '<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[r.order_id]), r.order.number
                ),
                f"{r.amount} {r.currency}",
                badge(r.status, REFUND_COLOURS[r.status], r.get_status_display()),
                r.settlement_summary or r.settle_note or "—",
            ),
            key="refund",
            table_id="settle-refunds",
        )

    # --- actions -----------------------------------------------------------------------
    @admin.action(description="Settle selected refunds through the gateway", permissions=["settle"])
    def settle_selected(self, request, queryset):
        for refund in queryset.order_by("pk")[:MAX_BULK_RETURNS]:
            try:
                refund = services.settle_refund(refund_id=refund.pk, actor=request.user)
            except OrderError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
                continue
            level = messages.SUCCESS if refund.status == Refund.Status.SETTLED else messages.WARNING
            self.message_user(request, f"{refund}: {refund.get_status_display().lower()}. {refund.settle_note}", level)

    @admin.action(
        description="Mark selected refunds settled (paid back outside the gateway)…", permissions=["mark_settled"]
    )
    def mark_settled_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "settle-selected", queryset)


# --- order errors --------------------------------------------------------------------------


def open_error_case(order: Order, data: dict, actor) -> Done:
    case = services.open_error_case(
        order_id=order.pk,
        kind=data["kind"],
        root_cause=data["root_cause"],
        description=data["description"],
        shipment_id=int(data["shipment"]) if data["shipment"] else None,
        actor=actor,
    )
    return Done(
        f"Order error {case} opened on {order}.", reverse("admin:returns_ordererrorcase_resolve", args=[case.pk])
    )


ERROR_CASE_ACTIONS = {
    "open": FormAction(
        title="Open an order error on {row}",
        button="Open order error",
        permission="returns.resolve_ordererrorcase",
        form=OpenErrorForm,
        form_kwargs=lambda orders: {
            "shipments": list(orders[0].shipments.select_related("warehouse").order_by("created_at"))
        },
        queryset=lambda: Order.objects.select_related("customer"),
        apply=open_error_case,
        single=True,
        refusal_on_form=True,
        url_name="returns_ordererrorcase_open",
        template=STEP_TEMPLATE,
    )
}


@admin.register(OrderErrorCase)
class OrderErrorCaseAdmin(ReturnsConsole, ReadOnlyAdmin):
    form_actions = ERROR_CASE_ACTIONS

    list_display = (
        "__str__",
        "order_link",
        "kind",
        "root_cause",
        "warehouse",
        "vendor",
        "status",
        "resolution",
        "created_at",
    )
    list_filter = (
        "status",
        "kind",
        "root_cause",
        "warehouse",
        "vendor",
        "order__channel",
        ("created_at", DateRangeFilterBuilder(title="opened")),
    )
    list_select_related = ("order", "warehouse", "vendor")
    search_fields = ("order__number",)
    change_form_template = "admin/returns/ordererrorcase/change_form.html"
    change_list_template = "admin/returns/ordererrorcase/change_list.html"
    fields = (
        ("order_link", "status", "resolution"),
        ("kind", "root_cause"),
        "description",
        ("shipment", "warehouse", "vendor"),
        ("reship_link", "created_at", "resolved_at"),
    )
    readonly_fields = (
        "order_link",
        "status",
        "resolution",
        "kind",
        "root_cause",
        "description",
        "shipment",
        "warehouse",
        "vendor",
        "reship_link",
        "created_at",
        "resolved_at",
    )

    @admin.display(description="order", ordering="order__number")
    def order_link(self, case: OrderErrorCase):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:orders_order_change", args=[case.order_id]), case.order
        )

    @admin.display(description="reship")
    def reship_link(self, case: OrderErrorCase):
        if not case.reship_order_id:
            return "—"
        return format_html(
            '<a href="{}" id="reship-order">{}</a>',
            reverse("admin:orders_order_change", args=[case.reship_order_id]),
            case.reship_order,
        )

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("returns.resolve_ordererrorcase")

    def console_tools(self, request) -> list[dict]:
        if not request.user.has_perm("returns.view_ordererrorcase"):
            return []
        return [{"name": "Order error rates", "url": reverse("admin:returns_ordererrorcase_report"), "key": "report"}]

    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path(
                "open/<int:object_id>/",
                view(self.form_action_view),
                {"action": "open"},
                name="returns_ordererrorcase_open",
            ),
            path("<int:case_id>/resolve/", view(self.resolve_view), name="returns_ordererrorcase_resolve"),
            path("report/", view(self.report_view), name="returns_ordererrorcase_report"),
        ]
        return custom + super().get_urls()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_resolve"] = obj.status == OrderErrorCase.Status.OPEN and self.has_resolve_permission(request)
            context["case_refunds"] = list(obj.refunds.all())
        return super().render_change_form(request, context, add, change, form_url, obj)

    def resolve_view(self, request, case_id: int):
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        case = get_object_or_404(OrderErrorCase.objects.select_related("order"), pk=case_id)
        lines = list(case.order.lines.all())
        form = ResolveErrorForm(request.POST or None, lines=lines)
        back = reverse("admin:returns_ordererrorcase_change", args=[case.pk])
        quote = None
        if request.method == "POST" and form.is_valid():
            try:
                refund_lines = form.cleaned_data["refund"]
                refunds = any(refund_lines.values()) or form.cleaned_data["refund_amount"] is not None
                if "preview" in request.POST:
                    quote = services.quote_error_refund(case.order, refund_lines)
                elif refunds and not request.user.has_perm("returns.refund_returnrequest"):
                    form.add_error(
                        None,
                        "You may reship but not refund (it needs the permission to confirm refunds): "
                        "clear the refund units and amount, or ask a returns associate or manager.",
                    )
                else:
                    case = services.resolve_error_case(
                        case_id=case.pk,
                        reship=form.cleaned_data["reship"],
                        refund_lines=refund_lines,
                        refund_amount=form.cleaned_data["refund_amount"],
                        actor=request.user,
                    )
                    self.message_user(
                        request,
                        f"Order error {case} resolved ({case.get_resolution_display().lower()}).",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(back)
            except OrderError as refusal:
                form.add_error(None, str(refusal))
        return form_page(
            self,
            request,
            STEP_TEMPLATE,
            title=f"Resolve order error {case}",
            form=form,
            original=case,
            quote=quote,
            preview_button=True,
            submit_label=f"Resolve {case}",
            back_url=back,
            order=case.order,
        )

    def report_view(self, request):
        """Order error rates by root cause, kind, warehouse and vendor over a period, with their denominators."""
        if not request.user.has_perm("returns.view_ordererrorcase"):
            raise PermissionDenied
        form = ReportForm.default(request.GET)
        report = None
        if form.is_bound and form.is_valid():
            report = selectors.error_report(start=form.cleaned_data["start"], end=form.cleaned_data["end"])
        elif not form.is_bound:
            report = selectors.error_report(start=form.initial["start"], end=form.initial["end"])
        return form_page(
            self, request, "admin/returns/report.html", title="Order error rates", form=form, report=report
        )


# --- the policy ---------------------------------------------------------------------------


class ReasonRuleInline(admin.TabularInline):
    model = ReasonRule
    extra = 0
    can_delete = False
    fields = ("reason", "restocking_fee_percent", "auto_authorise", "our_error", "trusted")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReturnPolicy)
class ReturnPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "window_days", "self_service", "exchanges", "store_credit", "updated_at")
    fields = ("window_days", "self_service", "exchanges", "store_credit")
    inlines = (ReasonRuleInline,)

    def has_add_permission(self, request):
        return False  # one policy, made from settings on first use

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        ReturnPolicy.current()
        return super().changelist_view(request, extra_context)


@admin.register(VariantGroup)
class VariantGroupAdmin(admin.ModelAdmin):
    """Which products are variants of one another: what a customer may exchange on the order status page."""

    list_display = ("name", "skus")
    search_fields = ("name", "products__sku")
    autocomplete_fields = ("products",)

    @admin.display(description="SKUs")
    def skus(self, group: VariantGroup) -> str:
        return ", ".join(product.sku for product in group.products.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("products")


@admin.register(StoreCredit)
class StoreCreditAdmin(ReadOnlyAdmin):
    """Store credit issued in settlement of refunds (customers who chose it on their order status page)."""

    list_display = ("number", "customer", "order", "amount", "currency", "refund", "created_at")
    list_select_related = ("customer", "order", "refund")
    search_fields = ("number", "order__number", "customer__email")
