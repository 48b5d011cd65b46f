"""Payment transactions, credit rules, the chart of accounts, journal entries and export batches."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

ZERO = Decimal("0.00")


class PaymentTransaction(models.Model):
    """One call to a payment gateway, keyed by its idempotency key: a retry updates this row, never adds one."""

    class Kind(models.TextChoices):
        AUTHORISE = "authorise", "Authorise"
        CAPTURE = "capture", "Capture"
        VOID = "void", "Void"
        REDUCE = "reduce", "Reduce authorisation"  # items cancelled: part of what is authorised released
        INCREMENT = "increment", "Increase authorisation"  # items added: more authorised on the same payment
        REFUND = "refund", "Refund"
        SETTLE = "settle", "Payment received"  # a manual (invoice) order marked paid by ops

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        DECLINED = "declined", "Declined"  # the gateway answered no: final for this key
        ERROR = "error", "Error"  # timeout or gateway error: retried with the same key

    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payment_transactions")
    shipment = models.ForeignKey(
        "shipping.Shipment", on_delete=models.PROTECT, null=True, blank=True, related_name="payment_transactions"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    gateway = models.CharField(max_length=30)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=120, unique=True)
    gateway_reference = models.CharField(max_length=120, blank=True)
    error = models.TextField(blank=True)
    source = models.CharField(max_length=30, blank=True, help_text="What asked for it: intake, shipment, return…")
    reason = models.TextField(blank=True)
    breakdown = models.JSONField(
        default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="A capture's goods, shipping and tax parts."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField("by", max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "payment transaction"
        permissions = [
            ("mark_paid", "Can mark manual (invoice) orders paid"),
            ("refund_payment", "Can refund payments"),
            ("capture_again", "Can capture again what a declined capture left"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(kind__in=["authorise", "capture", "void", "reduce", "increment", "refund", "settle"]),
                name="payment_kind_valid",
            ),
        ]
        indexes = [models.Index(fields=["order", "kind", "status"], name="payment_order_kind_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency} ({self.get_status_display().lower()})"


class CreditRule(models.Model):
    """A rule that puts an order on hold for review before its payment is authorised."""

    class Kind(models.TextChoices):
        AMOUNT_OVER = "amount_over", "Order total over a threshold"
        COUNTRY_MISMATCH = "country_mismatch", "Billing and shipping country differ"
        FIRST_ORDER_OVER = "first_order_over", "A new customer's first order over a threshold"
        REPEATED_DECLINES = "repeated_declines", "Repeated declined authorisations"
        BLOCKED = "blocked", "Blocked email or postal code"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    threshold = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Amount rules: the order total above which."
    )
    currency = models.CharField(
        max_length=3, blank=True, help_text="Amount rules: apply only to orders in this currency (blank: any)."
    )
    declines = models.PositiveSmallIntegerField(
        default=2, help_text="Repeated declines: this many declined authorisations for the customer…"
    )
    window_days = models.PositiveSmallIntegerField(default=30, help_text="…within this many days.")
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=["amount_over", "first_order_over"]) | Q(threshold__isnull=False),
                name="creditrule_amount_rules_have_threshold",
            )
        ]

    def __str__(self) -> str:
        return self.name


class BlockedValue(models.Model):
    """An email address or postal code whose orders are held for review (the ``blocked`` rule)."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        POSTAL_CODE = "postal_code", "Postal code"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    value = models.CharField(max_length=254, help_text="Matched case-insensitively, spaces ignored.")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["kind", "value"]
        verbose_name = "blocked email or postal code"
        verbose_name_plural = "blocked emails and postal codes"
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="blockedvalue_unique")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"

    @staticmethod
    def normalise(value: str) -> str:
        return "".join((value or "").split()).lower()

    def clean(self) -> None:
        self.value = self.normalise(self.value)


class Account(models.Model):
    """An account of the chart that journal entries post to."""

    class Type(models.TextChoices):
        ASSET = "asset", "Asset"
        LIABILITY = "liability", "Liability"
        EQUITY = "equity", "Equity"
        REVENUE = "revenue", "Revenue"
        EXPENSE = "expense", "Expense"

    code = models.CharField(max_length=20, unique=True, help_text="The code the accounting package uses.")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=Type.choices)
    is_active = models.BooleanField("active", default=True)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class AccountRole(models.TextChoices):
    """What an account is used for; each role maps to one account (AccountMapping)."""

    CASH = "cash", "Cash (money received)"
    RECEIVABLES = "receivables", "Receivables (invoiced, not paid)"
    REVENUE = "revenue", "Revenue (goods, net of discounts)"
    TAX = "tax", "Sales tax payable"
    SHIPPING_INCOME = "shipping_income", "Shipping income"
    REFUNDS = "refunds", "Refunds"
    INVENTORY = "inventory", "Inventory"
    WRITE_OFF = "write_off", "Inventory write-off"
    SHIPPING_COST = "shipping_cost", "Shipping cost"
    CARRIER_PAYABLE = "carrier_payable", "Carriers payable"


# The chart a fresh installation starts with (migration 0002; also used when a mapping is missing).
DEFAULT_CHART: dict[str, tuple[str, str, str]] = {
    AccountRole.CASH: ("1000", "Cash and payment processors", Account.Type.ASSET),
    AccountRole.RECEIVABLES: ("1100", "Accounts receivable", Account.Type.ASSET),
    AccountRole.INVENTORY: ("1200", "Inventory", Account.Type.ASSET),
    AccountRole.TAX: ("2100", "Sales tax payable", Account.Type.LIABILITY),
    AccountRole.CARRIER_PAYABLE: ("2200", "Carriers payable", Account.Type.LIABILITY),
    AccountRole.REVENUE: ("4000", "Sales revenue", Account.Type.REVENUE),
    AccountRole.SHIPPING_INCOME: ("4100", "Shipping income", Account.Type.REVENUE),
    AccountRole.REFUNDS: ("4900", "Sales refunds", Account.Type.REVENUE),
    AccountRole.WRITE_OFF: ("5100", "Inventory write-offs", Account.Type.EXPENSE),
    AccountRole.SHIPPING_COST: ("5200", "Shipping costs", Account.Type.EXPENSE),
}


class AccountMapping(models.Model):
    """Which account a role posts to (receivables, revenue, tax...), set in the console."""

    role = models.CharField(max_length=20, choices=AccountRole.choices, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="mappings")

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["role"]
        verbose_name = "account mapping"

    def __str__(self) -> str:
        return f"{self.get_role_display()} → {self.account}"


class ExportBatch(models.Model):
    """One export of journal entries: the CSV and JSON body as sent, so it can be re-sent as it was."""

    class Status(models.TextChoices):
        WRITTEN = "written", "CSV written (no URL configured)"
        PENDING = "pending", "Waiting to send"
        SENT = "sent", "Sent"
        RETRYING = "retrying", "Failed, retrying"
        FAILED = "failed", "Failed"

    export_date = models.DateField(help_text="Entries dated on or before this day that were not exported yet.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    entry_count = models.PositiveIntegerField(default=0)
    csv_content = models.TextField(editable=False)
    json_body = models.TextField(editable=False)
    file_path = models.CharField(max_length=500, blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="Where the batch is (or was) POSTed.")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=150, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a failed send is tried again (the sweep sends it if its task was lost)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "export batch"
        verbose_name_plural = "export batches"
        permissions = [("resend_exportbatch", "Can re-send accounting export batches")]

    def __str__(self) -> str:
        return f"Export #{self.pk} for {self.export_date:%Y-%m-%d}"


class JournalEntry(models.Model):
    """A balanced double entry (its lines' debits equal its credits) in one currency."""

    class Kind(models.TextChoices):
        CAPTURE = "capture", "Capture"
        SETTLEMENT = "settlement", "Payment received"
        REFUND = "refund", "Refund"
        WRITE_OFF = "write_off", "Write-off"
        SHIPPING_COST = "shipping_cost", "Shipping cost"

    kind = models.CharField(max_length=15, choices=Kind.choices)
    entry_date = models.DateField(default=timezone.localdate)
    currency = models.CharField(max_length=3)
    memo = models.CharField(max_length=300)
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="journal_entries"
    )
    transaction = models.OneToOneField(
        PaymentTransaction, on_delete=models.PROTECT, null=True, blank=True, related_name="journal_entry"
    )
    shipment = models.ForeignKey(
        "shipping.Shipment", on_delete=models.PROTECT, null=True, blank=True, related_name="journal_entries"
    )
    movement = models.OneToOneField(
        "inventory.StockMovement", on_delete=models.PROTECT, null=True, blank=True, related_name="journal_entry"
    )
    batch = models.ForeignKey(ExportBatch, on_delete=models.PROTECT, null=True, blank=True, related_name="entries")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["entry_date", "id"]
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(
                fields=["shipment"], condition=Q(kind="shipping_cost"), name="journal_shipping_cost_once"
            )
        ]
        indexes = [models.Index(fields=["batch", "entry_date"], name="journal_unexported_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.entry_date:%Y-%m-%d}: {self.memo}"


class JournalLine(models.Model):
    """One side of a journal entry: a debit or a credit to one account."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.CASCADE, related_name="lines")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    debit = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    credit = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(debit__gt=0) & Q(credit=0)) | (Q(credit__gt=0) & Q(debit=0)),
                name="journalline_one_side_positive",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account.code} Dr {self.debit} Cr {self.credit}"


# --- the test card gateway's side of the story ---------------------------------------------
class SandboxPayment(models.Model):
    """A payment as the test card gateway records it: what is authorised, captured and refunded.

    The gateway's own record, kept in the database so that every process (web,
    Celery workers) sees the same payments, as a real provider's would be.
    Written only by ``gateways.test_card``.
    """

    reference = models.CharField(max_length=40, unique=True)
    token = models.CharField(max_length=40)
    currency = models.CharField(max_length=3)
    authorised = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    captured = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    refunded = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    voided = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = "test card payment"
        constraints = [
            models.CheckConstraint(
                condition=Q(captured__lte=F("authorised")), name="sandboxpayment_captured_within_authorised"
            ),
            models.CheckConstraint(
                condition=Q(refunded__lte=F("captured")), name="sandboxpayment_refunded_within_captured"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: authorised {self.authorised}, captured {self.captured}, refunded {self.refunded}"

    @property
    def operations(self) -> list[tuple[str, Decimal]]:
        """What the gateway did to this payment, in order: (kind, amount) of each call that succeeded."""
        calls = SandboxCall.objects.filter(reference=self.reference, succeeded=True).order_by("id")
        return [(call.kind, call.amount) for call in calls]


class SandboxCall(models.Model):
    """One request to the test card gateway and its answer, kept by idempotency key (as Stripe does)."""

    idempotency_key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=10)  # authorise, capture, void, refund
    token = models.CharField(max_length=40, help_text="The card token the key was first used with.")
    reference = models.CharField(max_length=40, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    succeeded = models.BooleanField()
    error = models.CharField(max_length=200, blank=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = "test card call"
        indexes = [models.Index(fields=["reference"], name="sandboxcall_reference_idx")]

    def __str__(self) -> str:
        outcome = "succeeded" if self.succeeded else f"declined: {self.error}"
        return f"{self.kind} {self.amount} ({self.idempotency_key}) {outcome}"
