"""Shipping vendors (carriers), their services, rate cards and transit times;
shipments, parcels, tracking events and label batches.

Shipping sits above inventory and below orders: a shipment points at its
order by a string foreign key and keeps a snapshot of what its label needs
(order number, ship-to address), so that nothing here imports ``orders``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

ZONES = range(2, 9)
zone_validators = [MinValueValidator(min(ZONES)), MaxValueValidator(max(ZONES))]


class Vendor(models.Model):
    """A shipping vendor (carrier) we hold an account with."""

    class Adapter(models.TextChoices):
        TABLE_RATE = "table_rate", "Table rate (offline: our rate card, our tracking numbers)"

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    account_number = models.CharField(max_length=50, blank=True)
    contact_name = models.CharField(max_length=100, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=40, blank=True)
    is_active = models.BooleanField("active", default=True)
    adapter = models.CharField(max_length=30, choices=Adapter.choices, default=Adapter.TABLE_RATE)
    tracking_url_template = models.CharField(
        "tracking URL template",
        max_length=300,
        blank=True,
        help_text="Where customers follow a parcel; {tracking_number} is replaced, e.g. "
        "https://track.example.com/?n={tracking_number}",
    )
    tracking_prefix = models.CharField(
        max_length=12, blank=True, help_text="Tracking numbers start with this, e.g. 1Z or 9400."
    )
    tracking_digits = models.PositiveSmallIntegerField(
        default=12,
        validators=[MinValueValidator(6), MaxValueValidator(30)],
        help_text="Digits after the prefix, the last one a check digit.",
    )
    tracking_serial = models.BigIntegerField(default=0, editable=False)
    webhook_token_hash = models.CharField(max_length=64, blank=True, editable=False)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["name"]
        permissions = [("issue_webhook_token", "Can issue a vendor's tracking webhook token")]

    def __str__(self) -> str:
        return self.name

    def tracking_url(self, tracking_number: str) -> str:
        if not self.tracking_url_template or not tracking_number:
            return ""
        return self.tracking_url_template.replace("{tracking_number}", tracking_number)


class CarrierService(models.Model):
    """One of a vendor's services (ground, two-day, overnight...), with its rate card."""

    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="services")
    code = models.CharField(max_length=20, help_text="Printed big on the label, e.g. GROUND, 2DAY, NEXTDAY.")
    name = models.CharField(max_length=100)
    max_weight_kg = models.DecimalField(
        "max weight per parcel (kg)", max_digits=7, decimal_places=3, validators=[MinValueValidator(Decimal("0.001"))]
    )
    pickup_cutoff = models.TimeField(
        "pickup cut-off", default=dt.time(17, 0), help_text="Parcels ready after this leave the next working day."
    )
    fuel_surcharge_percent = models.DecimalField(
        "fuel surcharge %",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    is_active = models.BooleanField("active", default=True)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["vendor__name", "code"]
        verbose_name = "carrier service"
        constraints = [
            models.UniqueConstraint(fields=["vendor", "code"], name="service_code_unique_per_vendor"),
            models.CheckConstraint(condition=Q(max_weight_kg__gt=0), name="service_max_weight_positive"),
            models.CheckConstraint(
                condition=Q(fuel_surcharge_percent__gte=0) & Q(fuel_surcharge_percent__lte=100),
                name="service_fuel_surcharge_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor.name} {self.name}"


class TransitTime(models.Model):
    """Business days in transit from pickup to delivery, for one zone."""

    service = models.ForeignKey(CarrierService, on_delete=models.CASCADE, related_name="transit_times")
    zone = models.PositiveSmallIntegerField(validators=zone_validators)
    business_days = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["service", "zone"]
        constraints = [
            models.UniqueConstraint(fields=["service", "zone"], name="transit_unique_per_zone"),
            models.CheckConstraint(condition=Q(zone__gte=2) & Q(zone__lte=8), name="transit_zone_range"),
            models.CheckConstraint(condition=Q(business_days__gte=1), name="transit_days_positive"),
        ]

    def __str__(self) -> str:
        return f"zone {self.zone}: {self.business_days} days"


class Rate(models.Model):
    """One cell of a rate card: parcels up to ``max_weight_kg`` into ``zone`` cost ``price``."""

    service = models.ForeignKey(CarrierService, on_delete=models.CASCADE, related_name="rates")
    zone = models.PositiveSmallIntegerField(validators=zone_validators)
    max_weight_kg = models.DecimalField("weight up to (kg)", max_digits=7, decimal_places=3)
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["service", "zone", "max_weight_kg"]
        constraints = [
            models.UniqueConstraint(fields=["service", "zone", "max_weight_kg"], name="rate_unique_cell"),
            models.CheckConstraint(condition=Q(zone__gte=2) & Q(zone__lte=8), name="rate_zone_range"),
            models.CheckConstraint(condition=Q(max_weight_kg__gt=0), name="rate_weight_positive"),
            models.CheckConstraint(condition=Q(price__gte=0), name="rate_price_not_negative"),
        ]

    def __str__(self) -> str:
        return f"zone {self.zone} ≤ {self.max_weight_kg} kg: {self.price}"


class ShipmentStatus(models.TextChoices):
    AWAITING_LABEL = "awaiting_label", "Awaiting label"
    LABEL_CREATED = "label_created", "Label created"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERED = "delivered", "Delivered"
    EXCEPTION = "exception", "Exception"
    CANCELLED = "cancelled", "Cancelled"


SS = ShipmentStatus
# The shipment state machine: status -> the statuses it may move to.
SHIPMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    SS.AWAITING_LABEL: frozenset({SS.LABEL_CREATED, SS.CANCELLED}),
    SS.LABEL_CREATED: frozenset({SS.AWAITING_LABEL, SS.IN_TRANSIT, SS.CANCELLED}),
    SS.IN_TRANSIT: frozenset({SS.IN_TRANSIT, SS.DELIVERED, SS.EXCEPTION}),
    SS.EXCEPTION: frozenset({SS.IN_TRANSIT, SS.DELIVERED, SS.EXCEPTION}),
    SS.DELIVERED: frozenset(),
    SS.CANCELLED: frozenset(),
}
# Shipments whose goods have not left the warehouse yet.
UNSHIPPED_STATUSES = frozenset({SS.AWAITING_LABEL, SS.LABEL_CREATED})


class ShipmentCostRisk(models.TextChoices):
    """The margin guard's verdict on a shipment's order (``shipping.margin``)."""

    WITHIN = "", "Within limits"
    AT_RISK = "at_risk", "At risk, awaiting approval"
    APPROVED = "approved", "At risk, approved"


class Shipment(models.Model):
    """Goods of one order leaving one warehouse together, by one carrier service."""

    Status = ShipmentStatus
    CostRisk = ShipmentCostRisk

    class LabelFormat(models.TextChoices):
        PDF = "pdf", "PDF (4×6 in)"
        ZPL = "zpl", "ZPL (thermal printer)"

    number = models.CharField(max_length=30, unique=True)
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="shipments")
    order_number = models.CharField(max_length=20, help_text="The order's number, as printed on the label.")
    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.PROTECT, related_name="shipments")
    service = models.ForeignKey(
        CarrierService, on_delete=models.PROTECT, null=True, blank=True, related_name="shipments"
    )
    status = models.CharField(
        max_length=20, choices=ShipmentStatus.choices, default=ShipmentStatus.AWAITING_LABEL, editable=False
    )
    ship_to = models.JSONField(help_text="The address as it was when the shipment was made.")
    # The order's promised date, copied when the shipment is made; whatever changes the order's promise changes
    # its open shipments' too (the cockpit counts on-time deliveries by this copy, from an index).
    promised_date = models.DateField(null=True, blank=True)
    estimated_delivery = models.DateField("estimated delivery", null=True, blank=True)
    ship_date = models.DateField("planned pickup", null=True, blank=True)
    zone = models.PositiveSmallIntegerField(null=True, blank=True)
    shipping_cost = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    choice_reason = models.TextField(blank=True)
    cost_risk = models.CharField(
        "shipping cost",
        max_length=10,
        choices=ShipmentCostRisk.choices,
        default=ShipmentCostRisk.WITHIN,
        db_default=ShipmentCostRisk.WITHIN,
        blank=True,
        editable=False,
    )
    # The margin guard's figures when it flagged the order: cost, order value, paid, limits and why.
    cost_risk_figures = models.JSONField(default=dict, db_default={}, blank=True, editable=False)
    cost_approved_by = models.CharField(max_length=150, blank=True, default="", db_default="", editable=False)
    cost_approved_at = models.DateTimeField(null=True, blank=True, editable=False)
    options = models.JSONField(default=list, blank=True, help_text="The services considered, with price and ETA.")
    label_format = models.CharField(max_length=3, choices=LabelFormat.choices, default=LabelFormat.PDF)
    label_file = models.FileField(upload_to="labels/%Y/%m/", blank=True)
    label_rendered_at = models.DateTimeField(null=True, blank=True)
    label_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("print_labels", "Can buy, print, reprint and void labels"),
            ("ship_shipment", "Can mark shipments shipped"),
            ("record_tracking", "Can record tracking events by hand"),
            ("override_carrier", "Can override the chosen carrier service"),
            ("approve_shipping_cost", "Can approve a shipping cost at risk"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ShipmentStatus.values), name="shipment_status_valid"),
            models.CheckConstraint(
                condition=Q(shipping_cost__isnull=True) | Q(shipping_cost__gte=0), name="shipment_cost_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="shipment_status_idx"),
            models.Index(fields=["warehouse", "status"], name="shipment_warehouse_idx"),
            # The operations cockpit (orders.cockpit): shipments handed to a carrier or delivered within a period,
            # counted by warehouse and service from the index alone (PostgreSQL: INCLUDE), and a warehouse's orders
            # read from the index alone (bench/README.md, the cockpit).
            models.Index(
                fields=["shipped_at"],
                include=["warehouse", "service", "status", "ship_date"],
                condition=Q(shipped_at__isnull=False),
                name="shipment_shipped_at_idx",
            ),
            models.Index(
                fields=["delivered_at"],
                include=["warehouse", "service", "promised_date"],
                condition=Q(delivered_at__isnull=False),
                name="shipment_delivered_at_idx",
            ),
            models.Index(fields=["order", "warehouse", "status"], name="shipment_order_scope_idx"),
            # The console home's "shipping cost at risk": few rows, found without reading the others.
            models.Index(fields=["status"], condition=Q(cost_risk="at_risk"), name="shipment_cost_at_risk_idx"),
        ]

    def __str__(self) -> str:
        return self.number

    def can_transition_to(self, new_status: str) -> bool:
        return new_status in SHIPMENT_TRANSITIONS[self.status]

    @property
    def weight_kg(self) -> Decimal:
        return sum((parcel.weight_kg for parcel in self.parcels.all()), Decimal("0"))


class ShipmentLine(models.Model):
    """Units of one order line in a shipment."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="shipment_lines")
    product = models.ForeignKey("inventory.Product", on_delete=models.PROTECT, related_name="+")
    sku = models.CharField("SKU", max_length=64)
    name = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="shipmentline_quantity_positive"),
            models.UniqueConstraint(fields=["shipment", "order_line"], name="shipmentline_unique_per_line"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


class Parcel(models.Model):
    """One box of a shipment, with its own label and tracking number."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="parcels")
    index = models.PositiveSmallIntegerField(help_text="Parcel i of n.")
    weight_kg = models.DecimalField("weight (kg)", max_digits=8, decimal_places=3)
    length_cm = models.PositiveSmallIntegerField(default=30)
    width_cm = models.PositiveSmallIntegerField(default=20)
    height_cm = models.PositiveSmallIntegerField(default=15)
    tracking_number = models.CharField(max_length=40, unique=True, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["shipment", "index"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "index"], name="parcel_unique_index"),
            models.CheckConstraint(condition=Q(weight_kg__gt=0), name="parcel_weight_positive"),
        ]

    def __str__(self) -> str:
        return self.tracking_number or f"{self.shipment} parcel {self.index}"

    @property
    def dimensions(self) -> str:
        return f"{self.length_cm}×{self.width_cm}×{self.height_cm} cm"


class TrackingEvent(models.Model):
    """A carrier scan or a status set by hand; replays of the same event are ignored."""

    class Source(models.TextChoices):
        WEBHOOK = "webhook", "Carrier webhook"
        ADMIN = "admin", "By hand"
        SYSTEM = "system", "System"

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="tracking_events")
    tracking_number = models.CharField(max_length=40)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices)
    description = models.CharField(max_length=300, blank=True)
    location = models.CharField(max_length=100, blank=True)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=10, choices=Source.choices)
    recorded_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tracking_number", "status", "occurred_at"], name="tracking_event_unique_replay"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tracking_number}: {self.get_status_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"


class LabelBatch(models.Model):
    """Many shipments' labels as one document, rendered in the background."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    shipments = models.ManyToManyField(Shipment, related_name="label_batches")
    label_format = models.CharField(max_length=3, choices=Shipment.LabelFormat.choices, default="pdf")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, editable=False)
    label_count = models.PositiveIntegerField(default=0, editable=False)
    rendered_count = models.PositiveIntegerField(default=0, editable=False)
    file = models.FileField(upload_to="label-batches/%Y/%m/", blank=True, editable=False)
    error = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(
        "last worked on", null=True, blank=True, editable=False, help_text="When a worker last made progress."
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "label batch"
        verbose_name_plural = "label batches"

    def __str__(self) -> str:
        return f"Label batch #{self.pk} ({self.label_count} label{'s' if self.label_count != 1 else ''})"

    @property
    def progress_percent(self) -> int:
        if not self.label_count:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.rendered_count / self.label_count))


class LabelBatchChunk(models.Model):
    """A slice of a batch's labels, rendered by one task; the last one done joins them."""

    batch = models.ForeignKey(LabelBatch, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    shipment_ids = models.JSONField()
    label_count = models.PositiveIntegerField()
    file = models.FileField(upload_to="label-batches/parts/", blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    # The lease (services/labels.py): the task rendering this part holds ``claim`` and keeps moving
    # ``lease_until`` on as it renders; a part queued or claimed whose lease ran out is queued again.
    claim = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Renderings started.")

    class Meta:
        ordering = ["batch", "index"]
        constraints = [models.UniqueConstraint(fields=["batch", "index"], name="labelchunk_unique_index")]

    def __str__(self) -> str:
        return f"{self.batch} part {self.index}"


class LaneDelivery(models.Model):
    """One delivered shipment as promise accuracy counts it: its lane, its dates, on time or late.

    A lane is warehouse → 3-digit destination ZIP, by one carrier service.
    ``promised_date`` is the order's promised date, else the delivery date
    carrier choice gave; ``transit_days`` the business days from the day the
    carrier had it (its first scan, else the hand-over) to the delivery day,
    both on the warehouse's clock.
    """

    shipment = models.OneToOneField(Shipment, on_delete=models.CASCADE, related_name="lane_delivery")
    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.CASCADE, related_name="+")
    destination_zip3 = models.CharField("destination ZIP (3 digits)", max_length=3)
    service = models.ForeignKey(CarrierService, on_delete=models.CASCADE, related_name="+")
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="+")
    shipped_on = models.DateField()
    delivered_on = models.DateField()
    promised_date = models.DateField(null=True, blank=True)
    transit_days = models.PositiveSmallIntegerField(help_text="Business days from pickup to delivery.")
    on_time = models.BooleanField(null=True, help_text="Delivered on or before the promised date; empty: no date.")

    class Meta:
        ordering = ["-delivered_on", "-id"]
        indexes = [
            models.Index(fields=["warehouse", "destination_zip3", "service", "delivered_on"], name="lanedelivery_lane"),
            models.Index(fields=["delivered_on"], name="lanedelivery_delivered_on"),
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id}: {self.destination_zip3} in {self.transit_days} d"


class Lane(models.Model):
    """A lane's figures over its recent deliveries, refreshed on each delivery and nightly.

    ``learned_days`` is the percentile transit time once the lane has enough
    deliveries (``SHIPPING_LANE_MIN_DELIVERIES``); the promise and carrier
    choice then use it instead of the rate card's days.
    """

    warehouse = models.ForeignKey("inventory.Warehouse", on_delete=models.CASCADE, related_name="+")
    destination_zip3 = models.CharField("destination ZIP (3 digits)", max_length=3)
    service = models.ForeignKey(CarrierService, on_delete=models.CASCADE, related_name="lanes")
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="+")
    deliveries = models.PositiveIntegerField(default=0)
    promised = models.PositiveIntegerField(default=0, help_text="Deliveries with a promised date.")
    on_time = models.PositiveIntegerField(default=0, help_text="Of those, delivered on or before it.")
    transit_median = models.PositiveSmallIntegerField(null=True, blank=True)
    transit_percentile = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Business days within which the percentile's share of deliveries arrived."
    )
    learned_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Transit days the promise uses; empty: the rate card's, too few deliveries."
    )
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["warehouse", "destination_zip3", "service"]
        verbose_name = "lane"
        verbose_name_plural = "promise accuracy by lane"
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "destination_zip3", "service"], name="lane_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.warehouse_id} → {self.destination_zip3} by {self.service_id}"

    @property
    def hit_rate(self) -> Decimal | None:
        """Share of promised deliveries on time, in percent (one decimal)."""
        if not self.promised:
            return None
        return (Decimal(self.on_time * 100) / self.promised).quantize(Decimal("0.1"))
