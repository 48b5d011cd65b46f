"""Returns (RMAs) and their lines, the return policy, refunds, and order error cases.

A return moves through one table, ``RETURN_TRANSITIONS``, beside the model;
``ReturnRequest.transition_to`` is the only code that changes its status and
writes the step on the order's timeline. Services call it.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from ..models import Order, OrderEvent
from .exceptions import ReturnError


class ReturnReason(models.TextChoices):
    DAMAGED = "damaged", "Damaged"
    WRONG_ITEM = "wrong_item", "Wrong item"
    NOT_AS_DESCRIBED = "not_as_described", "Not as described"
    NO_LONGER_WANTED = "no_longer_wanted", "No longer wanted"
    ARRIVED_LATE = "arrived_late", "Arrived late"
    OTHER = "other", "Other"


class ReturnSource(models.TextChoices):
    """Who opened a return."""

    ASSOCIATE = "associate", "Associate"
    CUSTOMER = "customer", "Customer (order status page)"


class ReturnResolution(models.TextChoices):
    """What the customer gets for the returned units."""

    REFUND = "refund", "Refund"
    EXCHANGE = "exchange", "Exchange"
    STORE_CREDIT = "store_credit", "Store credit"


class ReturnPolicy(models.Model):
    """The return policy: one row (``ReturnPolicy.current()``), its defaults from settings."""

    window_days = models.PositiveSmallIntegerField(
        "return window (days)", help_text="Days after delivery (or shipping, when delivery is unknown)."
    )
    self_service = models.BooleanField(
        "customers open returns themselves",
        default=True,
        help_text="The order status page offers a return form within the window.",
    )
    exchanges = models.BooleanField(
        "customers may exchange",
        default=True,
        help_text="On the status page, a customer may take another variant of the same product (one in stock) "
        "instead of a refund.",
    )
    store_credit = models.BooleanField(
        "customers may take store credit",
        default=False,
        help_text="On the status page, a customer may take store credit instead of money back: the refund is "
        "settled as a store credit record, not through the payment gateway.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        verbose_name = "return policy"
        verbose_name_plural = "return policy"

    def __str__(self) -> str:
        return f"Return policy: {self.window_days} days"

    @classmethod
    def current(cls) -> ReturnPolicy:
        """The policy row, made from settings (``RETURNS_WINDOW_DAYS``, ``RETURNS_REASONS``) the first time."""
        policy = cls.objects.order_by("pk").first()
        if policy is None:
            policy, _ = cls.objects.get_or_create(pk=1, defaults={"window_days": settings.RETURNS_WINDOW_DAYS})
        missing = set(ReturnReason.values) - set(policy.reasons.values_list("reason", flat=True))
        for reason in sorted(missing):
            spec = settings.RETURNS_REASONS.get(reason, {})
            ReasonRule.objects.get_or_create(
                policy=policy,
                reason=reason,
                defaults={
                    "restocking_fee_percent": Decimal(str(spec.get("restocking_fee_percent", "0"))),
                    "auto_authorise": bool(spec.get("auto_authorise", False)),
                    "our_error": bool(spec.get("our_error", False)),
                    "trusted": bool(spec.get("trusted", False)),
                },
            )
        return policy

    def rule(self, reason: str) -> ReasonRule:
        return self.reasons.get(reason=reason)


class ReasonRule(models.Model):
    """What the policy does for one return reason."""

    policy = models.ForeignKey(ReturnPolicy, on_delete=models.CASCADE, related_name="reasons")
    reason = models.CharField(max_length=30, choices=ReturnReason.choices)
    restocking_fee_percent = models.DecimalField(
        "restocking fee %",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Of the returned goods' value after discount; never charged when the return is our error.",
    )
    auto_authorise = models.BooleanField(
        "authorise automatically", default=False, help_text="Returns for this reason skip the review."
    )
    our_error = models.BooleanField(
        default=False, help_text="We caused it: no restocking fee, and the order's shipping is refunded too."
    )
    trusted = models.BooleanField(
        "ship exchanges at once",
        default=False,
        help_text="An exchange for this reason ships its replacement as soon as it is reserved, before the "
        "returned goods arrive (otherwise it waits on hold until the return is received).",
    )

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["policy", "reason"]
        verbose_name = "reason rule"
        constraints = [
            models.UniqueConstraint(fields=["policy", "reason"], name="reasonrule_unique_reason"),
            models.CheckConstraint(
                condition=Q(restocking_fee_percent__gte=0) & Q(restocking_fee_percent__lte=100),
                name="reasonrule_fee_range",
            ),
        ]

    def __str__(self) -> str:
        return self.get_reason_display()


class ReturnStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    AUTHORISED = "authorised", "Authorised"
    RECEIVED = "received", "Received"
    INSPECTED = "inspected", "Inspected"
    REFUNDED = "refunded", "Refunded"
    CLOSED = "closed", "Closed"
    REJECTED = "rejected", "Rejected"


R = ReturnStatus
# The return state machine: status -> the statuses it may move to.
RETURN_TRANSITIONS: dict[str, frozenset[str]] = {
    R.REQUESTED: frozenset({R.AUTHORISED, R.REJECTED}),
    R.AUTHORISED: frozenset({R.RECEIVED, R.REJECTED}),
    R.RECEIVED: frozenset({R.INSPECTED}),
    R.INSPECTED: frozenset({R.REFUNDED, R.CLOSED}),
    R.REFUNDED: frozenset({R.CLOSED}),
    R.CLOSED: frozenset(),
    R.REJECTED: frozenset(),
}
# Returns someone still has to work.
OPEN_RETURN_STATUSES = frozenset({R.REQUESTED, R.AUTHORISED, R.RECEIVED, R.INSPECTED, R.REFUNDED})


class ReturnRequest(models.Model):
    """A return merchandise authorisation (RMA) for some shipped units of one order."""

    Status = ReturnStatus
    Reason = ReturnReason

    number = models.CharField("RMA", max_length=20, unique=True, null=True, editable=False)  # noqa: DJ001
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="returns")
    status = models.CharField(max_length=20, choices=ReturnStatus.choices, default=R.REQUESTED, editable=False)
    reason = models.CharField(max_length=30, choices=ReturnReason.choices)
    customer_note = models.TextField(blank=True)
    our_error = models.BooleanField(default=False, help_text="From the policy when the return was opened.")
    restocking_fee_percent = models.DecimalField(
        "restocking fee %", max_digits=5, decimal_places=2, default=Decimal("0"), help_text="From the policy."
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Where the goods come back to (set when authorised, final when received).",
    )
    rejection_reason = models.TextField(blank=True)
    source = models.CharField(
        "opened by", max_length=20, choices=ReturnSource.choices, default=ReturnSource.ASSOCIATE, editable=False
    )
    resolution = models.CharField(
        max_length=20, choices=ReturnResolution.choices, default=ReturnResolution.REFUND, editable=False
    )
    replacement_order = models.ForeignKey(
        Order,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        help_text="An exchange's replacement: an order of its own, reserved when the return was opened.",
    )
    label_file = models.FileField(upload_to="return-labels/%Y/%m/", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    authorised_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    inspected_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "return (RMA)"
        verbose_name_plural = "returns (RMAs)"
        permissions = [
            ("process_returnrequest", "Can authorise, reject, receive, inspect and close returns"),
            ("refund_returnrequest", "Can confirm and settle refunds"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ReturnStatus.values), name="return_status_valid"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="return_queue_idx")]

    def __str__(self) -> str:
        return self.number or f"return #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_RETURN_STATUSES

    def can_transition_to(self, new_status: str) -> bool:
        return new_status in RETURN_TRANSITIONS[self.status]

    def transition_to(self, new_status: str, *, actor, message: str, data: dict | None = None) -> OrderEvent:
        """Move the return to ``new_status`` and write the step on the order's timeline.

        Raises ReturnError when the table does not allow it. Callers hold the
        order's and the return's row locks.
        """
        old = self.status
        if not self.can_transition_to(new_status):
            allowed = sorted(ReturnStatus(s).label.lower() for s in RETURN_TRANSITIONS[old])
            raise ReturnError(
                f"Return {self} is {ReturnStatus(old).label.lower()}; it cannot be "
                f"{ReturnStatus(new_status).label.lower()} (from here: {', '.join(allowed) or 'nothing, it is final'})."
            )
        self.status = new_status
        stamp = {R.AUTHORISED: "authorised_at", R.RECEIVED: "received_at", R.INSPECTED: "inspected_at"}
        fields = ["status", "updated_at"]
        if new_status in stamp:
            setattr(self, stamp[new_status], timezone.now())
            fields.append(stamp[new_status])
        if new_status in (R.CLOSED, R.REJECTED):
            self.closed_at = timezone.now()
            fields.append("closed_at")
        self.save(update_fields=fields)
        return OrderEvent.record(
            order=self.order,
            kind=OrderEvent.Kind.RETURN,
            actor=actor,
            message=message,
            data={"rma": self.number, "from": old, "to": new_status, **(data or {})},
        )


class ReturnLine(models.Model):
    """Units of one order line in a return: asked for, received, then restocked or written off."""

    rma = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="return_lines")
    product = models.ForeignKey("inventory.Product", on_delete=models.PROTECT, related_name="+")
    sku = models.CharField("SKU", max_length=64)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField("requested")
    quantity_received = models.PositiveIntegerField("received", default=0)
    quantity_restocked = models.PositiveIntegerField("restocked", default=0)
    quantity_written_off = models.PositiveIntegerField("written off", default=0)
    write_off_reason = models.CharField(max_length=200, blank=True)
    write_off_cost = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0.00"), help_text="Units written off × the SKU's unit cost."
    )
    replacement_product = models.ForeignKey(
        "inventory.Product",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="An exchange: the variant sent instead.",
    )
    replacement_unit_price = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="An exchange: the variant's price when the return was opened.",
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="returnline_quantity_positive"),
            models.CheckConstraint(
                condition=Q(quantity_received__lte=F("quantity")), name="returnline_received_within_requested"
            ),
            models.CheckConstraint(
                condition=Q(quantity_restocked__lte=F("quantity_received") - F("quantity_written_off")),
                name="returnline_inspected_within_received",
            ),
            models.UniqueConstraint(fields=["rma", "order_line"], name="returnline_unique_per_line"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


class VariantGroup(models.Model):
    """Products that are variants of one another (sizes, colours of one product): what an exchange may swap."""

    name = models.CharField(max_length=200, unique=True, help_text="The product, e.g. Organic tee.")
    products = models.ManyToManyField("inventory.Product", related_name="variant_groups")

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["name"]
        verbose_name = "exchange variant group"

    def __str__(self) -> str:
        return self.name


class SettlementMethod(models.TextChoices):
    """How a refund was paid back to the customer."""

    ORIGINAL_PAYMENT = "original_payment", "Original payment method"
    SALES_CHANNEL = "sales_channel", "Through the sales channel (marketplace)"
    BANK_TRANSFER = "bank_transfer", "Bank transfer"
    STORE_CREDIT = "store_credit", "Store credit"
    CHEQUE = "cheque", "Cheque"


class Refund(models.Model):
    """Money going back to the customer for a return or an order error: recorded, then settled."""

    class Status(models.TextChoices):
        PENDING = "pending", "Recorded, to settle"
        SETTLED = "settled", "Settled"
        FAILED = "failed", "Failed"

    Method = SettlementMethod

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    rma = models.ForeignKey(ReturnRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds")
    error_case = models.ForeignKey(
        "OrderErrorCase", on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    breakdown = models.JSONField(default=dict, blank=True, help_text="How the amount was computed.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, editable=False)
    reason = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=80, unique=True, editable=False)
    settle_note = models.TextField(
        "note", blank=True, help_text="What the gateway said, why it waits, or how it was paid."
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    confirmed_by_name = models.CharField("confirmed by", max_length=150)
    created_at = models.DateTimeField(default=timezone.now)
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    settled_by_name = models.CharField("settled by", max_length=150, blank=True)
    settlement_method = models.CharField(
        "paid back by", max_length=20, choices=SettlementMethod.choices, blank=True, editable=False
    )
    settlement_reference = models.CharField(
        "settlement reference",
        max_length=100,
        blank=True,
        help_text="The payment's reference: the gateway's, a bank transfer's, a cheque number, a store credit code.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("settle_refund", "Can mark refunds settled (paid back outside the gateway)")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(rma__isnull=False) | Q(error_case__isnull=False), name="refund_has_a_cause"
            ),
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount} {self.currency} on {self.order}"

    @property
    def source(self) -> str:
        return "return" if self.rma_id else "order_error"

    @property
    def cause(self) -> str:
        """What the refund is for: the RMA number or the order error."""
        return str(self.rma) if self.rma_id else str(self.error_case)

    @property
    def settlement_summary(self) -> str:
        """How, with which reference, by whom and when it was settled ("" while it is not)."""
        if self.status != self.Status.SETTLED:
            return ""
        parts = [
            self.get_settlement_method_display() or "Settled",
            f"ref {self.settlement_reference}" if self.settlement_reference else "",
            f"by {self.settled_by_name}" if self.settled_by_name else "",
            timezone.localtime(self.settled_at).strftime("%Y-%m-%d %H:%M") if self.settled_at else "",
        ]
        return " · ".join(part for part in parts if part)


class StoreCredit(models.Model):
    """Store credit issued to a customer in settlement of a refund: the record its reference (SC-…) names.

    The balance is the customer's to spend through the sales channel, which
    redeems it against the customer's account; the OMS keeps what was issued.
    """

    number = models.CharField(max_length=20, unique=True, null=True, editable=False)  # noqa: DJ001
    customer = models.ForeignKey("orders.Customer", on_delete=models.PROTECT, related_name="store_credits")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="store_credits")
    refund = models.OneToOneField(Refund, on_delete=models.PROTECT, related_name="store_credit")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="storecredit_amount_positive")]

    def __str__(self) -> str:
        return self.number or f"store credit #{self.pk}"


class OrderErrorCase(models.Model):
    """Something we got wrong on an order, how it was put right, and why it happened."""

    class Kind(models.TextChoices):
        WRONG_ITEM = "wrong_item", "Wrong item"
        MISSING_ITEM = "missing_item", "Missing item"
        DAMAGED_IN_TRANSIT = "damaged_in_transit", "Damaged in transit"
        LATE = "late", "Late"

    class RootCause(models.TextChoices):
        PICK_ERROR = "pick_error", "Pick error"
        CARRIER_DAMAGE = "carrier_damage", "Carrier damage"
        STOCK_ERROR = "stock_error", "Stock error"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    class Resolution(models.TextChoices):
        RESHIP = "reship", "Reship"
        REFUND = "refund", "Refund"
        BOTH = "both", "Reship and refund"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="error_cases")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    root_cause = models.CharField(max_length=30, choices=RootCause.choices)
    description = models.TextField(blank=True)
    shipment = models.ForeignKey("shipping.Shipment", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    vendor = models.ForeignKey("shipping.Vendor", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, editable=False)
    resolution = models.CharField(max_length=10, choices=Resolution.choices, blank=True, editable=False)
    reship_order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "order error"
        permissions = [("resolve_ordererrorcase", "Can open and resolve order errors (reship, refund)")]
        indexes = [models.Index(fields=["created_at"], name="errorcase_created_idx")]

    def __str__(self) -> str:
        return f"ERR-{self.pk:06d}" if self.pk else "new order error"
