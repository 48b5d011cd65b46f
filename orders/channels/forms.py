"""The channel form of the console: the webhook secret is entered like a password and never shown back.

The model keeps it encrypted (``oms_core.crypto``); left blank, the secret kept stays as it is, even one
that no key opens any more.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.db import models
from django.urls import NoReverseMatch, reverse

from oms_core.crypto import UnreadableSecret
from oms_core.origins import parse_origins

from ..models import Channel


def _form_field(field: models.Field, **kwargs) -> forms.Field | None:
    """Form fields as the model makes them; an address typed without a scheme is taken as https."""
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


class ChannelForm(forms.ModelForm):
    """A channel, with its webhook secret write-only: left blank it keeps the current one."""

    webhook_secret = forms.CharField(
        label="Webhook secret",
        required=False,
        max_length=Channel._meta.get_field("webhook_secret").max_length,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_webhook_secret = forms.BooleanField(
        label="Remove the webhook secret",
        required=False,
        help_text="The channel's webhooks are refused until a new secret is entered.",
    )

    class Meta:
        model = Channel
        fields = "__all__"  # noqa: DJ007 - the admin chooses the fields; this form only changes one
        formfield_callback = _form_field

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(self.instance.webhook_secret, UnreadableSecret):
            status = (
                "A secret is set but no key of OMS_SECRET_KEYS opens it (was a key removed?), so webhooks are "
                "refused: enter the secret again, or put the key back."
            )
        elif self.instance.pk and self.instance.webhook_secret:
            status = "A secret is set (kept encrypted); leave blank to keep it."
        else:
            status = "No secret is set."
        self.fields["webhook_secret"].help_text = (
            f"{status} The shared secret the storefront signs its webhooks with (Shopify: the app's client "
            f"secret, or the key shown under Settings → Notifications → Webhooks). {self._shopify_url_hint()}"
        )

    def _shopify_url_hint(self) -> str:
        if not self.instance.pk:
            return ""
        try:
            path = reverse("api-v1:shopify_orders_create", kwargs={"channel_code": self.instance.code})
        except NoReverseMatch:
            return ""
        base = settings.OMS_BASE_URL.rstrip("/")
        return f"Shopify webhook URL (topic orders/create, JSON): {base}{path}"

    def clean_allowed_origins(self) -> str:
        """One origin a line, as browsers send them (https://Shop.example/ is https://shop.example)."""
        return "\n".join(parse_origins(self.cleaned_data.get("allowed_origins", "")))

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("clear_webhook_secret"):
            cleaned["webhook_secret"] = ""
        elif not cleaned.get("webhook_secret"):
            cleaned["webhook_secret"] = self.instance.webhook_secret if self.instance.pk else ""
        return cleaned

    def save(self, commit: bool = True):
        # Set even when the field was left out of the POST (Django then keeps the instance's value).
        self.instance.webhook_secret = self.cleaned_data["webhook_secret"]
        return super().save(commit)
