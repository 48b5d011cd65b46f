"""Products, warehouses, stock levels, the stock ledger, allocations, routing rules, counts, checks.

Invariants the database enforces: 0 <= allocated <= on_hand on every stock
level; a ledger movement is never zero and its sign matches its kind. The
services keep the rest: every change of on_hand is a movement (so the ledger
sums to on_hand), and allocated equals the sum of the allocation rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from . import geo


class Product(models.Model):
    """A sellable stock-keeping unit."""

    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    unit_cost = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        db_default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="What one unit costs us: write-offs are valued at it.",
    )
    weight_kg = models.DecimalField(
        "weight (kg)",
        max_digits=8,
        decimal_places=3,
        default=Decimal("0.500"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(condition=models.Q(weight_kg__gte=0), name="product_weight_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} · {self.name}"


def default_time_zone() -> str:
    """A new warehouse's time zone: the operations team's (``settings.TIME_ZONE``)."""
    return settings.TIME_ZONE


def validate_time_zone(name: str) -> None:
    """Refuse anything but an IANA time zone name (America/New_York, Europe/Paris, UTC)."""
    if name not in _known_time_zones():
        raise ValidationError(
            "%(name)s is not an IANA time zone name (e.g. America/New_York, America/Los_Angeles, UTC).",
            params={"name": name},
            code="invalid_time_zone",
        )


@functools.cache
def _known_time_zones() -> set[str]:
    return zoneinfo.available_timezones() | {"UTC"}


class Warehouse(models.Model):
    """A place that holds stock and ships orders; located by its postal code.

    Its cut-off (and its carriers' pickup cut-offs) are wall-clock times in
    its own ``time_zone``: ``local_now`` is the one place that turns an
    instant into the warehouse's clock.
    """

    code = models.CharField(max_length=10, unique=True, help_text="Short code, e.g. DAL.")
    name = models.CharField(max_length=100)
    address_line1 = models.CharField("address", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=50, blank=True)
    postal_code = models.CharField(max_length=20)
    country = models.CharField(max_length=2, default="US", help_text="ISO 3166-1 alpha-2.")
    latitude = models.FloatField(null=True, blank=True, editable=False)
    longitude = models.FloatField(null=True, blank=True, editable=False)
    is_active = models.BooleanField("active", default=True)
    priority = models.PositiveSmallIntegerField(
        default=1, help_text="Lower ships first; within one priority the nearest warehouse wins."
    )
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text="IANA name, e.g. America/New_York: the cut-off and pickup times are this zone's wall clock.",
    )
    daily_cutoff = models.TimeField(
        "daily cut-off",
        default=dt.time(15, 0),
        help_text="In the warehouse's time zone. Orders allocated after this start work the next working day.",
    )
    processing_days = models.PositiveSmallIntegerField(
        default=1,
        help_text="Working days from the start of work to pickup; 0: the same day if allocated before the cut-off.",
    )
    handling_cost = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="What picking and packing one shipment here costs, added to its label price when routing "
        "compares warehouses (landed cost).",
    )
    daily_order_capacity = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Orders routed here per day; when full the next-nearest takes them. Empty: no limit.",
    )
    label_format = models.CharField(
        max_length=3,
        choices=[("pdf", "PDF (4×6 in)"), ("zpl", "ZPL (thermal printer)")],
        default="pdf",
        help_text="How this warehouse prints shipping labels.",
    )

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} · {self.name}"

    def local_now(self, now: dt.datetime | None = None) -> dt.datetime:
        """``now`` (default: the current instant) on this warehouse's wall clock, DST included."""
        return timezone.localtime(now or timezone.now(), zoneinfo.ZoneInfo(self.time_zone))

    def locate(self) -> None:
        """Set the coordinates from the postal code; raises ValidationError for an unknown one."""
        try:
            self.latitude, self.longitude = geo.coordinates(self.postal_code, self.country)
        except geo.UnknownPostalCode as error:
            raise ValidationError({"postal_code": str(error)}) from None
        self.postal_code = geo.normalize_postal_code(self.postal_code, self.country)

    def clean(self) -> None:
        self.locate()

    @property
    def coordinates(self) -> tuple[float, float] | None:
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)


class StockLevel(models.Model):
    """How many units of one SKU a warehouse holds, and how many are promised to orders.

    on_hand and allocated change only through the stock services, each
    change of on_hand with a ledger movement.
    """

    # No single-column indexes: the (warehouse, product) and (product, warehouse) ones below serve both.
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_levels", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="stock_levels", db_index=False)
    on_hand = models.IntegerField(default=0, editable=False)
    allocated = models.IntegerField(default=0, editable=False)
    reorder_point = models.PositiveIntegerField(default=0, help_text="Reorder when on hand falls to this level.")
    bin_location = models.CharField("bin", max_length=30, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["warehouse__code", "product__sku"]
        permissions = [
            ("receive_stock", "Can receive stock"),
            ("adjust_stock", "Can adjust stock with a reason"),
            ("transfer_stock", "Can transfer stock between warehouses"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "product"], name="stocklevel_unique_per_warehouse"),
            models.CheckConstraint(
                condition=Q(allocated__gte=0) & Q(allocated__lte=F("on_hand")),
                name="stocklevel_allocated_within_on_hand",
            ),
        ]
        indexes = [models.Index(fields=["product", "warehouse"], name="stocklevel_product_idx")]

    def __str__(self) -> str:
        return f"{self.product.sku} @ {self.warehouse.code}"

    @property
    def available(self) -> int:
        return self.on_hand - self.allocated


class StockMovement(models.Model):
    """One line of the stock ledger: a signed change of on-hand, who made it and why."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"
        ADJUSTMENT = "adjustment", "Adjustment"
        SHIPMENT = "shipment", "Shipment"
        RETURN_RESTOCK = "return_restock", "Return restock"
        WRITE_OFF = "write_off", "Write-off"
        COUNT_CORRECTION = "count_correction", "Cycle-count correction"
        TRANSFER_OUT = "transfer_out", "Transfer out"
        TRANSFER_IN = "transfer_in", "Transfer in"

    INBOUND = (Kind.RECEIPT, Kind.RETURN_RESTOCK, Kind.TRANSFER_IN)
    OUTBOUND = (Kind.SHIPMENT, Kind.WRITE_OFF, Kind.TRANSFER_OUT)

    # No single-column indexes: movement_level_idx and movement_stock_time_idx lead with each.
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="movements", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="movements", db_index=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = models.IntegerField(help_text="Signed: positive adds to on hand, negative removes.")
    reason = models.TextField(blank=True)
    reference = models.CharField(max_length=100, blank=True, help_text="Shipment, return, transfer or document.")
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, null=True, blank=True, related_name="stock_movements"
    )
    cycle_count = models.ForeignKey(
        "CycleCount", on_delete=models.PROTECT, null=True, blank=True, related_name="movements"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField("by", max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="movement_not_zero"),
            models.CheckConstraint(
                condition=~Q(kind__in=["receipt", "return_restock", "transfer_in"]) | Q(quantity__gt=0),
                name="movement_inbound_positive",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["shipment", "write_off", "transfer_out"]) | Q(quantity__lt=0),
                name="movement_outbound_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["product", "warehouse", "-created_at"], name="movement_stock_time_idx"),
            models.Index(fields=["warehouse", "product"], name="movement_level_idx"),
            models.Index(F("created_at").desc(), name="movement_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity:+d} {self.product_id}@{self.warehouse_id}"


class Allocation(models.Model):
    """Units of one order line reserved in one warehouse (deleted when shipped or released)."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="allocations")
    # order_line and warehouse lead the unique constraint and allocation_level_idx: no index of their own.
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.CASCADE, related_name="allocations", db_index=False
    )
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="allocations", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="allocations")
    quantity = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="allocation_positive"),
            models.UniqueConstraint(fields=["order_line", "warehouse"], name="allocation_unique_line_warehouse"),
        ]
        indexes = [models.Index(fields=["warehouse", "product"], name="allocation_level_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id} @ {self.warehouse_id}"


class WarehouseDailyLoad(models.Model):
    """Orders routed to a warehouse on one (local) day, for its daily capacity."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="daily_loads")
    date = models.DateField()
    orders = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["warehouse", "date"], name="dailyload_unique")]

    def __str__(self) -> str:
        return f"{self.warehouse_id} on {self.date}: {self.orders} orders"


class SafetyStockRule(models.Model):
    """Units held back from one channel: it may not take a warehouse's last N units."""

    channel = models.ForeignKey("orders.Channel", on_delete=models.CASCADE, related_name="safety_stock_rules")
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.CASCADE, null=True, blank=True, help_text="Empty: every warehouse."
    )
    product = models.ForeignKey(Product, on_delete=models.CASCADE, null=True, blank=True, help_text="Empty: every SKU.")
    quantity = models.PositiveIntegerField(help_text="Units this channel may not allocate.")
    note = models.CharField(max_length=200, blank=True)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        verbose_name = "safety stock rule"

    def __str__(self) -> str:
        where = self.warehouse.code if self.warehouse_id else "all warehouses"
        what = self.product.sku if self.product_id else "every SKU"
        return f"{self.channel}: hold back {self.quantity} of {what} at {where}"

    @property
    def name(self) -> str:
        """How the order timeline names the rule: its note, else what it keeps where."""
        if self.note:
            return self.note
        what = self.product.sku if self.product_id else "of every SKU"
        where = self.warehouse.code if self.warehouse_id else "every warehouse"
        return f"keep {self.quantity} {what} at {where}"


class RoutingExclusion(models.Model):
    """Never route to this warehouse for the given channel and/or destination state."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="exclusions")
    channel = models.ForeignKey(
        "orders.Channel", on_delete=models.CASCADE, null=True, blank=True, help_text="Empty: every channel."
    )
    destination_state = models.CharField(max_length=50, blank=True, help_text="Empty: every destination.")
    reason = models.CharField(max_length=200)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        verbose_name = "warehouse exclusion"

    def __str__(self) -> str:
        scope = " and ".join(
            part
            for part in (
                f"channel {self.channel}" if self.channel_id else "",
                f"orders to {self.destination_state}" if self.destination_state else "",
            )
            if part
        )
        return f"Exclude {self.warehouse.code} for {scope or 'every order'}"


class CycleCount(models.Model):
    """A count of some bins/SKUs in one warehouse; approved counts post corrections."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="cycle_counts")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, editable=False)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    submitted_at = models.DateTimeField(null=True, blank=True, editable=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    rejection_reason = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("approve_cyclecount", "Can approve or reject cycle counts")]

    def __str__(self) -> str:
        return f"Count #{self.pk} at {self.warehouse.code}"


class CycleCountLine(models.Model):
    """One SKU/bin in a count: what the system expected when it was counted, and what was counted."""

    count = models.ForeignKey(CycleCount, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    bin_location = models.CharField("bin", max_length=30, blank=True)
    expected_quantity = models.IntegerField(null=True, blank=True, editable=False)
    counted_quantity = models.PositiveIntegerField(null=True, blank=True)
    counted_at = models.DateTimeField(null=True, blank=True, editable=False)
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        ordering = ["bin_location", "product__sku"]
        constraints = [models.UniqueConstraint(fields=["count", "product"], name="countline_unique_product")]

    def __str__(self) -> str:
        return f"{self.product.sku} in {self.bin_location or '—'}"

    @property
    def variance(self) -> int | None:
        if self.counted_quantity is None or self.expected_quantity is None:
            return None
        return self.counted_quantity - self.expected_quantity

    @property
    def variance_value(self) -> Decimal | None:
        """What the variance is worth at the product's unit cost (signed, like the variance)."""
        variance = self.variance
        if variance is None:
            return None
        return (variance * self.product.unit_cost).quantize(Decimal("0.01"))


class InventoryCheckRun(models.Model):
    """One run of the daily inventory check."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    triggered_by = models.CharField(max_length=150)
    finding_count = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "inventory check"

    def __str__(self) -> str:
        return f"Inventory check {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def took(self) -> str:
        """How long the run took, as a person reads it: "340 ms", "1.2 s", "2 min 5 s"; empty while running."""
        return human_duration(self.duration_ms)


def human_duration(milliseconds: int | None) -> str:
    """A duration in the largest units that keep it exact enough to read: 340 ms, 1.2 s, 14 s, 2 min 5 s, 1 h 3 min."""
    if milliseconds is None:
        return ""
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    if milliseconds < 10_000:
        return f"{milliseconds / 1000:.1f} s"
    seconds = round(milliseconds / 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class InventoryFinding(models.Model):
    """Something the daily check found wrong or worth acting on."""

    class Kind(models.TextChoices):
        LEDGER_MISMATCH = "ledger_mismatch", "Ledger does not sum to on hand"
        NEGATIVE_STOCK = "negative_stock", "Negative stock"
        OVER_ALLOCATED = "over_allocated", "Allocated more than on hand"
        ALLOCATION_MISMATCH = "allocation_mismatch", "Allocated differs from allocation rows"
        STALE_ALLOCATION = "stale_allocation", "Allocation left on a closed order"
        BELOW_REORDER_POINT = "below_reorder_point", "Below reorder point"
        BACKORDER_FILLABLE = "backorder_fillable", "Backorder could be filled elsewhere"
        COUNT_VARIANCE = "count_variance", "Large cycle-count variance"
        PARTNER_SNAPSHOT_STALE = "partner_snapshot_stale", "3PL stock snapshot stale"
        PARTNER_SNAPSHOT_VARIANCE = "partner_snapshot_variance", "3PL stock snapshot variance"

    class Severity(models.TextChoices):
        ERROR = "error", "Error"
        WARNING = "warning", "Warning"
        INFO = "info", "Info"

    run = models.ForeignKey(InventoryCheckRun, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    message = models.TextField()
    warehouse = models.ForeignKey(Warehouse, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    content_type = models.ForeignKey(ContentType, on_delete=models.SET_NULL, null=True, blank=True)
    object_id = models.CharField(max_length=40, blank=True)
    subject = GenericForeignKey("content_type", "object_id")
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "severity", "kind", "id"]
        indexes = [models.Index(fields=["run", "kind"], name="finding_run_kind_idx")]

    def __str__(self) -> str:
        return self.message


# --- CSV imports ----------------------------------------------------------------------
# The job is generic: what its rows mean, its kind's title and who may run it live in a
# handler registered by kind (inventory.imports.registry). Stock receipts are inventory's
# own; orders registers its handler, so inventory never names orders.


class ImportJob(models.Model):
    """One uploaded CSV file: checked in the background (a dry run), then imported on confirmation.

    The file's text is kept in the database, so any worker can read it. Counts
    and errors belong to the phase running now; the dry run's are copied to
    ``dry_run_report`` when the import is confirmed.
    """

    class Status(models.TextChoices):
        DRY_RUN_RUNNING = "dry_run_running", "Checking"
        DRY_RUN_DONE = "dry_run_done", "Checked, waiting for confirmation"
        IMPORTING = "importing", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    kind = models.CharField(
        max_length=20, editable=False, help_text="Which import handler reads the file (imports/registry.py)."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRY_RUN_RUNNING, editable=False)
    file_name = models.CharField(max_length=200, editable=False)
    content = models.TextField(editable=False, help_text="The file's text (UTF-8).")
    options = models.JSONField(default=dict, blank=True, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    uploaded_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    total_rows = models.PositiveIntegerField(default=0, editable=False, help_text="Data rows in the file.")
    processed_rows = models.PositiveIntegerField(default=0, editable=False)
    position = models.PositiveIntegerField(default=0, editable=False, help_text="Units done in this phase.")
    created_count = models.PositiveIntegerField(
        default=0, editable=False, help_text="Dry run: would be created. Import: created."
    )
    skipped_count = models.PositiveIntegerField(default=0, editable=False, help_text="Already imported before.")
    failed_count = models.PositiveIntegerField(default=0, editable=False, help_text="Units refused.")
    error_rows = models.JSONField(default=list, blank=True, editable=False, help_text="[{row, field, message}]")
    preview = models.JSONField(default=list, blank=True, editable=False)
    dry_run_report = models.JSONField(default=dict, blank=True, editable=False)
    failure = models.TextField(blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The lease (imports/services.py): each committed chunk moves it on; a running job whose lease ran
    # out has lost its task and is queued again from ``position``.
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text="Tries of the chunk at the current position (a committed chunk resets)."
    )

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        verbose_name = "CSV import"
        verbose_name_plural = "CSV imports"
        permissions = [
            ("import_stock_receipts", "Can import stock receipts from CSV"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed_rows__lte=F("total_rows")), name="importjob_progress_le_total"
            ),
        ]

    def __str__(self) -> str:
        from .imports.registry import kind_title

        return f"{kind_title(self.kind).capitalize()} import #{self.pk} ({self.file_name})"

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.DRY_RUN_RUNNING, self.Status.IMPORTING)

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 0 if self.is_running else 100
        return min(100, round(100 * self.processed_rows / self.total_rows))


# --- end CSV imports ---------------------------------------------------------------
