"""The console's CSV imports: upload (orders or stock receipts), the job page with its progress and report,
confirmation, and the bad rows as CSV. Registered from ``inventory/admin.py``.

Thin: the views call ``imports.services``; what a row means is the kind's handler.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from oms_core.console import CsvUploadForm, ReadOnlyAdmin, badge, form_page, int_or_404, person_field

from ..models import ImportJob
from . import services
from .base import ImportFileError
from .registry import UnknownImportKind, get_handler, handlers, kind_title

PAGE_ERRORS = 500  # bad rows shown on the page; all of them are in the CSV download
STATUS_COLOURS = {
    ImportJob.Status.DRY_RUN_RUNNING: "#1d4ed8",
    ImportJob.Status.DRY_RUN_DONE: "#b45309",
    ImportJob.Status.IMPORTING: "#1d4ed8",
    ImportJob.Status.DONE: "#15803d",
    ImportJob.Status.FAILED: "#b91c1c",
}


class KindFilter(admin.SimpleListFilter):
    """The kinds of import that are installed, by their names for people."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [(handler.kind, handler.title.capitalize()) for handler in handlers()]

    def queryset(self, request, queryset):
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    """Jobs are made by the upload page (one per kind) and moved on by the services; nobody edits one."""

    list_display = ("__str__", "status_badge", "progress", "counts", "uploaded_by_name", "uploaded_at", "finished_at")
    list_filter = (KindFilter, "status")
    list_select_related = ("uploaded_by",)
    list_per_page = 50
    ordering = ("-uploaded_at", "-id")
    fields = (
        ("kind_name", "file_name"),
        ("status_badge", "progress"),
        ("uploaded_by_name", "uploaded_at"),
        ("confirmed_by_name", "confirmed_at"),
        ("started_at", "finished_at"),
    )
    readonly_fields = (
        "kind_name",
        "file_name",
        "status_badge",
        "progress",
        "uploaded_by_name",
        "uploaded_at",
        "confirmed_by_name",
        "confirmed_at",
        "started_at",
        "finished_at",
    )

    @admin.display(description="kind")
    def kind_name(self, job: ImportJob) -> str:
        return kind_title(job.kind).capitalize()

    # names, not links to user pages only superusers may open
    uploaded_by_name = person_field("uploaded_by")
    confirmed_by_name = person_field("confirmed_by")
    change_list_template = "admin/imports/importjob_change_list.html"
    change_form_template = "admin/imports/importjob_change_form.html"
    actions = ["resume_import"]

    @admin.action(description="Resume import", permissions=["import"])
    def resume_import(self, request, queryset):
        """Go on with each failed or stalled job from its last committed chunk."""
        for job in queryset.defer("content").order_by("pk"):
            if not self.can_import(request, job.kind):
                self.message_user(request, f"{job}: you may not import {get_handler(job.kind).title}.", messages.ERROR)
                continue
            failure = job.failure
            try:
                job = services.resume_import(job_id=job.pk, actor=request.user)
            except services.ImportJobError as refusal:
                self.message_user(request, str(refusal), messages.ERROR)
                continue
            done = f"{job.processed_rows:,} of {job.total_rows:,} rows"
            text = f"{job}: {job.get_status_display().lower()} again after the {done} already done"
            self.log_change(request, job, text + (f" (it had failed: {failure})" if failure else ""))
            self.message_user(request, text + " (they are kept).", messages.SUCCESS)

    def has_import_permission(self, request) -> bool:
        return any(request.user.has_perm(handler.permission) for handler in handlers())

    # --- columns ---------------------------------------------------------------
    @admin.display(description="status", ordering="status")
    def status_badge(self, job: ImportJob):
        return badge(job.status, STATUS_COLOURS[job.status], job.get_status_display())

    @admin.display(description="rows done")
    def progress(self, job: ImportJob):
        return f"{job.processed_rows:,} of {job.total_rows:,} ({job.progress_percent}%)"

    @admin.display(description="result")
    def counts(self, job: ImportJob):
        verb = (
            "would create"
            if job.status in (ImportJob.Status.DRY_RUN_RUNNING, ImportJob.Status.DRY_RUN_DONE)
            else "created"
        )
        return f"{job.created_count:,} {verb}, {job.skipped_count:,} already in, {job.failed_count:,} refused"

    # --- what the user may do ----------------------------------------------------
    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    @staticmethod
    def can_import(request, kind: str) -> bool:
        return request.user.has_perm(get_handler(kind).permission)

    def import_tools(self, request) -> list[dict]:
        return [
            {
                "kind": handler.kind,
                "label": f"Import {handler.title} (CSV)",
                "url": reverse("admin:inventory_importjob_upload", args=[handler.kind]),
            }
            for handler in handlers()
            if request.user.has_perm(handler.permission)
        ]

    # --- pages -----------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        custom = [
            path("upload/<str:kind>/", view(self.upload_view), name="inventory_importjob_upload"),
            path("<path:object_id>/status/", view(self.status_view), name="inventory_importjob_status"),
            path(
                "<path:object_id>/confirm/", view(require_POST(self.confirm_view)), name="inventory_importjob_confirm"
            ),
            path("<path:object_id>/errors.csv", view(self.errors_view), name="inventory_importjob_errors"),
        ]
        return custom + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "import_tools": self.import_tools(request)})

    def upload_view(self, request, kind: str):
        """Upload a CSV: the header is checked at once; the rows are checked in the background (a dry run)."""
        try:
            handler = get_handler(kind)
        except UnknownImportKind:
            raise Http404 from None
        if not request.user.has_perm(handler.permission):
            raise PermissionDenied
        file_errors = []
        if request.method == "POST":
            form = CsvUploadForm(request.POST, request.FILES, extra_fields=handler.extra_fields())
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    job = services.start_import(
                        kind=kind,
                        file_name=upload.name,
                        content=upload.read(),
                        options=handler.options_from_form(form.cleaned_data),
                        actor=request.user,
                    )
                except ImportFileError as error:
                    file_errors = error.errors
                else:
                    self.message_user(
                        request,
                        f"{job}: {job.total_rows:,} rows are being checked; nothing is imported until you confirm.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(reverse("admin:inventory_importjob_change", args=[job.pk]))
        else:
            form = CsvUploadForm(extra_fields=handler.extra_fields())
        return form_page(
            self,
            request,
            "admin/imports/upload.html",
            title=f"Import {handler.title} from CSV",
            form=form,
            handler=handler,
            file_errors=file_errors,
            submit_label="Upload and check",
            back_url=reverse(handler.changelist_url_name) if handler.changelist_url_name else "",
        )

    @staticmethod
    def status_data(job: ImportJob) -> dict:
        return {
            "id": job.pk,
            "status": job.status,
            "status_label": job.get_status_display(),
            "running": job.is_running,
            "processed": job.processed_rows,
            "total": job.total_rows,
            "percent": job.progress_percent,
            "created": job.created_count,
            "skipped": job.skipped_count,
            "refused": job.failed_count,
            "bad_rows": len(job.error_rows),
        }

    def status_view(self, request, object_id):
        """The job's progress as JSON; the job page polls it while the job runs."""
        job = get_object_or_404(ImportJob.objects.defer("content"), pk=int_or_404(object_id))
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        response = JsonResponse(self.status_data(job))
        response["Cache-Control"] = "no-store"
        return response

    def confirm_view(self, request, object_id):
        job = get_object_or_404(ImportJob.objects.defer("content"), pk=int_or_404(object_id))
        if not self.can_import(request, job.kind):
            raise PermissionDenied
        try:
            services.confirm_import(job_id=job.pk, actor=request.user)
        except services.ImportJobError as refusal:
            self.message_user(request, str(refusal), messages.ERROR)
        else:
            self.log_change(request, job, "Confirmed the import.")
            self.message_user(request, f"{job}: importing in the background.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:inventory_importjob_change", args=[job.pk]))

    def errors_view(self, request, object_id):
        job = get_object_or_404(ImportJob.objects.defer("content"), pk=int_or_404(object_id))
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        response = HttpResponse(services.error_rows_csv(job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        job = self.get_object(request, object_id)
        if job is not None:
            handler = get_handler(job.kind)
            checked = job.status in (ImportJob.Status.DRY_RUN_RUNNING, ImportJob.Status.DRY_RUN_DONE)
            extra_context.update(
                {
                    "job": job,
                    "job_status": self.status_data(job),
                    "handler": handler,
                    "unit_singular": handler.unit_name[0],
                    "unit_plural": handler.unit_name[1],
                    "is_dry_run": checked,
                    "options_text": handler.describe_options(job.options),
                    "preview_columns": handler.preview_columns,
                    "preview_rows": [[row.get(key, "") for key, _ in handler.preview_columns] for row in job.preview],
                    "page_errors": job.error_rows[:PAGE_ERRORS],
                    "more_errors": max(0, len(job.error_rows) - PAGE_ERRORS),
                    "dry_run": job.dry_run_report,
                    "can_confirm": (
                        job.status == ImportJob.Status.DRY_RUN_DONE
                        and job.created_count > 0
                        and self.can_import(request, job.kind)
                    ),
                    "results_url": reverse(handler.changelist_url_name) if handler.changelist_url_name else "",
                }
            )
        return super().change_view(request, object_id, form_url, extra_context)
