"""The console's upload form for CSV files (imports of orders, stock receipts, channel variants), and the
review step of a change shown before it is made."""

from __future__ import annotations

from django import forms

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class CsvUploadForm(forms.Form):
    """A CSV file of at most MAX_UPLOAD_BYTES, and the import's own options (``extra_fields``)."""

    file = forms.FileField(label="CSV file", help_text="UTF-8 (a sheet saved as 'CSV UTF-8'), with a header row.")

    def __init__(self, *args, extra_fields: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update(extra_fields or {})

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size // 1024:,} KB; at most {MAX_UPLOAD_BYTES // 1024:,} KB. Split it."
            )
        return upload


def require_review(form: forms.Form, cleaned: dict, *, confirming: bool, digest: str, message: str) -> None:
    """A change is made on the second submit only, and only if its input is the one the person reviewed.

    On the first submit (or when the input changed since the summary was shown) the form carries ``digest``
    in its hidden ``reviewed`` field and is refused with ``message`` (code ``review``), so the page shows the
    summary and asks to confirm.
    """
    if confirming and cleaned.get("reviewed") == digest:
        return
    form.data = form.data.copy()
    form.data["reviewed"] = digest
    raise forms.ValidationError(message, code="review")
