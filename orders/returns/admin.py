"""The returns associate's console: the returns queue, the RMA page and its steps, refunds, order errors,
the error-rate report and the return policy.

Thin by design: returns, refunds and error cases change only through
``orders.returns.services``; each step is a small form page that calls one
service and reports its success or refusal.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from oms_core.console import badge, int_or_404

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
)
from .views import label_response

MAX_BULK_RETURNS = 200

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
STEPS = {
    "authorise": ("Authorise", "Authorise", "returns.process_returnrequest", {ReturnStatus.REQUESTED}),
    "reject": ("Reject", "Reject", "returns.process_returnrequest", {ReturnStatus.REQUESTED, ReturnStatus.AUTHORISED}),
    "receive": ("Receive", "Receive", "returns.process_returnrequest", {ReturnStatus.AUTHORISED}),
    "inspect": ("Inspect", "Inspect", "returns.process_returnrequest", {ReturnStatus.RECEIVED}),
    "refund": ("Refund", "Refund", "returns.refund_returnrequest", {ReturnStatus.INSPECTED}),
    "close": (
        "Close",
        "Close return",
        "returns.process_returnrequest",
        {ReturnStatus.INSPECTED, ReturnStatus.REFUNDED},
    ),
}


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


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _page(admin_obj, request, template: str, title: str, **context) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {**admin_obj.admin_site.each_context(request), "opts": admin_obj.model._meta, "title": title, **context},
    )


# --- returns -----------------------------------------------------------------------------


@admin.register(ReturnRequest)
class ReturnRequestAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "order_link",
        "status_badge",
        "reason",
        "warehouse_code",
        "channel_name",
        "unit_total",
        "age",
    )
    list_display_links = ("number",)
    list_filter = (QueueFilter, "status", "reason", "warehouse", "order__channel", "our_error")
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
        return request.user.has_perm("returns.process_returnrequest")

    # --- bulk actions ----------------------------------------------------------------
    @admin.action(description="Receive selected returns (every unit asked for)…", permissions=["process"])
    def receive_selected(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_BULK_RETURNS + 1])
        if len(ids) > MAX_BULK_RETURNS:
            self.message_user(request, f"Select at most {MAX_BULK_RETURNS} returns at a time.", messages.ERROR)
            return None
        url = reverse("admin:returns_returnrequest_bulk_receive")
        return HttpResponseRedirect(f"{url}?ids={','.join(str(pk) for pk in ids)}")

    @admin.action(description="Authorise selected returns", permissions=["process"])
    def authorise_selected(self, request, queryset):
        for rma in queryset.order_by("pk")[:MAX_BULK_RETURNS]:
            self._call(
                request,
                lambda rma=rma: services.authorise_return(rma_id=rma.pk, actor=request.user),
                f"{rma} authorised; the customer was emailed the label.",
            )

    def _call(self, request, call, success: str) -> bool:
        try:
            call()
        except OrderError as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return False
        self.message_user(request, success, messages.SUCCESS)
        return True

    # --- urls ------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            # The customer's link from the authorisation email: signed, no login.
            path("open/<int:order_id>/", view(self.open_view), name="returns_returnrequest_open"),
            path("receive/", view(self.bulk_receive_view), name="returns_returnrequest_bulk_receive"),
            path("<int:rma_id>/label.pdf", view(self.label_view), name="returns_returnrequest_label"),
            path("<int:rma_id>/step/<str:step>/", view(self.step_view), name="returns_returnrequest_step"),
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
                "label": title,
                "url": reverse("admin:returns_returnrequest_step", args=[rma.pk, step]),
                "danger": step == "reject",
            }
            for step, (_verb, title, permission, statuses) in STEPS.items()
            if rma.status in statuses and request.user.has_perm(permission)
        ]

    def open_view(self, request, order_id: int):
        """Open a return from an order: units per shipped line, a reason, the customer's note."""
        if not request.user.has_perm("returns.add_returnrequest"):
            raise PermissionDenied
        order = get_object_or_404(Order.objects.select_related("customer"), pk=order_id)
        lines = [line for line in OrderLine.objects.filter(order=order) if line.quantity_shipped]
        returnable = selectors.returnable_quantities(order.pk)
        form = OpenReturnForm(request.POST or None, lines=lines)
        if request.method == "POST" and form.is_valid():
            try:
                rma = services.open_return(
                    order_id=order.pk,
                    lines=form.line_values("qty"),
                    reason=form.cleaned_data["reason"],
                    customer_note=form.cleaned_data["customer_note"],
                    actor=request.user,
                )
            except OrderError as refusal:
                form.add_error(None, str(refusal))
            else:
                self.message_user(
                    request, f"Return {rma} opened ({rma.get_status_display().lower()}).", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:returns_returnrequest_change", args=[rma.pk]))
        rows = [
            {"line": line, "fields": [form[f"qty_{line.pk}"]], "returnable": returnable.get(line.pk, 0)}
            for line in lines
        ]
        return _page(
            self,
            request,
            "admin/returns/step.html",
            f"Open a return for {order}",
            form=form,
            order=order,
            rows=rows,
            columns=["Units to return"],
            show_returnable=True,
            submit_label="Open return",
            back_url=reverse("admin:orders_order_change", args=[order.pk]),
            form_fields=[form["reason"], form["customer_note"]],
        )

    def step_view(self, request, rma_id: int, step: str):
        """One step of an RMA: a form page that calls the service."""
        if step not in STEPS:
            raise Http404
        title, _button, permission, _statuses = STEPS[step]
        if not request.user.has_perm(permission):
            raise PermissionDenied
        rma = get_object_or_404(ReturnRequest.objects.select_related("order__customer", "warehouse"), pk=rma_id)
        back = reverse("admin:returns_returnrequest_change", args=[rma.pk])
        lines = list(rma.lines.all())
        data = request.POST if request.method == "POST" else None
        context = {"rma": rma, "original": rma, "back_url": back, "submit_label": f"{title} {rma}", "quote": None}
        if step == "authorise":
            form = WarehouseForm(data, initial={"warehouse": rma.warehouse_id})
            call = lambda: services.authorise_return(  # noqa: E731
                rma_id=rma.pk, actor=request.user, warehouse_id=getattr(form.cleaned_data["warehouse"], "pk", None)
            )
            done = f"{rma} authorised; the customer was emailed the return label."
        elif step == "reject":
            form = ReasonForm(data)
            call = lambda: services.reject_return(  # noqa: E731
                rma_id=rma.pk, reason=form.cleaned_data["reason"], actor=request.user
            )
            done = f"{rma} rejected."
        elif step == "receive":
            form = ReceiveForm(data, lines=lines, initial={"warehouse": rma.warehouse_id})
            context.update(rows=form.rows(lines, ["received"]), columns=["Receiving now"])
            call = lambda: services.receive_return(  # noqa: E731
                rma_id=rma.pk,
                quantities=form.line_values("received"),
                warehouse_id=getattr(form.cleaned_data["warehouse"], "pk", None),
                actor=request.user,
            )
            done = f"{rma} received."
        elif step == "inspect":
            form = InspectForm(data, lines=lines)
            context.update(
                rows=form.rows(lines, ["restock", "writeoff", "reason"]),
                columns=["Restock (sellable)", "Write off", "Write-off reason"],
            )

            def call():
                restock, write_off, reasons = form.line_values("restock"), form.line_values("writeoff"), form.reasons()
                results = {
                    line.pk: services.Inspection(
                        restock=restock.get(line.pk, 0), write_off=write_off.get(line.pk, 0), reason=reasons[line.pk]
                    )
                    for line in lines
                }
                return services.inspect_return(rma_id=rma.pk, results=results, actor=request.user)

            done = f"{rma} inspected; stock updated."
        elif step == "refund":
            quote = services.quote_return_refund(rma)
            context["quote"] = quote
            form = RefundForm(data, initial={"amount": quote.amount})
            refund_holder = {}

            def call():
                refund_holder["refund"] = services.confirm_return_refund(
                    rma_id=rma.pk, amount=form.cleaned_data["amount"], actor=request.user
                )

            done = None
        else:  # close
            form = NoteForm(data)
            call = lambda: services.close_return(  # noqa: E731
                rma_id=rma.pk, note=form.cleaned_data["note"], actor=request.user
            )
            done = f"{rma} closed."
        if request.method == "POST" and form.is_valid():
            try:
                call()
            except OrderError as refusal:
                form.add_error(None, str(refusal))
            else:
                if step == "refund":
                    refund = refund_holder["refund"]
                    done = f"{rma}: refund of {refund.amount} {refund.currency} {refund.get_status_display().lower()}."
                    if refund.settle_note:
                        done += f" {refund.settle_note}"
                self.message_user(request, done, messages.SUCCESS)
                return HttpResponseRedirect(back)
        context.setdefault("rows", [])
        form_fields = [form[name] for name in form.fields if "_" not in name or not name.split("_")[-1].isdigit()]
        return _page(
            self,
            request,
            "admin/returns/step.html",
            f"{title} return {rma}",
            form=form,
            form_fields=form_fields,
            lines=lines,
            **context,
        )

    def bulk_receive_view(self, request):
        """Receive every unit asked for on the selected authorised returns, at their (or one chosen) warehouse."""
        if not self.has_process_permission(request):
            raise PermissionDenied
        raw = request.POST.get("ids") or request.GET.get("ids") or ""
        ids = [int(pk) for pk in raw.split(",") if pk.strip().isdigit()][:MAX_BULK_RETURNS]
        rmas = list(selectors.return_queue().filter(pk__in=ids).order_by("pk"))
        back = reverse("admin:returns_returnrequest_changelist")
        if not rmas:
            self.message_user(request, "No returns were selected.", messages.WARNING)
            return HttpResponseRedirect(back)
        form = WarehouseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            warehouse = form.cleaned_data["warehouse"]
            done = sum(
                self._call(
                    request,
                    lambda rma=rma: services.receive_return(
                        rma_id=rma.pk,
                        quantities=None,
                        warehouse_id=warehouse.pk if warehouse else None,
                        actor=request.user,
                    ),
                    f"{rma} received.",
                )
                for rma in rmas
            )
            if len(rmas) > 1:
                self.message_user(request, f"{done} of {len(rmas)} returns received.", messages.INFO)
            return HttpResponseRedirect(back)
        return _page(
            self,
            request,
            "admin/returns/bulk_receive.html",
            f"Receive {len(rmas)} return{'s' if len(rmas) != 1 else ''}",
            form=form,
            rmas=rmas,
            ids=",".join(str(r.pk) for r in rmas),
            back_url=back,
        )

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


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
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
            path("settle/", view(self.bulk_settle_view), name="returns_refund_bulk_settle"),
            path("<int:refund_id>/settle/", view(self.settle_view), name="returns_refund_settle"),
        ]
        return custom + super().get_urls()

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
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_BULK_RETURNS + 1])
        if len(ids) > MAX_BULK_RETURNS:
            self.message_user(request, f"Select at most {MAX_BULK_RETURNS} refunds at a time.", messages.ERROR)
            return None
        url = reverse("admin:returns_refund_bulk_settle")
        return HttpResponseRedirect(f"{url}?ids={','.join(str(pk) for pk in ids)}")

    # --- mark settled: one refund, or several paid back together ----------------------
    def settle_view(self, request, refund_id: int):
        """Mark one refund settled: how it was paid back and the payment's reference."""
        if not self.has_mark_settled_permission(request):
            raise PermissionDenied
        refund = get_object_or_404(Refund.objects.select_related("order", "rma", "error_case"), pk=refund_id)
        back = reverse("admin:returns_refund_change", args=[refund.pk])
        form = SettleRefundForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                refund = services.mark_refund_settled(refund_id=refund.pk, actor=request.user, **form.cleaned_data)
            except OrderError as refusal:
                form.add_error(None, str(refusal))
            else:
                self.message_user(request, self._settled_message(refund), messages.SUCCESS)
                return HttpResponseRedirect(back)
        return self._settle_page(request, form, [refund], back, title=f"Mark settled: {refund} for {refund.cause}")

    def bulk_settle_view(self, request):
        """Mark the selected refunds settled, paid back together (one method, one reference)."""
        if not self.has_mark_settled_permission(request):
            raise PermissionDenied
        raw = request.POST.get("ids") or request.GET.get("ids") or ""
        ids = [int(pk) for pk in raw.split(",") if pk.strip().isdigit()][:MAX_BULK_RETURNS]
        refunds = list(Refund.objects.filter(pk__in=ids).select_related("order", "rma", "error_case").order_by("pk"))
        back = f"{reverse('admin:returns_refund_changelist')}?status__exact={Refund.Status.PENDING}"
        if not refunds:
            self.message_user(request, "No refunds were selected.", messages.WARNING)
            return HttpResponseRedirect(back)
        form = SettleRefundForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            done = 0
            for refund in refunds:
                try:
                    refund = services.mark_refund_settled(refund_id=refund.pk, actor=request.user, **form.cleaned_data)
                except OrderError as refusal:
                    self.message_user(request, str(refusal), messages.ERROR)
                else:
                    done += 1
                    self.message_user(request, self._settled_message(refund), messages.SUCCESS)
            if len(refunds) > 1:
                self.message_user(request, f"{done} of {len(refunds)} refunds marked settled.", messages.INFO)
            return HttpResponseRedirect(back)
        plural = "s" if len(refunds) != 1 else ""
        return self._settle_page(
            request,
            form,
            refunds,
            back,
            title=f"Mark {len(refunds)} refund{plural} settled",
            ids=",".join(str(r.pk) for r in refunds),
        )

    @staticmethod
    def _settled_message(refund: Refund) -> str:
        return (
            f"{refund} for {refund.cause} marked settled: {refund.get_settlement_method_display().lower()}, "
            f"reference {refund.settlement_reference}."
        )

    def _settle_page(self, request, form, refunds: list[Refund], back: str, *, title: str, ids: str = ""):
        rows = [
            {
                "refund": refund,
                "badge": badge(refund.status, REFUND_COLOURS[refund.status], refund.get_status_display()),
            }
            for refund in refunds
        ]
        return _page(
            self,
            request,
            "admin/returns/refund/settle.html",
            title,
            form=form,
            rows=rows,
            ids=ids,
            original=refunds[0] if len(refunds) == 1 and not ids else None,
            back_url=back,
        )


# --- order errors --------------------------------------------------------------------------


@admin.register(OrderErrorCase)
class OrderErrorCaseAdmin(ReadOnlyAdmin):
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
    list_filter = ("status", "kind", "root_cause", "warehouse", "vendor", "order__channel")
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
            path("open/<int:order_id>/", view(self.open_view), name="returns_ordererrorcase_open"),
            path("<int:case_id>/resolve/", view(self.resolve_view), name="returns_ordererrorcase_resolve"),
            path("report/", view(self.report_view), name="returns_ordererrorcase_report"),
        ]
        return custom + super().get_urls()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["can_resolve"] = obj.status == OrderErrorCase.Status.OPEN and self.has_resolve_permission(request)
            context["case_refunds"] = list(obj.refunds.all())
        return super().render_change_form(request, context, add, change, form_url, obj)

    def open_view(self, request, order_id: int):
        if not self.has_resolve_permission(request):
            raise PermissionDenied
        order = get_object_or_404(Order, pk=order_id)
        shipments = list(order.shipments.select_related("warehouse").order_by("created_at"))
        form = OpenErrorForm(request.POST or None, shipments=shipments)
        if request.method == "POST" and form.is_valid():
            try:
                case = services.open_error_case(
                    order_id=order.pk,
                    kind=form.cleaned_data["kind"],
                    root_cause=form.cleaned_data["root_cause"],
                    description=form.cleaned_data["description"],
                    shipment_id=int(form.cleaned_data["shipment"]) if form.cleaned_data["shipment"] else None,
                    actor=request.user,
                )
            except OrderError as refusal:
                form.add_error(None, str(refusal))
            else:
                self.message_user(request, f"Order error {case} opened on {order}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:returns_ordererrorcase_resolve", args=[case.pk]))
        return _page(
            self,
            request,
            "admin/returns/step.html",
            f"Open an order error on {order}",
            form=form,
            form_fields=list(form),
            rows=[],
            order=order,
            submit_label="Open order error",
            back_url=reverse("admin:orders_order_change", args=[order.pk]),
        )

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
                refund_lines = form.line_values("refund")
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
                        reship=form.line_values("reship"),
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
        return _page(
            self,
            request,
            "admin/returns/step.html",
            f"Resolve order error {case}",
            form=form,
            original=case,
            form_fields=[form["refund_amount"]],
            rows=form.rows(lines, ["reship", "refund"]),
            columns=["Reship (no charge)", "Refund units"],
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
        return _page(self, request, "admin/returns/report.html", "Order error rates", form=form, report=report)


# --- the policy ---------------------------------------------------------------------------


class ReasonRuleInline(admin.TabularInline):
    model = ReasonRule
    extra = 0
    can_delete = False
    fields = ("reason", "restocking_fee_percent", "auto_authorise", "our_error")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ReturnPolicy)
class ReturnPolicyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "window_days", "updated_at")
    fields = ("window_days",)
    inlines = (ReasonRuleInline,)

    def has_add_permission(self, request):
        return False  # one policy, made from settings on first use

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        ReturnPolicy.current()
        return super().changelist_view(request, extra_context)
