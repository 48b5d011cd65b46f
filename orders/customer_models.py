"""The customer record's own rows: staff notes and tags, the customer's timeline, and the erasure record.

Imported by ``orders.models``; kept apart so the order models stay readable.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .models import Customer


class CustomerNote(models.Model):
    """A note by staff on a customer: who wrote it, when, in their words."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField(max_length=2000)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_name = models.CharField("by", max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="customernote_customer_idx")]

    def __str__(self) -> str:
        return f"Note by {self.author_name} on {self.created_at:%Y-%m-%d}"


class CustomerTag(models.Model):
    """A label staff put on customers (VIP, wholesale, watch); the list filters by it."""

    name = models.CharField(max_length=40, unique=True)
    customers = models.ManyToManyField(Customer, related_name="tags", blank=True)

    class Meta:
        ordering = ["name"]
        permissions = [("tag_customer", "Can tag customers")]

    def __str__(self) -> str:
        return self.name


class CustomerEvent(models.Model):
    """One entry on a customer's timeline: merged, exported, erased, tagged; who did it, when."""

    class Kind(models.TextChoices):
        MERGED = "merged", "Merged"
        EXPORTED = "exported", "Personal data exported"
        ERASED = "erased", "Personal data erased"
        TAGGED = "tagged", "Tags changed"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField("by", max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="customerevent_customer_idx")]
        permissions = [
            ("merge_customer", "Can merge duplicate customers"),
            ("export_customer_data", "Can export a customer's personal data"),
            ("erase_customer", "Can erase a customer's personal data"),
        ]

    def __str__(self) -> str:
        return self.message


class CustomerErasure(models.Model):
    """The record that a customer's personal data was erased on request: who, when, how many rows. Final."""

    customer = models.OneToOneField(Customer, on_delete=models.PROTECT, related_name="erasure")
    erased_at = models.DateTimeField(default=timezone.now)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    erased_by_name = models.CharField("erased by", max_length=150)
    request_reference = models.CharField(
        max_length=100, blank=True, help_text="The customer's request, as the team files it (ticket number)."
    )
    rows_changed = models.JSONField(default=dict, encoder=DjangoJSONEncoder, help_text="Rows rewritten, per table.")

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(erased_by_name=""), name="customererasure_has_actor")]

    def __str__(self) -> str:
        return f"Erased {self.erased_at:%Y-%m-%d} by {self.erased_by_name}"
