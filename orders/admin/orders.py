"""The order console: ``OrderAdmin`` joins the list (order_list.py) and the page (order_page.py), and holds
the actions, each of which calls the order workflow and reports each success or refusal.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from inventory.admin import offer_finding_steps
from inventory.exceptions import InventoryError
from inventory.models import InventoryFinding
from oms_core.console import FormAction, FormActionsMixin, ReadOnlyAdmin, int_or_none, require_review, rows_table
from shipping import documents as shipping_documents  # shipping: pick lists

from .. import selectors, services
from ..exceptions import EditRefused, OrderError
from ..models import Address, HoldType, Order, OrderStatus
from ..services import business as business_services
from ..services.amendments import OVERRIDE_ADDRESS_PERMISSION, line_states
from .order_list import OrderListMixin
from .order_page import OrderPageMixin
from .shipment_changes import HoldForm

MAX_BULK_ORDERS = 500
# Changing a ship-to address is its own permission (the order form itself stays read-only).
CHANGE_ADDRESS_PERMISSION = "orders.change_order_address"
# Editing an order's items too (operations managers and associates: oms_site/roles.py).
EDIT_LINES_PERMISSION = "orders.edit_order_lines"
# Empty rows for new lines on the "Edit items" page.
ADD_ROWS = 3

# --- the actions that need input or a confirmation: each calls the order workflow and says what it did ---


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Recorded on each order's timeline with your name.",
    )


class NoteForm(forms.Form):
    """Releasing from hold: a note is welcome, not required (the field keeps the reason's name)."""

    reason = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Recorded on each order's timeline with your name.",
    )


ADDRESS_FIELDS = ("name", "company", "line1", "line2", "city", "state", "postal_code", "country", "phone")


class ChangeAddressForm(forms.ModelForm):
    """A new ship-to address for an order, and why. Validated as an address; the service saves it."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        max_length=1000,
        help_text="Recorded on the order's timeline with your name, with the old and the new address.",
    )

    override = forms.BooleanField(
        label="Ship there even though the ZIP code, city and state do not agree",
        required=False,
        help_text="Managers only; recorded on the timeline with what did not agree.",
    )

    class Meta:
        model = Address
        fields = ADDRESS_FIELDS

    def __init__(self, *args, can_override: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not can_override:
            del self.fields["override"]

    @classmethod
    def initial_from(cls, address: Address) -> dict:
        return {name: getattr(address, name) for name in ADDRESS_FIELDS}

    def clean_country(self) -> str:
        return self.cleaned_data["country"].strip().upper()


class CancelItemsForm(forms.Form):
    """Units to cancel per line (each line's field allows what can be cancelled of it), and why.

    The first submit shows what the cancellation will do (``plan``: the new total, the authorisation released
    or the refund, the stock released) and asks to confirm; the second makes it, unless the units changed
    meanwhile (then the summary is shown again) or the order moved on (``version``).
    """

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        max_length=1000,
        help_text="Recorded on the order's timeline with your name; the customer is emailed what was cancelled.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)
    reviewed = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, order: Order, confirming: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.order, self.confirming, self.plan = order, confirming, None
        self.fields["version"].initial = services.order_version(order)
        self.line_fields = []
        for state in line_states(order):
            line = state.line
            if state.cancellable < 1:
                continue
            name = f"line_{line.pk}"
            self.fields[name] = forms.IntegerField(
                label=f"{line.sku} ({line.name})",
                min_value=0,
                max_value=state.cancellable,
                initial=0,
                required=False,
                help_text=f"Up to {state.cancellable} of its {line.quantity} units"
                + (
                    f" ({state.in_shipments} packed in {', '.join(state.shipment_numbers)})"
                    if state.in_shipments
                    else ""
                )
                + ".",
            )
            self.line_fields.append((name, line))
        self.order_fields = ["reason", *(name for name, _ in self.line_fields)]

    def quantities(self) -> dict[int, int]:
        return {
            line.pk: self.cleaned_data.get(name) or 0 for name, line in self.line_fields if self.cleaned_data.get(name)
        }

    def digest(self) -> str:
        return ",".join(f"{pk}:{units}" for pk, units in sorted(self.quantities().items()))

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        if not self.quantities():
            raise forms.ValidationError("Enter how many units of at least one line to cancel.")
        try:
            self.plan = services.preview_cancellation(order_id=self.order.pk, quantities=self.quantities())
        except OrderError as refusal:
            raise forms.ValidationError(str(refusal)) from refusal
        require_review(
            self,
            cleaned,
            confirming=self.confirming,
            digest=self.digest(),
            message="Nothing is cancelled yet: check what the cancellation does below, then confirm.",
        )
        return cleaned


def cancel_items(order: Order, data: dict, actor) -> str:
    form_quantities = {
        int(name.removeprefix("line_")): units for name, units in data.items() if name.startswith("line_") and units
    }
    result = services.cancel_lines(
        order_id=order.pk,
        quantities=form_quantities,
        reason=data["reason"],
        actor=actor,
        expected_version=data["version"],
    )
    if result.order.status == OrderStatus.CANCELLED:
        return f"{order} cancelled: every item left was cancelled."
    items = ", ".join(f"{change['cancelled']} × {change['sku']}" for change in result.plan.changes)
    return f"{order}: cancelled {items}; new total {result.order.grand_total:,.2f} {result.order.currency}."


class EditItemsForm(forms.Form):
    """Each line's new quantity (no lower than what is shipped or packed), a few new lines (SKU, units, price),
    and why.

    The first submit shows what the edit does (``summary``: each line before → after, price, tax, discount and
    total, the stock reserved, released or waiting, the new promised date, the payment's move) and asks to
    confirm; the second makes it, unless the edit changed meanwhile (the summary again) or the order moved on
    (``version``).
    """

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        max_length=1000,
        help_text="Recorded on the order's timeline with your name; the customer is emailed the change and the date.",
    )
    version = forms.IntegerField(widget=forms.HiddenInput)
    reviewed = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, order: Order, confirming: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.order, self.confirming, self.summary = order, confirming, None
        self.fields["version"].initial = services.order_version(order)
        self.line_fields = []
        for state in line_states(order):
            line = state.line
            if line.quantity < 1:
                continue  # cancelled or removed: add it again as a new line
            floor = line.quantity_shipped + state.in_shipments
            name = f"line_{line.pk}"
            fixed = []
            if line.quantity_shipped:
                fixed.append(f"{line.quantity_shipped} shipped")
            if state.in_shipments:
                fixed.append(f"{state.in_shipments} packed in {', '.join(state.shipment_numbers)}")
            self.fields[name] = forms.IntegerField(
                label=f"{line.sku} ({line.name}) at {line.unit_price}",
                min_value=floor,
                max_value=100_000,
                initial=line.quantity,
                help_text=f"Now {line.quantity}"
                + (f"; at least {floor} ({', '.join(fixed)})" if fixed else "; 0 removes the line")
                + ".",
            )
            self.line_fields.append((name, line))
        self.add_rows = []
        for row in range(1, ADD_ROWS + 1):
            names = (f"add_sku_{row}", f"add_quantity_{row}", f"add_price_{row}")
            self.fields[names[0]] = forms.CharField(label=f"New line {row}: SKU", max_length=64, required=False)
            self.fields[names[1]] = forms.IntegerField(
                label=f"New line {row}: units", min_value=1, max_value=100_000, required=False
            )
            self.fields[names[2]] = forms.DecimalField(
                label=f"New line {row}: unit price",
                min_value=0,
                max_digits=12,
                decimal_places=2,
                required=False,
                help_text="Blank: the product's price.",
            )
            self.add_rows.append(names)

    def changes(self) -> list[dict]:
        data = self.cleaned_data
        changes = [
            {"line": line.pk, "quantity": data[name]}
            for name, line in self.line_fields
            if data.get(name) is not None and data[name] != line.quantity
        ]
        for sku, quantity, price in self.add_rows:
            if (data.get(sku) or "").strip():
                changes.append(
                    {"sku": data[sku].strip(), "quantity": data.get(quantity), "unit_price": data.get(price)}
                )
        return changes

    def digest(self) -> str:
        return "|".join(
            f"{c.get('line') or c.get('sku')}:{c.get('quantity')}:{c.get('unit_price') or ''}" for c in self.changes()
        )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        for sku, quantity, _ in self.add_rows:
            if (cleaned.get(sku) or "").strip() and not cleaned.get(quantity):
                self.add_error(quantity, "How many units of the new line?")
        if self.errors:
            return cleaned
        if not self.changes():
            raise forms.ValidationError("Change a quantity or add a line: as it is, the edit changes nothing.")
        try:
            self.summary = services.preview_edit(order_id=self.order.pk, changes=self.changes())
        except OrderError as refusal:
            raise forms.ValidationError(str(refusal)) from refusal
        require_review(
            self,
            cleaned,
            confirming=self.confirming,
            digest=self.digest(),
            message="Nothing is changed yet: check what the edit does below, then confirm.",
        )
        return cleaned


def edit_items(order: Order, data: dict, actor) -> str:
    form_changes = [
        {"line": int(name.removeprefix("line_")), "quantity": units}
        for name, units in data.items()
        if name.startswith("line_") and units is not None
    ]
    for row in range(1, ADD_ROWS + 1):
        sku = (data.get(f"add_sku_{row}") or "").strip()
        if sku:
            form_changes.append(
                {"sku": sku, "quantity": data.get(f"add_quantity_{row}"), "unit_price": data.get(f"add_price_{row}")}
            )
    current = {line.pk: line.quantity for line in order.lines.all()}
    form_changes = [c for c in form_changes if "sku" in c or current.get(c["line"]) != c["quantity"]]
    result = services.edit_lines(
        order_id=order.pk, changes=form_changes, reason=data["reason"], actor=actor, expected_version=data["version"]
    )
    items = ", ".join(
        f"{c['sku']} {c['before']} → {c['after']}" if c["before"] else f"{c['sku']} added ({c['after']})"
        for c in result.changes
    )
    when = f"; promised {result.promised_after:%a %d %b}" if result.promised_after else ""
    return f"{order}: {items}; new total {result.total_after:,.2f} {order.currency}{when}."


def shipments_made(order: Order, shipments: list) -> str:
    """ "Made 2 shipments for SO-…: SO-…-1 (EWR, Ground), …", each shipment a link to its page."""
    links = format_html_join(
        ", ",
        '<a href="{}">{}</a> ({}, {})',
        (
            (
                reverse("admin:shipping_shipment_change", args=[s.pk]),
                s.number,
                s.warehouse.code,
                s.service or "no service",
            )
            for s in shipments
        ),
    )
    return format_html(
        "Made {} shipment{} for {}: {}.", len(shipments), "s" if len(shipments) != 1 else "", order, links
    )


def hold(order: Order, data: dict, actor) -> str:
    services.hold_order(order_id=order.pk, reason=data["reason"], hold_type=data["hold_type"], actor=actor)
    return f"{order} put on a {HoldType(data['hold_type']).label.lower()} hold."


def release(order: Order, data: dict, actor) -> str:
    services.release_order(order_id=order.pk, note=data.get("reason", ""), actor=actor)
    return f"{order} released from hold."


def cancel(order: Order, data: dict, actor) -> str:
    services.cancel_order(order_id=order.pk, reason=data["reason"], actor=actor)
    return f"{order} cancelled."


def add_note(order: Order, data: dict, actor) -> str:
    services.add_order_note(order_id=order.pk, message=data["reason"], actor=actor)
    return f"Note added to {order}."


def allocate(order: Order, data: dict, actor) -> str:
    order = services.allocate_order(order_id=order.pk, actor=actor)
    return f"{order} routed: {order.get_status_display().lower()}."


def create_shipments(order: Order, data: dict, actor) -> str:
    return shipments_made(order, services.create_shipments(order_id=order.pk, actor=actor))


def change_address(order: Order, data: dict, actor) -> str:
    """The address's own rules, and a ZIP code, city or state that do not agree, land on their fields."""
    address = services.AddressData(**{name: data[name] for name in ADDRESS_FIELDS})
    try:
        result = services.change_shipping_address(
            order_id=order.pk, address=address, reason=data["reason"], actor=actor, override=data.get("override", False)
        )
    except EditRefused as refusal:
        if not refusal.problems:
            raise
        raise ValidationError(
            {name: message.split(": ", 1)[-1] for name, message in refusal.problems.items() if name != "override"}
            or str(refusal)
        ) from refusal
    when = f"; promised {result.promised_after:%a %d %b}" if result.promised_after else ""
    where = f"; reserved at {', '.join(result.warehouses_after)}" if result.warehouses_after else ""
    return f"{order}: ship-to address changed{where}{when}."


def revoke_status_link(order: Order, data: dict, actor) -> str:
    services.revoke_status_link(order_id=order.pk, actor=actor)
    return f"{order}: the customer's status link revoked; the emails from now on carry a new one."


def suppress_delay_notice(order: Order, data: dict, actor) -> str:
    notice = services.suppress_delay_notice(order_id=order.pk, reason=data["reason"], actor=actor)
    when = f"{notice.new_estimate:%a %d %b}" if notice.new_estimate else "its delay"
    return f"{order}: no delay email for {when}."


class SuppressForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Why the customer should not get the delay email (e.g. we called them). "
        "Recorded on the order's timeline with your name.",
    )


# Suppressing a delay notice is its own permission (operations managers and associates: oms_site/roles.py).
SUPPRESS_DELAY_PERMISSION = "orders.suppress_delay_notice"


class PoNumberForm(forms.Form):
    po_number = forms.CharField(
        label="Customer reference (PO)",
        max_length=50,
        required=False,
        help_text="The customer's own reference, e.g. their purchase order number: printed on the packing slip, the "
        "pick list and the labels of shipments made from now on. Empty: none.",
    )


def set_po_number(order: Order, data: dict, actor) -> str:
    order = business_services.set_po_number(order_id=order.pk, po_number=data["po_number"], actor=actor)
    return f"{order}: PO number {order.po_number or 'removed'}."


ORDER_ACTIONS = {
    "hold": FormAction(title="Put on hold {rows}", permission="orders.hold_order", form=HoldForm, apply=hold),
    "release": FormAction(
        title="Release from hold {rows}", permission="orders.hold_order", form=NoteForm, apply=release
    ),
    "cancel": FormAction(title="Cancel {rows}", permission="orders.cancel_order", form=ReasonForm, apply=cancel),
    "cancel-items": FormAction(
        title="Cancel some items of {row}",
        crumb="Cancel some items",
        button="Cancel these items",
        note="The first click shows what the cancellation does (new total, payment, stock); "
        "nothing changes until you click again to confirm.",
        permission="orders.cancel_order",
        form=CancelItemsForm,
        form_kwargs=lambda orders: {"order": orders[0]},
        single=True,
        refusal_on_form=True,
        template="admin/orders/order/cancel_items.html",
        apply=cancel_items,
    ),
    "edit-items": FormAction(
        title="Edit the items of {row}",
        crumb="Edit items",
        button="Edit these items",
        note="The first click shows what the edit does (price, tax, discount, stock, promised date, payment); "
        "nothing changes until you click again to confirm.",
        permission=EDIT_LINES_PERMISSION,
        form=EditItemsForm,
        form_kwargs=lambda orders: {"order": orders[0]},
        single=True,
        refusal_on_form=True,
        template="admin/orders/order/edit_items.html",
        apply=edit_items,
    ),
    "set-po-number": FormAction(
        title="Set the customer's PO number of {row}",
        crumb="PO number",
        button="Save the PO number",
        permission="orders.set_po_number",
        form=PoNumberForm,
        form_kwargs=lambda orders: {"initial": {"po_number": orders[0].po_number}},
        single=True,
        apply=set_po_number,
    ),
    "note": FormAction(title="Add a note to {rows}", permission="orders.view_order", form=ReasonForm, apply=add_note),
    "allocate": FormAction(title="Route and allocate {rows}", permission="orders.hold_order", apply=allocate),
    "ship": FormAction(  # shipping
        title="Create shipments for {rows}", permission="shipping.print_labels", apply=create_shipments
    ),
    "revoke-status-link": FormAction(
        title="Revoke the customer's status link of {rows}",
        button="Revoke the link",
        note="The order page link in the emails sent so far stops working at once; "
        "the emails from now on carry a new link.",
        permission="orders.hold_order",
        apply=revoke_status_link,
    ),
    "suppress-delay-notice": FormAction(
        title="Suppress the delay email of {rows}",
        button="Suppress the delay email",
        note="The customer gets no delay email for the order's current new estimate; "
        "a later estimate is told as usual.",
        permission=SUPPRESS_DELAY_PERMISSION,
        form=SuppressForm,
        apply=suppress_delay_notice,
    ),
    "change-address": FormAction(
        title="Change the ship-to address of {row}",
        crumb="Change address",
        button="Change address",
        permission=CHANGE_ADDRESS_PERMISSION,
        form=ChangeAddressForm,
        form_kwargs=lambda orders: {"initial": ChangeAddressForm.initial_from(orders[0].shipping_address)},
        single=True,
        url_name="orders_order_change_address",
        template="admin/orders/order/change_address.html",
        apply=change_address,
    ),
}


@admin.register(Order)
class OrderAdmin(OrderPageMixin, OrderListMixin, FormActionsMixin, ReadOnlyAdmin):
    """Orders change only through services: the page is read-only for everyone; its buttons are actions."""

    actions = (
        "allocate_selected",
        "hold_selected",
        "release_selected",
        "cancel_selected",
        "create_shipments_selected",  # shipping
        "pick_list_selected",  # shipping
    )

    # --- permissions --------------------------------------------------------
    def has_hold_permission(self, request) -> bool:
        return request.user.has_perm("orders.hold_order")

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("orders.cancel_order")

    def has_change_address_permission(self, request) -> bool:
        return request.user.has_perm(CHANGE_ADDRESS_PERMISSION)

    def has_edit_lines_permission(self, request) -> bool:
        return request.user.has_perm(EDIT_LINES_PERMISSION)

    def has_suppress_delay_permission(self, request) -> bool:
        return request.user.has_perm(SUPPRESS_DELAY_PERMISSION)

    # --- actions ------------------------------------------------------------
    form_actions = ORDER_ACTIONS
    refusals = (OrderError, InventoryError)

    def selection_limit(self) -> int:
        return MAX_BULK_ORDERS

    def form_action_form_kwargs(self, request, spec: FormAction, rows: list) -> dict:
        kwargs = super().form_action_form_kwargs(request, spec, rows)
        if spec.form in (CancelItemsForm, EditItemsForm):
            kwargs["confirming"] = request.method == "POST" and bool(request.POST.get("reviewed"))
        if spec.form is ChangeAddressForm:
            kwargs["can_override"] = request.user.has_perm(OVERRIDE_ADDRESS_PERMISSION)
        return kwargs

    def form_action_context(self, request, spec: FormAction, rows: list, form) -> dict:
        if spec.form is CancelItemsForm and form is not None:
            return {"order": rows[0], "plan": form.plan}
        if spec.form is EditItemsForm and form is not None:
            return {"order": rows[0], "summary": form.summary}
        return super().form_action_context(request, spec, rows, form)

    def form_action_table(self, spec: FormAction, orders: list[Order]) -> dict | None:
        if spec.single:
            return None  # a one-order page (change address) names the order in its title
        return rows_table(
            orders,
            headers=("Order", "Status", "Customer", "Total"),
            cells=lambda o: (o.number, o.get_status_display(), o.customer.name, f"{o.grand_total} {o.currency}"),
            key="order",
        )

    @admin.action(description="Route and allocate selected orders…", permissions=["hold"])
    def allocate_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "allocate", queryset)

    @admin.action(description="Put selected orders on hold…", permissions=["hold"])
    def hold_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "hold", queryset)

    @admin.action(description="Release selected orders from hold", permissions=["hold"])
    def release_selected(self, request, queryset):
        if not self.too_many(request, queryset):
            self.apply_form_action(request, "release", list(queryset.order_by("pk")), {}, summary=False)

    @admin.action(description="Cancel selected orders…", permissions=["cancel"])
    def cancel_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "cancel", queryset)

    # --- shipping: shipments from the order page, pick lists for a wave -------
    def has_create_shipments_permission(self, request) -> bool:
        return request.user.has_perm("shipping.print_labels")

    def has_pick_list_permission(self, request) -> bool:
        return request.user.has_perm("inventory.view_allocation")

    @admin.action(description="Create shipments for selected orders", permissions=["create_shipments"])
    def create_shipments_selected(self, request, queryset):
        if not self.too_many(request, queryset):
            self.apply_form_action(request, "ship", list(queryset.order_by("pk")), {})

    @admin.action(description="Pick list (PDF) for selected orders", permissions=["pick_list"])
    def pick_list_selected(self, request, queryset):
        """One pick list for the wave: reserved units by warehouse and bin. Orders on hold are left off."""
        if self.too_many(request, queryset):
            return None
        rows = list(queryset.order_by("pk").values_list("pk", "number", "status"))
        for _, number, status in rows:
            if status == OrderStatus.ON_HOLD:
                self.message_user(request, f"{number} is on hold: left off the pick list.", messages.WARNING)
        wanted = [pk for pk, _, status in rows if status != OrderStatus.ON_HOLD]
        pick_list = selectors.pick_list_for(wanted)
        if not pick_list.warehouses:
            self.message_user(request, "None of the selected orders has reserved units to pick.", messages.ERROR)
            return None
        picked = {number for warehouse in pick_list.warehouses for number in warehouse.order_numbers}
        idle = [number for pk, number, status in rows if pk in wanted and number not in picked]
        if idle:
            self.message_user(request, f"No reserved units to pick for {', '.join(idle[:20])}.", messages.WARNING)
        response = HttpResponse(shipping_documents.render_pick_list_pdf(pick_list), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="pick-list-{timezone.localtime():%Y%m%d-%H%M}.pdf"'
        return response

    def get_urls(self):
        address = path(
            "<path:object_id>/address/",
            self.admin_site.admin_view(self.form_action_view),
            {"action": "change-address"},
            name="orders_order_change_address",
        )
        return [*self.form_action_urls(), address, *self.page_urls(), *self.list_urls(), *super().get_urls()]


# --- the inventory check's page: "Allocate now" beside a backorder another warehouse can fill -------------


def allocate_now_steps(request: HttpRequest, findings: list[InventoryFinding], back_url: str) -> dict[int, dict]:
    """Beside each fillable backorder: "Allocate now", which posts to this console's allocate action (routing the
    order through the order workflow, which reports back); or, once the order moved on, what it is now.

    The orders' statuses are read in one query (the check ran earlier). Who may not route orders gets no button.
    """
    order_ids = {finding.pk: int_or_none(finding.object_id) for finding in findings}
    statuses = dict(Order.objects.filter(pk__in=set(order_ids.values()) - {None}).values_list("pk", "status"))
    may_route = request.user.has_perm(ORDER_ACTIONS["allocate"].permission)
    steps = {}
    for finding_id, order_id in order_ids.items():
        status = statuses.get(order_id)
        if status is not None and status != OrderStatus.BACKORDERED:
            steps[finding_id] = {"note": f"now {status.replace('_', ' ')}"}
        elif status is not None and may_route:
            url = reverse("admin:orders_order_act", args=["allocate"])
            steps[finding_id] = {"label": "Allocate now", "url": url, "ids": order_id, "next": back_url}
    return steps


offer_finding_steps(InventoryFinding.Kind.BACKORDER_FILLABLE, allocate_now_steps)
