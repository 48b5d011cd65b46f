"""The channel page's API keys: issue one (shown once), see when each was last used, revoke it."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from oms_core.console import person_field, person_name

from .exceptions import OrderError
from .models import Channel, ChannelApiKey
from .services.channels import issue_api_key, revoke_api_key


class ChannelApiKeyInline(admin.TabularInline):
    """The channel's keys, read-only: keys are made and revoked with the buttons, never edited."""

    model = ChannelApiKey
    extra = 0
    can_delete = False
    fields = ("name", "prefix_shown", "created_at", "created_by_name", "last_used_at", "state")
    readonly_fields = fields
    verbose_name_plural = "API keys"
    created_by_name = person_field("created_by")  # a name, not a link to a user page only superusers may open

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="key")
    def prefix_shown(self, key: ChannelApiKey) -> str:
        return f"{key.prefix}…"

    @admin.display(description="state")
    def state(self, key: ChannelApiKey):
        if key.revoked_at:
            return format_html(
                '<span class="oms-muted">revoked {:%Y-%m-%d %H:%M} by {}</span>',
                key.revoked_at,
                person_name(key.revoked_by) if key.revoked_by else "system",
            )
        return format_html(
            'active · <a href="{}" data-revoke="{}">Revoke…</a>',
            reverse("admin:orders_channel_revoke_key", args=[key.channel_id, key.pk]),
            key.prefix,
        )


class IssueKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key will be used, e.g. 'storefront production'.")


class ChannelKeysMixin:
    """Adds the API keys to the channel page: an inline list, an issue page, a revoke button."""

    change_form_template = "admin/orders/channel/change_form.html"

    def get_inlines(self, request, obj):
        return (
            [*super().get_inlines(request, obj), ChannelApiKeyInline]
            if obj is not None
            else super().get_inlines(request, obj)
        )

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
        ]
        return [*own, *super().get_urls()]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_issue_key"] = obj is not None and self.has_issue_key_permission(request)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def issue_key_view(self, request, channel_id: int):
        """Name the key, then issue it and show it this once."""
        if not self.has_issue_key_permission(request):
            raise PermissionDenied
        channel = get_object_or_404(Channel, pk=channel_id)
        form = IssueKeyForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"New API key for {channel}",
            "channel": channel,
            "original": channel,
            "form": form,
            "key": None,
        }
        if request.method == "POST" and form.is_valid():
            try:
                row, key = issue_api_key(channel_id=channel.pk, name=form.cleaned_data["name"], actor=request.user)
            except OrderError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
                return HttpResponseRedirect(reverse("admin:orders_channel_change", args=[channel.pk]))
            self.log_change(request, channel, f"Issued API key {row.prefix}… ({row.name}).")
            context["key"] = key
            context["row"] = row
        response = TemplateResponse(request, "admin/orders/channel/api_key.html", context)
        response["Cache-Control"] = "no-store"  # the key is shown once: no copy in any cache
        return response

    def revoke_key_view(self, request, channel_id: int, key_id: int):
        """Confirm, then revoke: requests with the key are refused from then on."""
        if not self.has_revoke_key_permission(request):
            raise PermissionDenied
        key = get_object_or_404(ChannelApiKey.objects.select_related("channel"), pk=key_id, channel_id=channel_id)
        if request.method != "POST":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": f"Revoke API key {key.prefix}…",
                "channel": key.channel,
                "original": key.channel,
                "api_key": key,
            }
            return TemplateResponse(request, "admin/orders/channel/revoke_key.html", context)
        try:
            revoke_api_key(key_id=key.pk, actor=request.user)
        except OrderError as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
        else:
            self.log_change(request, key.channel, f"Revoked API key {key.prefix}… ({key.name}).")
            self.message_user(request, f"Key {key.prefix}… revoked: requests with it are refused from now on.")
        return HttpResponseRedirect(reverse("admin:orders_channel_change", args=[channel_id]))
