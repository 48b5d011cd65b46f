"""The outbox of customer and ops messages, template overrides, ops recipient lists.

A ``Message`` row is written in the same transaction as the change that
causes it and carries a JSON snapshot of what its templates show, so this
app never reads the models of the apps above it. Its life:

    pending ──claim──► sending ──SMTP accepted──► sent
       ▲                  │ SMTP refused/unreachable
       └── retry (backoff)┤
                          └── attempts used up / permanent refusal ──► failed ──resend──► pending
"""

from __future__ import annotations

import uuid
from email.utils import parseaddr
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .events import CUSTOMER, EVENTS, OPS, event_choices


class Message(models.Model):
    """One email to one recipient for one event (of one order, for customer messages)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    class Audience(models.TextChoices):
        CUSTOMER = CUSTOMER, "Customer"
        OPS = OPS, "Operations"

    # Unique per (order, event, occurrence, recipient): the same change never queues twice.
    key = models.CharField(max_length=300, unique=True, editable=False)
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A code in notifications.events.EVENTS; no choices, so adding an event needs no migration.
    event = models.CharField(max_length=50)
    audience = models.CharField(max_length=10, choices=Audience.choices)
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="messages",
        db_index=False,  # message_order_idx (order, created_at) serves it
    )
    recipient = models.EmailField()
    # A customer message's From and Reply-To are its order's channel's (its brand), as the order workflow
    # passed them when queueing; blank: the settings' (NOTIFICATIONS_FROM_EMAIL, NOTIFICATIONS_REPLY_TO).
    sender = models.CharField(
        "from", max_length=320, blank=True, default="", db_default="", help_text="Blank: NOTIFICATIONS_FROM_EMAIL."
    )
    reply_to = models.EmailField(
        "reply-to", blank=True, default="", db_default="", help_text="Blank: NOTIFICATIONS_REPLY_TO."
    )
    context = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="What the templates show.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Sends tried so far.")
    # Bumped by an operator's resend: a new Message-ID, so the new copy is not de-duplicated away.
    generation = models.PositiveSmallIntegerField(default=0, editable=False)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField("queued at", default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    subject = models.CharField(max_length=255, blank=True, help_text="As sent.")
    resent_at = models.DateTimeField(null=True, blank=True)
    resent_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("resend_message", "Can resend messages")]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="message_created_idx"),
            models.Index(fields=["order", "created_at"], name="message_order_idx"),
            models.Index(fields=["event", "-created_at"], name="message_event_idx"),
            models.Index(fields=["recipient"], name="message_recipient_idx"),
            # The sweep's two queues, kept small by their conditions.
            models.Index(fields=["next_attempt_at", "id"], condition=Q(status="pending"), name="message_due_idx"),
            models.Index(fields=["lease_expires_at"], condition=Q(status="sending"), name="message_lease_idx"),
            models.Index(fields=["-failed_at"], condition=Q(status="failed"), name="message_failed_idx"),
            models.Index(fields=["claim_token"], condition=Q(claim_token__isnull=False), name="message_claim_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "sent", "failed"]), name="message_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="sending") | Q(claim_token__isnull=False, lease_expires_at__isnull=False),
                name="message_sending_has_lease",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_label} → {self.recipient}"

    @property
    def event_label(self) -> str:
        event = EVENTS.get(self.event)
        return event.label if event else self.event

    @property
    def message_id(self) -> str:
        """The Message-ID header: stable for this row (and resend generation), so receivers can de-duplicate."""
        return f"<{self.uid}.{self.generation}@{message_id_domain()}>"


def message_id_domain() -> str:
    return _domain(settings.NOTIFICATIONS_MESSAGE_ID_DOMAIN, settings.DEFAULT_FROM_EMAIL)


@lru_cache(maxsize=8)
def _domain(configured: str, from_email: str) -> str:
    return configured or parseaddr(from_email)[1].rpartition("@")[2] or "oms.invalid"


class MessageTemplate(models.Model):
    """An operator's override of one event's subject, text or HTML; a blank part keeps the default file."""

    event = models.CharField(max_length=50, unique=True, choices=event_choices)
    subject = models.CharField(max_length=255, blank=True, help_text="Django template syntax; one line.")
    text_body = models.TextField("plain-text body", blank=True)
    html_body = models.TextField("HTML body", blank=True)
    is_active = models.BooleanField("active", default=True, help_text="Untick to go back to the default files.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True, editable=False)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["event"]
        verbose_name = "message template"

    def __str__(self) -> str:
        event = EVENTS.get(self.event)
        return f"{event.label if event else self.event} (override)"


def ops_event_choices() -> list[tuple[str, str]]:
    return event_choices(OPS)


def parse_emails(text: str) -> list[str]:
    """Addresses from a comma/space/newline separated text, lower-cased, in order, without repeats."""
    seen: dict[str, None] = {}
    for raw in text.replace(",", " ").replace(";", " ").split():
        seen.setdefault(raw.strip().lower(), None)
    return list(seen)


class RecipientList(models.Model):
    """Who, besides OPS_EMAILS, gets one kind of ops message (on-hold alerts, the inventory report...)."""

    event = models.CharField(max_length=50, unique=True, choices=ops_event_choices)
    emails = models.TextField(blank=True, help_text="Addresses separated by commas or new lines.")
    include_ops_emails = models.BooleanField(
        "also OPS_EMAILS", default=True, help_text="Send to the OPS_EMAILS setting's addresses as well."
    )
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()  # who changed what, when (the History button)

    class Meta:
        ordering = ["event"]
        verbose_name = "ops recipient list"

    def __str__(self) -> str:
        event = EVENTS.get(self.event)
        return event.label if event else self.event

    def clean(self) -> None:
        bad = []
        for address in parse_emails(self.emails):
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            raise ValidationError({"emails": f"Not an email address: {', '.join(bad)}."})
        self.emails = "\n".join(parse_emails(self.emails))

    @property
    def addresses(self) -> list[str]:
        return parse_emails(self.emails)
