"""Consoles of rows that only services and tasks write: those who may view look, nobody adds, edits or deletes."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyMixin:
    """No add, change or delete for anyone, superusers included; the view permission still decides who looks.

    For a ModelAdmin and for an inline alike (an inline's checks are also handed the parent object).
    """

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """A console of rows written only by services and tasks (timelines, ledgers, shipments, outboxes)."""


class ReadOnlyTabularInline(ReadOnlyMixin, admin.TabularInline):
    """Rows listed read-only on their parent's page (an order's lines, its timeline, its payments)."""

    extra = 0
    can_delete = False
