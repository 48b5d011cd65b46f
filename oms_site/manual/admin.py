"""The manual in the console's sidebar: "Operations manual" and "Procedures" for everyone who may read it.

Procedures are written only through the manual's own pages (``views.py``), which save a version each time:
the model's list and page are read-only, each linking to the manual, and adding, changing and deleting are
closed here.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import Procedure


@admin.register(Procedure)
class ProcedureAdmin(admin.ModelAdmin):
    list_display = ("title", "governs", "version", "updated_at", "updated_by", "manual_page")
    list_select_related = ("updated_by",)
    search_fields = ("title", "body")

    @admin.display(description="In the manual")
    def manual_page(self, procedure: Procedure) -> str:
        return format_html(
            '<a href="{}">Read, edit, history</a>', reverse("admin:manual_procedure", args=[procedure.slug])
        )

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("oms_site.view_manual")

    def has_add_permission(self, request) -> bool:
        return False  # written on the manual's page, which keeps the version

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a procedure's versions are kept for good

    def console_tools(self, request) -> list[dict]:
        """The manual itself, beside its procedures in the sidebar."""
        if not self.has_view_permission(request):
            return []
        return [{"name": "Operations manual", "url": reverse("admin:manual_index"), "key": "manual"}]
