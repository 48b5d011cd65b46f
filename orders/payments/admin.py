"""The payments console: transactions (mark paid), credit rules, blocked values, accounts, journal, exports.

Thin: every change goes through a service; transactions, journal entries
and export batches are read-only records.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import Http404, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from oms_core.console import ReadOnlyAdmin, ReadOnlyTabularInline, admin_link

from .. import services as workflow
from ..exceptions import OrderError
from . import services
from .accounting import send_batch
from .models import (
    Account,
    AccountMapping,
    BlockedValue,
    CreditRule,
    ExportBatch,
    JournalEntry,
    JournalLine,
    PaymentTransaction,
)


class PaymentTransactionInline(ReadOnlyTabularInline):
    """The order page's payments: every gateway call with its outcome."""

    model = PaymentTransaction
    verbose_name = "payment"
    verbose_name_plural = "payments"
    fields = ("created_at", "kind", "amount", "currency", "status", "gateway", "gateway_reference", "error", "attempts")
    readonly_fields = fields
    ordering = ("created_at", "id")


@admin.register(PaymentTransaction)
class PaymentTransactionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "order_link", "kind", "amount", "currency", "status", "gateway", "attempts")
    list_filter = ("kind", "status", "gateway")
    search_fields = ("order__number", "idempotency_key", "gateway_reference")
    list_select_related = ("order",)
    readonly_fields = (
        "order_link",
        "shipment",
        "kind",
        "gateway",
        "amount",
        "currency",
        "status",
        "idempotency_key",
        "gateway_reference",
        "error",
        "source",
        "reason",
        "breakdown",
        "attempts",
        "actor_name",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields
    actions = ("mark_paid_selected", "capture_again_selected")

    @admin.display(description="order", ordering="order__number")
    def order_link(self, txn: PaymentTransaction):
        return admin_link(txn.order)

    def has_mark_paid_permission(self, request) -> bool:
        return request.user.has_perm("payments.mark_paid")

    @admin.action(description="Mark the orders of selected invoices paid", permissions=["mark_paid"])
    def mark_paid_selected(self, request, queryset):
        for order_id in sorted(set(queryset.values_list("order_id", flat=True))):
            try:
                txn = services.mark_paid(order_id=order_id, actor=request.user)
            except OrderError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
            else:
                self.message_user(request, f"{txn.order}: {txn.amount:,.2f} {txn.currency} received.", messages.SUCCESS)

    # Collecting what a declined capture left is collecting money owed, as marking an invoice paid is:
    # the same permission (managers).
    def has_capture_again_permission(self, request) -> bool:
        return request.user.has_perm("payments.capture_again")

    @admin.action(description="Capture again what selected declined captures left", permissions=["capture_again"])
    def capture_again_selected(self, request, queryset):
        for txn_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                txn = workflow.capture_again(transaction_id=txn_id, actor=request.user)
            except OrderError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
                continue
            money = f"{txn.amount:,.2f} {txn.currency}"
            if txn.status == PaymentTransaction.Status.SUCCEEDED:
                self.message_user(request, f"{txn.order}: captured {money}.", messages.SUCCESS)
            else:
                outcome = txn.get_status_display().lower()
                self.message_user(request, f"{txn.order}: capture of {money} {outcome}: {txn.error}", messages.ERROR)


@admin.register(CreditRule)
class CreditRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "threshold", "currency", "declines", "window_days", "is_active")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    fields = ("name", "kind", "is_active", ("threshold", "currency"), ("declines", "window_days"))


@admin.register(BlockedValue)
class BlockedValueAdmin(admin.ModelAdmin):
    list_display = ("value", "kind", "reason", "created_at")
    list_filter = ("kind",)
    search_fields = ("value", "reason")
    fields = ("kind", "value", "reason")


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "type", "is_active")
    list_filter = ("type", "is_active")
    search_fields = ("code", "name")

    def has_delete_permission(self, request, obj=None):
        return False  # entries point at accounts: deactivate instead


@admin.register(AccountMapping)
class AccountMappingAdmin(admin.ModelAdmin):
    list_display = ("role", "account")
    list_select_related = ("account",)
    fields = ("role", "account")
    readonly_fields = ("role",)

    def has_add_permission(self, request):
        return False  # one row per role, made by the migration

    def has_delete_permission(self, request, obj=None):
        return False


class JournalLineInline(ReadOnlyTabularInline):
    model = JournalLine
    fields = ("account", "debit", "credit")
    readonly_fields = fields


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("entry_date", "kind", "order", "currency", "amount", "memo", "batch")
    list_filter = ("kind", "currency", ("batch", admin.EmptyFieldListFilter), "entry_date")
    search_fields = ("order__number", "memo")
    list_select_related = ("order", "batch")
    fields = ("entry_date", "kind", "currency", "memo", "order", "transaction", "shipment", "movement", "batch")
    readonly_fields = fields
    inlines = (JournalLineInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(debits=Sum("lines__debit"))

    @admin.display(description="amount", ordering="debits")
    def amount(self, entry: JournalEntry):
        return entry.debits


@admin.register(ExportBatch)
class ExportBatchAdmin(ReadOnlyAdmin):
    list_display = ("pk", "export_date", "status", "entry_count", "attempts", "sent_at", "last_error", "download")
    list_filter = ("status",)
    fields = (
        "export_date",
        "status",
        "entry_count",
        "url",
        "attempts",
        "last_error",
        "sent_at",
        "created_at",
        "created_by",
        "file_path",
        "download",
        "csv_content",
    )
    readonly_fields = fields
    actions = ("resend_selected",)

    @admin.display(description="CSV")
    def download(self, batch: ExportBatch):
        return format_html('<a href="{}">download</a>', reverse("admin:payments_exportbatch_csv", args=[batch.pk]))

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("payments.resend_exportbatch")

    @admin.action(description="Re-send selected batches, as they were", permissions=["resend"])
    def resend_selected(self, request, queryset):
        for batch in queryset.order_by("pk"):
            if not (batch.url or settings.ACCOUNTING_EXPORT_URL):
                self.message_user(
                    request, f"{batch}: no ACCOUNTING_EXPORT_URL is set; download its CSV.", messages.ERROR
                )
                continue
            sent = send_batch(batch_id=batch.pk, resend=True, actor=request.user.get_username())
            level = messages.SUCCESS if sent.status == ExportBatch.Status.SENT else messages.ERROR
            self.message_user(request, f"{sent}: {sent.get_status_display().lower()} {sent.last_error}".strip(), level)

    def get_urls(self):
        custom = [
            path("<int:batch_id>/csv/", self.admin_site.admin_view(self.csv_view), name="payments_exportbatch_csv")
        ]
        return custom + super().get_urls()

    def csv_view(self, request, batch_id: int):
        """The batch's CSV exactly as exported."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        batch = ExportBatch.objects.filter(pk=batch_id).first()
        if batch is None:
            raise Http404(f"No export batch {batch_id}.")
        response = HttpResponse(batch.csv_content, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="journal-{batch.export_date}-batch{batch.pk:06d}.csv"'
        return response
