"""Standard operating procedures: a page managers write in Markdown, and every version of it.

A procedure's text is never edited in place: each save adds a version (who, when, what they said they
changed), and the procedure shows its latest. Restoring an old version adds a new one with the old text, so
the history only grows. A procedure may govern one console page (``links.GOVERNED_PAGES``): that page then
shows it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .links import governed_page_choices


class Procedure(models.Model):
    """A standard operating procedure; its text is its latest version's."""

    slug = models.SlugField(max_length=60, unique=True, help_text="Its address in the manual, e.g. hold-review.")
    title = models.CharField(max_length=150)
    governs = models.CharField(
        "shown on",
        max_length=30,
        blank=True,
        choices=governed_page_choices,
        help_text="The console page that shows this procedure. Blank: only the manual.",
    )
    body = models.TextField(help_text="Markdown; raw HTML is shown as text.")
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        ordering = ["title"]
        verbose_name = "procedure"
        permissions = [("view_manual", "Can read the operations manual")]
        constraints = [
            models.UniqueConstraint(fields=["governs"], condition=~Q(governs=""), name="procedure_governs_one_page"),
        ]

    def __str__(self) -> str:
        return self.title


class ProcedureVersion(models.Model):
    """One saved text of a procedure: kept for good, numbered from 1."""

    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=150)
    governs = models.CharField("shown on", max_length=30, blank=True)
    body = models.TextField()
    note = models.CharField("what changed", max_length=200, blank=True)
    restored_from = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version whose text this one brought back."
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_name = models.CharField("by", max_length=150, blank=True)

    class Meta:
        ordering = ["procedure", "-number"]
        verbose_name = "procedure version"
        constraints = [
            models.UniqueConstraint(fields=["procedure", "number"], name="procedureversion_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="procedureversion_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.number}"
