"""The outbox in the console: the message list, resends, template overrides with a preview, ops lists.

Thin: reads come from selectors, resends go through the service.
"""

from __future__ import annotations

from csp.decorators import csp_replace
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template import TemplateSyntaxError
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.clickjacking import xframe_options_sameorigin
from rangefilter.filters import DateRangeFilterBuilder

from oms_core.console import ReadOnlyAdmin, ReadOnlyTabularInline, admin_link, badge

from . import mime, rendering, selectors, services
from .events import EVENTS, event_choices
from .models import Message, MessageTemplate, RecipientList

STATUS_COLOURS = {
    Message.Status.PENDING: "#475569",
    Message.Status.SENDING: "#1d4ed8",
    Message.Status.SENT: "#15803d",
    Message.Status.FAILED: "#b91c1c",
}


def status_badge(message: Message) -> str:
    return badge(message.status, STATUS_COLOURS.get(message.status, "#475569"), message.get_status_display())


def history(message: Message) -> str:
    """Queued, sent / failed, resent: the message's life in one cell."""
    steps = [("queued", message.created_at)]
    if message.resent_at:
        steps.append((f"resent by {message.resent_by}", message.resent_at))
    if message.sent_at and message.status == Message.Status.SENT:
        steps.append(("sent", message.sent_at))
    if message.failed_at and message.status == Message.Status.FAILED:
        steps.append(("failed", message.failed_at))
    return format_html_join(mark_safe(" · "), "{} {}", ((label, f"{at:%Y-%m-%d %H:%M}") for label, at in steps))


class EventFilter(admin.SimpleListFilter):
    title = "event"
    parameter_name = "event"

    def lookups(self, request, model_admin):
        return event_choices()

    def queryset(self, request, queryset):
        return queryset.filter(event=self.value()) if self.value() else queryset


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    """The outbox, written by services only: resent with the action, never edited."""

    list_display = ("created_at", "event_display", "recipient", "order_link", "status_display", "attempts", "sent_at")
    list_filter = (
        EventFilter,
        "status",
        "audience",
        ("created_at", DateRangeFilterBuilder(title="queued")),
        ("sent_at", DateRangeFilterBuilder(title="sent")),
    )
    search_fields = ("=recipient", "=order__number")
    search_help_text = "An exact recipient address or order number."
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    ordering = ("-created_at", "-id")
    actions = ("resend_selected",)
    fieldsets = (
        (None, {"fields": (("event_display", "status_display"), ("recipient", "order_link"), "life")}),
        (
            "Delivery",
            {
                "fields": (
                    ("from_header", "reply_to_header"),
                    ("attempts", "next_attempt_at"),
                    "last_error",
                    "message_id_header",
                )
            },
        ),
        ("As rendered now", {"fields": ("preview",)}),
    )
    readonly_fields = (
        "event_display",
        "status_display",
        "recipient",
        "order_link",
        "life",
        "from_header",
        "reply_to_header",
        "attempts",
        "next_attempt_at",
        "last_error",
        "message_id_header",
        "preview",
    )

    @admin.display(description="event", ordering="event")
    def event_display(self, message: Message):
        return message.event_label

    @admin.display(description="status", ordering="status")
    def status_display(self, message: Message):
        return status_badge(message)

    @admin.display(description="order", ordering="order_id")
    def order_link(self, message: Message):
        return admin_link(message.order) if message.order_id is not None else "—"

    @admin.display(description="history")
    def life(self, message: Message):
        return history(message)

    @admin.display(description="from")
    def from_header(self, message: Message):
        return mime.sender(message)

    @admin.display(description="reply-to")
    def reply_to_header(self, message: Message):
        return rendering.reply_address(message.reply_to, audience=message.audience) or "—"

    @admin.display(description="Message-ID")
    def message_id_header(self, message: Message):
        return message.message_id

    @admin.display(description="message")
    def preview(self, message: Message):
        try:
            rendered = rendering.render(
                message.event,
                message.context,
                override=_active_override(message.event),
                extra=rendering.send_time_context([message], preview=True).get(message.pk),
            )
        except (TemplateSyntaxError, LookupError) as error:
            return f"Cannot render: {error}"
        # The rendered HTML is marked safe (it is a template's output), so format_html would put it in the
        # attribute as is and the first quote would end it: escape it always. sandbox="": no scripts run.
        return format_html(
            '<p><strong>{}</strong></p><pre style="white-space:pre-wrap;max-width:60rem">{}</pre>'
            '<iframe sandbox="" srcdoc="{}" title="HTML part" '
            'style="width:100%;max-width:60rem;height:600px;border:1px solid var(--hairline-color)"></iframe>',
            rendered.subject,
            rendered.text,
            escape(rendered.html),
        )

    def get_queryset(self, request):
        return selectors.message_list()

    def get_object(self, request, object_id, from_field=None):
        try:
            return Message.objects.select_related("order").get(pk=int(object_id))
        except (ValueError, Message.DoesNotExist):
            return None

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("notifications.resend_message")

    @admin.action(description="Resend selected messages", permissions=["resend"])
    def resend_selected(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:1000])
        report = services.resend_messages(message_ids=ids, actor=request.user)
        for _message, reason in report.refused:
            self.message_user(request, reason, messages.WARNING)
        if report.resent:
            self.message_user(request, f"{len(report.resent)} message(s) queued again.", messages.SUCCESS)


def _active_override(event: str) -> MessageTemplate | None:
    return MessageTemplate.objects.filter(event=event, is_active=True).first()


class OrderMessagesInline(ReadOnlyTabularInline):
    """The order page's messages, beside its timeline: what was sent to whom, and how it went."""

    model = Message
    fk_name = "order"
    verbose_name = "message"
    verbose_name_plural = "messages"
    fields = ("event_display", "recipient", "status_display", "life", "attempts", "last_error", "link")
    readonly_fields = fields
    ordering = ("created_at", "id")

    @admin.display(description="event")
    def event_display(self, message: Message):
        return message.event_label

    @admin.display(description="status")
    def status_display(self, message: Message):
        return status_badge(message)

    @admin.display(description="history")
    def life(self, message: Message):
        return history(message)

    @admin.display(description="")
    def link(self, message: Message):
        return format_html('<a href="{}">view</a>', reverse("admin:notifications_message_change", args=[message.pk]))

    def get_queryset(self, request):
        return super().get_queryset(request).defer("context")


class MessageTemplateForm(forms.ModelForm):
    preview_order = forms.CharField(
        required=False,
        label="Preview on order",
        help_text="An order number or id; blank: the latest order that had this message.",
    )

    class Meta:
        model = MessageTemplate
        fields = ("event", "is_active", "subject", "text_body", "html_body")
        widgets = {
            "text_body": forms.Textarea(attrs={"rows": 16, "cols": 100, "class": "oms-code"}),
            "html_body": forms.Textarea(attrs={"rows": 22, "cols": 100, "class": "oms-code"}),
            "subject": forms.TextInput(attrs={"size": 100}),
        }

    def clean(self):
        cleaned = super().clean()
        for part in rendering.PARTS:
            source = cleaned.get(part)
            if source:
                try:
                    rendering.compile_source(source)
                except TemplateSyntaxError as error:
                    self.add_error(part, f"Template error: {error}")
        return cleaned


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = ("event", "is_active", "updated_at", "updated_by")
    list_filter = ("is_active",)
    change_form_template = "admin/notifications/messagetemplate/change_form.html"
    fieldsets = (
        (None, {"fields": (("event", "is_active"), "subject", "text_body", "html_body")}),
        ("Preview", {"fields": ("preview_order",)}),
    )

    def get_changeform_initial_data(self, request):
        """``?event=order_shipped`` starts the override from the default files."""
        initial = super().get_changeform_initial_data(request)
        event = request.GET.get("event")
        if event in EVENTS:
            initial.update({part: rendering.default_source(event, part) for part in rendering.PARTS})
        return initial

    def get_readonly_fields(self, request, obj=None):
        return ("event",) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        obj.updated_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["preview_url"] = reverse("admin:notifications_messagetemplate_preview")
        context["start_from"] = [
            (label, f"{reverse('admin:notifications_messagetemplate_add')}?event={code}")
            for code, label in event_choices()
            if not MessageTemplate.objects.filter(event=code).exists()
        ]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        preview = path(
            "preview/", self.admin_site.admin_view(self.preview_view), name="notifications_messagetemplate_preview"
        )
        return [preview, *super().get_urls()]

    @method_decorator(xframe_options_sameorigin)  # shown in a frame on the form itself
    @method_decorator(csp_replace({"frame-ancestors": ["'self'"]}))  # the same, for the Content-Security-Policy
    def preview_view(self, request):
        """Render the form's (unsaved) template on a real order's snapshot; nothing is saved."""
        if request.method != "POST" or not (
            request.user.has_perm("notifications.change_messagetemplate")
            or request.user.has_perm("notifications.add_messagetemplate")
        ):
            raise PermissionDenied
        event = request.POST.get("event") or request.POST.get("event_code", "")
        context = {"event": EVENTS.get(event), "error": "", "rendered": None}
        if event not in EVENTS:
            context["error"] = "Choose the message first."
            return TemplateResponse(request, "admin/notifications/messagetemplate/preview.html", context)
        snapshot, source = selectors.preview_context(event=event, order_ref=request.POST.get("preview_order", ""))
        context["source"] = source
        if snapshot is None:
            context["error"] = f"Nothing to preview on: {source}."
        else:
            sources = {part: request.POST.get(part, "") for part in rendering.PARTS}
            try:
                context["rendered"] = rendering.render(event, snapshot, sources=sources)
            except TemplateSyntaxError as error:
                context["error"] = f"Template error: {error}"
        return TemplateResponse(request, "admin/notifications/messagetemplate/preview.html", context)


class RecipientListForm(forms.ModelForm):
    class Meta:
        model = RecipientList
        fields = ("event", "emails", "include_ops_emails")
        widgets = {"emails": forms.Textarea(attrs={"rows": 5, "cols": 60})}


@admin.register(RecipientList)
class RecipientListAdmin(admin.ModelAdmin):
    form = RecipientListForm
    list_display = ("__str__", "addresses_display", "include_ops_emails", "updated_at")
    readonly_fields = ("effective",)

    @admin.display(description="addresses")
    def addresses_display(self, listing: RecipientList):
        return ", ".join(listing.addresses) or "—"

    @admin.display(description="sent to")
    def effective(self, listing: RecipientList):
        if listing.pk is None:
            return "—"
        return ", ".join(services.ops_recipients(listing.event)) or "nobody (set OPS_EMAILS or add addresses)"
