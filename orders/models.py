"""Channels, customers, addresses, orders, lines and the order timeline.

The order state machine lives here, beside the model, as one table:
``ORDER_TRANSITIONS``. ``Order.transition_to`` is the only code that changes
``Order.status``; services call it.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from oms_core.crypto import EncryptedTextField
from oms_core.emails import InternationalEmailField
from oms_core.origins import parse_origins, validate_origins

from .exceptions import InvalidTransition


def normalize_email(email: str) -> str:
    """Emails are matched case-insensitively, so they are stored lower-cased."""
    return email.strip().lower()


class Channel(models.Model):
    """A sales channel orders arrive from (web store, marketplace, phone...)."""

    class Kind(models.TextChoices):
        WEB_STORE = "web_store", "Web store"
        MARKETPLACE = "marketplace", "Marketplace"
        PHONE = "phone", "Phone"
        WHOLESALE = "wholesale", "Wholesale"
        RETAIL = "retail", "Retail store"

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.WEB_STORE)
    default_currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField("active", default=True)
    webhook_secret = EncryptedTextField(
        max_length=200,  # of the secret as entered; the column holds it encrypted, longer
        blank=True,
        db_default="",
        default="",
        help_text="The shared secret the storefront signs its webhooks with (Shopify: the app's client secret). "
        "Kept encrypted with OMS_SECRET_KEYS, because checking a signature needs it back.",
    )
    # The store's brand on every customer email of its orders; blank fields fall back to the settings
    # (OMS_BRAND_NAME, NOTIFICATIONS_FROM_EMAIL, NOTIFICATIONS_REPLY_TO, NOTIFICATIONS_BRAND).
    brand_name = models.CharField(
        max_length=100, blank=True, db_default="", default="", help_text="The store's name as customers know it."
    )
    sender_email = models.EmailField(
        "from address",
        blank=True,
        db_default="",
        default="",
        help_text="The address customer emails come from, e.g. orders@store.example.",
    )
    reply_to_email = models.EmailField(
        "reply-to address",
        blank=True,
        db_default="",
        default="",
        help_text="Where a customer's reply goes (the support inbox).",
    )
    support_email = models.EmailField(
        blank=True, db_default="", default="", help_text="The support address named in the emails."
    )
    store_url = models.URLField("store URL", blank=True, db_default="", default="")
    logo_url = models.URLField(
        "logo URL", blank=True, db_default="", default="", help_text="An image at a public address, shown atop emails."
    )
    brand_color = models.CharField(
        "brand colour",
        max_length=7,
        blank=True,
        db_default="",
        default="",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}\Z", "A colour as #rrggbb, e.g. #0f4c5c.")],
        help_text="The banner of the emails and of the customer's status page, as #rrggbb; blank: OMS_BRAND_COLOR.",
    )
    # The storefront snippet (the delivery date on a product page): a publishable key, public by design (it is in
    # the store's page source), read-only (it can ask the delivery promise, nothing else), answered only to pages
    # of these origins (CORS) and rate-limited per visitor. Issued, rotated and revoked in the console.
    publishable_key = models.CharField(
        "publishable key",
        max_length=40,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text="pk_…: the key the store's delivery-date snippet sends. Public; rotate it to stop an old page.",
    )
    publishable_key_issued_at = models.DateTimeField("publishable key issued", null=True, blank=True, editable=False)
    allowed_origins = models.TextField(
        "allowed origins",
        blank=True,
        db_default="",
        default="",
        validators=[validate_origins],
        help_text="The store's addresses whose pages may ask for delivery dates with the publishable key, one per "
        "line, e.g. https://shop.example (scheme, host and port; no path).",
    )

    history = HistoricalRecords(excluded_fields=["webhook_secret"])  # who changed what, when (the History button)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def origins(self) -> list[str]:
        """The allowed origins, normalised as browsers send them."""
        return parse_origins(self.allowed_origins)


class ChannelVariant(models.Model):
    """A storefront's product variant and the SKU it sells, for lines that arrive without a SKU."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="variants", db_index=False)
    variant_id = models.CharField("variant id", max_length=64, help_text="The storefront's variant id.")
    product = models.ForeignKey("inventory.Product", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200, blank=True, help_text="The storefront's name of the variant.")

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        verbose_name = "channel variant"
        ordering = ["channel", "variant_id"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "variant_id"], name="channelvariant_channel_variant_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.channel.code} variant {self.variant_id} → {self.product.sku}"


class ChannelApiKey(models.Model):
    """A key a channel sends as ``Authorization: Bearer <key>``; only its hash is kept."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="Where the key is used, e.g. 'storefront production'.")
    prefix = models.CharField(max_length=12, editable=False, help_text="The key's first characters, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        verbose_name = "channel API key"
        ordering = ["channel", "-created_at"]

    def __str__(self) -> str:
        return f"{self.channel.code}: {self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Customer(models.Model):
    """A person or business that places orders. Email is stored lower-cased."""

    name = models.CharField(max_length=200)
    email = InternationalEmailField(unique=True)  # josé@exämple.com too (RFC 6531/6532)
    phone = models.CharField(max_length=40, blank=True)
    accepts_marketing = models.BooleanField(
        default=False, help_text="Receives non-essential mail as well as order updates."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        # On PostgreSQL, migration 0002 adds a trigram index for name search.
        indexes = [models.Index(fields=["name", "id"], name="customer_name_idx")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    def clean(self) -> None:
        self.email = normalize_email(self.email)


class Address(models.Model):
    """A postal address: an entry of a customer's address book, or an order's own copy.

    An order's shipping and billing addresses are rows of their own (``customer`` is NULL), written
    when the order is placed and changed only by ``change_shipping_address``; editing a customer's
    address book (rows with ``customer`` set) never changes an order.
    """

    customer = models.ForeignKey(
        Customer,
        on_delete=models.CASCADE,
        related_name="addresses",
        null=True,
        blank=True,
        help_text="Set for an address-book entry; empty for an order's own address.",
    )
    name = models.CharField("recipient", max_length=200)
    company = models.CharField(max_length=200, blank=True)
    line1 = models.CharField("address line 1", max_length=200)
    line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField("state / region", max_length=50, blank=True)
    postal_code = models.CharField(max_length=20)
    country = models.CharField(max_length=2, default="US", help_text="ISO 3166-1 alpha-2.")
    phone = models.CharField(max_length=40, blank=True)

    class Meta:
        verbose_name_plural = "addresses"

    def __str__(self) -> str:
        return ", ".join(
            part for part in (self.name, self.line1, self.city, f"{self.state} {self.postal_code}".strip()) if part
        )


class OrderStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    ALLOCATED = "allocated", "Allocated"
    BACKORDERED = "backordered", "Backordered"
    ON_HOLD = "on_hold", "On hold"
    PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    CANCELLED = "cancelled", "Cancelled"


S = OrderStatus
# The order state machine: status -> the statuses it may move to.
# on_hold goes back to the status it was held from (Order.held_from_status).
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    S.RECEIVED: frozenset({S.ALLOCATED, S.BACKORDERED, S.ON_HOLD, S.CANCELLED}),
    S.ALLOCATED: frozenset({S.BACKORDERED, S.PARTIALLY_SHIPPED, S.SHIPPED, S.ON_HOLD, S.CANCELLED}),
    S.BACKORDERED: frozenset({S.ALLOCATED, S.PARTIALLY_SHIPPED, S.ON_HOLD, S.CANCELLED}),
    S.ON_HOLD: frozenset({S.RECEIVED, S.ALLOCATED, S.BACKORDERED, S.CANCELLED}),
    S.PARTIALLY_SHIPPED: frozenset({S.SHIPPED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
}
# Statuses in which nothing has shipped yet: hold and cancel are allowed here.
PRE_SHIPMENT_STATUSES = frozenset({S.RECEIVED, S.ALLOCATED, S.BACKORDERED, S.ON_HOLD})
# Statuses whose goods have not all left a warehouse: the promise can be missed.
OPEN_STATUSES = PRE_SHIPMENT_STATUSES | {S.PARTIALLY_SHIPPED}


class Order(models.Model):
    """A customer's order from one channel."""

    Status = OrderStatus

    # Derived from the primary key right after insert, so NULL for that moment only.
    number = models.CharField(max_length=20, unique=True, null=True, editable=False)  # noqa: DJ001
    # The (channel, external_id) unique constraint serves lookups by channel.
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="orders", db_index=False)
    external_id = models.CharField("channel order id", max_length=100, help_text="The order's id in its sales channel.")
    po_number = models.CharField(
        "customer reference (PO)",
        max_length=50,
        blank=True,
        db_default="",
        default="",
        help_text="The customer's own reference for the order, e.g. their purchase order number.",
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    shipping_address = models.ForeignKey(Address, on_delete=models.PROTECT, related_name="+")
    billing_address = models.ForeignKey(Address, on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.RECEIVED, editable=False)
    held_from_status = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True, editable=False)
    currency = models.CharField(max_length=3, default="USD")
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    shipping_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    tax_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    discount_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    grand_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0.00"))
    promised_date = models.DateField(
        "promised delivery date", null=True, blank=True, help_text="Delivery date promised to the customer."
    )
    payment_gateway = models.CharField(
        max_length=30, blank=True, db_default="", default="", help_text="The gateway the channel took payment with."
    )
    payment_token = models.CharField(
        max_length=200,
        blank=True,
        db_default="",
        default="",
        help_text="The gateway's token for the customer's payment method (never a card number).",
    )
    placed_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        permissions = [
            ("hold_order", "Can put orders on hold and release them"),
            ("cancel_order", "Can cancel orders"),
            ("change_order_address", "Can change an order's ship-to address"),
            ("edit_order_lines", "Can edit an order's items (quantities, lines added or removed)"),
            ("override_address_check", "Can ship to an address whose ZIP, city and state do not agree"),
            ("import_orders", "Can import orders from CSV"),
            ("view_cockpit", "Can see the operations cockpit"),
            ("change_shipments", "Can split, merge and move shipments before their labels are bought"),
            ("set_po_number", "Can set an order's customer reference (PO number)"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="order_external_id_unique_per_channel"),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="order_status_valid"),
            models.CheckConstraint(
                condition=Q(subtotal__gte=0)
                & Q(shipping_total__gte=0)
                & Q(tax_total__gte=0)
                & Q(discount_total__gte=0)
                & Q(grand_total__gte=0),
                name="order_totals_not_negative",
            ),
        ]
        indexes = [
            # The console's default list: newest first, keyset-friendly. What the cockpit counts of the orders
            # placed within a period (by day, channel, currency; revenue without the cancelled) comes from the
            # index alone on PostgreSQL (INCLUDE).
            models.Index(
                F("placed_at").desc(),
                F("id").desc(),
                include=["channel", "currency", "grand_total", "status"],
                name="order_placed_idx",
            ),
            models.Index(F("status"), F("placed_at").desc(), F("id").desc(), name="order_status_placed_idx"),
            # Late / at-risk queues: open orders by promised date, most overdue first.
            models.Index(
                fields=["promised_date", "id"],
                condition=Q(status__in=sorted(OPEN_STATUSES)),
                name="order_open_promise_idx",
            ),
            models.Index(fields=["external_id"], name="order_external_id_idx"),
        ]

    def __str__(self) -> str:
        return self.number or f"order #{self.pk}"

    @property
    def status_beneath_hold(self) -> str:
        """What the order is doing, a hold aside: on hold, the status it was held from (received when none was
        kept) — what releasing it returns it to, the list's progress and the customer's page show; else its
        status."""
        if self.status == OrderStatus.ON_HOLD:
            return self.held_from_status or OrderStatus.RECEIVED
        return self.status

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def can_transition_to(self, new_status: str) -> bool:
        return new_status in ORDER_TRANSITIONS[self.status]

    def transition_to(
        self,
        new_status: str,
        *,
        actor,
        message: str = "",
        data: dict | None = None,
    ) -> OrderEvent:
        """Move the order to ``new_status`` and write the timeline event.

        Raises InvalidTransition when the table does not allow the move.
        Callers (services) hold the order's row lock and the transaction.
        """
        event = self.apply_transition(new_status, actor=actor, message=message, data=data)
        self.save(update_fields=["status", "held_from_status", "updated_at"])
        event.save()
        return event

    def apply_transition(
        self,
        new_status: str,
        *,
        actor,
        message: str = "",
        data: dict | None = None,
    ) -> OrderEvent:
        """Check the move and make it in memory; return the timeline event, unsaved.

        ``transition_to`` saves both; batch services save many with bulk writes.
        """
        old_status = self.status
        if not self.can_transition_to(new_status):
            raise InvalidTransition(order=self, current=old_status, target=new_status)
        if new_status == OrderStatus.ON_HOLD:
            self.held_from_status = old_status
        elif old_status == OrderStatus.ON_HOLD:
            self.held_from_status = ""
        self.status = new_status
        self.updated_at = timezone.now()
        label_old = OrderStatus(old_status).label
        label_new = OrderStatus(new_status).label
        return OrderEvent.build(
            order=self,
            kind=OrderEvent.Kind.STATUS_CHANGED,
            actor=actor,
            message=message or f"{label_old} → {label_new}",
            data={"from": old_status, "to": new_status, **(data or {})},
        )


class OrderLine(models.Model):
    """One SKU on an order, with how much of it is allocated, shipped, returned."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("inventory.Product", on_delete=models.PROTECT, related_name="order_lines")
    sku = models.CharField("SKU", max_length=64, help_text="The SKU as ordered.")
    name = models.CharField(max_length=200)
    # The units the order still has: what was ordered less what was cancelled (``cancel_lines``).
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(0)])
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity_cancelled = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Units cancelled before they shipped (the order kept the rest)."
    )
    quantity_allocated = models.PositiveIntegerField(default=0)
    quantity_shipped = models.PositiveIntegerField(default=0)
    quantity_returned = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A line keeps at least one unit, shipped or cancelled: it was ordered.
            models.CheckConstraint(
                condition=Q(quantity__gte=0)
                & Q(quantity_cancelled__gte=0)
                & Q(quantity__gte=1 - F("quantity_cancelled")),
                name="orderline_quantity_positive",
            ),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orderline_price_not_negative"),
            models.CheckConstraint(
                condition=Q(quantity_allocated__gte=0)
                & Q(quantity_shipped__gte=0)
                & Q(quantity_allocated__lte=F("quantity") - F("quantity_shipped")),
                name="orderline_allocated_within_unshipped",
            ),
            models.CheckConstraint(
                condition=Q(quantity_shipped__lte=F("quantity")), name="orderline_shipped_within_quantity"
            ),
            models.CheckConstraint(
                condition=Q(quantity_returned__gte=0) & Q(quantity_returned__lte=F("quantity_shipped")),
                name="orderline_returned_within_shipped",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def quantity_ordered(self) -> int:
        """The units the customer ordered, those cancelled since included."""
        return self.quantity + self.quantity_cancelled

    @property
    def quantity_unallocated(self) -> int:
        return self.quantity - self.quantity_shipped - self.quantity_allocated


class HoldType(models.TextChoices):
    """Why an order or a shipment is held; each type has its own release permission (``release_<type>_hold``)."""

    FRAUD_REVIEW = "fraud_review", "Fraud review"
    ADDRESS_CHECK = "address_check", "Address check"
    PAYMENT = "payment", "Payment"
    CUSTOMER_REQUEST = "customer_request", "Customer request"
    STOCK = "stock", "Stock"
    CREDIT_RULE = "credit_rule", "Credit rule"


def release_permission(hold_type: str) -> str:
    """The permission (``app_label.codename``) that releases a hold of this type."""
    return f"orders.release_{hold_type}_hold"


class Hold(models.Model):
    """A typed hold on a whole order (``shipment`` empty) or on one of its shipments, open until released.

    An order-level hold is the order's ``on_hold`` status: the row says of which type, why, who put it on and who
    took it off (``orders.events.order_held`` / ``order_released`` / ``order_cancelled`` write both together). A
    shipment hold leaves the order's status alone: that shipment gets no label and does not ship while it is open;
    the rest of the order carries on. One open hold per order and one per shipment.
    """

    Type = HoldType

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="holds")
    shipment = models.ForeignKey(
        "shipping.Shipment", on_delete=models.CASCADE, null=True, blank=True, related_name="holds"
    )
    hold_type = models.CharField("type", max_length=20, choices=HoldType.choices)
    cause = models.CharField(
        max_length=20, blank=True, help_text="What put it on (an operator, a credit rule, the payment, …)."
    )
    reason = models.TextField()
    placed_at = models.DateTimeField(default=timezone.now)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    placed_by_name = models.CharField("placed by", max_length=150)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    released_by_name = models.CharField("released by", max_length=150, blank=True)
    release_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        permissions = [
            (f"release_{value}_hold", f"Can release {label.lower()} holds") for value, label in HoldType.choices
        ]
        constraints = [
            models.CheckConstraint(condition=Q(hold_type__in=HoldType.values), name="hold_type_valid"),
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(shipment__isnull=True, released_at__isnull=True),
                name="hold_one_open_per_order",
            ),
            models.UniqueConstraint(
                fields=["shipment"],
                condition=Q(shipment__isnull=False, released_at__isnull=True),
                name="hold_one_open_per_shipment",
            ),
        ]
        # The cockpit's holds by type and age: the open ones only.
        indexes = [
            models.Index(fields=["hold_type", "placed_at"], condition=Q(released_at__isnull=True), name="hold_open_idx")
        ]

    def __str__(self) -> str:
        where = f"shipment {self.shipment}" if self.shipment_id else f"order {self.order}"
        return f"{self.get_hold_type_display()} hold on {where}"

    @property
    def is_open(self) -> bool:
        return self.released_at is None

    @property
    def release_permission(self) -> str:
        return release_permission(self.hold_type)


class OrderEvent(models.Model):
    """One entry on an order's timeline: what happened, who did it, when."""

    class Kind(models.TextChoices):
        PLACED = "placed", "Placed"
        STATUS_CHANGED = "status_changed", "Status changed"
        ALLOCATION = "allocation", "Stock allocated"
        NOTE = "note", "Note"
        PROMISE_MISSED = "promise_missed", "Promise missed"
        SHIPMENT = "shipment", "Shipment"
        TRACKING = "tracking", "Tracking"
        PAYMENT = "payment", "Payment"
        CREDIT_CHECK = "credit_check", "Credit check"
        RETURN = "return", "Return"
        ORDER_ERROR = "order_error", "Order error"
        REFUND = "refund", "Refund"
        ADDRESS_CHANGED = "address_changed", "Address changed"
        STATUS_LINK = "status_link", "Status link"
        DELAY_NOTICE = "delay_notice", "Delay notice"
        LINES_CANCELLED = "lines_cancelled", "Items cancelled"
        LINES_EDITED = "lines_edited", "Items edited"

    # orderevent_order_time_idx (order, created_at) serves lookups by order.
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    message = models.TextField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField("by", max_length=150, help_text="The user, channel or system process that did it.")
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["order", "created_at"], name="orderevent_order_time_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message}"

    @classmethod
    def record(cls, *, order: Order, kind: str, actor, message: str, data: dict | None = None) -> OrderEvent:
        """Write a timeline event. ``actor`` is a user, a system label (str) or None."""
        event = cls.build(order=order, kind=kind, actor=actor, message=message, data=data)
        event.save()
        return event

    @classmethod
    def build(cls, *, order: Order, kind: str, actor, message: str, data: dict | None = None) -> OrderEvent:
        """A timeline event, not yet saved."""
        user = actor if getattr(actor, "is_authenticated", False) else None
        if user is not None:
            actor_name = user.get_username()
        elif isinstance(actor, str) and actor:
            actor_name = actor
        else:
            actor_name = "system"
        return cls(order=order, kind=kind, message=message, actor=user, actor_name=actor_name, data=data or {})


class OrderIntake(models.Model):
    """What a channel sent for an order, canonicalised: replays are compared with it.

    The same external id with the same payload is the same order; a different
    payload is a conflict whose differences are named from ``payload``.
    """

    class Source(models.TextChoices):
        API = "api", "API"
        WEBHOOK = "webhook", "Storefront webhook"
        CSV = "csv", "CSV import"
        ADMIN = "admin", "Admin"

    order = models.OneToOneField(Order, on_delete=models.CASCADE, primary_key=True, related_name="intake")
    source = models.CharField(max_length=10, choices=Source.choices)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the canonical payload.")
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    received_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.get_source_display()} intake of {self.order}"


class SavedOrderView(models.Model):
    """A filter of the order list a user saved under a name: one of their tabs above the list."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_order_views")
    name = models.CharField(max_length=60)
    query = models.CharField("query string", max_length=1000, help_text="The list's filters, as in its address.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "saved order view"
        ordering = ["user", "created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="savedorderview_user_name_uniq")]

    def __str__(self) -> str:
        return self.name


class OrderStatusLink(models.Model):
    """The link to an order's status page that its customer emails carry: no login, revocable.

    The token in the link is never stored: it is derived from ``nonce`` with
    the site's SECRET_KEY (``orders.services.status_links``), so every email
    of the order can carry the same link, and the page finds the link by the
    token's SHA-256 (``token_digest``). One live link an order; revoking it
    (``revoked_at``) makes the page answer 404 for it, and later emails carry
    a new one.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_links", db_index=False)
    nonce = models.CharField(max_length=64, editable=False, help_text="Random; the token is derived from it.")
    token_digest = models.CharField(max_length=64, unique=True, editable=False, help_text="SHA-256 of the token.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        verbose_name = "order status link"
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(revoked_at__isnull=True), name="orderstatuslink_one_live_per_order"
            ),
        ]
        # Revoked links are looked up by order (the live one by the constraint's index).
        indexes = [models.Index(fields=["order", "created_at"], name="orderstatuslink_order_idx")]

    def __str__(self) -> str:
        return f"Status link of {self.order_id}"


class OrderShippingFacts(models.Model):
    """What an order's shipments add up to, kept beside the order for the cockpit to read (``orders.cockpit.facts``).

    Derived, never edited: the shipments are the source of truth, and
    ``orders.services.refresh_shipping_facts`` computes an order's row again from them (and the order) in the
    transaction that changes them, or that ships or delivers the order. An order has a row while it has a
    shipment that is not cancelled. ``late_shipments`` compares local days in ``settings.TIME_ZONE``; after
    changing it, refresh every order's row.
    """

    order = models.OneToOneField(Order, on_delete=models.CASCADE, primary_key=True, related_name="shipping_facts")
    # The order's own, copied so that the cockpit reads one table: set when it is placed and never changed after
    # (channel, currency, total, placed, promised), or moved only by the services that refresh the facts (whether
    # its goods have all left, whether it is delivered: shipped and delivered are its last statuses).
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    currency = models.CharField(max_length=3)
    grand_total = models.DecimalField(max_digits=12, decimal_places=2)
    placed_at = models.DateTimeField()
    promised_date = models.DateField(null=True)
    goods_left = models.BooleanField(help_text="The order is shipped or delivered.")
    delivered = models.BooleanField(help_text="The order is delivered.")
    live_shipments = models.PositiveIntegerField(help_text="Shipments that are not cancelled.")
    late_shipments = models.PositiveIntegerField(
        help_text="Of those, how many left on a later local day than their planned pickup day."
    )
    shipping_cost = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, help_text="What those shipments cost (None when none has a cost)."
    )
    last_shipped_at = models.DateTimeField(null=True, help_text="When the last of those shipments left.")
    last_delivered_at = models.DateTimeField(null=True, help_text="When the last of those shipments arrived.")

    class Meta:
        verbose_name = "order's shipping facts"
        verbose_name_plural = "orders' shipping facts"
        # Each covers what the cockpit reads of a window's shipped or delivered orders (PostgreSQL): an index-only
        # scan reads the index's pages in order, where fetching the rows from the table read a page a row.
        indexes = [
            models.Index(
                fields=["last_shipped_at"],
                include=[
                    "goods_left",
                    "channel",
                    "currency",
                    "grand_total",
                    "placed_at",
                    "shipping_cost",
                    "live_shipments",
                    "late_shipments",
                ],
                condition=Q(last_shipped_at__isnull=False),
                name="shipfacts_shipped_idx",
            ),
            models.Index(
                fields=["last_delivered_at"],
                include=["delivered", "channel", "placed_at", "promised_date"],
                condition=Q(last_delivered_at__isnull=False),
                name="shipfacts_delivered_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Shipping facts of {self.order_id}"


class ShippedOrdersDay(models.Model):
    """The shipped orders of one local day, channel, currency and whole hour to ship, summed for the cockpit.

    A rollup of ``OrderShippingFacts``: an order counts on the local day (``settings.TIME_ZONE``) its last
    shipment left, once its goods have all left, under the whole hours from placed to that departure
    (rounded down). ``orders.services.cockpit_rollups`` keeps each row equal to the facts it sums, in the
    transaction that changes them; a row whose orders all moved away stays, at zero.
    """

    day = models.DateField()
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    currency = models.CharField(max_length=3)
    hours = models.IntegerField(help_text="Whole hours from placed to the last shipment leaving, rounded down.")
    orders = models.IntegerField(default=0)
    on_time = models.IntegerField(default=0, help_text="Orders none of whose shipments left after its pickup day.")
    split = models.IntegerField(default=0, help_text="Orders with more than one shipment that is not cancelled.")
    shipping_cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0, help_text="The orders' grand totals.")

    class Meta:
        verbose_name = "shipped orders of a day"
        verbose_name_plural = "shipped orders by day"
        constraints = [
            models.UniqueConstraint(fields=["day", "channel", "currency", "hours"], name="shippedday_key"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel_id} {self.currency} {self.hours} h: {self.orders}"


class DeliveredOrdersDay(models.Model):
    """The delivered orders of one local day, channel and whole hour to delivery, summed for the cockpit.

    A rollup of ``OrderShippingFacts`` like ``ShippedOrdersDay``: a delivered order counts on the local day its
    last shipment arrived, under the whole hours from placed to that arrival (rounded down); on time when that
    day is on or before its promised date, or none was promised.
    """

    day = models.DateField()
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    hours = models.IntegerField(help_text="Whole hours from placed to the last arrival, rounded down.")
    orders = models.IntegerField(default=0)
    on_time = models.IntegerField(default=0)

    class Meta:
        verbose_name = "delivered orders of a day"
        verbose_name_plural = "delivered orders by day"
        constraints = [
            models.UniqueConstraint(fields=["day", "channel", "hours"], name="deliveredday_key"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel_id} {self.hours} h: {self.orders}"


class CockpitRollupZone(models.Model):
    """The time zone the shipping facts' local days and the day rollups were last computed in (one row).

    Written by ``refresh_all_shipping_facts`` (the migration that made the rollups, ``manage.py
    refresh_shipping_facts``). The cockpit reads the rollups only while it names ``settings.TIME_ZONE``;
    otherwise it sums the facts themselves (right, slower) until the command is run.
    """

    time_zone = models.CharField(max_length=64)

    class Meta:
        verbose_name = "cockpit rollups' time zone"

    def __str__(self) -> str:
        return self.time_zone


class OrderDelayNotice(models.Model):
    """The customer was told (or, by an operator's choice, not told) that their order will arrive late.

    One row per order and new estimate (``orders.services.delay_notices``): the sweep that finds an order
    whose promise can no longer be met writes it with the customer's email in one transaction, so the same
    estimate is never told twice; a later estimate gets a row (and an email) of its own. An operator may
    suppress the notice of an order's current estimate before it goes out (``SUPPRESSED``: no email for
    that estimate). When no new date can be worked out (no carrier service can take the parcels) nothing
    is sent and the row waits for an operator (``REVIEW``) until one suppresses it or a date is told
    (``REPLACED``). The mark of a backorder whose backorder email already gave the new date points at that email.
    """

    class Cause(models.TextChoices):
        NOT_RESERVED = "not_reserved", "Not reserved by the warehouse's cut-off"
        BACKORDERED = "backordered", "Backordered"
        LABEL_LATE = "label_late", "Label not bought by the ship-by day"
        NO_SCAN = "no_scan", "No carrier scan a business day after pickup"
        CARRIER_EXCEPTION = "carrier_exception", "Carrier exception"
        TRANSIT_TOO_LONG = "transit_too_long", "Transit time no longer fits"
        OPERATOR = "operator", "Found by an operator"

    class State(models.TextChoices):
        SENT = "sent", "Customer told"
        SUPPRESSED = "suppressed", "Suppressed"
        REVIEW = "review", "To review"
        REPLACED = "replaced", "Replaced by a dated notice"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="delay_notices", db_index=False)
    cause = models.CharField(max_length=20, choices=Cause.choices)
    detail = models.CharField(max_length=300, blank=True, help_text="What was found, in words.")
    promised_date = models.DateField("promised date", help_text="The date the customer had been promised.")
    new_estimate = models.DateField("new estimate", null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField("customer told at", null=True, blank=True)
    message = models.ForeignKey(
        "notifications.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    suppressed_at = models.DateTimeField(null=True, blank=True)
    suppressed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    suppressed_reason = models.CharField(max_length=1000, blank=True)

    class Meta:
        verbose_name = "delay notice"
        ordering = ["-created_at", "-id"]
        permissions = [("suppress_delay_notice", "Can suppress an order's delay notice")]
        constraints = [
            # One notice per order and estimate, whoever writes it (two sweeps at once): the same date never twice.
            models.UniqueConstraint(fields=["order", "new_estimate"], name="delaynotice_one_per_estimate"),
            # One notice without a date (to review) per order.
            models.UniqueConstraint(
                fields=["order"], condition=Q(new_estimate__isnull=True), name="delaynotice_one_undated"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["sent", "suppressed", "review", "replaced"]), name="delaynotice_state"
            ),
        ]
        indexes = [models.Index(fields=["state", "-created_at"], name="delaynotice_state_idx")]

    def __str__(self) -> str:
        return f"Delay notice of {self.order} ({self.new_estimate or 'no date'})"


class CoverageRun(models.Model):
    """One computation of the network's coverage: the current network, a what-if beside it, a suggested site.

    Written by ``orders.coverage.start_coverage_run`` and worked out in the background
    (``orders.tasks.run_coverage``), which counts its progress here for the page's bar and keeps the figures.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    description = models.CharField(max_length=300, help_text="The demand and the changes tried, in words.")
    parameters = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=1)
    result = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    error = models.CharField(max_length=1000, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "network coverage run"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "done", "failed"]), name="coveragerun_status"
            ),
            models.CheckConstraint(
                condition=Q(progress_done__lte=F("progress_total")), name="coveragerun_progress_le_total"
            ),
        ]

    def __str__(self) -> str:
        return f"Coverage run {self.pk} · {self.description}"

    @property
    def is_running(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.RUNNING}

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(100, int(100 * self.progress_done / max(1, self.progress_total)))


# A business customer's profile, notification contacts and setup checklist, and the customer record's notes,
# tags, timeline and erasure record (modules of their own).
from .business_models import BusinessContact, BusinessProfile, SetupCheck  # noqa: E402, F401
from .customer_models import CustomerErasure, CustomerEvent, CustomerNote, CustomerTag  # noqa: E402, F401
