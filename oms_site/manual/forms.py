"""The procedure editor's form: what a manager writes; the service checks the rest."""

from __future__ import annotations

from django import forms

from .links import governed_page_choices


class ProcedureForm(forms.Form):
    title = forms.CharField(max_length=150)
    slug = forms.SlugField(
        label="Address", max_length=60, help_text="Its address in the manual, e.g. hold-review. Fixed once saved."
    )
    governs = forms.ChoiceField(
        label="Shown on", required=False, help_text="The console page that shows this procedure above its content."
    )
    body = forms.CharField(
        label="Text (Markdown)",
        widget=forms.Textarea(attrs={"rows": 22, "cols": 100, "class": "manual-editor"}),
        help_text="Headings with #, lists with - or 1., **bold**, [links](https://…), tables with |. "
        "HTML is shown as text, not run.",
    )
    note = forms.CharField(label="What changed", max_length=200, required=False)
    base_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["governs"].choices = [("", "Only the manual"), *governed_page_choices()]
        if editing:
            del self.fields["slug"]
