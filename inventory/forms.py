"""The console's small input forms: they collect what a service needs, and nothing more.

The rules (enough available, a reason for an adjustment, two different
warehouses...) belong to the services; a refusal comes back as an
InventoryError and the view shows it on the form.
"""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple

from .models import CycleCountLine, Product, StockMovement, Warehouse


def _warehouses():
    return Warehouse.objects.order_by("code")


class _WithProduct(forms.Form):
    """A form with a SKU box that searches ProductAdmin.search_fields as you type (a select would not scale)."""

    field_order: list[str] = []

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"] = forms.ModelChoiceField(
            queryset=Product.objects.all(),
            label="SKU",
            widget=AutocompleteSelect(StockMovement._meta.get_field("product"), admin_site),
        )
        self.order_fields(self.field_order)


class ReceiveStockForm(_WithProduct):
    field_order = ["warehouse", "product", "quantity", "reference", "note"]

    warehouse = forms.ModelChoiceField(queryset=_warehouses())
    quantity = forms.IntegerField(min_value=1, help_text="Units received.")
    reference = forms.CharField(max_length=100, required=False, help_text="Purchase order, delivery note or ASN.")
    note = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


class AdjustStockForm(_WithProduct):
    field_order = ["warehouse", "product", "quantity", "reason"]

    warehouse = forms.ModelChoiceField(queryset=_warehouses())
    quantity = forms.IntegerField(label="Change", help_text="Signed: 5 adds five units to on hand, -5 removes five.")
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded on the ledger with your name.",
    )


class TransferStockForm(_WithProduct):
    field_order = ["product", "from_warehouse", "to_warehouse", "quantity", "reason"]

    from_warehouse = forms.ModelChoiceField(queryset=_warehouses(), label="From")
    to_warehouse = forms.ModelChoiceField(queryset=_warehouses(), label="To")
    quantity = forms.IntegerField(min_value=1, help_text="Only available (unallocated) units can move.")
    reason = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))


class StartCycleCountForm(forms.Form):
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.filter(is_active=True).order_by("code"))
    bin_prefix = forms.CharField(
        label="Bins starting with", max_length=30, required=False, help_text="Empty: every bin."
    )
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["products"] = forms.ModelMultipleChoiceField(
            queryset=Product.objects.all(),
            required=False,
            label="Only these SKUs",
            help_text="Empty: every SKU the warehouse holds (within the bins above).",
            widget=AutocompleteSelectMultiple(CycleCountLine._meta.get_field("product"), admin_site),
        )
        self.order_fields(["warehouse", "bin_prefix", "products", "note"])


class RecordCountsForm(forms.Form):
    """One counted-quantity box per line of an open count, prefilled with what was counted so far."""

    def __init__(self, *args, lines, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = {}
        for line in lines:
            name = f"line-{line.pk}"
            self.fields[name] = forms.IntegerField(
                min_value=0,
                required=False,
                initial=line.counted_quantity,
                label=line.product.sku,
                widget=forms.NumberInput(attrs={"class": "vIntegerField oms-count-input"}),
            )
            self.lines[name] = line

    def changed_counts(self) -> dict[int, int]:
        """Counts typed or changed in this submission, by line id; a blank box is a line not counted yet.

        Only changed lines are sent, so a line counted earlier keeps the
        expected quantity that was snapshotted when it was counted.
        """
        return {
            self.lines[name].pk: self.cleaned_data[name]
            for name in self.changed_data
            if self.cleaned_data.get(name) is not None
        }

    def rows(self):
        """(line, bound field) pairs, in the count's order, for the template."""
        return [(line, self[name]) for name, line in self.lines.items()]


class RejectCycleCountForm(forms.Form):
    reason = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"size": 60}))


class ApproveCycleCountForm(forms.Form):
    """The approver's word that they looked at the variances: required (by the service) above a value."""

    variances_checked = forms.BooleanField(required=False, label="I have checked these variances")

    def __init__(self, *args, required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["variances_checked"].required = required
