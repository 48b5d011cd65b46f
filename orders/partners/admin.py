"""The 3PL console: connections with their health, the message log with payloads, dead letters, releases.

Thin: reads come from selectors, every action calls a service. Managers manage connections and fix a dead
message's payload; associates look, resend and apply again; warehouse staff see none of it.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from oms_core.console import FormAction, FormActionsMixin, ReadOnlyAdmin, admin_link, badge

from . import selectors, services
from .exceptions import PartnerError
from .models import (
    DeadLetter,
    Direction,
    MessageStatus,
    PartnerConnection,
    PartnerMessage,
    PartnerRelease,
    ReleaseState,
)

STATUS_COLOURS = {
    MessageStatus.QUEUED: "#475569",
    MessageStatus.SENDING: "#1d4ed8",
    MessageStatus.SENT: "#0f766e",
    MessageStatus.ACKNOWLEDGED: "#0f766e",
    MessageStatus.ACCEPTED: "#15803d",
    MessageStatus.APPLIED: "#15803d",
    MessageStatus.REJECTED: "#b45309",
    MessageStatus.FAILED: "#b45309",
    MessageStatus.DEAD: "#b91c1c",
    MessageStatus.EXCEPTION: "#b91c1c",
}


def _age(when) -> str:
    if when is None:
        return "never"
    minutes = int((timezone.now() - when).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // 1440} days ago"


class ConnectionForm(forms.ModelForm):
    """The secrets are write-only: blank keeps the one stored."""

    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="REST: the shared signing secret. Leave blank to keep the one stored; it is never shown again.",
    )
    sftp_password = forms.CharField(
        label="SFTP password",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="File drop: the SFTP login's password (prefer a key). Blank keeps the one stored; never shown.",
    )
    sftp_private_key = forms.CharField(
        label="SFTP private key",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 70, "autocomplete": "off"}),
        help_text="File drop: the private key (OpenSSH or PEM text), kept encrypted. Blank keeps the one stored; "
        "never shown again.",
    )

    class Meta:
        model = PartnerConnection
        fields = (
            "code",
            "name",
            "warehouse",
            "kind",
            "endpoint",
            "secret",
            "sftp_host",
            "sftp_port",
            "sftp_username",
            "sftp_host_key",
            "sftp_password",
            "sftp_private_key",
            "drop_folder",
            "x12_version",
            "x12_our_qualifier",
            "x12_our_id",
            "x12_their_qualifier",
            "x12_their_id",
            "x12_test",
            "service_levels",
            "sku_map",
            "ack_deadline_minutes",
            "is_active",
        )

    def clean_secret(self):
        secret = self.cleaned_data.get("secret") or ""
        if not secret and self.instance.pk:
            return self.instance.secret
        if not secret and self.cleaned_data.get("kind", PartnerConnection.Kind.REST) == PartnerConnection.Kind.REST:
            raise ValidationError("A new REST connection needs its shared secret.")
        return secret

    # settings with a default that a REST connection's form may leave out
    DEFAULTED = ("sftp_port", "x12_version", "x12_our_qualifier", "x12_their_qualifier")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.DEFAULTED:
            if name in self.fields:  # a reader's page (view permission only) has no editable fields
                self.fields[name].required = False
        for name in ("secret", "sftp_password", "sftp_private_key"):  # write-only: never rendered back
            self.initial[name] = ""

    def _clean_defaulted(self, name: str):
        value = self.cleaned_data.get(name)
        return value if value not in (None, "") else PartnerConnection._meta.get_field(name).default

    def clean_sftp_port(self):
        return self._clean_defaulted("sftp_port")

    def clean_x12_version(self):
        return self._clean_defaulted("x12_version")

    def clean_x12_our_qualifier(self):
        return self._clean_defaulted("x12_our_qualifier")

    def clean_x12_their_qualifier(self):
        return self._clean_defaulted("x12_their_qualifier")

    def clean_sftp_password(self):
        return self.cleaned_data.get("sftp_password") or (self.instance.sftp_password if self.instance.pk else "")

    def clean_sftp_private_key(self):
        key = (self.cleaned_data.get("sftp_private_key") or "").strip()
        if key:
            return key + "\n"
        return self.instance.sftp_private_key if self.instance.pk else ""


@admin.register(PartnerConnection)
class PartnerConnectionAdmin(admin.ModelAdmin):
    """Each 3PL connection and its health; operations managers add and change them."""

    form = ConnectionForm
    list_display = (
        "name",
        "code",
        "warehouse",
        "kind",
        "is_active",
        "last_in",
        "last_out",
        "queued",
        "dead_letters",
        "oldest_unacknowledged",
        "snapshot_age",
        "last_error_display",
    )
    list_filter = ("kind", "is_active")
    search_fields = ("code", "name", "warehouse__code")
    readonly_fields = (
        "last_in",
        "last_out",
        "snapshot_age",
        "last_error_display",
        "webhook_path",
    )
    fieldsets = (
        (None, {"fields": ("code", "name", "warehouse", "kind", "endpoint", "secret", "is_active")}),
        (
            "File drop (CSV or X12 over SFTP)",
            {
                "fields": (
                    "sftp_host",
                    "sftp_port",
                    "sftp_username",
                    "sftp_host_key",
                    "sftp_password",
                    "sftp_private_key",
                    "drop_folder",
                )
            },
        ),
        (
            "X12 EDI",
            {
                "fields": (
                    "x12_version",
                    "x12_our_qualifier",
                    "x12_our_id",
                    "x12_their_qualifier",
                    "x12_their_id",
                    "x12_test",
                )
            },
        ),
        ("Mappings", {"fields": ("service_levels", "sku_map", "ack_deadline_minutes")}),
        ("Health", {"fields": ("last_in", "last_out", "snapshot_age", "last_error_display", "webhook_path")}),
    )

    def get_queryset(self, request):
        return selectors.connections_with_health()

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("partners.manage_partnerconnection")

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("partners.manage_partnerconnection")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # messages and releases keep it; make it inactive instead

    @admin.display(description="last message in", ordering="last_inbound_at")
    def last_in(self, connection):
        return _age(connection.last_inbound_at)

    @admin.display(description="last message out", ordering="last_outbound_at")
    def last_out(self, connection):
        return _age(connection.last_outbound_at)

    @admin.display(description="queued")
    def queued(self, connection):
        return getattr(connection, "queued_count", "—")

    @admin.display(description="dead letters")
    def dead_letters(self, connection):
        count = getattr(connection, "dead_count", 0)
        return badge("dead", STATUS_COLOURS[MessageStatus.DEAD], str(count)) if count else "0"

    @admin.display(description="oldest unacknowledged release")
    def oldest_unacknowledged(self, connection):
        when = getattr(connection, "oldest_unacknowledged", None)
        if when is None:
            return "none"
        overdue = getattr(connection, "overdue_count", 0)
        return f"{_age(when)} ({overdue} overdue)" if overdue else _age(when)

    @admin.display(description="last stock snapshot", ordering="last_snapshot_as_of")
    def snapshot_age(self, connection):
        return _age(connection.last_snapshot_as_of)

    @admin.display(description="last error")
    def last_error_display(self, connection):
        if not connection.last_error:
            return "—"
        return f"{_age(connection.last_error_at)}: {connection.last_error[:200]}"

    @admin.display(description="webhook")
    def webhook_path(self, connection):
        return f"/api/v1/partners/{connection.code}/webhook" if connection.code else "—"


class PayloadForm(forms.Form):
    payload = forms.CharField(widget=forms.Textarea(attrs={"rows": 18, "cols": 90}), help_text="A JSON object.")
    reason = forms.CharField(max_length=200, help_text="What was wrong with it.")

    def clean_payload(self):
        try:
            value = json.loads(self.cleaned_data["payload"])
        except ValueError as error:
            raise ValidationError(f"Not valid JSON: {error}") from error
        if not isinstance(value, dict):
            raise ValidationError("The payload must be a JSON object.")
        return value


def _edit_payload(message, data, actor) -> str:
    services.edit_message_payload(message_id=message.pk, payload=data["payload"], reason=data["reason"], actor=actor)
    return f"{message}: payload changed; resend it to send it."


MESSAGE_ACTIONS = {
    "edit-payload": FormAction(
        title="Fix the payload of {row}",
        button="Save the payload",
        permission="partners.edit_partnermessage_payload",
        form=PayloadForm,
        form_kwargs=lambda rows: {"initial": {"payload": json.dumps(rows[0].payload, indent=2, sort_keys=True)}},
        apply=_edit_payload,
        single=True,
        refusal_on_form=True,
        note="Only a dead outbound message can be changed; the old payload is kept in its outcome.",
    ),
}


class MessageConsole(FormActionsMixin, ReadOnlyAdmin):
    list_display = (
        "created_at",
        "connection",
        "direction",
        "kind",
        "key",
        "status_display",
        "attempts",
        "next_attempt_at",
        "short_error",
    )
    list_filter = ("status", "direction", "kind", "connection")
    search_fields = ("=key", "=release__shipment__number")
    search_help_text = "An exact message id or shipment number."
    list_select_related = ("connection__warehouse",)
    list_per_page = 50
    actions = ("resend_selected", "apply_again_selected")
    form_actions = MESSAGE_ACTIONS
    refusals = (PartnerError,)
    row_noun = ("message", "messages")
    readonly_fields = (
        "connection",
        "direction",
        "kind",
        "key",
        "release_link",
        "status_display",
        "attempts",
        "next_attempt_at",
        "created_at",
        "sent_at",
        "processed_at",
        "last_error",
        "outcome",
        "payload_display",
        "envelope_display",
        "edit_link",
    )
    fields = readonly_fields

    @admin.display(description="status", ordering="status")
    def status_display(self, message):
        return badge(message.status, STATUS_COLOURS.get(message.status, "#475569"), message.get_status_display())

    @admin.display(description="error")
    def short_error(self, message):
        return message.last_error[:120] or "—"

    @admin.display(description="release")
    def release_link(self, message):
        return admin_link(message.release) if message.release_id else "—"

    @admin.display(description="payload")
    def payload_display(self, message):
        return format_html("<pre>{}</pre>", json.dumps(message.payload, indent=2, sort_keys=True, default=str))

    @admin.display(description="how it travelled")
    def envelope_display(self, message):
        """File drop: the file and its rows; X12: the control numbers (and the 997 sent back)."""
        if not message.envelope:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(message.envelope, indent=2, sort_keys=True, default=str))

    @admin.display(description="fix")
    def edit_link(self, message):
        if message.direction == Direction.OUT and message.status == MessageStatus.DEAD:
            return format_html('<a href="{}">Fix the payload…</a>', self.form_action_url("edit-payload", [message]))
        return "—"

    def get_urls(self):
        return self.form_action_urls() + super().get_urls()

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("partners.resend_partnermessage")

    @admin.action(description="Resend selected dead or failed messages", permissions=["resend"])
    def resend_selected(self, request, queryset):
        if self.too_many(request, queryset):
            return
        for message in queryset.order_by("pk"):
            try:
                services.resend_message(message_id=message.pk, actor=request.user)
            except PartnerError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                self.message_user(request, f"{message} queued again.", messages.SUCCESS)

    @admin.action(description="Apply selected inbound exceptions again", permissions=["resend"])
    def apply_again_selected(self, request, queryset):
        if self.too_many(request, queryset):
            return
        for message in queryset.order_by("pk"):
            try:
                message = services.reprocess_message(message_id=message.pk, actor=request.user)
            except PartnerError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                self.message_user(request, f"{message} queued to be applied again.", messages.SUCCESS)


@admin.register(PartnerMessage)
class PartnerMessageAdmin(MessageConsole):
    """Every message to and from the 3PLs, with its payload."""


@admin.register(DeadLetter)
class DeadLetterAdmin(MessageConsole):
    """Outbound messages that could not be delivered and inbound ones not applied: fix, resend, apply again."""

    def form_action_queryset(self, request, spec):
        return DeadLetter.objects.all()

    def get_urls(self):
        urls = super().get_urls()
        return [
            path(
                "<int:object_id>/edit-payload/",
                self.admin_site.admin_view(self.form_action_view),
                {"action": "edit-payload"},
                name="partners_deadletter_edit_payload",
            ),
            *urls,
        ]


class AwaitingAcknowledgementFilter(admin.SimpleListFilter):
    title = "acknowledgement"
    parameter_name = "awaiting"

    def lookups(self, request, model_admin):
        return [("yes", "Awaiting acknowledgement"), ("overdue", "Overdue")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(state=ReleaseState.RELEASED)
        if self.value() == "overdue":
            return queryset.filter(state=ReleaseState.RELEASED, overdue=True)
        return queryset


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="The 3PL sees it with the request.")


def _request_change(release, data, actor) -> str:
    services.request_change(release_id=release.pk, reason=data["reason"], actor=actor)
    return f"{release}: the shipment as it stands was sent as a change; the 3PL accepts or rejects it."


def _request_cancel(release, data, actor) -> str:
    services.request_cancel(release_id=release.pk, reason=data["reason"], actor=actor)
    return f"{release}: cancellation asked; the 3PL accepts or rejects it."


RELEASE_ACTIONS = {
    "change": FormAction(
        title="Send {rows} to the 3PL again as a change",
        button="Send the change",
        permission="partners.request_partnerrelease",
        form=ReasonForm,
        apply=_request_change,
        note="Each shipment's ship-to, service level and lines as they stand now go to its 3PL as the next version.",
    ),
    "cancel": FormAction(
        title="Ask the 3PL to cancel {rows}",
        button="Ask to cancel",
        permission="partners.request_partnerrelease",
        form=ReasonForm,
        apply=_request_cancel,
        note="The order itself is not cancelled here (cancelling the order asks the 3PL by itself). "
        "A 3PL that has shipped already rejects it.",
    ),
}


@admin.register(PartnerRelease)
class PartnerReleaseAdmin(FormActionsMixin, ReadOnlyAdmin):
    """Shipments released to 3PLs and where each stands; those past their acknowledgement deadline are flagged."""

    list_display = (
        "shipment",
        "connection",
        "state",
        "version",
        "released_at",
        "ack_due_at",
        "overdue_display",
        "acknowledged_at",
        "shipped_at",
        "note",
    )
    list_filter = (AwaitingAcknowledgementFilter, "state", "connection")
    search_fields = ("=shipment__number", "=shipment__order_number", "=partner_reference")
    list_select_related = ("shipment", "connection__warehouse")
    actions = ("change_selected", "cancel_selected")
    form_actions = RELEASE_ACTIONS
    refusals = (PartnerError,)
    row_noun = ("release", "releases")

    @admin.display(description="overdue", boolean=True, ordering="overdue")
    def overdue_display(self, release):
        return release.overdue

    def get_urls(self):
        return self.form_action_urls() + super().get_urls()

    def has_request_permission(self, request) -> bool:
        return request.user.has_perm("partners.request_partnerrelease")

    @admin.action(description="Send selected releases again as a change…", permissions=["request"])
    def change_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "change", queryset)

    @admin.action(description="Ask the 3PL to cancel selected releases…", permissions=["request"])
    def cancel_selected(self, request, queryset):
        return self.redirect_to_form_action(request, "cancel", queryset)
