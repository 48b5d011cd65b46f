"""The manual's addresses on the console (``OpsAdminSite.get_urls`` puts them under ``/admin/manual/``)."""

from __future__ import annotations

from functools import partial, update_wrapper

from django.urls import path

from . import views


def manual_urls(site) -> list:
    def page(view, **options):
        wrapped = update_wrapper(partial(view, site=site), view)
        return site.admin_view(wrapped, **options)

    return [
        path("manual/", page(views.manual_index), name="manual_index"),
        path("manual/operations-manual.pdf", page(views.manual_pdf), name="manual_pdf"),
        path("manual/procedures/add/", page(views.procedure_add), name="manual_procedure_add"),
        path("manual/procedures/<slug:slug>/", page(views.procedure_page), name="manual_procedure"),
        path("manual/procedures/<slug:slug>/edit/", page(views.procedure_edit), name="manual_procedure_edit"),
        path("manual/procedures/<slug:slug>/history/", page(views.procedure_history), name="manual_procedure_history"),
        path("manual/procedures/<slug:slug>/diff/", page(views.procedure_diff), name="manual_procedure_diff"),
        path(
            "manual/procedures/<slug:slug>/versions/<int:number>/",
            page(views.procedure_version),
            name="manual_procedure_version",
        ),
        path(
            "manual/procedures/<slug:slug>/versions/<int:number>/restore/",
            page(views.procedure_restore),
            name="manual_procedure_restore",
        ),
        path("manual/<slug:key>/", page(views.manual_section), name="manual_section"),
    ]
