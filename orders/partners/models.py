"""Connections to the 3PLs that run some of our warehouses, the messages exchanged with them, and releases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from oms_core.crypto import EncryptedTextField


class PartnerConnection(models.Model):
    """How one warehouse is operated by a 3PL: the wire, the shared secret, the mappings, and its health."""

    class Kind(models.TextChoices):
        REST = "rest", "REST and webhooks"
        CSV_SFTP = "csv_sftp", "CSV files over SFTP"
        X12_SFTP = "x12_sftp", "X12 EDI over SFTP"

    code = models.SlugField(
        max_length=30, unique=True, help_text="In the webhook's address: /api/v1/partners/<code>/webhook."
    )
    name = models.CharField(max_length=100)
    warehouse = models.OneToOneField(
        "inventory.Warehouse",
        on_delete=models.PROTECT,
        related_name="partner_connection",
        help_text="The warehouse this 3PL runs: routing reserves its stock, the 3PL picks, packs and ships.",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.REST)
    endpoint = models.CharField(
        max_length=500,
        help_text="REST: the partner's base URL (messages are POSTed to <endpoint>/messages). "
        "File drop: the server and folder, e.g. sftp://host/oms.",
    )
    secret = EncryptedTextField(
        max_length=200,  # of the secret as entered; the column holds it encrypted, longer
        blank=True,
        default="",
        help_text="The shared secret both sides sign messages with (HMAC-SHA256). "
        "Kept encrypted with OMS_SECRET_KEYS, because signing needs it back.",
    )
    service_levels = models.JSONField(
        "service-level mapping",
        default=dict,
        blank=True,
        help_text='Our carrier service → the partner\'s code, e.g. {"budget/GROUND": "STD", "rapid/2DAY": "EXP2"} '
        "(vendor code / service code). A service not listed is sent as its own code.",
    )
    sku_map = models.JSONField(
        "SKU mapping",
        default=dict,
        blank=True,
        help_text='Our SKU → the partner\'s item code, e.g. {"TEE-M": "NW-TEE-M"}. A SKU not listed is sent as is.',
    )
    ack_deadline_minutes = models.PositiveIntegerField(
        "acknowledgement deadline (minutes)",
        default=60,
        help_text="A release the partner has not acknowledged this long after it was sent is flagged for ops.",
    )
    # file drop (CSV or X12 over SFTP)
    sftp_host = models.CharField("SFTP host", max_length=200, blank=True, default="")
    sftp_port = models.PositiveIntegerField("SFTP port", default=22)
    sftp_username = models.CharField("SFTP user", max_length=100, blank=True, default="")
    sftp_host_key = models.CharField(
        "SFTP host key fingerprint",
        max_length=300,
        blank=True,
        default="",
        help_text="The server's host key as `ssh-keygen -lf` prints it (SHA256:...); several, comma-separated, "
        "while the partner rotates its key. Any other key is refused before a credential is sent.",
    )
    sftp_password = EncryptedTextField(
        "SFTP password",
        blank=True,
        default="",
        help_text="Kept encrypted with OMS_SECRET_KEYS. Prefer a private key.",
    )
    sftp_private_key = EncryptedTextField(
        "SFTP private key",
        blank=True,
        default="",
        help_text="OpenSSH or PEM text (Ed25519, ECDSA or RSA), kept encrypted with OMS_SECRET_KEYS. A key file "
        "named for this connection in PARTNER_SFTP_KEY_FILES is used instead when set.",
    )
    drop_folder = models.CharField(
        "drop folder",
        max_length=200,
        blank=True,
        default="",
        help_text="The folder on the server that holds in/, out/, processed/ and failed/ (blank: the login's home).",
    )
    # X12 EDI (x12_sftp)
    x12_version = models.CharField(
        "X12 version", max_length=6, choices=[("004010", "004010"), ("005010", "005010")], default="004010"
    )
    x12_our_qualifier = models.CharField("our ISA qualifier", max_length=2, default="ZZ")
    x12_our_id = models.CharField("our ISA id", max_length=15, blank=True, default="")
    x12_their_qualifier = models.CharField("partner's ISA qualifier", max_length=2, default="ZZ")
    x12_their_id = models.CharField("partner's ISA id", max_length=15, blank=True, default="")
    x12_test = models.BooleanField("X12 test mode", default=False, help_text="ISA15 T instead of P.")
    is_active = models.BooleanField("active", default=True)
    # health, written by the services
    last_outbound_at = models.DateTimeField("last message out", null=True, blank=True, editable=False)
    last_inbound_at = models.DateTimeField("last message in", null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_snapshot_as_of = models.DateTimeField("last stock snapshot as of", null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        permissions = [("manage_partnerconnection", "Can manage 3PL connections")]

    def __str__(self) -> str:
        return f"{self.name} ({self.warehouse.code})" if self.warehouse_id else self.name

    def clean(self) -> None:
        from django.conf import settings

        if self.kind not in settings.PARTNER_TRANSPORTS:
            raise ValidationError(
                {"kind": f"No transport for {self.get_kind_display()} is installed (PARTNER_TRANSPORTS)."}
            )
        for name in ("service_levels", "sku_map"):
            value = getattr(self, name)
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and k and v for k, v in value.items()
            ):
                raise ValidationError({name: 'Give an object of text to text, e.g. {"TEE-M": "NW-TEE-M"}.'})
        if self.kind in (self.Kind.CSV_SFTP, self.Kind.X12_SFTP):
            missing = [
                name for name in ("sftp_host", "sftp_username", "sftp_host_key") if not getattr(self, name).strip()
            ]
            if missing:
                raise ValidationError(dict.fromkeys(missing, "Required for a file-drop connection."))
            if not any(value.strip().startswith("SHA256:") for value in self.sftp_host_key.split(",")):
                raise ValidationError(
                    {"sftp_host_key": "Give the SHA256:... fingerprint, as ssh-keygen -lf prints it."}
                )
        if self.kind == self.Kind.X12_SFTP:
            missing = [name for name in ("x12_our_id", "x12_their_id") if not getattr(self, name).strip()]
            if missing:
                raise ValidationError(dict.fromkeys(missing, "Required for an X12 connection."))

    def partner_sku(self, sku: str) -> str:
        return self.sku_map.get(sku, sku)

    def our_skus(self) -> dict[str, str]:
        """The partner's item code → our SKU."""
        return {partner: ours for ours, partner in self.sku_map.items()}

    def ack_deadline(self, sent_at: dt.datetime) -> dt.datetime:
        return sent_at + dt.timedelta(minutes=self.ack_deadline_minutes)


class Direction(models.TextChoices):
    OUT = "out", "Out (to the 3PL)"
    IN = "in", "In (from the 3PL)"


class MessageKind(models.TextChoices):
    ITEM_SYNC = "item_sync", "Item sync"
    RELEASE = "release", "Order release"
    CHANGE = "change", "Change request"
    CANCEL = "cancel", "Cancel request"
    SHIP_CONFIRMATION = "ship_confirmation", "Ship confirmation"
    STOCK_SNAPSHOT = "stock_snapshot", "Stock snapshot"
    RECEIPT = "receipt", "Receipt"
    RETURN_RECEIPT = "return_receipt", "Return receipt"
    ACK = "ack", "Acknowledgement"


OUTBOUND_KINDS = (MessageKind.ITEM_SYNC, MessageKind.RELEASE, MessageKind.CHANGE, MessageKind.CANCEL)
INBOUND_KINDS = (
    MessageKind.SHIP_CONFIRMATION,
    MessageKind.STOCK_SNAPSHOT,
    MessageKind.RECEIPT,
    MessageKind.RETURN_RECEIPT,
    MessageKind.ACK,
)


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed, will retry"
    DEAD = "dead", "Dead letter"
    APPLIED = "applied", "Applied"
    EXCEPTION = "exception", "Exception (ops)"


# Outbound messages the sender picks up; inbound ones still to apply.
DUE_STATUSES = (MessageStatus.QUEUED, MessageStatus.FAILED)


class PartnerMessage(models.Model):
    """One message to or from a 3PL, with its payload as sent or received and what became of it."""

    connection = models.ForeignKey(PartnerConnection, on_delete=models.PROTECT, related_name="messages")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    kind = models.CharField("type", max_length=20, choices=MessageKind.choices)
    key = models.CharField(
        max_length=150,
        help_text="Outbound: our idempotency key, the message id the partner sees (e.g. release:SHP-0001:v1). "
        "Inbound: the partner's message id.",
    )
    release = models.ForeignKey(
        "PartnerRelease", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, default="")
    outcome = models.TextField(blank=True, default="", help_text="What applying it did, or the partner's answer.")
    envelope = models.JSONField(
        default=dict,
        blank=True,
        help_text="How it travelled: the file name and row (file drop), the X12 control numbers.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # the partner's de-duplication id, and our idempotency key: each once per connection and direction
            models.UniqueConstraint(fields=["connection", "direction", "key"], name="partner_message_key_once"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="partner_message_due_idx"),
        ]
        permissions = [
            ("resend_partnermessage", "Can resend 3PL messages"),
            ("edit_partnermessage_payload", "Can fix a dead 3PL message's payload"),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display().split(' ')[0]} {self.get_kind_display().lower()} {self.key}"


class ReleaseState(models.TextChoices):
    RELEASED = "released", "Released"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    CANCEL_REQUESTED = "cancel_requested", "Cancel requested"
    CANCELLED = "cancelled", "Cancelled"
    SHIPPED = "shipped", "Shipped"


# Releases the partner may still ship.
OPEN_RELEASE_STATES = (ReleaseState.RELEASED, ReleaseState.ACKNOWLEDGED, ReleaseState.ACCEPTED)


class PartnerRelease(models.Model):
    """A shipment handed to the 3PL that runs its warehouse, and where the partner stands with it."""

    connection = models.ForeignKey(PartnerConnection, on_delete=models.PROTECT, related_name="releases")
    shipment = models.OneToOneField("shipping.Shipment", on_delete=models.PROTECT, related_name="partner_release")
    state = models.CharField(max_length=20, choices=ReleaseState.choices, default=ReleaseState.RELEASED)
    version = models.PositiveIntegerField(default=1, help_text="Raised by each change request.")
    released_at = models.DateTimeField(default=timezone.now)
    ack_due_at = models.DateTimeField("acknowledgement due")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    overdue = models.BooleanField(
        "acknowledgement overdue", default=False, help_text="Not acknowledged by its deadline: ops should chase it."
    )
    partner_reference = models.CharField(max_length=100, blank=True, default="")
    note = models.TextField(blank=True, default="", help_text="The partner's last reason (a rejection, a refusal).")
    shipped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-released_at", "-pk"]
        indexes = [models.Index(fields=["state", "ack_due_at"], name="partner_release_ack_idx")]
        permissions = [("request_partnerrelease", "Can send change and cancel requests to a 3PL")]

    def __str__(self) -> str:
        return f"Release of {self.shipment.number}" if self.shipment_id else "Release"


class StockSnapshot(models.Model):
    """What one applied stock snapshot found against our book: the daily inventory check reads the last one.

    Written by the snapshot's message when it is applied (an older one, ignored, writes none). The units and
    value are the differences against our on hand at the snapshot's time, before anything was adjusted; those
    waiting for a manager are in ``cycle_count`` while it is submitted.
    """

    connection = models.ForeignKey(PartnerConnection, on_delete=models.CASCADE, related_name="snapshots")
    message = models.OneToOneField(PartnerMessage, on_delete=models.CASCADE, related_name="snapshot")
    as_of = models.DateTimeField()
    applied_at = models.DateTimeField(default=timezone.now)
    skus = models.PositiveIntegerField("SKUs reported", default=0)
    skus_differing = models.PositiveIntegerField("SKUs differing", default=0)
    units_over = models.PositiveIntegerField(default=0, help_text="Units the 3PL counts above our book.")
    units_short = models.PositiveIntegerField(default=0, help_text="Units the 3PL counts below our book.")
    value_difference = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        default=Decimal("0.00"),
        help_text="Each SKU's difference, either way, × its unit cost.",
    )
    units_adjusted = models.PositiveIntegerField(default=0, help_text="Differences adjusted at once, in units.")
    skus_waiting = models.PositiveIntegerField("SKUs waiting for a manager", default=0)
    units_waiting = models.PositiveIntegerField("units waiting for a manager", default=0)
    cycle_count = models.ForeignKey(
        "inventory.CycleCount",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The count the larger differences wait in for a manager's approval.",
    )

    class Meta:
        ordering = ["-as_of", "-pk"]
        indexes = [models.Index(fields=["connection", "-as_of"], name="partner_snapshot_latest_idx")]

    def __str__(self) -> str:
        return f"Snapshot as of {self.as_of:%Y-%m-%d %H:%M}"


class ControlNumber(models.Model):
    """The last X12 control number used with a partner, per kind (interchange, group, transaction set)."""

    connection = models.ForeignKey(PartnerConnection, on_delete=models.CASCADE, related_name="control_numbers")
    kind = models.CharField(max_length=20)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "kind"], name="partner_control_number_once")]

    def __str__(self) -> str:
        return f"{self.connection_id} {self.kind} {self.last}"


class DeadLetterManager(models.Manager):
    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .filter(
                models.Q(direction=Direction.OUT, status=MessageStatus.DEAD)
                | models.Q(direction=Direction.IN, status=MessageStatus.EXCEPTION)
            )
        )


class DeadLetter(PartnerMessage):
    """The messages ops must look at: outbound ones that could not be delivered, inbound ones not applied."""

    objects = DeadLetterManager()

    class Meta:
        proxy = True
        verbose_name = "dead letter"
        verbose_name_plural = "dead letters and exceptions"
        ordering = ["-created_at", "-pk"]
