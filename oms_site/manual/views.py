"""The manual's console pages: its contents, each section, the PDF, and the procedures with their versions.

Every staff role reads (``oms_site.view_manual``); writing and restoring procedures takes
``oms_site.add_procedure`` / ``oms_site.change_procedure``, which only operations managers hold.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import pdf, services
from .diff import diff_lines
from .forms import ProcedureForm
from .markdown import render_markdown
from .models import Procedure
from .sections import build_section, console_lists, sections_for

READ = "oms_site.view_manual"
ADD = "oms_site.add_procedure"
CHANGE = "oms_site.change_procedure"


def _reader(request: HttpRequest) -> None:
    if not request.user.has_perm(READ):
        raise PermissionDenied


def _page(request: HttpRequest, site, template: str, title: str, **context) -> TemplateResponse:
    user = request.user
    return TemplateResponse(
        request,
        template,
        {
            **site.each_context(request),
            "title": title,
            "sections": list(sections_for(user).values()),
            "may_add": user.has_perm(ADD),
            "may_change": user.has_perm(CHANGE),
            **context,
        },
    )


def manual_index(request: HttpRequest, *, site) -> TemplateResponse:
    """The contents: every section with what it covers and when it last changed, and the procedures."""
    _reader(request)
    built = [build_section(section) for section in sections_for(request.user).values()]
    return _page(request, site, "admin/manual/index.html", "Operations manual", built=built, now=timezone.now())


def manual_section(request: HttpRequest, key: str, *, site) -> TemplateResponse:
    """One section, written from the configuration as it is now."""
    _reader(request)
    readable = sections_for(request.user)
    section = readable.get(key)
    if section is None:
        raise Http404(f"The manual has no section {key!r}.")
    keys = list(readable)
    index = keys.index(key)
    return _page(
        request,
        site,
        "admin/manual/section.html",
        section.title,
        current=key,
        previous=readable[keys[index - 1]] if index else None,
        following=readable[keys[index + 1]] if index + 1 < len(keys) else None,
        set_in=console_lists(section, request.user),
        **build_section(section),
    )


def manual_pdf(request: HttpRequest, *, site) -> HttpResponse:
    """The whole manual as one PDF, with its table of contents."""
    _reader(request)
    document = pdf.render_manual_pdf(generated_by=request.user)
    response = HttpResponse(document, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="operations-manual-{timezone.localdate():%Y-%m-%d}.pdf"'
    return response


# --- procedures ---------------------------------------------------------------------------------------


def procedure_page(request: HttpRequest, slug: str, *, site) -> TemplateResponse:
    _reader(request)
    procedure = get_object_or_404(Procedure.objects.select_related("updated_by"), slug=slug)
    return _page(
        request,
        site,
        "admin/manual/procedure.html",
        procedure.title,
        procedure=procedure,
        html=render_markdown(procedure.body),
        current="procedures",
    )


def procedure_add(request: HttpRequest, *, site) -> HttpResponse:
    _reader(request)
    if not request.user.has_perm(ADD):
        raise PermissionDenied
    form = ProcedureForm(request.POST or None, initial={"governs": request.GET.get("governs", "")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            procedure = services.create_procedure(
                slug=data["slug"],
                title=data["title"],
                governs=data["governs"],
                body=data["body"],
                note=data["note"],
                actor=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"“{procedure.title}” saved as version 1.")
            return HttpResponseRedirect(reverse("admin:manual_procedure", args=[procedure.slug]))
    return _page(request, site, "admin/manual/procedure_form.html", "New procedure", form=form, current="procedures")


def procedure_edit(request: HttpRequest, slug: str, *, site) -> HttpResponse:
    _reader(request)
    if not request.user.has_perm(CHANGE):
        raise PermissionDenied
    procedure = get_object_or_404(Procedure, slug=slug)
    initial = {
        "title": procedure.title,
        "governs": procedure.governs,
        "body": procedure.body,
        "base_version": procedure.version,
    }
    form = ProcedureForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            procedure = services.update_procedure(
                procedure_id=procedure.pk,
                title=data["title"],
                governs=data["governs"],
                body=data["body"],
                note=data["note"],
                base_version=data["base_version"] or 0,
                actor=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"“{procedure.title}” saved as version {procedure.version}.")
            return HttpResponseRedirect(reverse("admin:manual_procedure", args=[procedure.slug]))
    return _page(
        request,
        site,
        "admin/manual/procedure_form.html",
        f"Edit “{procedure.title}”",
        form=form,
        procedure=procedure,
        current="procedures",
    )


def procedure_history(request: HttpRequest, slug: str, *, site) -> TemplateResponse:
    """Every version: who saved it, when, what they said changed; two can be compared."""
    _reader(request)
    procedure = get_object_or_404(Procedure, slug=slug)
    versions = list(procedure.versions.select_related("created_by").order_by("-number"))
    return _page(
        request,
        site,
        "admin/manual/procedure_history.html",
        f"History of “{procedure.title}”",
        procedure=procedure,
        versions=versions,
        current="procedures",
    )


def _version_number(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise Http404(f"{name}: {raw!r} is not a version number.") from None


def procedure_diff(request: HttpRequest, slug: str, *, site) -> TemplateResponse:
    """What changed from one version to another (by default: the one before the current, to the current)."""
    _reader(request)
    procedure = get_object_or_404(Procedure, slug=slug)
    new_number = _version_number(request, "to", procedure.version)
    old_number = _version_number(request, "from", max(new_number - 1, 1))
    versions = {version.number: version for version in procedure.versions.filter(number__in=[old_number, new_number])}
    if old_number not in versions or new_number not in versions:
        raise Http404(f"{procedure.title} has no version {old_number if old_number not in versions else new_number}.")
    old, new = versions[old_number], versions[new_number]
    return _page(
        request,
        site,
        "admin/manual/procedure_diff.html",
        f"“{procedure.title}”: version {old_number} → {new_number}",
        procedure=procedure,
        old=old,
        new=new,
        lines=diff_lines(old.body, new.body),
        title_changed=old.title != new.title,
        governs_changed=old.governs != new.governs,
        current="procedures",
    )


def procedure_version(request: HttpRequest, slug: str, number: int, *, site) -> TemplateResponse:
    """An old version as it read then, with Restore for who may."""
    _reader(request)
    procedure = get_object_or_404(Procedure, slug=slug)
    version = get_object_or_404(procedure.versions.select_related("created_by"), number=number)
    return _page(
        request,
        site,
        "admin/manual/procedure_version.html",
        f"“{version.title}”, version {number}",
        procedure=procedure,
        version=version,
        html=render_markdown(version.body),
        current="procedures",
    )


@require_POST
def procedure_restore(request: HttpRequest, slug: str, number: int, *, site) -> HttpResponse:
    _reader(request)
    if not request.user.has_perm(CHANGE):
        raise PermissionDenied
    procedure = get_object_or_404(Procedure, slug=slug)
    try:
        procedure = services.restore_procedure_version(procedure_id=procedure.pk, number=number, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return HttpResponseRedirect(reverse("admin:manual_procedure_version", args=[slug, number]))
    messages.success(request, f"Version {number} restored as version {procedure.version}.")
    return HttpResponseRedirect(reverse("admin:manual_procedure", args=[slug]))
