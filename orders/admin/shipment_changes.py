"""The shipment page's changes before labels are bought (split, merge, move) and its holds: the forms and the
functions the shipments' console (shipments.py) runs for them.

A change's page works as "Cancel some items" does: the first submit shows what the change does, worked out by
the same service and rolled back (``services.preview_*``: the shipments after it, each one's carrier, price and
date, the stock released and reserved, the order's new estimate against its promise), and asks to confirm; the
second makes it, unless the input changed meanwhile (the summary is shown again) or the shipment did (its
``version``: then the service refuses with the reason).
"""

from __future__ import annotations

from django import forms

from inventory.models import Warehouse
from oms_core.console import require_review
from shipping.models import Shipment, ShipmentStatus

from .. import services
from ..exceptions import OrderError
from ..models import HoldType

REVIEW_MESSAGE = "Nothing is changed yet: check what the change does below, then confirm."


class ReviewedChangeForm(forms.Form):
    """A change shown before it is made: ``preview()`` works it out; the confirmation carries its digest."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        max_length=1000,
        help_text="Recorded on the order's timeline with your name, with the carrier chosen again and why.",
    )
    version = forms.CharField(widget=forms.HiddenInput)
    reviewed = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, shipment: Shipment, confirming: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.shipment, self.confirming, self.plan = shipment, confirming, None
        self.fields["version"].initial = services.shipment_version(shipment)

    # Each form has ``preview()`` (its change worked out and rolled back) and ``digest()`` (its input, in short).
    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.plan = self.preview()
        except OrderError as refusal:
            raise forms.ValidationError(str(refusal)) from refusal
        require_review(self, cleaned, confirming=self.confirming, digest=self.digest(), message=REVIEW_MESSAGE)
        return cleaned


def active_warehouses(exclude: int | None = None) -> list[tuple[int, str]]:
    warehouses = Warehouse.objects.filter(is_active=True).order_by("code")
    if exclude is not None:
        warehouses = warehouses.exclude(pk=exclude)
    return [(w.pk, f"{w.code} — {w.name}") for w in warehouses]


class SplitShipmentForm(ReviewedChangeForm):
    """Units to move per line (each at most what the shipment holds of it) and the new shipment's warehouse."""

    warehouse = forms.TypedChoiceField(
        coerce=int,
        label="New shipment leaves from",
        help_text="The same warehouse, or another with the units free: they are released here and reserved there.",
    )

    def __init__(self, *args, shipment: Shipment, **kwargs):
        super().__init__(*args, shipment=shipment, **kwargs)
        self.fields["warehouse"].choices = active_warehouses()
        self.fields["warehouse"].initial = shipment.warehouse_id
        self.line_fields = []
        for line in shipment.lines.order_by("pk"):
            name = f"line_{line.order_line_id}"
            self.fields[name] = forms.IntegerField(
                label=f"{line.sku} ({line.name})",
                min_value=0,
                max_value=line.quantity,
                initial=0,
                required=False,
                help_text=f"Units to move to the new shipment: up to {line.quantity}.",
            )
            self.line_fields.append((name, line))
        self.order_fields(["warehouse", *(name for name, _ in self.line_fields), "reason"])

    def quantities(self) -> dict[int, int]:
        return {line.order_line_id: self.cleaned_data.get(name) or 0 for name, line in self.line_fields}

    def digest(self) -> str:
        moved = ",".join(f"{pk}:{units}" for pk, units in sorted(self.quantities().items()) if units)
        return f"{self.cleaned_data.get('warehouse')}|{moved}"

    def preview(self) -> services.ShipmentChange:
        wanted = {pk: units for pk, units in self.quantities().items() if units}
        if not wanted:
            raise forms.ValidationError("Enter how many units of at least one line to move.")
        return services.preview_split(
            shipment_id=self.shipment.pk, quantities=wanted, warehouse_id=self.cleaned_data["warehouse"]
        )


class MergeShipmentsForm(ReviewedChangeForm):
    """The shipment of the same order (and address) that takes this one's units."""

    into = forms.TypedChoiceField(
        coerce=int,
        label="Merge into",
        help_text="It keeps its warehouse: this shipment's units are reserved there and this shipment is cancelled.",
    )

    def __init__(self, *args, shipment: Shipment, **kwargs):
        super().__init__(*args, shipment=shipment, **kwargs)
        others = (
            Shipment.objects.filter(order_id=shipment.order_id, status=ShipmentStatus.AWAITING_LABEL)
            .exclude(pk=shipment.pk)
            .select_related("warehouse", "service__vendor")
            .order_by("pk")
        )
        self.fields["into"].choices = [
            (s.pk, f"{s.number} from {s.warehouse.code} ({s.service or 'no service'})") for s in others
        ]
        self.order_fields(["into", "reason"])

    def digest(self) -> str:
        return str(self.cleaned_data.get("into"))

    def preview(self) -> services.ShipmentChange:
        return services.preview_merge(shipment_id=self.shipment.pk, into_shipment_id=self.cleaned_data["into"])


class MoveShipmentForm(ReviewedChangeForm):
    """Another warehouse for the whole shipment."""

    warehouse = forms.TypedChoiceField(
        coerce=int,
        label="Move to",
        help_text="The shipment's units are released at its warehouse and reserved at this one.",
    )

    def __init__(self, *args, shipment: Shipment, **kwargs):
        super().__init__(*args, shipment=shipment, **kwargs)
        self.fields["warehouse"].choices = active_warehouses(exclude=shipment.warehouse_id)
        self.order_fields(["warehouse", "reason"])

    def digest(self) -> str:
        return str(self.cleaned_data.get("warehouse"))

    def preview(self) -> services.ShipmentChange:
        return services.preview_move(shipment_id=self.shipment.pk, warehouse_id=self.cleaned_data["warehouse"])


def split(shipment: Shipment, data: dict, actor) -> str:
    quantities = {
        int(name.removeprefix("line_")): units for name, units in data.items() if name.startswith("line_") and units
    }
    change = services.split_shipment(
        shipment_id=shipment.pk,
        quantities=quantities,
        warehouse_id=data["warehouse"],
        reason=data["reason"],
        actor=actor,
        expected_version=data["version"],
    )
    return f"{change.summary}."


def merge(shipment: Shipment, data: dict, actor) -> str:
    change = services.merge_shipments(
        shipment_id=shipment.pk,
        into_shipment_id=data["into"],
        reason=data["reason"],
        actor=actor,
        expected_version=data["version"],
    )
    return f"{change.summary}."


def move(shipment: Shipment, data: dict, actor) -> str:
    change = services.move_shipment(
        shipment_id=shipment.pk,
        warehouse_id=data["warehouse"],
        reason=data["reason"],
        actor=actor,
        expected_version=data["version"],
    )
    return f"{change.summary}."


# --- holds -----------------------------------------------------------------------------------------------------------
class HoldForm(forms.Form):
    """A typed hold and its note: the type says who may release it."""

    hold_type = forms.ChoiceField(
        label="Type",
        choices=[("", "—"), *HoldType.choices],
        help_text="Who may release it depends on the type: fraud reviews and credit rules only operations managers.",
    )
    reason = forms.CharField(
        label="Note",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Why it is held: recorded on the timeline with your name.",
    )


class ReleaseForm(forms.Form):
    """Releasing a hold: a note is welcome, not required (the field keeps the reason's name)."""

    reason = forms.CharField(
        label="Note (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Recorded on the timeline with your name.",
    )


def hold_shipment(shipment: Shipment, data: dict, actor) -> str:
    hold = services.hold_shipment(
        shipment_id=shipment.pk, hold_type=data["hold_type"], reason=data["reason"], actor=actor
    )
    return f"{shipment} put on a {hold.get_hold_type_display().lower()} hold: it gets no label and does not ship."


def release_shipment(shipment: Shipment, data: dict, actor) -> str:
    hold = services.release_shipment(shipment_id=shipment.pk, note=data.get("reason", ""), actor=actor)
    return f"{shipment} released from its {hold.get_hold_type_display().lower()} hold."


REVIEWED_FORMS = (SplitShipmentForm, MergeShipmentsForm, MoveShipmentForm)
