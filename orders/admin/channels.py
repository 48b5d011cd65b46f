"""The channels' console: each channel with its API keys (issue one, shown once; see when each was last used;
revoke it), and the variant → SKU table (Channel variants) with its CSV import.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from inventory.imports.base import ImportFileError
from oms_core.console import CsvUploadForm, ReadOnlyTabularInline, form_page, person_field, person_name

from ..channels.forms import ChannelForm
from ..channels.variants import (
    EXAMPLE,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    import_channel_variants,
    normalize_variant_id,
)
from ..exceptions import OrderError
from ..models import Channel, ChannelApiKey, ChannelVariant
from ..services.channels import issue_api_key, revoke_api_key, revoke_publishable_key, rotate_publishable_key

SNIPPET_PATH = "storefront/delivery-promise.js"


class ChannelApiKeyInline(ReadOnlyTabularInline):
    """The channel's keys, read-only: keys are made and revoked with the buttons, never edited."""

    model = ChannelApiKey
    fields = ("name", "prefix_shown", "created_at", "created_by_name", "last_used_at", "state")
    readonly_fields = fields
    verbose_name_plural = "API keys"
    created_by_name = person_field("created_by")  # a name, not a link to a user page only superusers may open

    def get_queryset(self, request):
        """Each key with its channel and who issued and revoked it, in the one query (all shown per key)."""
        return super().get_queryset(request).select_related("channel", "created_by", "revoked_by")

    @admin.display(description="key")
    def prefix_shown(self, key: ChannelApiKey) -> str:
        return f"{key.prefix}…"

    @admin.display(description="state")
    def state(self, key: ChannelApiKey):
        if key.revoked_at:
            return format_html(
                '<span class="oms-muted">revoked {} by {}</span>',
                f"{timezone.localtime(key.revoked_at):%Y-%m-%d %H:%M}",  # format_html escapes before formatting
                person_name(key.revoked_by) if key.revoked_by else "system",
            )
        return format_html(
            'active · <a href="{}" data-revoke="{}">Revoke…</a>',
            reverse("admin:orders_channel_revoke_key", args=[key.channel_id, key.pk]),
            key.prefix,
        )


class IssueKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key will be used, e.g. 'storefront production'.")


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    """A sales channel, and its API keys on its page: listed, issued (shown once), revoked."""

    list_display = ("name", "code", "kind", "default_currency", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}
    form = ChannelForm  # shopify: the webhook secret is entered like a password, blank keeps it
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a store typed as shop.example is https
    change_form_template = "admin/orders/channel/change_form.html"
    readonly_fields = ("storefront_snippet",)
    actions = ("rotate_publishable_keys", "revoke_publishable_keys")

    def get_fields(self, request: HttpRequest, obj: Channel | None = None):
        """shopify: the webhook secret is write-only; who may only view a channel does not see it."""
        fields = super().get_fields(request, obj)
        if self.has_change_permission(request, obj) or (obj is None and self.has_add_permission(request)):
            return fields
        return [name for name in fields if name not in ("webhook_secret", "clear_webhook_secret")]

    def get_inlines(self, request, obj):
        return (
            [*super().get_inlines(request, obj), ChannelApiKeyInline]
            if obj is not None
            else super().get_inlines(request, obj)
        )

    @admin.display(description="storefront snippet")
    def storefront_snippet(self, channel: Channel):
        """The publishable key and the lines a store pastes into its product page."""
        if channel.pk is None:
            return "Save the channel first."
        if not channel.publishable_key:
            return "No publishable key yet: Issue publishable key (above) to show delivery dates on the store."
        base = settings.OMS_BASE_URL.rstrip("/")
        script = f"{base}{static(SNIPPET_PATH)}"
        embed = (
            f'<link rel="stylesheet" href="{base}{static("storefront/delivery-promise.css")}">\n'
            f"<div data-delivery-promise></div>\n"
            f'<script src="{script}" data-key="{channel.publishable_key}" data-sku="YOUR-SKU" defer></script>'
        )
        origins = channel.allowed_origins.split() or ["none yet: add the store's address below"]
        return format_html(
            '<p>Key <code id="publishable-key">{}</code>, issued {}. Public by design: it can only '
            "ask delivery dates, from these origins: {}.</p>"
            '<p>Paste on the product page (the date appears in the element):</p><pre class="oms-token">{}</pre>',
            channel.publishable_key,
            f"{timezone.localtime(channel.publishable_key_issued_at):%Y-%m-%d %H:%M}",
            ", ".join(origins),
            embed,
        )

    @admin.action(description="Issue or rotate the publishable key (the old one stops at once)", permissions=["change"])
    def rotate_publishable_keys(self, request: HttpRequest, queryset):
        for channel in queryset.order_by("pk"):
            self._publishable_key(request, channel, revoke=False)

    @admin.action(
        description="Revoke the publishable key (the store's delivery dates disappear)", permissions=["change"]
    )
    def revoke_publishable_keys(self, request: HttpRequest, queryset):
        for channel in queryset.order_by("pk"):
            self._publishable_key(request, channel, revoke=True)

    def _publishable_key(self, request: HttpRequest, channel: Channel, *, revoke: bool) -> bool:
        """Rotate or revoke one channel's publishable key, logged and reported; False when refused."""
        old = channel.publishable_key
        try:
            if revoke:
                revoke_publishable_key(channel_id=channel.pk, actor=request.user)
            else:
                channel = rotate_publishable_key(channel_id=channel.pk, actor=request.user)
        except OrderError as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
            return False
        if revoke:
            self.log_change(request, channel, f"Revoked the publishable key {old}.")
            self.message_user(request, f"{channel}: publishable key {old} revoked; the snippet shows nothing now.")
        else:
            done = f"rotated ({old} stops working now)" if old else "issued"
            self.log_change(request, channel, f"Publishable key {done}: {channel.publishable_key}.")
            self.message_user(request, f"{channel}: publishable key {done}: {channel.publishable_key}.")
        return True

    def has_issue_key_permission(self, request) -> bool:
        return request.user.has_perm("orders.add_channelapikey")

    def has_revoke_key_permission(self, request) -> bool:
        return request.user.has_perm("orders.change_channelapikey")

    def get_urls(self):
        own = [
            path(
                "<int:channel_id>/api-key/",
                self.admin_site.admin_view(self.issue_key_view),
                name="orders_channel_issue_key",
            ),
            path(
                "<int:channel_id>/api-key/<int:key_id>/revoke/",
                self.admin_site.admin_view(self.revoke_key_view),
                name="orders_channel_revoke_key",
            ),
            path(
                "<int:channel_id>/publishable-key/<str:step>/",
                self.admin_site.admin_view(self.publishable_key_view),
                name="orders_channel_publishable_key",
            ),
        ]
        return [*own, *super().get_urls()]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_issue_key"] = obj is not None and self.has_issue_key_permission(request)
        context["can_change_publishable_key"] = obj is not None and self.has_change_permission(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def issue_key_view(self, request, channel_id: int):
        """Name the key, then issue it and show it this once."""
        if not self.has_issue_key_permission(request):
            raise PermissionDenied
        channel = get_object_or_404(Channel, pk=channel_id)
        form = IssueKeyForm(request.POST or None)
        here = reverse("admin:orders_channel_change", args=[channel.pk])
        context = {"channel": channel, "original": channel, "key": None, "back_url": here}
        if request.method == "POST" and form.is_valid():
            try:
                row, key = issue_api_key(channel_id=channel.pk, name=form.cleaned_data["name"], actor=request.user)
            except OrderError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
                return HttpResponseRedirect(here)
            self.log_change(request, channel, f"Issued API key {row.prefix}… ({row.name}).")
            context["key"] = key
            context["row"] = row
        response = form_page(
            self,
            request,
            "admin/orders/channel/api_key.html",
            title=f"New API key for {channel}",
            form=form,
            submit_label="Issue the key",
            submit_id="issue-key",
            **context,
        )
        response["Cache-Control"] = "no-store"  # the key is shown once: no copy in any cache
        return response

    def publishable_key_view(self, request, channel_id: int, step: str):
        """Confirm, then issue (or rotate) or revoke the channel's publishable key."""
        channel = get_object_or_404(Channel, pk=channel_id)
        if step not in ("rotate", "revoke") or not self.has_change_permission(request, channel):
            raise PermissionDenied
        here = reverse("admin:orders_channel_change", args=[channel.pk])
        if request.method == "POST":
            self._publishable_key(request, channel, revoke=step == "revoke")
            return HttpResponseRedirect(here)
        verb = "Revoke" if step == "revoke" else ("Rotate" if channel.publishable_key else "Issue")
        return form_page(
            self,
            request,
            "admin/orders/channel/publishable_key.html",
            title=f"{verb} the publishable key of {channel}",
            channel=channel,
            original=channel,
            step=step,
            submit_label=f"{verb} the key",
            submit_id="publishable-key-confirm",
            back_url=here,
        )

    def revoke_key_view(self, request, channel_id: int, key_id: int):
        """Confirm, then revoke: requests with the key are refused from then on."""
        if not self.has_revoke_key_permission(request):
            raise PermissionDenied
        key = get_object_or_404(ChannelApiKey.objects.select_related("channel"), pk=key_id, channel_id=channel_id)
        if request.method != "POST":
            return form_page(
                self,
                request,
                "admin/orders/channel/revoke_key.html",
                title=f"Revoke API key {key.prefix}…",
                channel=key.channel,
                original=key.channel,
                api_key=key,
                submit_label="Revoke the key",
                submit_id="revoke-key",
                back_url=reverse("admin:orders_channel_change", args=[channel_id]),
            )
        try:
            revoke_api_key(key_id=key.pk, actor=request.user)
        except OrderError as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
        else:
            self.log_change(request, key.channel, f"Revoked API key {key.prefix}… ({key.name}).")
            self.message_user(request, f"Key {key.prefix}… revoked: requests with it are refused from now on.")
        return HttpResponseRedirect(reverse("admin:orders_channel_change", args=[channel_id]))


# --- the variant → SKU table -------------------------------------------------------------


class ChannelVariantForm(forms.ModelForm):
    class Meta:
        model = ChannelVariant
        fields = ("channel", "variant_id", "product", "title")

    def clean_variant_id(self) -> str:
        # As the webhook reads it: Shopify's admin shows "gid://shopify/ProductVariant/447…" in places.
        return normalize_variant_id(self.cleaned_data["variant_id"])


@admin.register(ChannelVariant)
class ChannelVariantAdmin(admin.ModelAdmin):
    """Which SKU a storefront's variant is, per channel: for order lines that arrive with a variant and no SKU."""

    form = ChannelVariantForm
    list_display = ("variant_id", "channel", "sku", "product", "title")
    list_filter = ("channel",)
    search_fields = ("variant_id", "product__sku", "title")
    autocomplete_fields = ("product",)
    list_select_related = ("channel", "product")
    list_per_page = 100
    change_list_template = "admin/orders/channelvariant/change_list.html"

    @admin.display(description="SKU", ordering="product__sku")
    def sku(self, variant: ChannelVariant) -> str:
        return variant.product.sku

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def get_urls(self):
        own = [
            path("import/", self.admin_site.admin_view(self.import_view), name="orders_channelvariant_import"),
        ]
        return [*own, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def import_view(self, request):
        """Upload a CSV of variants: every good row is written at once, and the page names each refused one."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = CsvUploadForm(request.POST or None, request.FILES or None)
        report, file_errors = None, []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = import_channel_variants(content=upload.read(), file_name=upload.name, actor=request.user)
            except ImportFileError as refusal:
                file_errors = refusal.errors
            else:
                self.message_user(
                    request,
                    f"{upload.name}: {len(report.created):,} variants added, {len(report.changed):,} changed, "
                    f"{report.unchanged:,} already so, {report.refused_rows:,} rows refused.",
                    messages.WARNING if report.errors else messages.SUCCESS,
                )
        return form_page(
            self,
            request,
            "admin/orders/channelvariant/import.html",
            title="Import channel variants from CSV",
            form=form,
            required_columns=REQUIRED_COLUMNS,
            optional_columns=OPTIONAL_COLUMNS,
            example=EXAMPLE,
            report=report,
            file_errors=file_errors,
            submit_label="Upload and import",
            back_url=reverse("admin:orders_channelvariant_changelist"),
        )
