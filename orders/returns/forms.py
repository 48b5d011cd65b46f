"""The forms of the returns console. They collect input; the services decide (and explain refusals)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.utils import timezone

from inventory.models import Warehouse

from .models import OrderErrorCase, Refund, ReturnReason, SettlementMethod


def _warehouses():
    return Warehouse.objects.filter(is_active=True).order_by("code")


def _units(label: str, *, initial: int = 0) -> forms.IntegerField:
    return forms.IntegerField(label=label, min_value=0, initial=initial, required=False)


class LineFieldsMixin:
    """Per-line fields named ``<prefix>_<line id>``, shown as a table of the lines (a column per prefix in
    ``line_columns``) and read back in ``cleaned_data[prefix]`` as {line id: value} (units left blank: 0)."""

    line_columns: tuple[tuple[str, str], ...] = ()  # (prefix, the column's header)
    returnable: dict[int, int] | None = None  # opening a return: each line's units that can still come back

    def clean(self):
        cleaned = super().clean()
        for prefix, _header in self.line_columns:
            values = {line.pk: cleaned.get(f"{prefix}_{line.pk}") for line in self.lines}
            cleaned[prefix] = {line_id: 0 if value is None else value for line_id, value in values.items()}
        return cleaned

    def line_table(self) -> list[dict]:
        """For the table: each line with its bound fields, in the columns' order."""
        return [
            {
                "line": line,
                "fields": [self[f"{prefix}_{line.pk}"] for prefix, _header in self.line_columns],
                "returnable": (self.returnable or {}).get(line.pk, 0),
            }
            for line in self.lines
        ]

    def line_headers(self) -> list[str]:
        return [header for _prefix, header in self.line_columns]

    def plain_fields(self) -> list:
        """The fields that are not a line's (shown under the table)."""
        line_fields = {f"{prefix}_{line.pk}" for prefix, _header in self.line_columns for line in self.lines}
        return [self[name] for name in self.fields if name not in line_fields]


class OpenReturnForm(LineFieldsMixin, forms.Form):
    line_columns = (("qty", "Units to return"),)

    reason = forms.ChoiceField(choices=ReturnReason.choices)
    customer_note = forms.CharField(
        label="customer's note", required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60})
    )

    def __init__(self, *args, lines, returnable: dict[int, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        self.returnable = returnable
        for line in lines:
            self.fields[f"qty_{line.pk}"] = _units(f"{line.sku} units to return")


class WarehouseForm(forms.Form):
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.none(), required=False, empty_label="as planned")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["warehouse"].queryset = _warehouses()


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=1000)


class NoteForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        required=False,
        help_text="Required to close a return without a refund.",
    )


class ReceiveForm(LineFieldsMixin, WarehouseForm):
    line_columns = (("received", "Receiving now"),)

    def __init__(self, *args, lines, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        self.fields["warehouse"].empty_label = None
        for line in lines:
            self.fields[f"received_{line.pk}"] = _units(f"{line.sku} received", initial=line.quantity)


class InspectForm(LineFieldsMixin, forms.Form):
    line_columns = (("restock", "Restock (sellable)"), ("writeoff", "Write off"), ("reason", "Write-off reason"))

    def __init__(self, *args, lines, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"restock_{line.pk}"] = _units(f"{line.sku} restock", initial=line.quantity_received)
            self.fields[f"writeoff_{line.pk}"] = _units(f"{line.sku} write off")
            self.fields[f"reason_{line.pk}"] = forms.CharField(
                label=f"{line.sku} write-off reason", required=False, max_length=200
            )


class RefundForm(forms.Form):
    """The refund's amount, the most allowed (the quote, shown above the form) filled in."""

    amount = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text="The most allowed is filled in; enter less for a partial refund.",
    )

    def __init__(self, *args, quote, **kwargs):
        super().__init__(*args, **kwargs)
        self.quote = quote
        self.fields["amount"].initial = quote.amount


class SettleRefundForm(forms.Form):
    """How a refund was paid back outside the gateway, and the payment's reference."""

    method = forms.ChoiceField(
        label="Paid back by", choices=[("", "choose…"), *SettlementMethod.choices], help_text="How the money went back."
    )
    reference = forms.CharField(
        label="Settlement reference",
        max_length=Refund._meta.get_field("settlement_reference").max_length,
        help_text="The bank transfer's reference, the cheque number, the store credit code or the refund id.",
    )
    note = forms.CharField(
        label="Note", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )


class OpenErrorForm(forms.Form):
    kind = forms.ChoiceField(choices=OrderErrorCase.Kind.choices)
    root_cause = forms.ChoiceField(choices=OrderErrorCase.RootCause.choices)
    shipment = forms.ChoiceField(required=False, help_text="The shipment at fault (default: the last one shipped).")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))

    def __init__(self, *args, shipments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shipment"].choices = [("", "the last shipped")] + [
            (s.pk, f"{s.number} ({s.warehouse.code})") for s in shipments
        ]


class ResolveErrorForm(LineFieldsMixin, forms.Form):
    line_columns = (("reship", "Reship (no charge)"), ("refund", "Refund units"))

    refund_amount = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        help_text="Leave empty to refund what the units to refund are worth; or an amount alone (e.g. a late order).",
    )

    def __init__(self, *args, lines, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"reship_{line.pk}"] = _units(f"{line.sku} reship")
            self.fields[f"refund_{line.pk}"] = _units(f"{line.sku} refund")


class ReportForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    @classmethod
    def default(cls, data) -> ReportForm:
        today = timezone.localdate()
        initial = {"start": today - dt.timedelta(days=29), "end": today}
        return cls(data or None, initial=initial)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("start") and cleaned.get("end") and cleaned["start"] > cleaned["end"]:
            self.add_error("end", "The end comes before the start.")
        return cleaned
