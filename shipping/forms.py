"""The shipping console's small input forms: they collect what a service needs, and nothing more.

The rules (a label before shipping, an active service, a card without bad
rows...) belong to the services; a refusal comes back as an error and the
view shows it on the form.
"""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.contrib.admin.widgets import AdminSplitDateTime
from django.utils import timezone

from .models import ShipmentStatus

MAX_RATE_CARD_BYTES = 2 * 1024 * 1024
MAX_PROMISE_LINES = 50
TRACKING_STATUSES = [
    (ShipmentStatus.IN_TRANSIT, ShipmentStatus.IN_TRANSIT.label),
    (ShipmentStatus.DELIVERED, ShipmentStatus.DELIVERED.label),
    (ShipmentStatus.EXCEPTION, ShipmentStatus.EXCEPTION.label),
]


class RateCardUploadForm(forms.Form):
    file = forms.FileField(
        label="Rate card (CSV)",
        help_text="Columns zone,max_weight_kg,price with a header row; an optional transit_days column sets "
        "the zone's business days in transit. The whole card of the service is replaced.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_RATE_CARD_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size // 1024} KB; a rate card is at most {MAX_RATE_CARD_BYTES // 1024} KB."
            )
        return upload


class VoidLabelForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Recorded on the order's timeline with your name. The tracking numbers are never used again.",
    )


class TrackingEventForm(forms.Form):
    status = forms.ChoiceField(choices=TRACKING_STATUSES)
    occurred_at = forms.SplitDateTimeField(
        label="When",
        widget=AdminSplitDateTime,
        initial=timezone.localtime,
        help_text="Local time of the scan or the call.",
    )
    description = forms.CharField(max_length=300, required=False, help_text="e.g. Left at the front door.")
    location = forms.CharField(max_length=100, required=False, help_text="e.g. Columbus, OH.")

    def clean_occurred_at(self):
        occurred_at = self.cleaned_data["occurred_at"]
        if occurred_at > timezone.now() + dt.timedelta(minutes=5):
            raise forms.ValidationError("That is in the future; give the time the event happened.")
        return occurred_at


class ChangeCarrierForm(forms.Form):
    service = forms.TypedChoiceField(coerce=int, label="Carrier service")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Why this service rather than the one chosen; recorded on the order's timeline.",
    )

    def __init__(self, *args, service_choices: list[tuple[int, str]], unavailable: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].choices = [("", "---------"), *service_choices]
        # Under the fields: the services that cannot take this shipment, and why.
        self.note = f"Not offered for this shipment: {'; '.join(unavailable)}." if unavailable else ""


class PromiseForm(forms.Form):
    postal_code = forms.CharField(max_length=20, label="Postal code")
    country = forms.CharField(max_length=2, initial="US", help_text="Two-letter country code.")
    items = forms.CharField(
        label="SKUs",
        widget=forms.Textarea(attrs={"rows": 6, "cols": 40, "placeholder": "TEE-M 2\nMUG-1 1"}),
        help_text="One SKU per line, followed by the quantity (1 when left out).",
    )

    def clean_country(self):
        return self.cleaned_data["country"].strip().upper() or "US"

    def clean_items(self) -> list[tuple[str, int]]:
        """Lines of "SKU qty" (also "SKU,qty", "SKU x qty", tab separated); every bad line is named."""
        items: list[tuple[str, int]] = []
        self.item_line_numbers: list[int] = []  # items[i] came from this line of the box
        problems: list[str] = []
        lines = [line.strip() for line in self.cleaned_data["items"].splitlines()]
        numbered = [(number, line) for number, line in enumerate(lines, start=1) if line]
        if len(numbered) > MAX_PROMISE_LINES:
            raise forms.ValidationError(f"At most {MAX_PROMISE_LINES} SKUs at a time.")
        for number, line in numbered:
            parts = [part for part in re.split(r"\s+[x×]\s+|[\s,;]+", line) if part]
            if len(parts) == 1:
                items.append((parts[0], 1))
                self.item_line_numbers.append(number)
                continue
            if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) < 1:
                problems.append(f"line {number} ({line!r}): write the SKU, a space and a quantity of at least 1")
                continue
            items.append((parts[0], int(parts[1])))
            self.item_line_numbers.append(number)
        if problems:
            raise forms.ValidationError(problems)
        if not items:
            raise forms.ValidationError("Give at least one SKU.")
        return items
