"""The manual in the console's sidebar: "Operations manual" and "Procedures" for everyone who may read it.

Procedures are written only through the manual's own pages (``views.py``), which save a version each time;
the model's list goes there, and the generic add, change and delete pages are closed.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse

from .models import Procedure


@admin.register(Procedure)
class ProcedureAdmin(admin.ModelAdmin):
    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("oms_site.view_manual")

    def has_add_permission(self, request) -> bool:
        return False  # written on the manual's page, which keeps the version

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a procedure's versions are kept for good

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            return super().changelist_view(request, extra_context)  # refuses as the console does
        return HttpResponseRedirect(reverse("admin:manual_section", args=["procedures"]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        procedure = self.get_object(request, object_id)
        if procedure is None or not self.has_view_permission(request, procedure):
            return super().change_view(request, object_id, form_url, extra_context)
        return HttpResponseRedirect(reverse("admin:manual_procedure", args=[procedure.slug]))

    def console_tools(self, request) -> list[dict]:
        """The manual itself, beside its procedures in the sidebar."""
        if not self.has_view_permission(request):
            return []
        return [{"name": "Operations manual", "url": reverse("admin:manual_index"), "key": "manual"}]
