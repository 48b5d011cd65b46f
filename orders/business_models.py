"""A business customer's own order process: its profile, its notification contacts and its setup checklist.

A wholesale account, a marketplace seller or a B2B buyer is a ``Customer`` with a ``BusinessProfile``: the
warehouses it ships from (or must never ship from), the carrier it wants, how its parcels are packed, what its
packing slip shows, who gets copies of its order emails, and its credit limit and payment terms. Routing, carrier
choice, the documents and the credit check read the profile as it is when they run.

Imported by ``orders.models``; kept apart so the order models stay readable.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import FileExtensionValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from oms_core.emails import InternationalEmailField

from .models import Customer

# A logo printed on the slip is at most this big (it is embedded in every slip's PDF).
MAX_LOGO_BYTES = 200_000


class BusinessKind(models.TextChoices):
    WHOLESALE = "wholesale", "Wholesale account"
    MARKETPLACE = "marketplace", "Marketplace seller"
    B2B = "b2b", "B2B buyer"


class BusinessProfile(models.Model):
    """The order process of one business customer, as its setup defines it."""

    Kind = BusinessKind

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="business_profile")
    kind = models.CharField("account kind", max_length=20, choices=BusinessKind.choices)
    account_number = models.CharField(
        max_length=50, blank=True, help_text="The customer's account number with us, as our invoices show it."
    )
    # --- where it ships from
    default_warehouses = models.ManyToManyField(
        "inventory.Warehouse",
        blank=True,
        related_name="+",
        help_text="Preferred whenever one of them has the stock and makes the order's date.",
    )
    excluded_warehouses = models.ManyToManyField(
        "inventory.Warehouse",
        blank=True,
        related_name="+",
        help_text="Never ship this customer's orders from these: routing leaves them out, even when nearest.",
    )
    # --- the carrier
    preferred_vendor = models.ForeignKey(
        "shipping.Vendor",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Its cheapest service that makes the date is chosen before any other vendor's.",
    )
    preferred_service = models.ForeignKey(
        "shipping.CarrierService",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Chosen whenever it makes the date (before the preferred vendor's other services).",
    )
    # --- packing and documents
    packing_instructions = models.TextField(
        max_length=2000,
        blank=True,
        help_text="Printed on the pick list and the packing slip, and shown on the order page.",
    )
    slip_shows_po_number = models.BooleanField(
        "packing slip shows the PO number",
        default=True,
        help_text="The order's customer reference (PO number) in the slip's heading.",
    )
    slip_brand_name = models.CharField(
        "brand name on slips", max_length=100, blank=True, help_text="Printed instead of ours at the slip's head."
    )
    slip_brand_colour = models.CharField(
        "brand colour on slips",
        max_length=7,
        blank=True,
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #RRGGBB, e.g. #1f6f43.")],
    )
    slip_logo = models.FileField(
        "logo on slips",
        upload_to="branding/",
        blank=True,
        validators=[FileExtensionValidator(["png", "jpg", "jpeg"])],
        help_text=f"PNG or JPEG, at most {MAX_LOGO_BYTES // 1000} kB.",
    )
    # --- money
    credit_limit = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="An order that would take the open balance (unpaid orders) over this is held for credit "
        "review. Empty: no limit.",
    )
    credit_currency = models.CharField(max_length=3, default="USD", help_text="The currency of the limit.")
    payment_terms_days = models.PositiveSmallIntegerField(
        "payment terms (days)",
        null=True,
        blank=True,
        help_text="Net days: 30 for net 30, 0 for due on receipt. Empty: paid at checkout.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    history = HistoricalRecords(m2m_fields=[default_warehouses, excluded_warehouses])

    class Meta:
        verbose_name = "business customer setup"
        permissions = [("confirm_business_setup", "Can confirm the steps of a business customer's setup")]

    def __str__(self) -> str:
        return f"{self.customer.name} ({self.get_kind_display().lower()})"

    @property
    def payment_terms(self) -> str:
        if self.payment_terms_days is None:
            return "paid at checkout"
        if self.payment_terms_days == 0:
            return "due on receipt"
        return f"net {self.payment_terms_days}"

    @property
    def rule_name(self) -> str:
        """How routing and carrier choice name this customer's rules in their reasons."""
        return f"business customer {self.customer.name}"


class ContactRole(models.TextChoices):
    ALL = "all", "Copies of every order email"
    SHIPPING = "shipping", "Shipping notices (shipped, delivered, delayed)"


# The customer's emails each role gets a copy of.
CONTACT_EVENTS: dict[str, frozenset[str]] = {
    ContactRole.ALL: frozenset(
        {
            "order_received",
            "order_allocated",
            "order_backordered",
            "order_shipped",
            "order_delivered",
            "order_cancelled",
            "order_lines_cancelled",
            "order_changed",
            "order_delayed",
        }
    ),
    ContactRole.SHIPPING: frozenset({"order_shipped", "order_delivered", "order_delayed"}),
}


class BusinessContact(models.Model):
    """Someone at the business who gets copies of its order emails."""

    Role = ContactRole

    profile = models.ForeignKey(BusinessProfile, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200, blank=True)
    email = InternationalEmailField()
    role = models.CharField(max_length=20, choices=ContactRole.choices, default=ContactRole.SHIPPING)
    history = HistoricalRecords()

    class Meta:
        ordering = ["email"]
        verbose_name = "notification contact"
        constraints = [
            models.UniqueConstraint(fields=["profile", "email"], name="businesscontact_one_per_email"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.email}: {self.get_role_display().lower()}"


class SetupStep(models.TextChoices):
    PROFILE = "profile", "Profile (kind, account number)"
    WAREHOUSES = "warehouses", "Warehouses (default and excluded)"
    CARRIER = "carrier", "Carrier (preferred vendor and service)"
    PACKING = "packing", "Packing instructions"
    DOCUMENTS = "documents", "Documents (PO number, branding)"
    CONTACTS = "contacts", "Notification contacts"
    CREDIT = "credit", "Credit limit and payment terms"


class SetupCheck(models.Model):
    """One step of a business customer's setup: done or not, who said so and when (its history keeps each)."""

    Step = SetupStep

    profile = models.ForeignKey(BusinessProfile, on_delete=models.CASCADE, related_name="checks")
    step = models.CharField(max_length=20, choices=SetupStep.choices)
    done = models.BooleanField(default=False)
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_by_name = models.CharField("by", max_length=150)
    history = HistoricalRecords()

    class Meta:
        ordering = ["profile", "step"]
        verbose_name = "setup step"
        constraints = [
            models.UniqueConstraint(fields=["profile", "step"], name="setupcheck_one_per_step"),
            models.CheckConstraint(condition=Q(step__in=SetupStep.values), name="setupcheck_step_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_step_display()}: {'done' if self.done else 'not done'}"
